"""Real peers for tern's integration tests, all on loopback addresses.

- Dnsmasq: a dnsmasq process that serves the MX, A, AAAA and CNAME records
  one test needs and returns NXDOMAIN or NODATA for every other name in
  .test.
- StubDns: a DNS server that answers every query with one error RCODE
  (SERVFAIL) or never answers.
- CertificateAuthority: a test CA made with openssl at test time, which
  signs server certificates for chosen host names.
- Receiver: an aiosmtpd server that records each message's bytes as they
  arrived (after dot-unstuffing), the client's address and EHLO name, and
  can answer 451 a number of times
  before it accepts, or offer STARTTLS.
- WireReceiver: a minimal SMTP server on a plain socket that records the raw
  DATA bytes on the wire, so tests can see dot-stuffing.
- ScriptedReceiver (in scripted_receiver.py): a WireReceiver whose
  replies the test chooses (greeting, EHLO, MAIL, each RCPT, the final
  dot), which can offer DSN and STARTTLS (working or failing), hold back
  pipelined replies, stop replying at a chosen stage or drop the
  connection in the middle of the message data.
- RawClient: an SMTP client on a plain socket for protocol edge cases.

tern itself and the Lab that ties one test's peers together are in
tern_instance.py. Every process started here is stopped by its own pid,
never by name, because other people may run the same programs on this
machine.
"""

import asyncio
import collections
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

DNSMASQ = "/usr/sbin/dnsmasq"
OPENSSL = "/usr/bin/openssl"

# Ports below Linux's default ephemeral range (32768-60999), so an
# outgoing connection cannot take a port between its check and its use.
PORT_RANGE = (20000, 32000)


# ---------------------------------------------------------------- ports

def _family(address):
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def port_is_free(address, port, udp=False):
    """Return True when port can be bound on address right now."""
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    with socket.socket(_family(address), kind) as s:
        if not udp:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


# Ports handed out lately in this process. A test often picks a port for
# a server it starts later (tern's listener is bound only when ternd
# starts), so a second pick in between, such as dnsmasq's, would see the
# first port still free and could take it. Never handing out a recent port
# again closes that window; the bound keeps the range from running dry in
# a long run.
_RECENT_PORTS = collections.deque(maxlen=4000)


def pick_port(addresses, udp=False):
    """Pick a random port that is free for TCP (and UDP when asked) on
    every address in addresses and was not handed out lately."""
    for _ in range(500):
        port = random.randint(*PORT_RANGE)
        if port in _RECENT_PORTS:
            continue
        if all(port_is_free(a, port) for a in addresses) and \
                (not udp or all(port_is_free(a, port, True)
                                for a in addresses)):
            _RECENT_PORTS.append(port)
            return port
    raise RuntimeError(f"no free port on {addresses} in {PORT_RANGE}")


def wait_for(predicate, timeout, interval=0.05):
    """Call predicate until it returns a true value or timeout seconds
    pass; return the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_tcp(address, port, timeout):
    """Return True once a TCP connection to address:port succeeds."""
    def connects():
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return True
        except OSError:
            return False
    return wait_for(connects, timeout)


def pid_alive(pid):
    """Return True when pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    state = stat.rsplit(b")", 1)[1].split()[0]
    return state != b"Z"


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return []


def stop_process(proc, sig=signal.SIGTERM, timeout=10):
    """Stop a Popen child by its pid: sig first, SIGKILL after timeout."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------- TLS

def make_certificate(directory):
    """Create a self-signed certificate for tern.test with openssl and
    return (certificate path, key path)."""
    directory = Path(directory)
    cert = directory / "cert.pem"
    key = directory / "key.pem"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "30",
         "-subj", "/CN=tern.test",
         "-addext", "subjectAltName=DNS:tern.test,DNS:localhost"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


class CertificateAuthority:
    """A certificate authority made with openssl for one test session.

    .cert is the CA certificate (for delivery.tls.ca_file); issue() signs
    a server certificate for some DNS names."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.cert = self.dir / "ca.pem"
        self.key = self.dir / "ca.key"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                 str(self.key), "-out", str(self.cert), "-days", "30",
                 "-subj", "/CN=tern integration test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name, dns_names=None):
        """Sign a server certificate with common name name and the
        subjectAltName DNS entries dns_names (default: name); return
        (certificate path, key path)."""
        dns_names = dns_names or [name]
        cert = self.dir / f"{name}.pem"
        key = self.dir / f"{name}.key"
        csr = self.dir / f"{name}.csr"
        ext = self.dir / f"{name}.ext"
        ext.write_text(
            "basicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectAltName=" + ",".join(f"DNS:{n}" for n in dns_names) +
            "\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                 str(key), "-out", str(csr), "-subj", f"/CN={name}")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert),
                 "-CAkey", str(self.key), "-CAcreateserial", "-days", "30",
                 "-extfile", str(ext), "-out", str(cert))
        return cert, key


