"""Restart under Wine with mail queued. The receiver replies 451, so the
message stays queued. Then ternd.exe and its children stop (Ctrl+C, or
all killed at once) and a receiver that accepts comes up. ternd.exe
starts again on the same queue and delivers the message exactly once."""

import pytest

from peers import message_bytes, pid_alive, split_received, wait_for

# The children ternd starts when the pickup folder is not configured.
CHILDREN = {"tern-smtpd", "tern-qmgr", "tern-deliver"}

# The receiver replies 451 to every attempt while it runs.
ALWAYS_451 = 10 ** 6


def deferred_line(qid):
    return rf"{qid}: to=<user@example\.test>, .*status=deferred"


def sent_line(qid):
    return rf"{qid}: to=<user@example\.test>, .*status=sent"


@pytest.mark.parametrize("how", ["ctrl_c", "killed"])
def test_queued_mail_survives_restart(lab, how):
    refusing = lab.receiver("127.0.0.2", temp_failures=ALWAYS_451)
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    tern = lab.tern()
    content = message_bytes(f"Restart test ({how})")

    qid = tern.send(f"restart-{how}@origin.test", ["user@example.test"],
                    content)
    tern.wait_log(deferred_line(qid), timeout=60)
    assert refusing.messages == []

    if how == "ctrl_c":
        status = tern.stop()
        assert status == 0, (f"ternd.exe exited with {status} after "
                             f"Ctrl+C{tern.tail()}")
    else:
        tern.kill_tree()
    refusing.stop()

    receiver = lab.receiver("127.0.0.2")
    since = tern.log_size()
    tern.start()

    got = receiver.wait(1, timeout=90)
    assert len(got) == 1, f"receiver got {got} after the restart" \
        f"{tern.tail()}"
    received, rest = split_received(got[0].content)
    assert received, f"no Received field: {got[0].content[:200]!r}"
    assert rest == content, "delivered message differs from the submitted one"
    tern.wait_log(sent_line(qid), timeout=30, since=since)
    tern.wait_log(rf"{qid}: removed", timeout=30, since=since)
    sent = tern.log_lines(sent_line(qid))
    assert len(sent) == 1, f"status=sent logged {len(sent)} times: {sent}"
    assert len(receiver.messages) == 1, \
        f"delivered more than once: {receiver.messages}"


def test_ctrl_c_stops_whole_tree(lab):
    tern = lab.tern()
    children = wait_for(lambda: set(tern.children()) >= CHILDREN, 30)
    assert children, (f"children running: {sorted(tern.children())}, "
                      f"expected {sorted(CHILDREN)}{tern.tail()}")
    pids = [pid for group in tern.children().values() for pid in group]

    status = tern.stop(kill_leftovers=False)

    assert status == 0, f"ternd.exe exited with {status}{tern.tail()}"
    gone = wait_for(lambda: not any(pid_alive(p) for p in pids), 30)
    assert gone, ("children still running after ternd.exe exited: "
                  f"{[p for p in pids if pid_alive(p)]}")
    tern.wait_log(r"stopping \(interrupted\)", timeout=5)
    tern.wait_log(r"all processes stopped", timeout=5)
