"""DKIM signing in deliver, checked by an independent verifier.

Mail goes through ternd to an aiosmtpd receiver, and dkimpy (Debian's
python3-dkim, with python3-nacl for ed25519-sha256) verifies what
arrives, looking the public keys up in the test's dnsmasq through
dnspython. Keys are made with the openssl command, except in the test of
`tern dkim keygen`, whose printed record is published as is.

The MIME corpus is CPython's email test data (Debian package
libpython3.11-testsuite), sent as is with CRLF line ends.
"""

import base64
import glob
import os
import re
import shutil
import signal
import subprocess
import threading
from email import message_from_bytes
from email.utils import getaddresses
from pathlib import Path

import dkim
import dns.resolver
import pytest
from aiosmtpd.controller import Controller

from engine_helpers import relay, wait_outcome
from peers import Dnsmasq, message_bytes, wait_for
from tern_instance import BUILD_DIR

MX_ADDRESS = "127.0.0.2"
CORPUS = "/usr/lib/python3.11/test/test_email/data/msg_*.txt"


# ------------------------------------------------------------ helpers

def make_key(directory, name, algorithm):
    """Write a private key with openssl (RSA 2048 or Ed25519), mode 0600,
    and return (path, p= value)."""
    path = Path(directory) / name
    if algorithm == "rsa":
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA",
                        "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                        str(path)], check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-in", str(path),
                              "-pubout", "-outform", "DER"], check=True,
                             capture_output=True).stdout
    else:
        subprocess.run(["openssl", "genpkey", "-algorithm", "ED25519",
                        "-out", str(path)], check=True, capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-in", str(path),
                              "-pubout", "-outform", "DER"], check=True,
                             capture_output=True).stdout
        der = der[-32:]  # RFC 8463 4.2: p= is the raw 32-byte key
    os.chmod(path, 0o600)
    return path, base64.b64encode(der).decode()


def txt_strings(record):
    """A TXT record cut into character-strings of at most 255 bytes."""
    return [record[i:i + 255] for i in range(0, len(record), 255)]


def key_record(kind, p):
    return txt_strings(f"v=DKIM1; k={kind}; p={p}")


def start_dns(lab, txt):
    """dnsmasq with example.test's MX at MX_ADDRESS and the given TXT
    records; the receiver there records every DATA."""
    lab.dnsmasq = Dnsmasq(
        lab.dir, mx={"example.test": [(10, "mx1.example.test")]},
        hosts={"mx1.example.test": [MX_ADDRESS]}, txt=txt).start()
    return lab.dnsmasq


