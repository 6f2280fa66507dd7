"""`tern spf check` and spfquery (libspf2's own command, Debian package
spfquery) give the same result on the same records.

spfquery queries the system resolver (/etc/resolv.conf, port 53), so both
run inside a network and mount namespace this test makes with
`unshare --net --mount --fork`. In it, loopback is brought up, a
resolv.conf naming 127.0.0.1 is bind-mounted over /etc/resolv.conf (the
real file is never touched: the mount exists only in the namespace),
dnsmasq serves the records on 127.0.0.1:53, and slow.test is forwarded
to a UDP socket that is bound and never read. This file runs itself in
the namespace (see inside_namespace()) and prints the results as JSON.

Where the two differ on purpose, the test asserts the difference:
- libspf2 has no void-lookup limit (RFC 7208 4.6.4), and counts DNS
  terms afresh in each include, so a chain of eleven includes passes
  there; tern's DNS layer counts across the whole evaluation.
- For a syntax error or a DNS failure at the checked domain's own
  record, spfquery prints "(invalid)" with libspf2's error code (2 for
  "no valid SPF record", 26 for a DNS failure), where RFC 7208 4.4 and
  4.6 ask for permerror and temperror; tern reports those.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from peers import Dnsmasq, wait_tcp  # noqa: E402
from tern_instance import BUILD_DIR, libconfig_text  # noqa: E402

SPFQUERY = "/usr/bin/spfquery"
UNSHARE = "/usr/bin/unshare"
SILENT_PORT = 5300
RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror",
           "permerror")

# Records under test.; the client that passes is 192.0.2.1 or 2001:db8::1.
TXT = {
    "pass.test": ["v=spf1 ip4:192.0.2.1 -all"],
    "fail.test": ["v=spf1 ip4:192.0.2.2 -all"],
    "softfail.test": ["v=spf1 ip4:192.0.2.2 ~all"],
    "neutral.test": ["v=spf1 ip4:192.0.2.2 ?all"],
    "nospf.test": ["some other text"],
    "split.test": [["v=spf1 ip4:192.0.2.2", " ip4:192.0.2.1", " -all"]],
    "amech.test": ["v=spf1 a -all"],
    "mxmech.test": ["v=spf1 mx -all"],
    "redirect.test": ["v=spf1 redirect=pass.test"],
    "v6.test": ["v=spf1 ip6:2001:db8::1 -all"],
    "helo.test": ["v=spf1 ip4:192.0.2.1 -all"],
    "two.test": ["v=spf1 ip4:192.0.2.1 -all", "v=spf1 -all"],
    "syntax.test": ["v=spf1 ip4:192.0.2.1 foo:bar -all"],
    "incsyntax.test": ["v=spf1 include:syntax.test -all"],
    "flat.test": ["v=spf1 " + " ".join(f"a:f{i}.test" for i in range(1, 12))
                  + " ip4:192.0.2.1 -all"],
    "void.test": ["v=spf1 a:n1.void.test a:n2.void.test a:n3.void.test "
                  "ip4:192.0.2.1 -all"],
    "incslow.test": ["v=spf1 include:x.slow.test -all"],
    "big.test": [f"verification-token-{i:02d}=abcdefghijklmnopqrstuvwxyz"
                 for i in range(59)] + ["v=spf1 ip4:192.0.2.1 -all"],
}
for _i in range(12):
    TXT[f"c{_i}.test"] = [f"v=spf1 include:c{_i + 1}.test -all" if _i < 11
                          else "v=spf1 ip4:192.0.2.1 -all"]
HOSTS = {"amech.test": ["192.0.2.1"], "mx.mxmech.test": ["192.0.2.1"]}
HOSTS.update({f"f{i}.test": ["192.0.2.50"] for i in range(1, 12)})
MX = {"mxmech.test": [(10, "mx.mxmech.test")]}

# (name, client IP, MAIL FROM, HELO, expected result). An empty MAIL
# FROM checks the HELO name.
AGREED = [
    ("pass", "192.0.2.1", "user@pass.test", "client.test", "pass"),
    ("fail", "192.0.2.1", "user@fail.test", "client.test", "fail"),
    ("softfail", "192.0.2.1", "user@softfail.test", "client.test",
     "softfail"),
    ("neutral", "192.0.2.1", "user@neutral.test", "client.test", "neutral"),
    ("none without record", "192.0.2.1", "user@nospf.test", "client.test",
     "none"),
    ("none for nxdomain", "192.0.2.1", "user@missing.test", "client.test",
     "none"),
    ("joined strings", "192.0.2.1", "user@split.test", "client.test",
     "pass"),
    ("a mechanism", "192.0.2.1", "user@amech.test", "client.test", "pass"),
    ("mx mechanism", "192.0.2.1", "user@mxmech.test", "client.test", "pass"),
    ("redirect", "192.0.2.9", "user@redirect.test", "client.test", "fail"),
    ("ipv6 pass", "2001:db8::1", "user@v6.test", "client.test", "pass"),
    ("ipv6 fail", "2001:db8::2", "user@v6.test", "client.test", "fail"),
    ("helo identity", "192.0.2.1", "", "helo.test", "pass"),
    ("helo identity fail", "192.0.2.2", "", "helo.test", "fail"),
    ("permerror two records", "192.0.2.1", "user@two.test", "client.test",
     "permerror"),
    ("permerror syntax in include", "192.0.2.1", "user@incsyntax.test",
     "client.test", "permerror"),
    ("permerror too many lookups", "192.0.2.1", "user@flat.test",
     "client.test", "permerror"),
    ("temperror timeout in include", "192.0.2.1", "user@incslow.test",
     "client.test", "temperror"),
    ("sixty txt records", "192.0.2.1", "user@big.test", "client.test",
     "pass"),
]

# (name, client IP, MAIL FROM, HELO, tern's result, spfquery's result,
# spfquery's libspf2 error code or None).
DIFFERENT = [
    ("include chain", "192.0.2.1", "user@c0.test", "client.test",
     "permerror", "pass", None),
    ("void lookups", "192.0.2.1", "user@void.test", "client.test",
     "permerror", "pass", None),
    ("syntax error", "192.0.2.1", "user@syntax.test", "client.test",
     "permerror", "(invalid)", 2),
    ("timeout", "192.0.2.1", "user@x.slow.test", "client.test",
     "temperror", "(invalid)", 26),
]


def parse_spfquery(output):
    """The result line and libspf2's error code from spfquery's output.

    spfquery prints an optional StartError ... EndError block (with an
    "ErrorCode: (N) text" line), then the result on a line of its own.
    """
    code = None
    in_error = False
    for line in output.splitlines():
        line = line.strip()
        if line == "StartError":
            in_error = True
        elif line == "EndError":
            in_error = False
        elif in_error and line.startswith("ErrorCode: ("):
            code = int(line[len("ErrorCode: ("):line.index(")")])
        elif not in_error and line:
            return line, code
    return None, code


def run_spfquery(ip, mail_from, helo):
    # An empty -sender makes libspf2 check postmaster@HELO; leaving it
    # out stops spfquery 1.2.10 on an assertion.
    command = [SPFQUERY, "-ip", ip, "-helo", helo, "-sender", mail_from]
    done = subprocess.run(command, capture_output=True, text=True,
                          timeout=60)
    result, code = parse_spfquery(done.stdout)
    return {"result": result, "code": code, "output": done.stdout}


def run_tern(config, ip, mail_from, helo):
    command = [str(BUILD_DIR / "tern"), "-c", str(config), "spf", "check",
               "--ip", ip, "--sender", mail_from, "--helo", helo, "--json"]
    done = subprocess.run(command, capture_output=True, text=True,
                          timeout=60)
    try:
        parsed = json.loads(done.stdout)
    except ValueError:
        parsed = {"result": None}
    parsed["status"] = done.returncode
    parsed["stderr"] = done.stderr
    return parsed


class PortDnsmasq(Dnsmasq):
    """peers.Dnsmasq on port 53 of the namespace's loopback."""

    def start(self):
        self.port = 53
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if not wait_tcp("127.0.0.1", self.port, 10):
            self.stop()
            raise RuntimeError("dnsmasq did not start:\n" +
                               self.log_path.read_text(errors="replace"))
        return self


