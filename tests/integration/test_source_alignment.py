"""Source addresses and their reverse DNS: deliver binds the configured
source address and gives its name in EHLO, checks each source's PTR
record, forward confirmation and EHLO match at start-up and on reload
("rdns: ADDRESS: ..." lines), and with delivery.rdns_misaligned =
"refuse" makes no direct delivery from a misaligned address.

dnsmasq gives every --host-record name a PTR record too, so a host
record alone makes an address aligned; ptr= adds a PTR record without an
address.
"""

import re
import signal

from engine_helpers import assert_never_sent, wait_outcome
from peers import Dnsmasq, message_bytes, pick_port
from tern_instance import merge

MX_ADDRESS = "127.0.0.2"
ALIGNED = "127.0.0.6"        # PTR out6.example.test, which has this A
MISALIGNED = "127.0.0.7"     # PTR elsewhere.example.test, no A record


def start_zone(lab, hosts=None, ptr=None):
    """dnsmasq with example.test's MX at MX_ADDRESS, origin.test's MX,
    and the given extra host and PTR records."""
    records = {"mx.example.test": [MX_ADDRESS],
               "mx.origin.test": ["127.0.0.5"]}
    records.update(hosts or {})
    lab.dnsmasq = Dnsmasq(
        lab.dir,
        mx={"example.test": [(10, "mx.example.test")],
            "origin.test": [(10, "mx.origin.test")]},
        hosts=records, ptr=ptr or {}).start()
    return lab.dnsmasq


def default_zone(lab):
    return start_zone(
        lab, hosts={"out6.example.test": [ALIGNED]},
        ptr={"7.0.0.127.in-addr.arpa": "elsewhere.example.test"})


def sources(*pairs):
    return [{"address": a, "ehlo_name": n} for a, n in pairs]


def test_source_address_bound_with_its_ehlo_name(lab):
    rcv = lab.receiver(MX_ADDRESS)
    default_zone(lab)
    tern = lab.tern(delivery={"source_addresses": sources(
        (ALIGNED, "out6.example.test"), ("::1", "v6.example.test"))})
    rcpt = "user@example.test"

    qid = tern.send("bound@origin.test", [rcpt], message_bytes("bound"))

    wait_outcome(tern, qid, rcpt, "sent")
    got = rcv.wait(1)
    assert len(got) == 1, rcv.describe()
    assert got[0].peer[0] == ALIGNED, \
        f"connection came from {got[0].peer}{tern.tail()}"
    assert got[0].ehlo == "out6.example.test", \
        f"EHLO name was {got[0].ehlo!r}"


def test_alignment_logged_at_start(lab):
    default_zone(lab)
    tern = lab.tern(delivery={"source_addresses": sources(
        (ALIGNED, "out6.example.test"), (MISALIGNED, "out7.example.test"))})

    good = tern.wait_log_line(rf"rdns: {re.escape(ALIGNED)}: aligned")
    bad = tern.wait_log_line(rf"rdns: {re.escape(MISALIGNED)}: ")

    assert "info" in good, good
    assert "warning" in bad, bad
    assert "PTR name elsewhere.example.test does not resolve back to " \
        f"{MISALIGNED}" in bad, bad
    assert "differs from the EHLO name out7.example.test" in bad, bad
    unused = tern.wait_log_line(rf"source {re.escape(MISALIGNED)} is not "
                                "used for sending")
    assert f"here {ALIGNED}" in unused, unused


