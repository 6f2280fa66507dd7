"""Privilege separation: ternd runs as root (as the suite does) and its
children as the system user tern. Only ternd opens the DKIM keys, the
secrets file, the users file and the TLS key. The children still sign
and authenticate with what ternd passes them.

The children's user and group ids come from /proc/PID/status. That the
tern user cannot open the secret files is checked by running cat as tern
(subprocess with user=, group= and no supplementary groups). DKIM
signatures are verified with dkimpy, smart-host AUTH by the AuthRelay
peer, as in test_dkim.py and test_smarthost.py.
"""

import os
import pwd
import shutil
import signal
import smtplib
import ssl
import stat
import subprocess

import pytest

from engine_helpers import wait_outcome
from peers import message_bytes, wait_for
from tern_instance import BUILD_DIR, make_traversable
from test_dkim import (MX_ADDRESS, Receiver, key_entry, key_record,
                       make_key, start_dns, verify_all)
from test_policy_cli import tern_cli, ternd_check
from test_smarthost import (PASSWORD, RELAY_ADDRESS, USER, relay_of,
                            start_relay, write_policy)

CHILDREN = ("tern-qmgr", "tern-smtpd", "tern-deliver", "tern-pickup")


def tern_user():
    try:
        return pwd.getpwnam("tern")
    except KeyError:
        pytest.fail("the system user tern is missing; run "
                    "contrib/debian/install-deps as root")


def status_ids(pid):
    """(real uid, effective uid, real gid, effective gid, supplementary
    groups) of pid, from /proc/PID/status."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    uids, gids = fields["Uid"], fields["Gid"]
    return (int(uids[0]), int(uids[1]), int(gids[0]), int(gids[1]),
            fields.get("Groups", []))


def open_as_tern(path):
    """Run cat on path as the user tern; return (exit status, stderr)."""
    user = tern_user()
    done = subprocess.run(["cat", str(path)], user=user.pw_uid,
                          group=user.pw_gid, extra_groups=[],
                          capture_output=True, text=True, timeout=10)
    return done.returncode, done.stderr


def write_private(path, text):
    """Write text into path with mode 0600, owned by root."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


@pytest.fixture
def dkim_key(tmp_path):
    """An RSA key (mode 0600, root) and its p= value."""
    return make_key(tmp_path, "rsa.key", "rsa")


def privsep_tern(lab, dkim_key, **overrides):
    """Start tern with a DKIM key for origin.test, a users file (mode
    0600, root) and a pickup folder, as in production."""
    tern = lab.tern(start=False, dkim={"keys": [
        key_entry("origin.test", "sel1", dkim_key[0], "rsa-sha256")]},
        pickup={"directory": "pickup", "scan_interval": 1}, **overrides)
    users = write_private(tern.dir / "users", "")
    settings = dict(tern.settings)
    settings["smtpd"] = dict(settings["smtpd"],
                             auth={"users_file": str(users)})
    tern.write_config(settings)
    return tern.start()


def test_children_run_as_tern(lab, dkim_key):
    user = tern_user()
    start_dns(lab, {})
    tern = privsep_tern(lab, dkim_key)

    for name in CHILDREN:
        ruid, euid, rgid, egid, groups = status_ids(tern.child_pid(name))
        assert (ruid, euid) == (user.pw_uid, user.pw_uid), name
        assert (rgid, egid) == (user.pw_gid, user.pw_gid), name
        assert groups == [], f"{name} kept supplementary groups {groups}"
    ruid, euid, _, _, _ = status_ids(tern.proc.pid)
    assert (ruid, euid) == (0, 0)
    assert tern.log_lines(rf"ternd\[\d+\]: info: children run as user tern "
                          rf"\(uid {user.pw_uid}\)$")


def test_secret_files_closed_to_tern(lab, dkim_key):
    start_dns(lab, {})
    tern = privsep_tern(lab, dkim_key)
    tern.child_pid("tern-smtpd")

    for path in (dkim_key[0], tern.dir / "users", tern.dir / "key.pem"):
        status, err = open_as_tern(path)
        assert status != 0, f"tern could read {path}"
        assert "Permission denied" in err, err