def inside_namespace(workdir):
    """Runs every case in this (new) namespace; prints JSON results."""
    workdir = Path(workdir)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

    resolv = workdir / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"],
                   check=True)

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", SILENT_PORT))
    dns = PortDnsmasq(workdir, mx=MX, hosts=HOSTS, txt=TXT,
                      forward={"slow.test": f"127.0.0.1#{SILENT_PORT}"})
    config = workdir / "tern.conf"
    config.write_text(libconfig_text({
        "hostname": "tern.test",
        "queue": {"directory": "queue"},
        "resolver": {"servers": ["127.0.0.1:53"], "timeout": 1},
    }))

    results = {}
    dns.start()
    try:
        for case in AGREED + DIFFERENT:
            name, ip, mail_from, helo = case[:4]
            results[name] = {
                "spfquery": run_spfquery(ip, mail_from, helo),
                "tern": run_tern(config, ip, mail_from, helo),
            }
    finally:
        dns.stop()
        silent.close()
    print(json.dumps(results))


@pytest.fixture(scope="module")
def results():
    for tool in (SPFQUERY, UNSHARE, shutil.which("ip") or "/sbin/ip"):
        if not os.path.exists(tool):
            pytest.fail(f"{tool} is missing: run contrib/debian/install-deps "
                        "--test")
    workdir = tempfile.mkdtemp(prefix="tern-spf-")
    done = subprocess.run([UNSHARE, "--net", "--mount", "--fork",
                           sys.executable, __file__, workdir],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail("the namespace run failed:\n" + done.stderr[-4000:])
    shutil.rmtree(workdir, ignore_errors=True)
    return json.loads(done.stdout)


def describe(run):
    return json.dumps(run, indent=1)


@pytest.mark.parametrize("case", AGREED, ids=[c[0] for c in AGREED])
def test_spf_agrees_with_spfquery(results, case):
    name, _, _, _, expected = case
    run = results[name]
    assert run["spfquery"]["result"] == expected, describe(run)
    assert run["tern"]["result"] == expected, describe(run)
    assert run["tern"]["status"] == (0 if expected == "pass" else 1), \
        describe(run)


@pytest.mark.parametrize("case", DIFFERENT, ids=[c[0] for c in DIFFERENT])
def test_spf_known_differences(results, case):
    name, _, _, _, tern_result, spfquery_result, code = case
    run = results[name]
    assert run["tern"]["result"] == tern_result, describe(run)
    assert run["spfquery"]["result"] == spfquery_result, describe(run)
    assert run["spfquery"]["code"] == code, describe(run)


def test_spf_check_json_fields(results):
    run = results["helo identity"]["tern"]
    assert run["identity"] == "helo"
    assert run["domain"] == "helo.test"
    assert run["ip"] == "192.0.2.1"
    assert run["reason"] == ("domain of helo.test designates 192.0.2.1 as "
                             "permitted sender")


if __name__ == "__main__":
    inside_namespace(sys.argv[1])
