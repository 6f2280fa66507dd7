"""tern run as sendmail and mailq, with a real receiver.

The tern binary is run through links named sendmail and mailq, with the
configuration in TERN_CONFIG, as cron, PHP's mail() and scripts run
/usr/sbin/sendmail. Messages are written to its standard input the way
those programs write them (LF line ends, headers without Date,
Message-ID or From), and checked where the receiver got them.
"""

import os
import pwd
import re
import shutil
import subprocess

from tern_instance import BUILD_DIR

EX_USAGE, EX_DATAERR, EX_NOUSER, EX_NOHOST = 64, 65, 67, 68
EX_UNAVAILABLE = 69
EX_IOERR, EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 74, 75, 77, 78

LOGIN = pwd.getpwuid(os.geteuid()).pw_name


def program_link(tern, name):
    """A link called name to the tern binary, in a bin folder of tern's
    directory, so the program runs as the command of that name."""
    folder = tern.dir / "bin"
    folder.mkdir(exist_ok=True)
    link = folder / name
    if not link.exists():
        link.symlink_to(BUILD_DIR / "tern")
    return link


def run_as(tern, name, *args, stdin=b"", env=None):
    """Run tern as name (sendmail or mailq) with args; the configuration
    comes from TERN_CONFIG."""
    environment = dict(os.environ, TERN_CONFIG=str(tern.conf_path))
    environment.update(env or {})
    return subprocess.run([str(program_link(tern, name)), *args],
                          input=stdin, capture_output=True, env=environment,
                          timeout=60)


def sendmail(tern, *args, stdin=b""):
    return run_as(tern, "sendmail", *args, stdin=stdin)


def queued_id(tern, since, sender):
    """The queue id of sendmail's log line for sender past offset since."""
    m = tern.wait_log(rf"([0-9A-F]+): from=<{re.escape(sender)}>, size=\d+, "
                      r"nrcpt=\d+ \(queued by sendmail, uid=\d+\)", 10,
                      since)
    return m.group(1)


def header_block(content):
    return content.split(b"\r\n\r\n", 1)[0].decode()


def body_of(content):
    return content.split(b"\r\n\r\n", 1)[1]


def by_subject(receiver, subject):
    found = [m for m in receiver.messages
             if f"\r\nSubject: {subject}\r\n" in
             "\r\n" + header_block(m.content) + "\r\n"]
    assert len(found) == 1, (subject, receiver.messages)
    return found[0]


def field_values(content, name):
    """Values of the header field name (unfolded)."""
    text = header_block(content).replace("\r\n\t", " ").replace("\r\n ",
                                                                 " ")
    return [line.split(":", 1)[1].strip() for line in text.split("\r\n")
            if line.lower().startswith(name.lower() + ":")]


def mail_lab(lab, **overrides):
    receiver = lab.receiver("127.0.0.2")
    lab.dns(mx={"example.test": [(10, "mx.example.test")],
                "tern.test": [(10, "mx.example.test")]},
            hosts={"mx.example.test": ["127.0.0.2"]})
    return receiver, lab.tern(**overrides)


