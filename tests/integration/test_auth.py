"""SMTP AUTH (RFC 4954) on tern's listeners, checked by the real ternd
against a users file with argon2id hashes. smtplib and raw clients talk
over STARTTLS. The tests cover PLAIN and LOGIN, failures and their
replies, relaying and the sender restriction after AUTH, the lockout
after repeated failures, and the users file checks at start and
reload."""

import base64
import ctypes
import ctypes.util
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from peers import Dnsmasq, pick_port, wait_for

MAX_FAILURES = 3
LOCKOUT = 3  # seconds

USERS = [
    # name, password, SENDERS
    ("alice", "alice-secret", ""),
    ("bob", "bob-secret", "bob@origin.test,@bob.test"),
]


def argon2id_hash(password):
    """The encoded argon2id hash of password, made by libargon2 itself
    (the library ternd verifies with), with small test parameters."""
    path = ctypes.util.find_library("argon2") or "libargon2.so.1"
    lib = ctypes.CDLL(path)
    encoded = ctypes.create_string_buffer(256)
    pwd = password.encode()
    salt = os.urandom(16)
    rc = lib.argon2id_hash_encoded(
        ctypes.c_uint32(1), ctypes.c_uint32(1024), ctypes.c_uint32(1),
        pwd, ctypes.c_size_t(len(pwd)), salt, ctypes.c_size_t(len(salt)),
        ctypes.c_size_t(32), encoded, ctypes.c_size_t(len(encoded)))
    assert rc == 0, f"argon2id_hash_encoded failed with {rc}"
    return encoded.value.decode()


def write_users(path, users, mode=0o600):
    """Write the users file of auth/user_file.h (NAME:HASH:SENDERS)."""
    lines = [f"{name}:{argon2id_hash(pw)}:{senders}"
             for name, pw, senders in users]
    path.write_text("# test users\n" + "\n".join(lines) + "\n")
    os.chmod(path, mode)


def auth_tern(lab, role="submission", auth=None, start=True, txt=None,
              **overrides):
    """A tern whose one listener has role (and auth when given), with
    the USERS file, MAX_FAILURES and LOCKOUT, relay_networks that do not
    contain the test clients, and a receiver for example.test. txt adds
    TXT records to the test's DNS server (see peers.Dnsmasq)."""
    rcv = lab.receiver("127.0.0.2")
    lab.dnsmasq = Dnsmasq(
        lab.dir, mx={"example.test": [(10, "mx1.example.test")]},
        hosts={"mx1.example.test": ["127.0.0.2"]}, txt=txt).start()
    users = lab.dir / "users"
    write_users(users, USERS)
    listener = {"address": "127.0.0.1", "port": lab.smtpd_port,
                "role": role}
    if auth is not None:
        listener["auth"] = auth
    smtpd = {"listeners": [listener],
             "relay_networks": ["192.0.2.0/24"],
             "auth": {"users_file": str(users),
                      "max_failures": MAX_FAILURES,
                      "failure_window": 60, "lockout": LOCKOUT}}
    smtpd.update(overrides.pop("smtpd", {}))
    tern = lab.tern(start=start, smtpd=smtpd, **overrides)
    return tern, rcv, users


def client_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_session(tern):
    """A raw client past STARTTLS and the second EHLO; returns it and
    that EHLO reply."""
    c = tern.raw()
    c.greeting()
    c.expect("EHLO client.test", 250)
    c.expect("STARTTLS", 220)
    c.start_tls()
    ehlo = c.expect("EHLO client.test", 250)
    return c, ehlo


def plain(user, password, authzid=""):
    return base64.b64encode(
        f"{authzid}\0{user}\0{password}".encode()).decode()


def b64(text):
    return base64.b64encode(text.encode()).decode()


