"""ternd as a supervisor: configuration errors, signals, child restarts,
an unknown queue schema and a full disk."""

import os
import re
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from peers import message_bytes, pid_alive, wait_for, wait_tcp
from tern_instance import libconfig_text, merge

CHILDREN = ["tern-smtpd", "tern-qmgr", "tern-deliver"]


def deliverable_lab(lab, **overrides):
    rcv = lab.receiver("127.0.0.2")
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    return rcv, lab.tern(**overrides)


def rcpt_code(tern, source):
    """The reply code to a relay RCPT from the source address."""
    with tern.raw(source=source) as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<probe@origin.test>", 250)
        code = c.command("RCPT TO:<user@example.test>").code
        c.command("QUIT")
    return code


def assert_mail_flows(tern, rcv, tag):
    count = len(rcv.messages)
    tern.send(f"{tag}@origin.test", ["user@example.test"], message_bytes(tag))
    got = rcv.wait(count + 1)
    assert len(got) == count + 1, f"mail did not flow ({tag})"


def line_of(text, marker):
    """1-based number of the first line of text containing marker."""
    for number, line in enumerate(text.splitlines(), 1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in the configuration")


# Each case: (settings overrides, raw text appended, marker on the bad
# line, word the error must name).
CONFIG_ERRORS = {
    "unknown-key": ({"smtpd": {"recipient_limt": 10}}, "",
                    "recipient_limt", "recipient_limt"),
    "unknown-top-level-key": ({}, 'queue_dir = "elsewhere";\n',
                              "queue_dir", "queue_dir"),
    "string-for-integer": ({"smtpd": {"message_size_limit": "ten"}}, "",
                           '"ten"', "message_size_limit"),
    "integer-for-string": ({"hostname": 42}, "", "hostname = 42",
                           "hostname"),
    "syntax-error": ({}, "smtpd_extra = = 1;\n", "smtpd_extra", ""),
}


@pytest.mark.parametrize("case", CONFIG_ERRORS, ids=list(CONFIG_ERRORS))
def test_config_error_names_file_and_line(lab, case):
    overrides, appended, marker, name = CONFIG_ERRORS[case]
    tern = lab.tern(start=False, **overrides)
    text = libconfig_text(tern.settings) + appended
    tern.write_config(text=text)
    line = line_of(text, marker)

    done = subprocess.run(tern.command(), capture_output=True, text=True,
                          timeout=20, cwd=tern.dir)

    assert done.returncode != 0, "ternd started with a broken configuration"
    assert re.search(rf"tern\.conf:{line}: \S", done.stderr), \
        f"no FILE:LINE: reason for line {line} on stderr:\n{done.stderr}"
    assert name in done.stderr, \
        f"the error does not name {name!r}:\n{done.stderr}"
    assert not wait_tcp("127.0.0.1", tern.port, 0.2), \
        "something listens on the configured port"


@pytest.mark.parametrize("child", CHILDREN)
def test_killed_child_is_restarted(lab, child):
    rcv, tern = deliverable_lab(lab)
    pid = tern.child_pid(child)
    since = tern.log_size()

    os.kill(pid, signal.SIGKILL)

    tern.wait_log(r"(?i)restart", since=since, timeout=20)
    new = wait_for(lambda: [p for p in tern.children().get(child, [])
                            if p != pid], 20)
    assert new, f"no new {child} after killing {pid}: {tern.children()}"
    assert not pid_alive(pid)
    assert_mail_flows(tern, rcv, f"after-kill-{child}")


def test_sighup_applies_new_relay_networks(lab):
    rcv, tern = deliverable_lab(
        lab, smtpd={"relay_networks": ["127.0.0.0/8"]})
    assert rcpt_code(tern, "127.0.0.9") == 250, "control: relay refused"
    pids = tern.children()

    tern.write_config(merge(tern.settings,
                            {"smtpd": {"relay_networks": ["127.0.0.1/32"]}}))
    tern.send_signal(signal.SIGHUP)

    refused = wait_for(lambda: rcpt_code(tern, "127.0.0.9") == 554, 15,
                       interval=0.25)
    assert refused, "127.0.0.9 can still relay after the reload"
    assert rcpt_code(tern, "127.0.0.1") == 250
    assert tern.running(), "ternd exited on SIGHUP"
    assert tern.children() == pids, "children were replaced, not reloaded"
    assert_mail_flows(tern, rcv, "after-reload")


def test_sighup_with_broken_file_keeps_old_config(lab):
    rcv, tern = deliverable_lab(
        lab, smtpd={"relay_networks": ["127.0.0.0/8"]})
    pids = tern.children()
    # A valid-looking change plus an unknown key: none of it may apply.
    text = libconfig_text(merge(
        tern.settings, {"smtpd": {"relay_networks": ["127.0.0.1/32"]}})) \
        + "no_such_setting = 1;\n"
    tern.write_config(text=text)
    line = line_of(text, "no_such_setting")
    since = tern.log_size()

    tern.send_signal(signal.SIGHUP)

    tern.wait_log(rf"tern\.conf:{line}:", since=since, timeout=15)
    assert tern.running(), "ternd exited on a broken reload"
    assert tern.children() == pids, "children restarted on a broken reload"
    assert rcpt_code(tern, "127.0.0.9") == 250, \
        "part of the rejected file was applied"
    assert_mail_flows(tern, rcv, "after-broken-reload")


def test_restarted_child_keeps_config_after_broken_reload(lab):
    """A child restarted after a rejected reload must run on the
    configuration in force, not on the broken file on disk."""
    rcv, tern = deliverable_lab(lab)
    tern.write_config(text=libconfig_text(tern.settings) + "broken = ;\n")
    since = tern.log_size()
    tern.send_signal(signal.SIGHUP)
    tern.wait_log(r"reload rejected", since=since, timeout=15)
    pid = tern.child_pid("tern-smtpd")

    os.kill(pid, signal.SIGKILL)

    new = wait_for(lambda: [p for p in tern.children().get("tern-smtpd", [])
                            if p != pid], 20)
    assert new, f"smtpd was not restarted: {tern.children()}"
    assert_mail_flows(tern, rcv, "after-restart-on-broken-file")


def test_reload_keeps_queue_directory(lab):
    """Moving queue.directory needs a restart: after a reload and a child
    restart, smtpd and qmgr must still share the old queue."""
    rcv, tern = deliverable_lab(lab)
    moved = str(tern.dir / "elsewhere")
    tern.write_config(merge(tern.settings, {"queue": {"directory": moved}}))
    since = tern.log_size()
    tern.send_signal(signal.SIGHUP)
    tern.wait_log(r"queue\.directory changes take effect only after",
                  since=since, timeout=15)
    pid = tern.child_pid("tern-smtpd")

    os.kill(pid, signal.SIGKILL)

    wait_for(lambda: [p for p in tern.children().get("tern-smtpd", [])
                      if p != pid], 20)
    assert_mail_flows(tern, rcv, "after-queue-move")
    assert not os.path.exists(moved), "smtpd created the new queue folder"


def assert_unloadable_file_rejected(lab, missing, setting, file_name,
                                    label):
    """Check that settings naming a file that cannot be loaded stop
    ternd -t, start-up and a reload, each with an error that names the
    setting and the file, and that a running ternd keeps delivering."""
    rcv, running = deliverable_lab(lab)
    checked = lab.tern(start=False, name="checked", **missing)
    checked.write_config()
    for extra in (["-t"], []):
        done = subprocess.run(checked.command() + extra, capture_output=True,
                              text=True, timeout=20, cwd=checked.dir)
        assert done.returncode != 0, f"ternd {extra} accepted the file"
        assert setting in done.stderr, \
            f"the error does not name {setting}:\n{done.stderr}"
        assert file_name in done.stderr, \
            f"the error does not name the file:\n{done.stderr}"

    running.write_config(merge(running.settings, missing))
    since = running.log_size()
    running.send_signal(signal.SIGHUP)
    running.wait_log(rf"reload rejected.*{re.escape(setting)}", since=since,
                     timeout=15)
    assert_mail_flows(running, rcv, label)


def test_missing_tls_certificate_rejected(lab, tmp_path):
    """A certificate that cannot be loaded is rejected instead of leaving
    smtpd to fail over and over."""
    missing = {"smtpd": {"tls": {"certificate": str(tmp_path / "no.pem"),
                                 "key": str(tmp_path / "no.key")}}}
    assert_unloadable_file_rejected(lab, missing, "smtpd.tls", "no.pem",
                                    "after-tls-reload")


def test_missing_outbound_ca_file_rejected(lab, tmp_path):
    """A CA file for outbound TLS that cannot be loaded is rejected:
    deliver would otherwise run without TLS."""
    missing = {"delivery": {"tls": {"ca_file": str(tmp_path / "ca.pem")}}}
    assert_unloadable_file_rejected(lab, missing, "delivery.tls", "ca.pem",
                                    "after-ca-reload")


def test_missing_mta_sts_ca_file_rejected(lab, tmp_path):
    """A CA file for MTA-STS policy fetches that cannot be loaded is
    rejected, instead of failing every policy fetch later."""
    missing = {"delivery": {"mta_sts": {"ca_file": str(tmp_path /
                                                     "sts-ca.pem")}}}
    assert_unloadable_file_rejected(lab, missing, "delivery.mta_sts.ca_file",
                                    "sts-ca.pem", "after-sts-ca-reload")


def test_foreign_source_address_rejected(lab):
    """A source address this host does not have stops ternd -t with the
    line of the entry, instead of failing every delivery from it."""
    tern = lab.tern(start=False, name="foreign-source", delivery={
        "source_addresses": [{"address": "192.0.2.10"}]})
    tern.write_config()
    done = subprocess.run(tern.command() + ["-t"], capture_output=True,
                          text=True, timeout=20, cwd=tern.dir)
    assert done.returncode != 0
    assert "delivery.source_addresses" in done.stderr, done.stderr
    assert "cannot send from 192.0.2.10" in done.stderr, done.stderr
    assert f"{tern.conf_path}:" in done.stderr, done.stderr


def test_unwritable_log_file_rejected(lab, tmp_path):
    bad = str(tmp_path / "missing-folder" / "tern.log")
    tern = lab.tern(start=False, log={"file": bad})
    tern.write_config()

    done = subprocess.run(tern.command(), capture_output=True, text=True,
                          timeout=20, cwd=tern.dir)

    assert done.returncode != 0, "ternd started with an unwritable log"
    assert "log.file" in done.stderr, done.stderr
    assert not wait_tcp("127.0.0.1", tern.port, 0.2), \
        "something listens on the configured port"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_stop_signal_ends_every_process(lab, sig):
    tern = lab.tern()
    kids = {name: tern.child_pid(name) for name in CHILDREN}

    tern.send_signal(sig)

    try:
        status = tern.proc.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"ternd still runs 15 s after {sig.name}:\n"
                    f"{tern.diagnostics()}")
    assert status == 0, f"ternd exited with {status} after {sig.name}"
    stopped = wait_for(
        lambda: not [p for p in kids.values() if pid_alive(p)], 5)
    assert stopped, "children still running: " + str(
        {n: p for n, p in kids.items() if pid_alive(p)})
    assert not wait_tcp("127.0.0.1", tern.port, 0.2), \
        "the listener is still open"