def test_sendmail_cron_and_php_styles(lab):
    receiver, tern = mail_lab(lab)

    # cron: -i -t, the recipient a local name, no From, Date or
    # Message-ID, LF line ends.
    since = tern.log_size()
    cron = sendmail(tern, "-i", "-t", stdin=(
        b"To: ops\nSubject: Cron <root@host> backup\n"
        b"Content-Type: text/plain\n\nbackup done\n"))
    assert cron.returncode == 0, cron.stderr
    assert cron.stdout == b""
    assert cron.stderr == b""
    cron_id = queued_id(tern, since, f"{LOGIN}@tern.test")

    # PHP's mail(): -t -i and the sender as -fADDRESS; Bcc is removed.
    php = sendmail(tern, "-t", "-i", "-fwebmaster@origin.test", stdin=(
        b"To: Customer <customer@example.test>\n"
        b"Cc: sales@example.test\nBcc: audit@example.test\n"
        b"Subject: Your order\nFrom: Shop <shop@origin.test>\n\n"
        b"Thank you.\n"))
    assert php.returncode == 0, php.stderr

    # -f and -F with recipients as a comma-separated argument: the
    # added From carries the full name and the sender.
    named = sendmail(tern, "-f", "alice@origin.test", "-F", "Alice Example",
                     "-i", "one@example.test, two@example.test",
                     stdin=b"Subject: Named\n\nHello.\n")
    assert named.returncode == 0, named.stderr

    got = receiver.wait(3)
    assert len(got) == 3, receiver.messages

    cron_msg = by_subject(receiver, "Cron <root@host> backup")
    assert cron_msg.mail_from == f"{LOGIN}@tern.test"
    assert cron_msg.rcpt_tos == ["ops@tern.test"]
    assert field_values(cron_msg.content, "From") == [f"{LOGIN}@tern.test"]
    assert len(field_values(cron_msg.content, "Date")) == 1
    assert len(field_values(cron_msg.content, "Message-ID")) == 1
    received = field_values(cron_msg.content, "Received")
    assert re.search(rf"from localhost \(local user {LOGIN}, uid \d+\) "
                     rf"by tern.test \(tern\) via sendmail id {cron_id}",
                     received[-1]), received
    assert body_of(cron_msg.content) == b"backup done\r\n"

    php_msg = by_subject(receiver, "Your order")
    assert php_msg.mail_from == "webmaster@origin.test"
    assert sorted(php_msg.rcpt_tos) == ["audit@example.test",
                                        "customer@example.test",
                                        "sales@example.test"]
    assert field_values(php_msg.content, "Bcc") == []
    assert field_values(php_msg.content, "From") == [
        "Shop <shop@origin.test>"]

    named_msg = by_subject(receiver, "Named")
    assert named_msg.mail_from == "alice@origin.test"
    assert named_msg.rcpt_tos == ["one@example.test", "two@example.test"]
    from_field = field_values(named_msg.content, "From")
    assert len(from_field) == 1
    assert "Alice Example" in from_field[0], from_field
    assert "<alice@origin.test>" in from_field[0], from_field
    tern.wait_queue_empty()


def test_sendmail_lone_dot_line(lab):
    receiver, tern = mail_lab(lab)
    text = b"Subject: %s\n\nfirst\n.\nlast\n"

    kept = sendmail(tern, "-i", "dots@example.test",
                    stdin=text % b"with -i")
    assert kept.returncode == 0, kept.stderr
    ended = sendmail(tern, "dots@example.test", stdin=text % b"without -i")
    assert ended.returncode == 0, ended.stderr

    receiver.wait(2)
    assert body_of(by_subject(receiver, "with -i").content) == \
        b"first\r\n.\r\nlast\r\n"
    assert body_of(by_subject(receiver, "without -i").content) == \
        b"first\r\n"


