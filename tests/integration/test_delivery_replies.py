"""How deliver acts on each reply of the receiving server. ScriptedReceiver
(peers.py) sends the greeting and the replies to EHLO, each RCPT and the
final dot that a test chooses. It can also hold pipelined replies back or
drop the connection in the middle of the message data. The last tests
cover a resolver that cannot be queried and the end of a message's
lifetime.

The test configuration retries after 1 s and at most 2 s apart, so a test
that checks that nothing is retried waits 2.5 s after the outcome."""

import re
import socket
import threading
import time

import pytest

from peers import ScriptedReceiver, message_bytes, pick_port
from test_delivery import assert_arrived_intact, relay_line

# Longer than the test configuration's max_delay: a retry shows by then.
RETRY_WINDOW = 2.5


def scripted(lab, address, **behaviour):
    """A ScriptedReceiver on address at the lab's delivery port, stopped
    with the lab."""
    rcv = ScriptedReceiver(address, lab.port, **behaviour).start()
    lab.peers.append(rcv)
    return rcv


def example_dns(lab, *addresses):
    """MX hosts mx1.example.test, mx2.example.test, ... at the given
    addresses with preferences 10, 20, ..., and an MX for origin.test at
    127.0.0.5 with a receiver there, in case a bounce is sent."""
    lab.receiver("127.0.0.5")
    mx = {"origin.test": [(10, "mx.origin.test")], "example.test": []}
    hosts = {"mx.origin.test": ["127.0.0.5"]}
    for i, address in enumerate(addresses, 1):
        mx["example.test"].append((10 * i, f"mx{i}.example.test"))
        hosts[f"mx{i}.example.test"] = [address]
    return lab.dns(mx=mx, hosts=hosts)


def outcomes(tern, qid, rcpt):
    """deliver's log lines for rcpt of qid that carry a status=, in
    order."""
    return tern.log_lines(rf"{qid}: to=<{re.escape(rcpt)}>, relay=.*status=")


def assert_not_retried(tern, qid):
    time.sleep(RETRY_WINDOW)
    retries = tern.log_lines(rf"{qid}: to=<[^>]*>, retry in")
    assert not retries, f"retried: {retries}"


def assert_not_given_up(tern, qid):
    """Within RETRY_WINDOW, no outcome of qid bounced the message and qmgr
    did not remove it."""
    time.sleep(RETRY_WINDOW)
    ended = tern.log_lines(rf"{qid}: (.*status=bounced|removed)")
    assert not ended, f"the message was given up: {ended}"


# ------------------------------------------------------------ greeting

@pytest.mark.parametrize("greeting", [
    b"421 4.3.2 mx1.example.test Service not available, closing channel",
    b"450 4.7.1 mx1.example.test Try again later",
], ids=["421", "450"])
def test_greeting_4xx_moves_to_next_mx(lab, greeting):
    first = scripted(lab, "127.0.0.2", greeting=greeting)
    second = lab.receiver("127.0.0.3")
    example_dns(lab, "127.0.0.2", "127.0.0.3")
    tern = lab.tern()
    content = message_bytes("greeting 4xx")

    qid = tern.send("greeting@origin.test", ["user@example.test"], content)

    # RFC 5321 5.1: a host that rejects the connection is skipped.
    got = second.wait(1)
    assert len(got) == 1, "the second MX did not get the message"
    assert_arrived_intact(got[0], content)
    tern.wait_log(relay_line(qid, "user@example.test", "mx2.example.test",
                             "127.0.0.3", lab.port))
    assert first.connections >= 1, "the first MX was never contacted"
    assert first.commands(b"MAIL") == [], \
        f"MAIL sent after a {greeting[:3]!r} greeting: {first.sessions}"
    deferred = tern.log_lines(rf"{qid}: .*status=deferred")
    assert not deferred, f"deferred instead of using the second MX: " \
        f"{deferred}"


# ------------------------------------------------------------ EHLO

@pytest.mark.parametrize("reply", [
    b"500 5.5.1 Command unrecognized: EHLO",
    b"502 5.5.2 Command not implemented",
], ids=["500", "502"])
def test_ehlo_rejected_falls_back_to_helo(lab, reply):
    rcv = scripted(lab, "127.0.0.2", ehlo_reply=reply)
    example_dns(lab, "127.0.0.2")
    tern = lab.tern()
    content = message_bytes("HELO fallback")

    qid = tern.send("helo@origin.test", ["user@example.test"], content)

    got = rcv.wait(1)
    assert len(got) == 1, f"not delivered after EHLO got {reply[:3]!r}: " \
        f"{rcv.sessions}"
    assert_arrived_intact(got[0], content)
    verbs = [line.split()[0].upper() for line in rcv.sessions[0][:3]]
    assert verbs == [b"EHLO", b"HELO", b"MAIL"], \
        f"first commands of the session: {rcv.sessions[0]}"
    mail = rcv.commands(b"MAIL")[0]
    assert b"SIZE=" not in mail.upper(), \
        f"MAIL used SIZE, which a HELO server does not offer: {mail!r}"
    tern.wait_log(relay_line(qid, "user@example.test", "mx1.example.test",
                             "127.0.0.2", lab.port))


