"""MX edge cases, with dnsmasq (or a DNS server that fails on purpose)
serving the test zones. The cases: equal preferences, IPv6 and IPv4
addresses, MX hosts without addresses, a loop back to tern itself, DNS
failures, NXDOMAIN, a CNAME as MX target and an MX value that looks like
an address.
"""

import re
import time

import pytest

from engine_helpers import (QUIET_WINDOW, assert_never_sent, assert_no_report,
                            assert_still_queued, relay, reports_at, start_dns,
                            wait_outcome, wait_report_queued, wait_reports)
from peers import message_bytes, wait_tcp
from reports import assert_report


def test_equal_preference_mx_both_used(lab):
    # One transaction per connection, so every message chooses an MX
    # host afresh: 20 choices all falling on one host has a chance of
    # 2 in 2**20 when the order is random.
    first = lab.scripted("127.0.0.2")
    second = lab.scripted("127.0.0.3")
    start_dns(lab, mx={"example.test": [(10, "mx1.example.test"),
                                        (10, "mx2.example.test")]},
              hosts={"mx1.example.test": ["127.0.0.2"],
                     "mx2.example.test": ["127.0.0.3"]})
    tern = lab.tern(delivery={"connection_reuse_limit": 1})
    batch = [(f"equal{i}@origin.test", ["user@example.test"],
              message_bytes(f"equal preference {i}")) for i in range(20)]

    tern.send_many(batch, sessions=1)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and \
            len(first.messages) + len(second.messages) < 20:
        time.sleep(0.1)
    counts = (len(first.messages), len(second.messages))
    assert sum(counts) == 20, f"{counts} of 20 arrived{tern.tail()}"
    assert counts[0] >= 1, f"mx1 never used: {counts}"
    assert counts[1] >= 1, f"mx2 never used: {counts}"


@pytest.mark.parametrize("order", ["aaaa-only-first", "a-only-first"])
def test_mx_hosts_of_each_family(lab, order):
    # The preferred host replies 421 to the connection, so the other
    # one, of the other address family, must be used.
    v6, v4 = ("mx6.example.test", "::1"), ("mx4.example.test", "127.0.0.4")
    first, second = (v6, v4) if order == "aaaa-only-first" else (v4, v6)
    rejecting = lab.scripted(first[1], greeting=b"421 4.3.2 Not now")
    accepting = lab.scripted(second[1])
    start_dns(lab, mx={"example.test": [(10, first[0]), (20, second[0])]},
              hosts={first[0]: [first[1]], second[0]: [second[1]]})
    tern = lab.tern()
    rcpt = "user@example.test"

    qid = tern.send(f"{order}@origin.test", [rcpt], message_bytes(order))

    wait_outcome(tern, qid, rcpt, "sent",
                 relay=relay(second[0], second[1], lab.port))
    assert len(accepting.wait(1)) == 1, f"{accepting.describe()}"
    assert rejecting.connections >= 1, \
        f"the preferred host {first[0]} ({first[1]}) was never tried"


@pytest.mark.parametrize("listening", ["::1", "127.0.0.4"])
def test_mx_host_with_both_families(lab, listening):
    # One MX host with an AAAA and an A record. Only one address has a
    # receiver, and the other rejects the connection.
    rcv = lab.scripted(listening)
    start_dns(lab, mx={"example.test": [(10, "mx.example.test")]},
              hosts={"mx.example.test": ["::1", "127.0.0.4"]})
    other = "127.0.0.4" if listening == "::1" else "::1"
    assert not wait_tcp(other, lab.port, 0.1), f"something listens on {other}"
    tern = lab.tern()
    rcpt = "user@example.test"

    qid = tern.send("dual@origin.test", [rcpt], message_bytes("dual stack"))

    wait_outcome(tern, qid, rcpt, "sent",
                 relay=relay("mx.example.test", listening, lab.port))
    assert len(rcv.wait(1)) == 1, f"{rcv.describe()}"
    deferred = tern.log_lines(rf"{qid}: .*status=deferred")
    assert deferred == [], f"deferred instead of trying the other " \
        f"address: {deferred}"


def test_mx_host_without_address_skipped(lab):
    rcv = lab.scripted("127.0.0.3")
    start_dns(lab, mx={"example.test": [(10, "ghost.example.test"),
                                        (20, "mx2.example.test")]},
              hosts={"mx2.example.test": ["127.0.0.3"]})
    tern = lab.tern()
    rcpt = "user@example.test"

    qid = tern.send("ghost@origin.test", [rcpt], message_bytes("ghost MX"))

    wait_outcome(tern, qid, rcpt, "sent",
                 relay=relay("mx2.example.test", "127.0.0.3", lab.port))
    assert len(rcv.wait(1)) == 1, f"{rcv.describe()}"
    deferred = tern.log_lines(rf"{qid}: .*status=deferred")
    assert deferred == [], f"deferred instead of skipping the MX host " \
        f"without an address: {deferred}"


