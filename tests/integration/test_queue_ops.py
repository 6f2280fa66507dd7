"""tern queue flush, hold, release, delete, bounce and requeue while
ternd is stopped: the command takes the queue lock and changes the
database itself. Messages are first deferred by a receiver that replies
451, with retries an hour apart, so only the operation can make one go
sooner. After ternd starts again, an accepting receiver takes the first
one's place and shows what each operation did.
"""

import fcntl
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time

import pytest

from engine_helpers import (QUIET_WINDOW, assert_never_sent, example_mx,
                            start_dns, wait_outcome, wait_reports)
from peers import ScriptedReceiver, message_bytes
from tern_instance import BUILD_DIR
from test_queue_tool import run_queue
from test_sendmail import sendmail

REPLY = b"451 4.3.0 queue-ops test: try again later"

# Deferred recipients wait an hour, far longer than any test runs.
SLOW_RETRY = {"first_delay": 3600, "max_delay": 3600, "lifetime": "1d"}


def deferring_lab(lab, domains=("example.test",)):
    """DNS for the domains (all at 127.0.0.2) and origin.test (the
    senders' domain, whose receiver at 127.0.0.5 gets bounces), a 451
    receiver at 127.0.0.2 and a started ternd with slow retries. Returns
    (tern, deferring receiver, origin receiver)."""
    mx, hosts = example_mx("127.0.0.2")
    for domain in domains[1:]:
        mx[domain] = [(10, "mx1.example.test")]
    origin = start_dns(lab, mx=mx, hosts=hosts)
    first = ScriptedReceiver("127.0.0.2", lab.port, rcpt_default=REPLY)
    lab.peers.append(first.start())
    tern = lab.tern(retry=SLOW_RETRY)
    return tern, first, origin


def send_deferred(tern, sender, rcpt, subject):
    """Submits one message and waits for its first deferral."""
    qid = tern.send(sender, [rcpt], message_bytes(subject, sender=sender,
                                                  recipient=rcpt))
    wait_outcome(tern, qid, rcpt, "deferred")
    return qid


def restart_accepting(lab, tern, first):
    """Replaces the 451 receiver by an accepting one and starts ternd."""
    first.stop()
    receiver = lab.receiver("127.0.0.2")
    tern.start()
    return receiver


def subjects(receiver):
    found = []
    for m in receiver.messages:
        match = re.search(rb"^Subject: (.*)\r$", m.content, re.M)
        found.append(match.group(1).decode() if match else None)
    return found


def recipient_row(tern, qid):
    rows = tern.recipients_of(qid)
    assert len(rows) == 1, rows
    return rows[0]


def test_queue_ops_flush_delete_bounce_stopped(lab):
    tern, first, origin = deferring_lab(lab)
    flushed = send_deferred(tern, "f@origin.test", "f@example.test",
                            "flush me")
    deleted = send_deferred(tern, "d@origin.test", "d@example.test",
                            "delete me")
    bounced = send_deferred(tern, "b@origin.test", "b@example.test",
                            "bounce me")
    kept = send_deferred(tern, "k@origin.test", "k@example.test",
                         "keep me")
    tern.stop()

    done = run_queue(tern, "flush", flushed)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"{flushed}: flushed, 1 recipient\n"
                           "1 message: 1 flushed\n")
    done = run_queue(tern, "delete", deleted.lower())
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"{deleted}: deleted, 1 recipient\n"
                           "1 message: 1 deleted\n")
    done = run_queue(tern, "bounce", bounced)
    assert done.returncode == 0, done.stderr
    match = re.fullmatch(rf"{bounced}: bounced, 1 recipient, bounce queued "
                         r"as ([0-9A-F]{16})\n1 message: 1 bounced\n",
                         done.stdout)
    assert match, done.stdout
    report = match.group(1)
    assert [m["queue_id"] for m in tern.messages()
            if m["queue_id"] in (deleted, bounced)] == []
    assert tern.recipients_of(report)[0]["address"] == "b@origin.test"
    log = tern.log_text()
    assert f"{deleted}: removed by the queue administrator" in log, log
    assert (f"{bounced}: to=<b@example.test>, status=bounced (returned to "
            "the sender by the queue administrator)") in log, log
    assert f"{bounced}: sender non-delivery notification: {report}" in log

    receiver = restart_accepting(lab, tern, first)
    wait_outcome(tern, flushed, "f@example.test", "sent")
    got = wait_reports(tern, origin, 1)
    assert got[0].rcpt_tos == ["b@origin.test"], got[0].rcpt_tos
    assert b"Status: 5.0.0" in got[0].content, got[0].content
    assert b"Action: failed" in got[0].content, got[0].content
    # The human-readable part wraps long lines.
    text = re.sub(rb"\s+", b" ", got[0].content)
    assert (b"<b@example.test>: returned to the sender by the queue "
            b"administrator (status 5.0.0)") in text, got[0].content
    assert b"Diagnostic-Code:" not in got[0].content, got[0].content
    assert subjects(receiver) == ["flush me"]
    # The kept message waits for its retry an hour later, so only the
    # flush made the first one go.
    assert recipient_row(tern, kept)["attempts"] == 1
    assert_never_sent(tern, deleted, "d@example.test")


