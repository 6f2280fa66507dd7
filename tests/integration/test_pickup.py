"""The pickup folder: .eml files dropped by local programs are queued,
delivered to a real receiver and deleted; files that cannot be sent go
to the badmail folder with a .reason file; a file still being written is
not taken; a restart or a killed pickup process loses and duplicates
nothing.

Files are written the way System.Net.Mail's SpecifiedPickupDirectory
mode writes them (dotnet/runtime, Message.PrepareEnvelopeHeaders and
PrepareHeaders): X-Sender, then one X-Receiver per To, Cc and Bcc
address, then MIME-Version, From, To, Cc, Date and Subject, CRLF line
ends, written in place as GUID.eml.
"""

import hashlib
import os
import pwd
import re
import signal
import stat
import sqlite3
import time
import uuid

from peers import wait_for

PICKUP = {"directory": "pickup", "scan_interval": 1}


def start_pickup_lab(lab, start=True):
    """A receiver on 127.0.0.2 as example.test's MX and a tern with a
    pickup folder; returns (tern, receiver, pickup folder)."""
    lab.dns(mx={"example.test": [(10, "mx.example.test")]},
            hosts={"mx.example.test": ["127.0.0.2"]})
    receiver = lab.receiver("127.0.0.2")
    tern = lab.tern(start=start, pickup=PICKUP)
    folder = tern.dir / "pickup"
    folder.mkdir(exist_ok=True)
    return tern, receiver, folder


def dotnet_file(sender, to, cc=(), bcc=(), subject="Report",
                body="Hello from the app.\r\n", message_id=None):
    """A message as System.Net.Mail writes it into a pickup folder."""
    lines = [f"X-Sender: {sender}"]
    lines += [f"X-Receiver: {a}" for a in list(to) + list(cc) + list(bcc)]
    lines += ["MIME-Version: 1.0", f"From: {sender}",
              f"To: {', '.join(to)}"]
    if cc:
        lines.append(f"Cc: {', '.join(cc)}")
    lines.append("Date: 15 Jan 2025 10:30:00 +0100")
    lines.append(f"Subject: {subject}")
    if message_id is not None:
        lines.append(f"Message-ID: <{message_id}>")
    lines += ["Content-Type: text/plain; charset=us-ascii",
              "Content-Transfer-Encoding: quoted-printable", ""]
    return ("\r\n".join(lines) + "\r\n" + body).encode()


def drop(folder, content, name=None):
    """Writes content as name (default GUID.eml) and returns its path."""
    path = folder / (name or f"{uuid.uuid4()}.eml")
    path.write_bytes(content)
    return path


def header_fields(content):
    """The header's field lines (folded lines joined) of raw bytes."""
    head = content.split(b"\r\n\r\n", 1)[0]
    return re.split(rb"\r\n(?![ \t])", head)


def without_fields(content, *names):
    """content without the header fields called names (any case)."""
    head, body = content.split(b"\r\n\r\n", 1)
    wanted = {n.lower().encode() for n in names}
    kept = [f for f in header_fields(content)
            if f.split(b":", 1)[0].strip().lower() not in wanted]
    return b"\r\n".join(kept) + b"\r\n\r\n" + body


def test_pickup_dotnet_file_delivered(lab):
    tern, receiver, folder = start_pickup_lab(lab)
    original = dotnet_file("app@origin.test", ["one@example.test"],
                           cc=["two@example.test"],
                           bcc=["hidden@example.test"])
    path = drop(folder, original)

    got = receiver.wait(1)
    assert len(got) == 1, tern.tail()
    message = got[0]
    assert message.mail_from == "app@origin.test"
    assert sorted(message.rcpt_tos) == ["hidden@example.test",
                                        "one@example.test",
                                        "two@example.test"]
    fields = header_fields(message.content)
    assert fields[0].startswith(b"Received: by tern.test"), fields[0]
    assert b"pickup folder" in fields[0]
    # Byte-exact apart from the envelope lines removed and the fields
    # added (System.Net.Mail writes no Message-ID).
    delivered = without_fields(message.content, "Received", "Message-ID")
    expected = without_fields(original, "X-Sender", "X-Receiver")
    assert delivered == expected
    assert sum(f.lower().startswith(b"message-id:") for f in fields) == 1
    assert wait_for(lambda: not path.exists(), 10), "file not deleted"
    assert tern.log_lines(r"queued from pickup file " + path.name)