def smtp_login(tern, user, password, mechanism="PLAIN"):
    """An smtplib client after STARTTLS and AUTH with mechanism; LOGIN
    answers both 334 prompts (no initial response)."""
    s = smtplib.SMTP(tern.address, tern.port, local_hostname="client.test",
                     timeout=15)
    s.starttls(context=client_tls())
    s.ehlo()
    s.user, s.password = user, password
    if mechanism == "PLAIN":
        code, text = s.auth("PLAIN", s.auth_plain)
    else:
        code, text = s.auth("LOGIN", s.auth_login,
                            initial_response_ok=False)
    assert code == 235, f"AUTH {mechanism} got {code} {text!r}"
    return s


def test_auth_plain_relays_with_esmtpsa(lab):
    tern, rcv, _ = auth_tern(lab)
    since = tern.log_size()

    with smtp_login(tern, "alice", "alice-secret") as s:
        assert "PLAIN" in s.esmtp_features.get("auth", "").split()
        code, text = s.mail("alice@origin.test")
        assert code == 250, f"MAIL after AUTH got {code} {text!r}"
        code, text = s.rcpt("someone@example.test")
        assert code == 250, f"RCPT after AUTH got {code} {text!r}"
        code, text = s.data(b"Subject: auth\r\n\r\nbody\r\n")
        assert code == 250, f"DATA got {code} {text!r}"

    messages = rcv.wait(1)
    assert messages, "the authenticated message was not delivered"
    content = messages[0].content.decode()
    received = re.search(r"^Received: .*?(?=^\S)", content, re.M | re.S)
    assert received and "with ESMTPSA" in received.group(0), \
        f"Received field without ESMTPSA: {content[:400]}"
    assert "alice" not in received.group(0), \
        f"the user name is in the Received field: {received.group(0)}"
    tern.wait_log(r"client=\[127\.0\.0\.1\], sasl_method=PLAIN, "
                  r"sasl_username=alice", 10, since)
    assert "alice-secret" not in tern.log_text()
    assert plain("alice", "alice-secret") not in tern.log_text()


def test_auth_login_with_prompts(lab):
    tern, _, _ = auth_tern(lab)
    since = tern.log_size()

    with tls_session(tern)[0] as c:
        user_prompt = c.expect("AUTH LOGIN", 334)
        password_prompt = c.expect(b64("bob"), 334)
        done = c.expect(b64("bob-secret"), 235)

    assert user_prompt.lines == ["VXNlcm5hbWU6"]
    assert password_prompt.lines == ["UGFzc3dvcmQ6"]
    assert done.lines[0].startswith("2.7.0"), f"AUTH reply {done}"
    tern.wait_log(r"AUTH accepted: sasl_method=LOGIN sasl_username=bob",
                  10, since)

    # smtplib's LOGIN too, which sends no initial response.
    with smtp_login(tern, "bob", "bob-secret", "LOGIN") as s:
        assert s.noop()[0] == 250


@pytest.mark.parametrize("user, password", [
    ("alice", "wrong"),
    ("nobody", "alice-secret"),
])
def test_auth_bad_credentials_535(lab, user, password):
    tern, _, _ = auth_tern(lab)
    since = tern.log_size()

    with tls_session(tern)[0] as c:
        r = c.command(f"AUTH PLAIN {plain(user, password)}")
        mail = c.command("MAIL FROM:<alice@origin.test>")

    assert r.code == 535, f"bad credentials got {r}"
    assert r.lines[0].startswith("5.7.8"), f"bad credentials got {r}"
    assert mail.code == 530, f"MAIL after a failed AUTH got {mail}"
    tern.wait_log(rf"auth failed: client=\[127\.0\.0\.1\] user={user} "
                  r"method=PLAIN failures=1", 10, since)
    assert password not in tern.log_text()[since:]


