"""Receivers that misbehave on purpose, and what tern makes of each reply:
the per-recipient outcome in deliver's log, the recipient's row in the
queue and, where one is due, the report that reaches the sender's domain.

A ScriptedReceiver (peers.py) plays mx1.example.test at 127.0.0.2; the
senders' domain origin.test has its MX at 127.0.0.5, where reports
arrive. The test configuration retries after 1 s, at most 2 s apart.
"""

import re
import time

import pytest

from engine_helpers import (QUIET_WINDOW, assert_never_sent, assert_no_report,
                            assert_still_queued, example_mx, outcomes, relay,
                            reports_at, start_dns, suspension_pattern,
                            wait_outcome, wait_report_queued, wait_reports)
from peers import message_bytes, wait_for
from reports import assert_report


def mx1(lab):
    return relay("mx1.example.test", "127.0.0.2", lab.port)


# ------------------------------------------------------------ greeting

def test_greeting_421_defers_and_suspends(lab):
    rcv = lab.scripted("127.0.0.2", greeting=b"421 4.3.2 mx1.example.test "
                       b"Service not available, closing channel")
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern()
    rcpt = "user@example.test"
    submitted = time.time()

    qid = tern.send("greet421@origin.test", [rcpt],
                    message_bytes("421 at the greeting"))

    line = wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.\d+\.\d+")
    assert "421" in line, f"the deferral does not give the 421: {line}"
    tern.wait_log(suspension_pattern("example.test"))
    rows = wait_for(lambda: [d for d in tern.destinations()
                             if d["domain"] == "example.test"], 5)
    assert rows, f"no destinations row for example.test: " \
        f"{tern.destinations()}{tern.tail()}"
    assert rows[0]["failures"] >= 1, f"destination row {rows[0]}"
    assert rows[0]["suspended_until"] > submitted, \
        f"destination row {rows[0]} was not suspended after {submitted:.0f}"
    assert "421" in rows[0]["last_error"], f"destination row {rows[0]}"
    assert rcv.commands(b"MAIL") == [], \
        f"MAIL sent after a 421 greeting: {rcv.sessions}"
    assert_no_report(tern, origin, qid)
    assert_never_sent(tern, qid, rcpt)
    assert_still_queued(tern, qid, [rcpt])


def test_greeting_421_at_one_mx_does_not_suspend(lab):
    # mx1 answers 421, mx2 takes the mail: the destination works, so it
    # must not be suspended and later mail must not wait.
    lab.scripted("127.0.0.2", greeting=b"421 4.3.2 mx1.example.test busy")
    good = lab.scripted("127.0.0.3")
    start_dns(lab, *example_mx("127.0.0.2", "127.0.0.3"))
    tern = lab.tern(retry={"first_delay": 60, "max_delay": 60})
    rcpt = "user@example.test"

    for i in range(3):
        qid = tern.send(f"split{i}@origin.test", [rcpt],
                        message_bytes(f"split {i}"))
        wait_outcome(tern, qid, rcpt, "sent")

    assert len(good.messages) == 3, f"{good.describe()}"
    assert tern.log_lines(suspension_pattern("example.test")) == [], \
        f"example.test was suspended although mx2 took the mail" \
        f"{tern.tail()}"


def test_held_mail_expires_together(lab):
    # Ten messages wait for a destination that refuses every session.
    # When their lifetime ends they are all returned within one
    # suspension, not one per probe.
    lab.scripted("127.0.0.2", greeting=b"421 4.3.2 mx1.example.test down")
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern(retry={"first_delay": 4, "max_delay": 4,
                           "lifetime": 6})
    batch = [(f"held{i}@origin.test", [f"user{i}@example.test"],
              message_bytes(f"held {i}")) for i in range(10)]

    tern.send_many(batch)

    expired = wait_for(lambda: len(tern.log_lines(
        r"status=expired, returned to sender")) >= 10, 30, interval=0.2)
    assert expired, f"only {len(tern.log_lines(r'status=expired'))} of 10 " \
        f"held messages expired{tern.tail()}"
    times = [tern.log_time(line) for line in
             tern.log_lines(r"status=expired, returned to sender")]
    assert max(times) - min(times) < 6, \
        f"the held messages expired over {max(times) - min(times):.1f} s, " \
        f"one probe at a time{tern.tail()}"
    tern.wait_queue_empty(timeout=20)
    assert len(reports_at(origin)) == 10, f"{origin.describe()}"


