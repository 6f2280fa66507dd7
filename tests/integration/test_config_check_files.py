"""`tern config check` and `tern reload` against mistakes that ternd
rejects, or that one file's errors could hide. The cases: a pool address
this host does not have, errors in tern.conf, the policy file and the
secrets file together, --domain values that are not domain names, and
TLS certificate and key files that do not load."""

import os

from test_policy_cli import line_of, tern_cli, write_policy

# 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this host.
MISSING_ADDRESS_POLICY = """\
pools = ( { name = "main"; addresses = (
  { address = "127.0.0.1"; },
  { address = "192.0.2.77"; } ); } );
destinations = ( { match = "default"; pool = "main"; } );
"""

BROKEN_POLICY = """\
smart_hosts = ( { name = "relay"; host = "relay.origin.test";
  port = 2587; credentials = "relay"; } );
destinations = (
  { match = "default"; route = "smarthost"; smart_host = "relay";
    max_connections = 4294967297; } );
"""

OTHER_SECRETS = ('credentials = ( { name = "other"; username = "u"; '
                 'password = "pw-never-shown"; } );\n')


def test_config_check_binds_pool_addresses(lab):
    tern = lab.tern(start=False)
    write_policy(tern, policy=MISSING_ADDRESS_POLICY)
    path = tern.dir / "policy.conf"
    line = line_of(MISSING_ADDRESS_POLICY, "192.0.2.77")
    expected = (f"{path}:{line}: pools: cannot send from 192.0.2.77: "
                "address not available")

    check = tern_cli(tern, "config", "check")
    assert check.returncode == 1
    assert expected in check.stderr
    assert "127.0.0.1" not in check.stderr, "a local address was rejected"
    assert "configuration OK" not in check.stdout

    reload = tern_cli(tern, "reload")
    assert reload.returncode == 1
    assert expected in reload.stderr
    assert "not reloading" in reload.stderr


def test_config_check_reports_every_file(lab):
    tern = lab.tern(start=False)
    tern.settings["delivery"]["port"] = 4294992399
    write_policy(tern, policy=BROKEN_POLICY, mode=0o644)
    policy = tern.dir / "policy.conf"
    secrets = tern.dir / "secrets.conf"

    check = tern_cli(tern, "config", "check")

    assert check.returncode == 1
    lines = check.stderr.splitlines()
    assert any(x.startswith(f"{tern.conf_path}:") and
               "delivery.port: 4294992399 is out of range" in x
               for x in lines), check.stderr
    line = line_of(BROKEN_POLICY, "max_connections")
    assert (f"{policy}:{line}: destinations: max_connections: 4294967297 "
            "is out of range") in check.stderr
    assert f"{secrets}: mode 0644 gives access to group or others" \
        in check.stderr

    # With the file's mode right, its content is checked against the
    # smart hosts of the policy that still has an error.
    os.chmod(secrets, 0o600)
    secrets.write_text(OTHER_SECRETS)
    check = tern_cli(tern, "config", "check")
    assert check.returncode == 1
    assert (f"{policy}:1: smart_hosts: \"relay\" uses credentials "
            f"\"relay\", which {secrets} does not define") in check.stderr
    assert "max_connections: 4294967297" in check.stderr
    assert "pw-never-shown" not in check.stderr + check.stdout


def test_config_check_rejects_bad_domain(lab):
    tern = lab.tern(start=False)
    write_policy(tern)

    for domain in ["", "a b", "...", "-x.test"]:
        done = tern_cli(tern, "config", "check", "--domain", domain)
        assert done.returncode == 2, (domain, done.stdout)
        assert "invalid domain name" in done.stderr, domain
        assert "usage:" in done.stderr, domain
        assert "section:" not in done.stdout, domain

    done = tern_cli(tern, "config", "check", "--domain", "Example.Test.")
    assert done.returncode == 0, done.stderr