class SmtpPipe:
    """sendmail -bs driven over its standard input and output."""

    def __init__(self, tern):
        env = dict(os.environ, TERN_CONFIG=str(tern.conf_path))
        self.proc = subprocess.Popen(
            [str(program_link(tern, "sendmail")), "-bs"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env)

    def reply(self):
        """One reply, all its lines; returns (code, last line)."""
        while True:
            line = self.proc.stdout.readline().decode()
            assert line.endswith("\r\n"), f"reply line {line!r}"
            if line[3] == " ":
                return int(line[:3]), line.rstrip("\r\n")

    def command(self, text, expect):
        self.proc.stdin.write(text.encode() + b"\r\n")
        self.proc.stdin.flush()
        code, line = self.reply()
        assert code == expect, f"{text!r} got {line!r}"
        return line


def test_sendmail_bs_session(lab):
    receiver, tern = mail_lab(lab)
    smtp = SmtpPipe(tern)
    assert smtp.reply()[0] == 220
    smtp.command("RCPT TO:<early@example.test>", 503)
    smtp.command("EHLO client.test", 250)
    smtp.command("NOOP", 250)
    smtp.command("HELP", 214)
    smtp.command("MAIL FROM:<bs@origin.test>", 250)
    smtp.command("RCPT TO:<one@example.test>", 250)
    smtp.command("RCPT TO:<two@example.test>", 250)
    smtp.command("DATA", 354)
    line = smtp.command("Subject: over a pipe\r\n\r\n..stuffed\r\nend\r\n.",
                        250)
    qid = re.search(r"queued as ([0-9A-F]+)", line).group(1)
    # 250 means the message is in the queue database already.
    assert tern.queue_query(f"SELECT sender FROM messages "
                            f"WHERE queue_id = '{qid}'") in (
        [["bs@origin.test"]], []), "message neither queued nor delivered"
    smtp.command("MAIL FROM:<>", 250)
    smtp.command("RSET", 250)
    smtp.command("DATA", 503)
    smtp.command("MAIL FROM:<bs2@origin.test>", 250)
    smtp.command("RCPT TO:<three@example.test>", 250)
    smtp.command("DATA", 354)
    smtp.command("Subject: second\r\n\r\nbody\r\n.", 250)
    smtp.command("QUIT", 221)
    assert smtp.proc.wait(30) == 0, smtp.proc.stderr.read()

    receiver.wait(2)
    first = by_subject(receiver, "over a pipe")
    assert first.mail_from == "bs@origin.test"
    assert first.rcpt_tos == ["one@example.test", "two@example.test"]
    assert body_of(first.content) == b".stuffed\r\nend\r\n"
    assert re.search(rf"via sendmail with ESMTP id {qid}",
                     " ".join(field_values(first.content, "Received")))
    assert by_subject(receiver, "second").rcpt_tos == ["three@example.test"]


def test_sendmail_queued_while_ternd_stopped(lab):
    receiver, tern = mail_lab(lab)
    tern.stop()

    done = sendmail(tern, "-i", "later@example.test",
                    stdin=b"Subject: while stopped\n\nqueued\n")
    assert done.returncode == 0, done.stderr
    rows = tern.queue_query(
        "SELECT m.sender, r.address FROM messages m "
        "JOIN recipients r ON r.message_id = m.id")
    assert rows == [[f"{LOGIN}@tern.test", "later@example.test"]]
    assert receiver.messages == []

    tern.start()
    receiver.wait(1)
    assert by_subject(receiver, "while stopped").rcpt_tos == [
        "later@example.test"]
    tern.wait_queue_empty()


def test_sendmail_flush_and_listing(lab):
    # The first attempt fails; the retry would come an hour later.
    receiver = lab.receiver("127.0.0.2", temp_failures=1)
    lab.dns(mx={"example.test": [(10, "mx.example.test")]},
            hosts={"mx.example.test": ["127.0.0.2"]})
    tern = lab.tern(retry={"first_delay": 3600, "max_delay": 3600,
                           "lifetime": "1d"})
    since = tern.log_size()
    done = sendmail(tern, "-i", "-f", "flush@origin.test",
                    "late@example.test", stdin=b"Subject: flush me\n\nx\n")
    assert done.returncode == 0, done.stderr
    qid = queued_id(tern, since, "flush@origin.test")
    tern.wait_log(rf"{qid}: to=<late@example.test>, .*status=deferred", 20,
                  since)

    for listing in (run_as(tern, "mailq"), sendmail(tern, "-bp")):
        assert listing.returncode == 0, listing.stderr
        text = listing.stdout.decode()
        assert re.search(rf"^{qid}\s+\d+ .* flush@origin.test$", text,
                         re.M), text
        assert "late@example.test" in text
        assert text.endswith("in 1 Request.\n"), text

    flushed = sendmail(tern, "-q")
    assert flushed.returncode == 0, flushed.stderr
    receiver.wait(1)
    assert by_subject(receiver, "flush me").rcpt_tos == ["late@example.test"]
    tern.wait_queue_empty()
    assert run_as(tern, "mailq").stdout == b"Mail queue is empty\n"

    # While ternd is stopped, -q can only mark the queue for delivery.
    tern.stop()
    stopped = sendmail(tern, "-q")
    assert stopped.returncode == EX_TEMPFAIL, stopped.stderr
    assert b"ternd is not running" in stopped.stderr


def test_mailq_names_itself_in_errors(lab, tmp_path):
    """mailq's errors start with "mailq:", not with the tern command it
    runs underneath, so an administrator can tell which program failed."""
    tern = lab.tern()
    conf = tmp_path / "missing-queue.conf"
    conf.write_text(f'queue = {{ directory = "{tmp_path}/none"; }};\n')
    listing = run_as(tern, "mailq", env={"TERN_CONFIG": str(conf)})
    assert listing.returncode != 0
    assert listing.stderr.startswith(b"mailq: the queue folder "), \
        listing.stderr


def test_sendmail_exit_statuses(lab):
    tern = lab.tern(smtpd={"message_size_limit": 2000})

    usage = sendmail(tern, "-Z", "a@example.test")
    assert usage.returncode == EX_USAGE
    assert b"unknown option -Z" in usage.stderr
    assert b"usage: sendmail" in usage.stderr

    no_args = sendmail(tern, "-i", stdin=b"Subject: x\n\nx\n")
    assert no_args.returncode == EX_USAGE, no_args.stderr

    nobody = sendmail(tern, "-t", "-i", stdin=b"Subject: no one\n\nx\n")
    assert nobody.returncode == EX_DATAERR, nobody.stderr
    assert b"no recipient" in nobody.stderr

    big = sendmail(tern, "-i", "big@example.test",
                   stdin=b"Subject: big\n\n" + (b"x" * 70 + b"\n") * 100)
    assert big.returncode == EX_UNAVAILABLE, big.stderr
    assert b"message_size_limit" in big.stderr

    local_part = sendmail(tern, "-i", "bad address@@example.test",
                          stdin=b"Subject: x\n\nx\n")
    assert local_part.returncode == EX_NOUSER, local_part.stderr
    assert b"'bad address' is not a valid local part" in local_part.stderr
    domain = sendmail(tern, "-i", "a@-bad-.test", stdin=b"Subject: x\n\nx\n")
    assert domain.returncode == EX_NOHOST, domain.stderr
    assert b"invalid domain '-bad-.test'" in domain.stderr

    missing = run_as(tern, "sendmail", "-i", "a@example.test",
                     env={"TERN_CONFIG": str(tern.dir / "absent.conf")})
    assert missing.returncode == EX_CONFIG, missing.stderr

    assert tern.queue_counts() == (0, 0)


def run_as_nobody(tern, *args, stdin=b""):
    """Run sendmail with args as the user nobody, who may read the
    configuration but not write the queue. The build tree may sit in a
    folder only its owner can enter, so nobody runs a copy of the program
    kept beside the configuration."""
    # tern.dir is in the lab's folder, which is in /tmp.
    for directory in [tern.dir, *tern.dir.parents]:
        if directory == tern.dir.parent.parent:
            break
        os.chmod(directory, 0o755)
    os.chmod(tern.conf_path, 0o644)
    program = tern.dir / "sendmail"
    shutil.copyfile(BUILD_DIR / "tern", program)
    program.chmod(0o755)
    return subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         "env", f"TERN_CONFIG={tern.conf_path}", str(program), *args],
        input=stdin, capture_output=True, timeout=30)


