"""ternd.exe as a Windows service under Wine's service manager.

Wine 8 carries out sc.exe's create, start, stop, query and delete on a
real service program. Its sc.exe has no working "config", "qc" or
"failure", so the tests read the service's settings from the registry
(HKLM\\System\\CurrentControlSet\\Services\\tern), where services.exe
keeps them. Wine has no virtual service accounts (NT SERVICE\\...), no
recovery actions and no Event Log viewer, so those parts are checked on
real Windows only (tests/windows/README.md).
"""

import re
import socket

from peers import message_bytes, pid_alive, split_received, wait_for
from wine_tern import (SERVICE_NAME, WineService, build_dir, build_processes,
                       program_names, wine, windows_path)

SERVICE_KEY = rf"HKLM\System\CurrentControlSet\Services\{SERVICE_NAME}"


def service_registry():
    """The values of the service's registry key as a dict of name to
    (type, data); {} when the key does not exist."""
    done = wine("reg", "query", SERVICE_KEY)
    values = {}
    for line in done.stdout.splitlines():
        m = re.match(r"^\s+(\S+)\s+(REG_\w+)\s*(.*)$", line)
        if m:
            values[m.group(1)] = (m.group(2), m.group(3).strip())
    return values


def start_mail_lab(lab):
    """A receiver on 127.0.0.2 as the MX of example.test and a tern
    configuration that is not started; returns (tern, receiver)."""
    receiver = lab.receiver("127.0.0.2")
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    return lab.tern(start=False), receiver


def assert_mail_goes_through(tern, receiver, sender):
    content = message_bytes(f"through the service ({sender})")
    tern.send(sender, ["user@example.test"], content)
    got = receiver.wait(len(receiver.messages) + 1, timeout=60)
    assert got, f"nothing delivered{tern.tail()}"
    received, rest = split_received(got[-1].content)
    assert received, f"no Received field: {got[-1].content[:200]!r}"
    assert rest == content, "delivered message differs from the submitted one"


def ternd_pids():
    return [pid for pid, name in program_names().items()
            if name.lower() == "ternd.exe"]


def test_sc_create_start_stop_delete(lab):
    tern, receiver = start_mail_lab(lab)
    service = WineService(tern)
    try:
        created = service.sc("create", SERVICE_NAME,
                             "binPath=", service.binary_path())
        assert created.returncode == 0, \
            f"sc create failed: {created.stdout}{created.stderr}"
        assert service.state() == "STOPPED"

        started = service.sc("start", SERVICE_NAME)
        assert started.returncode == 0, \
            f"sc start failed: {started.stdout}{started.stderr}"
        service.wait_state("RUNNING")
        service.wait_listening()
        assert_mail_goes_through(tern, receiver, "sc@origin.test")
        running = build_processes()
        assert ternd_pids(), f"no ternd.exe among {program_names()}"

        since = tern.log_size()
        stopped = service.sc("stop", SERVICE_NAME)
        assert stopped.returncode == 0, \
            f"sc stop failed: {stopped.stdout}{stopped.stderr}"
        service.wait_state("STOPPED")
        tern.wait_log(r"all processes stopped", timeout=30, since=since)
        gone = wait_for(lambda: not any(pid_alive(p) for p in running), 30)
        assert gone, ("processes still running after sc stop: "
                      f"{[p for p in running if pid_alive(p)]}")

        deleted = service.sc("delete", SERVICE_NAME)
        assert deleted.returncode == 0, \
            f"sc delete failed: {deleted.stdout}{deleted.stderr}"
        query = service.sc("query", SERVICE_NAME)
        assert query.returncode != 0, \
            f"service still listed after sc delete: {query.stdout}"
    finally:
        service.remove()


def test_ternd_service_commands(lab):
    tern, receiver = start_mail_lab(lab)
    service = WineService(tern)
    ternd = str(build_dir() / "ternd.exe")
    conf = windows_path(tern.conf_path)
    try:
        # Wine has no virtual service accounts, so the default account
        # NT SERVICE\tern cannot be used here.
        installed = wine(ternd, "service", "install", "--config", conf,
                         "--account", "LocalSystem")
        assert installed.returncode == 0, \
            f"ternd service install failed: {installed.stdout}" \
            f"{installed.stderr}"
        values = service_registry()
        assert values, f"no registry key {SERVICE_KEY} after install"
        image = values.get("ImagePath", ("", ""))[1]
        assert image.lower().startswith(
            f'"{windows_path(build_dir() / "ternd.exe")}"'.lower()), \
            f"ImagePath {image!r} does not start with the quoted ternd.exe"
        assert f'service run --config "{conf}"'.lower() in image.lower(), \
            f"ImagePath {image!r} does not pass the configuration"
        assert values.get("Start") == ("REG_DWORD", "0x2"), \
            f"Start is {values.get('Start')}, expected automatic (0x2)"
        assert values.get("ObjectName", ("", ""))[1] == "LocalSystem"

        started = wine(ternd, "service", "start")
        assert started.returncode == 0, \
            f"ternd service start failed: {started.stdout}{started.stderr}"
        service.wait_state("RUNNING")
        service.wait_listening()
        assert_mail_goes_through(tern, receiver, "svc-cmd@origin.test")

        since = tern.log_size()
        stopped = wine(ternd, "service", "stop", timeout=120)
        assert stopped.returncode == 0, \
            f"ternd service stop failed: {stopped.stdout}{stopped.stderr}"
        assert service.state() == "STOPPED", \
            "ternd service stop returned before the service stopped"
        tern.wait_log(r"all processes stopped", timeout=30, since=since)

        removed = wine(ternd, "service", "uninstall")
        assert removed.returncode == 0, \
            f"ternd service uninstall failed: {removed.stdout}" \
            f"{removed.stderr}"
        assert service_registry() == {}, \
            f"registry key {SERVICE_KEY} left after uninstall"
    finally:
        service.remove()


def test_service_start_failure_logged(lab):
    """A listener port that is taken stops the service with tern's
    service-specific exit code, and the reason is in tern's log (Wine
    has no Event Log to read it back from)."""
    tern, _ = start_mail_lab(lab)
    service = WineService(tern)
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", tern.port))
    blocker.listen(1)
    try:
        created = service.sc("create", SERVICE_NAME,
                             "binPath=", service.binary_path())
        assert created.returncode == 0, created.stdout + created.stderr
        service.sc("start", SERVICE_NAME)
        service.wait_state("STOPPED")
        query = service.sc("query", SERVICE_NAME).stdout
        assert re.search(r"SERVICE_EXIT_CODE\s*:\s*1\b", query), \
            f"service stopped without exit code 1:\n{query}{tern.tail()}"
        tern.wait_log(rf"127\.0\.0\.1:{tern.port}", timeout=30)
        assert ternd_pids() == [], f"ternd.exe still running: " \
            f"{program_names()}"
    finally:
        blocker.close()
        service.remove()
