"""Scheduling per destination. A dead destination is suspended as a whole
and does not hold up a healthy one, and its recipients are released
together when it works again. Connections are reused with RSET between
transactions, up to a limit per connection and for a limited idle time.
Recipients at one domain share a transaction up to a limit, and the
connections per destination stay within their limit.

These tests assert counts and states, never speed: speed is measured by
the benchmarks in bench/.
"""

import time

import pytest

from engine_helpers import (example_mx, recovery_pattern, start_dns,
                            suspension_pattern, wait_outcome)
from peers import message_bytes, wait_for

DEAD_ADDRESS = "127.0.0.8"
HEALTHY_ADDRESS = "127.0.0.9"
DEAD_MESSAGES = 1000
HEALTHY_MESSAGES = 50
DEAD_CONCURRENCY = 3
# Each suspension round may cost up to DEAD_CONCURRENCY connections, and
# with retry delays of 3 to 5 s the test's first phase has fewer than ten
# rounds. Without suspension every one of the 1,000 messages costs a
# connection, and each retry another.
DEAD_CONNECTIONS_MAX = 40


def rset_missing(verbs):
    """The positions of MAIL commands that follow an earlier transaction
    of the session without a RSET in between."""
    missing = []
    seen_mail = False
    reset = False
    for i, verb in enumerate(verbs):
        if verb == "RSET":
            reset = True
        elif verb == "MAIL":
            if seen_mail and not reset:
                missing.append(i)
            seen_mail, reset = True, False
    return missing


def dead_and_healthy_dns(lab):
    dead = lab.scripted(DEAD_ADDRESS, greeting=b"421 4.3.2 mx.dead.test "
                        b"Service not available, closing channel")
    healthy = lab.scripted(HEALTHY_ADDRESS)
    start_dns(lab, mx={"dead.test": [(10, "mx.dead.test")],
                       "healthy.test": [(10, "mx.healthy.test")]},
              hosts={"mx.dead.test": [DEAD_ADDRESS],
                     "mx.healthy.test": [HEALTHY_ADDRESS]})
    return dead, healthy


def dead_recipients_waiting(tern):
    """True when all DEAD_MESSAGES recipients of dead.test are queued
    with a next attempt in the future and the destination is suspended."""
    now = time.time()
    rows = tern.rows("SELECT COUNT(*) AS n, MIN(next_attempt) AS first "
                     "FROM recipients WHERE domain = 'dead.test'")
    dest = [d for d in tern.destinations() if d["domain"] == "dead.test"]
    return (rows[0]["n"] == DEAD_MESSAGES and rows[0]["first"] is not None
            and rows[0]["first"] > now and len(dest) == 1
            and dest[0]["suspended_until"] > now)


