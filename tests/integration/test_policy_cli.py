"""The policy and secrets files as an operator meets them: `tern config
check` (errors with file and line, --domain), ternd's refusal of an open
secrets file, and reloads by SIGHUP and `tern reload` that keep the old
policy when the new one is broken and keep sessions and queued mail."""

import os
import signal
import subprocess

from peers import message_bytes, wait_for
from tern_instance import BUILD_DIR, libconfig_text

SECRETS = ('credentials = ( { name = "relay"; username = "app@origin.test";'
           ' password = "pw-never-shown"; } );\n')

POLICY = """\
smart_hosts = ( { name = "relay"; host = "relay.origin.test"; port = 2587;
  credentials = "relay"; } );
pools = ( { name = "main"; addresses = (
  { address = "127.0.0.1"; ehlo_name = "out1.origin.test"; weight = 2; },
  { address = "127.0.0.3"; } ); } );
groups = ( { name = "big"; domains = [ "big.test" ]; } );
destinations = (
  { match = "default"; route = "smarthost"; smart_host = "relay";
    max_connections = 3; },
  { match = "example.test"; route = "mx"; pool = "main"; rate = "100/m";
    tls = "may"; max_messages_per_connection = 7; },
  { match = "*.sub.test"; route = "mx"; dkim_selector = "none";
    overflow = "wait"; retry = { lifetime = "2d"; }; } );
"""


def line_of(text, marker):
    """1-based number of the first line of text containing marker."""
    for number, line in enumerate(text.splitlines(), 1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in {text!r}")


def write_policy(tern, policy=POLICY, secrets=SECRETS, mode=0o600):
    """Write policy.conf and secrets.conf beside tern.conf and name them
    there."""
    (tern.dir / "policy.conf").write_text(policy)
    path = tern.dir / "secrets.conf"
    path.write_text(secrets)
    os.chmod(path, mode)
    tern.settings["policy_file"] = "policy.conf"
    tern.settings["secrets_file"] = "secrets.conf"
    tern.write_config()


def tern_cli(tern, *args):
    return subprocess.run([str(BUILD_DIR / "tern"), "-c",
                           str(tern.conf_path), *args],
                          capture_output=True, text=True, timeout=60)


def ternd_check(tern):
    return subprocess.run([str(BUILD_DIR / "ternd"), "-c",
                           str(tern.conf_path), "-t"],
                          capture_output=True, text=True, timeout=60)


def settings_of(stdout):
    """The "key: value" lines of `config check --domain` as a dict."""
    out = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            out[key] = value
    return out


def test_policy_config_check_domains(lab):
    tern = lab.tern(start=False)
    write_policy(tern)
    policy_path = tern.dir / "policy.conf"

    done = tern_cli(tern, "config", "check")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        f"configuration OK: {tern.conf_path}; policy: {policy_path}; "
        f"secrets: {tern.dir / 'secrets.conf'}"), done.stdout

    exact = tern_cli(tern, "config", "check", "--domain", "Example.Test.")
    assert exact.returncode == 0, exact.stderr
    got = settings_of(exact.stdout)
    line = line_of(POLICY, '"example.test"')
    assert got["section"] == f"example.test ({policy_path}:{line})"
    assert got["route"] == "mx"
    assert got["pool"] == "main (127.0.0.1 weight 2, 127.0.0.3 weight 1)"
    assert got["rate"] == "100/m"
    assert got["tls"] == "may"
    assert got["max_messages_per_connection"] == "7"
    assert got["max_connections"] == "3", "not taken from the default"
    assert got["overflow"] == "wait"
    assert got["group"].startswith("(every other domain)")

    wildcard = settings_of(tern_cli(tern, "config", "check", "--domain",
                                    "a.b.sub.test").stdout)
    line = line_of(POLICY, '"*.sub.test"')
    assert wildcard["section"] == f"*.sub.test ({policy_path}:{line})"
    assert wildcard["dkim_selector"] == "none"
    assert "lifetime 172800s" in wildcard["retry"]

    default = settings_of(tern_cli(tern, "config", "check", "--domain",
                                   "big.test").stdout)
    line = line_of(POLICY, '"default"')
    assert default["section"] == f"default ({policy_path}:{line})"
    assert default["route"] == "smarthost"
    assert default["smart_host"].startswith(
        "relay (relay.origin.test port 2587, tls starttls, verify on, "
        "credentials relay)")
    assert default["group"] == "big (by domain)"
    assert "pw-never-shown" not in exact.stdout + default.get("route", "")

    # Without a default section a domain matches nothing.
    (tern.dir / "policy.conf").write_text(
        'destinations = ( { match = "example.test"; } );\n')
    none = settings_of(tern_cli(tern, "config", "check", "--domain",
                                "other.test").stdout)
    assert none["section"] == "none"
    assert none["route"] == "mx"


BROKEN_POLICY = """\
pools = ( { name = "main"; addresses = (
  { address = "127.0.0.1"; weight = 0; } ); } );
destinations = (
  { match = "default"; pool = "missing"; },
  { match = "a.test"; rate = "lots"; colour = "blue"; },
  { match = "default"; } );
throttle = ( { text = "(broken"; action = "suspend"; } );
"""