# ------------------------------------------------------------ RCPT

def test_mixed_rcpt_replies(lab):
    # ok@ is accepted, busy@ gets 452 ("too many recipients") and goes
    # again in a second transaction on the same connection (RFC 5321
    # 4.5.3.1.10), where it gets 250; gone@ gets 550. Only gone@ is
    # reported, with its ORCPT.
    rejection = (b"550 5.1.1 <gone@example.test>: Recipient address "
                 b"rejected: User unknown")
    rcv = lab.scripted("127.0.0.2", rcpt_replies={
        "busy@example.test": [b"452 4.5.3 Error: too many recipients",
                              b"250 2.1.5 Ok"],
        "gone@example.test": rejection})
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern()
    sender = "mixed@origin.test"
    rcpts = ["ok@example.test", "busy@example.test", "gone@example.test"]
    content = message_bytes("mixed RCPT replies",
                            body=b"mixed-rcpt-replies body\r\n")
    submitted = time.time()

    qid = tern.send(sender, rcpts, content,
                    mail_options=["RET=FULL", "ENVID=mixed+2B1"],
                    rcpt_options={"gone@example.test":
                                  ["ORCPT=rfc822;orig+2Bgone@origin.test"]})

    wait_outcome(tern, qid, "ok@example.test", "sent", dsn=r"2\.0\.0",
                 relay=mx1(lab))
    line = wait_outcome(tern, qid, "gone@example.test", "bounced",
                        dsn=r"5\.1\.1", relay=mx1(lab))
    assert "User unknown" in line, f"gone@ bounce: {line}"
    report_qid = wait_report_queued(tern, qid, "failed")
    wait_outcome(tern, qid, "busy@example.test", "sent", relay=mx1(lab))
    got = wait_reports(tern, origin, 1)
    wait_outcome(tern, report_qid, sender, "sent")
    tern.wait_queue_empty()

    assert_report(got[0], sender=sender, kind="failed", expected=[{
        "final": "gone@example.test", "status": r"5\.1\.1",
        "original": "orig+gone@origin.test",
        "remote_mta": "mx1.example.test",
        "diagnostic": r"^550 5\.1\.1 .*User unknown",
        "reason": "User unknown"}],
        original=content, envid="mixed+1", returned="full",
        window=(submitted, time.time()))
    envelopes = [m.rcpt_tos for m in rcv.messages]
    assert envelopes == [["ok@example.test"], ["busy@example.test"]], \
        f"transactions at the receiver: {envelopes}{tern.tail()}"
    assert outcomes(tern, qid, "ok@example.test") == ["sent"]
    assert outcomes(tern, qid, "busy@example.test") == ["sent"]
    assert len(rcv.sessions) == 1, \
        f"the second transaction used a new connection: {rcv.sessions}"
    assert outcomes(tern, qid, "gone@example.test") == ["bounced"]
    time.sleep(QUIET_WINDOW)
    assert len(reports_at(origin)) == 1, \
        f"more than one report: {reports_at(origin)}{tern.tail()}"


def test_repeated_452_stops_after_no_progress(lab):
    # busy@ gets 452 every time: it goes again once, beside nothing
    # else, and then waits for its retry instead of looping.
    rcv = lab.scripted("127.0.0.2", rcpt_replies={
        "busy@example.test": [b"452 4.5.3 Error: too many recipients"]})
    start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern(retry={"first_delay": 60, "max_delay": 60})
    rcpts = ["ok@example.test", "busy@example.test"]

    qid = tern.send("busy452@origin.test", rcpts, message_bytes("452"))

    wait_outcome(tern, qid, "busy@example.test", "deferred",
                 dsn=r"4\.5\.3")
    assert outcomes(tern, qid, "ok@example.test") == ["sent"]
    tries = [ln for ln in rcv.commands(b"RCPT") if b"<busy@" in ln]
    assert len(tries) == 2, f"busy@ was offered {len(tries)} times: " \
        f"{rcv.sessions}{tern.tail()}"
    assert_still_queued(tern, qid, ["busy@example.test"])


