"""tern queue (list and show) against a real queue.

ternd delivers to a ScriptedReceiver that answers every RCPT with 451, so
each message stays deferred with that reply recorded. The listing is then
read from the tern command line, in text and JSON, with each filter, and
tern queue show prints one message's envelope, recipients and header.
"""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from engine_helpers import wait_outcome
from peers import ScriptedReceiver, message_bytes
from tern_instance import BUILD_DIR

REPLY = b"451 4.3.0 queue-tool test: try again later"


def queued_lab(lab):
    """A running tern with three deferred messages: A from alice to two
    example.test recipients, B from bob to one other.test recipient a
    second later, and C from carol to example.test. Returns (tern,
    {"A": qid, "B": qid, "C": qid})."""
    receiver = ScriptedReceiver("127.0.0.2", lab.port, rcpt_default=REPLY)
    lab.peers.append(receiver.start())
    lab.dns(mx={"example.test": [(10, "mx.example.test")],
                "other.test": [(10, "mx.example.test")]},
            hosts={"mx.example.test": ["127.0.0.2"]})
    tern = lab.tern()
    ids = {}
    ids["A"] = tern.send("alice@origin.test",
                         ["one@example.test", "two@example.test"],
                         message_bytes("queue tool A"))
    # B must arrive in a later second than A for the --older-than check.
    time.sleep(1.1)
    ids["B"] = tern.send("bob@origin.test", ["three@other.test"],
                         message_bytes("queue tool B"))
    ids["C"] = tern.send("carol@origin.test", ["four@example.test"],
                         message_bytes("queue tool C"))
    for key, rcpt in [("A", "one@example.test"), ("A", "two@example.test"),
                      ("B", "three@other.test"), ("C", "four@example.test")]:
        wait_outcome(tern, ids[key], rcpt, "deferred")
    return tern, ids


def run_queue(tern, *args, clock=None):
    env = dict(os.environ)
    if clock is not None:
        clock_file = tern.dir / "clock"
        clock_file.write_text(f"{clock}\n")
        env["TERN_TEST_CLOCK"] = str(clock_file)
    done = subprocess.run(
        [str(BUILD_DIR / "tern"), "-c", str(tern.conf_path), "queue", *args],
        capture_output=True, text=True, timeout=30, env=env)
    return done


def listed_ids(output):
    return re.findall(r"^([0-9A-F]{16}) ", output, re.M)


def json_ids(output):
    return [json.loads(line)["queue_id"] for line in output.splitlines()]


def test_queue_tool_lists_deferred(lab):
    tern, ids = queued_lab(lab)

    done = run_queue(tern)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert listed_ids(out) == [ids["A"], ids["B"], ids["C"]], out
    assert re.search(rf"^{ids['A']} +\d+ .+ alice@origin\.test$", out,
                     re.M), out
    assert re.search(r"^ +\(host mx\.example\.test\[127\.0\.0\.2\] said: "
                     r"451 4\.3\.0 queue-tool test", out, re.M), out
    for rcpt in ["one@example.test", "two@example.test",
                 "three@other.test", "four@example.test"]:
        assert re.search(rf"^ +{re.escape(rcpt)}$", out, re.M), out
    assert re.search(r"^-- \d+ Kbytes in 3 Requests\.$", out, re.M), out
    assert run_queue(tern, "list").stdout.count("Kbytes in 3") == 1


def test_queue_tool_filters(lab):
    tern, ids = queued_lab(lab)

    def listed(*args, **kwargs):
        done = run_queue(tern, *args, **kwargs)
        assert done.returncode == 0, done.stderr
        return listed_ids(done.stdout)

    assert listed("--from", "BOB@origin.test") == [ids["B"]]
    assert listed("--to", "two@example.test") == [ids["A"]]
    assert listed("--domain", "example.test") == [ids["A"], ids["C"]]
    assert listed("--domain", "nowhere.test") == []
    assert listed("--domain", "example.test", "--from",
                  "carol@origin.test") == [ids["C"]]
    arrival_b = tern.rows("SELECT arrival FROM messages WHERE queue_id = ?",
                          (ids["B"],))[0]["arrival"]
    assert listed("--older-than", "10s", clock=arrival_b + 10) == [ids["A"]]
    assert listed("--older-than", "1h", clock=arrival_b + 10) == []
    bad = run_queue(tern, "--older-than", "soon")
    assert bad.returncode == 2
    assert "invalid --older-than" in bad.stderr


