"""Inbound SPF in tern's smtpd: real SMTP clients bound to 127.0.0.9,
outside relay_networks = ["127.0.0.1/32"], send mail for example.test
(a relay domain, so outside clients may send to it). dnsmasq serves the
senders' SPF records; a receiver at 127.0.0.2, example.test's MX host,
shows the header fields tern added."""

import email.parser
import email.policy
import re
import smtplib
import socket

from peers import Dnsmasq, RawClient, message_bytes, pick_port, wait_for

OUTSIDE = "127.0.0.9"
INSIDE = "127.0.0.1"
HOSTNAME = "tern.test"

# Sender domain -> (its TXT records, the SPF result for OUTSIDE).
RECORDS = {
    "pass.test": (["v=spf1 ip4:127.0.0.9 -all"], "pass"),
    "fail.test": (["v=spf1 ip4:192.0.2.1 -all"], "fail"),
    "softfail.test": (["v=spf1 ip4:192.0.2.1 ~all"], "softfail"),
    "neutral.test": (["v=spf1 ?all"], "neutral"),
    "none.test": ([], "none"),
    "permerror.test": (["v=spf1 bogus:example.test -all"], "permerror"),
}
# The HELO names of the null-sender tests.
HELO_RECORDS = {
    "helo-pass.test": ["v=spf1 ip4:127.0.0.9 -all"],
    "helo-fail.test": ["v=spf1 -all"],
}
# SPF lookups for names under this domain go to a server that never
# replies, so they time out (temperror).
SLOW_DOMAIN = "slow.test"


def start_peers(lab):
    """dnsmasq with the SPF records and example.test's MX, and the
    receiver for example.test; returns the receiver and the DNS server
    that never replies."""
    txt = {domain: records for domain, (records, _) in RECORDS.items()
           if records}
    txt.update(HELO_RECORDS)
    silent = lab.stub_dns(rcode=None)
    lab.dnsmasq = Dnsmasq(
        lab.dir, mx={"example.test": [(10, "mx1.example.test")]},
        hosts={"mx1.example.test": ["127.0.0.2"]}, txt=txt,
        forward={SLOW_DOMAIN: f"127.0.0.1#{silent.port}"}).start()
    return lab.receiver("127.0.0.2"), silent


def spf_tern(lab, spf="check", resolver_timeout=2, extra_listener=None):
    """tern with one listener on lab.smtpd_port whose spf setting is spf,
    and optionally a second listener (address, port, spf)."""
    listeners = [{"address": "127.0.0.1", "port": lab.smtpd_port,
                  "spf": spf}]
    if extra_listener is not None:
        address, port, mode = extra_listener
        listeners.append({"address": address, "port": port, "spf": mode})
    return lab.tern(
        resolver={"timeout": resolver_timeout},
        smtpd={"listeners": listeners, "relay_networks": ["127.0.0.1/32"],
               "relay_domains": ["example.test"]})


def submit(tern, sender, subject, source=OUTSIDE, helo="client.test",
           extra=b"", port=None):
    """Send one message to user@example.test with smtplib from source;
    every reply must be a success."""
    content = message_bytes(subject, extra=extra)
    with smtplib.SMTP(tern.address, port or tern.port, local_hostname=helo,
                      timeout=30, source_address=(source, 0)) as s:
        tern._transaction(s, sender, ["user@example.test"], content)


def by_subject(receiver, count):
    """The receiver's first count messages, parsed, keyed by Subject."""
    messages = receiver.wait(count, timeout=30)
    assert len(messages) >= count, \
        f"receiver got {len(messages)} messages, expected {count}"
    parser = email.parser.BytesParser(policy=email.policy.compat32)
    return {m["Subject"]: m for m in
            (parser.parsebytes(d.content) for d in messages)}


def unfold(value):
    return re.sub(r"\r?\n[ \t]+", " ", value)


def field_names(message):
    return [name.lower() for name in message.keys()]


def own_results(message):
    """The Authentication-Results values whose authserv-id is tern's."""
    values = [unfold(v) for v in message.get_all(
        "Authentication-Results", [])]
    return [v for v in values
            if re.match(rf"\s*{re.escape(HOSTNAME)}\s*;", v, re.I)]


def assert_spf_fields(message, result, identity, domain):
    """Received-SPF and Authentication-Results with result, both above
    tern's Received field, which is the first Received."""
    names = field_names(message)
    assert "received-spf" in names, f"no Received-SPF in {names}"
    assert "received" in names, f"no Received field in {names}"
    assert names.index("received-spf") < names.index("received"), \
        f"Received-SPF is below tern's Received field: {names}"
    spf = unfold(message["Received-SPF"])
    assert re.match(rf"\s*{result}\b", spf, re.I), \
        f"Received-SPF is {spf!r}, expected result {result}"
    assert f"client-ip={OUTSIDE}" in spf, \
        f"Received-SPF lacks client-ip={OUTSIDE}: {spf!r}"
    assert re.search(rf"identity={identity}\b", spf), \
        f"Received-SPF lacks identity={identity}: {spf!r}"

    results = own_results(message)
    assert len(results) == 1, \
        f"expected one Authentication-Results of {HOSTNAME}: {results}"
    assert names.index("authentication-results") < names.index(
        "received"), f"Authentication-Results is below Received: {names}"
    expected = rf"\bspf={result}\b.*\bsmtp\.{identity}={re.escape(domain)}"
    assert re.search(expected, results[0], re.I), \
        f"Authentication-Results is {results[0]!r}, expected {expected}"