# ------------------------------------------------------------ after DATA

def test_451_after_data_defers_every_recipient(lab):
    # The first retry comes 3 s later, so the queue can be read between.
    rcv = lab.scripted("127.0.0.2", dot_replies=[
        b"451 4.3.0 Local error in processing, try again later",
        b"250 2.0.0 Ok: recorded"])
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern(retry={"first_delay": 3, "max_delay": 3})
    rcpts = ["a@example.test", "b@example.test"]
    content = message_bytes("451 after DATA")

    qid = tern.send("after-data@origin.test", rcpts, content)

    for rcpt in rcpts:
        line = wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.3\.0",
                            relay=mx1(lab))
        assert "451 4.3.0 Local error" in line, f"{rcpt}: {line}"
    rows = tern.recipients_of(qid)
    assert sorted(r["address"] for r in rows) == rcpts, \
        f"queue after the 451: {rows}{tern.tail()}"
    for row in rows:
        assert row["attempts"] == 1, f"row after one attempt: {row}"
        assert row["next_attempt"] > time.time(), \
            f"row due again at once after a 451: {row}"
        assert "451" in (row["last_reply"] or ""), f"row: {row}"
    got = rcv.wait(1)
    assert len(got) == 1, f"not delivered after the 451: {rcv.describe()}" \
        f"{tern.tail()}"
    assert sorted(got[0].rcpt_tos) == rcpts, \
        f"the retry did not carry both recipients: {got[0].rcpt_tos}"
    for rcpt in rcpts:
        wait_outcome(tern, qid, rcpt, "sent", relay=mx1(lab))
    tern.wait_queue_empty()
    assert rcv.dot_attempts == 2, f"{rcv.dot_attempts} final dots"
    assert_no_report(tern, origin, qid)


def test_554_after_data_bounces_every_recipient(lab):
    rcv = lab.scripted("127.0.0.2", dot_replies=[
        b"554 5.6.0 Message content rejected"])
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern()
    sender = "content@origin.test"
    rcpts = ["a@example.test", "b@example.test"]
    content = message_bytes("554 after DATA", body=b"rejected-body\r\n")
    submitted = time.time()

    qid = tern.send(sender, rcpts, content)

    for rcpt in rcpts:
        wait_outcome(tern, qid, rcpt, "bounced", dsn=r"5\.6\.0",
                     relay=mx1(lab))
    wait_report_queued(tern, qid, "failed")
    got = wait_reports(tern, origin, 1)
    tern.wait_queue_empty()

    # One report per message covers both recipients.
    expected = [{"final": rcpt, "status": r"5\.6\.0",
                 "remote_mta": "mx1.example.test",
                 "diagnostic": r"^554 5\.6\.0 Message content rejected",
                 "reason": "content rejected"} for rcpt in rcpts]
    assert_report(got[0], sender=sender, kind="failed", expected=expected,
                  original=content, window=(submitted, time.time()))
    assert rcv.messages == [], f"receiver recorded {rcv.messages}"
    time.sleep(QUIET_WINDOW)
    assert len(reports_at(origin)) == 1, \
        f"reports: {reports_at(origin)}{tern.tail()}"


def test_connection_closed_in_data_never_sent(lab):
    # Every session is dropped after 64 KiB of a 1 MB message.
    rcv = lab.scripted("127.0.0.2", drop_data=1000, drop_after=65536)
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern()
    rcpt = "user@example.test"
    line = b"0123456789" * 7 + b"\r\n"
    content = message_bytes("closed in DATA", body=line * 14000)

    qid = tern.send("drop@origin.test", [rcpt], content)

    wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.\d+\.\d+",
                 relay=mx1(lab))
    assert_no_report(tern, origin, qid)
    assert_never_sent(tern, qid, rcpt)
    assert_still_queued(tern, qid, [rcpt])
    assert len(rcv.sessions) >= 2, \
        f"not retried after the drop: {rcv.describe()}{tern.tail()}"
    assert rcv.dot_attempts == 0, "a session reached the final dot"
    assert rcv.messages == [], f"receiver recorded {rcv.messages}"


