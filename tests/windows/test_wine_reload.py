"""`tern reload` under Wine, where there is no SIGHUP.

A ternd.exe in a console waits on a named event that tern.exe sets; the
service gets SERVICE_CONTROL_PARAMCHANGE from tern.exe through the
service manager. Either way the new configuration must reach smtpd, which
the SIZE limit of its EHLO reply shows. Wine's sc.exe has no "control"
command, so tern.exe is the only client of PARAMCHANGE here.
"""

import smtplib

from tern_instance import libconfig_text
from wine_tern import SERVICE_NAME, WineService, build_dir, wine, windows_path


def size_limit(tern):
    """The SIZE value smtpd announces in its EHLO reply."""
    with smtplib.SMTP(tern.address, tern.port, timeout=30) as client:
        client.ehlo("client.test")
        return int(client.esmtp_features["size"])


def change_size_limit(tern, limit):
    settings = dict(tern.settings)
    settings["smtpd"] = dict(settings["smtpd"], message_size_limit=limit)
    tern.write_config(settings)


# ternd logs its reload before smtpd has its copy; the SIZE check must
# wait for smtpd's own line.
SMTPD_RELOADED = r"/smtpd\[\d+\]: info: configuration reloaded from"


def tern_reload(tern):
    return wine(str(build_dir() / "tern.exe"), "-c",
                windows_path(tern.conf_path), "reload")


def test_console_ternd_reloads_on_event(lab):
    tern = lab.tern(smtpd={"message_size_limit": 1000000})
    assert size_limit(tern) == 1000000

    change_size_limit(tern, 2000000)
    since = tern.log_size()
    done = tern_reload(tern)
    assert done.returncode == 0, \
        f"tern reload failed: {done.stdout}{done.stderr}"
    assert "reload event" in done.stdout, done.stdout
    tern.wait_log(SMTPD_RELOADED, timeout=30, since=since)
    assert size_limit(tern) == 2000000
    assert tern.stop() == 0


def test_service_reloads_on_paramchange(lab):
    tern = lab.tern(start=False, smtpd={"message_size_limit": 1000000})
    service = WineService(tern)
    try:
        created = service.sc("create", SERVICE_NAME,
                             "binPath=", service.binary_path())
        assert created.returncode == 0, created.stdout + created.stderr
        started = service.sc("start", SERVICE_NAME)
        assert started.returncode == 0, started.stdout + started.stderr
        service.wait_state("RUNNING")
        service.wait_listening()
        assert size_limit(tern) == 1000000

        change_size_limit(tern, 3000000)
        since = tern.log_size()
        done = tern_reload(tern)
        assert done.returncode == 0, \
            f"tern reload failed: {done.stdout}{done.stderr}"
        assert "reload control" in done.stdout, done.stdout
        tern.wait_log(SMTPD_RELOADED, timeout=30,
                      since=since)
        assert size_limit(tern) == 3000000
        assert service.state() == "RUNNING"
    finally:
        service.remove()


def test_reload_without_ternd_fails(lab):
    tern = lab.tern(start=False)
    done = tern_reload(tern)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no ternd is running" in done.stderr, done.stderr


def other_spelling(tern):
    """A second configuration file for the same queue folder, whose path
    is spelled another way: lower-case drive, forward slashes, a ".."
    step and a trailing slash."""
    queue = windows_path(tern.queue_dir)
    parent, name = queue.rsplit("\\", 1)
    spelled = ("z" + parent[1:] + f"\\..\\{tern.dir.name}\\{name}\\")
    spelled = spelled.replace("\\", "/")
    assert spelled != queue
    settings = dict(tern.settings)
    settings["queue"] = dict(settings["queue"], directory=spelled)
    alt = tern.dir / "alt.conf"
    alt.write_text(libconfig_text(settings))
    return alt


def test_other_path_spelling_reaches_ternd(lab):
    tern = lab.tern(smtpd={"message_size_limit": 1000000})
    alt = other_spelling(tern)
    tern_exe = str(build_dir() / "tern.exe")

    # `queue flush` needs qmgr's pipe, whose name qmgr stores in the
    # queue folder, so the spelling of the folder's path does not matter.
    flushed = wine(tern_exe, "-c", windows_path(alt), "queue", "flush",
                   "--all")
    assert flushed.returncode == 0, flushed.stdout + flushed.stderr
    listed = wine(tern_exe, "-c", windows_path(alt), "queue")
    assert listed.returncode == 0, listed.stdout + listed.stderr

    change_size_limit(tern, 2000000)
    since = tern.log_size()
    done = wine(tern_exe, "-c", windows_path(alt), "reload")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reload event" in done.stdout, done.stdout
    tern.wait_log(r"configuration reloaded from", timeout=30, since=since)
    assert size_limit(tern) == 2000000
    assert tern.stop() == 0
