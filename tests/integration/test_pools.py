"""Source-address pools of the policy file. deliver binds each connection
to the address qmgr chose for the job and gives that address's EHLO
name. Addresses are chosen by weight, each within its warmup curve's
daily limit. A pool without capacity makes mail wait, or overflow to
another pool or a smart host as the policy sets.

The receiver records the peer address and EHLO name of each message.
Every address in 127.0.0.0/8 is local on Linux, so a pool of 127.0.0.2,
127.0.0.3 and 127.0.0.4 needs no setup. The warmup tests run tern on a
test clock (TERN_TEST_CLOCK names a file holding the epoch seconds) and
move it through the day by rewriting the file.
"""

import collections
import time

from engine_helpers import QUIET_WINDOW, start_dns, wait_outcome
from peers import message_bytes
from tern_instance import libconfig_text

MX_ADDRESS = "127.0.0.8"
RELAY_ADDRESS = "127.0.0.9"
POOL = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
SECOND_POOL = "127.0.0.6"
RCPT = "user@example.test"

# 2030-01-01 00:00 UTC: day 1 of the warmup curves below.
DAY_ONE = 1893456000
HOUR = 3600


def ehlo_of(address):
    return "out" + address.rsplit(".", 1)[1] + ".example.test"


def source(address, weight=1, warmup=None):
    entry = {"address": address, "ehlo_name": ehlo_of(address),
             "weight": weight}
    if warmup is not None:
        entry["warmup"] = warmup
    return entry


def start_peers(lab):
    """DNS with example.test's MX at MX_ADDRESS and a receiver there."""
    start_dns(lab, mx={"example.test": [(10, "mx.example.test")]},
              hosts={"mx.example.test": [MX_ADDRESS]})
    return lab.receiver(MX_ADDRESS)


def start_tern(lab, policy, clock=None, monkeypatch=None):
    """tern with policy (a dict) as its policy file, on the test clock
    file clock when given."""
    tern = lab.tern(start=False, policy_file="policy.conf")
    (tern.dir / "policy.conf").write_text(libconfig_text(policy))
    if clock is not None:
        monkeypatch.setenv("TERN_TEST_CLOCK", str(clock))
    return tern.start()


def set_clock(path, seconds):
    path.write_text(f"{seconds}\n")


def send(tern, count, subject):
    return [tern.send("sender@origin.test", [RCPT],
                      message_bytes(f"{subject} {i}")) for i in range(count)]


def peers_of(messages):
    return collections.Counter(m.peer[0] for m in messages)


def test_pool_spread_follows_weights(lab):
    rcv = start_peers(lab)
    policy = {
        "pools": [{"name": "main", "addresses": [
            source(POOL[0], weight=2), source(POOL[1]), source(POOL[2])]}],
        "destinations": [{"match": "example.test", "route": "mx",
                          "pool": "main"}],
    }
    tern = start_tern(lab, policy)

    qids = send(tern, 8, "spread")

    for qid in qids:
        wait_outcome(tern, qid, RCPT, "sent")
    got = rcv.wait(8)
    assert len(got) == 8, rcv.describe()
    # Smooth weighted round robin: two rounds of 2/1/1 in eight picks.
    assert peers_of(got) == {POOL[0]: 4, POOL[1]: 2, POOL[2]: 2}, \
        f"{peers_of(got)}{tern.tail()}"
    for m in got:
        assert m.ehlo == ehlo_of(m.peer[0]), \
            f"{m.peer[0]} said EHLO {m.ehlo!r}"


def test_messages_per_connection_limit(lab):
    rcv = start_peers(lab)
    policy = {
        "pools": [{"name": "main", "addresses": [source(POOL[0])]}],
        "destinations": [{"match": "example.test", "route": "mx",
                          "pool": "main", "max_messages_per_connection": 2}],
    }
    tern = start_tern(lab, policy)

    # One at a time, so each finds the previous one's idle connection.
    for i in range(3):
        qid = tern.send("sender@origin.test", [RCPT],
                        message_bytes(f"reuse {i}"))
        wait_outcome(tern, qid, RCPT, "sent")

    got = rcv.wait(3)
    assert len(got) == 3, rcv.describe()
    assert {m.peer[0] for m in got} == {POOL[0]}
    assert rcv.connections == 2, rcv.describe()


