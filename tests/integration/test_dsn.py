"""Delivery status notifications (RFC 3461 parameters, RFC 3464 reports).
smtpd accepts and stores NOTIFY, ORCPT, RET and ENVID, and deliver passes
them on to a server that offers DSN. qmgr sends failure, delay and
success reports to the sender as NOTIFY requests, with the message or
only its header as RET requests.

Reports arrive at the receiver for origin.test (127.0.0.5) and are
checked field by field with reports.assert_report().
"""

import email.utils
import smtplib
import time

import pytest

from engine_helpers import (QUIET_WINDOW, assert_no_report,
                            assert_still_queued, example_mx, outcomes, relay,
                            report_pattern, reports_at, start_dns,
                            wait_outcome, wait_report_queued, wait_reports)
from peers import message_bytes, wait_for
from reports import assert_report

# DSN_NOTIFY_* bits of queue.h, as stored in recipients.notify.
NOTIFY_NEVER = 1
NOTIFY_SUCCESS = 2
NOTIFY_FAILURE = 4
NOTIFY_DELAY = 8

# enum dsn_ret, as stored in messages.ret.
RET_FULL = 1
RET_HDRS = 2

REJECTION = (b"550 5.1.1 <gone@example.test>: Recipient address rejected: "
             b"User unknown")


def mx1(lab, domain="example.test"):
    return relay(f"mx1.{domain}", "127.0.0.2", lab.port)


# ------------------------------------------------------------ smtpd

def test_smtpd_stores_dsn_parameters(lab):
    # The receiver always replies 451, so the message stays queued.
    lab.scripted("127.0.0.2", dot_replies=[b"451 4.3.0 Try again later"])
    start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern()
    rcpts = ["a@example.test", "b@example.test"]

    with smtplib.SMTP(tern.address, tern.port, timeout=10) as s:
        s.ehlo("client.test")
        assert s.has_extn("dsn"), \
            f"smtpd does not offer DSN: {s.ehlo_resp!r}"
    qid = tern.send("stored@origin.test", rcpts, message_bytes("stored"),
                    mail_options=["RET=HDRS", "ENVID=env+2Bid-1"],
                    rcpt_options={"a@example.test": [
                        "NOTIFY=SUCCESS,FAILURE",
                        "ORCPT=rfc822;orig+2Ba@origin.test"]})

    wait_outcome(tern, qid, "a@example.test", "deferred")
    messages = [m for m in tern.messages() if m["queue_id"] == qid]
    assert len(messages) == 1, f"messages: {tern.messages()}"
    assert messages[0]["envid"] == "env+2Bid-1", \
        f"envid stored as {messages[0]['envid']!r}, expected the xtext " \
        f"as received"
    assert messages[0]["ret"] == RET_HDRS, f"message row {messages[0]}"
    assert messages[0]["origin"] == 0, f"message row {messages[0]}"
    rows = {r["address"]: r for r in tern.recipients_of(qid)}
    assert rows["a@example.test"]["notify"] == \
        NOTIFY_SUCCESS | NOTIFY_FAILURE, f"row {rows['a@example.test']}"
    assert rows["a@example.test"]["orcpt"] == \
        "rfc822;orig+2Ba@origin.test", f"row {rows['a@example.test']}"
    assert rows["b@example.test"]["notify"] == 0, \
        f"b@ gave no NOTIFY: {rows['b@example.test']}"
    assert rows["b@example.test"]["orcpt"] == "", \
        f"b@ gave no ORCPT: {rows['b@example.test']}"


# RFC 3461 4: NEVER cannot be combined with other NOTIFY values, RET is
# FULL or HDRS, ENVID is at most 100 characters of xtext and ORCPT starts
# with an address type.
INVALID_PARAMETERS = {
    "ret-partial": ("MAIL", "RET=PARTIAL"),
    "envid-too-long": ("MAIL", "ENVID=" + "x" * 101),
    "envid-bad-xtext": ("MAIL", "ENVID=bad+zz"),
    "notify-never-and-success": ("RCPT", "NOTIFY=NEVER,SUCCESS"),
    "notify-unknown": ("RCPT", "NOTIFY=SOMETIMES"),
    "orcpt-without-type": ("RCPT", "ORCPT=user@origin.test"),
}


