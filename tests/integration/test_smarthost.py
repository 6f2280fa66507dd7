"""Smart hosts of the policy file: AUTH over TLS, holds after failures,
and a default route through the smart host with a domain sent directly.

The smart host is an AuthRelay (smarthost_peer.py), an aiosmtpd server
that needs AUTH, on its own loopback address and port. Its certificate
comes from the session's test CA (the test_ca fixture) for relay.test,
which dnsmasq resolves to RELAY_ADDRESS. tern reads the credentials from
a secrets file of mode 600 and must never write the password into its
log.
"""

import os
import re

import pytest

from engine_helpers import outcome_pattern, relay, wait_outcome
from peers import (CertificateAuthority, message_bytes, pick_port,
                   server_tls_context)
from smarthost_peer import AuthRelay
from tern_instance import libconfig_text

RELAY_ADDRESS = "127.0.0.5"
MX_ADDRESS = "127.0.0.3"
USER = "app@origin.test"
PASSWORD = "Sm4rt-h0st secret"
WRONG_PASSWORD = "not the password"


def start_relay(lab, test_ca, tls="starttls", cert_name="relay.test",
                ca=None, password=PASSWORD, **kwargs):
    """An AuthRelay on RELAY_ADDRESS at a free port, with a certificate
    for cert_name signed by ca (default: the test CA)."""
    port = pick_port([RELAY_ADDRESS])
    context = None
    if tls != "none":
        context = server_tls_context(*(ca or test_ca).issue(cert_name))
    peer = AuthRelay(RELAY_ADDRESS, port, USER, password, tls=tls,
                     tls_context=context, **kwargs).start()
    lab.peers.append(peer)
    return peer