def test_queue_ops_hold_release_requeue_stopped(lab):
    tern, first, _ = deferring_lab(lab)
    held = send_deferred(tern, "h@origin.test", "h@example.test",
                         "hold me")
    requeued = send_deferred(tern, "r@origin.test", "r@example.test",
                             "requeue me")
    kept = send_deferred(tern, "k@origin.test", "k@example.test",
                         "keep me")
    tern.stop()
    # A cached MTA-STS policy and a suspension that requeue forgets.
    con = sqlite3.connect(tern.queue_dir / "queue.db")
    with con:
        con.execute("INSERT INTO mta_sts_policies (domain, id, policy, "
                    "fetched, expires) VALUES ('example.test', 'x', "
                    "'version: STSv1', 1, 4102444800)")
        con.execute("INSERT INTO destinations (domain, failures, "
                    "suspended_until, last_error) VALUES ('example.test', "
                    "1, 0, 'test')")
    con.close()

    done = run_queue(tern, "hold", held)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{held}: held, 1 recipient\n1 message: 1 held\n"
    done = run_queue(tern, "hold", held)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{held}: unchanged, already held\n")
    done = run_queue(tern, "flush", held)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        f"{held}: unchanged, every recipient is held\n")

    before = recipient_row(tern, requeued)
    assert before["attempts"] == 1
    assert before["last_reply"]
    done = run_queue(tern, "requeue", requeued)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"{requeued}: requeued, 1 recipient\n"
                           "1 message: 1 requeued\n")
    after = recipient_row(tern, requeued)
    assert after["attempts"] == 0
    assert after["last_reply"] is None
    assert after["next_attempt"] <= time.time()
    assert tern.rows("SELECT * FROM mta_sts_policies") == []
    assert tern.destinations() == []
    assert recipient_row(tern, kept)["attempts"] == 1

    receiver = restart_accepting(lab, tern, first)
    wait_outcome(tern, requeued, "r@example.test", "sent")
    assert subjects(receiver) == ["requeue me"]
    listing = run_queue(tern)
    assert re.search(rf"^{held}! ", listing.stdout, re.M), listing.stdout

    tern.stop()
    done = run_queue(tern, "release", held)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"{held}: released, 1 recipient\n"
                           "1 message: 1 released\n")
    tern.start()
    wait_outcome(tern, held, "h@example.test", "sent")
    assert sorted(subjects(receiver)) == ["hold me", "requeue me"]
    assert recipient_row(tern, kept)["attempts"] == 1


def test_queue_ops_filters_stopped(lab):
    tern, _, _ = deferring_lab(lab, domains=("example.test", "other.test"))
    first = send_deferred(tern, "a@origin.test", "x@example.test", "one")
    second = send_deferred(tern, "b@origin.test", "y@other.test", "two")
    third = send_deferred(tern, "c@origin.test", "z@example.test", "three")
    tern.stop()

    done = run_queue(tern, "hold", "--from", "B@origin.test")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{second}: held, 1 recipient\n1 message: 1 held\n"
    done = run_queue(tern, "hold", "--to", "z@example.test")
    assert done.stdout == f"{third}: held, 1 recipient\n1 message: 1 held\n"

    done = run_queue(tern, "delete", "--status", "held", "--domain",
                     "other.test")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"{second}: deleted, 1 recipient\n"
                           "1 message: 1 deleted\n")

    # --domain alone flushes the destination: held recipients stay.
    done = run_queue(tern, "flush", "--domain", "example.test")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("destination example.test: flushed, "
                           "1 recipient\n")
    assert recipient_row(tern, first)["next_attempt"] <= time.time()
    assert recipient_row(tern, third)["next_attempt"] > time.time()

    done = run_queue(tern, "bounce", "--older-than", "1h")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "0 messages\n"

    done = run_queue(tern, "delete", "--all")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"{first}: deleted, 1 recipient\n"
                           f"{third}: deleted, 1 recipient\n"
                           "2 messages: 2 deleted\n")
    assert tern.queue_counts() == (0, 0)