def test_queue_and_log_owned_by_tern(lab, dkim_key):
    user = tern_user()
    start_dns(lab, {})
    tern = privsep_tern(lab, dkim_key)
    tern.child_pid("tern-qmgr")

    queue = os.stat(tern.queue_dir)
    assert queue.st_uid == user.pw_uid
    assert stat.S_IMODE(queue.st_mode) == 0o700
    for name in os.listdir(tern.queue_dir):
        if name.startswith("queue.db"):
            st = os.stat(tern.queue_dir / name)
            assert st.st_uid == user.pw_uid, name
            assert stat.S_IMODE(st.st_mode) == 0o600, name
    assert os.stat(tern.log_path).st_uid == user.pw_uid
    pickup = os.stat(tern.dir / "pickup")
    assert pickup.st_uid == user.pw_uid
    assert pickup.st_gid == user.pw_gid


def test_starttls_with_key_from_ternd(lab, dkim_key):
    start_dns(lab, {})
    tern = privsep_tern(lab, dkim_key)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    with smtplib.SMTP(tern.address, tern.port, local_hostname="client.test",
                      timeout=15) as client:
        code, _ = client.starttls(context=context)
        assert code == 220
        code, _ = client.ehlo()
        assert code == 250
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
    assert not tern.log_lines("STARTTLS disabled"), tern.tail()


def test_dkim_signature_verifies(lab, dkim_key):
    dnsmasq = start_dns(lab, {
        "sel1._domainkey.origin.test": [key_record("rsa", dkim_key[1])]})
    receiver = Receiver(lab)
    tern = privsep_tern(lab, dkim_key)

    tern.send("signed@origin.test", ["user@example.test"],
              message_bytes("privsep"))

    got = receiver.wait(1)
    assert verify_all(got[0], dnsmasq.server) == 1


def test_reload_sends_new_key(lab, dkim_key, tmp_path):
    second = make_key(tmp_path, "second.key", "rsa")
    dnsmasq = start_dns(lab, {
        "sel1._domainkey.origin.test": [key_record("rsa", dkim_key[1])],
        "sel2._domainkey.origin.test": [key_record("rsa", second[1])]})
    receiver = Receiver(lab)
    tern = privsep_tern(lab, dkim_key)
    settings = dict(tern.settings)
    settings["dkim"] = {"keys": [
        key_entry("origin.test", "sel2", second[0], "rsa-sha256")]}
    since = tern.log_size()

    tern.write_config(settings)
    tern.send_signal(signal.SIGHUP)
    tern.wait_log(r"deliver\[\d+\]: info: configuration reloaded", 10, since)
    qid = tern.send("reloaded@origin.test", ["user@example.test"],
                    message_bytes("after reload"))

    tern.wait_log(rf"{qid}: dkim: signed d=origin\.test s=sel2 ")
    got = receiver.wait(1)
    assert verify_all(got[0], dnsmasq.server) == 1


def test_smart_host_auth_via_ternd(lab, test_ca):
    peer = start_relay(lab, test_ca)
    lab.dns(hosts={"relay.test": [RELAY_ADDRESS]})
    tern = lab.tern(start=False, policy_file="policy.conf",
                    secrets_file="secrets.conf",
                    delivery={"port": lab.port, "connect_timeout": 2,
                              "tls": {"ca_file": str(test_ca.cert)}})
    write_policy(tern.dir, peer.port)
    tern.start()
    rcpt = "user@example.test"

    qid = tern.send("relayed@origin.test", [rcpt], message_bytes("auth"))

    wait_outcome(tern, qid, rcpt, "sent", relay=relay_of(peer))
    attempts = peer.auth_attempts
    assert len(attempts) == 1, peer.describe()
    assert attempts[0].success, peer.describe()
    assert attempts[0].login == USER, peer.describe()
    status, _ = open_as_tern(tern.dir / "secrets.conf")
    assert status != 0
    assert PASSWORD not in tern.log_text()