def test_ehlo_reply_with_mixed_codes_deferred(lab):
    # RFC 5321 4.2.1: every line of a multi-line reply carries the same
    # code, so "250-" then "550 " is a malformed reply, not a 250.
    rcv = scripted(lab, "127.0.0.2", ehlo_reply=b"250-evil\r\n550 mixed")
    example_dns(lab, "127.0.0.2")
    tern = lab.tern()
    rcpt = "user@example.test"

    qid = tern.send("mixed@origin.test", [rcpt], message_bytes("mixed"))

    line = tern.wait_log(
        rf"{qid}: to=<{re.escape(rcpt)}>, relay=.*dsn=4\.4\.2, "
        r"status=deferred \(malformed reply line from .* while waiting "
        r"for reply to EHLO\)").group(0)
    tern.wait_log(rf"{qid}: to=<{re.escape(rcpt)}>, retry in \d+s")
    assert rcv.commands(b"MAIL") == [], \
        f"MAIL sent after an EHLO reply with mixed codes ({line}): " \
        f"{rcv.sessions}"
    assert rcv.messages == [], f"receiver recorded {rcv.messages}"
    assert tern.queue_counts() == (1, 1), \
        f"queue after the deferral: {tern.recipients()}"


# ------------------------------------------------------------ RCPT

@pytest.mark.parametrize("pipelining", [False, True],
                         ids=["one-by-one", "pipelined"])
def test_rcpt_550_for_one_of_two(lab, pipelining):
    rejection = (b"550 5.1.1 <gone@example.test>: Recipient address "
               b"rejected: User unknown")
    rcv = scripted(lab, "127.0.0.2", pipelining=pipelining,
                   rcpt_replies={"gone@example.test": rejection})
    example_dns(lab, "127.0.0.2")
    tern = lab.tern()
    content = message_bytes("one RCPT refused")

    qid = tern.send("split@origin.test",
                    ["kept@example.test", "gone@example.test"], content)

    got = rcv.wait(1)
    assert len(got) == 1, "the accepted recipient got no message"
    assert got[0].rcpt_tos == ["kept@example.test"], \
        f"envelope recipients {got[0].rcpt_tos}"
    assert_arrived_intact(got[0], content)
    tern.wait_log(relay_line(qid, "kept@example.test", "mx1.example.test",
                             "127.0.0.2", lab.port))
    tern.wait_log(rf"{qid}: to=<gone@example\.test>, "
                  rf"relay=mx1\.example\.test\[127\.0\.0\.2\]:{lab.port}, "
                  r".*dsn=5\.1\.1, status=bounced \(.*User unknown")
    tern.wait_queue_empty()
    assert_not_retried(tern, qid)
    for rcpt in ("kept@example.test", "gone@example.test"):
        lines = outcomes(tern, qid, rcpt)
        assert len(lines) == 1, f"{rcpt}: expected one outcome, got {lines}"
    rcpts = rcv.commands(b"RCPT")
    assert len(rcpts) == 2, f"RCPT commands: {rcpts}"
    assert len(rcv.messages) == 1, f"receiver got {rcv.messages}"


def test_rcpt_452_sent_in_new_transaction(lab):
    # RFC 5321 4.5.3.1.10: 452 for too many recipients; the client sends
    # the others in a new transaction, here at once on the same
    # connection.
    rcv = scripted(lab, "127.0.0.2", rcpt_replies={
        "second@example.test": [b"452 4.5.3 Error: too many recipients",
                                b"250 2.1.5 Ok"]})
    example_dns(lab, "127.0.0.2")
    tern = lab.tern()
    content = message_bytes("452 for one RCPT")

    qid = tern.send("busy@origin.test",
                    ["first@example.test", "second@example.test"], content)

    got = rcv.wait(2)
    assert [m.rcpt_tos for m in got] == [["first@example.test"],
                                         ["second@example.test"]], \
        f"envelopes {[m.rcpt_tos for m in got]}"
    for message in got:
        assert_arrived_intact(message, content)
    tern.wait_queue_empty()
    for rcpt in ("first@example.test", "second@example.test"):
        lines = outcomes(tern, qid, rcpt)
        assert len(lines) == 1 and "status=sent" in lines[0], \
            f"{rcpt}: expected one sent line, got {lines}"
    assert len(rcv.sessions) == 1, f"sessions {rcv.sessions}"


# ------------------------------------------------------------ final dot

