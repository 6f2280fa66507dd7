"""Untrusted text on its way to logs, headers, bounces and the terminal.

A client's HELO name goes into the Received field only in a form that
RFC 5321 4.4 allows. A receiving server's reply with control bytes, NUL,
8-bit bytes and an overlong line reaches the log and the bounce only
escaped. `tern queue show` on a terminal shows no stored escape
sequence. The log is read as bytes, so a raw control byte cannot hide
behind a decoding step.
"""

import email
import email.policy
import os
import pty
import re
import subprocess
import time

from engine_helpers import (example_mx, reports_at, start_dns, wait_outcome,
                            wait_report_queued, wait_reports)
from peers import message_bytes, split_received
from reports import parse_report
from tern_instance import BUILD_DIR

# Bytes that must never appear raw in a log line or a header: C0
# controls other than tab, and DEL.
RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")


def log_bytes(tern):
    return tern.log_path.read_bytes()


def log_control_bytes(tern):
    """Lines of the log, as bytes, that contain a raw control byte or a
    byte above 0x7e."""
    return [line for line in log_bytes(tern).split(b"\n")
            if RAW_CONTROL.search(line.rstrip(b"\r")) or
            re.search(rb"[\x80-\xff]", line)]


def deliverable_lab(lab):
    rcv = lab.receiver("127.0.0.2")
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    return rcv, lab.tern()


def received_of(rcv, sender):
    """The Received field tern added to the message from sender, parsed
    with Python's email package."""
    got = [m for m in rcv.messages if m.mail_from == sender]
    assert len(got) == 1, f"{sender}: receiver got {rcv.messages}"
    field, _ = split_received(got[0].content)
    msg = email.message_from_bytes(field + b"\r\n",
                                   policy=email.policy.default)
    return field, " ".join(str(msg["Received"]).split())


