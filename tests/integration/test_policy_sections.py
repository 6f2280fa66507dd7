"""The most specific policy section wins, seen in retry times and rates.

A domain uses the section whose match equals it, else the "*.suffix"
section with the longest suffix that ends it, else "default". A setting
that section leaves out comes from the default section, never from a
less specific wildcard. The sections below give each domain its own
first retry delay, and only *.example.test a rate:

    domain               section               first_delay   rate
    a.example.test       *.example.test        10m           1/h
    x.deep.example.test  *.deep.example.test   5m            none (default)
    exact.example.test   exact.example.test    30m (default) none (default)
    example.test         default               30m           none

Every domain's MX host is the one receiver at MX_ADDRESS.
"""

import time

from engine_helpers import QUIET_WINDOW, start_dns, wait_outcome
from peers import message_bytes, wait_for
from tern_instance import libconfig_text

MX_ADDRESS = "127.0.0.2"

SECTIONS = [
    {"match": "default", "route": "mx", "retry": {"first_delay": "30m"}},
    {"match": "*.example.test", "retry": {"first_delay": "10m"},
     "rate": "1/h"},
    {"match": "*.deep.example.test", "retry": {"first_delay": "5m"}},
    {"match": "exact.example.test", "route": "mx"},
]

# The first retry delay, in seconds, that applies to each domain.
FIRST_DELAYS = {
    "a.example.test": 600,
    "x.deep.example.test": 300,
    "exact.example.test": 1800,
    "example.test": 1800,
}


def sections_tern(lab, receiver_failures=0):
    """Start a receiver at MX_ADDRESS that defers the first
    receiver_failures messages, DNS for every domain of FIRST_DELAYS and
    tern with SECTIONS as its policy; return (receiver, tern)."""
    rcv = lab.receiver(MX_ADDRESS, temp_failures=receiver_failures)
    start_dns(lab, mx={d: [(10, "mx.example.test")] for d in FIRST_DELAYS},
              hosts={"mx.example.test": [MX_ADDRESS]})
    tern = lab.tern(start=False, policy_file="policy.conf")
    (tern.dir / "policy.conf").write_text(
        libconfig_text({"destinations": SECTIONS}))
    return rcv, tern.start()


def test_section_retry_first_delay(lab):
    rcv, tern = sections_tern(lab, receiver_failures=len(FIRST_DELAYS))
    sent = {}
    for domain in FIRST_DELAYS:
        rcpt = f"user@{domain}"
        sent[domain] = tern.send("retry@origin.test", [rcpt],
                                 message_bytes(f"retry {domain}"))

    for domain, qid in sent.items():
        wait_outcome(tern, qid, f"user@{domain}", "deferred")
    for domain, qid in sent.items():
        recorded = wait_for(lambda: any(r["attempts"] == 1 for r in
                                        tern.recipients_of(qid)), 10)
        assert recorded, f"{domain}: no deferral recorded{tern.tail()}"
        rows = tern.recipients_of(qid)
        assert len(rows) == 1, rows
        # The delay with at most 10% jitter either way, less the
        # seconds since the deferral.
        wait = rows[0]["next_attempt"] - time.time()
        first_delay = FIRST_DELAYS[domain]
        assert wait >= first_delay * 0.85, \
            f"{domain}: next attempt in {wait:.0f} s, first_delay " \
            f"{first_delay} s: {rows}"
        assert wait <= first_delay * 1.1 + 1, \
            f"{domain}: next attempt in {wait:.0f} s, first_delay " \
            f"{first_delay} s: {rows}"
    assert rcv.messages == [], rcv.describe()


def test_section_rate_not_inherited(lab):
    rcv, tern = sections_tern(lab)
    sent = []
    for domain in FIRST_DELAYS:
        for i in range(3):
            rcpt = f"user{i}@{domain}"
            qid = tern.send("rate@origin.test", [rcpt],
                            message_bytes(f"rate {domain} {i}"))
            sent.append((domain, qid, rcpt))

    # Only a.example.test has a rate: one message now, the next in an
    # hour. The exact and the deeper wildcard section take theirs from
    # the default section, which sets none.
    for domain, qid, rcpt in sent:
        if domain != "a.example.test":
            wait_outcome(tern, qid, rcpt, "sent")
    limited = [(qid, rcpt) for domain, qid, rcpt in sent
               if domain == "a.example.test"]
    assert wait_for(lambda: any(rcpt in m.rcpt_tos for m in rcv.messages
                                for _, rcpt in limited), 20), \
        f"nothing reached a.example.test{tern.tail()}"
    time.sleep(QUIET_WINDOW)
    arrived = [m for m in rcv.messages
               if m.rcpt_tos[0].endswith("@a.example.test")]
    assert len(arrived) == 1, \
        f"{len(arrived)} of 3 sent to a.example.test at 1/h{tern.tail()}"
    assert len(rcv.messages) == 10, rcv.describe()
    for qid, rcpt in limited:
        for row in tern.recipients_of(qid):
            assert row["attempts"] == 0, \
                f"a message held by the rate counted an attempt: {row}"