def write_policy(directory, relay_port, tls="starttls", verify=True,
                 destinations=None):
    """Write policy.conf and secrets.conf (mode 600) into directory."""
    smart_host = {"name": "relay", "host": "relay.test", "port": relay_port,
                  "tls": tls, "verify": verify, "credentials": "relay"}
    policy = {
        "smart_hosts": [smart_host],
        "destinations": destinations or [
            {"match": "default", "route": "smarthost",
             "smart_host": "relay"}],
    }
    (directory / "policy.conf").write_text(libconfig_text(policy))
    secrets = directory / "secrets.conf"
    fd = os.open(secrets, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(libconfig_text({"credentials": [
            {"name": "relay", "username": USER, "password": PASSWORD}]}))


def smarthost_tern(lab, test_ca, relay_port, name="tern", log_level="info",
                   **policy):
    """tern with the policy and secrets files, the test CA as
    delivery.tls.ca_file, and relay.test at RELAY_ADDRESS in DNS."""
    if lab.dnsmasq is None:
        lab.dns(mx={"direct.test": [(10, "mx.direct.test")]},
                hosts={"relay.test": [RELAY_ADDRESS],
                       "mx.direct.test": [MX_ADDRESS]})
    tern = lab.tern(start=False, name=name,
                    policy_file="policy.conf", secrets_file="secrets.conf",
                    log={"level": log_level, "file": "tern.log"},
                    delivery={"port": lab.port, "connect_timeout": 2,
                              "tls": {"ca_file": str(test_ca.cert)}})
    write_policy(tern.dir, relay_port, **policy)
    return tern.start()


def assert_password_not_logged(tern):
    for text in (tern.log_text(), tern.output()):
        assert PASSWORD not in text, f"the password is in the log{tern.tail()}"


def relay_of(peer):
    return relay("relay.test", RELAY_ADDRESS, peer.port)


# ------------------------------------------------------------ delivery

def test_starttls_auth_delivers(lab, test_ca):
    peer = start_relay(lab, test_ca)
    tern = smarthost_tern(lab, test_ca, peer.port, log_level="debug")
    rcpt = "user@example.test"

    qid = tern.send("starttls@origin.test", [rcpt], message_bytes("587"))

    wait_outcome(tern, qid, rcpt, "sent", relay=relay_of(peer),
                 tls=r"TLSv1\.[23]/\S+/verified")
    got = peer.wait(1)
    assert got[0].rcpt_tos == [rcpt], peer.describe()
    assert got[0].tls, peer.describe()
    attempts = peer.auth_attempts
    assert len(attempts) == 1, peer.describe()
    assert attempts[0].success, peer.describe()
    assert attempts[0].login == USER, peer.describe()
    assert attempts[0].mechanism == "PLAIN", peer.describe()
    assert attempts[0].tls, peer.describe()
    assert_password_not_logged(tern)


def test_implicit_tls_login_delivers(lab, test_ca):
    peer = start_relay(lab, test_ca, tls="implicit", mechanisms=("LOGIN",))
    tern = smarthost_tern(lab, test_ca, peer.port, tls="implicit")
    rcpt = "user@example.test"

    qid = tern.send("implicit@origin.test", [rcpt], message_bytes("465"))

    wait_outcome(tern, qid, rcpt, "sent", relay=relay_of(peer),
                 tls=r"TLSv1\.[23]/\S+/verified")
    attempts = peer.auth_attempts
    assert len(attempts) == 1, peer.describe()
    assert attempts[0].mechanism == "LOGIN", peer.describe()
    assert attempts[0].success, peer.describe()
    assert attempts[0].tls, peer.describe()
    assert peer.wait(1)[0].tls, peer.describe()
    assert_password_not_logged(tern)


def test_domains_share_idle_session(lab, test_ca):
    peer = start_relay(lab, test_ca)
    tern = smarthost_tern(lab, test_ca, peer.port)
    first, second = "user@example.test", "user@other.test"

    qid1 = tern.send("share1@origin.test", [first], message_bytes("one"))
    wait_outcome(tern, qid1, first, "sent", relay=relay_of(peer))
    qid2 = tern.send("share2@origin.test", [second], message_bytes("two"))
    wait_outcome(tern, qid2, second, "sent", relay=relay_of(peer))

    # The second domain used the session that the first one left idle,
    # so it did not authenticate again.
    assert len(peer.auth_attempts) == 1, peer.describe()
    assert len(peer.wait(2)) == 2, peer.describe()


# ------------------------------------------------------------ failures

def test_wrong_password_defers_and_holds(lab, test_ca):
    peer = start_relay(lab, test_ca, password=WRONG_PASSWORD)
    tern = smarthost_tern(lab, test_ca, peer.port)
    rcpt = "user@example.test"

    qid = tern.send("wrong@origin.test", [rcpt], message_bytes("wrong"))

    line = wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.7\.8")
    assert "535 5.7.8 Authentication credentials invalid" in line, line
    # AUTH ran after STARTTLS, and the log line names its TLS.
    assert re.search(r"tls=TLSv1\.[23]/", line), line
    tern.wait_log(r"smarthost: relay: not connecting for 60 seconds: "
                  r"authentication with PLAIN failed: .*535 5\.7\.8")
    rows = tern.recipients_of(qid)
    assert "535 5.7.8" in rows[0]["last_reply"], rows

    # More messages for several domains, each retried a few times, meet
    # the hold: the smart host sees no new AUTH.
    later = [tern.send(f"later{i}@origin.test", [f"user@d{i}.test"],
                       message_bytes(f"later {i}")) for i in range(4)]
    for i, later_qid in enumerate(later):
        deferred = tern.wait_log_line(outcome_pattern(
            later_qid, f"user@d{i}.test", "deferred", dsn=r"4\.7\.8"))
        assert "535 5.7.8" in deferred, deferred
        assert "is held for" in deferred, deferred
    wait_outcome_count(tern, qid, rcpt, 3)

    assert len(peer.auth_attempts) == 1, peer.describe()
    assert peer.mail_commands == 0, peer.describe()
    assert peer.messages == [], peer.describe()
    assert_password_not_logged(tern)


def wait_outcome_count(tern, qid, rcpt, count, timeout=30):
    """Wait until deliver logged count outcomes for rcpt of qid, that
    is, count delivery attempts."""
    line = rf"{qid}: to=<{re.escape(rcpt)}>, relay=.*"
    tern.wait_log(rf"(?s)({line}){{{count}}}", timeout)


def test_no_starttls_sends_nothing(lab, test_ca):
    peer = start_relay(lab, test_ca, tls="none")
    tern = smarthost_tern(lab, test_ca, peer.port)
    rcpt = "user@example.test"

    qid = tern.send("nostarttls@origin.test", [rcpt], message_bytes("none"))

    line = wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.7\.5")
    assert "did not offer STARTTLS" in line, line
    tern.wait_log(r"smarthost: relay: not connecting for 60 seconds: TLS is "
                  r"required")
    wait_outcome_count(tern, qid, rcpt, 2)
    assert peer.auth_attempts == [], peer.describe()
    assert peer.mail_commands == 0, peer.describe()
    assert_password_not_logged(tern)


@pytest.mark.parametrize("case", ["other name", "unknown CA"])
def test_certificate_checked_unless_verify_off(lab, test_ca, tmp_path, case):
    if case == "other name":
        peer = start_relay(lab, test_ca, cert_name="other.test")
        reason = "hostname mismatch"
    else:
        peer = start_relay(lab, test_ca,
                           ca=CertificateAuthority(tmp_path))
        reason = "unable to get local issuer certificate"
    tern = smarthost_tern(lab, test_ca, peer.port)
    rcpt = "user@example.test"

    qid = tern.send("verify@origin.test", [rcpt], message_bytes("verify"))

    line = wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.7\.5")
    assert reason in line, line
    assert peer.auth_attempts == [], peer.describe()
    assert peer.messages == [], peer.describe()
    tern.stop()

    tern2 = smarthost_tern(lab, test_ca, peer.port, name="tern2",
                           verify=False)
    qid2 = tern2.send("noverify@origin.test", [rcpt],
                      message_bytes("no verify"))
    wait_outcome(tern2, qid2, rcpt, "sent", relay=relay_of(peer),
                 tls=r"TLSv1\.[23]/\S+/unverified")
    assert len(peer.auth_attempts) == 1, peer.describe()
    assert peer.auth_attempts[0].success, peer.describe()


# ------------------------------------------------------------ routes

def test_default_route_with_direct_exception(lab, test_ca):
    peer = start_relay(lab, test_ca)
    mx = lab.receiver(MX_ADDRESS)
    tern = smarthost_tern(lab, test_ca, peer.port, destinations=[
        {"match": "default", "route": "smarthost", "smart_host": "relay"},
        {"match": "direct.test", "route": "mx"}])
    relayed, direct = "user@example.test", "user@direct.test"

    qid = tern.send("routes@origin.test", [relayed, direct],
                    message_bytes("routes"))

    wait_outcome(tern, qid, relayed, "sent", relay=relay_of(peer))
    wait_outcome(tern, qid, direct, "sent",
                 relay=relay("mx.direct.test", MX_ADDRESS, lab.port))
    at_relay = peer.wait(1)
    assert [m.rcpt_tos for m in at_relay] == [[relayed]], peer.describe()
    at_mx = mx.wait(1)
    assert [m.rcpt_tos for m in at_mx] == [[direct]], mx.describe()
