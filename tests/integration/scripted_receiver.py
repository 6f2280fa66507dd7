"""ScriptedReceiver: an SMTP receiver on a plain socket whose replies
the test chooses, for server behaviour that aiosmtpd cannot produce
(see the class for every behaviour). It builds on peers.WireReceiver and
is also importable as peers.ScriptedReceiver.
"""

import socket
import time

from peers import Delivered, WireReceiver, _LineReader, unstuff


class _ScriptedSession:
    """One connection to a ScriptedReceiver: its socket (plain, or TLS
    after STARTTLS), the line reader on it and the transaction in
    progress."""

    def __init__(self, conn, peer, commands, hang):
        self.conn = conn
        self.reader = _LineReader(conn)
        self.peer = peer
        self.commands = commands
        self.hang = hang
        self.tls = False
        self.reset()

    def reset(self):
        self.mail_from = None
        self.mail_command = None
        self.rcpts = []
        self.rcpt_commands = []
        self.held_replies = []
        self.deadline = None

    def send(self, reply):
        self.conn.sendall(reply + b"\r\n")

    def start_tls(self, context):
        """Run the server side of the TLS handshake and discard the
        transaction state, as RFC 3207 4.2 requires."""
        self.conn.settimeout(30)
        self.conn = context.wrap_socket(self.conn, server_side=True)
        self.reader = _LineReader(self.conn)
        self.tls = True
        self.reset()


# A TLS alert record: fatal (2), handshake_failure (40), as a server sends
# when it shares no protocol version, cipher or signature scheme with the
# client (RFC 8446 6.2).
TLS_HANDSHAKE_FAILURE_ALERT = bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])

HANG_STAGES = ("greeting", "ehlo", "mail", "rcpt", "data", "content", "dot")