def _openssl(*args):
    done = subprocess.run([OPENSSL, *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: "
                           f"{done.stderr.decode(errors='replace')}")


def server_tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def client_tls_context():
    """A client context that accepts the tests' self-signed certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# ---------------------------------------------------------------- DNS

def _dnsmasq_quote(text):
    """One TXT character-string for dnsmasq's command line, which takes
    quotes and backslashes literally and always splits at a comma."""
    if "," in text:
        raise ValueError(f"dnsmasq cannot serve a comma in TXT: {text!r}")
    return text


class Dnsmasq:
    """dnsmasq on 127.0.0.1:port serving fixed records.

    mx maps a domain to [(preference, host), ...]; a host of "." makes a
    null MX (RFC 7505). hosts maps a name to its addresses (IPv4 and IPv6
    mixed). cnames maps an alias to its target, which must be a name in
    hosts, because dnsmasq ignores a CNAME whose target it has no record
    for. txt maps a name to its TXT records; a record is a string, or a
    list of strings for one record of several character-strings (each
    at most 255 bytes, without commas). ptr maps a reverse name ("5.0.0.127.in-addr.arpa")
    to its target. forward maps a domain to "127.0.0.1#PORT": queries
    under it go to that server, which may be one that never answers.
    Names without records under .test, localhost, the reverse zones and
    the extra zones in local_zones get NXDOMAIN or NODATA, never REFUSED,
    as from a real authoritative server.
    """

    def __init__(self, workdir, mx=None, hosts=None, cnames=None,
                 local_zones=(), txt=None, ptr=None, forward=None):
        self.workdir = Path(workdir)
        self.mx = mx or {}
        self.hosts = hosts or {}
        self.cnames = cnames or {}
        self.txt = txt or {}
        self.ptr = ptr or {}
        self.forward = forward or {}
        self.local_zones = list(local_zones)
        self.port = None
        self.proc = None
        self.log_path = self.workdir / "dnsmasq.log"

    def command(self):
        args = [DNSMASQ, "--no-daemon", f"--port={self.port}",
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "--pid-file=", "--log-queries", "--log-facility=-",
                "--local=/test/", "--local=/localhost/",
                "--local=/in-addr.arpa/", "--local=/ip6.arpa/"]
        for zone in self.local_zones:
            args.append(f"--local=/{zone}/")
        for domain, records in self.mx.items():
            for preference, host in records:
                args.append(f"--mx-host={domain},{host},{preference}")
        for name, addresses in self.hosts.items():
            args.append(f"--host-record={name},{','.join(addresses)}")
        for alias, target in self.cnames.items():
            args.append(f"--cname={alias},{target}")
        for name, records in self.txt.items():
            for record in records:
                parts = [record] if isinstance(record, str) else record
                args.append(f"--txt-record={name}," +
                            ",".join(_dnsmasq_quote(p) for p in parts))
        for name, target in self.ptr.items():
            args.append(f"--ptr-record={name},{target}")
        for domain, server in self.forward.items():
            args.append(f"--server=/{domain}/{server}")
        return args

    def start(self, port=None):
        """Start on port, or on a free port when port is None."""
        self.port = port or pick_port(["127.0.0.1"], udp=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if not wait_tcp("127.0.0.1", self.port, 10):
            self.stop()
            raise RuntimeError("dnsmasq did not start:\n" +
                               self.log_path.read_text(errors="replace"))
        return self

    def stop(self):
        stop_process(self.proc)

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def describe(self):
        try:
            log = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            log = []
        return (f"dnsmasq on {self.server} (last lines of its log):\n" +
                "\n".join(log[-20:]))


class StubDns:
    """A UDP DNS server on 127.0.0.1:port that answers every query with
    one RCODE and no records (2 is SERVFAIL), or never answers when rcode
    is None. .queries counts the queries received."""

    def __init__(self, port, rcode=None):
        self.port = port
        self.rcode = rcode
        self.queries = 0
        self.sock = None
        self.running = False
        self.thread = None

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def _serve(self):
        while self.running:
            try:
                query, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            if self.rcode is None or len(query) < 12:
                continue
            # The query's id, opcode, RD bit and question; QR=1, RA=1 and
            # the RCODE; no answer, authority or additional records.
            flags = bytes([0x80 | (query[2] & 0x79), 0x80 | self.rcode])
            counts = query[4:6] + b"\0\0\0\0\0\0"
            self.sock.sendto(query[:2] + flags + counts + query[12:], peer)

    def stop(self):
        self.running = False
        if self.thread is not None:
            self.thread.join(5)
        if self.sock is not None:
            self.sock.close()

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def describe(self):
        return (f"StubDns on {self.server}, rcode {self.rcode}: "
                f"{self.queries} queries")


# ---------------------------------------------------------------- receivers

class Delivered:
    """One message a receiver accepted."""

    def __init__(self, mail_from, rcpt_tos, content, peer, tls, ehlo=None):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.content = content
        self.peer = peer          # the client's (address, port)
        self.tls = tls
        self.ehlo = ehlo          # the name the client gave in EHLO/HELO

    def __repr__(self):
        return (f"Delivered(from={self.mail_from!r}, to={self.rcpt_tos!r}, "
                f"{len(self.content)} bytes, tls={self.tls})")


class Mailbox:
    """Thread-safe list of accepted messages shared by receiver threads."""

    def __init__(self):
        self.messages = []
        self.connections = 0
        self.data_attempts = 0
        self.cond = threading.Condition()

    def add(self, message):
        with self.cond:
            self.messages.append(message)
            self.cond.notify_all()

    def count_connection(self):
        with self.cond:
            self.connections += 1

    def wait(self, count, timeout=20):
        """Wait until at least count messages arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return list(self.messages)


class RecordingHandler:
    """aiosmtpd handler that replies 451 to the first temp_failures DATA
    commands, then accepts and records every message."""

    def __init__(self, mailbox, temp_failures=0):
        self.mailbox = mailbox
        self.temp_failures = temp_failures

    async def handle_DATA(self, server, session, envelope):
        with self.mailbox.cond:
            self.mailbox.data_attempts += 1
            attempt = self.mailbox.data_attempts
        if attempt <= self.temp_failures:
            return "451 4.3.0 Test receiver: try again later"
        self.mailbox.add(Delivered(envelope.mail_from, envelope.rcpt_tos,
                                   envelope.original_content, session.peer,
                                   session.ssl is not None,
                                   session.host_name))
        return "250 2.0.0 Accepted by test receiver"


class _CountingController(Controller):
    """Controller that counts connections: aiosmtpd calls factory() once
    per accepted connection."""

    def __init__(self, mailbox, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mailbox = mailbox

    def factory(self):
        self.mailbox.count_connection()
        return SMTP(self.handler, **self.SMTP_kwargs)


class Receiver:
    """An aiosmtpd receiver on address:port."""

    def __init__(self, address, port, temp_failures=0, tls_context=None):
        self.address = address
        self.port = port
        self.mailbox = Mailbox()
        self.handler = RecordingHandler(self.mailbox, temp_failures)
        kwargs = {"decode_data": False, "hostname": address, "port": port,
                  "server_hostname": f"receiver-{address}.test",
                  "ready_timeout": 10}
        if tls_context is not None:
            kwargs["tls_context"] = tls_context
        self.controller = _CountingController(
            self.mailbox, self.handler, loop=asyncio.new_event_loop(),
            **kwargs)

    def start(self):
        self.controller.start()
        # Controller.start() connects once to check the server is up.
        with self.mailbox.cond:
            self.mailbox.connections = 0
        return self

    def stop(self):
        try:
            self.controller.stop()
        except (AssertionError, RuntimeError):
            pass

    @property
    def messages(self):
        with self.mailbox.cond:
            return list(self.mailbox.messages)

    @property
    def connections(self):
        with self.mailbox.cond:
            return self.mailbox.connections

    @property
    def data_attempts(self):
        with self.mailbox.cond:
            return self.mailbox.data_attempts

    def wait(self, count=1, timeout=20):
        return self.mailbox.wait(count, timeout)

    def describe(self):
        return (f"Receiver {self.address}:{self.port} "
                f"connections={self.connections} "
                f"data_attempts={self.data_attempts} "
                f"messages={self.messages!r}")


class WireReceiver:
    """SMTP receiver on a plain socket that records the raw DATA bytes.

    It offers no extensions beyond 8BITMIME and SIZE, so a client must send
    one command at a time. Each Delivered has .wire (the bytes after the
    354 reply up to and including the final <CRLF>.<CRLF>) and .content
    (the message after dot-unstuffing, as aiosmtpd would record it).
    """

    def __init__(self, address, port):
        self.address = address
        self.port = port
        self.mailbox = Mailbox()
        self.sock = None
        self.stopping = False
        self.threads = []
        # SO_RCVBUF for accepted connections; None keeps the kernel's
        # automatic sizing.
        self.receive_buffer = None

    def start(self):
        self.sock = socket.socket(_family(self.address), socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.receive_buffer is not None:
            # Set before listen() so accepted sockets inherit it.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                 self.receive_buffer)
        self.sock.bind((self.address, self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(5)
        if self.sock is not None:
            self.sock.close()

    @property
    def messages(self):
        with self.mailbox.cond:
            return list(self.mailbox.messages)

    @property
    def connections(self):
        with self.mailbox.cond:
            return self.mailbox.connections

    def wait(self, count=1, timeout=20):
        return self.mailbox.wait(count, timeout)

    def describe(self):
        return (f"WireReceiver {self.address}:{self.port} "
                f"connections={self.connections} "
                f"messages={len(self.messages)}")

    def _accept_loop(self):
        while not self.stopping:
            try:
                conn, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.mailbox.count_connection()
            t = threading.Thread(target=self._session, args=(conn, peer),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def _session(self, conn, peer):
        conn.settimeout(30)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = _LineReader(conn)
        mail_from, rcpts = None, []
        try:
            conn.sendall(b"220 wire.test ESMTP test receiver\r\n")
            while not self.stopping:
                line = reader.line()
                if line is None:
                    return
                verb = line[:4].upper()
                if verb == b"EHLO":
                    conn.sendall(b"250-wire.test\r\n250-8BITMIME\r\n"
                                 b"250 SIZE 100000000\r\n")
                elif verb == b"HELO":
                    conn.sendall(b"250 wire.test\r\n")
                elif verb == b"MAIL":
                    mail_from, rcpts = line[10:].strip(), []
                    conn.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == b"RCPT":
                    rcpts.append(line[8:].strip())
                    conn.sendall(b"250 2.1.5 Ok\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    wire = reader.until_final_dot()
                    if wire is None:
                        return
                    message = Delivered(mail_from, rcpts, unstuff(wire),
                                        peer, False)
                    message.wire = wire
                    self.mailbox.add(message)
                    conn.sendall(b"250 2.0.0 Ok: recorded\r\n")
                elif verb in (b"RSET", b"NOOP"):
                    conn.sendall(b"250 2.0.0 Ok\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    conn.sendall(b"502 5.5.2 Command not implemented\r\n")
        except OSError:
            return
        finally:
            conn.close()


class _LineReader:
    """Reads CRLF-terminated lines and DATA blocks from a socket."""

    def __init__(self, conn):
        self.conn = conn
        self.buf = b""

    def _fill(self):
        chunk = self.conn.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def line(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                return None
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_at_least(self, count):
        """Buffer at least count bytes, or fewer when the peer closes
        first."""
        while len(self.buf) < count:
            if not self._fill():
                return

    def until_final_dot(self):
        """Return DATA bytes through the terminating <CRLF>.<CRLF>; an
        empty message is just ".<CRLF>"."""
        while True:
            if self.buf.startswith(b".\r\n"):
                wire, self.buf = self.buf[:3], self.buf[3:]
                return wire
            end = self.buf.find(b"\r\n.\r\n")
            if end >= 0:
                wire, self.buf = self.buf[:end + 5], self.buf[end + 5:]
                return wire
            if not self._fill():
                return None


def unstuff(wire):
    """Undo RFC 5321 4.5.2 transparency on DATA bytes that end with the
    terminating <CRLF>.<CRLF>; the result keeps the last line's CRLF."""
    if wire == b".\r\n":
        return b""
    body = wire[:-3]
    lines = body.split(b"\r\n")
    out = [ln[1:] if ln.startswith(b".") else ln for ln in lines]
    return b"\r\n".join(out)


def __getattr__(name):
    """Load ScriptedReceiver from its own module on first use (PEP 562),
    so "from peers import ScriptedReceiver" works without an import
    cycle: that module builds on WireReceiver here."""
    if name == "ScriptedReceiver":
        from scripted_receiver import ScriptedReceiver
        return ScriptedReceiver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------- clients

class Reply:
    """An SMTP reply: its code and its text lines without the code."""

    def __init__(self, code, lines):
        self.code = code
        self.lines = lines

    @property
    def text(self):
        return " / ".join(self.lines)

    def __repr__(self):
        return f"{self.code} {self.text}"


class RawClient:
    """An SMTP client on a plain TCP socket, with TCP_NODELAY, so a test
    controls exactly which bytes go out in which packet."""

    def __init__(self, address, port, source=None, timeout=10):
        self.sock = socket.socket(_family(address), socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if source is not None:
            self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.sock.connect((address, port))
        self.timeout = timeout
        self.buf = b""
        self.transcript = []

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.transcript.append(("C", data))
        self.sock.sendall(data)

    def _line(self, timeout):
        self.sock.settimeout(timeout)
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(
                    "server closed the connection; transcript:\n" +
                    self.dump())
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        self.transcript.append(("S", line))
        return line.decode("utf-8", "replace")

    def reply(self, timeout=None):
        """Read one (possibly multi-line) reply."""
        timeout = self.timeout if timeout is None else timeout
        lines = []
        while True:
            line = self._line(timeout)
            m = re.match(r"^(\d{3})([ -]?)(.*)$", line)
            if m is None:
                raise AssertionError(f"malformed reply line {line!r}; "
                                     f"transcript:\n{self.dump()}")
            lines.append(m.group(3))
            if m.group(2) != "-":
                return Reply(int(m.group(1)), lines)

    def replies_within(self, seconds):
        """Read every reply that arrives within seconds, stopping early
        when the server closes the connection."""
        replies = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return replies
            try:
                replies.append(self.reply(timeout=left))
            except (socket.timeout, ConnectionError):
                return replies

    def command(self, line):
        self.send(line.encode() + b"\r\n" if isinstance(line, str)
                  else line + b"\r\n")
        return self.reply()

    def expect(self, line, code):
        r = self.command(line)
        assert r.code == code, (f"{line!r} got {r!r}, expected {code}; "
                                f"transcript:\n{self.dump()}")
        return r

    def greeting(self):
        r = self.reply()
        assert r.code == 220, f"greeting {r!r}, expected 220"
        return r

    def start_tls(self):
        """Wrap the socket in TLS after a 220 reply to STARTTLS. Bytes the
        server sent before the handshake would be lost, so there must be
        none."""
        assert self.buf == b"", f"unread bytes before TLS: {self.buf!r}"
        self.sock.settimeout(self.timeout)
        self.sock = client_tls_context().wrap_socket(self.sock)

    def transaction(self, mail_from, rcpts, data):
        """Send MAIL, RCPT for each recipient and DATA, expecting success,
        then data, which must end with the final <CRLF>.<CRLF>. Returns
        the reply after the final dot."""
        self.expect(f"MAIL FROM:<{mail_from}>", 250)
        for rcpt in rcpts:
            self.expect(f"RCPT TO:<{rcpt}>", 250)
        self.expect("DATA", 354)
        self.send(data)
        return self.reply()

    def dump(self):
        out = []
        for who, data in self.transcript[-60:]:
            text = data.decode("utf-8", "replace") if isinstance(
                data, bytes) else data
            out.append(f"{who}: {text[:300]!r}")
        return "\n".join(out)


def message_bytes(subject, body=b"Test body.\r\n", sender="sender@origin.test",
                  recipient="user@example.test", extra=b""):
    """A small RFC 5322 message with CRLF line endings and a unique
    Message-ID, ending in CRLF."""
    if isinstance(body, str):
        body = body.encode()
    msgid = f"<{uuid.uuid4().hex}@client.test>".encode()
    head = (b"From: " + sender.encode() + b"\r\n" +
            b"To: " + recipient.encode() + b"\r\n" +
            b"Subject: " + subject.encode() + b"\r\n" +
            b"Message-ID: " + msgid + b"\r\n" + extra +
            b"Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n\r\n")
    return head + body


def split_received(content):
    """Split a delivered message into (the first header field with its
    continuation lines, the rest). Returns (b"", content) when the first
    field is not Received."""
    if not content.startswith(b"Received:"):
        return b"", content
    pos = 0
    while True:
        end = content.find(b"\r\n", pos)
        if end < 0:
            return content, b""
        nxt = end + 2
        if content[nxt:nxt + 1] not in (b" ", b"\t"):
            return content[:nxt], content[nxt:]
        pos = nxt
