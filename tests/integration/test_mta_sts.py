"""MTA-STS (RFC 8461) in deliver, against real peers: nginx serving the
policy files over HTTPS with certificates from a test CA made for each
test, dnsmasq serving the _mta-sts TXT records, MX records and the
addresses of mta-sts.DOMAIN, and aiosmtpd receivers whose STARTTLS
certificates come from the same CA. tern gets that CA as both
delivery.tls.ca_file and delivery.mta_sts.ca_file.

deliver's MTA-STS log lines read "QID: mta-sts: DOMAIN: ...".
"""

import re
import subprocess

import pytest

from engine_helpers import (ORIGIN_ADDRESS, assert_never_sent,
                            assert_still_queued, outcome_pattern, relay,
                            wait_outcome)
from https_peer import PolicyServer, policy_text
from peers import (CertificateAuthority, Dnsmasq, message_bytes,
                   server_tls_context, wait_tcp)

TLS_VERIFIED = r"TLSv1\.[23]/[A-Za-z0-9_-]+/verified"


def sts_line(qid, domain, text):
    """Regex for deliver's MTA-STS line about domain in job qid."""
    return rf"{qid}: mta-sts: {re.escape(domain)}: {text}"


class StsLab:
    """One test's MTA-STS world: policy domains on nginx, DNS records and
    receivers, then tern. Call the set-up methods, then start()."""

    def __init__(self, lab):
        self.lab = lab
        (lab.dir / "ca").mkdir()
        self.ca = CertificateAuthority(lab.dir / "ca")
        self.nginx = PolicyServer(lab.dir, self.ca)
        lab.peers.append(self.nginx)
        self.mx = {"origin.test": [(10, "mx.origin.test")]}
        self.hosts = {"mx.origin.test": [ORIGIN_ADDRESS]}
        self.txt = {}
        self.tern = None

    def policy_domain(self, domain, policy, policy_id="1",
                      redirect_to=None, chunked=False):
        """Publish a TXT record with policy_id and serve policy for
        domain (None: serve only the redirect). See PolicyServer."""
        self.nginx.add_domain(domain, policy, redirect_to, chunked)
        self.txt[f"_mta-sts.{domain}"] = [f"v=STSv1; id={policy_id};"]
        self.hosts[f"mta-sts.{domain}"] = [self.nginx.address]

    def mail_exchanger(self, domain, preference, host, address):
        self.mx.setdefault(domain, []).append((preference, host))
        self.hosts[host] = [address]

    def receiver(self, address, tls_names=(), ca=None):
        """An aiosmtpd receiver on address; with tls_names it offers
        STARTTLS with a certificate for those names from ca (the test's
        CA by default)."""
        ctx = None
        if tls_names:
            cert, key = (ca or self.ca).issue(tls_names[0],
                                              list(tls_names))
            ctx = server_tls_context(cert, key)
        return self.lab.receiver(address, tls_context=ctx)

    def start_dns(self):
        self.lab.dnsmasq = Dnsmasq(self.lab.dir, mx=self.mx,
                                   hosts=self.hosts, txt=self.txt).start()

    def restart_dns(self):
        """Serve the current records from a new dnsmasq on the same port,
        because dnsmasq cannot change TXT records while it runs."""
        old = self.lab.dnsmasq
        old.stop()
        new = Dnsmasq(self.lab.dir, mx=self.mx, hosts=self.hosts,
                      txt=self.txt)
        new.port = old.port
        with open(new.log_path, "ab") as log:
            new.proc = subprocess.Popen(new.command(),
                                        stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=subprocess.STDOUT)
        assert wait_tcp("127.0.0.1", new.port, 10), new.describe()
        self.lab.dnsmasq = new

    def start(self, **overrides):
        self.lab.receiver(ORIGIN_ADDRESS)
        self.nginx.start()
        self.start_dns()
        delivery = {
            "tls": {"ca_file": str(self.ca.cert)},
            "mta_sts": {"ca_file": str(self.ca.cert),
                        "port": self.nginx.port, "timeout": 5},
        }
        delivery.update(overrides.pop("delivery", {}))
        self.tern = self.lab.tern(delivery=delivery, **overrides)
        return self.tern