def test_auth_exchange_errors(lab):
    tern, _, _ = auth_tern(lab)

    with tls_session(tern)[0] as c:
        c.expect("AUTH LOGIN", 334)
        cancelled = c.command("*")
        bad = c.command("AUTH PLAIN not!base64")
        c.expect("AUTH PLAIN", 334)
        bad_response = c.command("%%%%")
        unknown = c.command("AUTH CRAM-MD5")
        other = c.command(f"AUTH PLAIN {plain('bob', 'bob-secret', 'alice')}")
        long_line = c.command("AUTH PLAIN " + "A" * 1700)
        c.expect("AUTH LOGIN", 334)
        too_long = c.command("A" * 3000)
        still = c.command("NOOP")

    assert (cancelled.code, cancelled.lines[0][:5]) == (501, "5.0.0"), \
        f"cancel got {cancelled}"
    assert (bad.code, bad.lines[0][:5]) == (501, "5.5.2"), \
        f"malformed base64 got {bad}"
    assert (bad_response.code, bad_response.lines[0][:5]) == \
        (501, "5.5.2"), f"malformed response got {bad_response}"
    assert (unknown.code, unknown.lines[0][:5]) == (504, "5.5.4"), \
        f"unknown mechanism got {unknown}"
    assert (other.code, other.lines[0][:5]) == (535, "5.7.8"), \
        f"another authzid got {other}"
    assert (long_line.code, long_line.lines[0][:5]) == (500, "5.5.6"), \
        f"an over-long initial response got {long_line}"
    assert (too_long.code, too_long.lines[0][:5]) == (500, "5.5.6"), \
        f"an over-long response line got {too_long}"
    assert still.code == 250, f"session unusable after AUTH errors: {still}"


def test_auth_authzid_counted_as_failure(lab):
    tern, _, _ = auth_tern(lab)
    since = tern.log_size()

    with tls_session(tern)[0] as c:
        replies = [c.command(f"AUTH PLAIN "
                             f"{plain('bob', 'bob-secret', 'alice')}")
                   for _ in range(MAX_FAILURES)]
        locked = c.command(f"AUTH PLAIN {plain('bob', 'bob-secret')}")

    for r in replies:
        assert r.code == 535, f"another authzid got {r}"
    assert locked.code != 235, f"AUTH was not locked out: {locked}"
    tern.wait_log(r"auth failed: client=\[127\.0\.0\.1\] user=bob "
                  r"method=PLAIN failures=1: the authorization identity "
                  r"differs", 10, since)
    tern.wait_log(r"auth lockout: client=\[127\.0\.0\.1\] locked out",
                  10, since)
    assert "bob-secret" not in tern.log_text()[since:]


def test_auth_long_lines_logged(lab):
    tern, _, _ = auth_tern(lab, smtpd={"listeners": [
        {"address": "127.0.0.1", "port": lab.smtpd_port,
         "role": "submission", "max_errors": 50}]})
    since = tern.log_size()

    with tls_session(tern)[0] as c:
        for _ in range(5):
            c.expect("AUTH LOGIN", 334)
            c.expect("A" * 3000, 500)
        c.expect("NOOP", 250)
        c.expect("QUIT", 221)

    tern.wait_log(r"over-long exchange lines in this session", 10, since)
    log = tern.log_text()[since:]
    logged = re.findall(r"AUTH LOGIN failed: 500 5\.5\.6 .*\(line (\d)",
                        log)
    assert logged == ["1", "2", "3"], f"logged lines: {logged}\n{log}"
    assert "[127.0.0.1]: AUTH: 5 over-long exchange lines in this " \
        "session, the first 3 logged" in log, log


