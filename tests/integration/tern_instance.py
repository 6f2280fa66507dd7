"""tern itself for the integration tests.

Tern runs ternd from the build tree in the foreground with a configuration
generated in libconfig's format, and reads its queue read-only. Lab starts
one test's peers (see peers.py) and tern, and stops all of them by process
id.
"""

import datetime
import inspect
import json
import os
import re
import shutil
import signal
import smtplib
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from peers import (Dnsmasq, RawClient, Receiver, StubDns, WireReceiver,
                   pick_port, pid_alive, proc_cmdline, server_tls_context,
                   wait_for)
from scripted_receiver import ScriptedReceiver

BUILD_DIR = Path(os.environ.get("TERN_BUILD_DIR",
                                Path(__file__).resolve().parents[2]))

# Every address a test may bind a receiver to; the delivery port is free on
# all of them.
RECEIVER_ADDRESSES = ["127.0.0.1"] + [f"127.0.0.{i}" for i in range(2, 10)] \
    + ["::1"]


def make_traversable(path):
    """Add o+x to path and to each parent folder below /tmp, so that a
    process running as the unprivileged user "tern" can reach the files
    in it without being able to list the folders."""
    path = Path(path).resolve()
    top = Path(tempfile.gettempdir()).resolve()
    while path != top and top in path.parents:
        mode = path.stat().st_mode
        if not mode & 0o001:
            os.chmod(path, (mode & 0o7777) | 0o001)
        path = path.parent


def _read_queue(db, sql):
    """Run sql on the SQLite file db opened read-only and return the rows,
    or None when db does not exist. Retries while a writer holds a lock."""
    if not os.path.exists(db):
        return None
    for _ in range(100):
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                return [list(row) for row in con.execute(sql).fetchall()]
            finally:
                con.close()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            time.sleep(0.1)
    raise RuntimeError(f"{db} stayed locked for: {sql}")


_READ_QUEUE_SCRIPT = (
    "import os, sqlite3, time\n" + inspect.getsource(_read_queue) +
    "import json, sys\n"
    "print(json.dumps(_read_queue(sys.argv[1], sys.argv[2])))\n")


def libconfig_value(value, indent):
    pad = "  " * (indent + 1)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, dict):
        inner = "".join(f"{pad}{k} = {libconfig_value(v, indent + 1)};\n"
                        for k, v in value.items())
        return "{\n" + inner + "  " * indent + "}"
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            items = [libconfig_value(v, indent + 1) for v in value]
            return "( " + ", ".join(items) + " )"
        return "[ " + ", ".join(libconfig_value(v, indent) for v in value) \
            + " ]"
    raise TypeError(f"cannot write {value!r} in libconfig format")


def libconfig_text(settings):
    """Serialise nested dicts and lists in libconfig's format: dicts become
    groups, lists of dicts become lists, other lists become arrays."""
    return "".join(f"{k} = {libconfig_value(v, 0)};\n"
                   for k, v in settings.items())