def test_queue_tool_json(lab):
    tern, ids = queued_lab(lab)

    done = run_queue(tern, "--json")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert json_ids(done.stdout) == [ids["A"], ids["B"], ids["C"]]
    first = json.loads(lines[0])
    assert first["sender"] == "alice@origin.test"
    assert [r["address"] for r in first["recipients"]] == [
        "one@example.test", "two@example.test"]
    assert first["recipients"][0]["attempts"] >= 1
    assert "said: 451 4.3.0 queue-tool" in first["recipients"][0]["last_reply"]
    assert first["size"] > 0
    filtered = run_queue(tern, "--json", "--domain", "other.test")
    assert json_ids(filtered.stdout) == [ids["B"]]


def test_queue_tool_show(lab):
    tern, ids = queued_lab(lab)

    done = run_queue(tern, "show", ids["A"])
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(rf"^queue id: +{ids['A']}$", out, re.M), out
    assert re.search(r"^sender: +alice@origin\.test$", out, re.M), out
    assert re.search(r"^recipient: +two@example\.test$", out, re.M), out
    assert re.search(r"^  attempts: +[1-9]", out, re.M), out
    assert re.search(r"^  last reply: +host .* said: 451 4\.3\.0", out, re.M), out
    assert re.search(r"^  next attempt: +\d{4}-", out, re.M), out
    assert "Subject: queue tool A" in out, out
    header_only = out.split("\nheader:\n", 1)[1]
    body = run_queue(tern, "show", ids["A"], "--body").stdout
    whole = body.split("\nmessage:\n", 1)[1]
    assert len(whole) > len(header_only)
    assert whole.startswith(header_only)

    missing = run_queue(tern, "show", "FFFFFFFFFFFFFFFF")
    assert missing.returncode == 1
    assert "not found" in missing.stderr


def test_queue_tool_denied_names_folder(lab):
    tern = lab.tern(start=False)
    tern.queue_dir.mkdir(mode=0o700)
    (tern.queue_dir / "queue.db").write_bytes(b"")
    os.chmod(tern.conf_path, 0o644)
    # nobody must reach the configuration, but not the queue folder.
    for directory in [tern.dir, *tern.dir.parents]:
        if directory == lab.dir.parent:
            break
        os.chmod(directory, 0o755)
    done = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         str(BUILD_DIR / "tern"), "-c", str(tern.conf_path), "queue"],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot read the queue folder" in done.stderr, done.stderr
    assert str(tern.queue_dir) in done.stderr, done.stderr
    assert "permission denied" in done.stderr


def read_only_copy(lab, tern):
    """Lets the user nobody read, but not write, the queue and the
    configuration, and returns a copy of tern placed beside the
    configuration (the build tree may sit in a folder only its owner
    can enter)."""
    for directory in [tern.dir, *tern.dir.parents]:
        if directory == lab.dir.parent:
            break
        os.chmod(directory, 0o755)
    tern.queue_dir.chmod(0o755)
    (tern.queue_dir / "queue.db").chmod(0o644)
    tern.conf_path.chmod(0o644)
    program = tern.dir / "tern-copy"
    shutil.copyfile(BUILD_DIR / "tern", program)
    program.chmod(0o755)
    return program


def run_as_nobody(program, tern, *args):
    return subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         str(program), "-c", str(tern.conf_path), "queue", *args],
        capture_output=True, text=True, timeout=30)


def test_queue_tool_read_only_access(lab):
    if os.geteuid() != 0:
        pytest.skip("needs root to run the command as another user")
    tern, ids = queued_lab(lab)
    tern.stop()
    program = read_only_copy(lab, tern)

    # Stopped: SQLite cannot create queue.db-shm for this user.
    done = run_as_nobody(program, tern)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "without write access to that folder" in done.stderr, done.stderr
    assert str(tern.queue_dir) in done.stderr, done.stderr
    assert "PRAGMA" not in done.stderr, done.stderr

    # Running: queue.db-shm exists with queue.db's mode, so reading works.
    tern.start()
    done = run_as_nobody(program, tern, "--json")
    assert done.returncode == 0, done.stderr
    assert json_ids(done.stdout) == [ids["A"], ids["B"], ids["C"]]


def test_queue_tool_missing_folder(lab):
    tern = lab.tern(start=False)
    done = run_queue(tern)
    assert done.returncode == 1, done.stdout
    assert f"the queue folder {tern.queue_dir} does not exist" in \
        done.stderr, done.stderr
    assert done.stdout == ""

    # A folder without queue.db yet is an empty queue.
    tern.queue_dir.mkdir(mode=0o700)
    done = run_queue(tern)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Mail queue is empty\n"