def test_pickup_headers_give_envelope(lab):
    tern, receiver, folder = start_pickup_lab(lab)
    original = (b"From: Alice <alice@origin.test>\n"
                b"To: one@example.test\n"
                b"Cc: \"Two\" <two@example.test>\n"
                b"Bcc: three@example.test\n"
                b"Subject: plain file\n"
                b"Message-ID: <plain-1@origin.test>\n"
                b"\n"
                b"LF line ends here.\n")
    drop(folder, original, "plain.eml")

    got = receiver.wait(1)
    assert len(got) == 1, tern.tail()
    message = got[0]
    assert message.mail_from == "alice@origin.test"
    assert sorted(message.rcpt_tos) == ["one@example.test",
                                        "three@example.test",
                                        "two@example.test"]
    assert b"three@example.test" not in message.content
    assert not any(f.lower().startswith(b"bcc:")
                   for f in header_fields(message.content))
    assert message.content.endswith(b"\r\n\r\nLF line ends here.\r\n")


def test_pickup_waits_for_slow_writer(lab):
    tern, receiver, folder = start_pickup_lab(lab)
    body_lines = [f"line {i} of a slowly written message\r\n"
                  for i in range(6)]
    content = dotnet_file("slow@origin.test", ["one@example.test"],
                          body="".join(body_lines))
    split = content.index(b"line 0")
    path = folder / "slow.eml"
    tern.wait_log(r"taking files from", 10)
    with open(folder / "slow.tmp", "wb") as f:
        # pickup runs as tern, and without CAP_LEASE the kernel grants
        # the read lease that shows an open writer only on tern's own
        # files. So the file belongs to tern before it gets its name.
        user = pwd.getpwnam("tern")
        os.fchown(f.fileno(), user.pw_uid, user.pw_gid)
        os.rename(folder / "slow.tmp", path)
        f.write(content[:split + 10])
        f.flush()
        # Three scan intervals pass while the file stays open and
        # incomplete; each write also starts a scan.
        time.sleep(3.5)
        for i in range(split + 10, len(content), 40):
            f.write(content[i:i + 40])
            f.flush()
            time.sleep(0.1)
    got = receiver.wait(1)
    assert len(got) == 1, tern.tail()
    assert got[0].content.endswith(body_lines[-1].encode())
    assert without_fields(got[0].content, "Received", "Message-ID") == \
        without_fields(content, "X-Sender", "X-Receiver")
    assert wait_for(lambda: not path.exists(), 10)
    assert not (tern.dir / "badmail").exists() or \
        not list((tern.dir / "badmail").iterdir())


def test_pickup_takes_only_eml_files(lab):
    tern, receiver, folder = start_pickup_lab(lab, start=False)
    names = ["a.eml", "B.EML", "c.Eml", "d.eml", "e.eml"]
    for i, name in enumerate(names):
        drop(folder, dotnet_file("many@origin.test", ["one@example.test"],
                                 subject=f"file {i}"), name)
    left = ["notes.txt", "f.eml.tmp", "geml"]
    for name in left:
        drop(folder, dotnet_file("no@origin.test", ["one@example.test"]),
             name)
    tern.start()

    got = receiver.wait(len(names))
    subjects = sorted(re.search(rb"Subject: (.*?)\r\n", m.content).group(1)
                      for m in got)
    assert subjects == [f"file {i}".encode() for i in range(len(names))]
    assert wait_for(lambda: sorted(p.name for p in folder.iterdir()) ==
                    sorted(left), 10), list(folder.iterdir())
    assert all(m.mail_from == "many@origin.test" for m in got)


