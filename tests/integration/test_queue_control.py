"""tern queue's operations through the running qmgr (the control pipe).

While ternd runs, `tern queue flush|hold|release|delete|bounce|requeue`
asks qmgr to apply the operation, so that an operation and a delivery
never both win. The race tests stall a receiver's reply to the final
dot, so the message is at a deliver (active) when the command runs, and
wait for qmgr's line that the operation waits for that delivery before
the receiver replies: with 250 the command reports the message as
delivered first, with 451 the operation applies and the message is
never delivered again.

Retries are an hour apart, so only a flush (or a release or requeue)
makes a deferred message go again within a test.
"""

import json
import os
import re
import shutil
import subprocess
import threading

import pytest

from engine_helpers import (start_dns, suspension_pattern, wait_outcome,
                            wait_report_queued, wait_reports)
from peers import ScriptedReceiver, message_bytes
from tern_instance import BUILD_DIR
from test_queue_tool import run_queue

DEFER = b"451 4.3.0 queue-control test: try again later"
ACCEPT = b"250 2.0.0 Ok: queued"
HOUR = {"first_delay": 3600, "max_delay": 3600, "lifetime": "1d"}


class StallingReceiver(ScriptedReceiver):
    """A ScriptedReceiver that, while .stall is set, holds its reply to
    the final dot back until the test calls answer(reply)."""

    def __init__(self, address, port, **behaviour):
        super().__init__(address, port, **behaviour)
        self.stall = True
        self.stalled = threading.Event()
        self._released = threading.Event()
        self._reply = None

    def _next_dot_reply(self):
        if not self.stall:
            return super()._next_dot_reply()
        with self.mailbox.cond:
            self.dot_attempts += 1
        self.stalled.set()
        self._released.wait(60)
        return self._reply

    def answer(self, reply):
        """Sends reply to the stalled final dot; later dots get the
        dot_replies of ScriptedReceiver."""
        self._reply = reply
        self.stall = False
        self._released.set()

    def stop(self):
        self.answer(b"421 4.3.0 receiver stopping")
        return super().stop()


def control_lab(lab, receiver_class=StallingReceiver, **behaviour):
    """A running tern whose example.test mail goes to a receiver at
    127.0.0.2 (of receiver_class, made with behaviour), with retries an
    hour apart. Reports to senders go to an accepting receiver at
    origin.test. Returns (tern, receiver, origin receiver)."""
    receiver = receiver_class("127.0.0.2", lab.port, **behaviour)
    lab.peers.append(receiver.start())
    origin = start_dns(lab, mx={"example.test": [(10, "mx.example.test")]},
                       hosts={"mx.example.test": ["127.0.0.2"]})
    tern = lab.tern(retry=HOUR)
    return tern, receiver, origin