def merge(base, overrides):
    """Return base with overrides merged in, group by group."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def tern_settings(dns_server, delivery_port, smtpd_port, **overrides):
    """tern's test configuration: a listener on 127.0.0.1:smtpd_port, the
    given DNS server, delivery to delivery_port, short retry delays and
    STARTTLS with cert.pem and key.pem from the configuration's directory.
    overrides are merged in group by group."""
    base = {
        "hostname": "tern.test",
        "log": {"level": "info", "file": "tern.log"},
        "queue": {"directory": "queue"},
        "resolver": {"servers": [dns_server], "timeout": 2},
        "smtpd": {
            "listeners": [{"address": "127.0.0.1", "port": smtpd_port}],
            "relay_networks": ["127.0.0.0/8", "::1/128"],
            "message_size_limit": 10240000,
            "recipient_limit": 100,
            "tls": {"certificate": "cert.pem", "key": "key.pem"},
        },
        "delivery": {"port": delivery_port, "connect_timeout": 2},
        "retry": {"first_delay": 1, "max_delay": 2, "lifetime": "1h"},
    }
    return merge(base, overrides)


class Tern:
    """ternd from the build tree, run in the foreground in its own
    directory: tern.conf, tern.log (the log file), ternd.out (standard
    error of ternd and its children) and queue/."""

    def __init__(self, directory, settings):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.conf_path = self.dir / "tern.conf"
        self.log_path = self.dir / "tern.log"
        self.out_path = self.dir / "ternd.out"
        self.queue_dir = self.dir / "queue"
        self.proc = None
        self.namespace_pid = None
        self.write_config()

    # -- configuration

    def write_config(self, settings=None, text=None):
        if settings is not None:
            self.settings = settings
        self.conf_path.write_text(text if text is not None
                                  else libconfig_text(self.settings))

    @property
    def listeners(self):
        return [(ls["address"], ls["port"])
                for ls in self.settings["smtpd"]["listeners"]]

    @property
    def address(self):
        return self.listeners[0][0]

    @property
    def port(self):
        return self.listeners[0][1]

    # -- processes

    def command(self):
        ternd = BUILD_DIR / "ternd"
        if not os.access(ternd, os.X_OK):
            raise AssertionError(
                f"{ternd} is missing: build tern first with "
                "./autogen.sh && ./configure && make")
        return [str(ternd), "-c", str(self.conf_path), "-f"]

    def start(self, wait=True, prefix=()):
        """Start ternd (optionally through a wrapper command such as
        unshare) and wait for every listener's "listening on" line."""
        log_offset, out_offset = self.log_size(), len(self.output())
        out = open(self.out_path, "ab")
        self.proc = subprocess.Popen(list(prefix) + self.command(),
                                     stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, cwd=self.dir,
                                     start_new_session=True)
        out.close()
        if wait:
            self.wait_listening(log_offset, out_offset)
        return self

    def wait_listening(self, log_offset=0, out_offset=0, timeout=20):
        """Wait until the log shows every listener, past the offsets."""
        for address, port in self.listeners:
            shown = f"[{address}]" if ":" in address else address
            pattern = rf"listening on {re.escape(shown)}:{port}\b"

            def ready():
                if self.proc.poll() is not None:
                    return "exited"
                return (re.search(pattern, self.log_text()[log_offset:]) or
                        re.search(pattern, self.output()[out_offset:]))
            found = wait_for(ready, timeout)
            assert found and found != "exited", (
                f"ternd did not log 'listening on {shown}:{port}' "
                f"(exit status {self.proc.poll()}):\n{self.diagnostics()}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def children(self):
        """Map of child program name (tern-smtpd, ...) to its pids, found
        through /proc by parent pid."""
        found = {}
        if self.proc is None:
            return found
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat.rsplit(b")", 1)[1].split()
            if int(fields[1]) != self.proc.pid or fields[0] == b"Z":
                continue
            argv = proc_cmdline(int(entry))
            name = os.path.basename(argv[0].decode()) if argv else "?"
            found.setdefault(name, []).append(int(entry))
        return found

    def child_pid(self, name, timeout=10):
        """The pid of the one running child called name (tern-smtpd)."""
        pids = wait_for(lambda: self.children().get(name), timeout)
        assert pids, (f"no {name} child of ternd (children: "
                      f"{self.children()}):\n{self.diagnostics()}")
        assert len(pids) == 1, f"several {name} children: {pids}"
        return pids[0]

    def own_processes(self):
        """Pids of live processes started with this instance's config
        file, ternd included: safe to signal by pid."""
        conf = str(self.conf_path).encode()
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and conf in proc_cmdline(int(entry)) \
                    and pid_alive(int(entry)):
                pids.append(int(entry))
        return pids

    def send_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stop ternd with sig and return its exit status; stray children
        are then killed by pid."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        for pid in self.own_processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.proc.returncode

    # -- logs

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def output(self):
        try:
            return self.out_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_size(self):
        return len(self.log_text())

    def wait_log(self, pattern, timeout=20, since=0):
        """Wait for a log-file line matching the regex pattern, looking
        only past offset since; return the match."""
        regex = re.compile(pattern, re.M)
        found = wait_for(lambda: regex.search(self.log_text(), since),
                         timeout)
        assert found, (f"no log line matching {pattern!r} within "
                       f"{timeout} s:\n{self.diagnostics()}")
        return found

    def accepted(self, sender=None):
        """smtpd's log lines for accepted messages ("QUEUEID: from=<...>,
        size=N, nrcpt=N"), only those of sender when given."""
        who = re.escape(sender) if sender is not None else "[^>]*"
        return self.log_lines(rf"\b[0-9A-F]+: from=<{who}>, size=")

    def log_lines(self, pattern, since=0):
        regex = re.compile(pattern)
        return [ln for ln in self.log_text()[since:].splitlines()
                if regex.search(ln)]

    def wait_log_line(self, pattern, timeout=20, since=0):
        """Wait for a log line matching pattern (see wait_log) and return
        the whole line, with its time stamp."""
        m = self.wait_log(pattern, timeout, since)
        text = self.log_text()
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        return text[start:end if end >= 0 else len(text)]

    @staticmethod
    def log_time(line):
        """The time stamp of a log line ("2026-12-04T19:04:53.438Z ...")
        as seconds since the epoch."""
        stamp = line.split(" ", 1)[0]
        parsed = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
        return parsed.replace(tzinfo=datetime.timezone.utc).timestamp()

    def tail(self, lines=40):
        """The last lines of the log, for assertion messages."""
        return "\n" + self.diagnostics(lines)

    def diagnostics(self, lines=80):
        log = self.log_text().splitlines()[-lines:]
        out = self.output().splitlines()[-lines:]
        return ("--- tern.log (last lines) ---\n" + "\n".join(log) +
                "\n--- ternd standard error (last lines) ---\n" +
                "\n".join(out))

    # -- queue

    def queue_query(self, sql):
        """Run a read-only query on queue.db and return its rows as lists;
        None when the database does not exist. With namespace_pid set, the
        query runs inside that process's mount namespace (nsenter), where
        a private queue file system is mounted."""
        db = str(self.queue_dir / "queue.db")
        if self.namespace_pid is None:
            return _read_queue(db, sql)
        done = subprocess.run(
            ["nsenter", "-t", str(self.namespace_pid), "-m",
             "/usr/bin/python3", "-c", _READ_QUEUE_SCRIPT, db, sql],
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (
            f"query {sql!r} in the mount namespace of "
            f"{self.namespace_pid} failed: {done.stderr}")
        return json.loads(done.stdout)

    def queue_counts(self):
        """(messages, recipients) in the queue."""
        msgs = self.queue_query("SELECT COUNT(*) FROM messages")
        rcpts = self.queue_query("SELECT COUNT(*) FROM recipients")
        if msgs is None:
            return (0, 0)
        return (msgs[0][0], rcpts[0][0])

    def recipients(self):
        """Every queued recipient row as a dict, for assertion messages."""
        return self.rows("SELECT * FROM recipients")

    def rows(self, sql, params=()):
        """Run a read-only query on queue.db and return its rows as dicts;
        [] when the database does not exist."""
        db = self.queue_dir / "queue.db"
        if not db.exists():
            return []
        for _ in range(100):
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            con.row_factory = sqlite3.Row
            try:
                return [dict(r) for r in con.execute(sql, params)]
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise
            finally:
                con.close()
            time.sleep(0.1)
        raise RuntimeError(f"{db} stayed locked for: {sql}")

    def messages(self):
        """Every queued message row as a dict, without its content."""
        rows = self.rows("SELECT * FROM messages")
        for row in rows:
            row.pop("content", None)
        return rows

    def recipients_of(self, queue_id):
        """The queued recipient rows of the message queue_id."""
        return self.rows(
            "SELECT r.* FROM recipients r JOIN messages m "
            "ON r.message_id = m.id WHERE m.queue_id = ?", (queue_id,))

    def destinations(self):
        """The rows of the destinations table (backoff and suspension
        state), or [] when the table does not exist yet."""
        try:
            return self.rows("SELECT * FROM destinations")
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return []
            raise

    def wait_queue_empty(self, timeout=20):
        empty = wait_for(lambda: self.queue_counts() == (0, 0), timeout,
                         interval=0.2)
        assert empty, (f"queue not empty after {timeout} s: counts "
                       f"{self.queue_counts()}, recipients "
                       f"{self.recipients()}\n{self.diagnostics()}")

    # -- clients

    def raw(self, source=None, timeout=10):
        return RawClient(self.address, self.port, source=source,
                         timeout=timeout)

    def send(self, sender, rcpts, content, source=None, mail_options=(),
             rcpt_options=None):
        """Submit content with smtplib, check that every reply is a
        success and return the queue id that smtpd logged for the sender
        (so the sender must be unique within the test). mail_options are
        MAIL parameters ("RET=HDRS"); rcpt_options maps a recipient to its
        RCPT parameters (["NOTIFY=NEVER"])."""
        since = self.log_size()
        with smtplib.SMTP(self.address, self.port, local_hostname="client.test",
                          timeout=15, source_address=(source, 0)
                          if source else None) as s:
            self._transaction(s, sender, rcpts, content, mail_options,
                              rcpt_options or {})
        m = self.wait_log(rf"(\S+): from=<{re.escape(sender)}>, size=", 10,
                          since)
        return m.group(1)

    @staticmethod
    def _transaction(s, sender, rcpts, content, mail_options=(),
                     rcpt_options=None):
        if s.ehlo_resp is None:
            code, text = s.ehlo()
            assert code == 250, f"EHLO got {code} {text!r}"
        code, text = s.mail(sender, list(mail_options))
        assert code == 250, (f"MAIL FROM:<{sender}> {' '.join(mail_options)}"
                             f" got {code} {text!r}")
        for rcpt in rcpts:
            options = (rcpt_options or {}).get(rcpt, [])
            code, text = s.rcpt(rcpt, options)
            assert code == 250, (f"RCPT TO:<{rcpt}> {' '.join(options)} "
                                 f"got {code} {text!r}")
        code, text = s.data(content)
        assert code == 250, f"end of DATA got {code} {text!r}"

    def send_many(self, messages, sessions=4):
        """Submit messages, a list of (sender, recipients, content), over
        sessions parallel SMTP connections. Each connection sends its
        share one transaction after another, and every reply must be a
        success."""
        errors = []

        def submit(share):
            try:
                with smtplib.SMTP(self.address, self.port,
                                  local_hostname="client.test",
                                  timeout=60) as s:
                    for sender, rcpts, content in share:
                        self._transaction(s, sender, rcpts, content)
            except Exception as e:  # reported by the assert below
                errors.append(repr(e))

        threads = [threading.Thread(target=submit,
                                    args=(messages[i::sessions],))
                   for i in range(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, f"submitting {len(messages)} messages failed: " \
            f"{errors[:3]}{self.tail()}"


# ---------------------------------------------------------------- lab

class Lab:
    """Everything one test starts, in a short private directory (the qmgr
    socket path must fit in sun_path's 108 bytes).

    port is the delivery port: free on every RECEIVER_ADDRESSES entry, so
    each receiver of the test listens on it at its own address.
    smtpd_port is a different free port for tern's listener on 127.0.0.1.
    """

    def __init__(self, certificate):
        self.dir = Path(tempfile.mkdtemp(prefix="tern-it-", dir="/tmp"))
        make_traversable(self.dir)
        self.certificate = certificate
        self.port = pick_port(RECEIVER_ADDRESSES)
        self.smtpd_port = pick_port(["127.0.0.1"])
        while self.smtpd_port == self.port:
            self.smtpd_port = pick_port(["127.0.0.1"])
        self.dnsmasq = None
        self.terns = []
        self.peers = []

    def dns(self, mx=None, hosts=None, cnames=None, local_zones=()):
        """Start the test's DNS server; call before tern(). See Dnsmasq
        for the arguments."""
        assert self.dnsmasq is None, "one DNS server per test"
        self.dnsmasq = Dnsmasq(self.dir, mx, hosts, cnames,
                               local_zones).start()
        return self.dnsmasq

    def receiver(self, address, temp_failures=0, tls=False,
                 tls_context=None):
        """An aiosmtpd Receiver on address at the delivery port. tls offers
        STARTTLS with the test's self-signed certificate, tls_context with
        another one."""
        ctx = tls_context
        if ctx is None and tls:
            ctx = server_tls_context(*self.certificate)
        r = Receiver(address, self.port, temp_failures, ctx).start()
        self.peers.append(r)
        return r

    def scripted(self, address, **behaviour):
        """A ScriptedReceiver on address at the delivery port; behaviour
        is passed to its constructor."""
        r = ScriptedReceiver(address, self.port, **behaviour).start()
        self.peers.append(r)
        return r

    def stub_dns(self, rcode=None):
        """A StubDns on a free port of 127.0.0.1 that replies with rcode,
        or never when rcode is None. Point tern's resolver at .server."""
        port = pick_port(["127.0.0.1"], udp=True)
        r = StubDns(port, rcode).start()
        self.peers.append(r)
        return r

    def describe_peers(self):
        """One paragraph per peer, for the report of a failed test."""
        peers = list(self.peers)
        if self.dnsmasq is not None:
            peers.append(self.dnsmasq)
        return "\n".join(p.describe() for p in peers
                         if hasattr(p, "describe"))

    def wire_receiver(self, address):
        r = WireReceiver(address, self.port).start()
        self.peers.append(r)
        return r

    def settings(self, **overrides):
        """tern's test configuration for this lab; starts an empty DNS
        server when the test has not started one."""
        if self.dnsmasq is None:
            self.dns()
        return tern_settings(self.dnsmasq.server, self.port,
                             self.smtpd_port, **overrides)

    def tern(self, start=True, name="tern", **overrides):
        """A tern instance in its own directory under the lab directory,
        started unless start is False."""
        directory = self.dir / name
        directory.mkdir()
        shutil.copy(self.certificate[0], directory / "cert.pem")
        shutil.copy(self.certificate[1], directory / "key.pem")
        t = Tern(directory, self.settings(**overrides))
        self.terns.append(t)
        if start:
            t.start()
        return t

    def close(self, keep=False):
        for t in self.terns:
            t.stop()
        for p in self.peers:
            p.stop()
        if self.dnsmasq is not None:
            self.dnsmasq.stop()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)