def test_queue_ops_usage_and_exit_codes(lab):
    # Deferred first: without a receiver the message could bounce and
    # leave the queue before ternd stops.
    tern, _, _ = deferring_lab(lab)
    qid = send_deferred(tern, "a@origin.test", "x@example.test",
                        "exit codes")
    tern.stop()

    for args in (["delete"], ["bounce", qid, "--from", "a@origin.test"],
                 ["hold", "--bogus"], ["flush", "--all", "--to", "x@y"],
                 ["requeue", "--older-than", "soon"], ["release", "--to"]):
        done = run_queue(tern, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr != "", args

    done = run_queue(tern, "delete", "00000000000000FF")
    assert done.returncode == 1, done.stderr
    assert done.stdout == ("00000000000000FF: not in the queue\n"
                           "1 message: 1 not in the queue\n")
    done = run_queue(tern, "hold", "not-an-id", qid)
    assert done.returncode == 1, done.stderr
    assert done.stdout == ("not-an-id: not a queue id (16 hex digits)\n"
                           f"{qid}: held, 1 recipient\n"
                           "2 messages: 1 held, 1 not in the queue\n")
    done = run_queue(tern, "release", qid)
    assert done.returncode == 0, done.stderr

    # flush without arguments flushes every destination, as postqueue -f.
    con = sqlite3.connect(tern.queue_dir / "queue.db")
    with con:
        con.execute("UPDATE recipients SET next_attempt = 4102444800")
    con.close()
    done = run_queue(tern, "flush")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "every destination: flushed, 1 recipient\n"
    done = run_queue(tern, "flush")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("every destination: nothing to flush, every "
                           "recipient is due or held\n")


def test_queue_ops_need_write_access(lab):
    if os.geteuid() != 0:
        pytest.skip("needs root to run the command as another user")
    tern = lab.tern()
    qid = tern.send("a@origin.test", ["x@example.test"],
                    message_bytes("permission"))
    tern.stop()
    for path in (tern.dir.parent, tern.dir):
        path.chmod(0o755)
    tern.conf_path.chmod(0o644)
    tern.queue_dir.chmod(0o755)
    (tern.queue_dir / "queue.db").chmod(0o644)
    # The build tree may sit in a folder only its owner can enter, so
    # the user nobody runs a copy kept beside the configuration.
    program = tern.dir / "tern-copy"
    shutil.copyfile(BUILD_DIR / "tern", program)
    program.chmod(0o755)
    done = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         str(program), "-c", str(tern.conf_path), "queue", "delete", qid],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "permission denied" in done.stderr, done.stderr
    assert str(tern.queue_dir) in done.stderr, done.stderr
    assert "root" in done.stderr, done.stderr
    assert "SQLITE" not in done.stderr.upper(), done.stderr
    assert len(tern.messages()) == 1


def hold_lock(tern):
    """Takes ternd.lock as a tern command would; returns the open file,
    whose closing releases the lock."""
    lock = open(tern.queue_dir / "ternd.lock", "a+")
    fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return lock


def test_ternd_waits_for_queue_lock(lab):
    tern = lab.tern()
    tern.stop()
    lock = hold_lock(tern)
    try:
        offset = tern.log_size()
        tern.start(wait=False)
        tern.wait_log("is locked by a tern command; waiting", since=offset)
    finally:
        lock.close()
    tern.wait_listening(log_offset=offset)
    assert tern.running()


def test_queue_ops_report_lock_without_qmgr(lab):
    tern = lab.tern()
    qid = tern.send("a@origin.test", ["x@example.test"],
                    message_bytes("locked"))
    tern.stop()
    lock = hold_lock(tern)
    try:
        done = run_queue(tern, "delete", qid)
    finally:
        lock.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "is locked" in done.stderr, done.stderr
    assert "try again" in done.stderr, done.stderr
    assert len(tern.messages()) == 1