def wait_delivered(rcv, sender, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(m.mail_from == sender for m in rcv.messages):
            return
        time.sleep(0.1)
    raise AssertionError(f"{sender}: not delivered; receiver got "
                         f"{rcv.messages}")


def send_with_helo(tern, helo, sender):
    with tern.raw() as c:
        c.greeting()
        c.expect(f"EHLO {helo}", 250)
        reply = c.transaction(sender, ["user@example.test"],
                              message_bytes(f"helo {helo}") + b".\r\n")
    assert reply.code == 250, f"EHLO {helo}: the message got {reply}"


# ------------------------------------------------------------ HELO

def test_received_keeps_domain_helo(lab):
    rcv, tern = deliverable_lab(lab)

    send_with_helo(tern, "client.example", "domain@origin.test")
    wait_delivered(rcv, "domain@origin.test")
    field, value = received_of(rcv, "domain@origin.test")

    assert value.startswith("from client.example ([127.0.0.1])"), value
    assert not RAW_CONTROL.search(
        field.replace(b"\r\n\t", b"").rstrip(b"\r\n")), field


def test_received_comments_netbios_helo(lab):
    """A NetBIOS name is not a Domain, so it goes into a comment after the
    client's address literal."""
    rcv, tern = deliverable_lab(lab)

    send_with_helo(tern, "PRINTER_01", "netbios@origin.test")
    send_with_helo(tern, "host.example.", "dot@origin.test")
    wait_delivered(rcv, "netbios@origin.test")
    wait_delivered(rcv, "dot@origin.test")
    _, netbios = received_of(rcv, "netbios@origin.test")
    _, dot = received_of(rcv, "dot@origin.test")

    assert netbios.startswith("from [127.0.0.1] (helo=PRINTER_01)"), netbios
    assert dot.startswith("from [127.0.0.1] (helo=host.example.)"), dot


def test_helo_control_bytes_rejected(lab):
    rcv, tern = deliverable_lab(lab)
    names = [b"evil\x1b[31mred", b"nul\x00name", b"high\xffbyte",
             b"comment(open", b"tab\tname"]

    with tern.raw() as c:
        c.greeting()
        for name in names:
            c.send(b"EHLO " + name + b"\r\n")
            reply = c.reply()
            assert 500 <= reply.code < 600, f"EHLO {name!r} got {reply}"
        c.expect("EHLO client.test", 250)
        reply = c.transaction("after@origin.test", ["user@example.test"],
                              message_bytes("after hostile EHLO") +
                              b".\r\n")
    assert reply.code == 250, f"the message after the EHLOs got {reply}"
    wait_delivered(rcv, "after@origin.test")
    field, value = received_of(rcv, "after@origin.test")

    assert value.startswith("from client.test ([127.0.0.1])"), value
    assert not log_control_bytes(tern), log_control_bytes(tern)


# ------------------------------------------------------------ replies

HOSTILE_LINE = (b"550 5.1.1 <gone@example.test> \x1b[2J\x1b]0;owned\x07 "
                b"nul\x00here high\xff\xe9 tab\there " + b"z" * 300)
HOSTILE_REPLY = (b"550-5.1.1 \x1b[31mfirst line\x7f\r\n" + HOSTILE_LINE)


def test_hostile_reply_escaped_in_log_and_bounce(lab):
    """A 550 with ESC, BEL, NUL, DEL and 8-bit bytes reaches deliver's log
    line and the bounce only escaped, and the bounce still parses."""
    lab.scripted("127.0.0.2",
                 rcpt_replies={"gone@example.test": HOSTILE_REPLY})
    mx, hosts = example_mx("127.0.0.2")
    origin = start_dns(lab, mx, hosts)
    tern = lab.tern()
    sender = "hostile@origin.test"

    qid = tern.send(sender, ["gone@example.test"],
                    message_bytes("hostile reply"))
    line = wait_outcome(tern, qid, "gone@example.test", "bounced",
                        dsn=r"5\.1\.1")
    wait_report_queued(tern, qid, "failed")
    reports = wait_reports(tern, origin)

    assert "\\x1b[2J" in line, f"ESC not shown as \\x1b: {line!r}"
    assert not log_control_bytes(tern), log_control_bytes(tern)

    assert len(reports) == 1, f"reports: {reports_at(origin)}"
    raw = reports[0].content
    header, _, _ = raw.partition(b"\r\n\r\n")
    assert not RAW_CONTROL.search(raw.replace(b"\r\n", b"").replace(
        b"\t", b"")), f"raw control byte in the bounce:\n{raw[:3000]!r}"
    assert not re.search(rb"[\x80-\xff]", raw), \
        f"8-bit byte in the bounce:\n{raw[:3000]!r}"
    assert all(len(l) <= 998 for l in raw.split(b"\r\n")), \
        "a bounce line is longer than 998 octets (RFC 5322 2.1.1)"
    assert header, "the bounce has no header"

    report = parse_report(raw)
    assert len(report.recipients) == 1, report.recipients
    code = report.recipients[0].get("diagnostic-code", "")
    assert code.startswith("smtp; 550"), f"Diagnostic-Code: {code!r}"
    assert "\\x1b" in code, f"Diagnostic-Code lost the escape: {code!r}"
    assert "\\x00" in code, f"Diagnostic-Code lost the NUL: {code!r}"
    assert "\\xff" in code, f"Diagnostic-Code lost the 8-bit byte: {code!r}"
    assert "\x1b" not in report.human, f"ESC in part 1: {report.human!r}"
    assert "gone@example.test" in report.human, report.human


# ------------------------------------------------------------ tern queue show

def run_on_terminal(argv):
    """Run argv with its standard output on a pseudo-terminal and return
    what it wrote there, as bytes."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdout=follower,
                                stderr=subprocess.PIPE)
        os.close(follower)
        follower = None
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO once the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        _, err = proc.communicate(timeout=30)
    finally:
        if follower is not None:
            os.close(follower)
        os.close(leader)
    assert proc.returncode == 0, f"{argv} failed: {err!r}"
    return b"".join(chunks)


def test_queue_show_escapes_stored_text(lab):
    """A held message whose header and body carry ESC sequences, and a
    recipient whose last reply carries them: `tern queue show` on a
    terminal prints none of them raw, and redirected output is the
    stored message unchanged."""
    lab.scripted("127.0.0.2", rcpt_replies={
        "later@example.test": b"450 4.2.0 \x1b[2Jwait\x1b]0;owned\x07"})
    mx, hosts = example_mx("127.0.0.2")
    start_dns(lab, mx, hosts)
    tern = lab.tern()
    content = (b"Subject: \x1b[31mred subject\x1b[0m\r\n"
               b"X-Title: \x1b]0;owned\x07\r\n\r\n"
               b"body \x1b[2J with ESC\r\n")

    qid = tern.send("show@origin.test", ["later@example.test"], content)
    wait_outcome(tern, qid, "later@example.test", "deferred")
    command = [str(BUILD_DIR / "tern"), "-c", str(tern.conf_path),
               "queue", "show", qid]

    header = run_on_terminal(command)
    body = run_on_terminal(command + ["--body"])
    redirected = subprocess.run(command + ["--body"], capture_output=True,
                                timeout=30)

    for shown in (header, body):
        assert b"\x1b" not in shown, f"ESC reached the terminal:\n{shown!r}"
        assert b"\x07" not in shown, f"BEL reached the terminal:\n{shown!r}"
    assert b"red subject" in header, header
    assert b"with ESC" in body, body
    assert b"wait" in header, f"no last reply in:\n{header!r}"
    assert redirected.returncode == 0, redirected.stderr
    assert content in redirected.stdout, \
        f"redirected --body is not the stored message:\n" \
        f"{redirected.stdout!r}"
