"""Checks of the peers that the delivery engine's tests use, without tern:
the ScriptedReceiver's misbehaviour, StubDns, dnsmasq's CNAME and odd MX
records, the test CA and the report parser.

When one of these fails, the tests of tern that use that peer cannot be
trusted either, so these name the part of the harness that broke.
"""

import smtplib
import socket
import ssl
import threading
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from peers import (Delivered, RawClient, message_bytes, server_tls_context,
                   wait_for)
from reports import (SAMPLE_ORIGINAL, assert_report, build_sample_report,
                     parse_report)


def query(server, name, rdtype, timeout=3):
    q = dns.message.make_query(name, rdtype)
    r = dns.query.udp(q, "127.0.0.1", port=server.port, timeout=timeout)
    return dns.rcode.to_text(r.rcode()), [
        rr.to_text() for rrset in r.answer for rr in rrset]


# ------------------------------------------------------------ DNS

def test_dnsmasq_serves_cname_and_odd_mx(lab):
    server = lab.dns(
        mx={"cname.test": [(10, "alias.cname.test")],
            "ipmx.test": [(10, "127.0.0.2")]},
        hosts={"real.cname.test": ["127.0.0.3"]},
        cnames={"alias.cname.test": "real.cname.test"},
        local_zones=["2"])

    assert query(server, "cname.test", "MX") == (
        "NOERROR", ["10 alias.cname.test."])
    assert query(server, "alias.cname.test", "A") == (
        "NOERROR", ["real.cname.test.", "127.0.0.3"])
    assert query(server, "ipmx.test", "MX") == ("NOERROR", ["10 127.0.0.2."])
    # The MX target "127.0.0.2." is a host name in the zone "2", which has
    # no records: a resolver must get NXDOMAIN, not an address.
    assert query(server, "127.0.0.2", "A") == ("NXDOMAIN", [])


def test_stub_dns_servfail(lab):
    stub = lab.stub_dns(rcode=2)

    assert query(stub, "example.test", "MX") == ("SERVFAIL", [])
    assert stub.queries == 1


def test_stub_dns_never_answers(lab):
    stub = lab.stub_dns(rcode=None)

    with pytest.raises(dns.exception.Timeout):
        query(stub, "example.test", "MX", timeout=0.5)
    assert stub.queries == 1


# ------------------------------------------------------------ test CA

def test_ca_certificate_verifies_by_name(lab, test_ca):
    cert, key = test_ca.issue("mx.good.test")
    rcv = lab.scripted("127.0.0.2", starttls="ok",
                       tls_context=server_tls_context(cert, key))

    def handshake(name):
        ctx = ssl.create_default_context(cafile=str(test_ca.cert))
        with RawClient("127.0.0.2", lab.port) as c:
            c.greeting()
            c.expect("EHLO client.test", 250)
            c.expect("STARTTLS", 220)
            c.sock = ctx.wrap_socket(c.sock, server_hostname=name)
            c.expect("EHLO client.test", 250)

    handshake("mx.good.test")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake("mx.other.test")
    assert rcv.commands_in_clear(b"MAIL") == []


# ------------------------------------------------------------ ScriptedReceiver

def test_scripted_mixed_rcpt_replies(lab):
    rcv = lab.scripted("127.0.0.2", dsn=True, rcpt_replies={
        "busy@example.test": b"452 4.5.3 Too many recipients",
        "gone@example.test": b"550 5.1.1 User unknown"})

    with smtplib.SMTP("127.0.0.2", lab.port, timeout=10) as s:
        s.ehlo()
        assert s.has_extn("dsn")
        assert s.mail("a@origin.test", ["RET=HDRS", "ENVID=X"])[0] == 250
        assert s.rcpt("ok@example.test", ["NOTIFY=NEVER"])[0] == 250
        assert s.rcpt("busy@example.test")[0] == 452
        assert s.rcpt("gone@example.test")[0] == 550
        assert s.data(message_bytes("mixed"))[0] == 250

    got = rcv.wait(1, timeout=5)
    assert got[0].rcpt_tos == ["ok@example.test"]
    assert got[0].mail_command.endswith(b"RET=HDRS ENVID=X")
    assert [c.upper() for c in got[0].rcpt_commands] == \
        [b"RCPT TO:<OK@EXAMPLE.TEST> NOTIFY=NEVER"]


