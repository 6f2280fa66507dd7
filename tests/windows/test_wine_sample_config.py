"""contrib/windows/tern.conf.example under Wine: "ternd.exe -t" accepts it
unchanged at the default path C:\\ProgramData\\tern\\tern.conf, where
install.ps1 and the README put it, with no -c option.

install.ps1 itself is not run, because Wine has no PowerShell.
"""

import shutil
from pathlib import Path

import pytest

from wine_tern import build_dir, drive_c, wine

SAMPLE = Path(__file__).resolve().parents[2] / "contrib" / "windows" / \
    "tern.conf.example"


@pytest.fixture
def data_dir():
    """C:\\ProgramData\\tern of the Wine prefix with its log folder, as
    install.ps1 creates it. Every ternd.exe creates the log folder there
    for its early errors, so the folder may exist already; a tern.conf
    in it would belong to another test, though."""
    directory = drive_c("ProgramData", "tern")
    config = directory / "tern.conf"
    if config.exists():
        pytest.fail(f"{config} exists before the test; it belongs to "
                    "another test or to an earlier run")
    (directory / "log").mkdir(parents=True, exist_ok=True)
    yield directory
    config.unlink(missing_ok=True)


def check_default_config():
    """Run "ternd.exe -t" without -c and return the CompletedProcess."""
    return wine(str(build_dir() / "ternd.exe"), "-t")


def test_sample_config_accepted(data_dir):
    shutil.copyfile(SAMPLE, data_dir / "tern.conf")

    done = check_default_config()

    assert done.returncode == 0, \
        f"ternd.exe -t rejected {SAMPLE.name}:\n{done.stdout}{done.stderr}"


def test_invalid_listener_rejected(data_dir):
    # The same file with an invalid listener address, so the test above
    # shows that -t reads this file and checks it.
    text = SAMPLE.read_text()
    assert '"::1"; port = 25' in text
    line = next(number for number, content
                in enumerate(text.splitlines(), start=1)
                if '"::1"; port = 25' in content)
    (data_dir / "tern.conf").write_text(
        text.replace('"::1"; port = 25', '"::1x"; port = 25'))

    done = check_default_config()

    assert done.returncode != 0, \
        f"ternd.exe -t accepted an invalid address:\n{done.stdout}"
    output = done.stdout + done.stderr
    assert f"tern.conf:{line}:" in output, \
        f"the error does not name the file and line:\n{output}"
    assert "smtpd.listeners" in output, \
        f"the error does not name the setting:\n{output}"