# ------------------------------------------------------------ timeouts

# Each stage's setting, RFC 5321 4.5.3.2; "ehlo" is one of the commands
# that command_timeout covers.
STAGE_TIMEOUTS = [
    ("greeting", "greeting_timeout"),
    ("ehlo", "command_timeout"),
    ("mail", "mail_timeout"),
    ("rcpt", "rcpt_timeout"),
    ("data", "data_init_timeout"),
    ("content", "data_block_timeout"),
    ("dot", "final_dot_timeout"),
]


@pytest.mark.parametrize("stage,setting", STAGE_TIMEOUTS,
                         ids=[s for s, _ in STAGE_TIMEOUTS])
def test_silent_receiver_times_out(lab, stage, setting):
    # Only this stage's timeout is short: the others keep their defaults
    # of minutes, so a deferral within seconds shows that this setting
    # was used.
    rcv = lab.scripted("127.0.0.2", hang_at=stage)
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern(delivery={setting: 2})
    rcpt = "user@example.test"
    if stage == "content":
        # Larger than the socket buffers, so writing it blocks.
        body = (b"x" * 998 + b"\r\n") * 8000
    else:
        body = b"Test body.\r\n"
    content = message_bytes(f"silent at {stage}", body=body)

    qid = tern.send(f"silent-{stage}@origin.test", [rcpt], content)

    accepted = tern.wait_log_line(rf"{qid}: from=<")
    line = wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.\d+\.\d+",
                        timeout=20)
    waited = tern.log_time(line) - tern.log_time(accepted)
    assert waited >= 1.5, \
        f"deferred {waited:.1f} s after arrival, before the 2 s " \
        f"{setting} could pass: {line}{tern.tail()}"
    assert re.search(r"(?i)timed? ?out", line), \
        f"the deferral does not say it timed out: {line}"
    assert rcv.hangs >= 1, f"the receiver never went silent: " \
        f"{rcv.describe()}"
    if stage in ("greeting", "ehlo", "mail"):
        assert rcv.commands(b"RCPT") == [], f"sessions {rcv.sessions}"
    assert_never_sent(tern, qid, rcpt)
    assert_still_queued(tern, qid, [rcpt])
    assert reports_at(origin) == [], f"report: {reports_at(origin)}"


# ------------------------------------------------------------ 421 4.7.0

TEMPORARILY_DEFERRED = (b"421 4.7.0 mx1.example.test Error: too many "
                        b"connections from 127.0.0.1, temporarily deferred")


@pytest.mark.parametrize("where", ["mail", "rcpt"])
def test_421_temporarily_deferred_throttles(lab, where):
    # After MAIL: nothing accepted. After RCPT: a@ was accepted and b@
    # got the 421, so neither can be delivered in this session.
    if where == "mail":
        rcv = lab.scripted("127.0.0.2", mail_replies=[TEMPORARILY_DEFERRED])
    else:
        rcv = lab.scripted("127.0.0.2", rcpt_replies={
            "b@example.test": TEMPORARILY_DEFERRED})
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern()
    rcpts = ["a@example.test", "b@example.test"]

    qid = tern.send(f"throttle-{where}@origin.test", rcpts,
                    message_bytes(f"421 after {where.upper()}"))

    # The recipient that got the 421 is deferred with it; after RCPT, a@
    # was accepted but lost its transaction, which may read otherwise.
    line = wait_outcome(tern, qid, "b@example.test", "deferred",
                        dsn=r"4\.7\.0")
    assert "temporarily deferred" in line, f"b@: {line}"
    wait_outcome(tern, qid, "a@example.test", "deferred",
                 dsn=r"4\.7\.0" if where == "mail" else r"4\.\d+\.\d+")
    tern.wait_log(suspension_pattern("example.test"))
    assert_no_report(tern, origin, qid)
    for rcpt in rcpts:
        assert_never_sent(tern, qid, rcpt)
    assert_still_queued(tern, qid, rcpts)
    assert rcv.commands(b"DATA") == [], \
        f"DATA sent after a 421: {rcv.sessions}"