def test_smtpd_rejects_invalid_dsn_parameters(lab):
    tern = lab.tern()

    for case, (verb, parameter) in INVALID_PARAMETERS.items():
        with smtplib.SMTP(tern.address, tern.port, timeout=10) as s:
            s.ehlo("client.test")
            if verb == "MAIL":
                code, text = s.mail("invalid@origin.test", [parameter])
            else:
                assert s.mail("invalid@origin.test")[0] == 250
                code, text = s.rcpt("user@example.test", [parameter])
        assert code == 501, f"{case}: {verb} with {parameter[:40]} got " \
            f"{code} {text!r}"


# ------------------------------------------------------------ passing on

def test_dsn_passed_to_receiver_offering_dsn(lab):
    # The receiver offers DSN, so it reports success itself: tern sends
    # no "relayed" report for NOTIFY=SUCCESS.
    rcv = lab.scripted("127.0.0.2", dsn=True)
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern()
    rcpt = "user@example.test"

    qid = tern.send("pass-on@origin.test", [rcpt], message_bytes("pass on"),
                    mail_options=["RET=HDRS", "ENVID=pass+2Bon"],
                    rcpt_options={rcpt: ["NOTIFY=SUCCESS,FAILURE",
                                         "ORCPT=rfc822;orig+2Buser@origin.test"]})

    wait_outcome(tern, qid, rcpt, "sent", relay=mx1(lab))
    got = rcv.wait(1)
    mail = got[0].mail_command.decode().upper().split()
    assert "RET=HDRS" in mail, f"MAIL: {got[0].mail_command!r}"
    assert "ENVID=PASS+2BON" in mail, f"MAIL: {got[0].mail_command!r}"
    rcpt_line = got[0].rcpt_commands[0].decode().upper().split()
    assert "NOTIFY=SUCCESS,FAILURE" in rcpt_line, \
        f"RCPT: {got[0].rcpt_commands[0]!r}"
    assert "ORCPT=RFC822;ORIG+2BUSER@ORIGIN.TEST" in rcpt_line, \
        f"RCPT: {got[0].rcpt_commands[0]!r}"
    assert_no_report(tern, origin, qid)


def test_dsn_not_passed_to_receiver_without_dsn(lab):
    # The receiver does not offer DSN: tern must not send the parameters
    # (RFC 3461 4), and it reports success itself as "relayed".
    rcv = lab.scripted("127.0.0.2", dsn=False)
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern()
    sender = "relayed@origin.test"
    rcpt = "user@example.test"
    content = message_bytes("relayed", body=b"relayed-report body\r\n")
    submitted = time.time()

    qid = tern.send(sender, [rcpt], content,
                    mail_options=["RET=HDRS", "ENVID=rel+2B7"],
                    rcpt_options={rcpt: ["NOTIFY=SUCCESS",
                                         "ORCPT=rfc822;orig+2Buser@origin.test"]})

    wait_outcome(tern, qid, rcpt, "sent", relay=mx1(lab))
    report_qid = wait_report_queued(tern, qid, "relayed")
    got = wait_reports(tern, origin, 1)
    delivered = rcv.messages
    for parameter in (b"RET=", b"ENVID="):
        assert parameter not in delivered[0].mail_command.upper(), \
            f"MAIL: {delivered[0].mail_command!r}"
    for line in delivered[0].rcpt_commands:
        assert b"NOTIFY=" not in line.upper(), f"RCPT: {line!r}"
        assert b"ORCPT=" not in line.upper(), f"RCPT: {line!r}"
    assert_report(got[0], sender=sender, kind="relayed", expected=[{
        "final": rcpt, "status": r"2\.0\.0",
        "original": "orig+user@origin.test",
        "remote_mta": "mx1.example.test",
        "diagnostic": r"^250 "}],
        original=content, envid="rel+7", returned="headers",
        window=(submitted, time.time()))
    wait_outcome(tern, report_qid, sender, "sent")
    tern.wait_queue_empty()


# ------------------------------------------------------------ failures

