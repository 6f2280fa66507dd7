"""A reload releases mail that warmup holds back.

direct.test goes by MX from pool main, whose one address 127.0.0.2
warms up, with overflow "wait". When the address has no capacity, qmgr
holds the destination until the address has some again. A reload that
changes the overflow, the route or the warmup must route the held mail
again at once, not when the old hold ends.

On the test clock (TERN_TEST_CLOCK, which stays still here) curve
[2, 96] lets one message go at the start of day 1; the next token is
due 12 hours later. On the real clock an address whose warmup starts in
2099 has no capacity for decades, so qmgr keeps only the head job of
direct.test in memory and leaves the other rows in the queue, which
scans skip while the hold lasts.
"""

import subprocess

import pytest

from engine_helpers import start_dns
from peers import message_bytes
from tern_instance import BUILD_DIR, libconfig_text

MX_ADDRESS = "127.0.0.8"
RELAY_ADDRESS = "127.0.0.9"
SOURCE = "127.0.0.2"
RCPT = "user@direct.test"

# 2030-01-01 00:00 UTC, the start of the warmup in the test-clock case.
DAY_ONE = 1893456000

# qmgr's debug line when routing finds no capacity for a job.
HELD_LINE = r": job \d+: direct\.test held back for \d+ s"


def policy(port, start="2030-01-01", days=(2, 96), overflow="wait",
           route="mx"):
    """direct.test by route from pool main (SOURCE warming up from start
    on curve days) with overflow; smart host relay at RELAY_ADDRESS."""
    destination = {"match": "direct.test", "route": route}
    if route == "mx":
        destination["pool"] = "main"
        destination["overflow"] = overflow
    else:
        destination["smart_host"] = "relay"
    return {
        "smart_hosts": [{"name": "relay", "host": RELAY_ADDRESS,
                         "port": port, "tls": "none"}],
        "pools": [{"name": "main", "addresses": [{
            "address": SOURCE, "ehlo_name": "out2.direct.test",
            "warmup": {"start": start, "curve": "new"}}]}],
        "curves": [{"name": "new", "days": list(days)}],
        "destinations": [{"match": "default", "route": "mx"}, destination],
    }


def start_tern(lab, first_policy):
    """DNS, a receiver at direct.test's MX host and one at the smart host,
    and tern (logging at debug level) with first_policy; returns (tern,
    mx receiver, relay receiver)."""
    start_dns(lab, mx={"direct.test": [(10, "mx.direct.test")]},
              hosts={"mx.direct.test": [MX_ADDRESS]})
    mx = lab.receiver(MX_ADDRESS)
    relay = lab.receiver(RELAY_ADDRESS)
    tern = lab.tern(start=False, policy_file="policy.conf",
                    log={"level": "debug", "file": "tern.log"})
    (tern.dir / "policy.conf").write_text(libconfig_text(first_policy))
    tern.start()
    return tern, mx, relay


def send(tern, count):
    return [tern.send("sender@origin.test", [RCPT],
                      message_bytes(f"held {i}")) for i in range(count)]


def reload_policy(tern, new_policy):
    """Write new_policy and apply it with `tern reload`."""
    (tern.dir / "policy.conf").write_text(libconfig_text(new_policy))
    since = tern.log_size()
    done = subprocess.run([str(BUILD_DIR / "tern"), "-c",
                           str(tern.conf_path), "reload"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    tern.wait_log(r"policy: loaded .*policy\.conf", since=since)


@pytest.mark.parametrize("change", ["overflow", "route"])
def test_reload_releases_held_mail(lab, tmp_path, monkeypatch, change):
    clock = tmp_path / "clock"
    clock.write_text(f"{DAY_ONE + 60}\n")
    monkeypatch.setenv("TERN_TEST_CLOCK", str(clock))
    tern, mx, relay = start_tern(lab, policy(lab.port))

    send(tern, 4)
    first = mx.wait(1)
    assert len(first) == 1, f"{mx.describe()}{tern.tail()}"
    assert first[0].peer[0] == SOURCE
    tern.wait_log(HELD_LINE)

    if change == "overflow":
        reload_policy(tern, policy(lab.port, overflow="smarthost:relay"))
    else:
        reload_policy(tern, policy(lab.port, route="smarthost"))

    # The test clock has not moved, so only the reload can free them.
    relayed = relay.wait(3)
    assert len(relayed) == 3, f"{relay.describe()}{tern.tail()}"
    assert len(mx.messages) == 1, mx.describe()


def test_reload_releases_trimmed_hold(lab):
    tern, mx, relay = start_tern(lab, policy(lab.port, start="2099-01-01"))

    send(tern, 4)
    tern.wait_log(HELD_LINE)
    assert mx.messages == [], mx.describe()

    # A start in the past puts the address beyond the end of its curve,
    # so it has no limit any more.
    reload_policy(tern, policy(lab.port, start="2020-01-01"))

    got = mx.wait(4)
    assert len(got) == 4, f"{mx.describe()}{tern.tail()}"
    assert {m.peer[0] for m in got} == {SOURCE}
    assert relay.messages == [], relay.describe()
