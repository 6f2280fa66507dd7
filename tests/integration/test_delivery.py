"""End to end: a real client submits to tern, tern looks the domain up in
dnsmasq and delivers to real receivers on other loopback addresses."""

import email
import email.policy
import os
import random
import re
import subprocess
import time
from email.message import EmailMessage

from peers import message_bytes, split_received, wait_tcp


def first_difference(a, b):
    """Describe where two byte strings first differ, for assertion
    messages."""
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y),
             min(len(a), len(b)))
    return (f"lengths {len(a)} and {len(b)}, first difference at offset "
            f"{n}: {a[max(0, n - 40):n + 40]!r} vs {b[max(0, n - 40):n + 40]!r}")


def assert_arrived_intact(delivered, sent):
    """The delivered bytes are the sent bytes with one Received header
    field added at the top."""
    received, rest = split_received(delivered.content)
    assert received, ("delivered message does not start with a Received "
                      f"header: {delivered.content[:200]!r}")
    assert not rest.startswith(b"Received:"), \
        "tern added more than one Received header"
    assert rest == sent, ("delivered message differs from the submitted "
                          "one: " + first_difference(rest, sent))
    return received


def mime_message():
    """A multipart message: text and HTML alternatives, a binary and a
    text attachment, non-ASCII text and lines that start with dots."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = "Mime Sender <mime@origin.test>"
    msg["To"] = "user@example.test"
    msg["Subject"] = "MIME end to end"
    msg["Message-ID"] = "<mime-end-to-end@client.test>"
    msg.set_content("Grüße aus dem Test.\n.a line that starts with a dot\n"
                    ".\n..\nlast line\n")
    msg.add_alternative("<html><body><p>Gr&uuml;&szlig;e</p></body></html>",
                        subtype="html")
    rng = random.Random(5321)
    binary = bytes(rng.getrandbits(8) for _ in range(60000))
    msg.add_attachment(binary, maintype="application",
                       subtype="octet-stream", filename="random.bin")
    msg.add_attachment("id,value\n" + "".join(
        f"{i},{i * i}\n" for i in range(500)), subtype="csv",
        filename="table.csv")
    content = msg.as_bytes()
    assert b"\n" not in content.replace(b"\r\n", b""), "bare LF in MIME text"
    return content, binary


def relay_line(qid, rcpt, host, address, port, status="sent"):
    return (rf"{qid}: to=<{re.escape(rcpt)}>, relay={re.escape(host)}"
            rf"\[{re.escape(address)}\]:{port}, .*status={status}")


def test_mime_message_arrives_byte_exact(lab):
    rcv = lab.receiver("127.0.0.2")
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    tern = lab.tern()
    content, _ = mime_message()

    qid = tern.send("mime@origin.test", ["user@example.test"], content)

    got = rcv.wait(1)
    assert len(got) == 1, f"receiver got {got}"
    received = assert_arrived_intact(got[0], content)
    assert b"by tern.test" in received, \
        f"Received header does not name tern's hostname: {received!r}"
    assert got[0].mail_from == "mime@origin.test"
    assert got[0].rcpt_tos == ["user@example.test"]
    tern.wait_log(relay_line(qid, "user@example.test", "mx1.example.test",
                             "127.0.0.2", lab.port))
    tern.wait_log(rf"{qid}: removed")
    tern.wait_queue_empty()


def test_smtpd_logs_sender_size_and_recipients(lab):
    lab.receiver("127.0.0.2")
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    tern = lab.tern()
    content = message_bytes("log fields")

    qid = tern.send("fields@origin.test",
                    ["a@example.test", "b@example.test"], content)

    assert re.fullmatch(r"[0-9A-F]{16}", qid), \
        f"queue id {qid!r} is not 16 upper-case hex digits"
    line = tern.wait_log(rf"{qid}: from=<fields@origin\.test>.*").group(0)
    size = re.search(r"size=(\d+)", line)
    assert size, f"no size= in {line!r}"
    assert int(size.group(1)) >= len(content), \
        f"size={size.group(1)} is less than the {len(content)} bytes sent"
    assert "nrcpt=2" in line, f"no nrcpt=2 in {line!r}"


def test_lowest_preference_mx_used_first(lab):
    best = lab.receiver("127.0.0.2")
    backup = lab.receiver("127.0.0.3")
    # The backup is listed first, so the order of the DNS records cannot
    # decide which MX is used.
    lab.dns(mx={"example.test": [(20, "mx2.example.test"),
                                 (10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"],
                   "mx2.example.test": ["127.0.0.3"]})
    tern = lab.tern()

    for i in range(3):
        tern.send(f"pref{i}@origin.test", ["user@example.test"],
                  message_bytes(f"preference {i}"))

    assert len(best.wait(3)) == 3, "the preference 10 MX did not get all 3"
    assert backup.connections == 0, \
        f"the preference 20 MX was contacted {backup.connections} times"


def test_first_mx_refusing_falls_back_to_second(lab):
    second = lab.receiver("127.0.0.3")
    lab.dns(mx={"example.test": [(10, "mx1.example.test"),
                                 (20, "mx2.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"],
                   "mx2.example.test": ["127.0.0.3"]})
    assert not wait_tcp("127.0.0.2", lab.port, 0.1), \
        "something listens on the first MX's address"
    tern = lab.tern()
    content = message_bytes("fallback")

    qid = tern.send("fallback@origin.test", ["user@example.test"], content)

    got = second.wait(1)
    assert len(got) == 1, "the second MX did not get the message"
    assert_arrived_intact(got[0], content)
    tern.wait_log(relay_line(qid, "user@example.test", "mx2.example.test",
                             "127.0.0.3", lab.port))
    assert not tern.log_lines(rf"{qid}: .*status=deferred"), \
        "delivery was deferred instead of moving on to the second MX"


def test_null_mx_bounces_at_once(lab):
    # nullmx.test also has an A record: a client that ignored the null MX
    # and fell back to the address would reach this receiver.
    fallback = lab.receiver("127.0.0.4")
    lab.receiver("127.0.0.5")  # origin.test's MX, for a bounce if any
    lab.dns(mx={"nullmx.test": [(0, ".")],
                "origin.test": [(10, "mx.origin.test")]},
            hosts={"nullmx.test": ["127.0.0.4"],
                   "mx.origin.test": ["127.0.0.5"]})
    tern = lab.tern()

    qid = tern.send("nullmx@origin.test", ["user@nullmx.test"],
                    message_bytes("null MX"))

    tern.wait_log(rf"{qid}: to=<user@nullmx\.test>, .*dsn=5\.1\.10, "
                  r"status=bounced", timeout=10)
    tern.wait_log(rf"{qid}: removed", timeout=10)
    time.sleep(2.5)  # longer than max_delay: a retry would show by now
    retries = tern.log_lines(rf"{qid}: to=<user@nullmx\.test>, retry in")
    assert not retries, f"the null MX recipient was retried: {retries}"
    outcomes = tern.log_lines(rf"{qid}: to=<user@nullmx\.test>, .*status=")
    assert len(outcomes) == 1, f"expected one outcome, got {outcomes}"
    assert fallback.connections == 0, \
        "tern connected to the null MX domain's A record"
    tern.wait_queue_empty()


def test_temporary_failure_is_retried(lab):
    rcv = lab.receiver("127.0.0.2", temp_failures=1)
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    tern = lab.tern()
    content = message_bytes("retry after 451")

    qid = tern.send("retry@origin.test", ["user@example.test"], content)

    tern.wait_log(rf"{qid}: to=<user@example\.test>, .*dsn=4\.\d+\.\d+, "
                  r"status=deferred")
    tern.wait_log(rf"{qid}: to=<user@example\.test>, retry in \d+s "
                  r"\(attempt \d+\)")
    got = rcv.wait(1, timeout=20)
    assert len(got) == 1, "message not delivered after the 451"
    assert_arrived_intact(got[0], content)
    tern.wait_log(relay_line(qid, "user@example.test", "mx1.example.test",
                             "127.0.0.2", lab.port))
    assert rcv.data_attempts == 2, \
        f"receiver saw {rcv.data_attempts} DATA attempts, expected 2"
    tern.wait_queue_empty()
    time.sleep(1.5)
    assert len(rcv.messages) == 1, "message delivered more than once"


def test_queued_mail_survives_restart(lab):
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    tern = lab.tern()
    content = message_bytes("survives restart")

    qid = tern.send("restart@origin.test", ["user@example.test"], content)
    tern.wait_log(rf"{qid}: to=<user@example\.test>, .*status=deferred")
    status = tern.stop()

    assert status == 0, f"ternd exited with {status} on SIGTERM"
    assert tern.queue_counts() == (1, 1), \
        f"queue after stop: {tern.queue_counts()}, expected (1, 1)"
    rcv = lab.receiver("127.0.0.2")
    tern.start()
    got = rcv.wait(1, timeout=20)
    assert len(got) == 1, "queued message not delivered after restart"
    assert_arrived_intact(got[0], content)
    tern.wait_queue_empty()


def test_domain_without_mx_uses_address(lab):
    rcv = lab.receiver("127.0.0.6")
    lab.dns(hosts={"nomx.test": ["127.0.0.6"]})
    tern = lab.tern()
    content = message_bytes("implicit MX")

    qid = tern.send("nomx@origin.test", ["user@nomx.test"], content)

    got = rcv.wait(1)
    assert len(got) == 1, "message for a domain with only an A record " \
        "was not delivered to that address"
    assert_arrived_intact(got[0], content)
    tern.wait_log(relay_line(qid, "user@nomx.test", "nomx.test",
                             "127.0.0.6", lab.port))


def test_mx_with_only_ipv6_address(lab):
    rcv = lab.receiver("::1")
    lab.dns(mx={"v6.test": [(10, "mx6.v6.test")]},
            hosts={"mx6.v6.test": ["::1"]})
    tern = lab.tern()
    content = message_bytes("IPv6 MX")

    qid = tern.send("v6@origin.test", ["user@v6.test"], content)

    got = rcv.wait(1)
    assert len(got) == 1, "message not delivered to the AAAA-only MX"
    assert_arrived_intact(got[0], content)
    tern.wait_log(relay_line(qid, "user@v6.test", "mx6.v6.test", "::1",
                             lab.port))


def check_loop(tern, control):
    """Submit one message to loop.test and one to example.test; the first
    must stay deferred as a mail loop, the second must arrive."""
    qid = tern.send("loop@origin.test", ["user@loop.test"],
                    message_bytes("loop"))
    tern.wait_log(rf"{qid}: .*mail for loop\.test loops back to myself")
    tern.wait_log(rf"{qid}: to=<user@loop\.test>, .*status=deferred")

    tern.send("control@origin.test", ["user@example.test"],
              message_bytes("control"))
    got = control.wait(1)
    assert len(got) == 1, "control message not delivered"
    time.sleep(1.5)

    assert [m.mail_from for m in control.messages] == ["control@origin.test"]
    accepted = tern.accepted()
    assert len(accepted) == 2, ("tern accepted a copy of its own delivery "
                                f"(smtpd lines: {accepted})")
    assert not tern.log_lines(rf"{qid}: .*status=sent"), \
        "mail for loop.test was reported as sent"
    queued = [r for r in tern.recipients() if "loop.test" in str(r)]
    assert queued, f"loop.test recipient left the queue: {tern.recipients()}"


def test_mx_localhost_is_a_loop(lab):
    control = lab.receiver("127.0.0.2")
    lab.dns(mx={"loop.test": [(10, "localhost")],
                "example.test": [(10, "mx1.example.test")]},
            hosts={"localhost": ["127.0.0.1"],
                   "mx1.example.test": ["127.0.0.2"]})
    # tern listens on the delivery port, so a connection to localhost
    # would reach tern itself.
    tern = lab.tern(smtpd={"listeners": [{"address": "127.0.0.1",
                                          "port": lab.port}]})
    check_loop(tern, control)


def test_mx_at_own_listener_is_a_loop(lab):
    control = lab.receiver("127.0.0.2")
    lab.dns(mx={"loop.test": [(10, "mx.loop.test")],
                "example.test": [(10, "mx1.example.test")]},
            hosts={"mx.loop.test": ["127.0.0.1"],
                   "mx1.example.test": ["127.0.0.2"]})
    tern = lab.tern(smtpd={"listeners": [{"address": "127.0.0.1",
                                          "port": lab.port}]})
    check_loop(tern, control)


def test_delivery_uses_starttls_when_offered(lab):
    rcv = lab.receiver("127.0.0.7", tls=True)
    lab.dns(mx={"tls.test": [(10, "mx.tls.test")]},
            hosts={"mx.tls.test": ["127.0.0.7"]})
    tern = lab.tern()
    content = message_bytes("outbound STARTTLS")

    tern.send("tls@origin.test", ["user@tls.test"], content)

    got = rcv.wait(1)
    assert len(got) == 1, "message not delivered to the STARTTLS receiver"
    assert got[0].tls, "tern did not use the STARTTLS the receiver offered"
    assert_arrived_intact(got[0], content)


def test_swaks_starttls_with_attachment(lab):
    rcv = lab.receiver("127.0.0.2")
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    tern = lab.tern()
    attachment = lab.dir / "report.bin"
    data = os.urandom(20000)
    attachment.write_bytes(data)

    done = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(tern.port),
         "--helo", "client.test", "--from", "swaks@origin.test",
         "--to", "user@example.test", "--tls", "--timeout", "20",
         "--header", "Subject: swaks attachment",
         "--attach-type", "application/octet-stream",
         "--attach-name", "report.bin", "--attach", f"@{attachment}"],
        capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, f"swaks failed:\n{done.stdout}{done.stderr}"
    assert "<~  250" in done.stdout, \
        f"swaks did not talk over TLS:\n{done.stdout}"
    got = rcv.wait(1)
    assert len(got) == 1, "swaks's message was not delivered"
    parsed = email.message_from_bytes(got[0].content,
                                      policy=email.policy.default)
    parts = [p for p in parsed.iter_attachments()
             if p.get_filename() == "report.bin"]
    assert len(parts) == 1, "attachment missing from the delivered message"
    assert parts[0].get_content() == data, "attachment bytes changed"