def test_failure_report_fields(lab):
    # origin.test's receiver offers DSN, so the report's own envelope can
    # be read: MAIL FROM:<> and NOTIFY=NEVER on its recipient.
    lab.scripted("127.0.0.2", rcpt_replies={"gone@example.test": REJECTION})
    origin = start_dns(lab, *example_mx("127.0.0.2"), origin={"dsn": True})
    tern = lab.tern()
    sender = "fields@origin.test"
    rcpt = "gone@example.test"
    content = message_bytes("report fields", body=b"report-fields body\r\n")
    submitted = time.time()

    qid = tern.send(sender, [rcpt], content,
                    mail_options=["RET=FULL", "ENVID=fields+2B42"],
                    rcpt_options={rcpt: ["ORCPT=rfc822;first+2Bgone@origin.test"]})

    wait_outcome(tern, qid, rcpt, "bounced", dsn=r"5\.1\.1", relay=mx1(lab))
    report_qid = wait_report_queued(tern, qid, "failed")
    got = wait_reports(tern, origin, 1)
    wait_outcome(tern, report_qid, sender, "sent")
    tern.wait_queue_empty()

    assert_report(got[0], sender=sender, kind="failed", expected=[{
        "final": rcpt, "status": r"5\.1\.1",
        "original": "first+gone@origin.test",
        "remote_mta": "mx1.example.test",
        "diagnostic": r"^550 5\.1\.1 <gone@example\.test>: Recipient "
                      r"address rejected: User unknown",
        "reason": "User unknown"}],
        original=content, envid="fields+42", returned="full",
        window=(submitted, time.time()))
    assert got[0].mail_command.upper().startswith(b"MAIL FROM:<>"), \
        f"report's MAIL: {got[0].mail_command!r}"
    notify = [ln for ln in got[0].rcpt_commands
              if b"NOTIFY=NEVER" in ln.upper()]
    assert notify, f"the report's RCPT does not say NOTIFY=NEVER: " \
        f"{got[0].rcpt_commands}"
    time.sleep(QUIET_WINDOW)
    assert len(reports_at(origin)) == 1, f"{origin.describe()}"


@pytest.mark.parametrize("case", ["ret-hdrs", "size-limit"])
def test_failure_report_returns_headers(lab, case):
    lab.scripted("127.0.0.2", rcpt_replies={"gone@example.test": REJECTION})
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    rcpt = "gone@example.test"
    sender = f"{case}@origin.test"
    if case == "ret-hdrs":
        tern = lab.tern()
        options = ["RET=HDRS"]
        body = b"headers-only body\r\n"
    else:
        # No RET, but the original is larger than bounce.size_limit.
        tern = lab.tern(bounce={"size_limit": 2000})
        options = []
        body = b"large-original body " + b"y" * 76 + b"\r\n" + \
            (b"z" * 78 + b"\r\n") * 100
    content = message_bytes(f"headers only, {case}", body=body)
    submitted = time.time()

    qid = tern.send(sender, [rcpt], content, mail_options=options)

    wait_outcome(tern, qid, rcpt, "bounced", dsn=r"5\.1\.1")
    got = wait_reports(tern, origin, 1)
    assert_report(got[0], sender=sender, kind="failed", expected=[{
        "final": rcpt, "status": r"5\.1\.1",
        "remote_mta": "mx1.example.test", "diagnostic": r"^550 5\.1\.1 "}],
        original=content, returned="headers",
        window=(submitted, time.time()))


def test_failure_not_reported_unless_asked(lab):
    # RFC 3461 4.1: a failure is reported only for NOTIFY=FAILURE or no
    # NOTIFY at all. Each recipient of the message is rejected.
    notify = {"never@example.test": "NEVER", "success@example.test": "SUCCESS",
              "delay@example.test": "DELAY"}
    lab.scripted("127.0.0.2", rcpt_default=REJECTION)
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern()

    qid = tern.send("notify@origin.test", list(notify),
                    message_bytes("NOTIFY without FAILURE"),
                    rcpt_options={rcpt: [f"NOTIFY={value}"]
                                  for rcpt, value in notify.items()})

    for rcpt in notify:
        wait_outcome(tern, qid, rcpt, "bounced", dsn=r"5\.1\.1")
    tern.wait_log(rf"{qid}: removed")
    assert_no_report(tern, origin, qid)
    tern.wait_queue_empty()


# ------------------------------------------------------------ delays

