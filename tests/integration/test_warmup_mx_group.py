"""Warmup per destination group when the group is found by MX host.

The policy's group "big" lists big.test in its domains and
"*.bigmx.test" in its mx patterns. viamx.test is not in the domains
list, but dnsmasq gives it the MX host mx1.bigmx.test, so qmgr looks
the MX up and counts viamx.test in "big", whose curve allows fewer
messages than the address's own curve. plain.test has an MX host that
no pattern matches and is counted under the address's curve ("other").

tern runs on a test clock (TERN_TEST_CLOCK names a file holding the
epoch seconds). An address's token bucket has a capacity of one hour's
share of its daily limit (at least one message) and is full at the
start of the day.
"""

import json
import os
import subprocess
import time

from engine_helpers import QUIET_WINDOW, start_dns, wait_outcome
from peers import message_bytes, wait_for
from tern_instance import BUILD_DIR, libconfig_text

SOURCE = "127.0.0.6"
BIG_MX_ADDRESS = "127.0.0.2"
PLAIN_MX_ADDRESS = "127.0.0.3"

# 2030-01-01 00:00 UTC: day 1 of the warmup curve below.
DAY_ONE = 1893456000
HOUR = 3600

# "other" may send 240 a day, 10 of them at once. "big" may send 2 a
# day: one at once and the second 12 hours later.
POLICY = {
    "pools": [{"name": "main", "addresses": [
        {"address": SOURCE, "ehlo_name": "out6.example.test",
         "warmup": {"start": "2030-01-01", "curve": "wide",
                    "groups": [{"group": "big", "curve": "narrow"}]}}]}],
    "groups": [{"name": "big", "domains": ["big.test"],
                "mx": ["*.bigmx.test"]}],
    "curves": [{"name": "wide", "days": [240]},
               {"name": "narrow", "days": [2]}],
    "destinations": [{"match": "default", "route": "mx", "pool": "main"}],
}


def set_clock(path, seconds):
    path.write_text(f"{seconds}\n")


def send_each(tern, domain, count):
    """Send count messages to user@domain; return their queue ids."""
    return [tern.send("warm@origin.test", [f"user@{domain}"],
                      message_bytes(f"{domain} {i}")) for i in range(count)]


def warmup_status(tern, clock):
    """Run tern warmup status --json at the test clock's time; return
its entries by address."""
    done = subprocess.run(
        [str(BUILD_DIR / "tern"), "-c", str(tern.conf_path), "warmup",
         "status", "--json"], capture_output=True, text=True, timeout=30,
        env=dict(os.environ, TERN_TEST_CLOCK=str(clock)))
    assert done.returncode == 0, done.stderr
    return {a["address"]: a for a in json.loads(done.stdout)}


def test_mx_group_gets_its_curve(lab, tmp_path, monkeypatch):
    big = lab.receiver(BIG_MX_ADDRESS)
    plain = lab.receiver(PLAIN_MX_ADDRESS)
    start_dns(lab, mx={"viamx.test": [(10, "mx1.bigmx.test")],
                       "plain.test": [(10, "mx.plain.test")]},
              hosts={"mx1.bigmx.test": [BIG_MX_ADDRESS],
                     "mx.plain.test": [PLAIN_MX_ADDRESS]})
    clock = tmp_path / "clock"
    set_clock(clock, DAY_ONE + 60)
    monkeypatch.setenv("TERN_TEST_CLOCK", str(clock))
    tern = lab.tern(start=False, policy_file="policy.conf")
    (tern.dir / "policy.conf").write_text(libconfig_text(POLICY))
    tern.start()

    grouped = send_each(tern, "viamx.test", 4)
    others = send_each(tern, "plain.test", 5)

    # Every message of the other domain goes at once: its bucket has 10
    # tokens, and the big group's charges do not come out of it.
    for qid in others:
        wait_outcome(tern, qid, "user@plain.test", "sent")
    assert big.wait(1), f"nothing reached {BIG_MX_ADDRESS}{tern.tail()}"
    time.sleep(QUIET_WINDOW)
    assert len(big.messages) == 1, \
        f"{len(big.messages)} sent to viamx.test with one token" \
        f"{tern.tail()}"

    # Half a day later (and a minute, so that no rounding of the
    # bucket's rate matters) the group's second and last message goes.
    set_clock(clock, DAY_ONE + 120 + 12 * HOUR)
    tern.wait_log(r"warmup: 127\.0\.0\.6: group big: day 1 limit 2 "
                  r"reached, next capacity at 2030-01-02T00:00:00Z")
    assert wait_for(lambda: len(big.messages) >= 2, 20), \
        f"the second message did not go{tern.tail()}"
    time.sleep(QUIET_WINDOW)
    assert len(big.messages) == 2, \
        f"{len(big.messages)} sent to viamx.test, limit 2{tern.tail()}"
    assert {m.peer[0] for m in big.messages + plain.messages} == {SOURCE}
    assert len(plain.messages) == 5, plain.describe()

    # qmgr saves its counters at stop; the status shows each domain's
    # messages under its own group.
    tern.stop()
    status = warmup_status(tern, clock)
    groups = {g["group"]: g for g in status[SOURCE]["groups"]}
    assert sorted(groups) == ["big", "other"], status
    assert groups["big"]["limit"] == 2, groups
    assert groups["big"]["sent"] == 2, groups
    assert groups["big"]["remaining"] == 0, groups
    assert groups["big"]["next_capacity"] == "2030-01-02T00:00:00Z", groups
    assert groups["other"]["limit"] == 240, groups
    assert groups["other"]["sent"] == 5, groups
    assert groups["other"]["remaining"] == 235, groups

    # The other two wait for tomorrow without a failed attempt.
    waiting = [row for qid in grouped for row in tern.recipients_of(qid)]
    assert len(waiting) == 2, f"queued: {waiting}"
    for row in waiting:
        assert row["attempts"] == 0, waiting