def test_missing_user_stops_start(lab):
    tern = lab.tern(start=False, user="tern-no-such-user")

    done = subprocess.run(tern.command(), capture_output=True, text=True,
                          timeout=20, cwd=tern.dir)

    assert done.returncode == 1
    assert "user: there is no user called tern-no-such-user" in done.stderr
    assert "adduser --system" in done.stderr


def test_root_sendmail_runs_as_queue_owner(lab, dkim_key):
    user = tern_user()
    start_dns(lab, {})
    tern = privsep_tern(lab, dkim_key)
    tern.child_pid("tern-qmgr")
    tern.stop()

    session = subprocess.Popen([str(BUILD_DIR / "tern"), "-c",
                                str(tern.conf_path), "sendmail", "-bs"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        greeting = session.stdout.readline()
        ids = status_ids(session.pid)
        session.stdin.write(b"QUIT\r\n")
        session.stdin.close()
        session.wait(10)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait(10)

    assert greeting.startswith(b"220"), greeting
    assert ids[:4] == (user.pw_uid, user.pw_uid, user.pw_gid, user.pw_gid)
    assert ids[4] == []
    for name in os.listdir(tern.queue_dir):
        st = os.lstat(tern.queue_dir / name)
        assert st.st_uid == user.pw_uid, f"{name} is owned by {st.st_uid}"


def test_root_files_in_queue_fixed_at_start(lab, dkim_key):
    user = tern_user()
    start_dns(lab, {})
    tern = privsep_tern(lab, dkim_key)
    tern.child_pid("tern-qmgr")
    tern.stop()
    for name in os.listdir(tern.queue_dir):
        os.lchown(tern.queue_dir / name, 0, 0)
    os.chown(tern.queue_dir, 0, 0)
    os.chmod(tern.queue_dir / "queue.db", 0o466)

    tern.start()
    tern.child_pid("tern-qmgr")

    assert os.stat(tern.queue_dir).st_uid == user.pw_uid
    # The owner may write again; group and others may no longer.
    assert stat.S_IMODE(os.stat(tern.queue_dir / "queue.db").st_mode) == \
        0o644
    for name in os.listdir(tern.queue_dir):
        st = os.lstat(tern.queue_dir / name)
        assert st.st_uid == user.pw_uid, f"{name} is owned by {st.st_uid}"
    assert wait_for(lambda: tern.log_lines(r"qmgr\[\d+\]: info: started"),
                    10), tern.tail()


def test_unreachable_queue_stops_start(lab):
    tern = lab.tern(start=False, queue={"directory": "private/queue"})
    os.mkdir(tern.dir / "private", 0o700)

    done = subprocess.run(tern.command(), capture_output=True, text=True,
                          timeout=20, cwd=tern.dir)

    assert done.returncode == 1
    assert (f"queue.directory: user tern cannot reach {tern.dir}/private/"
            f"queue because it may not search the folder "
            f"{tern.dir}/private") in done.stderr, done.stderr


def test_fresh_queue_parents_reachable(lab):
    """ternd, started with umask 077, creates the missing var/ with mode
    0755 and var/queue with mode 0700 for tern, then starts."""
    user = tern_user()
    tern = lab.tern(start=False, queue={"directory": "var/queue"})
    tern.queue_dir = tern.dir / "var" / "queue"

    tern.start(prefix=("sh", "-c", 'umask 077 && exec "$@"', "umask"))

    var = os.stat(tern.dir / "var")
    assert var.st_uid == 0
    assert stat.S_IMODE(var.st_mode) == 0o755
    queue = os.stat(tern.queue_dir)
    assert queue.st_uid == user.pw_uid
    assert stat.S_IMODE(queue.st_mode) == 0o700
    assert tern.wait_log_line(r"qmgr\[\d+\]: info: started"), tern.tail()


def test_check_only_fresh_queue_for_tern(lab):
    """ternd -t creates the queue and log file as root and hands them to
    tern, as a start would."""
    user = tern_user()
    tern = lab.tern(start=False, queue={"directory": "var/queue"})

    done = subprocess.run(tern.command() + ["-t"], capture_output=True,
                          text=True, timeout=20, cwd=tern.dir,
                          preexec_fn=lambda: os.umask(0o077))

    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(os.stat(tern.dir / "var").st_mode) == 0o755
    queue = os.stat(tern.dir / "var" / "queue")
    assert queue.st_uid == user.pw_uid
    assert stat.S_IMODE(queue.st_mode) == 0o700
    assert os.stat(tern.log_path).st_uid == user.pw_uid


def test_check_only_unreachable_log(lab):
    """ternd -t reports a log file that tern cannot reach, as a start
    does, and creates nothing there."""
    tern = lab.tern(start=False, log={"file": "private/tern.log"})
    os.mkdir(tern.dir / "private", 0o700)

    done = subprocess.run(tern.command() + ["-t"], capture_output=True,
                          text=True, timeout=20, cwd=tern.dir)

    assert done.returncode == 1
    assert (f"log.file: user tern cannot reach {tern.dir}/private/"
            f"tern.log because it may not search the folder "
            f"{tern.dir}/private") in done.stderr, done.stderr
    assert not (tern.dir / "private" / "tern.log").exists()


def test_config_check_unreachable_log(lab):
    """tern config check reports the log folder that ternd would
    reject."""
    tern = lab.tern(start=False, log={"file": "private/tern.log"})
    os.mkdir(tern.dir / "private", 0o700)

    done = subprocess.run([str(BUILD_DIR / "tern"), "-c",
                           str(tern.conf_path), "config", "check"],
                          capture_output=True, text=True, timeout=20)

    assert done.returncode == 1, done.stdout + done.stderr
    assert (f"log.file: user tern cannot reach {tern.dir}/private/"
            f"tern.log because it may not search the folder "
            f"{tern.dir}/private") in done.stderr, done.stderr


def test_queue_command_group_denied(lab):
    """A member of the group tern may not change the queue: qmgr.sock is
    0700. The message names root and the folder's owner, not the group."""
    tern = lab.tern()
    make_traversable(tern.dir)
    os.chmod(tern.conf_path, 0o644)
    program = tern.dir / "tern"
    shutil.copyfile(BUILD_DIR / "tern", program)
    program.chmod(0o755)

    done = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=tern", "--clear-groups",
         str(program), "-c", str(tern.conf_path), "queue", "hold",
         "0123456789ABCDEF"], capture_output=True, text=True, timeout=30)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "permission denied: cannot reach qmgr" in done.stderr
    assert ("run this command as root or as the user that owns that "
            "folder") in done.stderr
    assert "group" not in done.stderr, done.stderr


