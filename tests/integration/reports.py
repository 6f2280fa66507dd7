"""Parse and check the delivery status notifications (RFC 3464) that tern
sends to a message's sender, as a receiver for the sender's domain got
them.

parse_report() checks the structure (multipart/report with
report-type=delivery-status and three parts) and returns the fields;
assert_report() checks every field tern promises for one report:

- header: From "Mail Delivery System <MAILER-DAEMON@HOSTNAME>", To the
  original sender, a Subject per kind of report, Auto-Submitted:
  auto-replied (RFC 3834), Date, Message-ID and MIME-Version: 1.0;
- part 1, text/plain: names each recipient and the reason;
- part 2, message/delivery-status: Reporting-MTA, Original-Envelope-Id
  (decoded xtext, only when ENVID was given) and Arrival-Date. Then per
  recipient: Original-Recipient (decoded ORCPT, only when given),
  Final-Recipient, Action, Status, Remote-MTA and Diagnostic-Code (only
  when a server gave the outcome), Last-Attempt-Date and, for a delay,
  Will-Retry-Until;
- part 3: message/rfc822 with the whole original, or
  text/rfc822-headers with only its header (RET=HDRS, or an original
  larger than bounce.size_limit).
"""

import email
import email.policy
import email.utils
import re

REPORTING_MTA = "tern.test"

SUBJECTS = {
    "failed": "Undelivered Mail Returned to Sender",
    "delayed": "Delayed Mail (still being retried)",
    "relayed": "Successful Mail Delivery Report",
    "delivered": "Successful Mail Delivery Report",
}


class Report:
    """One parsed report.

    .message is the whole email.message.EmailMessage, .raw the bytes as
    received, .human the text of part 1, .per_message the message fields
    of part 2 and .recipients one dict per recipient block. .returned is
    part 3 as a message (only its header for text/rfc822-headers), and
    .returned_type its content type. Field names are lower case. Values
    have folding removed and "type;value" written as "type; value", with
    the type in lower case."""

    def __init__(self, raw):
        self.raw = raw
        self.message = email.message_from_bytes(raw,
                                                policy=email.policy.default)
        self.subject = str(self.message["Subject"])
        self.human = ""
        self.per_message = {}
        self.recipients = []
        self.returned_type = None
        self.returned = None

    def __str__(self):
        return self.raw.decode("utf-8", "replace")


def normalise(value):
    """Unfold a field value and write "type ; value" as "type; value",
    with the type in lower case."""
    value = " ".join(str(value).split())
    m = re.match(r"^([A-Za-z0-9-]+)\s*;\s*(.*)$", value)
    if m:
        return f"{m.group(1).lower()}; {m.group(2)}"
    return value


def _fields(block):
    return {name.lower(): normalise(value) for name, value in block.items()}


def parse_report(raw):
    """Parse raw report bytes and check their MIME structure."""
    report = Report(raw)
    msg = report.message
    shown = _shown(raw)
    assert msg.get_content_type() == "multipart/report", \
        f"Content-Type is {msg.get_content_type()}, not multipart/report" \
        f"{shown}"
    assert msg.get_param("report-type") == "delivery-status", \
        f"report-type is {msg.get_param('report-type')!r}{shown}"
    parts = msg.get_payload()
    types = [p.get_content_type() for p in parts]
    assert len(parts) == 3, f"expected 3 parts, got {types}{shown}"
    assert types[0] == "text/plain", f"part 1 is {types[0]}{shown}"
    assert types[1] == "message/delivery-status", \
        f"part 2 is {types[1]}{shown}"
    assert types[2] in ("message/rfc822", "text/rfc822-headers"), \
        f"part 3 is {types[2]}{shown}"

    report.human = parts[0].get_content()
    blocks = parts[1].get_payload()
    assert len(blocks) >= 2, \
        f"message/delivery-status has {len(blocks)} field blocks, " \
        f"expected the message fields and one per recipient{shown}"
    report.per_message = _fields(blocks[0])
    report.recipients = [_fields(b) for b in blocks[1:]]
    report.returned_type = types[2]
    if types[2] == "message/rfc822":
        report.returned = parts[2].get_payload(0)
    else:
        report.returned = email.message_from_string(
            parts[2].get_content(), policy=email.policy.default)
    return report


def _shown(raw, limit=4000):
    text = raw.decode("utf-8", "replace")
    return "\n--- report ---\n" + text[:limit]


def _date(value, name, shown):
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        parsed = None
    assert parsed is not None and parsed.tzinfo is not None, \
        f"{name}: {value!r} is not an RFC 5322 date with a zone{shown}"
    return parsed.timestamp()


def is_null_sender(delivered):
    """True when a receiver recorded the null reverse path: aiosmtpd
    records "<>", ScriptedReceiver ""."""
    return delivered.mail_from in ("", "<>")