def test_newer_queue_schema_refused(lab):
    tern = lab.tern(start=False)
    tern.queue_dir.mkdir()
    db = tern.queue_dir / "queue.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE schema_version(version INTEGER)")
    con.execute("INSERT INTO schema_version VALUES (999)")
    con.commit()
    con.close()

    tern.start(wait=False)
    try:
        status = tern.proc.wait(20)
    except subprocess.TimeoutExpired:
        status = None
    text = tern.output() + tern.log_text()

    assert status is not None, \
        f"ternd still runs with an unknown queue schema:\n{text[-3000:]}"
    assert status != 0, "ternd exited 0 with an unknown queue schema"
    assert re.search(r"(?i)schema", text), \
        f"no message about the queue schema:\n{text[-3000:]}"
    assert "999" in text, \
        f"the message does not name version 999:\n{text[-3000:]}"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    tables = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")]
    version = con.execute("SELECT version FROM schema_version").fetchall()
    con.close()
    assert tables == ["schema_version"], f"database was changed: {tables}"
    assert version == [(999,)], f"schema_version was changed: {version}"


TMPFS_MOUNT = 'mount -t tmpfs -o size={size} tern-queue "$0" && exec "$@"'


def private_tmpfs_error(directory):
    """None when a tmpfs can be mounted in a private mount namespace
    here, else the reason it cannot."""
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             TMPFS_MOUNT.format(size="64k"), str(directory), "true"],
            capture_output=True, text=True, timeout=20)
    except FileNotFoundError as e:
        return str(e)
    if done.returncode != 0:
        return (f"unshare --mount with a tmpfs failed ({done.returncode}): "
                f"{done.stderr.strip()}")
    return None