def test_delay_notice(lab):
    # retry.delay_warning is 2 s and the receiver always replies 451, so a
    # delay report is due after the first retries. Only one is sent.
    lab.scripted("127.0.0.2", dot_replies=[b"451 4.3.0 Try again later"])
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern(retry={"delay_warning": 2})
    sender = "delayed@origin.test"
    rcpt = "user@example.test"
    content = message_bytes("delay notice", body=b"delay-notice body\r\n")
    submitted = time.time()

    qid = tern.send(sender, [rcpt], content)

    report_qid = wait_report_queued(tern, qid, "delayed", timeout=15)
    got = wait_reports(tern, origin, 1)
    report = assert_report(got[0], sender=sender, kind="delayed", expected=[{
        "final": rcpt, "status": r"4\.3\.0",
        "remote_mta": "mx1.example.test",
        "diagnostic": r"^451 4\.3\.0 Try again later"}],
        # RFC 3461 4.3: RET concerns failure reports; a delay notice
        # returns only the header.
        original=content, returned="headers",
        window=(submitted, time.time()))
    retry_until = report.recipients[0]["will-retry-until"]
    until = email.utils.parsedate_to_datetime(retry_until).timestamp()
    # The test configuration's lifetime is one hour.
    assert abs(until - (submitted + 3600)) < 120, \
        f"Will-Retry-Until {retry_until} is not arrival + 1 h"
    wait_outcome(tern, report_qid, sender, "sent")
    rows = tern.recipients_of(qid)
    assert len(rows) == 1, f"recipient rows: {rows}{tern.tail()}"
    assert rows[0]["delay_warned"] == 1, \
        f"recipient row after the delay report: {rows[0]}{tern.tail()}"
    time.sleep(QUIET_WINDOW)
    assert len(tern.log_lines(report_pattern(qid, "delayed"))) == 1, \
        f"more than one delay report{tern.tail()}"
    assert len(reports_at(origin)) == 1, f"{origin.describe()}"
    assert_still_queued(tern, qid, [rcpt])


@pytest.mark.parametrize("case", ["notify-failure", "warning-off"])
def test_delay_notice_not_sent(lab, case):
    lab.scripted("127.0.0.2", dot_replies=[b"451 4.3.0 Try again later"])
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    rcpt = "user@example.test"
    if case == "notify-failure":
        tern = lab.tern(retry={"delay_warning": 1})
        options = {rcpt: ["NOTIFY=FAILURE"]}
    else:
        tern = lab.tern(retry={"delay_warning": 0})
        options = None

    qid = tern.send(f"{case}@origin.test", [rcpt],
                    message_bytes(f"no delay notice, {case}"),
                    rcpt_options=options)

    wait_outcome(tern, qid, rcpt, "deferred")
    tern.wait_log(rf"{qid}: to=<{rcpt}>, retry in")
    assert_no_report(tern, origin, qid)
    assert_still_queued(tern, qid, [rcpt])


# ------------------------------------------------------------ expiry

def test_expiry_returns_message(lab):
    lab.scripted("127.0.0.2", dot_replies=[b"451 4.3.0 Try again later"])
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern(retry={"lifetime": 3})
    sender = "expired@origin.test"
    rcpt = "user@example.test"
    content = message_bytes("expiry", body=b"expiry body\r\n")
    submitted = time.time()

    qid = tern.send(sender, [rcpt], content)

    line = tern.wait_log_line(rf"{qid}: to=<{rcpt}>, status=expired, "
                              r"returned to sender \(", timeout=20)
    assert "451 4.3.0 Try again later" in line, f"expiry line: {line}"
    wait_report_queued(tern, qid, "failed")
    got = wait_reports(tern, origin, 1)
    assert_report(got[0], sender=sender, kind="failed", expected=[{
        "final": rcpt, "status": r"4\.\d+\.\d+",
        "remote_mta": "mx1.example.test",
        "diagnostic": r"^451 4\.3\.0 Try again later"}],
        original=content, window=(submitted, time.time()))
    tern.wait_queue_empty()
    assert outcomes(tern, qid, rcpt).count("sent") == 0


def test_bounce_queued_from_null_sender(lab):
    # The report tern writes is a queued message from <> with origin 1,
    # and its recipient has NOTIFY=NEVER, so no report about it is ever
    # sent. The sender's receiver defers it, so the row can be read.
    lab.scripted("127.0.0.2", rcpt_replies={"gone@example.test": REJECTION})
    start_dns(lab, *example_mx("127.0.0.2"),
              origin={"dot_replies": [b"451 4.3.0 Not now"]})
    tern = lab.tern()
    sender = "rows@origin.test"

    qid = tern.send(sender, ["gone@example.test"], message_bytes("rows"))

    report_qid = wait_report_queued(tern, qid, "failed")
    wait_outcome(tern, report_qid, sender, "deferred")
    rows = wait_for(lambda: [m for m in tern.messages()
                             if m["queue_id"] == report_qid], 5)
    assert rows, f"report {report_qid} not queued: {tern.messages()}"
    assert rows[0]["sender"] == "", f"report row {rows[0]}"
    assert rows[0]["origin"] == 1, f"report row {rows[0]}"
    rcpts = tern.recipients_of(report_qid)
    assert [r["address"] for r in rcpts] == [sender], f"rows {rcpts}"
    assert rcpts[0]["notify"] == NOTIFY_NEVER, f"report recipient {rcpts[0]}"
