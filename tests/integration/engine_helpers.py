"""Shared setup and checks for the delivery engine's tests: DNS records
with a receiver for the senders' domain (where reports arrive), the
log lines that deliver and qmgr write, and the queue's state.

Log lines matched here (deliver, one per recipient):
    QID: to=<ADDR>, relay=HOST[IP]:PORT, delay=1.2, tls=TLS, dsn=X.Y.Z,
        status=sent|deferred|bounced (REASON)
and qmgr's report lines:
    QID: sender non-delivery notification: NEWQID
    QID: sender delay notification: NEWQID
    QID: sender delivery status notification: NEWQID
"""

import re
import time

from reports import is_null_sender

# The senders of every test are at origin.test, whose MX host
# mx.origin.test is at this address: reports to senders arrive there.
ORIGIN_ADDRESS = "127.0.0.5"

# Longer than the test configuration's retry.max_delay (2 s): a retry or
# a report that is due shows by then.
QUIET_WINDOW = 2.5

REPORT_LINES = {
    "failed": "sender non-delivery notification",
    "delayed": "sender delay notification",
    "relayed": "sender delivery status notification",
    "delivered": "sender delivery status notification",
}


def start_dns(lab, mx=None, hosts=None, cnames=None, local_zones=(),
              origin=None):
    """Start dnsmasq with the given records plus origin.test's MX host at
    ORIGIN_ADDRESS, and a receiver there. origin is a dict of
    ScriptedReceiver behaviour for that receiver; None starts an
    aiosmtpd Receiver. Returns the origin receiver."""
    mx = dict(mx or {})
    hosts = dict(hosts or {})
    mx.setdefault("origin.test", [(10, "mx.origin.test")])
    hosts.setdefault("mx.origin.test", [ORIGIN_ADDRESS])
    if origin is None:
        receiver = lab.receiver(ORIGIN_ADDRESS)
    else:
        receiver = lab.scripted(ORIGIN_ADDRESS, **origin)
    lab.dns(mx=mx, hosts=hosts, cnames=cnames, local_zones=local_zones)
    return receiver


def example_mx(*addresses, domain="example.test"):
    """MX records for domain: mx1.DOMAIN, mx2.DOMAIN, ... at the given
    addresses with preferences 10, 20, ...; returns (mx, hosts) dicts
    for start_dns."""
    mx = {domain: []}
    hosts = {}
    for i, address in enumerate(addresses, 1):
        mx[domain].append((10 * i, f"mx{i}.{domain}"))
        hosts[f"mx{i}.{domain}"] = [address]
    return mx, hosts


def outcome_pattern(qid, rcpt, status, dsn=r"\d\.\d{1,3}\.\d{1,3}",
                    relay=None, tls=r"\S+"):
    """Regex for deliver's line about rcpt of qid with that status; dsn
    and tls are regexes, relay a literal "HOST[IP]:PORT" (any when None).
    The group "reason" is the text in brackets."""
    relay_re = re.escape(relay) if relay is not None else r"\S+"
    return (rf"{qid}: to=<{re.escape(rcpt)}>, relay={relay_re}, "
            rf"delay=[0-9.]+, tls={tls}, dsn={dsn}, "
            rf"status={status} \((?P<reason>.*)\)$")


def relay(host, address, port):
    """The relay= value of a delivery line."""
    return f"{host}[{address}]:{port}"


def wait_outcome(tern, qid, rcpt, status, timeout=20, **kwargs):
    """Wait for deliver's line about rcpt of qid with status; return the
    whole line."""
    return tern.wait_log_line(outcome_pattern(qid, rcpt, status, **kwargs),
                              timeout)


def outcomes(tern, qid, rcpt):
    """The statuses (sent, deferred, bounced) of every delivery line for
    rcpt of qid, in order."""
    regex = re.compile(rf"{qid}: to=<{re.escape(rcpt)}>, relay=.* "
                       r"status=(\w+) \(")
    return [m.group(1) for m in map(regex.search, tern.log_text()
                                    .splitlines()) if m]


def report_pattern(qid, kind):
    """Regex for qmgr's line that a report of kind about qid was queued;
    group 1 is the report's queue id."""
    return rf"{qid}: {REPORT_LINES[kind]}: ([0-9A-F]+)\b"


def wait_report_queued(tern, qid, kind, timeout=20):
    """Wait for qmgr's line that a report of kind about qid was queued and
    return the report's queue id."""
    return tern.wait_log(report_pattern(qid, kind), timeout).group(1)


def reports_at(receiver):
    """The messages from the null sender that receiver recorded."""
    return [m for m in receiver.messages if is_null_sender(m)]


def wait_reports(tern, receiver, count=1, timeout=20):
    """Wait until receiver recorded count messages from the null sender;
    return them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = reports_at(receiver)
        if len(got) >= count:
            return got
        time.sleep(0.1)
    got = reports_at(receiver)
    assert len(got) >= count, \
        f"{len(got)} report(s) arrived at {receiver.address} within " \
        f"{timeout} s, expected {count}: {receiver.messages}{tern.tail()}"
    return got


def assert_no_report(tern, receiver, qid, wait=QUIET_WINDOW):
    """After wait seconds, no report arrived at receiver and qmgr logged
    none about qid."""
    time.sleep(wait)
    got = reports_at(receiver)
    assert got == [], f"unexpected report(s) at {receiver.address}: " \
        f"{[m.content[:600] for m in got]}{tern.tail()}"
    lines = tern.log_lines(rf"{qid}: sender .*notification")
    assert lines == [], f"qmgr queued a report: {lines}{tern.tail()}"


def assert_still_queued(tern, qid, rcpts):
    """Every address in rcpts is still queued for qid, with at least one
    attempt made, and no other recipient of qid is. deliver logs an
    outcome before qmgr records it, so the rows get a few seconds."""
    deadline = time.time() + 10
    rows = tern.recipients_of(qid)
    while time.time() < deadline and not (
            rows and all(r["attempts"] >= 1 for r in rows)):
        time.sleep(0.1)
        rows = tern.recipients_of(qid)
    queued = sorted(r["address"] for r in rows)
    assert queued == sorted(rcpts), \
        f"queued recipients of {qid}: {queued}, expected {sorted(rcpts)}; " \
        f"rows {rows}{tern.tail()}"
    for row in rows:
        assert row["attempts"] >= 1, \
            f"{row['address']}: attempts is {row['attempts']}{tern.tail()}"


def assert_never_sent(tern, qid, rcpt):
    """No delivery line reports rcpt of qid as sent or bounced."""
    statuses = outcomes(tern, qid, rcpt)
    assert "sent" not in statuses, \
        f"{rcpt} reported sent: {statuses}{tern.tail()}"
    assert "bounced" not in statuses, \
        f"{rcpt} bounced: {statuses}{tern.tail()}"


def suspension_pattern(domain):
    """Regex for qmgr's line that domain was suspended; groups: seconds,
    failures."""
    return (rf"destination {re.escape(domain)} suspended for (\d+) s after "
            rf"(\d+) failure\(s\) in a row: ")


def recovery_pattern(domain):
    """Regex for qmgr's line that domain works again; group 1 is the
    number of recipients released."""
    return (rf"destination {re.escape(domain)} works again; released "
            rf"(\d+) waiting recipient\(s\)")
