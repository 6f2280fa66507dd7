"""Fixtures for tern's integration tests.

Run them with Debian's interpreter, which can import python3-aiosmtpd:
    /usr/bin/python3 -m pytest -v tests/integration

TERN_BUILD_DIR names the build tree that contains ternd (default: the top
of this repository). A failed test keeps its directory under /tmp and
prints tern's log, so the failure can be read without rerunning it;
TERN_TEST_KEEP=1 keeps the directories of passed tests too.

The suite runs as root, and ternd runs its children as the user "tern"
as in production (contrib/debian/install-deps creates that user). So the
folders the tests make are traversable by others (mode o+x, not
listable), and the files a child opens itself (CA files, the test clock)
are world-readable as openssl and Python write them. Private keys and
secrets stay 0600 root: ternd reads those and passes them on.
"""

import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from peers import CertificateAuthority, make_certificate  # noqa: E402
from tern_instance import Lab, make_traversable  # noqa: E402


def pytest_configure(config):
    """Put pytest's temporary folders in a folder of this session instead
    of /tmp/pytest-of-root, which every pytest run resets to mode 0700
    and so would lock the children out halfway through this run."""
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="tern-pytest-",
                                                  dir="/tmp")
        config._tern_basetemp = config.option.basetemp


def pytest_sessionfinish(session, exitstatus):
    basetemp = getattr(session.config, "_tern_basetemp", None)
    if basetemp and exitstatus == 0 and \
            os.environ.get("TERN_TEST_KEEP") != "1":
        shutil.rmtree(basetemp, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


@pytest.fixture
def tmp_path(tmp_path):
    """pytest's tmp_path, traversable by tern's unprivileged children."""
    make_traversable(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """(certificate, key) paths of a self-signed test certificate."""
    directory = tmp_path_factory.mktemp("tls")
    make_traversable(directory)
    return make_certificate(directory)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """A CertificateAuthority made with openssl for this test session."""
    directory = tmp_path_factory.mktemp("ca")
    make_traversable(directory)
    return CertificateAuthority(directory)


@pytest.fixture
def lab(request, certificate):
    """A Lab whose processes are all stopped when the test ends."""
    lab = Lab(certificate)
    yield lab
    report = getattr(request.node, "rep_call", None)
    failed = report is None or report.failed
    if failed or os.environ.get("TERN_TEST_KEEP") == "1":
        print(f"\ntest directory kept: {lab.dir}")
    if failed:
        for tern in lab.terns:
            print(tern.diagnostics(lines=200))
        print("--- peers ---\n" + lab.describe_peers())
    lab.close(keep=failed or os.environ.get("TERN_TEST_KEEP") == "1")
