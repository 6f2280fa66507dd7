"""`tern user add|passwd|del|list` as an operator runs it: the password
on standard input or typed twice on a terminal (a pseudo-terminal from
the pty module), never on the command line, and the users file's
content and mode 0600 after each edit. argon2-cffi checks the written
hashes as an implementation independent of tern's code."""

import os
import pty
import select
import stat
import subprocess
import time

import argon2
import pytest

from tern_instance import BUILD_DIR


@pytest.fixture
def users(lab):
    """A tern configuration whose smtpd.auth.users_file is "users" beside
    it; returns (tern, path of the users file)."""
    tern = lab.tern(start=False)
    tern.settings["smtpd"]["auth"] = {"users_file": "users"}
    tern.write_config()
    return tern, tern.dir / "users"


def tern_user(tern, *args, password=None):
    """Run `tern -c CONF user ARGS`, with password (a line) on standard
    input when given, else an empty standard input."""
    return subprocess.run(
        [str(BUILD_DIR / "tern"), "-c", str(tern.conf_path), "user", *args],
        input="" if password is None else password + "\n",
        capture_output=True, text=True, timeout=60)


def accounts(path):
    """The account lines of the users file as {name: (hash, senders)}."""
    found = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, hash_, senders = line.split(":")
            found[name] = (hash_, senders)
    return found


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def matches(hash_, password):
    try:
        return argon2.PasswordHasher().verify(hash_, password)
    except argon2.exceptions.VerifyMismatchError:
        return False


def test_user_add_passwd_del_list(users):
    tern, path = users

    done = tern_user(tern, "add", "alice", "--sender",
                     "alice@example.test,@example.org", password="first pw")
    assert done.returncode == 0, done.stderr
    assert "tern reload" in done.stdout
    assert mode_of(path) == 0o600
    hash_, senders = accounts(path)["alice"]
    assert hash_.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert senders == "alice@example.test,@example.org"
    assert matches(hash_, "first pw")

    done = tern_user(tern, "add", "bob", password="bob pw")
    assert done.returncode == 0, done.stderr

    # Comments the operator adds survive the later edits.
    path.write_text("# SMTP AUTH accounts\n" + path.read_text())
    os.chmod(path, 0o600)

    done = tern_user(tern, "passwd", "alice", password="second pw")
    assert done.returncode == 0, done.stderr
    assert mode_of(path) == 0o600
    hash_, senders = accounts(path)["alice"]
    assert matches(hash_, "second pw")
    assert not matches(hash_, "first pw")
    assert senders == "alice@example.test,@example.org"

    done = tern_user(tern, "list")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("alice alice@example.test,@example.org\n"
                           "bob any\n")
    assert "$argon2" not in done.stdout + done.stderr

    done = tern_user(tern, "del", "bob")
    assert done.returncode == 0, done.stderr
    assert mode_of(path) == 0o600
    assert list(accounts(path)) == ["alice"]
    assert path.read_text().startswith("# SMTP AUTH accounts\n")

    done = tern_user(tern, "list")
    assert done.stdout == "alice alice@example.test,@example.org\n"


def test_user_errors(users):
    tern, path = users

    done = tern_user(tern, "del", "alice")
    assert done.returncode == 1
    assert "cannot open" in done.stderr

    assert tern_user(tern, "add", "alice", password="pw").returncode == 0
    before = path.read_text()

    done = tern_user(tern, "add", "alice", password="pw2")
    assert done.returncode == 1
    assert 'user "alice" exists already' in done.stderr
    for name in ("passwd", "del"):
        done = tern_user(tern, name, "nobody", password="pw")
        assert done.returncode == 1
        assert 'no user "nobody"' in done.stderr

    done = tern_user(tern, "add", "bob", password="")
    assert done.returncode == 1
    assert "the password is empty" in done.stderr
    done = tern_user(tern, "add", "bob", password="x" * 1025)
    assert done.returncode == 1
    assert "longer than 1024 octets" in done.stderr
    done = tern_user(tern, "add", "bob", "--sender", "bob", password="pw")
    assert done.returncode == 1
    assert 'invalid sender "bob"' in done.stderr
    done = tern_user(tern, "add", "b:b", password="pw")
    assert done.returncode == 1
    assert "invalid user name" in done.stderr
    assert path.read_text() == before

    done = tern_user(tern)
    assert done.returncode == 2
    assert "usage: tern" in done.stderr


def test_user_password_not_on_command_line(users):
    tern, path = users

    for args in (("add", "alice", "hunter2"),
                 ("add", "alice", "--password", "hunter2"),
                 ("add", "alice", "--password=hunter2"),
                 ("passwd", "alice", "hunter2")):
        done = tern_user(tern, *args, password="from stdin")
        assert done.returncode == 2, args
        assert "never taken on the command line" in done.stderr
        assert "hunter2" not in done.stderr
    assert not path.exists()


def test_user_list_rejects_mode_0644(users):
    tern, path = users
    assert tern_user(tern, "add", "alice", password="pw").returncode == 0
    os.chmod(path, 0o644)

    done = tern_user(tern, "list")
    assert done.returncode == 1
    assert done.stderr.strip() == (f"{path}: readable by others (mode "
                                   f"0644); run chmod 600 {path}")

    # An edit rewrites the file with mode 0600.
    assert tern_user(tern, "add", "bob", password="pw").returncode == 0
    assert mode_of(path) == 0o600


def test_user_without_users_file(lab):
    tern = lab.tern(start=False)
    done = tern_user(tern, "add", "alice", password="pw")
    assert done.returncode == 1
    assert "smtpd.auth.users_file is not set" in done.stderr


def read_until(fd, marker, timeout=30):
    """Read from the pty master until marker appears; returns all read."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{marker!r} not seen; got {seen!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


def run_on_terminal(tern, args, answers):
    """Run `tern user ARGS` with a pseudo-terminal as standard input and
    output, typing each answer after its prompt. Returns (exit status,
    everything the terminal showed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(BUILD_DIR / "tern"), "-c", str(tern.conf_path), "user", *args],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    terminal_output = b""
    try:
        for prompt, answer in answers:
            terminal_output += read_until(master, prompt)
            os.write(master, answer.encode() + b"\n")
        status = proc.wait(timeout=60)
        terminal_output += drain(master)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return status, terminal_output.decode(errors="replace")


def drain(fd):
    """What is left to read on the pty master after the child exited."""
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            return out
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            return out
        if not chunk:
            return out
        out += chunk


def test_user_terminal_mismatch_and_no_echo(users):
    tern, path = users

    status, terminal_output = run_on_terminal(
        tern, ["add", "alice"],
        [(b"New password for alice: ", "typed-one"),
         (b"Repeat the password: ", "typed-two")])
    assert status == 1, terminal_output
    assert "the passwords do not match" in terminal_output
    assert "typed-" not in terminal_output  # echo was off
    assert not path.exists()

    status, terminal_output = run_on_terminal(
        tern, ["add", "alice"],
        [(b"New password for alice: ", "typed-same"),
         (b"Repeat the password: ", "typed-same")])
    assert status == 0, terminal_output
    assert "typed-same" not in terminal_output
    assert mode_of(path) == 0o600
    assert matches(accounts(path)["alice"][0], "typed-same")