def test_policy_config_check_lists_every_error(lab):
    tern = lab.tern(start=False)
    write_policy(tern, policy=BROKEN_POLICY)
    path = tern.dir / "policy.conf"

    done = tern_cli(tern, "config", "check")

    assert done.returncode == 1
    expected = [
        (line_of(BROKEN_POLICY, "weight = 0"), "weight: 0 is out of range"),
        (line_of(BROKEN_POLICY, '"missing"'), 'unknown pool "missing"'),
        (line_of(BROKEN_POLICY, '"lots"'), 'invalid rate "lots"'),
        (line_of(BROKEN_POLICY, "colour"), 'unknown key "colour"'),
        (6, 'match "default" is used twice'),
        (line_of(BROKEN_POLICY, "(broken"), "invalid regular expression"),
    ]
    lines = done.stderr.splitlines()
    for line, reason in expected:
        prefix = f"{path}:{line}: "
        assert any(x.startswith(prefix) and reason in x for x in lines), \
            f"no {prefix}...{reason} in:\n{done.stderr}"
    assert len(lines) == len(expected), done.stderr
    assert "configuration OK" not in done.stdout

    # The secrets file is checked too: a credentials name it lacks.
    write_policy(tern, secrets='credentials = ( { name = "other"; '
                 'username = "u"; password = "pw-never-shown"; } );\n')
    done = tern_cli(tern, "config", "check")
    assert done.returncode == 1
    assert f"{path}:1: smart_hosts: \"relay\" uses credentials \"relay\"" \
        in done.stderr
    assert "pw-never-shown" not in done.stderr + done.stdout


def test_policy_open_secrets_file_stops_ternd(lab):
    tern = lab.tern(start=False)
    write_policy(tern, mode=0o640)
    secrets = tern.dir / "secrets.conf"
    reason = f"{secrets}: mode 0640 gives access to group or others"

    check = ternd_check(tern)
    assert check.returncode == 1
    assert reason in check.stderr

    tern.start(wait=False)
    assert tern.proc.wait(30) == 1
    assert reason in tern.output()
    assert "pw-never-shown" not in tern.output() + tern.log_text()

    os.chmod(secrets, 0o600)
    check = ternd_check(tern)
    assert check.returncode == 0, check.stderr


def running_lab(lab, policy):
    """A receiver for example.test, and tern with the policy running."""
    rcv = lab.receiver("127.0.0.2")
    # Nothing listens on 127.0.0.4, so mail for stuck.test stays queued.
    lab.dns(mx={"example.test": [(10, "mx1.example.test")],
                "stuck.test": [(10, "mx.stuck.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"],
                   "mx.stuck.test": ["127.0.0.4"]})
    tern = lab.tern(start=False)
    write_policy(tern, policy=policy)
    tern.start()
    return rcv, tern


ONE_SECTION = 'destinations = ( { match = "example.test"; route = "mx"; } );\n'
TWO_SECTIONS = ONE_SECTION.replace(
    ");", ', { match = "other.test"; route = "mx"; } );')


def test_policy_broken_reload_keeps_old_policy(lab):
    rcv, tern = running_lab(lab, ONE_SECTION)
    tern.wait_log(r"policy: loaded .*policy\.conf \(1 destination sections\)")
    pids = tern.children()
    broken = TWO_SECTIONS.replace('"other.test"; route = "mx"',
                                  '"other.test"; route = "fast"')
    (tern.dir / "policy.conf").write_text(broken)
    since = tern.log_size()

    tern.send_signal(signal.SIGHUP)

    path = tern.dir / "policy.conf"
    tern.wait_log(rf"reload rejected, the running configuration stays in "
                  rf"force: {path}:1: destinations: unknown route \"fast\"",
                  since=since)
    tern.wait_log(r"policy: keeping .*policy\.conf as loaded before "
                  r"\(1 destination sections\)", since=since)
    assert tern.running()
    assert tern.children() == pids, "children restarted on a broken reload"
    tern.send("before-fix@origin.test", ["user@example.test"],
              message_bytes("before-fix"))
    assert len(rcv.wait(1)) == 1, "mail stopped after a rejected reload"

    # The same reload through `tern reload` prints the error and sends
    # nothing.
    since = tern.log_size()
    done = tern_cli(tern, "reload")
    assert done.returncode == 1
    assert f"{path}:1: destinations: unknown route \"fast\"" in done.stderr
    assert "configuration reloaded" not in tern.log_text()[since:]


def test_policy_tern_reload_keeps_session_and_queue(lab):
    rcv, tern = running_lab(lab, ONE_SECTION)
    tern.send("stuck@origin.test", ["user@stuck.test"],
              message_bytes("stuck"))
    tern.wait_log(r"to=<user@stuck\.test>.*status=deferred")
    pids = tern.children()
    with tern.raw() as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<open@origin.test>", 250)
        c.expect("RCPT TO:<user@example.test>", 250)
        since = tern.log_size()

        (tern.dir / "policy.conf").write_text(TWO_SECTIONS)
        done = tern_cli(tern, "reload")

        assert done.returncode == 0, done.stderr
        assert f"sent SIGHUP to ternd (pid {tern.proc.pid})" in done.stdout
        # ternd reloads its own file, so the message does not claim to
        # reload the file that tern checked.
        assert "reloads the configuration file it was started with" in \
            done.stdout, done.stdout
        assert f"checked here: {tern.conf_path}" in done.stdout, done.stdout
        tern.wait_log(r"policy: loaded .*policy\.conf "
                      r"\(2 destination sections\)", since=since)
        c.expect("DATA", 354)
        c.send(message_bytes("open-session") + b".\r\n")
        assert c.reply().code == 250
        c.command("QUIT")

    got = rcv.wait(1)
    assert [m.mail_from for m in got] == ["open@origin.test"]
    assert tern.children() == pids, "children were replaced by the reload"
    stuck = tern.rows("SELECT r.address FROM recipients r")
    assert any(r["address"] == "user@stuck.test" for r in stuck), \
        f"the queued message was lost: {stuck}"


def test_policy_tern_reload_without_ternd(lab):
    tern = lab.tern(start=False)
    write_policy(tern)
    (tern.dir / "queue").mkdir()

    done = tern_cli(tern, "reload")

    assert done.returncode == 1
    assert "no ternd is running on the queue" in done.stderr