def test_auth_order_and_tls(lab):
    tern, _, _ = auth_tern(lab)

    with tern.raw() as c:
        c.greeting()
        before_ehlo = c.command(f"AUTH PLAIN {plain('alice', 'x')}")
        ehlo = c.expect("EHLO client.test", 250)
        in_clear = c.command(f"AUTH PLAIN {plain('alice', 'alice-secret')}")

    # A submission listener rejects every command but EHLO, HELO, NOOP,
    # QUIT and STARTTLS with 530 until STARTTLS. Without that gate, AUTH
    # itself replies 503 before EHLO and 538 in clear.
    assert before_ehlo.code in (503, 530), \
        f"AUTH before EHLO got {before_ehlo}"
    assert not any(line.upper().startswith("AUTH") for line in ehlo.lines), \
        f"AUTH offered in clear: {ehlo}"
    assert in_clear.code in (530, 538), f"AUTH in clear got {in_clear}"

    c = tern.raw()
    with c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        c.expect("STARTTLS", 220)
        c.start_tls()
        # RFC 3207 4.2: the client must send EHLO again after TLS.
        before_second_ehlo = c.command(
            f"AUTH PLAIN {plain('alice', 'alice-secret')}")
        ehlo = c.expect("EHLO client.test", 250)
        assert before_second_ehlo.code == 503, \
            f"AUTH before the EHLO inside TLS got {before_second_ehlo}"
        assert "AUTH PLAIN LOGIN" in ehlo.lines, f"EHLO after TLS: {ehlo}"
        help_reply = c.expect("HELP", 214)
        assert "AUTH" in help_reply.lines[0].split(), f"HELP: {help_reply}"
        c.expect(f"AUTH PLAIN {plain('alice', 'alice-secret')}", 235)
        again = c.command(f"AUTH PLAIN {plain('alice', 'alice-secret')}")
        c.expect("MAIL FROM:<alice@origin.test>", 250)
        c.expect("RSET", 250)
        c.expect("MAIL FROM:<alice@origin.test>", 250)
        during = c.command("AUTH LOGIN")

    assert again.code == 503, f"a second AUTH got {again}"
    assert during.code == 503, f"AUTH during a transaction got {during}"


def test_submission_requires_auth(lab):
    tern, _, _ = auth_tern(lab)

    c, _ = tls_session(tern)
    with c:
        mail = c.command("MAIL FROM:<alice@origin.test>")

    assert (mail.code, mail.lines[0][:5]) == (530, "5.7.0"), \
        f"MAIL before AUTH on submission got {mail}"


def test_auth_lets_mx_client_relay(lab):
    tern, _, _ = auth_tern(lab, role="mx", auth="optional")

    c, _ = tls_session(tern)
    with c:
        c.expect("MAIL FROM:<alice@origin.test>", 250)
        denied = c.command("RCPT TO:<someone@example.test>")
        c.expect("RSET", 250)
        c.expect(f"AUTH PLAIN {plain('alice', 'alice-secret')}", 235)
        c.expect("MAIL FROM:<alice@origin.test>", 250)
        allowed = c.command("RCPT TO:<someone@example.test>")

    assert denied.code == 554, f"relay without AUTH got {denied}"
    assert allowed.code == 250, f"relay after AUTH got {allowed}"


def test_auth_sender_restriction(lab):
    tern, _, _ = auth_tern(lab)

    c, _ = tls_session(tern)
    with c:
        c.expect(f"AUTH PLAIN {plain('bob', 'bob-secret')}", 235)
        other = c.command("MAIL FROM:<alice@origin.test>")
        own = c.command("MAIL FROM:<bob@origin.test>")
        c.expect("RSET", 250)
        domain = c.command("MAIL FROM:<anyone@bob.test>")

    assert (other.code, other.lines[0][:5]) == (553, "5.7.1"), \
        f"another user's sender got {other}"
    assert "not owned by user bob" in other.lines[0], f"reply {other}"
    assert own.code == 250, f"bob's own address got {own}"
    assert domain.code == 250, f"an address in @bob.test got {domain}"