@pytest.mark.parametrize("where", ["mail", "rcpt"])
def test_scripted_421_closes(lab, where):
    reply = b"421 4.7.0 Try again later, temporarily deferred"
    if where == "mail":
        rcv = lab.scripted("127.0.0.2", mail_replies=[reply])
    else:
        rcv = lab.scripted("127.0.0.2", rcpt_default=reply)

    with RawClient("127.0.0.2", lab.port) as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        r = c.command("MAIL FROM:<a@origin.test>")
        if where == "rcpt":
            assert r.code == 250
            r = c.command("RCPT TO:<b@example.test>")
        assert r.code == 421
        assert c.sock.recv(100) == b"", "connection still open after 421"
    assert wait_closed(rcv, 1)


def test_scripted_greeting_421_counts_connections(lab):
    rcv = lab.scripted("127.0.0.2", greeting=b"421 4.3.2 Not now")

    for _ in range(3):
        with RawClient("127.0.0.2", lab.port) as c:
            assert c.reply().code == 421
    rcv.greeting = b"220 back again"
    with RawClient("127.0.0.2", lab.port) as c:
        c.greeting()

    assert rcv.connections == 4


@pytest.mark.parametrize("stage", ["greeting", "mail", "rcpt", "data",
                                   "dot"])
def test_scripted_hang(lab, stage):
    rcv = lab.scripted("127.0.0.2", hang_at=stage, hang_sessions=1)
    steps = [("EHLO client.test", 250), ("MAIL FROM:<a@origin.test>", 250),
             ("RCPT TO:<b@example.test>", 250), ("DATA", 354),
             (b"Subject: x\r\n\r\nbody\r\n.", 250)]
    silent_at = {"mail": 1, "rcpt": 2, "data": 3, "dot": 4}

    with RawClient("127.0.0.2", lab.port, timeout=1) as c:
        if stage == "greeting":
            with pytest.raises(socket.timeout):
                c.reply()
        else:
            c.greeting()
            for line, code in steps[:silent_at[stage]]:
                c.expect(line, code)
            line, _ = steps[silent_at[stage]]
            c.send(line.encode() + b"\r\n" if isinstance(line, str)
                   else line + b"\r\n")
            with pytest.raises(socket.timeout):
                c.reply()
    assert rcv.hangs == 1
    assert wait_closed(rcv, 1), "the hanging session did not end when " \
        "the client closed"

    # Only the first session hangs.
    with smtplib.SMTP("127.0.0.2", lab.port, timeout=5) as s:
        s.sendmail("a@origin.test", ["b@example.test"], message_bytes("ok"))
    assert len(rcv.wait(1, timeout=5)) == 1


def test_scripted_hang_in_content_blocks_writer(lab):
    rcv = lab.scripted("127.0.0.2", hang_at="content")

    with RawClient("127.0.0.2", lab.port) as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<a@origin.test>", 250)
        c.expect("RCPT TO:<b@example.test>", 250)
        c.expect("DATA", 354)
        c.sock.setblocking(False)
        sent = 0
        chunk = b"x" * 998 + b"\r\n"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                sent += c.sock.send(chunk)
            except BlockingIOError:
                break
        assert time.monotonic() < deadline, \
            f"wrote {sent} bytes without blocking"
        assert sent < 8_000_000, f"{sent} bytes went out before blocking"
    # The receiver's thread counts the hang; give it a moment.
    assert wait_for(lambda: rcv.hangs == 1, 5), f"hangs {rcv.hangs}"