class ScriptedReceiver(WireReceiver):
    """SMTP receiver on a plain socket whose replies the test chooses, for
    server behaviour that aiosmtpd cannot produce.

    greeting: the first reply. After a 4xx greeting the receiver closes
        the connection, as RFC 5321 3.1 allows for 421. After any other
        code but 220 it replies 503 to everything but QUIT. The attribute
        may be changed while the receiver runs; new sessions use the new
        value.
    ehlo_reply: the reply to EHLO, or None for a 250 that lists the
        extensions. HELO is always accepted.
    pipelining: offer PIPELINING (RFC 2920) in the EHLO reply.
    dsn: offer DSN (RFC 3461) in the EHLO reply.
    starttls: None (not offered), "ok" (offered; the handshake uses
        tls_context) or "alert" (offered and answered with 220, but the
        handshake is then rejected with a handshake_failure alert).
    withhold: hold the replies to MAIL and RCPT back until the DATA
        command arrives, then send them together with the reply to DATA.
        When DATA has not arrived withhold_deadline seconds after MAIL,
        the receiver counts a missed deadline and closes the connection.
    mail_replies: the replies to MAIL, one per MAIL command in order; the
        last one repeats.
    rcpt_replies: the reply for some recipient addresses, or a list of
        replies used one per RCPT in order, the last one repeating; other
        addresses get rcpt_default. Only recipients that got a 2xx are in
        the recorded envelope.
    dot_replies: the replies to the final dot, one per message in order;
        the last one repeats. Only a message that got a 2xx is recorded.
        dot_delay seconds pass before each of these replies.
    A 421 reply to MAIL, RCPT or the final dot is followed by closing the
        connection, as RFC 5321 3.8 describes.
    drop_data: how many sessions, the first ones that get as far as the
        message data, read drop_after bytes of it and then close the
        connection.
    hang_at: a stage of HANG_STAGES at which the receiver stops replying
        (for "content": stops reading the message data, with a small
        receive buffer so the client's writes block), in the first
        hang_sessions sessions (all of them when None). The connection
        stays open until the client closes it or the receiver stops.

    .sessions holds the command lines of each session in order,
    .plain_commands the lines received outside TLS, .dot_attempts counts
    final dots received, .deadlines_missed the sessions closed by the
    withhold deadline, .hangs the sessions that stopped replying, .quits
    the sessions that ended with QUIT, .closed every ended session and
    .max_active the most sessions open at once. Each recorded message
    also has .mail_command and .rcpt_commands, the command lines with
    their parameters.
    """

    def __init__(self, address, port, greeting=b"220 scripted.test ESMTP",
                 ehlo_reply=None, pipelining=False, dsn=False, starttls=None,
                 tls_context=None, withhold=False, withhold_deadline=3.0,
                 mail_replies=(b"250 2.1.0 Ok",), rcpt_replies=None,
                 rcpt_default=b"250 2.1.5 Ok",
                 dot_replies=(b"250 2.0.0 Ok: recorded",), dot_delay=0,
                 drop_data=0, drop_after=65536, hang_at=None,
                 hang_sessions=None):
        super().__init__(address, port)
        assert starttls in (None, "ok", "alert"), starttls
        assert starttls != "ok" or tls_context is not None, \
            "starttls='ok' needs a tls_context"
        assert hang_at is None or hang_at in HANG_STAGES, hang_at
        self.greeting = greeting
        self.ehlo_reply = ehlo_reply
        self.pipelining = pipelining
        self.dsn = dsn
        self.starttls = starttls
        self.tls_context = tls_context
        self.withhold = withhold
        self.withhold_deadline = withhold_deadline
        self.mail_replies = list(mail_replies)
        self.rcpt_replies = {address: list(reply) if isinstance(
            reply, (list, tuple)) else reply
            for address, reply in (rcpt_replies or {}).items()}
        self.rcpt_default = rcpt_default
        self.dot_replies = list(dot_replies)
        self.dot_delay = dot_delay
        self.drop_data = drop_data
        self.drop_after = drop_after
        self.hang_at = hang_at
        self.hang_sessions = hang_sessions
        if hang_at == "content":
            self.receive_buffer = 4096
        self.sessions = []
        self.plain_commands = []
        self.dot_attempts = 0
        self.deadlines_missed = 0
        self.hangs = 0
        self.quits = 0
        self.closed = 0
        self.active = 0
        self.max_active = 0

    def commands(self, verb=None):
        """Every command line received, only those of verb when given."""
        with self.mailbox.cond:
            lines = [ln for s in self.sessions for ln in s]
        return _filter_verb(lines, verb)

    def commands_in_clear(self, verb=None):
        """The command lines received outside TLS, only those of verb when
        given."""
        with self.mailbox.cond:
            lines = list(self.plain_commands)
        return _filter_verb(lines, verb)

    def session_verbs(self):
        """The command verbs of each session, as lists of strings."""
        with self.mailbox.cond:
            return [[ln.split(b" ", 1)[0].upper().decode("ascii", "replace")
                     for ln in s] for s in self.sessions]

    def describe(self):
        with self.mailbox.cond:
            sessions = [list(s) for s in self.sessions]
            counts = (f"connections={self.mailbox.connections} "
                      f"messages={len(self.mailbox.messages)} "
                      f"hangs={self.hangs} quits={self.quits} "
                      f"closed={self.closed} max_active={self.max_active}")
        shown = "\n".join(f"  session {i}: {s[:12]!r}"
                          for i, s in enumerate(sessions[-4:],
                                                max(0, len(sessions) - 4)))
        return (f"ScriptedReceiver {self.address}:{self.port} {counts}\n"
                f"{shown}")

    def _session(self, conn, peer):
        conn.settimeout(30)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        commands = []
        with self.mailbox.cond:
            self.sessions.append(commands)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        session = _ScriptedSession(conn, peer, commands, self._take_hang())
        try:
            self._converse(session)
        except OSError:
            return
        finally:
            session.conn.close()
            with self.mailbox.cond:
                self.active -= 1
                self.closed += 1
                self.mailbox.cond.notify_all()

    def _ehlo_lines(self, session):
        if self.ehlo_reply is not None:
            return self.ehlo_reply + b"\r\n"
        keywords = [b"scripted.test", b"8BITMIME", b"SIZE 100000000"]
        if self.pipelining:
            keywords.append(b"PIPELINING")
        if self.dsn:
            keywords.append(b"DSN")
        if self.starttls and not session.tls:
            keywords.append(b"STARTTLS")
        lines = [b"250-" + k for k in keywords[:-1]]
        lines.append(b"250 " + keywords[-1])
        return b"\r\n".join(lines) + b"\r\n"

    def _pop_reply(self, replies):
        with self.mailbox.cond:
            if isinstance(replies, list):
                return replies.pop(0) if len(replies) > 1 else replies[0]
            return replies

    def _rcpt_reply(self, address):
        return self._pop_reply(self.rcpt_replies.get(address,
                                                     self.rcpt_default))

    def _next_dot_reply(self):
        with self.mailbox.cond:
            self.dot_attempts += 1
        return self._pop_reply(self.dot_replies)

    def _take_drop(self):
        with self.mailbox.cond:
            if self.drop_data <= 0:
                return False
            self.drop_data -= 1
            return True

    def _take_hang(self):
        with self.mailbox.cond:
            if self.hang_at is None:
                return False
            if self.hang_sessions is None:
                return True
            if self.hang_sessions <= 0:
                return False
            self.hang_sessions -= 1
            return True

    def _hangs_at(self, session, stage):
        """Stop replying when this session hangs at stage: wait until the
        client closes the connection or the receiver stops. Returns True
        when it did."""
        if not session.hang or self.hang_at != stage:
            return False
        with self.mailbox.cond:
            self.hangs += 1
            self.mailbox.cond.notify_all()
        while not self.stopping:
            if stage == "content":
                time.sleep(0.2)
                continue
            session.conn.settimeout(0.2)
            try:
                if not session.conn.recv(65536):
                    return True
            except socket.timeout:
                continue
        return True

    def _read_line(self, session):
        """The next command line; None at the end of the connection or
        when the withhold deadline passes first."""
        if session.deadline is None:
            session.conn.settimeout(30)
            return session.reader.line()
        left = session.deadline - time.monotonic()
        if left > 0:
            session.conn.settimeout(left)
            try:
                return session.reader.line()
            except socket.timeout:
                pass
        with self.mailbox.cond:
            self.deadlines_missed += 1
        return None

    def _record(self, session, line):
        with self.mailbox.cond:
            session.commands.append(line)
            if not session.tls:
                self.plain_commands.append(line)

    def _converse(self, s):
        if self._hangs_at(s, "greeting"):
            return
        s.send(self.greeting)
        if self.greeting.startswith(b"4"):
            return
        rejecting = not self.greeting.startswith(b"220")

        while not self.stopping:
            line = self._read_line(s)
            if line is None:
                return
            self._record(s, line)
            verb = line.split(b" ", 1)[0].upper()
            if verb == b"QUIT":
                with self.mailbox.cond:
                    self.quits += 1
                s.send(b"221 2.0.0 Bye")
                return
            if rejecting:
                s.send(b"503 5.5.1 Error: no service")
                continue
            if verb in (b"EHLO", b"HELO") and self._hangs_at(s, "ehlo"):
                return
            handler = self._verbs.get(verb)
            if handler is None:
                s.send(b"502 5.5.2 Command not implemented")
            elif handler(self, s, line) is False:
                return

    # Each verb handler returns False when the session ends.

    def _on_ehlo(self, s, line):
        s.conn.sendall(self._ehlo_lines(s))

    def _on_helo(self, s, line):
        s.send(b"250 scripted.test")

    def _on_starttls(self, s, line):
        if not self.starttls or s.tls:
            s.send(b"502 5.5.1 STARTTLS not available")
            return True
        s.send(b"220 2.0.0 Ready to start TLS")
        if self.starttls == "alert":
            # Read the ClientHello, then refuse the handshake.
            s.conn.settimeout(5)
            s.conn.recv(65536)
            s.conn.sendall(TLS_HANDSHAKE_FAILURE_ALERT)
            return False
        s.start_tls(self.tls_context)
        return True

    def _on_mail(self, s, line):
        if self._hangs_at(s, "mail"):
            return False
        s.reset()
        s.mail_from, s.mail_command = _angle_address(line), line
        reply = self._pop_reply(self.mail_replies)
        if self.withhold:
            s.held_replies.append(reply)
            s.deadline = time.monotonic() + self.withhold_deadline
            return True
        s.send(reply)
        return not reply.startswith(b"421")

    def _on_rcpt(self, s, line):
        if self._hangs_at(s, "rcpt"):
            return False
        address = _angle_address(line)
        reply = self._rcpt_reply(address)
        if reply.startswith(b"2"):
            s.rcpts.append(address)
            s.rcpt_commands.append(line)
        if self.withhold:
            s.held_replies.append(reply)
            return True
        s.send(reply)
        return not reply.startswith(b"421")

    def _on_data(self, s, line):
        # RFC 2920 3.1: the held replies go out in order, then the reply
        # to DATA.
        for reply in s.held_replies:
            s.send(reply)
        s.held_replies, s.deadline = [], None
        if self._hangs_at(s, "data"):
            return False
        if not s.rcpts:
            s.send(b"554 5.5.1 Error: no valid recipients")
            return True
        s.send(b"354 End data with <CR><LF>.<CR><LF>")
        if self._hangs_at(s, "content"):
            return False
        if self._take_drop():
            s.reader.read_at_least(self.drop_after)
            return False
        wire = s.reader.until_final_dot()
        if wire is None:
            return False
        if self._hangs_at(s, "dot"):
            return False
        reply = self._next_dot_reply()
        if self.dot_delay:
            time.sleep(self.dot_delay)
        if reply.startswith(b"2"):
            message = Delivered(s.mail_from, s.rcpts, unstuff(wire), s.peer,
                                s.tls)
            message.wire = wire
            message.mail_command = s.mail_command
            message.rcpt_commands = list(s.rcpt_commands)
            self.mailbox.add(message)
        s.send(reply)
        s.reset()
        return not reply.startswith(b"421")

    def _on_rset(self, s, line):
        s.reset()
        s.send(b"250 2.0.0 Ok")

    def _on_noop(self, s, line):
        s.send(b"250 2.0.0 Ok")

    _verbs = {b"EHLO": _on_ehlo, b"HELO": _on_helo,
              b"STARTTLS": _on_starttls, b"MAIL": _on_mail,
              b"RCPT": _on_rcpt, b"DATA": _on_data, b"RSET": _on_rset,
              b"NOOP": _on_noop}


def _filter_verb(lines, verb):
    if verb is None:
        return lines
    return [ln for ln in lines if ln[:len(verb)].upper() == verb]


def _angle_address(line):
    """The address between < and > in a MAIL or RCPT command line."""
    start = line.find(b"<")
    end = line.find(b">", start + 1)
    if start < 0 or end < 0:
        return ""
    return line[start + 1:end].decode("utf-8", "replace")
