"""The policy of each smtpd listener against real clients: allowed client
networks (IPv4 and IPv6), required STARTTLS, implicit TLS on accept,
per-listener message size and recipient limits, and listener changes on
reload."""

import os
import re
import signal
import smtplib
import ssl

from peers import RawClient, pick_port


def listener(port, address="127.0.0.1", **options):
    """One smtpd.listeners entry."""
    return dict({"address": address, "port": port}, **options)


def users_file(lab):
    """An empty users file (mode 0600) in the lab directory, so AUTH can
    be offered; returns its path."""
    path = lab.dir / "users"
    path.write_text("# no accounts: only EHLO's AUTH keyword is tested\n")
    os.chmod(path, 0o600)
    return str(path)


def tls_context():
    """A client context for the self-signed test certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def ehlo_keywords(reply):
    return [line.split()[0].upper() for line in reply.lines[1:] if line]


def test_allow_rejects_ipv4_outside(lab):
    port = lab.smtpd_port
    tern = lab.tern(smtpd={"listeners": [
        listener(port, allow=["127.0.0.0/29"])]})

    with RawClient("127.0.0.1", port, source="127.0.0.7") as c:
        inside = c.reply()
        c.command("QUIT")
    since = tern.log_size()
    with RawClient("127.0.0.1", port, source="127.0.0.8") as c:
        greeting = c.reply()
        ehlo = c.command("EHLO client.test")
        mail = c.command("MAIL FROM:<outsider@origin.test>")
        noop = c.command("NOOP")
        quit_reply = c.command("QUIT")

    assert inside.code == 220, f"127.0.0.7 in 127.0.0.0/29 got {inside}"
    assert greeting.code == 554, f"127.0.0.8 outside /29 got {greeting}"
    assert greeting.lines[0].startswith("5.7.1 tern.test"), greeting
    assert "Access denied" in greeting.text, greeting
    for name, reply in (("EHLO", ehlo), ("MAIL", mail), ("NOOP", noop)):
        assert reply.code == 503, f"{name} after the 554 greeting: {reply}"
        assert reply.lines[0].startswith("5.5.1"), reply
    assert quit_reply.code == 221, f"QUIT after the 554 greeting: {quit_reply}"
    tern.wait_log(re.escape(
        f"reject: connect from [127.0.0.8] to listener 127.0.0.1:{port} "
        "(mx): not in allowed networks"), 5, since)
    assert not tern.log_lines(r"reject: connect from \[127\.0\.0\.7\]"), \
        "a client inside the allowed network was logged as rejected"


def test_allow_ipv6_cidr(lab):
    allowed_port = pick_port(["::1"])
    denied_port = pick_port(["::1"])
    while denied_port == allowed_port:
        denied_port = pick_port(["::1"])
    tern = lab.tern(smtpd={"listeners": [
        listener(lab.smtpd_port),
        listener(allowed_port, "::1", allow=["::/127"]),
        listener(denied_port, "::1",
                 allow=["2001:db8::/32", "127.0.0.0/8"])]})

    with RawClient("::1", allowed_port) as c:
        allowed = c.reply()
        c.command("QUIT")
    since = tern.log_size()
    with RawClient("::1", denied_port) as c:
        denied = c.reply()
        rcpt = c.command("RCPT TO:<user@example.test>")
        c.command("QUIT")

    assert allowed.code == 220, f"::1 in ::/127 got {allowed}"
    assert denied.code == 554, f"::1 outside 2001:db8::/32 got {denied}"
    assert rcpt.code == 503, f"RCPT after the 554 greeting got {rcpt}"
    tern.wait_log(re.escape(
        f"reject: connect from [::1] to listener [::1]:{denied_port} "
        "(mx): not in allowed networks"), 5, since)


def test_relay_role_defaults_to_relay_networks(lab):
    port = lab.smtpd_port
    tern = lab.tern(smtpd={
        "relay_networks": ["127.0.0.1/32"],
        "listeners": [listener(port, role="relay")]})

    with RawClient("127.0.0.1", port, source="127.0.0.9") as c:
        outside = c.reply()
        c.command("QUIT")
    with RawClient("127.0.0.1", port, source="127.0.0.1") as c:
        inside = c.reply()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<app@origin.test>", 250)
        rcpt = c.command("RCPT TO:<user@anywhere.example>")
        c.command("QUIT")

    assert outside.code == 554, f"relay role, 127.0.0.9 got {outside}"
    assert inside.code == 220, f"relay role, 127.0.0.1 got {inside}"
    assert rcpt.code == 250, f"relay role client relaying got {rcpt}"


# Commands that a tls = "required" listener rejects with 530 in clear,
# AUTH with a credential ("alice", "secret") among them.
BEFORE_TLS = ["MAIL FROM:<early@origin.test>", "RCPT TO:<user@example.test>",
              "DATA", "VRFY user", "HELP", "RSET",
              "AUTH PLAIN AGFsaWNlAHNlY3JldA=="]


def test_required_tls_rejects_before_starttls(lab):
    port = lab.smtpd_port
    lab.tern(smtpd={"relay_domains": ["example.test"],
                    "listeners": [listener(port, tls="required")]})

    with RawClient("127.0.0.1", port, source="127.0.0.9") as c:
        c.greeting()
        ehlo = c.expect("EHLO client.test", 250)
        early = {line: c.command(line) for line in BEFORE_TLS}
        noop = c.command("NOOP")
        c.expect("STARTTLS", 220)
        c.start_tls()
        c.expect("EHLO client.test", 250)
        mail = c.command("MAIL FROM:<late@origin.test>")
        rcpt = c.command("RCPT TO:<user@example.test>")
        c.command("QUIT")

    assert "STARTTLS" in ehlo_keywords(ehlo), f"STARTTLS not offered: {ehlo}"
    for line, reply in early.items():
        assert reply.code == 530, f"{line!r} before STARTTLS got {reply}"
        assert reply.text == "5.7.0 Must issue a STARTTLS command first", \
            f"{line!r} before STARTTLS got {reply}"
    assert noop.code == 250, f"NOOP before STARTTLS got {noop}"
    assert mail.code == 250, f"MAIL after STARTTLS got {mail}"
    assert rcpt.code == 250, f"RCPT after STARTTLS got {rcpt}"


def test_submission_offers_auth_only_in_tls(lab):
    port = lab.smtpd_port
    path = users_file(lab)
    lab.tern(smtpd={"auth": {"users_file": path},
                    "listeners": [listener(port, role="submission")]})

    with RawClient("127.0.0.1", port) as c:
        c.greeting()
        clear = c.expect("EHLO client.test", 250)
        mail = c.command("MAIL FROM:<early@origin.test>")
        c.expect("STARTTLS", 220)
        c.start_tls()
        inside = c.expect("EHLO client.test", 250)
        c.command("QUIT")

    assert "AUTH" not in ehlo_keywords(clear), f"AUTH offered in clear: {clear}"
    assert "STARTTLS" in ehlo_keywords(clear), clear
    assert mail.code == 530, f"MAIL before STARTTLS got {mail}"
    assert "AUTH" in ehlo_keywords(inside), \
        f"AUTH not offered after STARTTLS: {inside}"


def test_implicit_tls_greets_inside_tls(lab):
    port = lab.smtpd_port
    tern = lab.tern(smtpd={"relay_domains": ["example.test"],
                           "listeners": [listener(port, implicit_tls=True)]})

    with smtplib.SMTP_SSL("127.0.0.1", port, local_hostname="client.test",
                          context=tls_context(), timeout=15,
                          source_address=("127.0.0.9", 0)) as s:
        code, _ = s.ehlo()
        keywords = set(s.esmtp_features)
        cipher = s.sock.cipher()
        s.sendmail("implicit@origin.test", ["user@example.test"],
                   b"Subject: implicit TLS\r\n\r\nbody\r\n")

    assert code == 250
    assert cipher is not None, "no TLS cipher on the SMTP_SSL socket"
    assert "starttls" not in keywords, \
        f"STARTTLS offered on an implicit TLS listener: {keywords}"
    tern.wait_log(r"TLS established with \[127\.0\.0\.9\]", 5)
    tern.wait_log(r"from=<implicit@origin\.test>, size=", 10)


def test_implicit_tls_sends_nothing_in_clear(lab):
    port = lab.smtpd_port
    lab.tern(smtpd={"listeners": [listener(port, implicit_tls=True)]})

    with RawClient("127.0.0.1", port) as c:
        replies = c.replies_within(2)

    assert replies == [], \
        f"an implicit TLS listener answered in clear: {replies}"


def test_submissions_role_offers_auth(lab):
    port = lab.smtpd_port
    path = users_file(lab)
    lab.tern(smtpd={"auth": {"users_file": path},
                    "listeners": [listener(port, role="submissions")]})

    with smtplib.SMTP_SSL("127.0.0.1", port, local_hostname="client.test",
                          context=tls_context(), timeout=15) as s:
        s.ehlo()
        keywords = set(s.esmtp_features)

    assert "auth" in keywords, f"AUTH not offered on submissions: {keywords}"
    assert "starttls" not in keywords, keywords


def test_listener_limits(lab):
    wide_port = lab.smtpd_port
    narrow_port = pick_port(["127.0.0.1"])
    while narrow_port == wide_port:
        narrow_port = pick_port(["127.0.0.1"])
    lab.tern(smtpd={
        "message_size_limit": 10240000,
        "recipient_limit": 100,
        "listeners": [
            listener(wide_port),
            listener(narrow_port, message_size_limit=2000,
                     recipient_limit=2)]})
    big = b"Subject: big\r\n\r\n" + b"x" * 78 + b"\r\n"
    big = big * 40

    with RawClient("127.0.0.1", narrow_port) as c:
        c.greeting()
        narrow_ehlo = c.expect("EHLO client.test", 250)
        declared = c.command("MAIL FROM:<declared@origin.test> SIZE=5000")
        c.expect("MAIL FROM:<many@origin.test>", 250)
        rcpts = [c.command(f"RCPT TO:<user{i}@example.test>")
                 for i in range(3)]
        c.expect("DATA", 354)
        c.send(big + b".\r\n")
        oversized = c.reply()
        c.command("QUIT")
    with RawClient("127.0.0.1", wide_port) as c:
        c.greeting()
        wide_ehlo = c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<wide@origin.test> SIZE=5000", 250)
        wide_rcpts = [c.command(f"RCPT TO:<user{i}@example.test>")
                      for i in range(3)]
        c.command("QUIT")

    assert "SIZE 2000" in narrow_ehlo.lines, narrow_ehlo
    assert "SIZE 10240000" in wide_ehlo.lines, wide_ehlo
    assert declared.code == 552, f"SIZE=5000 over 2000 got {declared}"
    assert declared.lines[0].startswith("5.3.4"), declared
    assert [r.code for r in rcpts] == [250, 250, 452], rcpts
    assert rcpts[2].lines[0].startswith("4.5.3"), rcpts[2]
    assert oversized.code == 552, f"3,200 octets over 2000 got {oversized}"
    assert oversized.lines[0].startswith("5.3.4"), oversized
    assert [r.code for r in wide_rcpts] == [250, 250, 250], wide_rcpts


def test_reload_logs_listener_count(lab):
    port = lab.smtpd_port
    second = pick_port(["127.0.0.1"])
    while second == port:
        second = pick_port(["127.0.0.1"])
    tern = lab.tern(smtpd={"listeners": [listener(port),
                                         listener(second, role="relay")]})
    since = tern.log_size()

    tern.send_signal(signal.SIGHUP)

    tern.wait_log(r"new sessions use .* listeners=2\b", 10, since)


def test_reload_applies_listener_limits(lab):
    """A reload that keeps the listeners' addresses and ports puts their
    changed limits in force for new sessions."""
    from test_listener_limits import TOO_MANY, first_line, open_idlers

    tern = lab.tern(smtpd={"listeners": [
        listener(lab.smtpd_port, max_connections_per_client=3)]})
    tern.settings["smtpd"]["listeners"][0]["max_connections_per_client"] = 2
    tern.write_config()
    since = tern.log_size()
    tern.send_signal(signal.SIGHUP)
    tern.wait_log(r"smtpd\[\d+\]: info: new sessions use", 10, since)

    idlers = open_idlers(tern, 2, ["127.0.0.7"])
    try:
        with tern.raw(source="127.0.0.7") as extra:
            rejected = first_line(extra)
        assert rejected == TOO_MANY, \
            f"3rd connection after the reload got {rejected!r}"
        assert tern.log_lines(r"rejected: too many connections from this "
                              r"address .*max_connections_per_client=2",
                              since), tern.tail()
        assert not tern.log_lines(r"smtpd\.listeners (adds|no longer)",
                                  since), tern.tail()
    finally:
        for c in idlers:
            c.close()


def test_reload_warns_of_listener_changes(lab):
    """A reload warns of each listener added or removed, naming the
    restart that applies it. The listener that stays takes its new
    options at once."""
    port = lab.smtpd_port
    second = pick_port(["127.0.0.1"])
    third = pick_port(["127.0.0.1"])
    while len({port, second, third}) < 3:
        third = pick_port(["127.0.0.1"])
    tern = lab.tern(smtpd={"listeners": [
        listener(second, role="relay"), listener(port)]})
    tern.settings["smtpd"]["listeners"] = [
        listener(port, message_size_limit=2000), listener(third)]
    tern.write_config()
    since = tern.log_size()
    tern.send_signal(signal.SIGHUP)

    tern.wait_log(r"smtpd\[\d+\]: info: new sessions use", 10, since)
    assert tern.log_lines(
        rf"warning.*reload: .*tern\.conf:\d+: smtpd\.listeners adds "
        rf"127\.0\.0\.1 port {third}; restart ternd to listen on it",
        since), tern.tail()
    assert tern.log_lines(
        rf"warning.*reload: smtpd\.listeners no longer has 127\.0\.0\.1 "
        rf"port {second}; ternd listens there with its previous settings",
        since), tern.tail()

    # The listener on port moved from index 1 to 0 in the file, and its
    # new size limit applies. The removed relay listener keeps its role.
    with RawClient("127.0.0.1", port) as c:
        c.greeting()
        ehlo = c.expect("EHLO client.test", 250)
    assert "SIZE 2000" in ehlo.lines, ehlo
    with RawClient("127.0.0.1", second) as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<a@origin.test>", 250)
        c.expect("RCPT TO:<user@elsewhere.test>", 250)
        c.command("QUIT")