def test_pickup_badmail_with_reason(lab):
    tern, receiver, folder = start_pickup_lab(lab)
    drop(folder, b"this line has no colon\r\nnor this one\r\n\r\nbody\r\n",
         "broken.eml")
    drop(folder, b"From: lonely@origin.test\r\nSubject: nobody\r\n\r\n"
         b"no recipient anywhere\r\n", "norcpt.eml")
    badmail = tern.dir / "badmail"

    for name in ["broken.eml", "norcpt.eml"]:
        # The reason is written before the file moves, so wait for both.
        assert wait_for(lambda: (badmail / f"{name}.reason").exists()
                        and (badmail / name).exists(), 15), tern.tail()
        assert not (folder / name).exists()
    broken = (badmail / "broken.eml.reason").read_text()
    norcpt = (badmail / "norcpt.eml.reason").read_text()
    assert "broken.eml" in broken, broken
    assert "Reason: the file is not a message" in broken, broken
    assert "header field" in broken, broken
    assert "recipient" in norcpt.lower(), norcpt
    assert wait_for(lambda: tern.log_lines(
        r"pickup file broken\.eml: .*moved to"), 15)
    assert wait_for(lambda: tern.log_lines(
        r"pickup file norcpt\.eml: .*moved to"), 15)
    # The bad files were rejected; the good one after them still goes.
    drop(folder, dotnet_file("ok@origin.test", ["one@example.test"]))
    got = receiver.wait(1)
    assert [m.mail_from for m in got] == ["ok@origin.test"]


def message_ids(messages):
    ids = []
    for m in messages:
        found = re.search(rb"\r\nMessage-ID: <([^>]+)>", m.content)
        ids.append(found.group(1).decode() if found else None)
    return ids


def drop_batch(folder, count, tag):
    ids = [f"{tag}-{i}@origin.test" for i in range(count)]
    for i, mid in enumerate(ids):
        drop(folder, dotnet_file("batch@origin.test", ["one@example.test"],
                                 subject=f"{tag} {i}", message_id=mid),
             f"{tag}-{i:04d}.eml")
    return ids


def assert_each_once(tern, receiver, folder, ids):
    got = receiver.wait(len(ids), timeout=60)
    assert wait_for(lambda: not list(folder.glob("*.eml")), 30), \
        f"files left: {len(list(folder.glob('*.eml')))}{tern.tail()}"
    tern.wait_queue_empty(30)
    got = receiver.messages
    delivered = message_ids(got)
    assert sorted(delivered) == sorted(ids), (
        f"{len(delivered)} delivered for {len(ids)} files; duplicates: "
        f"{sorted({d for d in delivered if delivered.count(d) > 1})[:5]}")


class QueueWriteLock:
    """Holds the queue database's write lock, so the pickup process waits
    in the middle of a batch: its files are read, their transaction not
    yet committed."""

    def __init__(self, tern):
        self.con = sqlite3.connect(tern.queue_dir / "queue.db", timeout=10,
                                   isolation_level=None)
        self.con.execute("BEGIN IMMEDIATE")

    def release(self):
        self.con.execute("ROLLBACK")
        self.con.close()


def start_blocked_batch(lab, tag):
    """Starts tern, takes the queue's write lock and drops 200 files, so
    the pickup process is blocked inside its first batch."""
    tern, receiver, folder = start_pickup_lab(lab)
    tern.wait_log(r"taking files from", 10)
    lock = QueueWriteLock(tern)
    ids = drop_batch(folder, 200, tag)
    # pickup takes a file that tern does not own only after it stayed
    # unchanged for a scan interval (see test_pickup_waits_for_slow_writer),
    # which a loaded machine can stretch past the wait below. Files of
    # tern's own are taken at the first scan.
    user = pwd.getpwnam("tern")
    for path in folder.glob("*.eml"):
        os.chown(path, user.pw_uid, user.pw_gid)
    # The folder watch and the 1 s interval start a scan meanwhile.
    time.sleep(1.5)
    return tern, receiver, folder, ids, lock