def test_full_disk_answers_452(lab):
    probe = lab.dir / "probe"
    probe.mkdir()
    reason = private_tmpfs_error(probe)
    if reason is not None:
        pytest.skip(f"cannot mount a private tmpfs for the queue: {reason}")
    rcv = lab.receiver("127.0.0.2")
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    tern = lab.tern(start=False, smtpd={"message_size_limit": 8000000})
    tern.queue_dir.mkdir()
    # The queue is a 512 KiB tmpfs, mounted only in ternd's mount
    # namespace.
    tern.start(prefix=["unshare", "--mount", "--propagation", "private",
                       "sh", "-c", TMPFS_MOUNT.format(size="512k"),
                       str(tern.queue_dir)])
    tern.namespace_pid = tern.proc.pid
    big = message_bytes("bigger than the disk",
                        body=(b"y" * 78 + b"\r\n") * 20000)

    with tern.raw(timeout=60) as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        reply = c.command("MAIL FROM:<big@origin.test>")
        if reply.code == 250:
            c.expect("RCPT TO:<user@example.test>", 250)
            c.expect("DATA", 354)
            c.send(big + b".\r\n")
            reply = c.reply()

    assert reply.code == 452, f"message on a full disk got {reply}"
    assert tern.queue_counts() == (0, 0), \
        f"a failed insert left rows behind: {tern.queue_counts()}"
    check = tern.queue_query("PRAGMA integrity_check")
    assert check == [["ok"]], f"queue.db integrity: {check}"
    assert_mail_flows(tern, rcv, "after-full-disk")
    assert [m.mail_from for m in rcv.messages] == [
        "after-full-disk@origin.test"], "the rejected message was delivered"
    tern.wait_queue_empty()



