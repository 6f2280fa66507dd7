"""tern's SMTP server against clients that misbehave on purpose: raw
sockets send exact bytes in one packet, and a receiver behind tern shows
what got through."""

import time

import pytest

from peers import message_bytes, split_received

CRLF = b"\r\n"


def deliverable_lab(lab, wire=False, **overrides):
    """A receiver for example.test at 127.0.0.2 and a running tern."""
    rcv = lab.wire_receiver("127.0.0.2") if wire else lab.receiver(
        "127.0.0.2")
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    return rcv, lab.tern(**overrides)


def session(tern, source=None):
    """A raw client past the greeting and EHLO."""
    c = tern.raw(source=source)
    c.greeting()
    c.expect("EHLO client.test", 250)
    return c


def assert_nothing_stored(tern, rcv, sender, wait=2.0):
    """Neither queue nor receiver nor smtpd's log saw the sender's mail."""
    time.sleep(wait)
    assert tern.queue_counts() == (0, 0), \
        f"queue is not empty: {tern.recipients()}"
    assert rcv.messages == [], f"receiver got {rcv.messages}"
    accepted = tern.accepted(sender)
    assert not accepted, f"smtpd accepted the mail: {accepted}"


def test_relay_refused_outside_relay_networks(lab):
    tern = lab.tern(smtpd={"relay_networks": ["127.0.0.1/32"]})

    with session(tern, source="127.0.0.9") as c:
        c.expect("MAIL FROM:<outsider@origin.test>", 250)
        refused = c.command("RCPT TO:<user@example.test>")
    with session(tern, source="127.0.0.1") as c:
        c.expect("MAIL FROM:<insider@origin.test>", 250)
        allowed = c.command("RCPT TO:<user@example.test>")

    assert refused.code == 554, f"relay from 127.0.0.9 got {refused}"
    assert refused.lines[0].startswith("5.7.1"), \
        f"relay refusal lacks enhanced code 5.7.1: {refused}"
    assert allowed.code == 250, f"relay from 127.0.0.1 got {allowed}"


def test_bare_lf_in_data_rejected(lab):
    rcv, tern = deliverable_lab(lab)

    with session(tern) as c:
        reply = c.transaction(
            "barelf@origin.test", ["user@example.test"],
            b"Subject: bare LF\r\n\r\nline one\nline two\r\n.\r\n")

    assert 500 <= reply.code < 600, f"bare LF in DATA got {reply}"
    assert_nothing_stored(tern, rcv, "barelf@origin.test")


def test_message_starting_folded_rejected(lab):
    """A first line with leading white space would continue tern's own
    Received field, so the client could write into it."""
    rcv, tern = deliverable_lab(lab)

    with session(tern) as c:
        reply = c.transaction(
            "folded@origin.test", ["user@example.test"],
            b" injected: text\r\nSubject: folded\r\n\r\nbody\r\n.\r\n")

    assert reply.code == 550, f"a message starting folded got {reply}"
    assert reply.lines[0].startswith("5.6.0"), reply
    assert_nothing_stored(tern, rcv, "folded@origin.test", wait=0.5)


SMUGGLED = (b"MAIL FROM:<smuggler@origin.test>\r\n"
            b"RCPT TO:<victim@example.test>\r\n"
            b"DATA\r\n"
            b"Subject: smuggled\r\n\r\nsmuggled body\r\n.\r\n")


@pytest.mark.parametrize("fake_end", [b"\n.\r\n", b"\r\r\n.\r\r\n"],
                         ids=["lf-dot-crlf", "crcrlf-dot-crcrlf"])