def test_alignment_logged_again_on_reload(lab):
    default_zone(lab)
    tern = lab.tern(delivery={"source_addresses": sources(
        (ALIGNED, "out6.example.test"), (MISALIGNED, "out7.example.test"))})
    tern.wait_log(rf"rdns: {re.escape(ALIGNED)}: aligned")
    tern.wait_log(rf"rdns: {re.escape(MISALIGNED)}: PTR name")

    # New records: the misaligned address gets a PTR name that resolves
    # back and equals its EHLO name. New settings: the aligned address
    # gets an EHLO name its PTR name does not match.
    lab.dnsmasq.stop()
    start_zone(lab, hosts={"out6.example.test": [ALIGNED],
                           "out7.example.test": [MISALIGNED]})
    since = tern.log_size()
    tern.write_config(merge(tern.settings, {
        "resolver": {"servers": [lab.dnsmasq.server]},
        "delivery": {"source_addresses": sources(
            (ALIGNED, "mail.example.test"),
            (MISALIGNED, "out7.example.test"))}}))
    tern.send_signal(signal.SIGHUP)

    now_good = tern.wait_log_line(
        rf"rdns: {re.escape(MISALIGNED)}: aligned", since=since)
    now_bad = tern.wait_log_line(rf"rdns: {re.escape(ALIGNED)}: ",
                                 since=since)
    assert "info" in now_good, now_good
    assert "warning" in now_bad, now_bad
    assert "PTR name out6.example.test differs from the EHLO name " \
        "mail.example.test" in now_bad, now_bad


def test_refuse_defers_misaligned_source(lab):
    rcv = lab.receiver(MX_ADDRESS)
    default_zone(lab)
    tern = lab.tern(delivery={
        "rdns_misaligned": "refuse",
        "source_addresses": sources((MISALIGNED, "out7.example.test"))})
    tern.wait_log(rf"rdns: {re.escape(MISALIGNED)}: PTR name")
    rcpt = "user@example.test"

    qid = tern.send("refused@origin.test", [rcpt], message_bytes("refused"))

    line = wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.7\.0")
    assert f"direct delivery from {MISALIGNED} is refused because its " \
        "reverse DNS is not aligned" in line, line
    assert 'delivery.rdns_misaligned is "refuse"' in line, line
    assert rcv.connections == 0, rcv.describe()
    assert_never_sent(tern, qid, rcpt)


def test_refuse_sends_from_aligned_source(lab):
    rcv = lab.receiver(MX_ADDRESS)
    default_zone(lab)
    tern = lab.tern(delivery={
        "rdns_misaligned": "refuse",
        "source_addresses": sources((ALIGNED, "out6.example.test"))})
    tern.wait_log(rf"rdns: {re.escape(ALIGNED)}: aligned")
    rcpt = "user@example.test"

    qid = tern.send("aligned@origin.test", [rcpt], message_bytes("aligned"))

    wait_outcome(tern, qid, rcpt, "sent")
    got = rcv.wait(1)
    assert got[0].peer[0] == ALIGNED, f"came from {got[0].peer}"


def test_refuse_rechecks_after_dns_failure(lab):
    """ternd starts before its resolver: the check fails on DNS, mail to
    an address literal is deferred as unknown rather than misaligned,
    and once dnsmasq answers on the configured port a timed check finds
    the address aligned and the mail goes out without a reload."""
    rcv = lab.receiver(MX_ADDRESS)
    port = pick_port(["127.0.0.1"], udp=True)
    lab.dnsmasq = Dnsmasq(lab.dir, hosts={"out6.example.test": [ALIGNED]})
    lab.dnsmasq.port = port   # nothing listens there yet
    tern = lab.tern(delivery={
        "rdns_misaligned": "refuse",
        "source_addresses": sources((ALIGNED, "out6.example.test"))})
    failed = tern.wait_log_line(rf"rdns: {re.escape(ALIGNED)}: ")
    assert "warning" in failed, failed
    assert "checking again every" in failed, failed
    rcpt = f"user@[{MX_ADDRESS}]"

    qid = tern.send("early@origin.test", [rcpt], message_bytes("early"))

    line = wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.7\.0")
    assert "reverse DNS could not be checked (DNS temporary failure); " \
        "checking again" in line, line
    assert "not aligned" not in line, line
    assert rcv.connections == 0, rcv.describe()

    lab.dnsmasq.start(port)
    aligned = tern.wait_log_line(rf"rdns: {re.escape(ALIGNED)}: aligned",
                                 timeout=90)
    assert "info" in aligned, aligned
    wait_outcome(tern, qid, rcpt, "sent", timeout=30)
    got = rcv.wait(1)
    assert got[0].peer[0] == ALIGNED, f"came from {got[0].peer}"