def test_shipped_config_checks_from_fresh_tree(tmp_path):
    """The README starts ternd on contrib/tern.conf in a fresh clone, where
    the queue's parent folder (var/) does not exist yet: ternd -t must
    create the queue and accept the file."""
    from tern_instance import BUILD_DIR

    source = Path(__file__).resolve().parents[2] / "contrib" / "tern.conf"
    contrib = tmp_path / "contrib"
    contrib.mkdir()
    (contrib / "tern.conf").write_text(source.read_text())

    result = subprocess.run(
        [str(BUILD_DIR / "ternd"), "-t", "-c", str(contrib / "tern.conf")],
        capture_output=True, text=True, timeout=30)

    assert result.returncode == 0, (
        f"ternd -t failed on the shipped configuration:\n{result.stderr}")
    assert (tmp_path / "var" / "queue" / "queue.db").exists(), (
        "ternd -t did not create var/queue/queue.db beside contrib/")


def test_second_ternd_on_same_queue_refused(lab):
    """Two ternds on one queue would dispatch the same recipients twice,
    so the second must stop while the first keeps running."""
    rcv, first = deliverable_lab(lab)
    second = lab.tern(start=False, name="second",
                      queue={"directory": str(first.queue_dir)})
    second.write_config()

    done = subprocess.run(second.command(), capture_output=True, text=True,
                          timeout=20, cwd=second.dir)

    assert done.returncode != 0, "a second ternd started on the same queue"
    assert "in use by another running ternd" in done.stderr, done.stderr

    # Also while the first one's qmgr is dead and waiting for its restart,
    # when nothing listens on the qmgr pipe.
    os.kill(first.child_pid("tern-qmgr"), signal.SIGKILL)
    done = subprocess.run(second.command(), capture_output=True, text=True,
                          timeout=20, cwd=second.dir)
    assert done.returncode != 0, \
        "a second ternd started while the first one's qmgr restarted"
    assert "in use by another running ternd" in done.stderr, done.stderr

    assert first.running(), "the first ternd stopped"
    assert_mail_flows(first, rcv, "after-second-refused")


