"""Checks of the test peers alone, without tern.

When one of these fails, the tests of tern that use that peer cannot be
trusted either, so these name the part of the harness that broke.
"""

import smtplib
import socket

import dns.flags
import dns.message
import dns.query
import dns.rcode

from peers import RawClient, client_tls_context, message_bytes


def query(server, name, rdtype):
    q = dns.message.make_query(name, rdtype)
    r = dns.query.udp(q, "127.0.0.1", port=server.port, timeout=3)
    return dns.rcode.to_text(r.rcode()), [
        rr.to_text() for rrset in r.answer for rr in rrset]


def test_dnsmasq_serves_records(lab):
    server = lab.dns(
        mx={"example.test": [(10, "mx1.example.test"),
                             (20, "mx2.example.test")],
            "nullmx.test": [(0, ".")]},
        hosts={"mx1.example.test": ["127.0.0.2"],
               "mx2.example.test": ["127.0.0.3"],
               "v6.test": ["::1"]})

    rcode, answer = query(server, "example.test", "MX")
    assert rcode == "NOERROR"
    assert sorted(answer) == ["10 mx1.example.test.", "20 mx2.example.test."]
    assert query(server, "mx1.example.test", "A") == (
        "NOERROR", ["127.0.0.2"])
    assert query(server, "v6.test", "AAAA") == ("NOERROR", ["::1"])
    assert query(server, "nullmx.test", "MX") == ("NOERROR", ["0 ."])


def test_dnsmasq_answers_nodata_and_nxdomain(lab):
    server = lab.dns(hosts={"a-only.test": ["127.0.0.5"]})

    assert query(server, "a-only.test", "MX") == ("NOERROR", []), \
        "a name with only an A record must get an empty MX answer"
    assert query(server, "a-only.test", "AAAA") == ("NOERROR", [])
    assert query(server, "missing.test", "MX") == ("NXDOMAIN", [])


def test_receiver_records_exact_bytes(lab):
    rcv = lab.receiver("127.0.0.2")
    content = message_bytes("exact", b".leading dot\r\nline\r\n")

    with smtplib.SMTP("127.0.0.2", lab.port, timeout=10) as s:
        s.sendmail("a@origin.test", ["b@example.test"], content)

    got = rcv.wait(1, timeout=5)
    assert len(got) == 1
    assert got[0].content == content
    assert got[0].rcpt_tos == ["b@example.test"]
    assert rcv.connections == 1


def test_receiver_fails_then_accepts(lab):
    rcv = lab.receiver("127.0.0.3", temp_failures=1)
    content = message_bytes("retry")

    with smtplib.SMTP("127.0.0.3", lab.port, timeout=10) as s:
        s.ehlo()
        s.mail("a@origin.test")
        s.rcpt("b@example.test")
        code, _ = s.data(content)
        assert code == 451
        s.rset()
        s.mail("a@origin.test")
        s.rcpt("b@example.test")
        code, _ = s.data(content)
        assert code == 250

    assert rcv.data_attempts == 2
    assert len(rcv.messages) == 1


def test_receiver_offers_starttls(lab):
    rcv = lab.receiver("127.0.0.4", tls=True)

    with smtplib.SMTP("127.0.0.4", lab.port, timeout=10) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        s.starttls(context=client_tls_context())
        s.sendmail("a@origin.test", ["b@example.test"], message_bytes("tls"))

    got = rcv.wait(1, timeout=5)
    assert got[0].tls is True


def test_receiver_on_ipv6_loopback(lab):
    rcv = lab.receiver("::1")

    with smtplib.SMTP("::1", lab.port, timeout=10) as s:
        s.sendmail("a@origin.test", ["b@v6.test"], message_bytes("v6"))

    assert len(rcv.wait(1, timeout=5)) == 1


def test_wire_receiver_records_stuffing(lab):
    rcv = lab.wire_receiver("127.0.0.5")
    content = b"Subject: dots\r\n\r\n.\r\n..two\r\nend\r\n"

    with RawClient("127.0.0.5", lab.port) as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        reply = c.transaction("a@origin.test", ["b@example.test"],
                              b"Subject: dots\r\n\r\n..\r\n...two\r\n"
                              b"end\r\n.\r\n")
        assert reply.code == 250

    got = rcv.wait(1, timeout=5)
    assert got[0].wire.endswith(b"\r\n..\r\n...two\r\nend\r\n.\r\n")
    assert got[0].content == content


def test_raw_client_binds_source_address(lab):
    listener = socket.socket()
    listener.bind(("127.0.0.6", lab.port))
    listener.listen(1)
    try:
        client = RawClient("127.0.0.6", lab.port, source="127.0.0.9")
        conn, peer = listener.accept()
        conn.close()
        client.close()
    finally:
        listener.close()
    assert peer[0] == "127.0.0.9"
