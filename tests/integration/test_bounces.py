"""Reports that fail themselves. A report (from the null sender) that the
sender's domain rejects is never reported again, so it cannot loop or
fill the queue. With bounce.copy_failed_bounces_to set, the postmaster
gets one copy and nothing more. A report that cannot be delivered is
given up when retry.bounce_lifetime ends, counted from its arrival.

example.test (127.0.0.2) rejects gone@ with 550, which makes tern write
a report to the sender at origin.test (127.0.0.5); admin.test (127.0.0.6)
is the postmaster's domain.
"""

import time

from engine_helpers import (QUIET_WINDOW, example_mx, report_pattern,
                            reports_at, start_dns, wait_outcome,
                            wait_report_queued, wait_reports)
from peers import message_bytes, wait_for

REJECTION = (b"550 5.1.1 <gone@example.test>: Recipient address rejected: "
             b"User unknown")
SENDER_REJECTED = b"550 5.1.1 <sender>: Recipient address rejected: No mailbox"
POSTMASTER = "postmaster@admin.test"


def bounce_dns(lab, origin, admin=None):
    """example.test rejecting gone@, origin.test with the given
    ScriptedReceiver behaviour and, when admin is given, admin.test with
    a ScriptedReceiver of that behaviour. Returns (origin, admin)."""
    lab.scripted("127.0.0.2", rcpt_replies={"gone@example.test": REJECTION})
    mx, hosts = example_mx("127.0.0.2")
    receiver = None
    if admin is not None:
        mx["admin.test"] = [(10, "mx.admin.test")]
        hosts["mx.admin.test"] = ["127.0.0.6"]
        receiver = lab.scripted("127.0.0.6", **admin)
    return start_dns(lab, mx, hosts, origin=origin), receiver


def fail_one(tern, sender):
    """Submit a message to gone@example.test and wait for its report to
    be queued; return (queue id, report queue id)."""
    qid = tern.send(sender, ["gone@example.test"],
                    message_bytes(f"from {sender}"))
    wait_outcome(tern, qid, "gone@example.test", "bounced", dsn=r"5\.1\.1")
    return qid, wait_report_queued(tern, qid, "failed")


def assert_no_loop(tern, origin, report_qid):
    """The report was tried once, no report about it was queued, smtpd
    accepted nothing but the test's message and the queue is empty."""
    tern.wait_queue_empty()
    time.sleep(QUIET_WINDOW)
    assert len(origin.commands(b"RCPT")) == 1, \
        f"the report was offered more than once: {origin.describe()}" \
        f"{tern.tail()}"
    again = tern.log_lines(report_pattern(report_qid, "failed"))
    assert again == [], f"a report about the report: {again}{tern.tail()}"
    accepted = tern.accepted()
    assert len(accepted) == 1, f"smtpd accepted {accepted}{tern.tail()}"
    assert tern.queue_counts() == (0, 0), \
        f"queue not empty: {tern.messages()} {tern.recipients()}"


def test_rejected_bounce_not_bounced(lab):
    origin, _ = bounce_dns(lab, origin={"rcpt_default": SENDER_REJECTED})
    tern = lab.tern()
    sender = "lost@origin.test"

    qid, report_qid = fail_one(tern, sender)

    wait_outcome(tern, report_qid, sender, "bounced", dsn=r"5\.1\.1")
    tern.wait_log(rf"{report_qid}: failure of a null-sender message not "
                  r"reported")
    assert_no_loop(tern, origin, report_qid)
    copies = tern.log_lines("postmaster copy")
    assert copies == [], f"copied without copy_failed_bounces_to: {copies}"


def test_rejected_bounce_copied_to_postmaster(lab):
    origin, admin = bounce_dns(lab, origin={"rcpt_default": SENDER_REJECTED},
                               admin={})
    tern = lab.tern(bounce={"copy_failed_bounces_to": POSTMASTER})
    sender = "copied@origin.test"

    qid, report_qid = fail_one(tern, sender)

    wait_outcome(tern, report_qid, sender, "bounced", dsn=r"5\.1\.1")
    copy_qid = tern.wait_log(rf"{report_qid}: postmaster copy of a failed "
                             r"null-sender message: ([0-9A-F]+)").group(1)
    got = wait_reports(tern, admin, 1)
    assert got[0].rcpt_tos == [POSTMASTER], f"copy sent to {got[0].rcpt_tos}"
    wait_outcome(tern, copy_qid, POSTMASTER, "sent")
    assert_no_loop(tern, origin, report_qid)
    assert len(admin.messages) == 1, \
        f"the postmaster got {len(admin.messages)} messages: " \
        f"{admin.describe()}{tern.tail()}"


def test_failed_postmaster_copy_not_copied_again(lab):
    origin, admin = bounce_dns(
        lab, origin={"rcpt_default": SENDER_REJECTED},
        admin={"rcpt_default": b"550 5.1.1 No postmaster here"})
    tern = lab.tern(bounce={"copy_failed_bounces_to": POSTMASTER})
    sender = "copy-lost@origin.test"

    qid, report_qid = fail_one(tern, sender)

    copy_qid = tern.wait_log(rf"{report_qid}: postmaster copy of a failed "
                             r"null-sender message: ([0-9A-F]+)").group(1)
    wait_outcome(tern, copy_qid, POSTMASTER, "bounced", dsn=r"5\.1\.1")
    assert_no_loop(tern, origin, report_qid)
    assert len(admin.commands(b"RCPT")) == 1, \
        f"the copy was offered more than once: {admin.describe()}" \
        f"{tern.tail()}"
    again = tern.log_lines(rf"{copy_qid}: postmaster copy")
    assert again == [], f"a copy of the copy: {again}{tern.tail()}"


def test_bounce_given_up_at_lifetime(lab):
    # The sender's receiver replies 451 to every report. The lifetime of
    # reports is 3 s, the ordinary lifetime one hour.
    origin, _ = bounce_dns(lab, origin={
        "dot_replies": [b"451 4.3.0 Mailbox busy, try again later"]})
    tern = lab.tern(retry={"bounce_lifetime": 3})
    sender = "busy@origin.test"

    qid, report_qid = fail_one(tern, sender)

    wait_outcome(tern, report_qid, sender, "deferred", dsn=r"4\.3\.0")
    rows = wait_for(lambda: [m for m in tern.messages()
                             if m["queue_id"] == report_qid], 5)
    assert rows, f"report {report_qid} not in the queue{tern.tail()}"
    arrival = rows[0]["arrival"]
    for row in tern.recipients_of(report_qid):
        assert row["next_attempt"] <= arrival + 3, \
            f"retry planned after the report's lifetime ends at " \
            f"{arrival + 3}: {row}"
    line = tern.wait_log_line(rf"{report_qid}: to=<{sender}>, "
                              r"status=expired", timeout=20)
    expired = tern.log_time(line)
    assert expired >= arrival + 3 - 1, \
        f"given up {expired - arrival:.1f} s after arrival, before the 3 s " \
        f"bounce lifetime: {line}"
    # At most one retry interval (retry.max_delay is 2 s) late.
    assert expired <= arrival + 3 + 2 + 2, \
        f"given up {expired - arrival:.1f} s after arrival, long after the " \
        f"3 s bounce lifetime: {line}"
    tern.wait_queue_empty()
    again = tern.log_lines(report_pattern(report_qid, "failed"))
    assert again == [], f"a report about the report: {again}{tern.tail()}"
    assert reports_at(origin) == [], f"{origin.describe()}"
    assert origin.dot_attempts >= 1, f"{origin.describe()}"