def test_dead_destination_does_not_hold_up_healthy(lab):
    dead, healthy = dead_and_healthy_dns(lab)
    tern = lab.tern(retry={"first_delay": 3, "max_delay": 5},
                    destinations=[{"domain": "dead.test",
                                   "concurrency": DEAD_CONCURRENCY}])
    backlog = [(f"backlog{i}@origin.test", [f"user{i}@dead.test"],
                message_bytes(f"backlog {i}")) for i in range(DEAD_MESSAGES)]
    fresh = [(f"fresh{i}@origin.test", [f"user{i}@healthy.test"],
              message_bytes(f"fresh {i}"))
             for i in range(HEALTHY_MESSAGES)]

    tern.send_many(backlog)
    tern.wait_log(suspension_pattern("dead.test"))
    tern.send_many(fresh)

    got = healthy.wait(HEALTHY_MESSAGES, timeout=60)
    assert len(got) == HEALTHY_MESSAGES, \
        f"{len(got)} of {HEALTHY_MESSAGES} messages for healthy.test " \
        f"arrived while dead.test was down{tern.tail()}"
    assert dead.connections <= DEAD_CONNECTIONS_MAX, \
        f"dead.test was tried over {dead.connections} connections for " \
        f"{DEAD_MESSAGES} messages: not suspended{tern.tail()}"
    waiting = wait_for(lambda: dead_recipients_waiting(tern), 15,
                       interval=0.2)
    state = tern.rows("SELECT COUNT(*) AS n, MIN(next_attempt) AS first, "
                      "MAX(next_attempt) AS last FROM recipients "
                      "WHERE domain = 'dead.test'")
    assert waiting, \
        f"dead.test's recipients are not all waiting for a later " \
        f"attempt: {state}, destinations {tern.destinations()}, now " \
        f"{time.time():.0f}{tern.tail()}"
    assert dead.messages == [], f"{dead.describe()}"

    # dead.test comes back; at its next probe all of its recipients are
    # released together.
    since = tern.log_size()
    dead.greeting = b"220 mx.dead.test ESMTP"
    released = tern.wait_log(recovery_pattern("dead.test"), timeout=20,
                             since=since)
    assert int(released.group(1)) >= 1, f"{released.group(0)}"
    later = tern.rows("SELECT COUNT(*) AS n FROM recipients WHERE "
                      "domain = 'dead.test' AND next_attempt > ?",
                      (int(time.time()) + 1,))
    assert later[0]["n"] == 0, \
        f"{later[0]['n']} recipients of dead.test still wait for their " \
        f"own retry time after its recovery{tern.tail()}"
    got = dead.wait(DEAD_MESSAGES, timeout=60)
    assert len(got) == DEAD_MESSAGES, \
        f"{len(got)} of {DEAD_MESSAGES} backlog messages arrived after " \
        f"dead.test recovered{tern.tail()}"
    tern.wait_queue_empty(timeout=30)
    senders = sorted(m.mail_from for m in got)
    assert senders == sorted(s for s, _, _ in backlog), \
        "backlog messages lost or duplicated"


# ------------------------------------------------------------ reuse

def test_connection_reuse(lab):
    rcv = lab.scripted("127.0.0.2")
    start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern()
    batch = [(f"reuse{i}@origin.test", ["user@example.test"],
              message_bytes(f"reuse {i}")) for i in range(50)]

    tern.send_many(batch, sessions=1)

    got = rcv.wait(50, timeout=30)
    assert len(got) == 50, f"{len(got)} of 50 arrived{tern.tail()}"
    assert rcv.connections <= 10, \
        f"50 messages used {rcv.connections} connections{tern.tail()}"
    for verbs in rcv.session_verbs():
        assert rset_missing(verbs) == [], \
            f"a transaction without RSET before it: {verbs}"
    assert sorted(m.mail_from for m in got) == \
        sorted(s for s, _, _ in batch), "messages lost or duplicated"


def test_connection_reuse_limit(lab):
    # One connection at a time, at most 5 transactions on each.
    rcv = lab.scripted("127.0.0.2")
    start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern(delivery={"connection_reuse_limit": 5},
                    destinations=[{"domain": "example.test",
                                   "concurrency": 1}])
    batch = [(f"limit{i}@origin.test", ["user@example.test"],
              message_bytes(f"limit {i}")) for i in range(20)]

    tern.send_many(batch, sessions=1)

    got = rcv.wait(20, timeout=30)
    assert len(got) == 20, f"{len(got)} of 20 arrived{tern.tail()}"
    sessions = rcv.session_verbs()
    for verbs in sessions:
        assert verbs.count("MAIL") <= 5, \
            f"{verbs.count('MAIL')} transactions on one connection: {verbs}"
    assert len(sessions) >= 4, f"{len(sessions)} connections for 20 " \
        f"messages at 5 per connection"
    assert max(v.count("MAIL") for v in sessions) > 1, \
        f"no connection was reused: {sessions}"
    assert rcv.max_active == 1, f"{rcv.max_active} connections at once"