def test_unreachable_programs_stop_start(lab):
    """ternd finds its children as root but starts them as tern: programs
    in a folder tern may not search are refused at start, by name,
    rather than retried forever."""
    tern = lab.tern(start=False)
    private = tern.dir / "private"
    os.mkdir(private, 0o700)
    os.mkdir(private / "bin", 0o755)
    for name in ("ternd", "tern-qmgr", "tern-smtpd", "tern-deliver",
                 "tern-pickup"):
        shutil.copy2(BUILD_DIR / name, private / "bin" / name)
    command = [str(private / "bin" / "ternd")] + tern.command()[1:]

    done = subprocess.run(command, capture_output=True, text=True,
                          timeout=20, cwd=tern.dir)

    assert done.returncode == 1
    assert (f"cannot start tern-qmgr: programs: user tern cannot reach "
            f"{private}/bin/tern-qmgr because it may not search the "
            f"folder {private}") in done.stderr, done.stderr


def test_empty_user_keeps_children_root(lab):
    tern = lab.tern(user="")

    for name in ("tern-qmgr", "tern-smtpd", "tern-deliver"):
        ruid, euid, _, _, _ = status_ids(tern.child_pid(name))
        assert (ruid, euid) == (0, 0), name
    assert tern.log_lines(r"ternd\[\d+\]: warning: children run as root "
                          r"because the setting user is \"\"")


