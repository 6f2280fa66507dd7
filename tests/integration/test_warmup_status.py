"""tern warmup status against warmup counters in a real queue.

ternd creates the queue (schema 4) once and stops. The test then writes
counters into warmup_counters with sqlite3, as qmgr stores them. It sets
the time through TERN_TEST_CLOCK and reads the command's text and JSON
output. The policy has three addresses: 127.0.0.21 warms up from
2027-01-01 on curve "new" (50, 100, 200) with curve "slow" (20, 40) for
the group gmail, 127.0.0.22 does not warm up, and 127.0.0.23 starts on
2027-01-10.
"""

import calendar
import json
import os
import re
import shutil
import sqlite3
import subprocess

import pytest

from tern_instance import BUILD_DIR, libconfig_text

DAY = 86400
START = calendar.timegm((2027, 1, 1, 0, 0, 0))
DAY_TWO_NOON = START + DAY + 12 * 3600

POLICY = {
    "pools": [
        {"name": "main", "addresses": [
            {"address": "127.0.0.21", "ehlo_name": "out1.example.test",
             "warmup": {"start": "2027-01-01", "curve": "new",
                        "groups": [{"group": "gmail", "curve": "slow"}]}},
            {"address": "127.0.0.22", "ehlo_name": "out2.example.test"},
        ]},
        {"name": "fresh", "addresses": [
            {"address": "127.0.0.23", "ehlo_name": "out3.example.test",
             "warmup": {"start": "2027-01-10", "curve": "new"}},
        ]},
    ],
    "groups": [
        {"name": "gmail", "domains": ["gmail.test"]},
        {"name": "microsoft", "domains": ["outlook.test"]},
    ],
    "curves": [
        {"name": "new", "days": [50, 100, 200]},
        {"name": "slow", "days": [20, 40]},
    ],
    "destinations": [{"match": "default", "route": "mx", "pool": "main"}],
}

# (address, group, curve day, sent, tokens, updated) as qmgr saves them.
COUNTERS = [
    # Day 2's gmail limit of 40 is used up.
    ("127.0.0.21", "gmail", 2, 40, 0.0, DAY_TWO_NOON - 60),
    # 30 of 100 sent, bucket empty just now: one token every 864 s.
    ("127.0.0.21", "", 2, 30, 0.0, DAY_TWO_NOON),
    # Yesterday's count, which a new day resets.
    ("127.0.0.21", "microsoft", 1, 50, 0.0, START + 3600),
]


@pytest.fixture
def warm_tern(lab):
    """A tern whose queue ternd has created, with COUNTERS stored and
    ternd stopped."""
    tern = lab.tern(start=False, policy_file="policy.conf")
    (tern.dir / "policy.conf").write_text(libconfig_text(POLICY))
    tern.start()
    tern.stop()
    db = tern.queue_dir / "queue.db"
    assert db.exists(), f"ternd did not create {db}:\n{tern.diagnostics()}"
    con = sqlite3.connect(db)
    try:
        con.executemany("INSERT INTO warmup_counters (address, grp, day, "
                        "sent, tokens, updated) VALUES (?, ?, ?, ?, ?, ?)",
                        COUNTERS)
        con.commit()
    finally:
        con.close()
    return tern


def warmup_status(tern, now, *args, user=None):
    """Runs tern warmup status at the test time now; returns the
    completed process."""
    clock = tern.dir / "clock"
    clock.write_text(f"{now}\n")
    program = BUILD_DIR / "tern"
    if user is not None:
        # The build tree may sit in a folder only its owner can enter
        # (a clone in a mktemp -d folder), so the other user runs a
        # copy kept beside the configuration.
        program = tern.dir / "tern-copy"
        shutil.copyfile(BUILD_DIR / "tern", program)
        program.chmod(0o755)
    command = [str(program), "-c", str(tern.conf_path),
               "warmup", "status", *args]
    if user is not None:
        command = ["runuser", "-u", user, "--"] + command
    env = dict(os.environ, TERN_TEST_CLOCK=str(clock))
    return subprocess.run(command, capture_output=True, text=True, env=env,
                          timeout=30)


def address_block(text, address):
    """The lines of the text output about address."""
    blocks = text.strip().split("\n\n")
    found = [b for b in blocks if b.startswith(address + " ")]
    assert len(found) == 1, f"no single block for {address}:\n{text}"
    return found[0]


def group_row(block, group):
    """(limit, sent, remaining, next capacity) of group in a block."""
    for line in block.splitlines():
        fields = line.split(None, 4)
        if fields and fields[0] == group:
            return tuple(fields[1:])
    raise AssertionError(f"no row for group {group}:\n{block}")


