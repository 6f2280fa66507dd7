"""A destination's TLS level and DKIM selector from the policy file, as
the receivers see them.

origin.test has two DKIM keys: "rsa1" (rsa-sha256) and "ed1"
(ed25519-sha256). Without an override deliver signs with both. The
policy's section for example.test sets tls = "none" and
dkim_selector = "ed1"; other.test falls to the default section, which
sets neither. Both receivers are ScriptedReceivers that offer STARTTLS
and record every command. dkimpy verifies the signatures against the
keys published in the test's dnsmasq.

Both receivers defer the first delivery, so qmgr stores deliver's
signature for other.test with the message, to send it again on the
retry. The retry for example.test must not send that stored signature.
It must sign afresh with its own selector.
"""

from engine_helpers import wait_outcome
from peers import Dnsmasq, message_bytes, server_tls_context
from tern_instance import libconfig_text
from test_dkim import (key_entry, key_record, make_key, signature_fields,
                       tag, verify_all)

NO_TLS_ADDRESS = "127.0.0.2"
DEFAULT_ADDRESS = "127.0.0.3"
TLS_USED = r"TLSv1\.[23]/[A-Za-z0-9_-]+/unverified"
DEFERRED = b"451 4.3.0 Test receiver: try again later"


def selectors(message):
    """Return the s= tags of the message's DKIM-Signature fields, in
    order."""
    return [tag(field, b"s") for field in signature_fields(message)]


def test_policy_tls_none_and_selector(lab, certificate, tmp_path):
    rsa_path, rsa_p = make_key(tmp_path, "rsa.key", "rsa")
    ed_path, ed_p = make_key(tmp_path, "ed.key", "ed25519")
    lab.dnsmasq = Dnsmasq(
        lab.dir,
        mx={"example.test": [(10, "mx.example.test")],
            "other.test": [(10, "mx.other.test")]},
        hosts={"mx.example.test": [NO_TLS_ADDRESS],
               "mx.other.test": [DEFAULT_ADDRESS]},
        txt={"rsa1._domainkey.origin.test": [key_record("rsa", rsa_p)],
             "ed1._domainkey.origin.test": [key_record("ed25519", ed_p)]},
    ).start()
    context = server_tls_context(*certificate)
    no_tls = lab.scripted(NO_TLS_ADDRESS, starttls="ok", tls_context=context,
                          dot_replies=[DEFERRED, b"250 2.0.0 Ok"])
    default = lab.scripted(DEFAULT_ADDRESS, starttls="ok",
                           tls_context=context,
                           dot_replies=[DEFERRED, b"250 2.0.0 Ok"])
    tern = lab.tern(start=False, policy_file="policy.conf", dkim={"keys": [
        key_entry("origin.test", "rsa1", rsa_path, "rsa-sha256"),
        key_entry("origin.test", "ed1", ed_path, "ed25519-sha256")]})
    (tern.dir / "policy.conf").write_text(libconfig_text({"destinations": [
        {"match": "default", "route": "mx"},
        {"match": "example.test", "tls": "none", "dkim_selector": "ed1"}]}))
    tern.start()

    qid = tern.send("both@origin.test", ["user@example.test",
                                         "user@other.test"],
                    message_bytes("selector and tls"))

    wait_outcome(tern, qid, "user@example.test", "deferred", tls="none")
    wait_outcome(tern, qid, "user@other.test", "deferred", tls=TLS_USED)
    wait_outcome(tern, qid, "user@example.test", "sent", tls="none")
    wait_outcome(tern, qid, "user@other.test", "sent", tls=TLS_USED)

    # tls = "none": STARTTLS is offered but never sent.
    assert no_tls.commands(b"STARTTLS") == [], no_tls.describe()
    got = no_tls.wait(1)
    assert len(got) == 1, no_tls.describe()
    assert not got[0].tls, no_tls.describe()
    assert selectors(got[0].content) == ["ed1"], got[0].content[:2000]
    assert verify_all(got[0].content, lab.dnsmasq.server) == 1

    # The default section keeps the global TLS level "may" and both keys.
    assert default.commands(b"STARTTLS") != [], default.describe()
    got = default.wait(1)
    assert len(got) == 1, default.describe()
    assert got[0].tls, default.describe()
    assert sorted(selectors(got[0].content)) == ["ed1", "rsa1"], \
        got[0].content[:2000]
    assert verify_all(got[0].content, lab.dnsmasq.server) == 2