def test_invalid_system_hostname_rejected(lab):
    """Without a hostname setting, the system's host name goes into the
    greeting; one that is not a DNS name must stop ternd, never reach a
    client. The host name is changed only inside a private UTS namespace
    (unshare -u), so the machine's own name is untouched."""
    tern = lab.tern(start=False)
    settings = dict(tern.settings)
    settings.pop("hostname", None)
    tern.write_config(settings)
    script = ("import socket, subprocess, sys\n"
              "socket.sethostname('evil\\r\\n250 injected')\n"
              "r = subprocess.run(sys.argv[1:], capture_output=True, "
              "text=True)\n"
              "sys.stderr.write(r.stderr)\n"
              "sys.exit(r.returncode)\n")

    done = subprocess.run(["unshare", "-u", "/usr/bin/python3", "-c", script]
                          + tern.command() + ["-t"], capture_output=True,
                          text=True, timeout=30, cwd=tern.dir)

    assert done.returncode != 0, \
        f"ternd accepted the host name:\n{done.stderr}"
    assert "not a valid DNS name" in done.stderr, done.stderr
    assert "\r\n250" not in done.stderr, "the raw CR LF reached the output"


def test_smtpd_restart_with_lost_certificate_keeps_tls(lab):
    """A certificate that disappears after ternd accepted it does not
    reach a restarted smtpd: ternd sends the certificate and key it
    accepted, so STARTTLS stays on."""
    rcv, tern = deliverable_lab(lab)
    (tern.dir / "cert.pem").unlink()
    pid = tern.child_pid("tern-smtpd")
    since = tern.log_size()

    os.kill(pid, signal.SIGKILL)

    tern.wait_log(r"started smtpd \(pid \d+\)", since=since, timeout=20)
    assert_mail_flows(tern, rcv, "after-lost-certificate")
    with tern.raw() as c:
        c.greeting()
        ehlo = c.expect("EHLO client.test", 250)
        c.command("QUIT")
    assert "STARTTLS" in str(ehlo), \
        f"STARTTLS not offered after the restart: {ehlo}"
    assert not tern.log_lines("STARTTLS disabled", since=since), tern.tail()


def test_reload_without_pickup_logs_no_error(lab):
    """pickup runs only with a pickup section, so a reload without one
    has no pickup to send the configuration to, and that is no error."""
    tern = lab.tern()
    assert "pickup" not in tern.settings
    since = tern.log_size()

    tern.send_signal(signal.SIGHUP)

    tern.wait_log(r"configuration reloaded from", 10, since)
    after = tern.log_text()[since:]
    assert "cannot send the configuration" not in after, after
    errors = [line for line in after.splitlines() if "error" in line]
    assert errors == [], after