def test_sendmail_unwritable_queue(lab):
    tern = lab.tern()
    tern.stop()
    done = run_as_nobody(tern, "-i", "a@example.test",
                         stdin=b"Subject: denied\n\nx\n")
    assert done.returncode == EX_NOPERM, done.stdout + done.stderr
    message = done.stderr.decode()
    assert f"cannot write the queue folder {tern.queue_dir}" in message
    assert "permission denied" in message
    # ternd gave the queue to the user its children run as.
    owner = pwd.getpwuid(tern.queue_dir.stat().st_uid).pw_name
    assert f"only root and the user {owner}" in message
    # The user nobody may not write the log file, which is no error to
    # show before the real one.
    assert "log file" not in message, message
    assert len(message.splitlines()) == 1, message
    assert tern.queue_counts() == (0, 0)


def test_sendmail_flush_denied(lab):
    """sendmail -q run by another user reports that flushing was denied, not
    queueing, and names who may flush."""
    tern = lab.tern()
    done = run_as_nobody(tern, "-q")

    assert done.returncode == EX_NOPERM, done.stdout + done.stderr
    message = done.stderr.decode()
    assert f"cannot flush the queue in {tern.queue_dir}" in message
    assert "permission denied" in message
    owner = pwd.getpwuid(tern.queue_dir.stat().st_uid).pw_name
    assert f"only root and the user {owner}" in message
    assert "queue mail" not in message, message
    assert "group" not in message, message