# ------------------------------------------------------------ enforce

def test_enforce_matching_mx_delivers_verified(lab):
    sts = StsLab(lab)
    domain = "enforce.test"
    sts.policy_domain(domain, policy_text("enforce", ["mx1.enforce.test"]))
    # The preferred MX host matches no pattern and has no TLS: without
    # the policy the message would go there.
    sts.mail_exchanger(domain, 5, "mx0.enforce.test", "127.0.0.3")
    sts.mail_exchanger(domain, 10, "mx1.enforce.test", "127.0.0.2")
    plain = sts.receiver("127.0.0.3")
    good = sts.receiver("127.0.0.2", ["mx1.enforce.test"])
    tern = sts.start()
    rcpt = f"user@{domain}"

    qid = tern.send("sts@origin.test", [rcpt], message_bytes("enforce"))

    wait_outcome(tern, qid, rcpt, "sent", tls=TLS_VERIFIED,
                 relay=relay("mx1.enforce.test", "127.0.0.2", lab.port))
    got = good.wait(1)
    assert got[0].tls, good.describe()
    assert plain.messages == [], plain.describe()
    tern.wait_log(sts_line(qid, domain, r"fetched policy id 1: mode "
                           r"enforce, max_age 86400, 1 mx pattern"))
    tern.wait_log(sts_line(qid, domain, r"policy id 1 \(enforce\): "
                           r"skipping MX host\(s\) mx0\.enforce\.test"))


def test_enforce_no_matching_mx_defers(lab):
    sts = StsLab(lab)
    domain = "nomatch.test"
    sts.policy_domain(domain, policy_text("enforce", ["*.elsewhere.test"]))
    sts.mail_exchanger(domain, 10, "mx1.nomatch.test", "127.0.0.2")
    rcv = sts.receiver("127.0.0.2", ["mx1.nomatch.test"])
    tern = sts.start()
    rcpt = f"user@{domain}"

    qid = tern.send("sts@origin.test", [rcpt], message_bytes("no match"))

    line = wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.7\.5")
    assert "allows none of its MX hosts: mx1.nomatch.test" in line, line
    tern.wait_log(sts_line(qid, domain, r"policy id 1 \(enforce\): no MX "
                           r"host matches its mx patterns"))
    assert rcv.connections == 0, rcv.describe()
    assert_still_queued(tern, qid, [rcpt])


@pytest.mark.parametrize("case", ["other_ca", "no_starttls"])
def test_enforce_mx_without_valid_tls_defers(lab, case):
    sts = StsLab(lab)
    domain = "badtls.test"
    sts.policy_domain(domain, policy_text("enforce", ["mx1.badtls.test"]))
    sts.mail_exchanger(domain, 10, "mx1.badtls.test", "127.0.0.2")
    if case == "other_ca":
        (lab.dir / "other-ca").mkdir()
        other = CertificateAuthority(lab.dir / "other-ca")
        rcv = sts.receiver("127.0.0.2", ["mx1.badtls.test"], ca=other)
    else:
        rcv = sts.receiver("127.0.0.2")
    tern = sts.start()
    rcpt = f"user@{domain}"

    qid = tern.send("sts@origin.test", [rcpt], message_bytes("bad tls"))

    line = wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.7\.5")
    assert "TLS is required for badtls.test by its MTA-STS policy but " \
           "mx1.badtls.test[127.0.0.2]" in line, line
    assert rcv.messages == [], rcv.describe()
    assert_never_sent(tern, qid, rcpt)


# ------------------------------------------------------------ testing

