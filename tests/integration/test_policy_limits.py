"""Per-destination limits from the policy file: the connection limit,
a rate spread over its period and retry settings of one destination,
each checked at a real receiver or in the queue.

These tests assert counts and states, never speed. The rate test reads
an upper bound after a wait: a slow machine delivers fewer messages in
that time, never more.
"""

import time

from engine_helpers import example_mx, start_dns, wait_outcome
from peers import message_bytes, wait_for
from tern_instance import libconfig_text

RECEIVER_ADDRESS = "127.0.0.2"


def policy_tern(lab, destinations, **overrides):
    """A started tern whose policy file has the given destinations
    sections."""
    tern = lab.tern(start=False, policy_file="policy.conf", **overrides)
    (tern.dir / "policy.conf").write_text(
        libconfig_text({"destinations": destinations}))
    return tern.start()


def test_policy_max_connections(lab):
    # The receiver takes 0.3 s per message, so queued messages pile up
    # and tern would open up to its initial window of 5 connections.
    rcv = lab.scripted(RECEIVER_ADDRESS, dot_delay=0.3)
    start_dns(lab, *example_mx(RECEIVER_ADDRESS))
    tern = policy_tern(lab, [{"match": "example.test",
                              "max_connections": 2}],
                       delivery={"destination_concurrency": 10,
                                 "initial_concurrency": 5})
    batch = [(f"limit{i}@origin.test", ["user@example.test"],
              message_bytes(f"limit {i}")) for i in range(12)]

    tern.send_many(batch)

    got = rcv.wait(12, timeout=40)
    assert len(got) == 12, f"{len(got)} of 12 arrived{tern.tail()}"
    assert rcv.max_active <= 2, \
        f"{rcv.max_active} connections at once, limit 2{tern.tail()}"


def test_policy_rate_spreads_deliveries(lab):
    # 6/m: a bucket of one message refilled every 10 s. Within 25 s of
    # the first submission at most 1 + 2 messages can have gone out.
    rcv = lab.receiver(RECEIVER_ADDRESS)
    start_dns(lab, *example_mx(RECEIVER_ADDRESS))
    tern = policy_tern(lab, [{"match": "example.test", "rate": "6/m"}])
    batch = [(f"rate{i}@origin.test", ["user@example.test"],
              message_bytes(f"rate {i}")) for i in range(8)]
    start = time.monotonic()

    tern.send_many(batch)

    assert rcv.wait(1, timeout=20), f"nothing arrived{tern.tail()}"
    time.sleep(max(0.0, 25 - (time.monotonic() - start)))
    arrived = len(rcv.messages)
    assert arrived <= 3, \
        f"{arrived} of 8 arrived within 25 s at 6/m{tern.tail()}"
    assert tern.queue_counts()[1] >= 8 - arrived, tern.recipients()


def test_policy_retry_first_delay(lab):
    # The receiver defers the first message; the server's first_delay is
    # 1 s, the policy's 10 minutes for example.test.
    rcv = lab.receiver(RECEIVER_ADDRESS, temp_failures=1)
    start_dns(lab, *example_mx(RECEIVER_ADDRESS))
    tern = policy_tern(lab, [{"match": "example.test",
                              "retry": {"first_delay": "10m"}}])

    qid = tern.send("retry@origin.test", ["user@example.test"],
                    message_bytes("retry override"))
    wait_outcome(tern, qid, "user@example.test", "deferred")
    deferred = wait_for(lambda: any(r["attempts"] == 1
                                    for r in tern.recipients_of(qid)), 10)

    assert deferred, f"no deferral recorded: {tern.recipients_of(qid)}"
    rows = tern.recipients_of(qid)
    assert len(rows) == 1, rows
    # 600 s with at most 10% jitter either way.
    wait = rows[0]["next_attempt"] - time.time()
    assert wait >= 500, f"next attempt in {wait:.0f} s: {rows}"
    assert wait <= 670, f"next attempt in {wait:.0f} s: {rows}"
    assert len(rcv.messages) == 0, rcv.messages
