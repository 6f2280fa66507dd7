"""Fixtures for tern's integration tests.

Run them with Debian's interpreter, which can import python3-aiosmtpd:
    /usr/bin/python3 -m pytest -v tests/integration

TERN_BUILD_DIR names the build tree that contains ternd (default: the top
of this repository). A failed test keeps its directory under /tmp and
prints tern's log, so the failure can be read without rerunning it;
TERN_TEST_KEEP=1 keeps the directories of passed tests too.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from peers import CertificateAuthority, make_certificate  # noqa: E402
from tern_instance import Lab  # noqa: E402


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """(certificate, key) paths of a self-signed test certificate."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """A CertificateAuthority made with openssl for this test session."""
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


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
