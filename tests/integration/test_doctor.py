"""tern doctor against test zones served by dnsmasq.

The good zone passes every check; each broken zone changes one thing
and the test expects exit status 1 with exactly the checks that defect
makes fail. The MTA-STS policy is served by nginx (https_peer.py) on
127.0.0.6 with a certificate from the session's test CA. DKIM keys are
made with openssl.
"""

import base64
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from https_peer import PolicyServer
from peers import Dnsmasq, pick_port
from tern_instance import BUILD_DIR, libconfig_text

DOMAIN = "example.test"
SOURCE = "127.0.0.5"
EHLO = "out.example.test"
POLICY_ADDRESS = "127.0.0.6"
POLICY = ("version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\n"
          "max_age: 604800\r\n")
CHECK_KEYS = {"name", "subject", "status", "detail", "fix"}


# ---------------------------------------------------------------- keys

def _openssl(*args):
    done = subprocess.run(["openssl", *args], capture_output=True,
                          check=True)
    return done.stdout


def _public_p(key, algorithm):
    """The p= value of a DKIM key record for the private key file."""
    der = _openssl("pkey", "-in", str(key), "-pubout", "-outform", "DER")
    if algorithm == "ed25519":
        der = der[-32:]  # RFC 8463 4.2: the raw 32-byte public key
    return base64.b64encode(der).decode()


def _make_key(directory, name, algorithm):
    path = directory / name
    if algorithm == "rsa":
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                 "rsa_keygen_bits:2048", "-out", str(path))
    else:
        _openssl("genpkey", "-algorithm", "ED25519", "-out", str(path))
    path.chmod(0o600)
    return path, _public_p(path, algorithm)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """An RSA key (selector s1), an Ed25519 key (s2) and a second RSA key
    that no configuration uses: {name: (path, p=)}."""
    directory = tmp_path_factory.mktemp("dkim")
    return {"rsa": _make_key(directory, "s1.key", "rsa"),
            "ed25519": _make_key(directory, "s2.key", "ed25519"),
            "other": _make_key(directory, "other.key", "rsa")}


def dkim_record(p, algorithm):
    """A selector record as TXT character-strings of at most 255 bytes."""
    text = f"v=DKIM1; k={algorithm}; p={p}"
    return [text[i:i + 255] for i in range(0, len(text), 255)]


# ---------------------------------------------------------------- zones

def good_zone(keys):
    """Records under which mail from DOMAIN sent from SOURCE passes."""
    return {
        "mx": {DOMAIN: [(10, "mx1.example.test")]},
        "hosts": {"mx1.example.test": ["127.0.0.2"],
                  EHLO: [SOURCE],
                  f"mta-sts.{DOMAIN}": [POLICY_ADDRESS]},
        "txt": {
            DOMAIN: [f"v=spf1 ip4:{SOURCE} -all",
                     "google-site-verification=abc"],
            f"_dmarc.{DOMAIN}": ["v=DMARC1; p=reject; adkim=s; aspf=s"],
            f"s1._domainkey.{DOMAIN}": [dkim_record(keys["rsa"][1], "rsa")],
            f"s2._domainkey.{DOMAIN}": [
                dkim_record(keys["ed25519"][1], "ed25519")],
            f"_mta-sts.{DOMAIN}": ["v=STSv1; id=20260101000000Z;"],
        },
        "ptr": {"5.0.0.127.in-addr.arpa": EHLO},
    }


def good_keys(keys, signing_domain=None):
    entries = [
        {"domain": DOMAIN, "selector": "s1",
         "key_file": str(keys["rsa"][0])},
        {"domain": DOMAIN, "selector": "s2",
         "key_file": str(keys["ed25519"][0]),
         "algorithm": "ed25519-sha256"},
    ]
    if signing_domain is not None:
        for entry in entries:
            entry["signing_domain"] = signing_domain
    return entries