def test_testing_mode_delivers_and_logs(lab):
    sts = StsLab(lab)
    domain = "testing.test"
    sts.policy_domain(domain, policy_text("testing", ["mx.other.test"]))
    sts.mail_exchanger(domain, 10, "mx1.testing.test", "127.0.0.2")
    rcv = sts.receiver("127.0.0.2")  # no STARTTLS
    tern = sts.start()
    rcpt = f"user@{domain}"

    qid = tern.send("sts@origin.test", [rcpt], message_bytes("testing"))

    wait_outcome(tern, qid, rcpt, "sent", tls="none")
    assert len(rcv.wait(1)) == 1, rcv.describe()
    tern.wait_log(sts_line(qid, domain, r"fetched policy id 1: mode "
                           r"testing"))
    tern.wait_log(sts_line(qid, domain, r"policy id 1 \(testing\): MX "
                           r"host\(s\) mx1\.testing\.test match no mx "
                           r"pattern; enforce would not deliver"))
    tern.wait_log(sts_line(qid, domain, r"policy id 1 \(testing\): "
                           r"delivered to mx1\.testing\.test\[127\.0\.0\.2"
                           r"\]:\d+ with TLS none; enforce requires a "
                           r"verified certificate"))


# ------------------------------------------------------------ refresh

def test_new_policy_id_is_fetched(lab):
    sts = StsLab(lab)
    domain = "change.test"
    sts.policy_domain(domain, policy_text("testing", ["mx1.change.test"]),
                      policy_id="one")
    sts.mail_exchanger(domain, 10, "mx1.change.test", "127.0.0.2")
    rcv = sts.receiver("127.0.0.2")
    tern = sts.start()
    rcpt = f"user@{domain}"

    first = tern.send("sts@origin.test", [rcpt], message_bytes("first"))
    wait_outcome(tern, first, rcpt, "sent")
    tern.wait_log(sts_line(first, domain, "fetched policy id one: mode "
                           "testing"))
    # The same id: the cached policy is used, not fetched again.
    second = tern.send("sts@origin.test", [rcpt], message_bytes("second"))
    wait_outcome(tern, second, rcpt, "sent")
    assert len(sts.nginx.requests(domain)) == 1, \
        sts.nginx.requests(domain)

    # Upstream now enforces a pattern that excludes the MX host.
    sts.nginx.set_policy(domain, policy_text("enforce", ["mx9.change.test"]))
    sts.txt[f"_mta-sts.{domain}"] = ["v=STSv1; id=two;"]
    sts.restart_dns()
    third = tern.send("sts@origin.test", [rcpt], message_bytes("third"))

    wait_outcome(tern, third, rcpt, "deferred", dsn=r"4\.7\.5")
    tern.wait_log(sts_line(third, domain, "fetched policy id two: mode "
                           "enforce"))
    assert len(sts.nginx.requests(domain)) == 2, \
        sts.nginx.requests(domain)
    assert len(rcv.messages) == 2, rcv.describe()


def test_cached_policy_used_when_server_down(lab):
    sts = StsLab(lab)
    domain = "cached.test"
    # enforce with a matching host that offers no TLS: every delivery
    # under this policy is deferred, and without it the mail would go.
    sts.policy_domain(domain, policy_text("enforce", ["mx1.cached.test"]),
                      policy_id="v1")
    sts.mail_exchanger(domain, 10, "mx1.cached.test", "127.0.0.2")
    rcv = sts.receiver("127.0.0.2")
    tern = sts.start()
    rcpt = f"user@{domain}"

    qid = tern.send("sts@origin.test", [rcpt], message_bytes("cached"))
    wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.7\.5")

    # A new id, and the policy host is down: the retry keeps the cached
    # policy.
    sts.nginx.stop()
    sts.txt[f"_mta-sts.{domain}"] = ["v=STSv1; id=v2;"]
    sts.restart_dns()
    since = tern.log_size()

    tern.wait_log(sts_line(qid, domain, r"policy fetch failed: "),
                  since=since)
    tern.wait_log(sts_line(qid, domain, "using the cached policy id v1 "
                           r"\(mode enforce\)"), since=since)
    line = tern.wait_log_line(outcome_pattern(qid, rcpt, "deferred",
                                              dsn=r"4\.7\.5"), since=since)
    assert "by its MTA-STS policy" in line, line
    assert rcv.messages == [], rcv.describe()


