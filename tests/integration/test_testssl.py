"""testssl.sh against tern's STARTTLS listener on 127.0.0.1.

testssl.sh (Debian package testssl.sh, installed by
contrib/debian/install-deps --test) checks the protocols, the standard
cipher categories, forward secrecy, the server's cipher order and each
cipher per protocol. The test reads its flat JSON output and asserts
that nothing below TLS 1.2 is offered and that every cipher suite uses
ECDHE or DHE with an AEAD cipher.

testssl.sh contacts only the target here: --ip 127.0.0.1 and
--nodns none stop every DNS lookup, and without --phone-out it fetches
no CRL and queries no OCSP responder. testssl.sh's text output goes to
testssl.out in the test's directory.
"""

import json
import re
import shutil
import subprocess

# One run took 25 s on a 2-core machine. The timeout only stops a hung
# run.
TESTSSL_TIMEOUT = 600

OLD_PROTOCOLS = ["SSLv2", "SSLv3", "TLS1", "TLS1_1"]
# The standard cipher categories of testssl.sh 3.0 (-s) that a hardened
# server offers none of: NULL, anonymous, export, low (64-bit, DES, RC2,
# RC4), 3DES and IDEA, and "AVERAGE", the obsolete CBC ciphers.
WEAK_CATEGORIES = ["cipherlist_NULL", "cipherlist_aNULL",
                   "cipherlist_EXPORT", "cipherlist_LOW",
                   "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"]
# A cipher finding of -E reads "TLS 1.2 xc02f ECDHE-RSA-AES128-GCM-SHA256
# ECDH 253 AESGCM 128 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": the key
# exchange is its fifth word and the encryption its seventh.
STRONG_KEY_EXCHANGE = {"ECDH", "DH"}
AEAD_ENCRYPTION = {"AESGCM", "ChaCha20"}


def find_testssl():
    program = shutil.which("testssl") or shutil.which("testssl.sh")
    assert program is not None, \
        "testssl.sh is not installed; run contrib/debian/install-deps --test"
    return program


def run_testssl(tern, json_path):
    command = [find_testssl(), "--quiet", "--color", "0",
               "--warnings", "off", "--nodns", "none", "--ip", "127.0.0.1",
               "--connect-timeout", "10", "--openssl-timeout", "10",
               "--jsonfile", str(json_path),
               "-t", "smtp", "-p", "-s", "-f", "-P", "-E",
               f"127.0.0.1:{tern.port}"]
    done = subprocess.run(command, capture_output=True, text=True,
                          timeout=TESTSSL_TIMEOUT, cwd=tern.dir)
    (tern.dir / "testssl.out").write_text(done.stdout + done.stderr)
    assert json_path.exists(), \
        f"testssl.sh wrote no JSON (exit {done.returncode}):\n" \
        f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return json.loads(json_path.read_text()), done.stdout


def findings(results, pattern):
    """The findings whose id matches the regex pattern, as {id: finding}."""
    regex = re.compile(pattern)
    return {r["id"]: r["finding"] for r in results
            if regex.fullmatch(r["id"])}


def test_testssl_protocols_and_ciphers(lab):
    tern = lab.tern()

    results, text = run_testssl(tern, tern.dir / "testssl.json")
    protocols = findings(results, r"SSLv2|SSLv3|TLS1(_[123])?")
    categories = findings(results, r"cipherlist_.*")
    ciphers = findings(results, r"cipher-tls1_[23].*")
    errors = findings(results, r"scanProblem|.*_error|engine_problem")

    assert not errors, f"testssl.sh reported problems: {errors}\n{text}"
    for name in OLD_PROTOCOLS:
        assert name in protocols, f"no result for {name}: {protocols}"
        assert protocols[name].startswith("not offered"), \
            f"{name}: {protocols[name]}"
    assert protocols.get("TLS1_2", "").startswith("offered"), protocols
    assert protocols.get("TLS1_3", "").startswith("offered"), protocols
    for name in WEAK_CATEGORIES:
        assert name in categories, f"no result for {name}: {categories}"
        assert categories[name] == "not offered", \
            f"{name}: {categories[name]}"
    assert categories.get("cipherlist_STRONG") == "offered", categories
    assert findings(results, r"PFS").get("PFS") == "offered", \
        f"forward secrecy: {findings(results, r'PFS.*')}"
    assert ciphers, f"testssl.sh listed no cipher:\n{text}"
    for name, finding in ciphers.items():
        words = finding.split()
        assert len(words) >= 7, f"{name}: unexpected finding {finding!r}"
        assert words[4] in STRONG_KEY_EXCHANGE, \
            f"{name}: key exchange {words[4]} in {finding!r}"
        assert words[6] in AEAD_ENCRYPTION, \
            f"{name}: encryption {words[6]} in {finding!r}"