def start_queue(tern, *args):
    """Starts `tern queue ARGS` and returns the running process."""
    return subprocess.Popen(
        [str(BUILD_DIR / "tern"), "-c", str(tern.conf_path), "queue",
         *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc):
    stdout, stderr = proc.communicate(timeout=30)
    return proc.returncode, stdout, stderr


def waiting_pattern(qid):
    return rf"{qid}: the queue operation waits for the delivery in progress"


def send_one(tern, rcpt="one@example.test", subject="queue control"):
    return tern.send("alice@origin.test", [rcpt], message_bytes(subject))


def deferred_message(lab, **behaviour):
    """A running tern with one message deferred by a 451 from a plain
    ScriptedReceiver; returns (tern, receiver, origin, qid). Set
    receiver.rcpt_default to ACCEPT to let it through."""
    tern, receiver, origin = control_lab(
        lab, receiver_class=ScriptedReceiver, rcpt_default=DEFER,
        **behaviour)
    qid = send_one(tern)
    wait_outcome(tern, qid, "one@example.test", "deferred")
    return tern, receiver, origin, qid


def active_race(lab, command, reply):
    """Stalls one message at the final dot, runs `tern queue COMMAND ID`
    until qmgr logs that the operation waits, then lets the receiver
    reply. Returns (tern, receiver, qid, exit status, output)."""
    tern, receiver, _ = control_lab(lab)
    qid = send_one(tern)
    assert receiver.stalled.wait(20), receiver.describe()
    proc = start_queue(tern, command, qid)
    tern.wait_log(waiting_pattern(qid))
    receiver.answer(reply)
    status, stdout, stderr = finish(proc)
    return tern, receiver, qid, status, stdout + stderr


def flush_then_deliver_another(tern, receiver):
    """Flushes every destination, then sends a second message and waits
    until the receiver has it: a message the flush made due would have
    been read by the same scan or an earlier one, and sent with it."""
    status, stdout, stderr = finish(start_queue(tern, "flush"))
    assert status == 0, stdout + stderr
    later = send_one(tern, "two@example.test", "after the flush")
    wait_outcome(tern, later, "two@example.test", "sent")
    return later


def test_delete_loses_to_delivery(lab):
    tern, receiver, qid, status, output = active_race(lab, "delete", ACCEPT)
    assert f"{qid}: delivered before it could be deleted" in output, output
    wait_outcome(tern, qid, "one@example.test", "sent")
    tern.wait_queue_empty()
    assert [m.rcpt_tos for m in receiver.messages] == [["one@example.test"]]
    assert tern.log_lines(rf"{qid}: removed by the queue administrator") \
        == []


def test_delete_wins_over_deferral(lab):
    tern, receiver, qid, status, output = active_race(lab, "delete", DEFER)
    assert status == 0, output
    assert f"{qid}: deleted, 1 recipient" in output, output
    tern.wait_log(rf"{qid}: removed by the queue administrator")
    assert tern.recipients_of(qid) == []
    flush_then_deliver_another(tern, receiver)
    assert receiver.dot_attempts == 2, receiver.describe()
    assert [m.rcpt_tos for m in receiver.messages] == [["two@example.test"]]


def test_hold_loses_to_delivery(lab):
    tern, receiver, qid, status, output = active_race(lab, "hold", ACCEPT)
    assert f"{qid}: delivered before it could be held" in output, output
    tern.wait_queue_empty()
    assert [m.rcpt_tos for m in receiver.messages] == [["one@example.test"]]


def test_hold_wins_over_deferral(lab):
    tern, receiver, qid, status, output = active_race(lab, "hold", DEFER)
    assert status == 0, output
    assert f"{qid}: held, 1 recipient" in output, output
    tern.wait_log(rf"{qid}: held by the queue administrator")
    flush_then_deliver_another(tern, receiver)
    assert receiver.dot_attempts == 2, receiver.describe()
    rows = tern.recipients_of(qid)
    assert [(r["address"], r["held"]) for r in rows] == \
        [("one@example.test", 1)], rows

    status, stdout, stderr = finish(start_queue(tern, "release", qid))
    assert status == 0, stdout + stderr
    assert f"{qid}: released, 1 recipient" in stdout, stdout
    wait_outcome(tern, qid, "one@example.test", "sent")
    tern.wait_queue_empty()


def test_active_mark_and_status(lab):
    tern, receiver, _ = control_lab(lab)
    active = send_one(tern)
    assert receiver.stalled.wait(20), receiver.describe()
    receiver.rcpt_default = DEFER
    deferred = send_one(tern, "two@example.test", "deferred one")
    wait_outcome(tern, deferred, "two@example.test", "deferred")

    listing = run_queue(tern)
    assert listing.returncode == 0, listing.stderr
    assert re.search(rf"^{active}\* ", listing.stdout, re.M), listing.stdout
    assert re.search(rf"^{deferred} ", listing.stdout, re.M), listing.stdout

    only_active = run_queue(tern, "--status", "active", "--json")
    rows = [json.loads(line) for line in only_active.stdout.splitlines()]
    assert [(r["queue_id"], r["status"]) for r in rows] == \
        [(active, "active")], only_active.stdout
    only_deferred = run_queue(tern, "--status", "deferred", "--json")
    rows = [json.loads(line) for line in only_deferred.stdout.splitlines()]
    assert [(r["queue_id"], r["status"]) for r in rows] == \
        [(deferred, "deferred")], only_deferred.stdout

    held = run_queue(tern, "hold", deferred)
    assert held.returncode == 0, held.stdout + held.stderr
    only_held = run_queue(tern, "--status", "held")
    assert re.search(rf"^{deferred}! ", only_held.stdout, re.M), \
        only_held.stdout
    assert active not in only_held.stdout, only_held.stdout
    shown = run_queue(tern, "show", deferred).stdout
    assert re.search(r"^status: +held$", shown, re.M), shown
    assert re.search(r"^  status: +held$", shown, re.M), shown
    shown = run_queue(tern, "show", active).stdout
    assert re.search(r"^status: +active$", shown, re.M), shown
    assert re.search(r"^  status: +active ", shown, re.M), shown

    # While ternd is stopped, nothing is being delivered.
    tern.stop()
    stopped = run_queue(tern, "--json")
    rows = {r["queue_id"]: r["status"] for r in
            map(json.loads, stopped.stdout.splitlines())}
    assert rows == {active: "deferred", deferred: "held"}, stopped.stdout
    assert run_queue(tern, "--status", "active").stdout == \
        "Mail queue is empty\n"
    invalid = run_queue(tern, "--status", "bogus")
    assert invalid.returncode == 2, invalid.stdout + invalid.stderr
    assert "give queued, deferred, held or active" in invalid.stderr


def test_flush_sends_deferred_message_now(lab):
    tern, receiver, _, qid = deferred_message(lab)
    receiver.rcpt_default = ACCEPT
    status, stdout, stderr = finish(start_queue(tern, "flush", qid))
    assert status == 0, stdout + stderr
    assert f"{qid}: flushed, 1 recipient" in stdout, stdout
    tern.wait_log(rf"{qid}: flushed by the queue administrator")
    wait_outcome(tern, qid, "one@example.test", "sent")


def test_flush_ends_suspension(lab):
    # Nothing listens on 127.0.0.2 at first: the destination fails and
    # is suspended for an hour.
    start_dns(lab, mx={"example.test": [(10, "mx.example.test")]},
              hosts={"mx.example.test": ["127.0.0.2"]})
    tern = lab.tern(retry=HOUR)
    qid = send_one(tern)
    tern.wait_log(suspension_pattern("example.test"))
    # The suspension keeps a later message from being tried at all.
    untried = send_one(tern, "two@example.test", "not tried yet")
    listing = run_queue(tern, "--json")
    rows = {r["queue_id"]: r["status"] for r in
            map(json.loads, listing.stdout.splitlines())}
    assert rows == {qid: "deferred", untried: "queued"}, listing.stdout
    receiver = lab.scripted("127.0.0.2")

    status, stdout, stderr = finish(
        start_queue(tern, "flush", "--domain", "example.test"))
    assert status == 0, stdout + stderr
    assert "destination example.test: flushed, 2 recipients" in stdout, \
        stdout
    wait_outcome(tern, qid, "one@example.test", "sent")
    wait_outcome(tern, untried, "two@example.test", "sent")
    assert sorted(m.rcpt_tos[0] for m in receiver.messages) == \
        ["one@example.test", "two@example.test"]


def test_delete_bounce_requeue(lab):
    tern, receiver, origin, qid = deferred_message(lab)
    gone = send_one(tern, "two@example.test", "to delete")
    bounced = send_one(tern, "three@example.test", "to bounce")
    wait_outcome(tern, gone, "two@example.test", "deferred")
    wait_outcome(tern, bounced, "three@example.test", "deferred")

    status, stdout, stderr = finish(start_queue(tern, "delete", gone))
    assert status == 0, stdout + stderr
    assert f"{gone}: deleted, 1 recipient" in stdout, stdout
    tern.wait_log(rf"{gone}: removed by the queue administrator")
    assert tern.recipients_of(gone) == []

    status, stdout, stderr = finish(start_queue(tern, "bounce", bounced))
    assert status == 0, stdout + stderr
    assert re.search(rf"{bounced}: bounced, 1 recipient, bounce queued "
                     r"as [0-9A-F]{16}", stdout), stdout
    tern.wait_log(rf"{bounced}: to=<three@example.test>, status=bounced "
                  r"\(returned to the sender by the queue administrator\)")
    wait_report_queued(tern, bounced, "failed")
    reports = wait_reports(tern, origin)
    assert [m.rcpt_tos for m in reports] == [["alice@origin.test"]]

    receiver.rcpt_default = ACCEPT
    status, stdout, stderr = finish(start_queue(tern, "requeue", qid))
    assert status == 0, stdout + stderr
    assert f"{qid}: requeued, 1 recipient" in stdout, stdout
    tern.wait_log(rf"{qid}: requeued by the queue administrator")
    wait_outcome(tern, qid, "one@example.test", "sent")
    tern.wait_queue_empty()


def test_interrupted_command_leaves_qmgr_working(lab):
    tern, receiver, _ = control_lab(lab)
    qid = send_one(tern)
    assert receiver.stalled.wait(20), receiver.describe()
    proc = start_queue(tern, "delete", qid)
    tern.wait_log(waiting_pattern(qid))
    proc.kill()
    proc.wait(timeout=30)
    tern.wait_log(rf"queue operation delete cancelled: its command closed "
                  rf"the connection; 1 message left unchanged: {qid}$")
    receiver.answer(DEFER)
    tern.wait_log(rf"{qid}: to=<one@example.test>, retry in ")

    # The request was dropped when its connection closed, or it still
    # completed: either way the message is deleted at most once, and
    # qmgr goes on serving requests.
    status, stdout, stderr = finish(start_queue(tern, "delete", qid))
    assert (f"{qid}: deleted, 1 recipient" in stdout or
            f"{qid}: not in the queue" in stdout), stdout + stderr
    assert len(tern.log_lines(
        rf"{qid}: removed by the queue administrator")) == 1
    assert tern.recipients_of(qid) == []
    flush_then_deliver_another(tern, receiver)
    assert receiver.dot_attempts == 2, receiver.describe()


def test_control_pipe_needs_access(lab):
    if os.geteuid() != 0:
        pytest.skip("needs root to run the command as another user")
    tern, _, _, qid = deferred_message(lab)
    # nobody may read the configuration and the queue, but qmgr's pipe
    # keeps the mode ternd's umask gave it.
    for path in (tern.dir.parent, tern.dir):
        path.chmod(0o755)
    tern.conf_path.chmod(0o644)
    tern.queue_dir.chmod(0o755)
    (tern.queue_dir / "queue.db").chmod(0o644)
    program = tern.dir / "tern-copy"
    shutil.copyfile(BUILD_DIR / "tern", program)
    program.chmod(0o755)

    done = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         str(program), "-c", str(tern.conf_path), "queue", "delete", qid],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "permission denied" in done.stderr, done.stderr
    assert "cannot reach qmgr" in done.stderr, done.stderr
    assert str(tern.queue_dir) in done.stderr, done.stderr
    assert len(tern.recipients_of(qid)) == 1