def dnsfunc_for(server):
    """A dkimpy DNS function that queries the test's dnsmasq."""
    host, port = server.rsplit(":", 1)
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = int(port)

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        try:
            answer = resolver.resolve(name, "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(answer[0].strings)
    return dnsfunc


def signature_count(message):
    head = message.split(b"\r\n\r\n", 1)[0]
    return len(re.findall(rb"^DKIM-Signature:", head, re.M | re.I))


def verify_all(message, server):
    """Verify every DKIM-Signature of message with dkimpy; return the
    number verified and fail on the first that does not verify."""
    count = signature_count(message)
    if count == 0:
        return 0  # dkimpy cannot parse some of the unsigned corpus
    d = dkim.DKIM(message)
    for i in range(count):
        ok = d.verify(idx=i, dnsfunc=dnsfunc_for(server))
        assert ok, (f"signature {i} does not verify ({d.logger}):\n"
                    f"{message[:3000]!r}")
    return count


def signature_fields(message):
    """The DKIM-Signature fields at the top of message, unfolded."""
    head = message.split(b"\r\n\r\n", 1)[0]
    return re.findall(rb"^DKIM-Signature:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*",
                      head, re.M | re.I)


def tag(field, name):
    flat = re.sub(rb"\s+", b"", field.split(b":", 1)[1])
    for item in flat.split(b";"):
        if item.startswith(name + b"="):
            return item[len(name) + 1:].decode()
    return None


class RecordingAll:
    """aiosmtpd handler that records every DATA and replies 451 to the
    first temp_failures of them."""

    def __init__(self, temp_failures=0):
        self.temp_failures = temp_failures
        self.attempts = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.attempts.append(envelope.original_content)
            if len(self.attempts) <= self.temp_failures:
                return "451 4.3.0 Test receiver: try again later"
        return "250 2.0.0 Accepted"

    def wait(self, count, timeout=30):
        def enough():
            with self.lock:
                return len(self.attempts) >= count
        assert wait_for(enough, timeout), \
            f"{len(self.attempts)} DATA attempts, expected {count}"
        with self.lock:
            return list(self.attempts)


class Receiver:
    """A receiver at MX_ADDRESS on the lab's delivery port."""

    def __init__(self, lab, temp_failures=0):
        self.handler = RecordingAll(temp_failures)
        self.controller = Controller(self.handler, hostname=MX_ADDRESS,
                                     port=lab.port, decode_data=False,
                                     ready_timeout=10)
        self.controller.start()
        lab.peers.append(self)

    def stop(self):
        try:
            self.controller.stop()
        except (AssertionError, RuntimeError):
            pass

    def wait(self, count=1, timeout=30):
        return self.handler.wait(count, timeout)


def key_entry(domain, selector, path, algorithm):
    return {"domain": domain, "selector": selector, "key_file": str(path),
            "algorithm": algorithm}


@pytest.fixture
def keys(tmp_path):
    """An RSA and an Ed25519 key with their p= values."""
    rsa_path, rsa_p = make_key(tmp_path, "rsa.key", "rsa")
    ed_path, ed_p = make_key(tmp_path, "ed.key", "ed25519")
    return {"rsa": (rsa_path, rsa_p), "ed": (ed_path, ed_p)}


# ------------------------------------------------------------ signing

EDGE_CASES = {
    "no-final-crlf": b"last line without a line end",
    "empty": b"",
    "only-crlf": b"\r\n",
    "trailing-empty-lines": b"text\r\n\r\n\r\n",
    "8bit": "Grüße aus Köln, ½ € — ünïcödé\r\n".encode() + bytes(
        range(0x80, 0x100)).replace(b"\r", b"").replace(b"\n", b"") +
    b"\r\n",
    "spaces": b"  a  \t b  \r\n \r\n\tc\r\n",
}


def folded_headers():
    words = " ".join(f"word{i}" for i in range(120))
    return (b"X-Long: " + "\r\n\t".join(
        words[i:i + 70] for i in range(0, len(words), 70)).encode() +
        b"\r\nSubject-Extra: a\r\n   b\r\n\t  c\r\n")


def test_rsa_and_ed25519_signatures_verify(lab, keys):
    dnsmasq = start_dns(lab, {
        "rsa1._domainkey.origin.test": [key_record("rsa", keys["rsa"][1])],
        "ed1._domainkey.origin.test": [key_record("ed25519", keys["ed"][1])],
    })
    rcv = Receiver(lab)
    tern = lab.tern(dkim={"keys": [
        key_entry("origin.test", "rsa1", keys["rsa"][0], "rsa-sha256"),
        key_entry("origin.test", "ed1", keys["ed"][0], "ed25519-sha256")]})

    messages = [message_bytes(name, body=body) for name, body in
                EDGE_CASES.items()]
    messages.append(message_bytes("folded", extra=folded_headers()))
    for i, content in enumerate(messages):
        qid = tern.send(f"s{i}@origin.test", ["user@example.test"], content)
        tern.wait_log(rf"{qid}: dkim: signed d=origin\.test s=rsa1 "
                      rf"a=rsa-sha256, d=origin\.test s=ed1 "
                      rf"a=ed25519-sha256$")
    got = rcv.wait(len(messages))
    for message in got:
        assert verify_all(message, dnsmasq.server) == 2
        for field in signature_fields(message):
            # From is signed once more than the message has it.
            h = tag(field, b"h").lower().split(":")
            assert h.count("from") == 2, field
            assert tag(field, b"c") == "relaxed/relaxed", field


def signable(data):
    """True for a message with one From field whose address has a
    domain and a header without lines that lack a colon."""
    head = data.split(b"\r\n\r\n", 1)[0]
    fields = [line for line in head.split(b"\r\n")
              if line and line[:1] not in (b" ", b"\t")]
    if any(b":" not in line for line in fields):
        return False
    froms = [f for f in fields if f.split(b":", 1)[0].strip().lower() ==
             b"from"]
    if len(froms) != 1:
        return False
    addresses = getaddresses([froms[0].split(b":", 1)[1].decode(
        errors="replace")])
    return len(addresses) > 0 and "@" in addresses[0][1]


def test_mime_corpus_verifies(lab, keys):
    corpus = []
    for path in sorted(glob.glob(CORPUS)):
        data = open(path, "rb").read().replace(b"\r\n", b"\n")
        if b"\r" in data:
            continue  # a bare CR, which smtpd rejects
        corpus.append(data.replace(b"\n", b"\r\n"))
    assert len(corpus) > 40, "install libpython3.11-testsuite"
    domains = set()
    for data in corpus:
        for _, address in getaddresses(message_from_bytes(data)
                                       .get_all("From", [])):
            if "@" in address:
                domains.add(address.rsplit("@", 1)[1].lower())
    txt = {f"c1._domainkey.{d}": [key_record("rsa", keys["rsa"][1])]
           for d in domains}
    dnsmasq = start_dns(lab, txt)
    rcv = Receiver(lab)
    tern = lab.tern(dkim={"keys": [
        key_entry(d, "c1", keys["rsa"][0], "rsa-sha256")
        for d in sorted(domains)]})

    tern.send_many([(f"corpus{i}@origin.test", ["user@example.test"], data)
                    for i, data in enumerate(corpus)])
    got = rcv.wait(len(corpus), timeout=60)
    signed = sum(1 for message in got if verify_all(message,
                                                    dnsmasq.server) == 1)
    signed_lines = re.findall(r": dkim: signed ", tern.log_text())
    unsigned_lines = re.findall(r": dkim: not signed: (.*)",
                                tern.log_text())
    assert signed == len(signed_lines)
    assert signed + len(unsigned_lines) == len(corpus)
    # Only messages that cannot be signed are left unsigned.
    assert set(unsigned_lines) <= {
        "no From header", "the From header has no valid domain",
        "a header line has no colon"}, unsigned_lines
    assert signed == sum(1 for data in corpus if signable(data))


def test_signature_same_on_retry(lab, keys):
    start_dns(lab, {"rsa1._domainkey.origin.test":
                    [key_record("rsa", keys["rsa"][1])]})
    rcv = Receiver(lab, temp_failures=1)
    tern = lab.tern(dkim={"keys": [
        key_entry("origin.test", "rsa1", keys["rsa"][0], "rsa-sha256")]})
    rcpt = "user@example.test"

    qid = tern.send("retry@origin.test", [rcpt], message_bytes("retry"))

    wait_outcome(tern, qid, rcpt, "sent",
                 relay=relay("mx1.example.test", MX_ADDRESS, lab.port))
    first, second = rcv.wait(2)
    assert first == second
    assert signature_count(first) == 1
    assert len(re.findall(rf"{qid}: dkim: signed ", tern.log_text())) == 1


def test_no_key_for_from_domain(lab, keys):
    dnsmasq = start_dns(lab, {"rsa1._domainkey.origin.test":
                              [key_record("rsa", keys["rsa"][1])]})
    rcv = Receiver(lab)
    tern = lab.tern(dkim={"keys": [
        key_entry("origin.test", "rsa1", keys["rsa"][0], "rsa-sha256")]})

    qid = tern.send("someone@other.test", ["user@example.test"],
                    message_bytes("no key", sender="someone@other.test"))
    tern.wait_log(rf"{qid}: dkim: not signed: no key for the From domain "
                  r"other\.test$")
    two = message_bytes("two", extra=b"From: second@origin.test\r\n")
    qid2 = tern.send("two-from@origin.test", ["user@example.test"], two)
    tern.wait_log(rf"warning: {qid2}: dkim: not signed: 2 From headers$")
    got = rcv.wait(2)
    assert [signature_count(m) for m in got] == [0, 0]
    assert verify_all(got[0], dnsmasq.server) == 0


def test_key_broken_after_start_keeps_signing(lab, keys, tmp_path):
    """A key file that breaks after ternd accepted it does not reach a
    restarted deliver: ternd sends the key it accepted, so the mail is
    still signed with it."""
    dnsmasq = start_dns(lab, {"rsa1._domainkey.origin.test":
                              [key_record("rsa", keys["rsa"][1])]})
    rcv = Receiver(lab)
    live = tmp_path / "live.key"
    shutil.copy(keys["rsa"][0], live)
    os.chmod(live, 0o600)
    tern = lab.tern(dkim={"keys": [
        key_entry("origin.test", "rsa1", live, "rsa-sha256")]})
    rcpt = "user@example.test"

    live.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                    "-----END PRIVATE KEY-----\n")
    old = tern.child_pid("tern-deliver")
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: tern.children().get("tern-deliver", [old]) !=
                    [old], 20), tern.tail()
    restarted = tern.child_pid("tern-deliver")

    signed = tern.send("a@origin.test", [rcpt], message_bytes("signed"))
    wait_outcome(tern, signed, rcpt, "sent",
                 relay=relay("mx1.example.test", MX_ADDRESS, lab.port))
    got = rcv.wait(1)
    assert verify_all(got[0], dnsmasq.server) == 1
    assert not tern.log_lines(r"held until the key file is fixed"), \
        tern.tail()
    assert tern.child_pid("tern-deliver") == restarted


