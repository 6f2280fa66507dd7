"""A smart host for tern's integration tests: an aiosmtpd server on
loopback that takes mail only from clients that authenticated with AUTH
PLAIN or LOGIN, and records every AUTH attempt.

AuthRelay offers STARTTLS (tls="starttls"), wraps the whole connection
in TLS from the first byte (tls="implicit"), or has no TLS at all
(tls="none", where it offers AUTH in clear to tempt a careless client).
It accepts one user name and password; every other pair gets aiosmtpd's
"535 5.7.8 Authentication credentials invalid". Like peers.Receiver it
is stopped by the Lab that started it.
"""

import asyncio
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from peers import Delivered, Mailbox


class AuthAttempt:
    """One AUTH exchange the relay saw."""

    def __init__(self, mechanism, login, success, tls):
        self.mechanism = mechanism
        self.login = login
        self.success = success
        self.tls = tls              # the connection was encrypted

    def __repr__(self):
        return (f"AuthAttempt({self.mechanism}, login={self.login!r}, "
                f"success={self.success}, tls={self.tls})")


def _encrypted(server):
    transport = server.transport
    return transport is not None and \
        transport.get_extra_info("ssl_object") is not None


class _RelayHandler:
    """Accepts MAIL only after AUTH; records messages and MAIL commands."""

    def __init__(self, relay):
        self.relay = relay

    async def handle_MAIL(self, server, session, envelope, address,
                          options):
        with self.relay.lock:
            self.relay.mail_commands += 1
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_DATA(self, server, session, envelope):
        self.relay.mailbox.add(Delivered(
            envelope.mail_from, envelope.rcpt_tos,
            envelope.original_content, session.peer, _encrypted(server),
            session.host_name))
        return "250 2.0.0 Accepted by test smart host"


class _RelayController(Controller):
    def __init__(self, relay, **kwargs):
        super().__init__(_RelayHandler(relay), **kwargs)
        self.relay = relay

    def factory(self):
        return SMTP(self.handler, **self.SMTP_kwargs)


class AuthRelay:
    """A smart host on address:port that needs AUTH; see the module
    docstring. mechanisms limits what EHLO offers ("PLAIN", "LOGIN")."""

    def __init__(self, address, port, user, password, tls="starttls",
                 tls_context=None, mechanisms=("PLAIN", "LOGIN")):
        self.address = address
        self.port = port
        self.user = user.encode()
        self.password = password.encode()
        self.tls = tls
        self.mailbox = Mailbox()
        self.lock = threading.Lock()
        self.attempts = []
        self.mail_commands = 0
        excluded = [m for m in ("PLAIN", "LOGIN") if m not in mechanisms]
        kwargs = {"hostname": address, "port": port, "decode_data": False,
                  "server_hostname": "relay.test", "ready_timeout": 10,
                  "authenticator": self._authenticate,
                  "auth_exclude_mechanism": excluded,
                  "loop": asyncio.new_event_loop()}
        if tls == "starttls":
            kwargs["tls_context"] = tls_context
            kwargs["require_starttls"] = True
        elif tls == "implicit":
            kwargs["ssl_context"] = tls_context
            # aiosmtpd counts only STARTTLS as TLS for AUTH; this whole
            # connection is encrypted.
            kwargs["auth_require_tls"] = False
        else:
            kwargs["auth_require_tls"] = False
        self.controller = _RelayController(self, **kwargs)

    def _authenticate(self, server, session, envelope, mechanism,
                      auth_data):
        success = (auth_data.login == self.user and
                   auth_data.password == self.password)
        with self.lock:
            self.attempts.append(AuthAttempt(
                mechanism, auth_data.login.decode(errors="replace"),
                success, _encrypted(server)))
        # handled=False: aiosmtpd sends its own 535 reply on failure.
        return AuthResult(success=success, handled=False)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        try:
            self.controller.stop()
        except (AssertionError, RuntimeError):
            pass

    @property
    def auth_attempts(self):
        with self.lock:
            return list(self.attempts)

    @property
    def messages(self):
        with self.mailbox.cond:
            return list(self.mailbox.messages)

    def wait(self, count=1, timeout=20):
        return self.mailbox.wait(count, timeout)

    def describe(self):
        return (f"AuthRelay {self.address}:{self.port} tls={self.tls} "
                f"auth={self.auth_attempts!r} "
                f"mail_commands={self.mail_commands} "
                f"messages={self.messages!r}")
