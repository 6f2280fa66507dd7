"""Warmup counts only messages a receiver accepted.

example.test goes by MX from pool main, whose one address 127.0.0.2
warms up on curve [100] from 2030-01-01, on a test clock that stays at
the start of that day (its bucket holds 4 tokens). A scripted receiver
defers attempts, or withholds its reply until deliver is killed, before
it accepts the message. qmgr saves its counters when it stops, and
`tern warmup status --json` reads them from the queue.
"""

import json
import os
import signal
import subprocess

from engine_helpers import outcomes, start_dns, wait_outcome
from peers import message_bytes, wait_for
from tern_instance import BUILD_DIR, libconfig_text

MX_ADDRESS = "127.0.0.8"
SOURCE = "127.0.0.2"
RCPT = "user@example.test"

# 2030-01-01 00:01 UTC, on day 1 of the curve.
NOW = 1893456000 + 60

POLICY = {
    "pools": [{"name": "main", "addresses": [{
        "address": SOURCE, "ehlo_name": "out2.example.test",
        "warmup": {"start": "2030-01-01", "curve": "new"}}]}],
    "curves": [{"name": "new", "days": [100]}],
    "destinations": [{"match": "example.test", "route": "mx",
                      "pool": "main"}],
}


def sent_today(tern, clock):
    """The "sent" count of SOURCE for every other domain, as `tern warmup
    status --json` shows it."""
    done = subprocess.run(
        [str(BUILD_DIR / "tern"), "-c", str(tern.conf_path), "warmup",
         "status", "--json"], capture_output=True, text=True, timeout=30,
        env=dict(os.environ, TERN_TEST_CLOCK=str(clock)))
    assert done.returncode == 0, done.stderr
    addresses = {a["address"]: a for a in json.loads(done.stdout)}
    groups = {g["group"]: g for g in addresses[SOURCE]["groups"]}
    return groups["other"]["sent"]


def wait_deferrals(tern, qid, count):
    """Wait until deliver logged at least count deferrals of RCPT of
    qid."""
    def deferrals():
        return outcomes(tern, qid, RCPT).count("deferred")
    found = wait_for(lambda: deferrals() >= count, 30)
    assert found, f"{deferrals()} deferral(s) of {qid}{tern.tail()}"


def test_deferred_attempts_count_nothing(lab, tmp_path, monkeypatch):
    clock = tmp_path / "clock"
    clock.write_text(f"{NOW}\n")
    monkeypatch.setenv("TERN_TEST_CLOCK", str(clock))
    start_dns(lab, mx={"example.test": [(10, "mx.example.test")]},
              hosts={"mx.example.test": [MX_ADDRESS]})
    rcv = lab.scripted(MX_ADDRESS,
                       mail_replies=[b"451 4.3.0 Try again later"])
    tern = lab.tern(start=False, policy_file="policy.conf")
    (tern.dir / "policy.conf").write_text(libconfig_text(POLICY))
    tern.start()

    qid = tern.send("sender@origin.test", [RCPT], message_bytes("retried"))
    wait_deferrals(tern, qid, 3)
    # Stopping saves the counters.
    tern.stop()
    assert len(rcv.commands(b"MAIL")) >= 3, rcv.describe()
    assert sent_today(tern, clock) == 0

    # Accepted on the next attempt: that one message counts.
    rcv.mail_replies = [b"250 2.1.0 Ok"]
    tern.start()
    wait_outcome(tern, qid, RCPT, "sent")
    tern.stop()
    assert len(rcv.messages) == 1, rcv.describe()
    assert sent_today(tern, clock) == 1



def test_lost_attempt_counts_nothing(lab, tmp_path, monkeypatch):
    """deliver is killed while the receiver withholds its reply to MAIL,
    so no result comes back for that attempt: its charge is given back,
    and only the later delivery counts."""
    clock = tmp_path / "clock"
    clock.write_text(f"{NOW}\n")
    monkeypatch.setenv("TERN_TEST_CLOCK", str(clock))
    start_dns(lab, mx={"example.test": [(10, "mx.example.test")]},
              hosts={"mx.example.test": [MX_ADDRESS]})
    rcv = lab.scripted(MX_ADDRESS, hang_at="mail", hang_sessions=1)
    tern = lab.tern(start=False, policy_file="policy.conf")
    (tern.dir / "policy.conf").write_text(libconfig_text(POLICY))
    tern.start()

    qid = tern.send("sender@origin.test", [RCPT], message_bytes("lost"))
    assert wait_for(lambda: rcv.hangs >= 1, 20), rcv.describe()
    since = tern.log_size()
    os.kill(tern.child_pid("tern-deliver"), signal.SIGKILL)
    tern.wait_log(r"deliver disconnected; its jobs in flight were "
                  r"released", since=since)

    # The restarted deliver tries again, and the receiver accepts.
    wait_outcome(tern, qid, RCPT, "sent")
    tern.stop()
    assert len(rcv.messages) == 1, rcv.describe()
    assert sent_today(tern, clock) == 1
