"""The SPF self-check before a direct delivery: the envelope sender
domain's SPF record must permit the source address. On fail or softfail
delivery.spf_self_check decides: deliver with one "spf self-check:"
warning per domain and hour, defer, or send through delivery.smart_host.

Without a configured source address the check uses the address the
system chooses for the MX address, which is 127.0.0.1 for 127.0.0.2 on
Linux's loopback interface.
"""

import re

from engine_helpers import assert_never_sent, wait_outcome
from peers import Dnsmasq, message_bytes

MX_ADDRESS = "127.0.0.2"
SMART_HOST_ADDRESS = "127.0.0.3"

SPF = {
    "pass.test": ["v=spf1 ip4:127.0.0.0/8 -all"],
    "fail.test": ["v=spf1 ip4:192.0.2.1 -all"],
    "softfail.test": ["v=spf1 ip4:192.0.2.1 ~all"],
}


def start_zone(lab):
    """dnsmasq with example.test's MX, the SPF records above, the smart
    host relay.test (addresses only) and relaymx.test (an MX record)."""
    lab.dnsmasq = Dnsmasq(
        lab.dir,
        mx={"example.test": [(10, "mx.example.test")],
            "relaymx.test": [(10, "in.relaymx.test")]},
        hosts={"mx.example.test": [MX_ADDRESS],
               "relay.test": [SMART_HOST_ADDRESS],
               "in.relaymx.test": [SMART_HOST_ADDRESS]},
        txt=SPF).start()


def warnings(tern):
    return tern.log_lines(r"warning: spf self-check: ")


def test_fail_delivers_with_one_warning_per_domain(lab):
    rcv = lab.receiver(MX_ADDRESS)
    start_zone(lab)
    tern = lab.tern()
    rcpt = "user@example.test"
    sent = []

    for sender in ["a@fail.test", "b@fail.test", "c@pass.test"]:
        qid = tern.send(sender, [rcpt], message_bytes(sender))
        wait_outcome(tern, qid, rcpt, "sent")
        sent.append(qid)

    assert len(rcv.wait(3)) == 3, rcv.describe()
    lines = warnings(tern)
    assert len(lines) == 1, f"{lines}{tern.tail()}"
    assert "sender domain fail.test gives fail for source address " \
        "127.0.0.1" in lines[0], lines[0]
    assert "delivering anyway" in lines[0], lines[0]
    assert not tern.log_lines(r"spf self-check: .*pass\.test"), tern.tail()


def test_softfail_defers(lab):
    rcv = lab.receiver(MX_ADDRESS)
    start_zone(lab)
    tern = lab.tern(delivery={
        "spf_self_check": "defer",
        "source_addresses": [{"address": "127.0.0.6"}]})
    rcpt = "user@example.test"

    qid = tern.send("x@softfail.test", [rcpt], message_bytes("softfail"))

    line = wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.7\.0")
    assert "sender domain softfail.test gives softfail for source " \
        "address 127.0.0.6" in line, line
    assert 'delivery.spf_self_check is "defer"' in line, line
    assert rcv.connections == 0, rcv.describe()
    assert_never_sent(tern, qid, rcpt)


def test_pass_delivers_under_defer(lab):
    rcv = lab.receiver(MX_ADDRESS)
    start_zone(lab)
    tern = lab.tern(delivery={"spf_self_check": "defer"})
    rcpt = "user@example.test"

    fail_qid = tern.send("x@fail.test", [rcpt], message_bytes("fail"))
    pass_qid = tern.send("x@pass.test", [rcpt], message_bytes("pass"))

    wait_outcome(tern, pass_qid, rcpt, "sent")
    wait_outcome(tern, fail_qid, rcpt, "deferred", dsn=r"4\.7\.0")
    assert [m.mail_from for m in rcv.wait(1)] == ["x@pass.test"]
    assert not warnings(tern), tern.tail()


def smart_host_case(lab, smart_host):
    direct = lab.receiver(MX_ADDRESS)
    relay = lab.receiver(SMART_HOST_ADDRESS)
    start_zone(lab)
    tern = lab.tern(delivery={"spf_self_check": "smart_host",
                              "smart_host": smart_host})
    rcpt = "user@example.test"

    fail_qid = tern.send("x@fail.test", [rcpt], message_bytes("fail"))
    pass_qid = tern.send("x@pass.test", [rcpt], message_bytes("pass"))

    line = wait_outcome(tern, fail_qid, rcpt, "sent")
    wait_outcome(tern, pass_qid, rcpt, "sent")
    assert f"[{SMART_HOST_ADDRESS}]:{lab.port}" in line, line
    assert [m.mail_from for m in relay.wait(1)] == ["x@fail.test"]
    assert [m.mail_from for m in direct.wait(1)] == ["x@pass.test"]
    assert tern.log_lines(rf"{fail_qid}: SPF self-check: .*sending "
                          r"through the smart host"), tern.tail()


def test_fail_goes_through_bracketed_smart_host(lab):
    smart_host_case(lab, f"[{SMART_HOST_ADDRESS}]")


def test_fail_goes_through_smart_host_addresses(lab):
    smart_host_case(lab, "relay.test")


def test_fail_goes_through_smart_host_mx(lab):
    smart_host_case(lab, "relaymx.test")


def test_smart_host_port(lab):
    # The smart host's own port, not the delivery port, with the host
    # looked up by name.
    relay = lab.wire_receiver(SMART_HOST_ADDRESS)
    start_zone(lab)
    tern = lab.tern(delivery={"spf_self_check": "smart_host",
                              "smart_host": f"relay.test:{lab.port}",
                              "port": lab.smtpd_port + 1})
    rcpt = "user@example.test"

    qid = tern.send("y@fail.test", [rcpt], message_bytes("port"))

    line = wait_outcome(tern, qid, rcpt, "sent")
    assert re.search(rf"relay=relay\.test\[{SMART_HOST_ADDRESS}\]:"
                     rf"{lab.port},", line), line
    assert len(relay.wait(1)) == 1