# ---------------------------------------------------------------- results

def test_spf_results_in_headers(lab):
    rcv, _ = start_peers(lab)
    tern = spf_tern(lab)
    cases = dict((f"result {domain}", (domain, result))
                 for domain, (_, result) in RECORDS.items())
    cases["result slow"] = (SLOW_DOMAIN, "temperror")

    for subject, (domain, _) in cases.items():
        submit(tern, f"sender@{domain}", subject)
    delivered = by_subject(rcv, len(cases))

    for subject, (domain, result) in cases.items():
        assert subject in delivered, f"{subject!r} not delivered"
        assert_spf_fields(delivered[subject], result, "mailfrom", domain)
        line = rf"NOQUEUE: spf: {result} domain={re.escape(domain)} " \
            rf"client=\[{re.escape(OUTSIDE)}\] identity=mailfrom"
        assert tern.log_lines(line), f"no log line matching {line!r}"


def test_spf_reject_fail_listener(lab):
    start_peers(lab)
    check_port = pick_port(["127.0.0.1"])
    while check_port in (lab.smtpd_port, lab.port):
        check_port = pick_port(["127.0.0.1"])
    tern = spf_tern(lab, spf="reject_fail",
                    extra_listener=("127.0.0.1", check_port, "check"))

    with RawClient(tern.address, tern.port, source=OUTSIDE) as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        rejected = c.command("MAIL FROM:<sender@fail.test>")
        softfail = c.command("MAIL FROM:<sender@softfail.test>")
    with RawClient(tern.address, check_port, source=OUTSIDE) as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        checked = c.command("MAIL FROM:<sender@fail.test>")

    assert rejected.code == 550, f"SPF fail under reject_fail got {rejected}"
    assert rejected.lines[0].startswith("5.7.23 "), \
        f"SPF fail lacks RFC 7372's 5.7.23: {rejected}"
    assert "fail.test" in rejected.text, \
        f"rejection does not name the domain: {rejected}"
    assert OUTSIDE in rejected.text, \
        f"rejection does not name the client address: {rejected}"
    assert softfail.code == 250, f"softfail under reject_fail got {softfail}"
    assert checked.code == 250, f"SPF fail under check got {checked}"
    assert tern.log_lines(r"NOQUEUE: reject: MAIL from \[127\.0\.0\.9\]: "
                          r"550 5\.7\.23"), "the rejection is not logged"


def test_spf_null_sender_checks_helo(lab):
    rcv, _ = start_peers(lab)
    tern = spf_tern(lab, spf="reject_fail")

    submit(tern, "", "null sender", helo="helo-pass.test")
    with RawClient(tern.address, tern.port, source=OUTSIDE) as c:
        c.greeting()
        c.expect("EHLO helo-fail.test", 250)
        rejected = c.command("MAIL FROM:<>")
    message = by_subject(rcv, 1)["null sender"]

    assert_spf_fields(message, "pass", "helo", "helo-pass.test")
    assert rejected.code == 550, \
        f"null sender with a failing HELO name got {rejected}"
    assert "helo-fail.test" in rejected.text, \
        f"rejection does not name the HELO name: {rejected}"


def test_spf_skipped_inside_relay_networks(lab):
    rcv, _ = start_peers(lab)
    tern = spf_tern(lab, spf="reject_fail")

    submit(tern, "insider@fail.test", "inside", source=INSIDE)
    message = by_subject(rcv, 1)["inside"]

    names = field_names(message)
    assert "received-spf" not in names, f"Received-SPF added: {names}"
    assert own_results(message) == [], \
        f"Authentication-Results added: {message.get_all('Authentication-Results')}"
    assert not tern.log_lines(r"spf: "), "SPF was evaluated for 127.0.0.1"


def test_spf_off_listener_adds_nothing(lab):
    rcv, _ = start_peers(lab)
    tern = spf_tern(lab, spf="off")

    submit(tern, "sender@fail.test", "off")
    message = by_subject(rcv, 1)["off"]

    assert "received-spf" not in field_names(message), \
        f"Received-SPF added with spf = off: {field_names(message)}"
    assert not tern.log_lines(r"spf: "), "SPF was evaluated with spf = off"


# ---------------------------------------------------------------- forgery

FORGED = (b"Authentication-Results: tern.test; spf=pass "
          b"smtp.mailfrom=fail.test\r\n"
          b"Authentication-Results: (comment) TERN.TEST.;\r\n"
          b"\tdkim=pass header.d=fail.test\r\n"
          b"Authentication-Results: \"tern.test\"; dmarc=pass\r\n"
          b"Authentication-Results: other.test; spf=fail "
          b"smtp.mailfrom=fail.test\r\n")