def assert_report(delivered, *, sender, kind, expected, original,
                  envid=None, returned="full", window=None):
    """Check every field of the report a receiver recorded as delivered.

    kind: "failed", "delayed", "relayed" or "delivered".
    expected: one dict per recipient block. Its keys are final (the
        address) and status (a regex for Status), and optionally:
        original, the decoded ORCPT address (None: no Original-Recipient);
        remote_mta, a host name (None: no Remote-MTA);
        diagnostic, a regex for the Diagnostic-Code after "smtp; "
        (None: no Diagnostic-Code);
        reason, text that part 1 must contain.
    original: the submitted message bytes.
    envid: the decoded ENVID, None when none was given.
    returned: "full" (message/rfc822) or "headers" (text/rfc822-headers).
    window: (earliest, latest) seconds since the epoch for the dates.
    Returns the parsed Report.
    """
    raw = delivered.content
    shown = _shown(raw)
    assert is_null_sender(delivered), \
        f"report sent from <{delivered.mail_from}>, not the null sender" \
        f"{shown}"
    assert delivered.rcpt_tos == [sender], \
        f"report sent to {delivered.rcpt_tos}, expected [{sender!r}]{shown}"

    report = parse_report(raw)
    _check_header(report, sender, kind, window, shown)
    _check_per_message(report, envid, window, shown)
    finals = sorted(r.get("final-recipient", "") for r in report.recipients)
    wanted = sorted(f"rfc822; {e['final']}" for e in expected)
    assert finals == wanted, \
        f"Final-Recipient fields {finals}, expected {wanted}{shown}"
    for want in expected:
        block = next(r for r in report.recipients
                     if r["final-recipient"] == f"rfc822; {want['final']}")
        _check_recipient(report, block, want, kind, window, shown)
    _check_returned(report, original, returned, shown)
    return report


def _check_header(report, sender, kind, window, shown):
    msg = report.message
    assert str(msg["From"]) == \
        f"Mail Delivery System <MAILER-DAEMON@{REPORTING_MTA}>", \
        f"From: {msg['From']}{shown}"
    to = [a for _, a in email.utils.getaddresses([str(msg["To"])])]
    assert to == [sender], f"To: {msg['To']}, expected {sender}{shown}"
    assert report.subject == SUBJECTS[kind], \
        f"Subject: {report.subject!r}, expected {SUBJECTS[kind]!r}{shown}"
    assert str(msg["Auto-Submitted"]).strip().lower() == "auto-replied", \
        f"Auto-Submitted: {msg['Auto-Submitted']}{shown}"
    assert str(msg["MIME-Version"]).strip() == "1.0", \
        f"MIME-Version: {msg['MIME-Version']}{shown}"
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>",
                        str(msg["Message-ID"]).strip()), \
        f"Message-ID: {msg['Message-ID']}{shown}"
    date = _date(str(msg["Date"]), "Date", shown)
    _check_window(date, window, "Date", shown)


def _check_per_message(report, envid, window, shown):
    fields = report.per_message
    assert fields.get("reporting-mta") == f"dns; {REPORTING_MTA}", \
        f"Reporting-MTA: {fields.get('reporting-mta')!r}{shown}"
    if envid is None:
        assert "original-envelope-id" not in fields, \
            f"Original-Envelope-Id without an ENVID: " \
            f"{fields['original-envelope-id']!r}{shown}"
    else:
        assert fields.get("original-envelope-id") == envid, \
            f"Original-Envelope-Id: {fields.get('original-envelope-id')!r}," \
            f" expected the decoded ENVID {envid!r}{shown}"
    assert "arrival-date" in fields, f"no Arrival-Date{shown}"
    arrival = _date(fields["arrival-date"], "Arrival-Date", shown)
    _check_window(arrival, window, "Arrival-Date", shown)