def test_unreadable_ca_file_stops_start(lab, test_ca, tmp_path):
    private_ca = tmp_path / "ca.pem"
    write_private(private_ca, test_ca.cert.read_text())
    tern = lab.tern(start=False, delivery={
        "port": lab.port, "tls": {"ca_file": str(private_ca)}})

    done = subprocess.run(tern.command(), capture_output=True, text=True,
                          timeout=20, cwd=tern.dir)

    assert done.returncode == 1
    assert (f"{tern.conf_path}: delivery.tls.ca_file: user tern may not "
            f"read {private_ca}") in done.stderr, done.stderr


def test_children_not_dumpable(lab, dkim_key):
    """The kernel gives /proc/PID/mem of a non-dumpable process to root,
    and refuses it to processes of the same user without CAP_SYS_PTRACE,
    so one child cannot read the keys in another's memory."""
    user = tern_user()
    start_dns(lab, {})
    tern = privsep_tern(lab, dkim_key)
    pids = {name: tern.child_pid(name) for name in CHILDREN}
    pids["ternd"] = tern.proc.pid

    for name, pid in pids.items():
        assert os.stat(f"/proc/{pid}/mem").st_uid == 0, name
        done = subprocess.run(
            ["python3", "-c", f"open('/proc/{pid}/mem', 'rb')"],
            user=user.pw_uid, group=user.pw_gid, extra_groups=[],
            capture_output=True, text=True, timeout=10)
        assert done.returncode != 0, f"tern could open {name}'s memory"
        assert "PermissionError" in done.stderr, done.stderr


def test_log_symlink_not_followed(lab, dkim_key, tmp_path):
    """A link planted at log.file (its folder may belong to tern) must
    not make ternd, as root, append to or create another file."""
    start_dns(lab, {})
    tern = privsep_tern(lab, dkim_key)
    tern.child_pid("tern-smtpd")
    victim = write_private(tmp_path / "victim", "root's file\n")
    missing = tmp_path / "created-by-root"
    out_since = len(tern.output())

    os.rename(tern.log_path, tern.dir / "tern.log.1")
    os.symlink(victim, tern.log_path)
    tern.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "reload rejected" in tern.output()[out_since:],
                    10), tern.tail()

    assert victim.read_text() == "root's file\n"
    assert f"log.file: cannot open {tern.log_path}: it is a symbolic " \
        "link" in tern.output()[out_since:], tern.tail()

    os.unlink(tern.log_path)
    os.symlink(missing, tern.log_path)
    tern.send_signal(signal.SIGHUP)
    assert wait_for(lambda: tern.output()[out_since:].count(
        "reload rejected") == 2, 10), tern.tail()

    assert not missing.exists()
    assert not os.path.lexists(missing)


def give_key_to_tern(path, access):
    """Make the key at path readable by the user tern in one of three
    ways: tern owns it (mode 0600), its group is tern's with mode 0640,
    or mode 0644 for others."""
    user = tern_user()
    if access == "owner":
        os.chown(path, user.pw_uid, 0)
        os.chmod(path, 0o600)
    elif access == "group":
        os.chown(path, 0, user.pw_gid)
        os.chmod(path, 0o640)
    else:
        os.chown(path, 0, 0)
        os.chmod(path, 0o644)


KEY_CASES = [("dkim", "owner"), ("dkim", "group"), ("tls", "owner"),
             ("tls", "group"), ("tls", "others")]


