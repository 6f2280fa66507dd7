"""Throttling from receivers' replies: a receiver that starts to reply
421 4.7.0 after a few messages (to MAIL, or at the greeting) makes tern
lower that destination's connection limit or suspend it. This shows in
qmgr's "throttle: DOMAIN: ..." lines and at the receiver, while mail to
another domain keeps flowing. Once the receiver accepts mail again, tern
recovers step by step and delivers the mail.

mx1.example.test (127.0.0.2) is a ScriptedReceiver; mx1.other.test
(127.0.0.3) an aiosmtpd receiver. The policy's throttle_recovery and
suspensions are a few seconds, and the test configuration retries after
1 s, at most 2 s apart.
"""

import re
import time

from engine_helpers import start_dns
from peers import message_bytes, wait_for
from scripted_receiver import ScriptedReceiver
from tern_instance import libconfig_text

OK = b"250 2.1.0 Ok"
TOO_MANY = b"421 4.7.0 mx1.example.test Too many connections, slow down"

MX = {"example.test": [(10, "mx1.example.test")],
      "other.test": [(10, "mx1.other.test")]}
HOSTS = {"mx1.example.test": ["127.0.0.2"],
         "mx1.other.test": ["127.0.0.3"]}


class TimedReceiver(ScriptedReceiver):
    """A ScriptedReceiver that also records when each session began."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.session_starts = []

    def _session(self, conn, peer):
        with self.mailbox.cond:
            self.session_starts.append(time.time())
        super()._session(conn, peer)


def timed_receiver(lab, address, **behaviour):
    r = TimedReceiver(address, lab.port, **behaviour).start()
    lab.peers.append(r)
    return r


def accept_every_mail(rcv):
    """From now on the receiver accepts every MAIL."""
    with rcv.mailbox.cond:
        rcv.mail_replies[:] = [OK]


def start_tern(lab, policy, **overrides):
    """tern with policy (a dict) as its policy file, and overrides of
    its test configuration."""
    tern = lab.tern(start=False, policy_file="policy.conf", **overrides)
    (tern.dir / "policy.conf").write_text(libconfig_text(policy))
    return tern.start()


def send_each(tern, domain, count, tag):
    """count messages to domain, one recipient each; returns their queue
    ids and recipients."""
    sent = []
    for i in range(count):
        rcpt = f"{tag}{i}@{domain}"
        qid = tern.send(f"{tag}@origin.test", [rcpt],
                        message_bytes(f"{tag} {i}"))
        sent.append((qid, rcpt))
    return sent


def wait_delivered(rcv, rcpts, tern, timeout=30):
    def arrived():
        got = {r for m in rcv.messages for r in m.rcpt_tos}
        return set(rcpts) <= got
    assert wait_for(arrived, timeout), \
        f"not every one of {sorted(rcpts)} arrived at {rcv.address}: " \
        f"{[m.rcpt_tos for m in rcv.messages]}{tern.tail()}"


def throttle_lines(tern, domain):
    return tern.log_lines(rf"throttle: {re.escape(domain)}: ")


def test_421_lowers_limit_then_recovers(lab):
    rcv = lab.scripted("127.0.0.2", mail_replies=[OK, OK, OK, TOO_MANY])
    other = lab.receiver("127.0.0.3")
    start_dns(lab, mx=MX, hosts=HOSTS)
    tern = start_tern(lab, {
        "destinations": [{"match": "default", "route": "mx",
                          "max_connections": 4}],
        "throttle_recovery": "2s",
        "throttle": [{"code": "421", "enhanced": "4.7.*",
                      "action": "reduce_connections"}],
    })

    slowed = send_each(tern, "example.test", 8, "slow")
    line = tern.wait_log_line(
        r"throttle: example\.test: connection limit 4 -> 2 after "
        r"\"421 4\.7\.0 mx1\.example\.test Too many connections, "
        r"slow down\"", timeout=30)
    assert "other.test" not in line, line

    # The other domain is not held back while example.test is.
    flowing = send_each(tern, "other.test", 2, "free")
    wait_delivered(other, [r for _, r in flowing], tern)
    assert throttle_lines(tern, "other.test") == [], \
        f"other.test was throttled: {throttle_lines(tern, 'other.test')}"

    accept_every_mail(rcv)
    wait_delivered(rcv, [r for _, r in slowed], tern, timeout=60)
    tern.wait_log(r"throttle: example\.test: connection limit 2 -> 3 "
                  r"\(recovering\)", timeout=30)
    tern.wait_log(r"throttle: example\.test: connection limit 3 -> 4 "
                  r"\(recovering\)", timeout=30)
    tern.wait_log(r"throttle: example\.test: recovered", timeout=30)
    assert len(rcv.commands(b"MAIL")) > 8, \
        f"the receiver never answered 421: {rcv.describe()}"


def test_421_greeting_suspends_destination(lab):
    # A 421 greeting reaches qmgr only as the session's reply: no
    # recipient was sent, so none has the server's reply.
    rcv = timed_receiver(lab, "127.0.0.2")
    other = lab.receiver("127.0.0.3")
    start_dns(lab, mx=MX, hosts=HOSTS)
    # One connection at a time, so no job is in flight when the
    # suspension starts, and each message on a new one, so each meets
    # the greeting.
    tern = start_tern(lab, {
        "destinations": [{"match": "default", "route": "mx",
                          "max_connections": 1}],
        "throttle_recovery": "2s",
        "throttle": [{"code": "421", "action": "suspend",
                      "duration": "4s"}],
    }, delivery={"connection_reuse_limit": 1})

    before = send_each(tern, "example.test", 2, "early")
    wait_delivered(rcv, [r for _, r in before], tern)
    with rcv.mailbox.cond:
        rcv.greeting = TOO_MANY
    held = send_each(tern, "example.test", 2, "held")
    started = tern.wait_log_line(
        r"throttle: example\.test: suspended for 4s after \"421 4\.7\.0 ",
        timeout=30)
    with rcv.mailbox.cond:
        rcv.greeting = b"220 scripted.test ESMTP"
    flowing = send_each(tern, "other.test", 2, "free")
    wait_delivered(other, [r for _, r in flowing], tern)
    ended = tern.wait_log_line(r"throttle: example\.test: suspension "
                               r"ended", timeout=30)
    wait_delivered(rcv, [r for _, r in held], tern, timeout=60)
    tern.wait_log(r"throttle: example\.test: recovered", timeout=30)

    # No session reached the receiver while the domain was suspended.
    # Log times are cut to the millisecond, and the session that drew
    # the 421 may have begun in the millisecond of the action's line.
    begin = tern.log_time(started) + 0.001
    end = tern.log_time(ended)
    with rcv.mailbox.cond:
        starts = list(rcv.session_starts)
    during = [t for t in starts if begin <= t < end]
    assert during == [], \
        f"{len(during)} session(s) began during the suspension " \
        f"({begin:.3f} to {end:.3f}): {starts}{tern.tail()}"
    assert any(t >= end for t in starts), \
        f"no session after the suspension: {starts}{tern.tail()}"