# ------------------------------------------------------------ start-up

def start_fails(lab, tern, expected):
    tern.start(wait=False)
    assert wait_for(lambda: tern.proc.poll() is not None, 20), \
        f"ternd kept running:\n{tern.diagnostics()}"
    assert tern.proc.returncode != 0
    text = tern.output() + tern.log_text()
    for part in expected:
        assert part in text, f"{part!r} not in:\n{text}"
    check = subprocess.run([str(BUILD_DIR / "ternd"), "-c",
                            str(tern.conf_path), "-t"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode != 0
    for part in expected:
        assert part in check.stdout + check.stderr


def test_missing_key_stops_start(lab, tmp_path):
    missing = tmp_path / "missing.key"
    tern = lab.tern(start=False, dkim={"keys": [
        key_entry("origin.test", "s1", missing, "rsa-sha256")]})
    start_fails(lab, tern, [str(missing), "No such file"])


def test_world_readable_key_stops_start(lab, keys):
    path = keys["rsa"][0]
    os.chmod(path, 0o644)
    tern = lab.tern(start=False, dkim={"keys": [
        key_entry("origin.test", "s1", path, "rsa-sha256")]})
    start_fails(lab, tern, [str(path), "mode 0644"])


def test_wrong_algorithm_key_stops_start(lab, keys):
    tern = lab.tern(start=False, dkim={"keys": [
        key_entry("origin.test", "s1", keys["ed"][0], "rsa-sha256")]})
    start_fails(lab, tern, [str(keys["ed"][0]), "needs an RSA key"])


# ------------------------------------------------------------ keygen

def keygen(directory, algorithm):
    out = Path(directory) / f"kg-{algorithm}.key"
    result = subprocess.run(
        [str(BUILD_DIR / "tern"), "dkim", "keygen", "--domain",
         "origin.test", "--selector", f"kg{algorithm}", "--algorithm",
         algorithm, "--output", str(out)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def printed_record(output, algorithm):
    line = re.search(rf"^kg{algorithm}\._domainkey\.origin\.test\. IN TXT "
                     r"(.*)$", output, re.M)
    assert line, output
    strings = re.findall(r'"([^"]*)"', line.group(1))
    assert all(len(s) <= 255 for s in strings)
    return strings


def test_keygen_output_verifies(lab, tmp_path):
    rsa_file, rsa_out = keygen(tmp_path, "rsa")
    ed_file, ed_out = keygen(tmp_path, "ed25519")
    for path in (rsa_file, ed_file):
        assert os.stat(path).st_mode & 0o777 == 0o600
    rsa_strings = printed_record(rsa_out, "rsa")
    assert len(rsa_strings) == 2  # a 2048-bit key needs two strings
    assert "".join(rsa_strings).startswith("v=DKIM1; k=rsa; p=")
    assert 'algorithm = "rsa-sha256"' in rsa_out
    assert f'key_file = "{rsa_file}"' in rsa_out

    again = subprocess.run(
        [str(BUILD_DIR / "tern"), "dkim", "keygen", "--domain",
         "origin.test", "--selector", "kgrsa", "--output", str(rsa_file)],
        capture_output=True, text=True, timeout=60)
    assert again.returncode != 0
    assert "never overwritten" in again.stderr

    dnsmasq = start_dns(lab, {
        "kgrsa._domainkey.origin.test": [rsa_strings],
        "kged25519._domainkey.origin.test": [printed_record(ed_out,
                                                            "ed25519")],
    })
    rcv = Receiver(lab)
    tern = lab.tern(dkim={"keys": [
        key_entry("origin.test", "kgrsa", rsa_file, "rsa-sha256"),
        key_entry("origin.test", "kged25519", ed_file, "ed25519-sha256")]})
    tern.send("keygen@origin.test", ["user@example.test"],
              message_bytes("keygen"))
    got = rcv.wait(1)
    assert verify_all(got[0], dnsmasq.server) == 2


def run_keygen(*args):
    return subprocess.run([str(BUILD_DIR / "tern"), "dkim", "keygen",
                           *args], capture_output=True, text=True,
                          timeout=60)


def test_keygen_help_and_argument_errors(tmp_path):
    shown = run_keygen("--help")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: tern dkim keygen")
    bad = run_keygen("--domain", "bad domain", "--selector", "s")
    assert bad.returncode == 2
    assert '--domain "bad domain" is not a domain name' in bad.stderr
    assert '"s"' not in bad.stderr
    dot = run_keygen("--domain", "origin.test", "--selector", "s1.")
    assert dot.returncode == 2
    assert '--selector "s1.": drop the final dot' in dot.stderr
    for name, record in (("ed25519-sha256", "k=ed25519"),
                         ("rsa-sha256", "k=rsa")):
        made = run_keygen("--domain", "origin.test", "--selector", "l1",
                          "--algorithm", name, "--output",
                          str(tmp_path / f"{name}.key"))
        assert made.returncode == 0, made.stderr
        assert record in made.stdout
        assert f'algorithm = "{name}"' in made.stdout


@pytest.mark.parametrize("where,canonicalization", [
    ("key", "simple/simple"), ("key", "simple/relaxed"),
    ("dkim", "simple/relaxed")])
def test_ed25519_simple_header_canonicalization_refused(
        lab, keys, where, canonicalization):
    """libopendkim's Ed25519 signatures with simple header
    canonicalization fail dkimpy, so such a key stops the start."""
    entry = key_entry("origin.test", "e1", keys["ed"][0], "ed25519-sha256")
    dkim_settings = {"keys": [entry]}
    if where == "key":
        entry["canonicalization"] = canonicalization
    else:
        dkim_settings["canonicalization"] = canonicalization
    tern = lab.tern(start=False, dkim=dkim_settings)
    lines = tern.conf_path.read_text().splitlines()
    setting = (f'canonicalization = "{canonicalization}"')
    number = next(i + 1 for i, line in enumerate(lines) if setting in line)
    start_fails(lab, tern, [
        f"{tern.conf_path}:{number}:", "ed25519-sha256",
        f'canonicalization = "relaxed/{canonicalization.split("/")[1]}"'])