def test_pickup_restart_mid_batch(lab):
    tern, receiver, folder, ids, lock = start_blocked_batch(lab, "restart")
    tern.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    lock.release()
    tern.proc.wait(20)
    left = len(list(folder.glob("*.eml")))
    assert 0 < left < 200, f"{left} files left after the stop"

    tern.start()
    assert_each_once(tern, receiver, folder, ids)


def test_pickup_child_killed_mid_batch(lab):
    tern, receiver, folder, ids, lock = start_blocked_batch(lab, "killed")
    pid = tern.child_pid("tern-pickup")
    lock.release()
    os.kill(pid, signal.SIGKILL)
    tern.wait_log(r"pickup \(pid \d+\) was killed by signal 9", 10)
    assert_each_once(tern, receiver, folder, ids)


def pickup_identity(path):
    """The identity the pickup process records for path (see
    mta/pickup_identity.h)."""
    st = os.stat(path)
    sec, nsec = divmod(st.st_mtime_ns, 10**9)
    attributes = f"{st.st_size} {sec}.{nsec:09d} {st.st_ino}"
    digest = hashlib.sha256()
    digest.update(path.name.encode() + b"\0")
    digest.update(attributes.encode() + b"\0")
    digest.update(path.read_bytes())
    return digest.hexdigest()


def test_pickup_recorded_file_not_queued_twice(lab):
    tern, receiver, folder = start_pickup_lab(lab)
    tern.wait_log(r"taking files from", 10)
    tern.stop()
    # A file whose message was committed just before a crash: its
    # identity is recorded, the file is still there.
    path = drop(folder, dotnet_file("twice@origin.test",
                                    ["one@example.test"]), "crash.eml")
    con = sqlite3.connect(tern.queue_dir / "queue.db")
    with con:
        con.execute("INSERT INTO pickup_files (identity, queue_id, recorded)"
                    " VALUES (?, '00000000000000C1', ?)",
                    (pickup_identity(path), int(time.time())))
    con.close()

    since = tern.log_size()
    tern.start()
    tern.wait_log(r"00000000000000C1: pickup file crash\.eml was queued "
                  r"already; deleted it", 15, since)
    assert not path.exists()
    drop(folder, dotnet_file("later@origin.test", ["one@example.test"]),
         "later.eml")
    got = receiver.wait(1)
    tern.wait_queue_empty()
    assert [m.mail_from for m in receiver.messages] == ["later@origin.test"]


def test_pickup_folder_error_stops_start(lab):
    tern = lab.tern(start=False, pickup={"directory": "tern.conf/pickup"})
    tern.start(wait=False)
    assert tern.proc.wait(20) != 0
    text = tern.output() + tern.log_text()
    assert re.search(r"tern\.conf:\d+: pickup\.directory: cannot create "
                     r"\S*tern\.conf/pickup", text), text
    assert "tern-pickup" not in tern.children()


def test_pickup_reload_moves_folder(lab):
    tern, receiver, folder = start_pickup_lab(lab)
    tern.wait_log(r"taking files from", 10)
    since = tern.log_size()
    settings = dict(tern.settings)
    settings["pickup"] = {"directory": "drop2", "scan_interval": 1}
    tern.write_config(settings)
    tern.send_signal(signal.SIGHUP)
    tern.wait_log(r"pickup: now taking files from \S*/drop2", 10, since)
    assert (tern.dir / "drop2").is_dir()
    drop(tern.dir / "drop2", dotnet_file("moved@origin.test",
                                         ["one@example.test"]), "m.eml")
    got = receiver.wait(1)
    assert [m.mail_from for m in got] == ["moved@origin.test"]

    # Without pickup.directory the pickup process stops and stays down.
    since = tern.log_size()
    settings = dict(settings)
    del settings["pickup"]
    tern.write_config(settings)
    tern.send_signal(signal.SIGHUP)
    tern.wait_log(r"pickup \(pid \d+\) stopped: no longer configured", 10,
                  since)
    assert wait_for(lambda: "tern-pickup" not in tern.children(), 10)