def test_5xx_after_dot_bounces_all(lab):
    rcv = scripted(lab, "127.0.0.2",
                   dot_replies=[b"554 5.6.0 Message content rejected"])
    example_dns(lab, "127.0.0.2")
    tern = lab.tern()
    rcpts = ["a@example.test", "b@example.test"]

    qid = tern.send("content@origin.test", rcpts,
                    message_bytes("rejected content"))

    for rcpt in rcpts:
        tern.wait_log(rf"{qid}: to=<{re.escape(rcpt)}>, relay=mx1.*"
                      r"dsn=5\.6\.0, status=bounced \(.*content rejected")
    tern.wait_queue_empty()
    assert_not_retried(tern, qid)
    for rcpt in rcpts:
        lines = outcomes(tern, qid, rcpt)
        assert len(lines) == 1, f"{rcpt}: expected one outcome, got {lines}"
    assert rcv.dot_attempts == 1, \
        f"the message was sent {rcv.dot_attempts} times"
    assert rcv.messages == [], f"receiver recorded {rcv.messages}"


def test_4xx_after_dot_retried(lab):
    rcv = scripted(lab, "127.0.0.2",
                   dot_replies=[b"451 4.3.0 Local error, try again later",
                                b"250 2.0.0 Ok: recorded"])
    example_dns(lab, "127.0.0.2")
    tern = lab.tern()
    rcpts = ["a@example.test", "b@example.test"]
    content = message_bytes("451 after the dot")

    qid = tern.send("later@origin.test", rcpts, content)

    for rcpt in rcpts:
        tern.wait_log(rf"{qid}: to=<{re.escape(rcpt)}>, relay=mx1.*"
                      r"dsn=4\.3\.0, status=deferred")
        tern.wait_log(rf"{qid}: to=<{re.escape(rcpt)}>, retry in \d+s")
    got = rcv.wait(1)
    assert len(got) == 1, "message not delivered after the 451"
    assert sorted(got[0].rcpt_tos) == rcpts, \
        f"envelope recipients {got[0].rcpt_tos}"
    assert_arrived_intact(got[0], content)
    for rcpt in rcpts:
        tern.wait_log(relay_line(qid, rcpt, "mx1.example.test", "127.0.0.2",
                                 lab.port))
    tern.wait_queue_empty()
    assert rcv.dot_attempts == 2, \
        f"receiver saw {rcv.dot_attempts} final dots, expected 2"


# ------------------------------------------------------------ PIPELINING

def test_pipelining_used_when_offered(lab):
    # The receiver replies to MAIL and RCPT only once DATA has arrived, as
    # RFC 2920 3.1 allows. A client that waits for the reply to MAIL
    # before it sends RCPT hits the 3 s deadline, and the receiver closes
    # the connection.
    rcv = scripted(lab, "127.0.0.2", pipelining=True, withhold=True,
                   withhold_deadline=3)
    example_dns(lab, "127.0.0.2")
    tern = lab.tern()
    rcpts = ["a@example.test", "b@example.test"]
    content = message_bytes("pipelined")

    qid = tern.send("pipe@origin.test", rcpts, content)

    got = rcv.wait(1, timeout=10)
    assert rcv.deadlines_missed == 0, \
        f"tern waited for a reply before sending DATA: {rcv.sessions}"
    assert len(got) == 1, "message not delivered to the pipelining receiver"
    assert sorted(got[0].rcpt_tos) == rcpts, \
        f"envelope recipients {got[0].rcpt_tos}"
    assert_arrived_intact(got[0], content)
    for rcpt in rcpts:
        tern.wait_log(relay_line(qid, rcpt, "mx1.example.test", "127.0.0.2",
                                 lab.port))


# ------------------------------------------------------------ lost connection

def test_connection_lost_in_data_deferred(lab):
    # The receiver closes after 64 KiB of a 1 MB message, so the drop
    # comes while tern is still writing the content.
    rcv = scripted(lab, "127.0.0.2", drop_data=1, drop_after=65536)
    example_dns(lab, "127.0.0.2")
    tern = lab.tern()
    line = b"0123456789" * 7 + b"\r\n"
    content = message_bytes("dropped in DATA", body=line * 14000)
    rcpt = "user@example.test"

    qid = tern.send("drop@origin.test", [rcpt], content)

    tern.wait_log(rf"{qid}: to=<{re.escape(rcpt)}>, relay=mx1.*"
                  r"dsn=4\.\d+\.\d+, status=deferred")
    got = rcv.wait(1)
    assert len(got) == 1, "message not delivered after the dropped session"
    assert_arrived_intact(got[0], content)
    tern.wait_log(relay_line(qid, rcpt, "mx1.example.test", "127.0.0.2",
                             lab.port))
    tern.wait_queue_empty()
    lines = outcomes(tern, qid, rcpt)
    statuses = [re.search(r"status=(\w+)", ln).group(1) for ln in lines]
    assert statuses[0] == "deferred", f"first outcome: {lines}"
    assert statuses.count("sent") == 1, f"outcomes: {lines}"
    assert statuses[-1] == "sent", f"outcomes: {lines}"
    assert len(rcv.sessions) >= 2, f"sessions: {rcv.sessions}"
    assert rcv.dot_attempts == 1, \
        "the dropped session reached the final dot, so the drop was " \
        "not in the middle of the data"