def test_no_usable_mx_deferred(lab):
    origin = start_dns(lab, mx={"nousable.test": [(10, "ghost1.nousable.test"),
                                                  (20, "ghost2.nousable.test")]})
    tern = lab.tern()
    rcpt = "user@nousable.test"

    qid = tern.send("nousable@origin.test", [rcpt],
                    message_bytes("no usable MX"))

    line = wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.4\.4")
    tern.wait_log(r"no usable mail exchanger for nousable\.test: ")
    assert "relay=none" in line, f"{line}"
    assert_no_report(tern, origin, qid)
    assert_never_sent(tern, qid, rcpt)
    assert_still_queued(tern, qid, [rcpt])


def test_mx_at_own_listener_is_a_loop(lab):
    origin = start_dns(lab, mx={"loop.test": [(10, "mx.loop.test")]},
                       hosts={"mx.loop.test": ["127.0.0.1"]})
    # tern listens on the delivery port, so the MX host is tern itself.
    tern = lab.tern(smtpd={"listeners": [{"address": "127.0.0.1",
                                          "port": lab.port}]})
    rcpt = "user@loop.test"

    qid = tern.send("loop@origin.test", [rcpt], message_bytes("loop"))

    tern.wait_log(rf"{qid}: .*mail for loop\.test loops back to myself")
    wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.4\.6")
    assert_no_report(tern, origin, qid)
    assert_never_sent(tern, qid, rcpt)
    assert_still_queued(tern, qid, [rcpt])
    accepted = tern.accepted()
    assert len(accepted) == 1, f"tern accepted its own delivery: {accepted}"


@pytest.mark.parametrize("failure", ["servfail", "no-answer"])
def test_dns_failure_deferred(lab, failure):
    stub = lab.stub_dns(rcode=2 if failure == "servfail" else None)
    tern = lab.tern(resolver={"servers": [stub.server], "timeout": 1})
    rcpt = "user@example.test"

    qid = tern.send(f"{failure}@origin.test", [rcpt],
                    message_bytes(f"DNS {failure}"))

    wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.4\.3", timeout=30)
    assert stub.queries >= 1, "tern never asked the DNS server"
    time.sleep(QUIET_WINDOW)
    assert_never_sent(tern, qid, rcpt)
    assert_still_queued(tern, qid, [rcpt])
    reports = tern.log_lines(rf"{qid}: sender .*notification")
    assert reports == [], f"report for a temporary DNS failure: {reports}"


def test_nxdomain_bounced_with_report(lab):
    origin = start_dns(lab)
    tern = lab.tern()
    sender = "nx@origin.test"
    rcpt = "user@nowhere.test"
    content = message_bytes("NXDOMAIN", body=b"nxdomain body\r\n")
    submitted = time.time()

    qid = tern.send(sender, [rcpt], content)

    line = wait_outcome(tern, qid, rcpt, "bounced", dsn=r"5\.1\.2")
    assert "relay=none" in line, f"{line}"
    wait_report_queued(tern, qid, "failed")
    got = wait_reports(tern, origin, 1)
    tern.wait_queue_empty()
    # No server gave the outcome: no Remote-MTA and no Diagnostic-Code.
    assert_report(got[0], sender=sender, kind="failed", expected=[{
        "final": rcpt, "status": r"5\.1\.2", "reason": "nowhere.test"}],
        original=content, window=(submitted, time.time()))


def test_mx_cname_target_followed(lab):
    rcv = lab.scripted("127.0.0.3")
    start_dns(lab, mx={"cname.test": [(10, "alias.cname.test")]},
              hosts={"real.cname.test": ["127.0.0.3"]},
              cnames={"alias.cname.test": "real.cname.test"})
    tern = lab.tern()
    rcpt = "user@cname.test"

    qid = tern.send("cname@origin.test", [rcpt], message_bytes("CNAME MX"))

    line = wait_outcome(tern, qid, rcpt, "sent")
    assert re.search(rf"relay=\S+\[127\.0\.0\.3\]:{lab.port},", line), line
    assert len(rcv.wait(1)) == 1, f"{rcv.describe()}"


def test_mx_value_like_address_is_a_name(lab):
    # "MX 10 127.0.0.2." names a host in the zone "2", which has no
    # records. It is not the address 127.0.0.2, where a receiver waits to
    # catch a wrong delivery.
    trap = lab.receiver("127.0.0.2")
    origin = start_dns(lab, mx={"ipmx.test": [(10, "127.0.0.2")]},
                       local_zones=["2"])
    tern = lab.tern()
    rcpt = "user@ipmx.test"

    qid = tern.send("ipmx@origin.test", [rcpt],
                    message_bytes("address-like MX"))

    wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.4\.4")
    tern.wait_log(r"no usable mail exchanger for ipmx\.test: ")
    assert_no_report(tern, origin, qid)
    assert trap.connections == 0, \
        f"tern connected to 127.0.0.2 for the MX name \"127.0.0.2.\": " \
        f"{trap.describe()}{tern.tail()}"
    assert_never_sent(tern, qid, rcpt)
    assert_still_queued(tern, qid, [rcpt])
    assert reports_at(origin) == []