# ------------------------------------------------------------ bad policies

def test_redirect_is_not_followed(lab):
    sts = StsLab(lab)
    domain = "redirect.test"
    # The redirect target enforces a pattern that excludes the MX host:
    # following the redirect would defer the mail.
    sts.policy_domain(domain, None, redirect_to="/moved.txt")
    sts.nginx.set_policy(domain, policy_text("enforce", ["mx9.other.test"]),
                         path="/moved.txt")
    sts.mail_exchanger(domain, 10, "mx1.redirect.test", "127.0.0.2")
    rcv = sts.receiver("127.0.0.2")
    tern = sts.start()
    rcpt = f"user@{domain}"

    qid = tern.send("sts@origin.test", [rcpt], message_bytes("redirect"))

    wait_outcome(tern, qid, rcpt, "sent")
    tern.wait_log(sts_line(qid, domain, r"policy fetch failed: https://"
                           r"mta-sts\.redirect\.test:\d+/\.well-known/"
                           r"mta-sts\.txt returned HTTP status 301 "
                           r"\(redirects are not followed\)"))
    requests = sts.nginx.requests(domain)
    assert len(requests) == 1, requests
    assert "moved.txt" not in requests[0], requests
    assert len(rcv.messages) == 1, rcv.describe()


@pytest.mark.parametrize("chunked", [False, True],
                         ids=["content_length", "chunked"])
def test_oversized_policy_is_ignored(lab, chunked):
    sts = StsLab(lab)
    domain = "big.test"
    padding = "".join(f"x_padding_{i}: {'y' * 80}\n" for i in range(800))
    big = policy_text("enforce", ["mx9.other.test"]) + padding
    assert len(big) > 65536
    sts.policy_domain(domain, big, chunked=chunked)
    sts.mail_exchanger(domain, 10, "mx1.big.test", "127.0.0.2")
    rcv = sts.receiver("127.0.0.2")
    tern = sts.start()
    rcpt = f"user@{domain}"

    qid = tern.send("sts@origin.test", [rcpt], message_bytes("big"))

    wait_outcome(tern, qid, rcpt, "sent")
    tern.wait_log(sts_line(qid, domain, r"policy fetch failed: .* is "
                           r"larger than 65536 bytes"))
    assert len(rcv.messages) == 1, rcv.describe()


@pytest.mark.parametrize("policy,reason", [
    (policy_text("enforce", []), "mode enforce without an mx field"),
    (policy_text("enforce", ["bad_name.test", "*.*.test"]),
     "mode enforce but none of its 2 mx patterns is valid"),
    ("version: STSv2\nmode: enforce\nmx: mx9.other.test\nmax_age: 60\n",
     'unsupported version "STSv2"'),
    ("<html>Not a policy</html>\n", "line without a colon"),
], ids=["no_mx", "invalid_mx", "version", "html"])
def test_malformed_policy_is_ignored(lab, policy, reason):
    sts = StsLab(lab)
    domain = "malformed.test"
    sts.policy_domain(domain, policy)
    sts.mail_exchanger(domain, 10, "mx1.malformed.test", "127.0.0.2")
    rcv = sts.receiver("127.0.0.2")
    tern = sts.start()
    rcpt = f"user@{domain}"

    qid = tern.send("sts@origin.test", [rcpt], message_bytes("malformed"))

    wait_outcome(tern, qid, rcpt, "sent")
    tern.wait_log(sts_line(qid, domain, r"invalid policy \(id 1\) "
                           rf"ignored: {re.escape(reason)}"))
    assert len(rcv.messages) == 1, rcv.describe()