# ------------------------------------------------------------ DNS

def test_nxdomain_bounces_512(lab):
    # dnsmasq returns NXDOMAIN for names under .test that it has no
    # record for.
    example_dns(lab)
    tern = lab.tern()
    rcpt = "user@nowhere.test"

    qid = tern.send("nx@origin.test", [rcpt], message_bytes("NXDOMAIN"))

    tern.wait_log(rf"{qid}: to=<{re.escape(rcpt)}>, relay=none, .*"
                  r"dsn=5\.1\.2, status=bounced", timeout=10)
    tern.wait_log(rf"{qid}: removed", timeout=10)
    tern.wait_queue_empty()
    assert_not_retried(tern, qid)
    lines = outcomes(tern, qid, rcpt)
    assert len(lines) == 1, f"expected one outcome, got {lines}"


def test_unusable_resolver_defers(lab):
    # Linux does not let a UDP socket connect to the broadcast address
    # 127.255.255.255 (EACCES without SO_BROADCAST), so c-ares fails the
    # MX query before sending it. smtpd accepted the message with 250, so
    # it must wait in the queue, not bounce as if the domain did not
    # exist.
    port = pick_port(["127.0.0.1"], udp=True)
    tern = lab.tern(resolver={"servers": [f"127.255.255.255:{port}"]})
    rcpt = "user@example.test"

    qid = tern.send("nodns@origin.test", [rcpt], message_bytes("no DNS"))

    tern.wait_log(rf"{qid}: to=<{re.escape(rcpt)}>, relay=none, .*"
                  r"dsn=4\.4\.3, status=deferred \(.*name=example\.test "
                  r"type=MX: no resolver could be queried\)", timeout=10)
    tern.wait_log(rf"{qid}: to=<{re.escape(rcpt)}>, retry in \d+s",
                  timeout=10)
    assert_not_given_up(tern, qid)
    assert tern.queue_counts() == (1, 1), \
        f"queue after the deferral: {tern.recipients()}"


class NotauthDns:
    """A UDP DNS server on loopback that answers every query with RCODE 9
    (NOTAUTH) and no records: a server error, not an answer."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                query, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            if len(query) < 12:
                continue
            # Same id and question; QR=1, RCODE=9; no answer records.
            header = query[:2] + bytes([0x84 | (query[2] & 0x01), 0x09])
            counts = query[4:6] + b"\0\0\0\0\0\0"
            self.sock.sendto(header + counts + query[12:], peer)

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def test_unexpected_rcode_defers(lab):
    port = pick_port(["127.0.0.1"], udp=True)
    dns = NotauthDns(port)
    try:
        tern = lab.tern(resolver={"servers": [f"127.0.0.1:{port}"]})
        rcpt = "user@example.test"

        qid = tern.send("notauth@origin.test", [rcpt],
                        message_bytes("NOTAUTH"))

        tern.wait_log(rf"{qid}: to=<{re.escape(rcpt)}>, relay=none, .*"
                      r"dsn=4\.4\.3, status=deferred", timeout=10)
        assert_not_given_up(tern, qid)
        assert tern.queue_counts() == (1, 1), \
            f"queue after the deferral: {tern.recipients()}"
    finally:
        dns.close()


# ------------------------------------------------------------ lifetime

def test_lifetime_end_returns_the_message(lab):
    # The receiver replies 451 after the dot every time, so the message
    # stays deferred until its 3 s lifetime ends.
    rcv = scripted(lab, "127.0.0.2",
                   dot_replies=[b"451 4.3.0 Try again later"])
    example_dns(lab, "127.0.0.2")
    tern = lab.tern(retry={"lifetime": "3s"})
    rcpt = "user@example.test"

    qid = tern.send("expiry@origin.test", [rcpt], message_bytes("expiry"))

    line = tern.wait_log(rf"{qid}: to=<{re.escape(rcpt)}>, status=expired"
                         r".*$", timeout=20).group(0)
    assert re.search(r"status=expired, returned to sender \(delivery time "
                     r"expired after 3s: .*451 4\.3\.0 Try again later",
                     line), f"expiry line: {line}"
    tern.wait_log(rf"{qid}: sender non-delivery notification: [0-9A-F]{{16}}")
    tern.wait_queue_empty()
    assert rcv.messages == [], f"receiver recorded {rcv.messages}"