def test_smuggled_transaction_rejected(lab, fake_end):
    rcv, tern = deliverable_lab(lab)

    with session(tern) as c:
        c.expect("MAIL FROM:<carrier@origin.test>", 250)
        c.expect("RCPT TO:<user@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"Subject: carrier\r\n\r\ntext" + fake_end + SMUGGLED)
        replies = c.replies_within(3)

    codes = [r.code for r in replies]
    assert codes, "no reply after the data"
    assert 500 <= codes[0] < 600, \
        f"message with {fake_end!r} was not rejected: replies {replies}"
    assert 354 not in codes, f"smuggled DATA was started: {replies}"
    assert 250 not in codes, f"a smuggled command was accepted: {replies}"
    assert_nothing_stored(tern, rcv, "carrier@origin.test")
    assert not tern.accepted("smuggler@origin.test"), \
        "smtpd accepted the smuggled message"


def test_pipelined_body_after_refused_rcpt(lab):
    rcv, tern = deliverable_lab(
        lab, smtpd={"relay_networks": ["127.0.0.1/32"]})
    body = [b"Subject: pipelined", b"X-Second: header", b"body text", b"."]

    with tern.raw(source="127.0.0.9") as c:
        c.greeting()
        c.send(b"EHLO client.test\r\nMAIL FROM:<pipe@origin.test>\r\n"
               b"RCPT TO:<user@example.test>\r\nDATA\r\n" +
               CRLF.join(body) + b"\r\nQUIT\r\n")
        replies = []
        while not replies or replies[-1].code != 221:
            replies.append(c.reply())

    codes = [r.code for r in replies]
    assert codes[:3] == [250, 250, 554], f"replies {replies}"
    assert codes[3] != 354, f"DATA without a recipient got 354: {replies}"
    assert 500 <= codes[3] < 600, f"DATA got {replies[3]}"
    body_codes = codes[4:-1]
    assert len(body_codes) == len(body), \
        f"each body line must get one reply as a command: {replies}"
    assert all(500 <= c < 600 for c in body_codes), \
        f"a body line was accepted as a command: {replies}"
    assert_nothing_stored(tern, rcv, "pipe@origin.test", wait=0.5)


def test_starttls_discards_pipelined_command(lab):
    tern = lab.tern()

    with tern.raw() as c:
        c.greeting()
        ehlo = c.expect("EHLO client.test", 250)
        assert "STARTTLS" in [ln.upper() for ln in ehlo.lines], \
            f"STARTTLS not offered: {ehlo}"
        c.send(b"STARTTLS\r\nMAIL FROM:<injected@origin.test>\r\n")
        ready = c.reply()
        assert ready.code == 220, f"STARTTLS got {ready}"
        c.start_tls()
        after = c.command("EHLO client.test")
        rcpt = c.command("RCPT TO:<user@example.test>")

    assert after.code == 250, f"EHLO inside TLS got {after}"
    assert len(after.lines) > 1, \
        f"first reply inside TLS is not the EHLO reply: {after}"
    assert rcpt.code == 503, \
        f"RCPT after TLS got {rcpt}: the injected MAIL was kept"


def test_size_limit_one_552_after_dot(lab):
    rcv, tern = deliverable_lab(lab, smtpd={"message_size_limit": 10})

    with session(tern) as c:
        c.expect("MAIL FROM:<size@origin.test>", 250)
        c.expect("RCPT TO:<user@example.test>", 250)
        c.expect("DATA", 354)
        c.send(b"line one\r\nline two\r\nline three\r\n")
        early = c.replies_within(0.5)
        c.send(b".\r\n")
        reply = c.reply()
        noop = c.command("NOOP")

    # RFC 5321 4.2.5: the reply to DATA comes after the final dot.
    assert early == [], f"replied before the final dot: {early}"
    assert reply.code == 552, f"oversized message got {reply}"
    assert noop.code == 250, f"more than one reply to the message: {noop}"
    assert_nothing_stored(tern, rcv, "size@origin.test")


def test_line_of_1000_octets_delivered(lab):
    rcv, tern = deliverable_lab(lab)
    line = b"x" * 998 + CRLF
    content = message_bytes("1000 octets", body=b"before\r\n" + line +
                            b"after\r\n")

    tern.send("long@origin.test", ["user@example.test"], content)

    got = rcv.wait(1)
    assert len(got) == 1, "message with a 1000-octet line not delivered"
    _, rest = split_received(got[0].content)
    assert rest == content, "the 1000-octet line changed on the way"


def test_line_of_1001_octets_rejected(lab):
    rcv, tern = deliverable_lab(lab)

    with session(tern) as c:
        reply = c.transaction("toolong@origin.test", ["user@example.test"],
                              b"Subject: long\r\n\r\n" + b"x" * 999 +
                              b"\r\n.\r\n")
        noop = c.command("NOOP")

    assert 500 <= reply.code < 600, f"1001-octet line got {reply}"
    assert noop.code == 250, f"more than one reply to the message: {noop}"
    assert_nothing_stored(tern, rcv, "toolong@origin.test")


def test_nul_byte_rejected_or_kept(lab):
    rcv, tern = deliverable_lab(lab)
    content = message_bytes("NUL", body=b"before\x00after\r\nnext\r\n")

    with session(tern) as c:
        reply = c.transaction("nul@origin.test", ["user@example.test"],
                              content + b".\r\n")

    if reply.code == 250:
        got = rcv.wait(1)
        assert len(got) == 1, "accepted message with NUL not delivered"
        _, rest = split_received(got[0].content)
        assert rest == content, f"NUL message changed: {rest!r}"
    else:
        assert 500 <= reply.code < 600, f"NUL in DATA got {reply}"
        assert_nothing_stored(tern, rcv, "nul@origin.test")


def test_lone_dot_line_sent_dot_stuffed(lab):
    rcv, tern = deliverable_lab(lab, wire=True)
    content = message_bytes("dots", body=b"first\r\n.\r\n..\r\n.x\r\nend\r\n")

    tern.send("dots@origin.test", ["user@example.test"], content)

    got = rcv.wait(1)
    assert len(got) == 1, "message not delivered to the wire receiver"
    assert b"\r\nfirst\r\n..\r\n...\r\n..x\r\nend\r\n.\r\n" in got[0].wire, \
        f"dots not stuffed on the wire: {got[0].wire[-80:]!r}"
    _, rest = split_received(got[0].content)
    assert rest == content, "message changed after unstuffing"


def test_rcpt_before_mail_503(lab):
    tern = lab.tern()
    with session(tern) as c:
        reply = c.command("RCPT TO:<user@example.test>")
    assert reply.code == 503, f"RCPT before MAIL got {reply}"


def test_data_before_rcpt_503(lab):
    tern = lab.tern()
    with session(tern) as c:
        c.expect("MAIL FROM:<order@origin.test>", 250)
        reply = c.command("DATA")
    assert reply.code == 503, f"DATA before RCPT got {reply}"


def test_second_mail_in_transaction_503(lab):
    tern = lab.tern()
    with session(tern) as c:
        c.expect("MAIL FROM:<order@origin.test>", 250)
        reply = c.command("MAIL FROM:<again@origin.test>")
    assert reply.code == 503, f"nested MAIL got {reply}"


def test_mail_before_ehlo_503(lab):
    tern = lab.tern()
    with tern.raw() as c:
        c.greeting()
        reply = c.command("MAIL FROM:<early@origin.test>")
    assert reply.code == 503, f"MAIL before EHLO got {reply}"


def test_unknown_command_500(lab):
    tern = lab.tern()
    with session(tern) as c:
        reply = c.command("FROB something")
        noop = c.command("NOOP")
    assert reply.code == 500, f"unknown command got {reply}"
    assert noop.code == 250


def test_vrfy_252(lab):
    tern = lab.tern()
    with session(tern) as c:
        reply = c.command("VRFY user@example.test")
    assert reply.code == 252, f"VRFY got {reply}"


def test_command_line_too_long_500(lab):
    tern = lab.tern()
    with session(tern) as c:
        reply = c.command("NOOP " + "x" * 2000)
        noop = c.command("NOOP")
    assert reply.code == 500, f"2006-octet command line got {reply}"
    assert noop.code == 250, \
        f"more than one reply to the long line, next reply {noop}"


def test_too_many_recipients_452(lab):
    rcv, tern = deliverable_lab(lab, smtpd={"recipient_limit": 3})
    rcpts = [f"user{i}@example.test" for i in range(4)]

    with session(tern) as c:
        c.expect("MAIL FROM:<many@origin.test>", 250)
        codes = [c.command(f"RCPT TO:<{r}>").code for r in rcpts]
        c.expect("DATA", 354)
        c.send(message_bytes("limit") + b".\r\n")
        final = c.reply()

    assert codes == [250, 250, 250, 452], f"RCPT replies {codes}"
    assert final.code == 250, f"end of DATA got {final}"
    deadline = time.monotonic() + 20
    delivered = []
    while time.monotonic() < deadline and len(delivered) < 3:
        delivered = [a for m in rcv.messages for a in m.rcpt_tos]
        time.sleep(0.1)
    time.sleep(1)
    delivered = sorted(a for m in rcv.messages for a in m.rcpt_tos)
    assert delivered == rcpts[:3], f"delivered to {delivered}"


def ehlo_keywords(reply):
    """The extension keywords of an EHLO reply (RFC 5321 4.1.1.1), upper
    case, without the first line's domain."""
    return [line.split()[0].upper() for line in reply.lines[1:]
            if line.strip()]


def test_starttls_offered_when_configured(lab):
    tern = lab.tern()

    with tern.raw() as c:
        c.greeting()
        before = c.expect("EHLO client.test", 250)
        c.expect("STARTTLS", 220)
        c.start_tls()
        after = c.expect("EHLO client.test", 250)
        again = c.command("STARTTLS")

    assert "STARTTLS" in ehlo_keywords(before), \
        f"STARTTLS not offered with smtpd.tls set: {before}"
    # RFC 3207 4.2: not offered again once TLS is active.
    assert "STARTTLS" not in ehlo_keywords(after), \
        f"STARTTLS offered again inside TLS: {after}"
    assert "PIPELINING" in ehlo_keywords(after), \
        f"EHLO inside TLS lost its other keywords: {after}"
    assert again.code == 503, f"STARTTLS inside TLS got {again}"


def test_starttls_not_offered_without_tls(lab):
    tern = lab.tern(start=False)
    del tern.settings["smtpd"]["tls"]
    tern.write_config()
    tern.start()

    with tern.raw() as c:
        c.greeting()
        ehlo = c.expect("EHLO client.test", 250)
        starttls = c.command("STARTTLS")
        noop = c.command("NOOP")

    assert "STARTTLS" not in ehlo_keywords(ehlo), \
        f"STARTTLS offered without smtpd.tls: {ehlo}"
    assert "PIPELINING" in ehlo_keywords(ehlo), f"EHLO reply {ehlo}"
    assert starttls.code == 502, f"STARTTLS without smtpd.tls got {starttls}"
    assert noop.code == 250, f"session unusable after STARTTLS: {noop}"


@pytest.mark.parametrize("mail, code, dsn", [
    ("MAIL FROM:<size@origin.test> SIZE=10241", 552, "5.3.4"),
    ("MAIL FROM:<size@origin.test> SIZE=99999999999999999999", 552, "5.3.4"),
    ("MAIL FROM:<unclosed@origin.test", 501, None),
    ("MAIL FROM:<two words@origin.test>", 501, None),
    ("MAIL FROM:<no-domain@>", 501, None),
    ("MAIL FROM:<param@origin.test> FROBNICATE=1", 555, None),
    ("MAIL FROM:<param@origin.test> X-TRACE", 555, None),
], ids=["size-over-limit", "size-huge", "unclosed-path", "space-in-path",
        "empty-domain", "unknown-param", "unknown-param-no-value"])
def test_mail_from_rejected(lab, mail, code, dsn):
    tern = lab.tern(smtpd={"message_size_limit": 10240})

    with session(tern) as c:
        reply = c.command(mail)
        rcpt = c.command("RCPT TO:<user@example.test>")
        retry = c.command("MAIL FROM:<fine@origin.test>")

    assert reply.code == code, f"{mail!r} got {reply}, expected {code}"
    if dsn is not None:
        assert reply.lines[0].startswith(dsn), \
            f"{mail!r} got {reply}, expected enhanced code {dsn}"
    assert rcpt.code == 503, \
        f"RCPT after the rejected MAIL got {rcpt}: the sender was kept"
    assert retry.code == 250, f"a valid MAIL afterwards got {retry}"


def test_mail_from_size_at_limit_accepted(lab):
    tern = lab.tern(smtpd={"message_size_limit": 10240})

    with session(tern) as c:
        reply = c.command("MAIL FROM:<size@origin.test> SIZE=10240")

    assert reply.code == 250, f"SIZE equal to the limit got {reply}"


# RFC 5321 6.3: smtpd rejects a message that already carries this many
# Received header fields, not counting the one it adds itself.
HOP_LIMIT = 50


def looping_message(hops, subject):
    """A message whose header starts with hops Received fields, each folded
    over three lines as MTAs write them. The header also has fields named
    like Received and the body has lines that start with "Received:",
    none of which is a Received header field."""
    fields = b"".join(
        b"Received: from hop%d.test (hop%d.test [127.0.0.%d])\r\n"
        b"\tby hop%d.test with ESMTP id H%d\r\n"
        b"\tfor <user@example.test>; Thu, 03 Dec 2026 10:00:00 +0000\r\n"
        % (i, i, i % 250 + 1, i + 1, i) for i in range(hops))
    body = (b"Quoted trace of an earlier message:\r\n\r\n"
            b"Received: from quoted.test\r\nReceived: from quoted2.test\r\n")
    return fields + message_bytes(
        subject, body=body, extra=b"X-Received: by filter.test\r\n"
        b"Received-SPF: pass\r\n")


def test_hop_limit_50_received_rejected(lab):
    rcv, tern = deliverable_lab(lab)
    content = looping_message(HOP_LIMIT, "mail loop")

    with session(tern) as c:
        reply = c.transaction("loop@origin.test", ["user@example.test"],
                              content + b".\r\n")
        noop = c.command("NOOP")

    assert reply.code == 554, f"message with {HOP_LIMIT} Received got {reply}"
    assert reply.lines[0] == (f"5.4.6 Too many hops ({HOP_LIMIT} Received "
                              "headers): mail loop"), f"reply {reply}"
    assert noop.code == 250, f"more than one reply to the message: {noop}"
    assert_nothing_stored(tern, rcv, "loop@origin.test")
    rejected = tern.log_lines(r": reject: DATA from \[127\.0\.0\.1\]: "
                              r"554 5\.4\.6 Too many hops \(50 Received")
    assert len(rejected) == 1, f"reject log lines: {rejected}"


def test_hop_limit_49_received_accepted(lab):
    rcv, tern = deliverable_lab(lab)
    content = looping_message(HOP_LIMIT - 1, "long route")

    tern.send("route@origin.test", ["user@example.test"], content)

    got = rcv.wait(1)
    assert len(got) == 1, \
        f"message with {HOP_LIMIT - 1} Received fields not delivered"
    _, rest = split_received(got[0].content)
    assert rest == content, "the message changed on the way"


# ---- RFC 3461 DSN parameters

# The queue's values for RFC 3461 (queue/queue.h): NOTIFY bits and RET.
NOTIFY_NEVER, NOTIFY_SUCCESS, NOTIFY_FAILURE, NOTIFY_DELAY = 1, 2, 4, 8
RET_UNSPECIFIED, RET_FULL, RET_HDRS = 0, 1, 2
# RFC 3461 4.2 and 4.4: ORCPT and ENVID octets as received.
ORCPT_MAX, ENVID_MAX = 500, 100


def test_ehlo_advertises_dsn(lab):
    tern = lab.tern()

    with tern.raw() as c:
        c.greeting()
        ehlo = c.expect("EHLO client.test", 250)

    assert "DSN" in ehlo_keywords(ehlo), f"DSN not offered: {ehlo}"


@pytest.mark.parametrize("params", [
    "RET=FULL",
    "ret=hdrs",
    "ENVID=QQ314159",
    "ENVID=a+2Bb+3Dc RET=Hdrs",
    "RET=FULL SIZE=100 BODY=8BITMIME ENVID=x",
    "ENVID=" + "e" * ENVID_MAX,
], ids=["ret-full", "ret-lower-case", "envid", "envid-xtext-and-ret",
        "with-size-and-body", "envid-at-limit"])
def test_mail_dsn_parameters_accepted(lab, params):
    tern = lab.tern()

    with session(tern) as c:
        mail = c.command(f"MAIL FROM:<dsn@origin.test> {params}")
        rcpt = c.command("RCPT TO:<user@example.test>")

    assert mail.code == 250, f"MAIL with {params!r} got {mail}"
    assert rcpt.code == 250, f"RCPT after MAIL with {params!r} got {rcpt}"


@pytest.mark.parametrize("params, code, text", [
    ("RET=NONE", 501, "5.5.4 Invalid RET parameter"),
    ("RET", 501, "5.5.4 Invalid RET parameter"),
    ("RET=FULL RET=HDRS", 501, "5.5.4 Invalid parameters: one is given "
     "twice"),
    ("ENVID=a+2b", 501, "5.5.4 Invalid ENVID parameter"),
    ("ENVID=a+2", 501, "5.5.4 Invalid ENVID parameter"),
    ("ENVID=a+0D+0AX-Injected:+20yes", 501, "5.5.4 Invalid ENVID parameter"),
    ("ENVID=" + "e" * (ENVID_MAX + 1), 501, "5.5.4 Invalid ENVID parameter"),
    ("ENVID=a ENVID=b", 501, "5.5.4 Invalid parameters: one is given twice"),
    ("NOTIFY=NEVER", 555, "5.5.4 Unsupported parameter"),
    ("ORCPT=rfc822;user@example.test", 555, "5.5.4 Unsupported parameter"),
], ids=["ret-unknown", "ret-no-value", "ret-twice", "envid-lower-case-hex",
        "envid-short-hexchar", "envid-encoded-crlf", "envid-too-long",
        "envid-twice", "notify-on-mail", "orcpt-on-mail"])
def test_mail_dsn_parameters_rejected(lab, params, code, text):
    tern = lab.tern()

    with session(tern) as c:
        reply = c.command(f"MAIL FROM:<dsn@origin.test> {params}")
        rcpt = c.command("RCPT TO:<user@example.test>")
        retry = c.command("MAIL FROM:<fine@origin.test> RET=HDRS")

    assert reply.code == code, f"MAIL with {params!r} got {reply}"
    assert reply.lines[0].startswith(text), \
        f"MAIL with {params!r} got {reply}, expected {text!r}"
    assert rcpt.code == 503, \
        f"RCPT after the rejected MAIL got {rcpt}: the sender was kept"
    assert retry.code == 250, f"a valid MAIL afterwards got {retry}"


@pytest.mark.parametrize("params", [
    "NOTIFY=NEVER",
    "notify=success,Failure,DELAY",
    "NOTIFY=DELAY",
    "ORCPT=rfc822;user@example.test",
    "ORCPT=RFC822;User+2Btag@Example.TEST NOTIFY=FAILURE",
    "ORCPT=rfc822;" + "o" * (ORCPT_MAX - len("rfc822;")),
], ids=["never", "all-three-mixed-case", "delay", "orcpt",
        "orcpt-xtext-and-notify", "orcpt-at-limit"])
def test_rcpt_dsn_parameters_accepted(lab, params):
    tern = lab.tern()

    with session(tern) as c:
        c.expect("MAIL FROM:<dsn@origin.test>", 250)
        reply = c.command(f"RCPT TO:<user@example.test> {params}")

    assert reply.code == 250, f"RCPT with {params!r} got {reply}"


@pytest.mark.parametrize("params, code, text", [
    ("NOTIFY=NEVER,SUCCESS", 501, "5.5.4 Invalid NOTIFY parameter"),
    ("NOTIFY=DELAY,never", 501, "5.5.4 Invalid NOTIFY parameter"),
    ("NOTIFY=SOMETIMES", 501, "5.5.4 Invalid NOTIFY parameter"),
    ("NOTIFY=SUCCESS,", 501, "5.5.4 Invalid NOTIFY parameter"),
    ("NOTIFY=SUCCESS NOTIFY=DELAY", 501,
     "5.5.4 Invalid parameters: one is given twice"),
    ("ORCPT=user@example.test", 501, "5.5.4 Invalid ORCPT parameter"),
    ("ORCPT=rfc822;user+2x@example.test", 501,
     "5.5.4 Invalid ORCPT parameter"),
    ("ORCPT=rfc822;user+0A@example.test", 501,
     "5.5.4 Invalid ORCPT parameter"),
    ("ORCPT=rfc822;" + "o" * (ORCPT_MAX - len("rfc822;") + 1), 501,
     "5.5.4 Invalid ORCPT parameter"),
    ("ORCPT=rfc822;a@example.test ORCPT=rfc822;b@example.test", 501,
     "5.5.4 Invalid parameters: one is given twice"),
    ("RET=FULL", 555, "5.5.4 Unsupported parameter"),
    ("ENVID=x", 555, "5.5.4 Unsupported parameter"),
], ids=["never-and-success", "delay-and-never", "unknown-keyword",
        "trailing-comma", "notify-twice", "orcpt-without-type",
        "orcpt-bad-hexchar", "orcpt-encoded-lf", "orcpt-too-long",
        "orcpt-twice", "ret-on-rcpt", "envid-on-rcpt"])
def test_rcpt_dsn_parameters_rejected(lab, params, code, text):
    rcv, tern = deliverable_lab(lab)

    with session(tern) as c:
        c.expect("MAIL FROM:<baddsn@origin.test>", 250)
        reply = c.command(f"RCPT TO:<rejected@example.test> {params}")
        good = c.command("RCPT TO:<kept@example.test>")
        c.expect("DATA", 354)
        c.send(message_bytes("DSN parameters") + b".\r\n")
        final = c.reply()

    assert reply.code == code, f"RCPT with {params!r} got {reply}"
    assert reply.lines[0].startswith(text), \
        f"RCPT with {params!r} got {reply}, expected {text!r}"
    assert good.code == 250, f"a valid RCPT afterwards got {good}"
    assert final.code == 250, f"end of DATA got {final}"
    got = rcv.wait(1)
    assert [m.rcpt_tos for m in got] == [["kept@example.test"]], \
        f"the rejected recipient was kept: {got}"


def queued_id(reply):
    """The queue id in "250 2.0.0 Ok: queued as QUEUEID"."""
    words = reply.lines[-1].split()
    assert reply.code == 250, f"end of DATA got {reply}"
    assert words[-2:-1] == ["as"], f"no queue id in {reply}"
    return words[-1]


def test_dsn_parameters_stored(lab):
    """Needs the queue's schema version 2, whose messages and recipients
    tables have the envid, ret, notify and orcpt columns."""
    # A receiver that replies 451 to every message keeps the recipients
    # queued, so their rows can be read.
    rcv = lab.receiver("127.0.0.2", temp_failures=1000)
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    tern = lab.tern()

    with session(tern) as c:
        c.expect("MAIL FROM:<dsn@origin.test> RET=HDRS ENVID=Env+2BID.42",
                 250)
        c.expect("RCPT TO:<one@example.test> NOTIFY=success,DELAY "
                 "ORCPT=rfc822;One+2Btag@Example.TEST", 250)
        c.expect("RCPT TO:<two@example.test> NOTIFY=NEVER", 250)
        c.expect("RCPT TO:<three@example.test>", 250)
        # The same address again: the first RCPT's parameters stay.
        c.expect("RCPT TO:<two@example.test> NOTIFY=FAILURE", 250)
        c.expect("DATA", 354)
        c.send(message_bytes("DSN kept") + b".\r\n")
        with_dsn = queued_id(c.reply())
        # The next transaction on the session starts without them.
        reply = c.transaction("plain@origin.test", ["four@example.test"],
                              message_bytes("no DSN") + b".\r\n")
        plain = queued_id(reply)

    messages = tern.queue_query(
        "SELECT queue_id, envid, ret FROM messages ORDER BY queue_id")
    recipients = tern.queue_query(
        "SELECT m.queue_id, r.address, r.notify, r.orcpt FROM recipients r "
        "JOIN messages m ON m.id = r.message_id ORDER BY r.address")

    assert sorted(messages) == sorted([
        [with_dsn, "Env+2BID.42", RET_HDRS],
        [plain, "", RET_UNSPECIFIED]]), f"messages rows {messages}"
    assert recipients == [
        [plain, "four@example.test", 0, ""],
        [with_dsn, "one@example.test", NOTIFY_SUCCESS | NOTIFY_DELAY,
         "rfc822;One+2Btag@Example.TEST"],
        [with_dsn, "three@example.test", 0, ""],
        [with_dsn, "two@example.test", NOTIFY_NEVER, ""],
    ], f"recipients rows {recipients}"
    assert rcv.messages == [], f"the 451 receiver accepted {rcv.messages}"