def _check_recipient(report, block, want, kind, window, shown):
    who = want["final"]
    action = "delivered" if kind == "delivered" else kind
    assert block.get("action") == action, \
        f"{who}: Action: {block.get('action')!r}, expected {action!r}{shown}"
    assert re.fullmatch(want["status"], block.get("status", "")), \
        f"{who}: Status: {block.get('status')!r}, expected " \
        f"{want['status']!r}{shown}"

    original = want.get("original")
    if original is None:
        assert "original-recipient" not in block, \
            f"{who}: Original-Recipient without an ORCPT: " \
            f"{block['original-recipient']!r}{shown}"
    else:
        assert block.get("original-recipient") == f"rfc822; {original}", \
            f"{who}: Original-Recipient: " \
            f"{block.get('original-recipient')!r}, expected the decoded " \
            f"ORCPT rfc822; {original}{shown}"

    remote = want.get("remote_mta")
    if remote is None:
        assert "remote-mta" not in block, \
            f"{who}: Remote-MTA {block['remote-mta']!r} although no " \
            f"server gave the outcome{shown}"
    else:
        assert block.get("remote-mta") == f"dns; {remote}", \
            f"{who}: Remote-MTA: {block.get('remote-mta')!r}, expected " \
            f"dns; {remote}{shown}"

    diagnostic = want.get("diagnostic")
    if diagnostic is None:
        assert "diagnostic-code" not in block, \
            f"{who}: Diagnostic-Code {block['diagnostic-code']!r} although " \
            f"no server gave the outcome{shown}"
    else:
        code = block.get("diagnostic-code", "")
        assert code.startswith("smtp; "), \
            f"{who}: Diagnostic-Code: {code!r}, expected type smtp{shown}"
        assert re.search(diagnostic, code[len("smtp; "):]), \
            f"{who}: Diagnostic-Code: {code!r}, expected smtp; " \
            f"{diagnostic!r}{shown}"

    assert "last-attempt-date" in block, f"{who}: no Last-Attempt-Date{shown}"
    last = _date(block["last-attempt-date"], "Last-Attempt-Date", shown)
    _check_window(last, window, "Last-Attempt-Date", shown)
    if kind == "delayed":
        assert "will-retry-until" in block, \
            f"{who}: a delay report without Will-Retry-Until{shown}"
        _date(block["will-retry-until"], "Will-Retry-Until", shown)

    assert who in report.human, \
        f"part 1 does not name {who}:\n{report.human}{shown}"
    reason = want.get("reason")
    if reason is not None:
        # The human part is folded to short lines, so compare the words.
        assert " ".join(reason.split()) in " ".join(report.human.split()), \
            f"part 1 does not give the reason {reason!r} for {who}:\n" \
            f"{report.human}{shown}"


def _check_window(when, window, name, shown):
    if window is None:
        return
    earliest, latest = window
    # Dates in reports have whole seconds.
    assert earliest - 1 <= when <= latest + 1, \
        f"{name} is {when:.0f}, outside [{earliest:.0f}, {latest:.0f}]" \
        f"{shown}"


def _check_returned(report, original, returned, shown):
    sent = email.message_from_bytes(original, policy=email.policy.default)
    head, _, body = original.partition(b"\r\n\r\n")
    if returned == "full":
        assert report.returned_type == "message/rfc822", \
            f"part 3 is {report.returned_type}, expected the whole " \
            f"message (message/rfc822){shown}"
        assert original.rstrip(b"\r\n") in report.raw, \
            f"part 3 does not contain the original message unchanged{shown}"
    else:
        assert report.returned_type == "text/rfc822-headers", \
            f"part 3 is {report.returned_type}, expected only the header " \
            f"(text/rfc822-headers){shown}"
        assert body.strip() not in report.raw, \
            f"the report contains the original body{shown}"
    for name in ("Subject", "Message-ID"):
        assert str(report.returned[name]) == str(sent[name]), \
            f"part 3 {name}: {report.returned[name]!r}, expected " \
            f"{sent[name]!r}{shown}"


SAMPLE_ORIGINAL = (b"From: sender@origin.test\r\nSubject: sample\r\n"
                   b"Message-ID: <sample@client.test>\r\n\r\n"
                   b"sample body\r\n")


def build_sample_report(returned="full"):
    """A report of the shape tern sends, written by hand, to check the
    parser and assert_report() themselves. SAMPLE_ORIGINAL is the
    message it reports on; returned is "full" or "headers"."""
    head, _, _ = SAMPLE_ORIGINAL.partition(b"\r\n\r\n")
    if returned == "full":
        part3 = [b"Content-Type: message/rfc822", b"",
                 SAMPLE_ORIGINAL.rstrip(b"\r\n")]
    else:
        part3 = [b"Content-Type: text/rfc822-headers", b"", head]
    lines = [
        "From: Mail Delivery System <MAILER-DAEMON@tern.test>",
        "To: sender@origin.test",
        "Subject: Undelivered Mail Returned to Sender",
        "Auto-Submitted: auto-replied",
        "Date: Fri, 04 Dec 2026 19:00:00 +0000",
        "Message-ID: <report.1@tern.test>",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        '\tboundary="b1"',
        "",
        "--b1",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Your message could not be delivered to gone@example.test:",
        "550 5.1.1 User unknown",
        "",
        "--b1",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; tern.test",
        "Original-Envelope-Id: QQ+1",
        "Arrival-Date: Fri, 04 Dec 2026 18:59:58 +0000",
        "",
        "Original-Recipient: rfc822;orig+gone@origin.test",
        "Final-Recipient: rfc822;gone@example.test",
        "Action: failed",
        "Status: 5.1.1",
        "Remote-MTA: dns; mx1.example.test",
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown",
        "Last-Attempt-Date: Fri, 04 Dec 2026 18:59:59 +0000",
        "",
        "--b1",
    ]
    ending = [b"", b"--b1--", b""]
    return b"\r\n".join([ln.encode() for ln in lines] + part3 + ending)