def test_idle_connection_closed(lab):
    rcv = lab.scripted("127.0.0.2")
    start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern(delivery={"connection_idle_timeout": 2})
    rcpt = "user@example.test"

    qid = tern.send("idle1@origin.test", [rcpt], message_bytes("idle 1"))

    line = wait_outcome(tern, qid, rcpt, "sent")
    sent_at = tern.log_time(line)
    closed = wait_for(lambda: rcv.closed >= 1, 10)
    closed_at = time.time()
    assert closed, f"the idle connection was never closed{tern.tail()}"
    assert rcv.quits == 1, f"closed without QUIT: {rcv.session_verbs()}"
    assert closed_at - sent_at >= 1.5, \
        f"closed {closed_at - sent_at:.1f} s after the delivery, before " \
        f"the 2 s idle timeout"
    assert closed_at - sent_at <= 6, \
        f"closed {closed_at - sent_at:.1f} s after the delivery, long " \
        f"after the 2 s idle timeout"

    tern.send("idle2@origin.test", [rcpt], message_bytes("idle 2"))
    assert len(rcv.wait(2)) == 2, f"{rcv.describe()}{tern.tail()}"
    assert rcv.connections == 2, f"{rcv.describe()}"


# ------------------------------------------------------------ recipients

def test_recipients_share_one_transaction(lab):
    rcv = lab.scripted("127.0.0.2")
    start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern()
    rcpts = [f"user{i}@example.test" for i in range(5)]

    qid = tern.send("together@origin.test", rcpts,
                    message_bytes("together"))

    for rcpt in rcpts:
        wait_outcome(tern, qid, rcpt, "sent")
    assert len(rcv.messages) == 1, f"{rcv.describe()}"
    assert sorted(rcv.messages[0].rcpt_tos) == rcpts, \
        f"envelope {rcv.messages[0].rcpt_tos}"
    assert len(rcv.commands(b"MAIL")) == 1, f"sessions {rcv.sessions}"


@pytest.mark.parametrize("where", ["global", "destination"])
def test_recipient_limit_splits_transactions(lab, where):
    rcv = lab.scripted("127.0.0.2")
    start_dns(lab, *example_mx("127.0.0.2"))
    if where == "global":
        tern = lab.tern(delivery={"recipient_limit": 2})
    else:
        tern = lab.tern(destinations=[{"domain": "example.test",
                                       "recipient_limit": 2}])
    rcpts = [f"user{i}@example.test" for i in range(5)]

    qid = tern.send(f"split-{where}@origin.test", rcpts,
                    message_bytes(f"split, {where} limit"))

    for rcpt in rcpts:
        wait_outcome(tern, qid, rcpt, "sent")
    envelopes = [m.rcpt_tos for m in rcv.messages]
    assert len(envelopes) == 3, f"transactions {envelopes}"
    for envelope in envelopes:
        assert len(envelope) <= 2, f"transactions {envelopes}"
    delivered = sorted(r for e in envelopes for r in e)
    assert delivered == rcpts, f"transactions {envelopes}"
    tern.wait_queue_empty()


@pytest.mark.parametrize("where", ["global", "destination"])
def test_destination_concurrency_limit(lab, where):
    # The receiver takes 0.3 s per message, so queued messages pile up
    # and tern would open more connections if it could.
    rcv = lab.scripted("127.0.0.2", dot_delay=0.3)
    start_dns(lab, *example_mx("127.0.0.2"))
    if where == "global":
        tern = lab.tern(delivery={"destination_concurrency": 2})
    else:
        tern = lab.tern(destinations=[{"domain": "example.test",
                                       "concurrency": 2}])
    batch = [(f"conc{i}@origin.test", ["user@example.test"],
              message_bytes(f"concurrency {i}")) for i in range(12)]

    tern.send_many(batch)

    got = rcv.wait(12, timeout=30)
    assert len(got) == 12, f"{len(got)} of 12 arrived{tern.tail()}"
    assert rcv.max_active <= 2, \
        f"{rcv.max_active} connections at once, limit 2{tern.tail()}"