def start_with_umask(tern, umask):
    """Starts ternd from a shell whose umask is umask."""
    tern.start(prefix=["sh", "-c", f"umask {umask:03o}; exec \"$@\"",
                       "sh"])


def test_pickup_folders_created_with_modes(lab):
    lab.dns(mx={"example.test": [(10, "mx.example.test")]},
            hosts={"mx.example.test": ["127.0.0.2"]})
    lab.receiver("127.0.0.2")
    tern = lab.tern(start=False, pickup={"directory": "spool/pickup",
                                         "scan_interval": 1})
    start_with_umask(tern, 0o077)
    spool = tern.dir / "spool"
    assert stat.S_IMODE((spool / "pickup").stat().st_mode) == 0o770
    assert stat.S_IMODE((spool / "badmail").stat().st_mode) == 0o750
    assert stat.S_IMODE(spool.stat().st_mode) == 0o755

    # badmail removed while ternd runs is created again, with its mode,
    # and the .reason file is readable by the group.
    (spool / "badmail").rmdir()
    drop(spool / "pickup", b"no header here\r\n", "bad.eml")
    reason = spool / "badmail" / "bad.eml.reason"
    assert wait_for(lambda: (spool / "badmail" / "bad.eml").exists(),
                    15), tern.tail()
    assert stat.S_IMODE((spool / "badmail").stat().st_mode) == 0o750
    assert stat.S_IMODE(reason.stat().st_mode) == 0o640


def test_pickup_existing_folder_mode_kept(lab):
    tern = lab.tern(start=False, pickup=PICKUP)
    folder = tern.dir / "pickup"
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    badmail = tern.dir / "badmail"
    badmail.mkdir()
    os.chmod(badmail, 0o711)
    start_with_umask(tern, 0o022)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(badmail.stat().st_mode) == 0o711


def test_pickup_log_escapes_file_name(lab):
    tern, receiver, folder = start_pickup_lab(lab)
    forged = b"1999-01-01T00:00:00Z tern qmgr: info: FAKE"
    name = b"evil\n" + forged + b"\xff\r.eml"
    with open(os.path.join(os.fsencode(folder), name), "wb") as f:
        f.write(b"X-Receiver: <one@example.test>\r\nnot a header\r\n")
    badmail = os.fsencode(tern.dir / "badmail")
    assert wait_for(lambda: os.path.exists(os.path.join(badmail, name)),
                    15), tern.tail()
    tern.wait_log(r"pickup file evil\\x0a.*; moved to ", 10)

    raw = tern.log_path.read_bytes()
    assert not any(line.startswith(b"1999-01-01") for line in
                   raw.split(b"\n")), raw
    assert b"\r" not in raw
    assert not any(byte > 0x7e for byte in raw)
    line = [ln for ln in raw.split(b"\n") if b"moved to" in ln][0]
    assert line.endswith(b"/badmail/evil\\x0a" + forged +
                         b"\\xff\\x0d.eml"), line

    # The .reason file keeps one Reason line; the name cannot add one.
    reason = open(os.path.join(badmail, name + b".reason"), "rb").read()
    assert b"evil\\x0a" + forged + b"\xff\\x0d.eml" in reason, reason
    assert b"\r" not in reason
    lines = reason.split(b"\n")
    assert not any(ln.startswith(b"1999-01-01") for ln in lines), reason
    assert len([ln for ln in lines if ln.startswith(b"Reason: ")]) == 1


def ignored_lines(tern, name, level="info"):
    return tern.log_lines(rf"{level}: pickup: ignoring {re.escape(name)}: ")


