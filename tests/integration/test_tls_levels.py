"""Outbound TLS levels: none, may (the default), encrypt and verify, set
globally (delivery.tls.level) or per destination (destinations' tls).

The receivers are ScriptedReceivers, which record every command and
whether it came in clear, so a test can show that no MAIL was sent
without TLS. Their STARTTLS either works or ends in a TLS
handshake_failure alert, as from a server that shares no signature
scheme or cipher with the client. For verify, a test CA made with openssl
(the test_ca fixture) signs the receivers' certificates and is given to
tern as delivery.tls.ca_file.
"""

import re

import pytest

from engine_helpers import (assert_never_sent, assert_no_report,
                            assert_still_queued, example_mx, relay, start_dns,
                            wait_outcome)
from peers import CertificateAuthority, message_bytes, server_tls_context

# tls= of a delivery line over TLS, "VERSION/CIPHER/verified" or
# ".../unverified"; only TLS 1.2 or newer may be used.
TLS_UNVERIFIED = r"TLSv1\.[23]/[A-Za-z0-9_-]+/unverified"
TLS_VERIFIED = r"TLSv1\.[23]/[A-Za-z0-9_-]+/verified"


def required_pattern(qid, domain, host, address):
    """Regex for deliver's line that TLS was required for domain but the
    host could not provide it."""
    return (rf"{qid}: TLS is required for {re.escape(domain)} but "
            rf"{re.escape(host)}\[{re.escape(address)}\]")


def assert_nothing_in_clear(tern, rcv):
    """No session with rcv sent MAIL, RCPT or DATA outside TLS, and every
    session that went past EHLO asked for STARTTLS."""
    for verb in (b"MAIL", b"RCPT", b"DATA"):
        sent = rcv.commands_in_clear(verb)
        assert sent == [], f"{verb.decode()} sent in clear: {sent}; " \
            f"sessions {rcv.sessions}{tern.tail()}"
    for verbs in rcv.session_verbs():
        if len(verbs) > 1 and verbs[1] != "QUIT":
            assert "STARTTLS" in verbs, \
                f"a session without STARTTLS: {verbs}{tern.tail()}"


# ------------------------------------------------------------ may

def test_may_uses_offered_tls(lab, certificate):
    rcv = lab.scripted("127.0.0.2", starttls="ok",
                       tls_context=server_tls_context(*certificate))
    start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern()
    rcpt = "user@example.test"

    qid = tern.send("may-tls@origin.test", [rcpt], message_bytes("may"))

    wait_outcome(tern, qid, rcpt, "sent", tls=TLS_UNVERIFIED,
                 relay=relay("mx1.example.test", "127.0.0.2", lab.port))
    got = rcv.wait(1)
    assert got[0].tls, f"delivered in clear: {rcv.describe()}"
    assert_nothing_in_clear(tern, rcv)


def test_may_handshake_failure_retries_in_clear(lab):
    rcv = lab.scripted("127.0.0.2", starttls="alert")
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern()
    rcpt = "user@example.test"
    content = message_bytes("may, failed handshake")

    qid = tern.send("may-alert@origin.test", [rcpt], content)

    tern.wait_log(rf"{qid}: TLS handshake with mx1\.example\.test"
                  rf"\[127\.0\.0\.2\](:{lab.port})? failed: .+; trying again "
                  r"without TLS")
    wait_outcome(tern, qid, rcpt, "sent", tls="none",
                 relay=relay("mx1.example.test", "127.0.0.2", lab.port))
    got = rcv.wait(1)
    assert len(got) == 1, f"{rcv.describe()}"
    assert not got[0].tls, f"{rcv.describe()}"
    sessions = rcv.session_verbs()
    assert len(sessions) == 2, \
        f"expected the failed session and one plain session: {sessions}"
    assert "STARTTLS" in sessions[0], f"first session: {sessions[0]}"
    assert "MAIL" not in sessions[0], f"first session: {sessions[0]}"
    assert "STARTTLS" not in sessions[1], f"second session: {sessions[1]}"
    assert "MAIL" in sessions[1], f"second session: {sessions[1]}"
    assert_no_report(tern, origin, qid, wait=0)


# ------------------------------------------------------------ none

def test_none_never_starts_tls(lab, certificate):
    rcv = lab.scripted("127.0.0.2", starttls="ok",
                       tls_context=server_tls_context(*certificate))
    start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern(delivery={"tls": {"level": "none"}})
    rcpt = "user@example.test"

    qid = tern.send("none@origin.test", [rcpt], message_bytes("none"))

    wait_outcome(tern, qid, rcpt, "sent", tls="none")
    assert rcv.commands(b"STARTTLS") == [], f"sessions {rcv.sessions}"
    assert not rcv.messages[0].tls


# ------------------------------------------------------------ encrypt