def test_warmup_status_text(warm_tern):
    done = warmup_status(warm_tern, DAY_TWO_NOON)
    assert done.returncode == 0, done.stderr
    text = done.stdout

    first = address_block(text, "127.0.0.21")
    assert "pool main" in first
    assert "EHLO out1.example.test" in first
    assert "start 2027-01-01: day 2 of its curve" in first
    assert group_row(first, "gmail") == ("40", "40", "0",
                                         "tomorrow 00:00 UTC")
    assert group_row(first, "microsoft") == ("100", "0", "100", "now")
    assert group_row(first, "other") == ("100", "30", "70",
                                         "2027-01-02T12:14:24Z")

    plain = address_block(text, "127.0.0.22")
    assert "EHLO out2.example.test" in plain
    assert "no warmup" in plain

    fresh = address_block(text, "127.0.0.23")
    assert "pool fresh" in fresh
    assert "start 2027-01-10: not started" in fresh
    assert group_row(fresh, "other") == ("0", "0", "0",
                                         "2027-01-10T00:00:00Z")


def test_warmup_status_json(warm_tern):
    done = warmup_status(warm_tern, DAY_TWO_NOON, "--json")
    assert done.returncode == 0, done.stderr
    addresses = {a["address"]: a for a in json.loads(done.stdout)}
    assert sorted(addresses) == ["127.0.0.21", "127.0.0.22", "127.0.0.23"]

    first = addresses["127.0.0.21"]
    assert first["pool"] == "main"
    assert first["ehlo_name"] == "out1.example.test"
    assert first["state"] == "warming"
    assert first["start"] == "2027-01-01"
    assert first["day"] == 2
    groups = {g["group"]: g for g in first["groups"]}
    assert sorted(groups) == ["gmail", "microsoft", "other"]
    assert groups["gmail"] == {
        "group": "gmail", "limit": 40, "sent": 40, "remaining": 0,
        "has_capacity": False, "next_capacity": "2027-01-03T00:00:00Z"}
    assert groups["other"]["sent"] == 30
    assert groups["other"]["remaining"] == 70
    assert groups["other"]["has_capacity"] is False
    assert groups["other"]["next_capacity"] == "2027-01-02T12:14:24Z"
    assert groups["microsoft"]["sent"] == 0
    assert groups["microsoft"]["has_capacity"] is True

    assert addresses["127.0.0.22"]["state"] == "no warmup"
    assert addresses["127.0.0.22"]["groups"] == []
    assert addresses["127.0.0.23"]["state"] == "not started"
    assert addresses["127.0.0.23"]["day"] == 0


def test_warmup_status_next_day(warm_tern):
    """On day 3 every count of day 2 reads as 0; gmail's curve has
    ended, so that group is no longer limited."""
    done = warmup_status(warm_tern, START + 2 * DAY + 60)
    assert done.returncode == 0, done.stderr
    first = address_block(done.stdout, "127.0.0.21")
    assert "day 3 of its curve" in first
    assert group_row(first, "gmail") == ("unlimited", "0", "unlimited",
                                         "now")
    assert group_row(first, "other") == ("200", "0", "200", "now")


def test_warmup_status_past_curve(warm_tern):
    done = warmup_status(warm_tern, START + 3 * DAY, "--json")
    assert done.returncode == 0, done.stderr
    addresses = {a["address"]: a for a in json.loads(done.stdout)}
    first = addresses["127.0.0.21"]
    assert first["state"] == "warm"
    assert first["day"] == 4
    for group in first["groups"]:
        assert group["limit"] is None, group
        assert group["has_capacity"] is True, group


def test_warmup_status_without_policy(lab):
    tern = lab.tern(start=False)
    done = warmup_status(tern, DAY_TWO_NOON)
    assert done.returncode == 1
    assert re.search(r"sets no policy_file", done.stderr), done.stderr
    assert done.stdout == ""


def test_warmup_status_unreadable_queue(warm_tern):
    """A user who may read the configuration but not the queue (mode
    0700) gets an error that names the queue and the fix."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the command as another user")
    for path in (warm_tern.dir.parent, warm_tern.dir):
        path.chmod(0o755)
    for name in ("tern.conf", "policy.conf", "cert.pem", "key.pem"):
        (warm_tern.dir / name).chmod(0o644)
    warm_tern.queue_dir.chmod(0o700)

    done = warmup_status(warm_tern, DAY_TWO_NOON, user="nobody")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot read the queue" in done.stderr, done.stderr
    assert "permission denied" in done.stderr, done.stderr
    assert done.stdout == ""