def deliver_one(folder, receiver, subject):
    """Drops a message and waits for it: a scan ran after this call."""
    drop(folder, dotnet_file("scan@origin.test", ["one@example.test"],
                             subject=subject))
    got = receiver.wait(len(receiver.messages) + 1)
    assert subject.encode() in got[-1].content


def test_pickup_ignored_entries_logged_once(lab):
    lab.dns(mx={"example.test": [(10, "mx.example.test")]},
            hosts={"mx.example.test": ["127.0.0.2"]})
    receiver = lab.receiver("127.0.0.2")
    tern = lab.tern(start=False, pickup=PICKUP,
                    log={"level": "debug"})
    folder = tern.dir / "pickup"
    folder.mkdir()
    target = drop(tern.dir, b"Subject: elsewhere\r\n\r\nx\r\n", "out.eml")
    (folder / "link.eml").symlink_to(target)
    os.mkfifo(folder / "pipe.eml")
    (folder / "sub.eml").mkdir()
    drop(folder, b"Subject: x\r\n\r\nx\r\n", "notes.txt")
    drop(folder, b"Subject: x\r\n\r\nx\r\n", "next.eml.tmp")
    drop(folder, b"Subject: x\r\n\r\nx\r\n", ".report.eml.x7Yz3Q")
    tern.start()

    # Two deliveries: at least two scans saw every entry.
    deliver_one(folder, receiver, "first")
    deliver_one(folder, receiver, "second")
    expected = {
        "link.eml": "a symbolic link",
        "pipe.eml": "not a regular file",
        "sub.eml": "a folder",
        "notes.txt": "the name does not end in .eml",
    }
    for name, why in expected.items():
        lines = ignored_lines(tern, name)
        assert len(lines) == 1, (name, lines, tern.tail())
        assert why in lines[0], lines
    # A writer's temporary names are logged at debug level only.
    for name in ["next.eml.tmp", ".report.eml.x7Yz3Q"]:
        assert ignored_lines(tern, name) == []
        assert len(ignored_lines(tern, name, "debug")) == 1, tern.tail()

    # A name that leaves the folder is forgotten, and logged again when
    # it comes back.
    (folder / "notes.txt").unlink()
    deliver_one(folder, receiver, "third")
    drop(folder, b"Subject: x\r\n\r\nx\r\n", "notes.txt")
    deliver_one(folder, receiver, "fourth")
    assert len(ignored_lines(tern, "notes.txt")) == 2, tern.tail()
    assert len(ignored_lines(tern, "link.eml")) == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        list(expected) + ["next.eml.tmp", ".report.eml.x7Yz3Q"])


def test_pickup_unmovable_file_logged_once(lab):
    """A rejected file that cannot be moved to badmail stays and fails at
    every scan; the error is logged once, the repeats only at debug."""
    lab.dns(mx={"example.test": [(10, "mx.example.test")]},
            hosts={"mx.example.test": ["127.0.0.2"]})
    lab.receiver("127.0.0.2")
    tern = lab.tern(pickup=PICKUP, log={"level": "debug"})
    folder = tern.dir / "pickup"
    folder.mkdir(exist_ok=True)
    # A regular file where the badmail folder should be: no move can
    # succeed, even as root.
    badmail = tern.dir / "badmail"
    if badmail.is_dir():
        badmail.rmdir()
    badmail.write_text("not a folder\n")
    drop(folder, b"this line has no colon\r\n\r\nbody\r\n", "broken.eml")

    moving = r"pickup file broken\.eml: .*cannot move it to badmail"
    assert wait_for(lambda: len(tern.log_lines(moving)) >= 3, 30), \
        tern.tail()
    errors = [ln for ln in tern.log_lines(moving) if "error:" in ln]
    debug = [ln for ln in tern.log_lines(moving) if "debug:" in ln]
    assert len(errors) == 1, errors
    assert len(debug) >= 2, tern.tail()
    assert (folder / "broken.eml").exists()