def test_auth_lockout_then_lifts(lab):
    tern, _, _ = auth_tern(lab)
    since = tern.log_size()

    c, _ = tls_session(tern)
    with c:
        failures = [c.command(f"AUTH PLAIN {plain('alice', f'guess{i}')}")
                    for i in range(MAX_FAILURES)]
        c.send(f"AUTH PLAIN {plain('alice', 'alice-secret')}\r\n".encode())
        locked = c.replies_within(5)

    assert [r.code for r in failures] == [535] * MAX_FAILURES, \
        f"failures got {failures}"
    assert [r.code for r in locked] == [454, 421], \
        f"the attempt after {MAX_FAILURES} failures got {locked}"
    for n in range(1, MAX_FAILURES + 1):
        tern.wait_log(r"auth failed: client=\[127\.0\.0\.1\] user=alice "
                      rf"method=PLAIN failures={n}\b", 10, since)
    lockouts = tern.log_lines(r"auth lockout: client=\[127\.0\.0\.1\]",
                              since)
    assert len(lockouts) == 1, f"lockout logged {len(lockouts)} times"

    # Locked for a new connection too, even with the right password.
    c, _ = tls_session(tern)
    with c:
        c.send(f"AUTH PLAIN {plain('alice', 'alice-secret')}\r\n".encode())
        again = c.replies_within(5)
    assert [r.code for r in again] == [454, 421], \
        f"a new session during the lockout got {again}"

    def accepted():
        c, _ = tls_session(tern)
        with c:
            return c.command(
                f"AUTH PLAIN {plain('alice', 'alice-secret')}").code == 235
    assert wait_for(accepted, LOCKOUT + 15, interval=1), \
        f"AUTH still refused {LOCKOUT} s after the lockout"


def test_ternd_rejects_open_users_file(lab):
    tern, _, users = auth_tern(lab, start=False)
    os.chmod(users, 0o644)

    done = subprocess.run(tern.command(), cwd=tern.dir, capture_output=True,
                          text=True, timeout=30)

    assert done.returncode != 0, "ternd started with a users file of 0644"
    assert str(users) in done.stderr, f"stderr: {done.stderr}"
    assert re.search(r"group|others|mode", done.stderr), \
        f"the error does not say what is wrong with the file: {done.stderr}"


def test_reload_keeps_users_when_file_malformed(lab):
    tern, _, users = auth_tern(lab)
    since = tern.log_size()
    users.write_text("alice:not-a-hash\n")
    os.chmod(users, 0o600)

    tern.send_signal(signal.SIGHUP)
    tern.wait_log(rf"reload rejected.*{re.escape(str(users))}:1:", 10, since)

    with smtp_login(tern, "alice", "alice-secret") as s:
        assert s.noop()[0] == 250


def test_submissions_implicit_tls(lab):
    tern, _, _ = auth_tern(lab, role="submissions")
    try:
        s = smtplib.SMTP_SSL(tern.address, tern.port,
                             local_hostname="client.test", timeout=10,
                             context=client_tls())
    except (ssl.SSLError, ConnectionError, socket.timeout) as e:
        pytest.skip(f"implicit TLS is not in this build: {e}")
    with s:
        s.login("alice", "alice-secret")
        code, text = s.mail("alice@origin.test")
    assert code == 250, f"MAIL after AUTH over implicit TLS got {code} {text}"


