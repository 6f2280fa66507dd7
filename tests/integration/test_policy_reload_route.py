"""A reload that changes a domain's route, and a broken reload after it.

example.test starts routed to its MX host. `tern reload` applies a
policy that sends it through the smart host "relay", and the next
message goes there. Then a policy with an error arrives by SIGHUP
(`tern reload` would reject it before signalling): ternd rejects it,
and mail keeps going through the smart host although the broken file's
valid sections would route example.test by MX again.

The smart host is an aiosmtpd receiver without TLS or AUTH at
RELAY_ADDRESS; the policy names it by address with tls = "none".
"""

import signal
import subprocess

from engine_helpers import relay, start_dns, wait_outcome
from peers import message_bytes
from tern_instance import BUILD_DIR, libconfig_text

MX_ADDRESS = "127.0.0.2"
RELAY_ADDRESS = "127.0.0.9"
RCPT = "user@example.test"


def policy(port, route):
    """Return the policy that routes example.test by route ("mx" or
    "smarthost")."""
    destination = {"match": "example.test", "route": route}
    if route == "smarthost":
        destination["smart_host"] = "relay"
    return {
        "smart_hosts": [{"name": "relay", "host": RELAY_ADDRESS,
                         "port": port, "tls": "none"}],
        "destinations": [{"match": "default", "route": "mx"}, destination],
    }


def tern_reload(tern):
    """Run `tern reload` for tern's configuration."""
    return subprocess.run([str(BUILD_DIR / "tern"), "-c",
                           str(tern.conf_path), "reload"],
                          capture_output=True, text=True, timeout=60)


def test_reload_moves_domain_to_smart_host(lab):
    mx = lab.receiver(MX_ADDRESS)
    smart_host = lab.receiver(RELAY_ADDRESS)
    start_dns(lab, mx={"example.test": [(10, "mx1.example.test")]},
              hosts={"mx1.example.test": [MX_ADDRESS]})
    tern = lab.tern(start=False, policy_file="policy.conf")
    policy_path = tern.dir / "policy.conf"
    policy_path.write_text(libconfig_text(policy(lab.port, "mx")))
    tern.start()
    direct = relay("mx1.example.test", MX_ADDRESS, lab.port)
    relayed = relay(RELAY_ADDRESS, RELAY_ADDRESS, lab.port)

    qid = tern.send("before@origin.test", [RCPT], message_bytes("before"))
    wait_outcome(tern, qid, RCPT, "sent", relay=direct)
    assert len(mx.wait(1)) == 1, mx.describe()

    # `tern reload` applies the smart-host route to the next message.
    policy_path.write_text(libconfig_text(policy(lab.port, "smarthost")))
    since = tern.log_size()
    done = tern_reload(tern)
    assert done.returncode == 0, done.stderr
    tern.wait_log(r"policy: loaded .*policy\.conf \(2 destination "
                  r"sections\)", since=since)
    qid = tern.send("after@origin.test", [RCPT], message_bytes("after"))
    wait_outcome(tern, qid, RCPT, "sent", relay=relayed)
    got = smart_host.wait(1)
    assert [m.mail_from for m in got] == ["after@origin.test"], \
        smart_host.describe()

    # A broken policy is rejected as a whole: its valid sections, which
    # route example.test by MX, do not apply either.
    broken = policy(lab.port, "mx")
    broken["destinations"].append({"match": "other.test", "route": "fast"})
    policy_path.write_text(libconfig_text(broken))
    since = tern.log_size()
    tern.send_signal(signal.SIGHUP)
    tern.wait_log(r"reload rejected, the running configuration stays in "
                  r"force: .*policy\.conf:\d+: destinations: unknown route "
                  r"\"fast\"", since=since)
    tern.wait_log(r"policy: keeping .*policy\.conf as loaded before "
                  r"\(2 destination sections\)", since=since)
    qid = tern.send("kept@origin.test", [RCPT], message_bytes("kept"))
    wait_outcome(tern, qid, RCPT, "sent", relay=relayed)
    got = smart_host.wait(2)
    assert [m.mail_from for m in got] == ["after@origin.test",
                                          "kept@origin.test"], \
        smart_host.describe()
    assert [m.mail_from for m in mx.messages] == ["before@origin.test"], \
        mx.describe()