def test_config_check_missing_policy_reason(lab):
    tern = lab.tern(start=False)
    write_policy(tern)
    (tern.dir / "policy.conf").unlink()

    done = tern_cli(tern, "config", "check")

    assert done.returncode == 1
    assert (f"{tern.dir / 'policy.conf'}: cannot read the policy file: "
            "No such file or directory") in done.stderr


def test_config_check_reads_users_file(lab):
    """config check and reload read smtpd.auth.users_file as ternd
    does: a file others can read, or a malformed line, is an error
    naming the file (and the line)."""
    tern = lab.tern(start=False)
    users = tern.dir / "users"
    users.write_text("# accounts\nalice:not-a-hash:\n")
    os.chmod(users, 0o600)
    tern.settings["smtpd"]["auth"] = {"users_file": "users"}
    tern.write_config()

    check = tern_cli(tern, "config", "check")
    assert check.returncode == 1
    assert f"{users}:2:" in check.stderr, check.stderr
    assert "configuration OK" not in check.stdout

    users.write_text("")
    os.chmod(users, 0o644)
    check = tern_cli(tern, "config", "check")
    assert check.returncode == 1
    assert f"{users}: " in check.stderr, check.stderr
    assert "chmod 600" in check.stderr, check.stderr

    os.chmod(users, 0o600)
    check = tern_cli(tern, "config", "check")
    assert check.returncode == 0, check.stderr
    assert "configuration OK" in check.stdout


def setting_line(tern, name):
    """The line of the written tern.conf that sets name."""
    lines = tern.conf_path.read_text().splitlines()
    found = [n for n, text in enumerate(lines, 1)
             if text.strip().startswith(f"{name} =")]
    assert len(found) == 1, (name, found)
    return found[0]


def test_config_check_loads_tls_files(lab):
    """config check and reload load smtpd.tls.certificate and key as
    ternd does, and name the line of the setting whose file failed."""
    tern = lab.tern(start=False)
    tls = tern.settings["smtpd"]["tls"]
    cases = [
        ("missing.pem", "key.pem", "certificate",
         "failed to load certificate chain"),
        ("key.pem", "key.pem", "certificate",
         "failed to load certificate chain"),
        ("cert.pem", "missing.pem", "key", "failed to load private key"),
        ("cert.pem", "cert.pem", "key", "failed to load private key"),
    ]
    for certificate, key, failing, reason in cases:
        tls["certificate"] = certificate
        tls["key"] = key
        tern.write_config()
        line = setting_line(tern, failing)
        expected = f"{tern.conf_path}:{line}: smtpd.tls.{failing}: {reason}"

        check = tern_cli(tern, "config", "check")
        assert check.returncode == 1, (certificate, key, check.stdout)
        assert expected in check.stderr, check.stderr
        assert "check that the file exists" in check.stderr
        assert "configuration OK" not in check.stdout

        reload = tern_cli(tern, "reload")
        assert reload.returncode == 1, (certificate, key)
        assert expected in reload.stderr, reload.stderr
        assert "not reloading" in reload.stderr

    tls["certificate"] = "cert.pem"
    tls["key"] = "key.pem"
    tern.write_config()
    check = tern_cli(tern, "config", "check")
    assert check.returncode == 0, check.stderr


def test_config_check_warns_of_empty_file(lab):
    """A file that sets nothing (truncated, or only comments) is valid,
    but the check warns that the built-in defaults apply."""
    tern = lab.tern(start=False)
    warning = (f"warning: {tern.conf_path} has no settings; tern runs on "
               "the built-in defaults")
    for text in ["", "# only a comment\n"]:
        tern.write_config(text=text)
        check = tern_cli(tern, "config", "check")
        assert check.returncode == 0, check.stderr
        assert warning in check.stderr, (text, check.stderr)

    tern.write_config()
    check = tern_cli(tern, "config", "check")
    assert "has no settings" not in check.stderr, check.stderr