def warmup_policy(port, days, overflow=None):
    """Pool main: POOL[0] warming up on the curve days from DAY_ONE;
    pool second: SECOND_POOL without warmup; smart host relay at
    RELAY_ADDRESS:port, without TLS."""
    destination = {"match": "example.test", "route": "mx", "pool": "main"}
    if overflow is not None:
        destination["overflow"] = overflow
    return {
        "smart_hosts": [{"name": "relay", "host": RELAY_ADDRESS,
                         "port": port, "tls": "none"}],
        "pools": [
            {"name": "main", "addresses": [source(POOL[0], warmup={
                "start": "2030-01-01", "curve": "new"})]},
            {"name": "second", "addresses": [source(SECOND_POOL)]},
        ],
        "curves": [{"name": "new", "days": days}],
        "destinations": [destination],
    }


def wait_count(rcv, count, tern):
    got = rcv.wait(count)
    assert len(got) >= count, f"{rcv.describe()}{tern.tail()}"
    return got


def test_warmup_day_limit_and_restart(lab, tmp_path, monkeypatch):
    rcv = start_peers(lab)
    clock = tmp_path / "clock"
    set_clock(clock, DAY_ONE + 60)
    # Day 1 allows 12 messages: one token every 2 hours, at most one
    # held, and one at the start. Day 2 allows 2400, with 100 tokens at
    # its start.
    tern = start_tern(lab, warmup_policy(lab.port, [12, 2400]), clock,
                      monkeypatch)
    send(tern, 20, "warmup")
    # A test clock must never be in use unnoticed.
    tern.wait_log(r"TERN_TEST_CLOCK is set: warmup, rates and throttling")

    wait_count(rcv, 1, tern)
    # Every 2 hours the address earns one more message.
    for step in range(1, 12):
        set_clock(clock, DAY_ONE + 60 + step * 2 * HOUR)
        wait_count(rcv, 1 + step, tern)
        if step == 6:
            # The counters survive a restart at the same time: a new
            # counter would start with a full bucket and send one more
            # at once, and the day's count would start again.
            tern.stop()
            tern.start()

    # The end of day 1: the limit is reached and nothing more goes,
    # however long qmgr looks.
    set_clock(clock, DAY_ONE + 24 * HOUR - 1)
    time.sleep(QUIET_WINDOW)
    got = rcv.messages
    assert 12 * 0.95 <= len(got) <= 12, \
        f"{len(got)} sent on day 1{tern.tail()}"
    assert peers_of(got) == {POOL[0]: len(got)}

    # Day 2 raises the limit: the 8 waiting go at once.
    set_clock(clock, DAY_ONE + 24 * HOUR + 60)
    got = wait_count(rcv, 20, tern)
    assert len(got) == 20, rcv.describe()
    assert peers_of(got) == {POOL[0]: 20}


def test_overflow_to_other_pool(lab, tmp_path, monkeypatch):
    rcv = start_peers(lab)
    clock = tmp_path / "clock"
    set_clock(clock, DAY_ONE + 60)
    policy = warmup_policy(lab.port, [2, 2], overflow="pool:second")
    tern = start_tern(lab, policy, clock, monkeypatch)

    qids = send(tern, 5, "overflow")

    for qid in qids:
        wait_outcome(tern, qid, RCPT, "sent")
    got = rcv.wait(5)
    # Day 1 at its start has one token: one message from main, the
    # rest from the second pool.
    assert peers_of(got) == {POOL[0]: 1, SECOND_POOL: 4}, \
        f"{peers_of(got)}{tern.tail()}"
    assert all(m.ehlo == ehlo_of(m.peer[0]) for m in got)
    line = tern.wait_log_line(r": overflow: pool main has no capacity, "
                              r"sending from pool second")
    assert any(f"{qid}: overflow" in line for qid in qids), line


def test_overflow_to_smart_host(lab, tmp_path, monkeypatch):
    rcv = start_peers(lab)
    relay = lab.receiver(RELAY_ADDRESS)
    clock = tmp_path / "clock"
    set_clock(clock, DAY_ONE + 60)
    policy = warmup_policy(lab.port, [2, 2], overflow="smarthost:relay")
    tern = start_tern(lab, policy, clock, monkeypatch)

    qids = send(tern, 5, "relay")

    for qid in qids:
        wait_outcome(tern, qid, RCPT, "sent")
    direct = rcv.wait(1)
    relayed = relay.wait(4)
    assert peers_of(direct) == {POOL[0]: 1}, rcv.describe()
    assert len(relayed) == 4, relay.describe()
    tern.wait_log_line(r": overflow: pool main has no capacity, sending "
                       r"through smart host relay")