def test_invalid_policy_keeps_cached_one(lab):
    sts = StsLab(lab)
    domain = "keep.test"
    sts.policy_domain(domain, policy_text("enforce", ["mx9.other.test"]),
                      policy_id="good")
    sts.mail_exchanger(domain, 10, "mx1.keep.test", "127.0.0.2")
    rcv = sts.receiver("127.0.0.2")
    tern = sts.start()
    rcpt = f"user@{domain}"

    qid = tern.send("sts@origin.test", [rcpt], message_bytes("keep"))
    wait_outcome(tern, qid, rcpt, "deferred", dsn=r"4\.7\.5")

    # A new id whose policy is enforce without any mx line.
    sts.nginx.set_policy(domain, policy_text("enforce", []))
    sts.txt[f"_mta-sts.{domain}"] = ["v=STSv1; id=broken;"]
    sts.restart_dns()
    since = tern.log_size()

    tern.wait_log(sts_line(qid, domain, r"invalid policy \(id broken\) "
                           "ignored: mode enforce without an mx field"),
                  since=since)
    tern.wait_log(sts_line(qid, domain, "using the cached policy id "
                           r"good \(mode enforce\)"), since=since)
    tern.wait_log(outcome_pattern(qid, rcpt, "deferred", dsn=r"4\.7\.5"),
                  since=since)
    assert rcv.messages == [], rcv.describe()


def test_lf_and_crlf_policies_parse(lab):
    sts = StsLab(lab)
    for domain, line_end in (("lf.test", "\n"), ("crlf.test", "\r\n")):
        sts.policy_domain(domain, policy_text(
            "enforce", [f"mx.{domain}"], max_age=3600, line_end=line_end))
        # A preferred host outside the policy, to show it applies.
        sts.mail_exchanger(domain, 5, f"mx0.{domain}", "127.0.0.3")
        sts.mail_exchanger(domain, 10, f"mx.{domain}", "127.0.0.2")
    plain = sts.receiver("127.0.0.3")
    good = sts.receiver("127.0.0.2", ["mx.lf.test", "mx.crlf.test"])
    tern = sts.start()

    for domain in ("lf.test", "crlf.test"):
        rcpt = f"user@{domain}"
        qid = tern.send("sts@origin.test", [rcpt], message_bytes(domain))
        wait_outcome(tern, qid, rcpt, "sent", tls=TLS_VERIFIED,
                     relay=relay(f"mx.{domain}", "127.0.0.2", lab.port))
        tern.wait_log(sts_line(qid, domain, "fetched policy id 1: mode "
                               "enforce, max_age 3600, 1 mx pattern"))
    assert len(good.messages) == 2, good.describe()
    assert plain.messages == [], plain.describe()


# ------------------------------------------------------------ shared MX

def test_broken_policy_defers_only_its_domain(lab):
    sts = StsLab(lab)
    # Both domains use one MX host; only broken.test has an enforce
    # policy, and its pattern does not match that host.
    sts.policy_domain("broken.test", policy_text("enforce",
                                                 ["mx.wrong.test"]))
    for domain in ("broken.test", "fine.test"):
        sts.mail_exchanger(domain, 10, "mx.shared.test", "127.0.0.2")
    rcv = sts.receiver("127.0.0.2", ["mx.shared.test"])
    tern = sts.start()
    broken, fine = "user@broken.test", "user@fine.test"

    qid = tern.send("sts@origin.test", [broken, fine],
                    message_bytes("shared mx"))

    wait_outcome(tern, qid, fine, "sent",
                 relay=relay("mx.shared.test", "127.0.0.2", lab.port))
    wait_outcome(tern, qid, broken, "deferred", dsn=r"4\.7\.5")
    got = rcv.wait(1)
    assert [m.rcpt_tos for m in got] == [[fine]], rcv.describe()
    assert_still_queued(tern, qid, [broken])