@pytest.mark.parametrize("key,access", KEY_CASES)
def test_key_tern_may_read_stops_start(lab, dkim_key, key, access):
    tern = lab.tern(start=False, dkim={"keys": [
        key_entry("origin.test", "sel1", dkim_key[0], "rsa-sha256")]})
    path = dkim_key[0] if key == "dkim" else tern.dir / "key.pem"
    give_key_to_tern(path, access)
    expected = f"{path}: user tern may read this key"
    fix = f"run chown root {path} and chmod 600 {path}"

    done = subprocess.run(tern.command(), capture_output=True, text=True,
                          timeout=20, cwd=tern.dir)
    assert done.returncode == 1
    assert expected in done.stderr, done.stderr
    assert fix in done.stderr, done.stderr

    test = ternd_check(tern)
    assert test.returncode != 0
    assert expected in test.stderr, test.stderr

    check = tern_cli(tern, "config", "check")
    assert check.returncode == 1
    assert expected in check.stderr, check.stderr
    assert "configuration OK" not in check.stdout


def test_key_closed_to_tern_passes_check(lab, dkim_key):
    tern = lab.tern(start=False, dkim={"keys": [
        key_entry("origin.test", "sel1", dkim_key[0], "rsa-sha256")]})
    # Root's group and 0640 are fine: the children have no such group.
    os.chmod(dkim_key[0], 0o640)

    check = tern_cli(tern, "config", "check")
    assert check.returncode == 0, check.stderr
    assert "may read this key" not in check.stderr


def test_reload_rejects_key_tern_may_read(lab, dkim_key):
    start_dns(lab, {})
    tern = privsep_tern(lab, dkim_key)
    key = tern.dir / "key.pem"
    give_key_to_tern(key, "owner")
    offset = tern.log_size()

    tern.send_signal(signal.SIGHUP)
    tern.wait_log(r"reload rejected, the running configuration stays in "
                  rf"force: .*{key}: user tern may read this key",
                  since=offset)


def starttls_code(tern):
    """The reply code to STARTTLS on tern's first listener, after a
    handshake that accepts any certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(tern.address, tern.port, local_hostname="client.test",
                      timeout=15) as client:
        client.ehlo()
        if not client.has_extn("starttls"):
            return None
        code, _ = client.starttls(context=context)
        return code


def test_restarted_smtpd_keeps_accepted_key(lab, dkim_key):
    start_dns(lab, {})
    tern = privsep_tern(lab, dkim_key)
    old_pid = tern.child_pid("tern-smtpd")
    key = tern.dir / "key.pem"
    other = make_key(tern.dir, "other.key", "rsa")[0]
    os.replace(other, key)
    offset = tern.log_size()

    tern.send_signal(signal.SIGHUP)
    tern.wait_log(r"reload rejected, the running configuration stays in "
                  r"force: .*smtpd\.tls", since=offset)
    os.kill(old_pid, signal.SIGKILL)
    tern.wait_log(r"started smtpd \(pid \d+\)", since=offset)
    new_pid = tern.child_pid("tern-smtpd")
    assert new_pid != old_pid

    assert starttls_code(tern) == 220
    assert not tern.log_lines("STARTTLS disabled", since=offset), tern.tail()


def environment_of(pid):
    """The environment of pid, from /proc/PID/environ, as a dict."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        entries = f.read().split(b"\0")
    return dict(e.decode().partition("=")[::2] for e in entries if e)


def test_children_get_small_environment(lab, dkim_key, monkeypatch):
    monkeypatch.setenv("HOME", "/root")
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("ROOT_ONLY_SETTING", "private")
    monkeypatch.setenv("TERN_TEST_PROBE", "kept")
    start_dns(lab, {})
    tern = privsep_tern(lab, dkim_key)

    for name in CHILDREN:
        env = environment_of(tern.child_pid(name))
        assert env.get("HOME") == "/", f"{name}: {env}"
        assert "ROOT_ONLY_SETTING" not in env, name
        assert env.get("TZ") == "UTC", name
        assert env.get("TERN_TEST_PROBE") == "kept", name
        assert env.get("PATH", "").startswith("/usr/local/sbin:"), name