def test_auth_skips_spf_reject_fail(lab):
    # An authenticated client's IP address is no evidence for its sender
    # domain, so its MAIL FROM is not SPF-checked, as for relay_networks.
    mx_port = pick_port(["127.0.0.1"])
    while mx_port == lab.smtpd_port:
        mx_port = pick_port(["127.0.0.1"])
    listeners = [
        {"address": "127.0.0.1", "port": lab.smtpd_port,
         "role": "submissions", "spf": "reject_fail"},
        {"address": "127.0.0.1", "port": mx_port, "role": "mx",
         "spf": "reject_fail"},
    ]
    tern, rcv, _ = auth_tern(lab, role="submissions",
                             txt={"spf-fail.test": ["v=spf1 -all"]},
                             smtpd={"listeners": listeners})

    # Without AUTH the same sender fails SPF, so the record is served.
    with smtplib.SMTP(tern.address, mx_port, local_hostname="client.test",
                      timeout=15) as s:
        s.ehlo()
        code, text = s.mail("alice@spf-fail.test")
    assert code == 550, f"MAIL without AUTH got {code} {text!r}"
    assert b"5.7.23" in text, f"MAIL without AUTH got {code} {text!r}"

    since = tern.log_size()
    with smtplib.SMTP_SSL(tern.address, tern.port,
                          local_hostname="client.test", timeout=15,
                          context=client_tls()) as s:
        s.login("alice", "alice-secret")
        code, text = s.mail("alice@spf-fail.test")
        assert code == 250, f"MAIL after AUTH got {code} {text!r}"
        code, text = s.rcpt("someone@example.test")
        assert code == 250, f"RCPT after AUTH got {code} {text!r}"
        code, text = s.data(b"Subject: spf after auth\r\n\r\nbody\r\n")
        assert code == 250, f"DATA got {code} {text!r}"

    messages = rcv.wait(1)
    assert messages, "the authenticated message was not delivered"
    content = messages[0].content.decode()
    assert "Received-SPF:" not in content, content[:600]
    assert "spf=" not in content, content[:600]
    assert " spf: " not in tern.log_text()[since:], \
        "smtpd logged an SPF check for the authenticated session"


def test_mail_auth_parameter_accepted(lab):
    tern, _, _ = auth_tern(lab)

    c, _ = tls_session(tern)
    with c:
        c.expect(f"AUTH PLAIN {plain('alice', 'alice-secret')}", 235)
        empty = c.command("MAIL FROM:<alice@origin.test> AUTH=<>")
        c.expect("RSET", 250)
        mailbox = c.command("MAIL FROM:<alice@origin.test> "
                            "AUTH=alice+40origin.test")
        c.expect("RSET", 250)
        bad = c.command("MAIL FROM:<alice@origin.test> AUTH=a+4")

    # RFC 4954 5: a server that offers AUTH takes the MAIL parameter.
    assert empty.code == 250, f"AUTH=<> got {empty}"
    assert mailbox.code == 250, f"AUTH=xtext got {mailbox}"
    assert bad.code == 501, f"AUTH= with malformed xtext got {bad}"


def test_auth_not_offered_on_mx_listener(lab):
    tern, _, _ = auth_tern(lab, role="mx")

    c, ehlo = tls_session(tern)
    with c:
        auth = c.command(f"AUTH PLAIN {plain('alice', 'alice-secret')}")

    assert not any(line.upper().startswith("AUTH") for line in ehlo.lines), \
        f"AUTH offered on a listener with auth off: {ehlo}"
    assert (auth.code, auth.lines[0][:5]) == (503, "5.5.1"), \
        f"AUTH where it is not offered got {auth}"


def test_reload_adds_user(lab):
    tern, _, users = auth_tern(lab)
    since = tern.log_size()
    write_users(users, USERS + [("carol", "carol-secret", "")])

    tern.send_signal(signal.SIGHUP)
    tern.wait_log(rf"AUTH: 3 users in {re.escape(str(users))}", 10, since)

    with smtp_login(tern, "carol", "carol-secret") as s:
        assert s.noop()[0] == 250
    with smtp_login(tern, "alice", "alice-secret") as s:
        assert s.noop()[0] == 250


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_swaks_submits_with_auth(lab, mechanism):
    tern, rcv, _ = auth_tern(lab)
    sender = f"swaks-{mechanism.lower()}@bob.test"

    done = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(tern.port),
         "--helo", "client.test", "--tls", "--auth", mechanism,
         "--auth-user", "bob", "--auth-password", "bob-secret",
         "--from", sender, "--to", "someone@example.test",
         "--header", f"Subject: swaks {mechanism}"],
        capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, f"swaks failed:\n{done.stdout}{done.stderr}"
    messages = rcv.wait(1)
    assert messages, "the message submitted by swaks was not delivered"
    assert messages[0].mail_from == sender
