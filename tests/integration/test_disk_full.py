"""A queue disk that fills up while tern runs, and then has room again.

The queue folder is a small tmpfs mounted in a private mount namespace
that ternd runs in (unshare --mount), so the mount disappears with the
namespace and nothing is left mounted on the machine if a test fails.
A filler file takes the free space. A message then gets
452 4.3.1 (RFC 3463: mail system full), the queue keeps no part of it
and passes SQLite's integrity check, and once the filler is gone the
same message is accepted and delivered.
"""

import subprocess

import pytest

from peers import message_bytes
from test_processes import TMPFS_MOUNT, private_tmpfs_error

QUEUE_SIZE = "4m"


def ns_run(tern, script):
    """Run a shell script in ternd's mount namespace, where the queue
    tmpfs is mounted."""
    return subprocess.run(
        ["nsenter", "-t", str(tern.namespace_pid), "-m", "sh", "-c", script],
        capture_output=True, text=True, timeout=60)


def start_on_tmpfs(lab):
    probe = lab.dir / "probe"
    probe.mkdir()
    reason = private_tmpfs_error(probe)
    if reason is not None:
        pytest.skip(f"cannot mount a private tmpfs for the queue: {reason}")
    rcv = lab.receiver("127.0.0.2")
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    tern = lab.tern(start=False)
    tern.queue_dir.mkdir()
    tern.start(prefix=["unshare", "--mount", "--propagation", "private",
                       "sh", "-c", TMPFS_MOUNT.format(size=QUEUE_SIZE),
                       str(tern.queue_dir)])
    tern.namespace_pid = tern.proc.pid
    return rcv, tern


def fill_queue_disk(tern):
    """Write a filler file until the tmpfs is full; return the free bytes
    left."""
    filler = tern.queue_dir / "filler"
    done = ns_run(tern, f'dd if=/dev/zero of="{filler}" bs=4096 '
                        f'2>/dev/null; stat -f -c "%a %S" "{tern.queue_dir}"')
    blocks, block_size = done.stdout.split()
    return int(blocks) * int(block_size)


def submit(tern, sender, content):
    """Send one message over a raw session; return the reply after the
    final dot."""
    with tern.raw(timeout=60) as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        reply = c.transaction(sender, ["user@example.test"], content +
                              b".\r\n")
        c.command("QUIT")
    return reply


def test_full_disk_452_then_recovers(lab):
    rcv, tern = start_on_tmpfs(lab)
    # Larger than the WAL file of the first transactions, so the insert
    # needs new disk space rather than reusing WAL pages.
    body = (b"x" * 78 + b"\r\n") * 4000
    first = submit(tern, "warmup@origin.test", message_bytes("warm up"))
    assert first.code == 250, f"the first message got {first}"
    rcv.wait(1)
    tern.wait_queue_empty()

    free = fill_queue_disk(tern)
    assert free < 64 * 1024, f"{free} bytes still free after the filler"
    full = submit(tern, "full@origin.test",
                  message_bytes("while full", body=body))

    assert full.code == 452, f"the message on a full disk got {full}"
    assert full.lines[0].startswith("4.3.1"), \
        f"452 without enhanced code 4.3.1: {full}"
    assert tern.queue_counts() == (0, 0), \
        f"a failed insert left rows behind: {tern.recipients()}"
    check = tern.queue_query("PRAGMA integrity_check")
    assert check == [["ok"]], f"queue.db integrity: {check}"
    tern.wait_log(r"not queued from \[127\.0\.0\.1\]: disk full")
    assert tern.running(), "ternd stopped on a full disk"

    removed = ns_run(tern, f'rm "{tern.queue_dir / "filler"}"')
    assert removed.returncode == 0, removed.stderr
    again = submit(tern, "full@origin.test",
                   message_bytes("after space was freed", body=body))

    assert again.code == 250, f"the message after freeing space got {again}"
    got = rcv.wait(2)
    assert [m.mail_from for m in got] == [
        "warmup@origin.test", "full@origin.test"], got
    assert b"after space was freed" in got[1].content
    tern.wait_queue_empty()
    check = tern.queue_query("PRAGMA integrity_check")
    assert check == [["ok"]], f"queue.db integrity after recovery: {check}"


def test_size_over_free_space_452(lab):
    """RFC 1870: MAIL FROM with a SIZE the queue has no room for gets
    452 4.3.1 before any data is sent, and is accepted again once space
    is freed."""
    _, tern = start_on_tmpfs(lab)
    # Below message_size_limit, so only the free space can reject it.
    declared = 1_000_000

    fill_queue_disk(tern)
    with tern.raw() as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        full = c.command(f"MAIL FROM:<sized@origin.test> SIZE={declared}")
        small = c.command("MAIL FROM:<unsized@origin.test>")
    removed = ns_run(tern, f'rm "{tern.queue_dir / "filler"}"')
    assert removed.returncode == 0, removed.stderr
    with tern.raw() as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        again = c.command(f"MAIL FROM:<sized@origin.test> SIZE={declared}")

    assert full.code == 452, f"SIZE={declared} on a full disk got {full}"
    assert full.lines[0].startswith("4.3.1"), \
        f"452 without enhanced code 4.3.1: {full}"
    assert small.code == 250, f"MAIL without SIZE got {small}"
    assert again.code == 250, f"SIZE={declared} after freeing got {again}"