def test_queue_ops_flush_delete_running(lab):
    """With ternd running the same commands go through qmgr."""
    tern, first, _ = deferring_lab(lab)
    flushed = send_deferred(tern, "f@origin.test", "f@example.test",
                            "flush me")
    deleted = send_deferred(tern, "d@origin.test", "d@example.test",
                            "delete me")
    kept = send_deferred(tern, "k@origin.test", "k@example.test",
                         "keep me")
    first.stop()
    receiver = lab.receiver("127.0.0.2")

    done = run_queue(tern, "delete", deleted)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"{deleted}: deleted, 1 recipient\n"
                           "1 message: 1 deleted\n")
    tern.wait_log(f"{deleted}: removed by the queue administrator")
    done = run_queue(tern, "flush", flushed)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"{flushed}: flushed, 1 recipient\n"
                           "1 message: 1 flushed\n")
    wait_outcome(tern, flushed, "f@example.test", "sent")
    assert subjects(receiver) == ["flush me"]
    assert tern.recipients_of(deleted) == []

    done = run_queue(tern, "hold", "--status", "deferred", "--from",
                     "k@origin.test")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{kept}: held, 1 recipient\n1 message: 1 held\n"
    assert recipient_row(tern, kept)["held"] == 1


def test_queue_ops_reject_empty_filters(lab):
    tern, _, _ = deferring_lab(lab)
    sender = send_deferred(tern, "a@origin.test", "x@example.test",
                           "named sender")
    bounce = send_deferred(tern, "", "y@example.test", "null sender")
    tern.stop()

    # An unset shell variable must never select the whole queue.
    for option in ("--domain", "--from", "--to", "--status",
                   "--older-than"):
        for command in ([], ["list"], ["hold"], ["release"], ["delete"],
                        ["bounce"], ["requeue"], ["flush"]):
            done = run_queue(tern, *command, option, "")
            assert done.returncode == 2, (command, option, done.stdout)
            assert f"invalid {option}: empty" in done.stderr, (
                command, option, done.stderr)
            assert done.stdout == "", (command, option)
    assert len(tern.messages()) == 2
    assert tern.rows("SELECT count(*) AS n FROM recipients "
                     "WHERE held = 1")[0]["n"] == 0

    done = run_queue(tern, "--from", "<>")
    assert done.returncode == 0, done.stderr
    assert re.findall(r"^([0-9A-F]{16}) ", done.stdout, re.M) == [bounce]
    done = run_queue(tern, "hold", "--from", "<>")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{bounce}: held, 1 recipient\n1 message: 1 held\n"
    done = run_queue(tern, "--from", "a@origin.test", "--status", "held")
    assert done.stdout == "Mail queue is empty\n"
    done = run_queue(tern, "--from", "a@origin.test")
    assert re.findall(r"^([0-9A-F]{16}) ", done.stdout, re.M) == [sender]


def test_queue_show_status_matches_listing(lab):
    tern, _, _ = deferring_lab(lab)
    held = send_deferred(tern, "h@origin.test", "h@example.test", "held")
    tried = send_deferred(tern, "t@origin.test", "t@example.test", "tried")
    fresh = send_deferred(tern, "n@origin.test", "n@example.test", "fresh")
    tern.stop()
    assert run_queue(tern, "hold", held).returncode == 0
    # requeue forgets the attempts, so the message was never tried.
    assert run_queue(tern, "requeue", fresh).returncode == 0

    statuses = {"held": held, "deferred": tried, "queued": fresh}
    for status, qid in statuses.items():
        shown = run_queue(tern, "show", qid)
        assert shown.returncode == 0, shown.stderr
        assert re.search(rf"^status: +{status}$", shown.stdout, re.M), (
            status, shown.stdout)
        assert re.search(rf"^  status: +{status}$", shown.stdout, re.M), (
            status, shown.stdout)
        assert re.search(r"^origin: +received over SMTP$", shown.stdout,
                         re.M), shown.stdout
        listed = run_queue(tern, "--status", status, "--json")
        assert listed.returncode == 0, listed.stderr
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        assert [(r["queue_id"], r["status"]) for r in rows] == [
            (qid, status)], (status, listed.stdout)
    done = run_queue(tern, "release", "--status", "queued")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"{fresh}: unchanged, not held\n"
                           "1 message: 1 unchanged\n")

    local = sendmail(tern, "-i", "l@example.test",
                     stdin=b"Subject: local\n\nqueued by sendmail\n")
    assert local.returncode == 0, local.stderr
    listed = run_queue(tern, "--to", "l@example.test", "--json")
    local_id = json.loads(listed.stdout)["queue_id"]
    shown = run_queue(tern, "show", local_id)
    assert re.search(r"^origin: +local submission \(sendmail\)$",
                     shown.stdout, re.M), shown.stdout
