"""Throttling that suspends one source address for a destination.

example.test's pool has two source addresses. The receiver replies to
MAIL from one of them (SUSPECT) with "451 4.7.650 ... rate limited due
to IP reputation", in the form Outlook.com's servers use, and accepts
mail from the other (GOOD). The policy has no throttle list, so the
built-in rule for that reply stops the use of SUSPECT for example.test
for one hour while GOOD keeps sending. tern runs on a test clock
(TERN_TEST_CLOCK), which the test moves past that hour to see SUSPECT
used again.

The destination's max_connections is 1, so qmgr has one job in flight
at a time and acts on the first reply before it routes the next job.
"""

import threading

from engine_helpers import start_dns, wait_outcome
from peers import message_bytes
from scripted_receiver import ScriptedReceiver
from tern_instance import libconfig_text

MX_ADDRESS = "127.0.0.8"
SUSPECT = "127.0.0.2"
GOOD = "127.0.0.3"
RATE_LIMITED = (b"451 4.7.650 The mail server [" + SUSPECT.encode() +
                b"] has been temporarily rate limited due to IP "
                b"reputation.")
HOUR = 3600
# A fixed policy time: 2030-01-01 00:00 UTC.
START = 1893456000


class SourceRejectingReceiver(ScriptedReceiver):
    """A ScriptedReceiver that replies RATE_LIMITED to MAIL from the
    client addresses in .rejected and records the client address of
    every MAIL in .mail_peers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rejected = {SUSPECT}
        self.mail_peers = []
        self.lock = threading.Lock()

    def _on_mail(self, s, line):
        with self.lock:
            self.mail_peers.append(s.peer[0])
            rejected = s.peer[0] in self.rejected
        if not rejected:
            return super()._on_mail(s, line)
        s.reset()
        s.send(RATE_LIMITED)
        return True

    # The session loop looks verbs up in this table, not by method name.
    _verbs = {**ScriptedReceiver._verbs, b"MAIL": _on_mail}

    def mails_from(self, address):
        with self.lock:
            return self.mail_peers.count(address)


def set_clock(path, seconds):
    path.write_text(f"{seconds}\n")


def send_each(tern, count, tag):
    """Send count messages to example.test; return (queue id,
    recipient) pairs."""
    sent = []
    for i in range(count):
        rcpt = f"{tag}{i}@example.test"
        qid = tern.send(f"{tag}@origin.test", [rcpt],
                        message_bytes(f"{tag} {i}"))
        sent.append((qid, rcpt))
    return sent


def test_reply_suspends_one_source(lab, tmp_path, monkeypatch):
    rcv = SourceRejectingReceiver(MX_ADDRESS, lab.port).start()
    lab.peers.append(rcv)
    start_dns(lab, mx={"example.test": [(10, "mx.example.test")]},
              hosts={"mx.example.test": [MX_ADDRESS]})
    clock = tmp_path / "clock"
    set_clock(clock, START)
    monkeypatch.setenv("TERN_TEST_CLOCK", str(clock))
    tern = lab.tern(start=False, policy_file="policy.conf")
    (tern.dir / "policy.conf").write_text(libconfig_text({
        "pools": [{"name": "main", "addresses": [
            {"address": SUSPECT, "ehlo_name": "out2.example.test"},
            {"address": GOOD, "ehlo_name": "out3.example.test"}]}],
        "destinations": [{"match": "default", "route": "mx",
                          "pool": "main", "max_connections": 1}],
    }))
    tern.start()

    first = send_each(tern, 4, "early")

    # The first job leaves from SUSPECT, the first address of the
    # rotation, and its reply suspends that address for example.test.
    line = tern.wait_log_line(
        r"throttle: example\.test: source 127\.0\.0\.2 suspended for "
        r"3600s after \"451 4\.7\.650 ")
    assert "rate limited due to IP reputation" in line, line
    for qid, rcpt in first:
        wait_outcome(tern, qid, rcpt, "sent")
    assert {m.peer[0] for m in rcv.messages} == {GOOD}, rcv.describe()
    assert rcv.mails_from(SUSPECT) == 1, \
        f"{rcv.mails_from(SUSPECT)} MAIL commands from {SUSPECT}" \
        f"{tern.tail()}"
    assert tern.log_lines(r"throttle: example\.test: suspended") == [], \
        "the whole destination was suspended"

    # Once the hour has passed, SUSPECT is used again, and the receiver
    # now accepts its mail.
    with rcv.lock:
        rcv.rejected.clear()
    set_clock(clock, START + HOUR + 1)
    later = send_each(tern, 4, "later")
    tern.wait_log(r"throttle: example\.test: source 127\.0\.0\.2 "
                  r"suspension ended")
    for qid, rcpt in later:
        wait_outcome(tern, qid, rcpt, "sent")
    peers = [m.peer[0] for m in rcv.messages if m.rcpt_tos[0] in
             {rcpt for _, rcpt in later}]
    assert SUSPECT in peers, f"{peers}{tern.tail()}"
