"""tern queue hold and release against a running ternd.

Message A is deferred (the first receiver replies 451), then put on
hold. While ternd is stopped the test makes A due at once and forgets
the destination's backoff, and an accepting receiver takes the first
one's place. After the restart a later message B is delivered while A
stays queued and marked held; after tern queue release, A is delivered.
"""

import os
import re
import sqlite3
import subprocess

from engine_helpers import assert_never_sent, wait_outcome
from peers import ScriptedReceiver, message_bytes
from tern_instance import BUILD_DIR
from test_queue_tool import run_queue

REPLY = b"451 4.3.0 queue-hold test: try again later"


def make_due_now(tern):
    """Makes every queued recipient due and clears destination backoff,
    so only the hold can keep A from being delivered. ternd is stopped."""
    con = sqlite3.connect(tern.queue_dir / "queue.db")
    with con:
        con.execute("UPDATE recipients SET next_attempt = 0")
        con.execute("DELETE FROM destinations")
    con.close()


def test_queue_hold_stops_delivery(lab):
    first = ScriptedReceiver("127.0.0.2", lab.port, rcpt_default=REPLY)
    lab.peers.append(first.start())
    lab.dns(mx={"example.test": [(10, "mx.example.test")]},
            hosts={"mx.example.test": ["127.0.0.2"]})
    tern = lab.tern()
    qid_a = tern.send("alice@origin.test", ["one@example.test"],
                      message_bytes("held message"))
    wait_outcome(tern, qid_a, "one@example.test", "deferred")

    held = run_queue(tern, "hold", qid_a)
    assert held.returncode == 0, held.stderr
    assert held.stdout == f"{qid_a}: held, 1 recipient\n1 message: 1 held\n"
    again = run_queue(tern, "hold", qid_a)
    assert again.stdout.startswith(f"{qid_a}: unchanged, already held\n")
    missing = run_queue(tern, "hold", "00000000000000FF")
    assert missing.returncode == 1
    assert "00000000000000FF: not in the queue" in missing.stdout

    tern.stop()
    first.stop()
    make_due_now(tern)
    receiver = lab.receiver("127.0.0.2")
    tern.start()

    qid_b = tern.send("bob@origin.test", ["two@example.test"],
                      message_bytes("free message"))
    got = receiver.mailbox.wait(1)
    assert [m.rcpt_tos for m in got] == [["two@example.test"]]
    wait_outcome(tern, qid_b, "two@example.test", "sent")
    assert_never_sent(tern, qid_a, "one@example.test")
    listing = run_queue(tern)
    assert re.search(rf"^{qid_a}! ", listing.stdout, re.M), listing.stdout
    only_held = run_queue(tern, "--status", "held", "--json")
    assert '"held":true' in only_held.stdout, only_held.stdout
    assert only_held.stdout.count("\n") == 1, only_held.stdout

    released = run_queue(tern, "release", qid_a)
    assert released.returncode == 0, released.stderr
    assert released.stdout.startswith(f"{qid_a}: released, 1 recipient\n")
    # A new message makes qmgr scan at once, instead of within a minute.
    tern.send("carol@origin.test", ["three@example.test"],
              message_bytes("wake message"))
    wait_outcome(tern, qid_a, "one@example.test", "sent")
    tern.wait_queue_empty()
    assert run_queue(tern).stdout == "Mail queue is empty\n"


def test_queue_hold_needs_write_access(lab):
    tern = lab.tern(start=False)
    tern.queue_dir.mkdir(mode=0o755)
    (tern.queue_dir / "queue.db").write_bytes(b"")
    os.chmod(tern.queue_dir / "queue.db", 0o644)
    os.chmod(tern.conf_path, 0o644)
    # nobody may read the configuration and the queue, but not write.
    for directory in [tern.dir, *tern.dir.parents]:
        if directory == lab.dir.parent:
            break
        os.chmod(directory, 0o755)
    done = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         str(BUILD_DIR / "tern"), "-c", str(tern.conf_path), "queue",
         "hold", "0000000000000001"],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot change the queue" in done.stderr, done.stderr
    assert "permission denied" in done.stderr, done.stderr