class DoctorLab:
    """One test's DNS server, policy server and configuration; run()
    calls tern doctor with them."""

    def __init__(self, keys, ca):
        self.dir = Path(tempfile.mkdtemp(prefix="tern-doctor-", dir="/tmp"))
        self.keys = keys
        self.ca = ca
        self.dns = None
        self.policy_server = None
        self.conf = self.dir / "tern.conf"

    def start(self, zone, policy=POLICY, sources=True, dkim_keys=None):
        """Serve zone (see good_zone) and the policy (None: no HTTPS
        server) and write the configuration."""
        self.dns = Dnsmasq(self.dir, mx=zone.get("mx"),
                           hosts=zone.get("hosts"), txt=zone.get("txt"),
                           ptr=zone.get("ptr")).start()
        if policy is not None:
            self.policy_server = PolicyServer(self.dir, self.ca,
                                              address=POLICY_ADDRESS)
            self.policy_server.add_domain(DOMAIN, policy)
            port = self.policy_server.start().port
        else:
            port = pick_port([POLICY_ADDRESS])
        delivery = {"mta_sts": {"ca_file": str(self.ca.cert), "port": port,
                                "timeout": 5}}
        if sources:
            delivery["source_addresses"] = [
                {"address": SOURCE, "ehlo_name": EHLO}]
        settings = {
            "hostname": "tern.test",
            "queue": {"directory": "queue"},
            "resolver": {"servers": [self.dns.server], "timeout": 2},
            "delivery": delivery,
            "dkim": {"keys": dkim_keys if dkim_keys is not None
                     else good_keys(self.keys)},
        }
        self.conf.write_text(libconfig_text(settings))
        return self

    def run(self, *args, conf=None):
        tern = BUILD_DIR / "tern"
        assert tern.exists(), f"{tern} is missing: build tern first"
        return subprocess.run(
            [str(tern), "-c", str(conf or self.conf), "doctor", *args],
            capture_output=True, text=True, timeout=120)

    def report(self, domain=DOMAIN):
        """Run with --json; return (exit status, parsed report)."""
        done = self.run(domain, "--json")
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError as e:
            raise AssertionError(
                f"--json output is not JSON ({e}); exit {done.returncode}"
                f"\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
        return done.returncode, report

    def close(self, keep):
        if self.policy_server is not None:
            self.policy_server.stop()
        if self.dns is not None:
            self.dns.stop()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def doctor(request, keys, test_ca):
    lab = DoctorLab(keys, test_ca)
    yield lab
    report = getattr(request.node, "rep_call", None)
    failed = report is None or report.failed
    if failed:
        print(f"\ntest directory kept: {lab.dir}")
        if lab.dns is not None:
            print(lab.dns.describe())
        if lab.policy_server is not None:
            print(lab.policy_server.describe())
    lab.close(keep=failed)


def failing(report):
    return {c["name"] for c in report["checks"] if c["status"] == "fail"}


def checks_named(report, name):
    found = [c for c in report["checks"] if c["name"] == name]
    assert found, f"no {name} check in {json.dumps(report, indent=1)}"
    return found


def expect_defect(lab, names, words):
    """Run the doctor; expect exit status 1, exactly the checks in names
    failing, and each of words in the detail of a failing check."""
    status, report = lab.report()
    shown = json.dumps(report, indent=1)
    assert status == 1, f"exit status {status}:\n{shown}"
    assert report["status"] == "fail", shown
    assert failing(report) == set(names), shown
    details = " ".join(c["detail"] for c in report["checks"]
                       if c["status"] == "fail")
    for word in words:
        assert word in details, f"{word!r} not in failing details:\n{shown}"
    text = lab.run(DOMAIN)
    assert text.returncode == 1, text.stdout + text.stderr
    for name in names:
        assert any(line.startswith(f"FAIL  {name} ")
                   for line in text.stdout.splitlines()), text.stdout
    return report


# ---------------------------------------------------------------- tests

def test_doctor_good_zone_json(doctor, keys):
    doctor.start(good_zone(keys))
    status, report = doctor.report()
    shown = json.dumps(report, indent=1)
    assert status == 0, shown
    assert report["domain"] == DOMAIN
    assert report["status"] == "ok", shown
    for check in report["checks"]:
        assert set(check) == CHECK_KEYS, check
        assert check["status"] == "ok", shown
    names = [c["name"] for c in report["checks"]]
    for name in ("mx", "spf-record", "spf-source", "dkim", "dmarc-record",
                 "dmarc-spf", "dmarc-dkim", "mta-sts-record",
                 "mta-sts-policy", "rdns"):
        assert name in names, shown
    dkim = checks_named(report, "dkim")
    assert {c["subject"] for c in dkim} == {
        f"s1._domainkey.{DOMAIN}", f"s2._domainkey.{DOMAIN}"}, shown
    assert checks_named(report, "spf-source")[0]["subject"] == SOURCE
    assert "127.0.0.2" in checks_named(report, "mx")[0]["detail"]
    assert "enforce" in checks_named(report, "mta-sts-policy")[0]["detail"]


def test_doctor_good_zone_text(doctor, keys):
    doctor.start(good_zone(keys))
    done = doctor.run(DOMAIN)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"tern doctor: {DOMAIN}", done.stdout
    checks = lines[1:-1]
    assert len(checks) >= 10, done.stdout
    for line in checks:
        assert line.startswith("ok    "), done.stdout
    assert lines[-1].endswith(" 0 FAIL"), done.stdout


def test_doctor_no_mx(doctor, keys):
    zone = good_zone(keys)
    del zone["mx"]
    doctor.start(zone)
    report = expect_defect(doctor, ["mx"],
                           ["no MX record and no A/AAAA record"])
    mx = checks_named(report, "mx")[0]
    assert "implicit MX" not in mx["detail"], mx


def test_doctor_no_mx_with_address(doctor, keys):
    zone = good_zone(keys)
    del zone["mx"]
    zone["hosts"][DOMAIN] = ["127.0.0.2"]
    doctor.start(zone)
    report = expect_defect(doctor, ["mx"], ["implicit MX"])
    mx = checks_named(report, "mx")[0]
    assert "no A/AAAA record" not in mx["detail"], mx


def test_doctor_resolver_unreachable(doctor, keys):
    doctor.start(good_zone(keys))
    doctor.dns.stop()   # nothing answers at resolver.servers now
    status, report = doctor.report()
    shown = json.dumps(report, indent=1)
    assert status == 1, shown
    for name in ("dmarc-spf", "dmarc-dkim", "rdns"):
        check = checks_named(report, name)[0]
        assert check["status"] == "fail", shown
        assert "resolver.servers" in check["fix"], shown
        assert "Publish" not in check["fix"], shown
    assert "lookup" in checks_named(report, "dmarc-spf")[0]["detail"], shown
    assert "lookup failed" in \
        checks_named(report, "dmarc-dkim")[0]["detail"], shown


def test_doctor_null_mx(doctor, keys):
    zone = good_zone(keys)
    zone["mx"] = {DOMAIN: [(0, ".")]}
    doctor.start(zone)
    expect_defect(doctor, ["mx"], ["null MX"])


def test_doctor_two_spf_records(doctor, keys):
    zone = good_zone(keys)
    zone["txt"][DOMAIN] = [f"v=spf1 ip4:{SOURCE} -all",
                           "v=spf1 ip4:127.0.0.9 -all"]
    doctor.start(zone)
    expect_defect(doctor, ["spf-record", "spf-source", "dmarc-spf"],
                  ["2 TXT records start with v=spf1", "permerror"])


def test_doctor_spf_fails_source(doctor, keys):
    zone = good_zone(keys)
    zone["txt"][DOMAIN] = ["v=spf1 ip4:127.0.0.9 -all"]
    doctor.start(zone)
    report = expect_defect(doctor, ["spf-source", "dmarc-spf"],
                           ["SPF fail"])
    source = checks_named(report, "spf-source")[0]
    assert f"ip4:{SOURCE}" in source["fix"], source


def test_doctor_dkim_record_mismatch(doctor, keys):
    zone = good_zone(keys)
    zone["txt"][f"s1._domainkey.{DOMAIN}"] = [
        dkim_record(keys["other"][1], "rsa")]
    doctor.start(zone)
    report = expect_defect(doctor, ["dkim"], ["does not match"])
    s1 = [c for c in checks_named(report, "dkim")
          if c["subject"].startswith("s1.")][0]
    assert keys["rsa"][1] in s1["fix"], s1


def test_doctor_dkim_record_missing(doctor, keys):
    zone = good_zone(keys)
    del zone["txt"][f"s1._domainkey.{DOMAIN}"]
    doctor.start(zone)
    expect_defect(doctor, ["dkim"], ["no selector record"])


def test_doctor_no_dkim_key(doctor, keys):
    doctor.start(good_zone(keys), dkim_keys=[
        {"domain": "other.test", "selector": "s1",
         "key_file": str(keys["rsa"][0])}])
    expect_defect(doctor, ["dkim", "dmarc-dkim"], ["unsigned"])


def test_doctor_no_dmarc_record(doctor, keys):
    zone = good_zone(keys)
    del zone["txt"][f"_dmarc.{DOMAIN}"]
    doctor.start(zone)
    expect_defect(doctor, ["dmarc-record"], ["no DMARC record"])


def test_doctor_dmarc_strict_subdomain_key(doctor, keys):
    zone = good_zone(keys)
    txt = zone["txt"]
    for selector in ("s1", "s2"):
        txt[f"{selector}._domainkey.mail.{DOMAIN}"] = txt.pop(
            f"{selector}._domainkey.{DOMAIN}")
    doctor.start(zone, dkim_keys=good_keys(keys, f"mail.{DOMAIN}"))
    report = expect_defect(doctor, ["dmarc-dkim"],
                           [f"d=mail.{DOMAIN}", "adkim=s"])
    dkim = checks_named(report, "dkim")
    assert all(c["subject"].endswith(f"._domainkey.mail.{DOMAIN}")
               for c in dkim), dkim


def test_doctor_dmarc_relaxed_subdomain_key(doctor, keys):
    zone = good_zone(keys)
    txt = zone["txt"]
    txt[f"_dmarc.{DOMAIN}"] = ["v=DMARC1; p=reject"]
    for selector in ("s1", "s2"):
        txt[f"{selector}._domainkey.mail.{DOMAIN}"] = txt.pop(
            f"{selector}._domainkey.{DOMAIN}")
    doctor.start(zone, dkim_keys=good_keys(keys, f"mail.{DOMAIN}"))
    status, report = doctor.report()
    assert status == 0, json.dumps(report, indent=1)


def test_doctor_mta_sts_policy_unreachable(doctor, keys):
    doctor.start(good_zone(keys), policy=None)
    report = expect_defect(doctor, ["mta-sts-policy"],
                           ["cannot be fetched"])
    assert checks_named(report, "mta-sts-record")[0]["status"] == "ok"


def test_doctor_mta_sts_mx_not_in_policy(doctor, keys):
    doctor.start(good_zone(keys), policy=POLICY.replace(
        "mx1.example.test", "*.elsewhere.test"))
    expect_defect(doctor, ["mta-sts-policy"], ["mx1.example.test"])


def test_doctor_ptr_misaligned(doctor, keys):
    zone = good_zone(keys)
    zone["ptr"] = {"5.0.0.127.in-addr.arpa": "other.example.test"}
    zone["hosts"]["other.example.test"] = [SOURCE]
    doctor.start(zone)
    report = expect_defect(doctor, ["rdns"], ["other.example.test"])
    rdns = checks_named(report, "rdns")[0]
    assert rdns["fix"].startswith("Set ehlo_name = "), rdns
    assert "ehlo_name =" not in rdns["detail"], rdns


def test_doctor_without_source_addresses(doctor, keys):
    doctor.start(good_zone(keys), sources=False)
    status, report = doctor.report()
    shown = json.dumps(report, indent=1)
    assert status == 0, shown
    assert report["status"] == "warn", shown
    for name in ("spf-source", "rdns"):
        check = checks_named(report, name)[0]
        assert check["status"] == "warn", shown
        assert "no source address is configured" in check["detail"], shown


def test_doctor_usage_errors(doctor, keys):
    doctor.start(good_zone(keys))
    missing = doctor.run()
    assert missing.returncode == 2, missing.stderr
    assert "usage" in missing.stderr
    unknown = doctor.run(DOMAIN, "--yaml")
    assert unknown.returncode == 2, unknown.stderr
    assert "--yaml" in unknown.stderr
    bad = doctor.run("not a domain")
    assert bad.returncode == 2, bad.stderr


def test_doctor_unreadable_configuration(doctor, keys):
    doctor.start(good_zone(keys))
    absent = doctor.run(DOMAIN, conf=doctor.dir / "absent.conf")
    assert absent.returncode == 2, absent.stdout + absent.stderr
    assert "absent.conf" in absent.stderr
    broken = doctor.dir / "broken.conf"
    broken.write_text("hostname = ;\n")
    done = doctor.run(DOMAIN, conf=broken)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "broken.conf:1" in done.stderr
