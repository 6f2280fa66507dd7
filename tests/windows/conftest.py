"""Fixtures for the end-to-end tests of tern's Windows build under Wine.

Run them through tests/windows/check-windows.sh (make check-windows),
which cross-builds tern, makes a private Wine prefix and sets
TERN_WINDOWS_BUILD_DIR and WINEPREFIX. The peers (dnsmasq, aiosmtpd
receivers) are the integration tests' own, from tests/integration, and
run on Linux on loopback addresses; only tern runs under Wine.

A failed test keeps its folder under /tmp and prints tern's log;
TERN_TEST_KEEP=1 keeps the folders of passed tests too.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from peers import make_certificate  # noqa: E402
from wine_tern import WineLab, kill_build_processes  # noqa: E402


def pytest_configure(config):
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="tern-wine-pytest-",
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


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """(certificate, key) paths of a self-signed test certificate."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def lab(request, certificate):
    """A WineLab whose processes are all stopped when the test ends."""
    lab = WineLab(certificate)
    yield lab
    report = getattr(request.node, "rep_call", None)
    failed = report is None or report.failed
    keep = failed or os.environ.get("TERN_TEST_KEEP") == "1"
    if keep:
        print(f"\ntest directory kept: {lab.dir}")
    if failed:
        for tern in lab.terns:
            print(tern.diagnostics(lines=200))
        print("--- peers ---\n" + lab.describe_peers())
    lab.close(keep=keep)


@pytest.fixture(autouse=True)
def no_leftover_processes():
    """Each test starts with no process of this build running, so a test
    cannot pass on a ternd.exe that an earlier test left behind."""
    kill_build_processes()
    yield