def test_encrypt_handshake_failure_defers(lab):
    rcv = lab.scripted("127.0.0.2", starttls="alert")
    origin = start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern(delivery={"tls": {"level": "encrypt"}})
    rcpt = "user@example.test"

    qid = tern.send("encrypt-alert@origin.test", [rcpt],
                    message_bytes("encrypt, failed handshake"))

    tern.wait_log(required_pattern(qid, "example.test", "mx1.example.test",
                                   "127.0.0.2"))
    wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.7\.5")
    assert_no_report(tern, origin, qid)
    assert_nothing_in_clear(tern, rcv)
    assert rcv.commands(b"MAIL") == [], f"sessions {rcv.sessions}"
    assert_never_sent(tern, qid, rcpt)
    assert_still_queued(tern, qid, [rcpt])


def test_encrypt_per_destination_without_starttls(lab):
    # encrypt applies to example.test only; plain.test keeps the global
    # level may and is delivered in clear.
    rcv = lab.scripted("127.0.0.2")
    control = lab.scripted("127.0.0.3")
    mx, hosts = example_mx("127.0.0.2")
    mx_plain, hosts_plain = example_mx("127.0.0.3", domain="plain.test")
    origin = start_dns(lab, {**mx, **mx_plain}, {**hosts, **hosts_plain})
    tern = lab.tern(destinations=[{"domain": "example.test",
                                   "tls": "encrypt"}])
    rcpt = "user@example.test"

    qid = tern.send("encrypt-dest@origin.test", [rcpt],
                    message_bytes("encrypt, no STARTTLS"))
    control_qid = tern.send("plain-dest@origin.test", ["user@plain.test"],
                            message_bytes("plain destination"))

    tern.wait_log(required_pattern(qid, "example.test", "mx1.example.test",
                                   "127.0.0.2"))
    wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.7\.5")
    wait_outcome(tern, control_qid, "user@plain.test", "sent", tls="none")
    assert len(control.wait(1)) == 1, f"{control.describe()}"
    assert rcv.commands(b"MAIL") == [], f"sessions {rcv.sessions}"
    assert_no_report(tern, origin, qid)
    assert_still_queued(tern, qid, [rcpt])


def test_encrypt_accepts_unverified_certificate(lab, certificate):
    # The receiver's certificate is self-signed: encrypt does not check it.
    rcv = lab.scripted("127.0.0.2", starttls="ok",
                       tls_context=server_tls_context(*certificate))
    start_dns(lab, *example_mx("127.0.0.2"))
    tern = lab.tern(delivery={"tls": {"level": "encrypt"}})
    rcpt = "user@example.test"
    content = message_bytes("encrypt")

    qid = tern.send("encrypt-ok@origin.test", [rcpt], content)

    wait_outcome(tern, qid, rcpt, "sent", tls=TLS_UNVERIFIED, dsn=r"2\.0\.0")
    got = rcv.wait(1)
    assert got[0].tls, f"delivered in clear: {rcv.describe()}"
    assert_nothing_in_clear(tern, rcv)


# ------------------------------------------------------------ verify

VERIFY_CASES = ["name-matches", "name-differs", "unknown-ca"]


@pytest.mark.parametrize("case", VERIFY_CASES)
def test_verify_with_test_ca(lab, test_ca, case):
    if case == "name-matches":
        cert = test_ca.issue("mx1.verify.test")
    elif case == "name-differs":
        cert = test_ca.issue("mx.elsewhere.test")
    else:
        cert = CertificateAuthority(lab.dir).issue("mx1.verify.test")
    rcv = lab.scripted("127.0.0.2", starttls="ok",
                       tls_context=server_tls_context(*cert))
    origin = start_dns(lab, *example_mx("127.0.0.2", domain="verify.test"))
    tern = lab.tern(delivery={"tls": {"level": "verify",
                                      "ca_file": str(test_ca.cert)}})
    rcpt = "user@verify.test"

    qid = tern.send(f"verify-{case}@origin.test", [rcpt],
                    message_bytes(f"verify, {case}"))

    if case == "name-matches":
        wait_outcome(tern, qid, rcpt, "sent", tls=TLS_VERIFIED,
                     relay=relay("mx1.verify.test", "127.0.0.2", lab.port))
        got = rcv.wait(1)
        assert got[0].tls, f"delivered in clear: {rcv.describe()}"
        assert_nothing_in_clear(tern, rcv)
        return
    tern.wait_log(required_pattern(qid, "verify.test", "mx1.verify.test",
                                   "127.0.0.2"))
    wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.7\.5")
    assert rcv.commands(b"MAIL") == [], \
        f"MAIL sent to a server whose certificate did not verify: " \
        f"{rcv.sessions}{tern.tail()}"
    assert_no_report(tern, origin, qid)
    assert_still_queued(tern, qid, [rcpt])