def test_scripted_starttls_alert(lab):
    rcv = lab.scripted("127.0.0.2", starttls="alert")

    with RawClient("127.0.0.2", lab.port) as c:
        c.greeting()
        ehlo = c.expect("EHLO client.test", 250)
        assert "STARTTLS" in ehlo.lines
        c.expect("STARTTLS", 220)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE"):
            ctx.wrap_socket(c.sock)
    assert rcv.commands(b"MAIL") == []


def test_scripted_starttls_ok(lab, certificate):
    rcv = lab.scripted("127.0.0.2", starttls="ok",
                       tls_context=server_tls_context(*certificate))

    with RawClient("127.0.0.2", lab.port) as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        c.expect("STARTTLS", 220)
        c.start_tls()
        ehlo = c.expect("EHLO client.test", 250)
        assert "STARTTLS" not in ehlo.lines
        reply = c.transaction("a@origin.test", ["b@example.test"],
                              b"Subject: tls\r\n\r\nbody\r\n.\r\n")
        assert reply.code == 250

    got = rcv.wait(1, timeout=5)
    assert got[0].tls is True
    assert rcv.commands_in_clear(b"MAIL") == []
    assert rcv.commands(b"MAIL") == [b"MAIL FROM:<a@origin.test>"]


def test_scripted_tracks_concurrency_and_quit(lab):
    rcv = lab.scripted("127.0.0.2", dot_delay=0.5)

    def one():
        with smtplib.SMTP("127.0.0.2", lab.port, timeout=10) as s:
            s.sendmail("a@origin.test", ["b@example.test"],
                       message_bytes("parallel"))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert rcv.max_active == 3
    assert wait_closed(rcv, 3)
    assert rcv.quits == 3
    assert rcv.session_verbs()[0] == ["EHLO", "MAIL", "RCPT", "DATA",
                                      "QUIT"]


def wait_closed(rcv, count, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rcv.closed >= count:
            return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------ reports

def test_report_parser_reads_sample():
    raw = build_sample_report()

    report = parse_report(raw)

    assert report.subject == "Undelivered Mail Returned to Sender"
    assert report.per_message["reporting-mta"] == "dns; tern.test"
    assert report.per_message["original-envelope-id"] == "QQ+1"
    assert len(report.recipients) == 1
    rcpt = report.recipients[0]
    assert rcpt["final-recipient"] == "rfc822; gone@example.test"
    assert rcpt["original-recipient"] == "rfc822; orig+gone@origin.test"
    assert rcpt["action"] == "failed"
    assert rcpt["status"] == "5.1.1"
    assert report.returned_type == "message/rfc822"
    assert report.returned["Subject"] == "sample"


@pytest.mark.parametrize("returned", ["full", "headers"])
def test_assert_report_accepts_sample(returned):
    delivered = Delivered("<>", ["sender@origin.test"],
                          build_sample_report(returned), None, False)

    assert_report(delivered, sender="sender@origin.test", kind="failed",
                  expected=[{"final": "gone@example.test",
                             "status": r"5\.1\.1",
                             "original": "orig+gone@origin.test",
                             "remote_mta": "mx1.example.test",
                             "diagnostic": r"^550 5\.1\.1 User unknown",
                             "reason": "User unknown"}],
                  original=SAMPLE_ORIGINAL, envid="QQ+1", returned=returned)


def test_assert_report_catches_wrong_field():
    delivered = Delivered("<>", ["sender@origin.test"],
                          build_sample_report().replace(b"Status: 5.1.1",
                                                        b"Status: 4.1.1"),
                          None, False)

    with pytest.raises(AssertionError, match="Status: '4.1.1'"):
        assert_report(delivered, sender="sender@origin.test", kind="failed",
                      expected=[{"final": "gone@example.test",
                                 "status": r"5\.1\.1",
                                 "original": "orig+gone@origin.test",
                                 "remote_mta": "mx1.example.test",
                                 "diagnostic": r"^550 "}],
                      original=SAMPLE_ORIGINAL, envid="QQ+1")