def test_sendmail_long_lines_broken(lab):
    # PHP and cron send HTML and logs with lines far over 998 octets.
    receiver, tern = mail_lab(lab)
    subject = "long" + " word" * 300
    done = sendmail(tern, "-i", "long@example.test", stdin=(
        f"Subject: {subject}\n\n".encode() + b"y" * 5000 + b"\nend\n"))
    assert done.returncode == 0, done.stderr
    got = receiver.wait(1)[0]
    lines = got.content.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    # The field folds before its space and unfolds unchanged; the body
    # line gets CRLF SP inserted after 998 octets, as Postfix does.
    assert field_values(got.content, "Subject") == [subject]
    assert body_of(got.content) == (
        b"y" * 998 + b"\r\n " + b"y" * 997 + b"\r\n " + b"y" * 997 +
        b"\r\n " + b"y" * 997 + b"\r\n " + b"y" * 997 + b"\r\n " +
        b"y" * 14 + b"\r\nend\r\n")
    tern.wait_queue_empty()

    # A header section over its own bound names that bound, not the
    # message size limit, which this message is well under.
    header = b"".join(b"X-Filler-%d: %s\n" % (i, b"f" * 500)
                      for i in range(2200))
    big = sendmail(tern, "-i", "long@example.test",
                   stdin=header + b"\nbody\n")
    assert big.returncode == EX_UNAVAILABLE, big.stderr
    assert b"header section is larger than 1048576 bytes" in big.stderr
    assert b"message_size_limit" not in big.stderr


def test_sendmail_cron_header_addresses_qualified(lab):
    # Debian cron's call; the header names local users without a domain.
    receiver, tern = mail_lab(lab)
    done = sendmail(tern, "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root",
                    stdin=(b"From: root (Cron Daemon)\nTo: root\n"
                           b"Cc: \"root, admin\" <admin>, x@example.test\n"
                           b"Subject: Cron <root@host> job\n\nout\n"))
    assert done.returncode == 0, done.stderr
    got = receiver.wait(1)[0]
    assert got.rcpt_tos == ["root@tern.test"]
    assert field_values(got.content, "From") == [
        "root@tern.test (Cron Daemon)"]
    assert field_values(got.content, "To") == ["root@tern.test"]
    assert field_values(got.content, "Cc") == [
        '"root, admin" <admin@tern.test>, x@example.test']
    assert field_values(got.content, "Subject") == ["Cron <root@host> job"]
    tern.wait_queue_empty()


def test_sendmail_t_resent_fields(lab):
    # A resent message goes to its Resent- recipients, not the original.
    receiver, tern = mail_lab(lab)
    done = sendmail(tern, "-t", "-i", stdin=(
        b"Resent-To: rs@example.test\nResent-Bcc: rb@example.test\n"
        b"To: orig@example.test\nSubject: r\n\nx\n"))
    assert done.returncode == 0, done.stderr
    got = receiver.wait(1)[0]
    assert sorted(got.rcpt_tos) == ["rb@example.test", "rs@example.test"]
    assert field_values(got.content, "Resent-Bcc") == []
    assert field_values(got.content, "To") == ["orig@example.test"]
    tern.wait_queue_empty()


def test_sendmail_bs_lf_lines_and_exit_status(lab):
    receiver, tern = mail_lab(lab)
    # A local program writes LF alone; QUIT ends the session with 0.
    done = sendmail(tern, "-bs", stdin=(
        b"HELO me\nMAIL FROM:<a@tern.test>\nRCPT TO:<b@example.test>\n"
        b"DATA\nSubject: lf session\n\n.dot\n..two\nx\n.\nQUIT\n"))
    assert done.returncode == 0, done.stdout + done.stderr
    replies = done.stdout.decode().split("\r\n")
    assert [r[:3] for r in replies if r] == [
        "220", "250", "250", "250", "354", "250", "221"], replies
    got = receiver.wait(1)[0]
    assert body_of(got.content) == b"dot\r\n.two\r\nx\r\n"

    # The input ends inside DATA: nothing queued, and the status says so.
    cut = sendmail(tern, "-bs", stdin=(
        b"HELO me\nMAIL FROM:<a@tern.test>\nRCPT TO:<b@example.test>\n"
        b"DATA\nSubject: cut\n\nhalf"))
    assert cut.returncode == EX_TEMPFAIL, cut.stderr
    assert b"not queued" in cut.stderr
    # Between transactions, the end of input without QUIT is no error.
    idle = sendmail(tern, "-bs", stdin=b"HELO me\nNOOP\n")
    assert idle.returncode == 0, idle.stderr

    # A client that closed its end: sendmail reports it, no signal.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        closed = subprocess.run(
            [str(program_link(tern, "sendmail")), "-bs"],
            input=b"HELO me\r\nMAIL FROM:<a@tern.test>\r\n", stdout=write_end,
            stderr=subprocess.PIPE,
            env=dict(os.environ, TERN_CONFIG=str(tern.conf_path)), timeout=60)
    finally:
        os.close(write_end)
    assert closed.returncode == EX_IOERR, closed
    tern.wait_queue_empty()
    assert len(receiver.messages) == 1