def test_forged_auth_results_removed(lab):
    rcv, _ = start_peers(lab)
    tern = spf_tern(lab)

    submit(tern, "sender@fail.test", "forged outside", extra=FORGED)
    submit(tern, "insider@pass.test", "forged inside", source=INSIDE,
           extra=FORGED)
    delivered = by_subject(rcv, 2)

    outside = delivered["forged outside"]
    results = own_results(outside)
    assert len(results) == 1, \
        f"expected only tern's own Authentication-Results: {results}"
    assert re.search(r"\bspf=fail\b", results[0]), \
        f"tern's Authentication-Results is not its own verdict: {results}"
    others = [v for v in outside.get_all("Authentication-Results", [])
              if v.strip().startswith("other.test")]
    assert len(others) == 1, "another host's Authentication-Results " \
        f"was not kept: {outside.get_all('Authentication-Results')}"
    for forged in ("dkim=pass", "dmarc=pass", "spf=pass"):
        assert forged not in outside.as_string(), \
            f"a forged {forged} result was passed on"
    assert own_results(delivered["forged inside"]) == [], \
        "a forged Authentication-Results from 127.0.0.1 was passed on"
    assert tern.log_lines(r": removed 3 Authentication-Results fields "
                          r"that claimed authserv-id tern\.test"), \
        "the removal is not logged"


# ---------------------------------------------------------------- waiting

def test_spf_timeout_does_not_block_others(lab):
    rcv, silent = start_peers(lab)
    # Long enough that the second session surely ends first.
    tern = spf_tern(lab, resolver_timeout=6)

    with RawClient(tern.address, tern.port, source=OUTSIDE,
                   timeout=30) as slow:
        slow.greeting()
        slow.expect("EHLO client.test", 250)
        slow.send(f"MAIL FROM:<sender@{SLOW_DOMAIN}>\r\n".encode())
        # The lookup is in flight once it reaches the silent server.
        assert wait_for(lambda: silent.queries > 0, 10), \
            "the SPF lookup for slow.test never reached its DNS server"

        submit(tern, "sender@pass.test", "while waiting")
        slow.sock.setblocking(False)
        try:
            early = slow.sock.recv(4096)
        except BlockingIOError:
            early = b""
        slow.sock.setblocking(True)
        assert early == b"", "the slow session's MAIL was answered " \
            f"before the other session ended: {early!r}"
        late = slow.reply()

    assert late.code == 250, f"MAIL after a DNS timeout got {late}"
    assert "while waiting" in by_subject(rcv, 1), "message not delivered"
    assert tern.log_lines(rf"spf: temperror domain={SLOW_DOMAIN} "), \
        "the timed-out check is not logged as temperror"


def test_spf_waiting_checks_bounded_per_client(lab):
    """One client cannot queue more than 4 checks behind the 2 that run:
    the next one ends at once in temperror, so others are not held."""
    _, silent = start_peers(lab)
    tern = spf_tern(lab, resolver_timeout=6)
    clients = []
    try:
        for i in range(7):
            c = RawClient(tern.address, tern.port, source=OUTSIDE,
                          timeout=30)
            clients.append(c)
            c.greeting()
            c.expect("EHLO client.test", 250)
            c.send(f"MAIL FROM:<s{i}@{SLOW_DOMAIN}>\r\n".encode())
            if i == 1:
                # Both threads' lookups are in flight: the rest wait.
                assert wait_for(lambda: silent.queries >= 2, 10), \
                    "the two running SPF lookups never reached DNS"
        seventh = clients[6].reply()
        assert seventh.code == 250, f"MAIL past the bound got {seventh}"
        lines = tern.log_lines(rf"spf: temperror domain={SLOW_DOMAIN} .*"
                               r"\(4 SPF checks for this client are "
                               r"waiting already\)")
        assert len(lines) == 1, lines
    finally:
        for c in clients:
            c.close()


def test_spf_pipelined_replies_in_order(lab):
    rcv, _ = start_peers(lab)
    tern = spf_tern(lab, spf="reject_fail")

    with RawClient(tern.address, tern.port, source=OUTSIDE) as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        c.send(b"MAIL FROM:<sender@fail.test>\r\n"
               b"RCPT TO:<user@example.test>\r\n"
               b"DATA\r\n"
               b"MAIL FROM:<sender@pass.test>\r\n"
               b"RCPT TO:<user@example.test>\r\n"
               b"DATA\r\n")
        codes = [c.reply().code for _ in range(6)]
        c.send(message_bytes("pipelined") + b".\r\n")
        queued = c.reply()

    assert codes == [550, 503, 503, 250, 250, 354], \
        f"pipelined replies out of order: {codes}"
    assert queued.code == 250, f"end of DATA got {queued}"
    assert_spf_fields(by_subject(rcv, 1)["pipelined"], "pass", "mailfrom",
                      "pass.test")
