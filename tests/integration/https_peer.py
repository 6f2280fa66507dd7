"""An HTTPS server for MTA-STS policy files: Debian's nginx (package
nginx-light), started in the foreground by the test with its own prefix
directory and configuration, and stopped by its process id.

Each policy domain gets a server block for mta-sts.DOMAIN with a
certificate from the test's CertificateAuthority, chosen by SNI. The
policy file is served from disk, so a test changes a policy upstream by
rewriting it (set_policy). A domain can instead reply with a redirect,
so tests can show that it is not followed.
"""

import subprocess
from pathlib import Path

from peers import pick_port, stop_process, wait_tcp

NGINX = "/usr/sbin/nginx"

WELL_KNOWN = "/.well-known/mta-sts.txt"


def policy_text(mode, mx, max_age=86400, line_end="\n"):
    """A policy file (RFC 8461 3.2) with the given mode, mx patterns and
    max_age, its lines ended by line_end."""
    lines = ["version: STSv1", f"mode: {mode}"]
    lines += [f"mx: {pattern}" for pattern in mx]
    lines.append(f"max_age: {max_age}")
    return "".join(line + line_end for line in lines)


class PolicyServer:
    """nginx serving https://mta-sts.DOMAIN:PORT/.well-known/mta-sts.txt
    on address for each domain added with add_domain() before start().

    requests() lists the requests nginx served, for tests that check
    whether a policy was fetched again.
    """

    def __init__(self, directory, ca, address="127.0.0.20"):
        self.dir = Path(directory) / "nginx"
        self.dir.mkdir()
        (self.dir / "tmp").mkdir()
        self.ca = ca
        self.address = address
        self.port = None
        self.proc = None
        self.domains = {}

    def add_domain(self, domain, policy=None, redirect_to=None,
                   chunked=False):
        """Serve policy (text or bytes) for domain, or a 301 redirect to
        redirect_to (a path on the same server) when it is given. chunked
        sends the body without Content-Length, in chunks."""
        root = self.dir / "www" / domain
        (root / ".well-known").mkdir(parents=True)
        cert, key = self.ca.issue(f"mta-sts.{domain}")
        self.domains[domain] = {"root": root, "cert": cert, "key": key,
                                "redirect_to": redirect_to,
                                "chunked": chunked}
        if policy is not None:
            self.set_policy(domain, policy)

    def set_policy(self, domain, policy, path=WELL_KNOWN):
        """Write the file nginx serves at path for domain."""
        data = policy.encode() if isinstance(policy, str) else policy
        target = self.domains[domain]["root"] / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def _server_block(self, domain, entry):
        directives = ""
        if entry["redirect_to"] is not None:
            directives = (f"        location = {WELL_KNOWN} {{\n"
                          f"            return 301 https://mta-sts.{domain}:"
                          f"{self.port}{entry['redirect_to']};\n"
                          "        }\n")
        if entry["chunked"]:
            # nginx drops Content-Length from a response that sub_filter
            # may change, so the client cannot know the size in advance.
            directives += ("        sub_filter_types text/plain;\n"
                           "        sub_filter 'no-such-text' 'x';\n")
        return (
            "    server {\n"
            f"        listen {self.address}:{self.port} ssl;\n"
            f"        server_name mta-sts.{domain};\n"
            f"        ssl_certificate {entry['cert']};\n"
            f"        ssl_certificate_key {entry['key']};\n"
            f"        root {entry['root']};\n"
            f"{directives}"
            "    }\n")

    def _config(self):
        tmp = self.dir / "tmp"
        servers = "".join(self._server_block(d, e)
                          for d, e in self.domains.items())
        return (
            "daemon off;\n"
            "master_process off;\n"
            "worker_processes 1;\n"
            f"pid {self.dir / 'nginx.pid'};\n"
            f"error_log {self.dir / 'error.log'} info;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            "    log_format sts '$host \"$request\" $status';\n"
            f"    access_log {self.dir / 'access.log'} sts;\n"
            f"    client_body_temp_path {tmp / 'body'};\n"
            f"    proxy_temp_path {tmp / 'proxy'};\n"
            f"    fastcgi_temp_path {tmp / 'fastcgi'};\n"
            f"    uwsgi_temp_path {tmp / 'uwsgi'};\n"
            f"    scgi_temp_path {tmp / 'scgi'};\n"
            "    types { text/plain txt; text/html html; }\n"
            "    default_type application/octet-stream;\n"
            f"{servers}"
            "}\n")

    def start(self):
        if self.port is None:
            self.port = pick_port([self.address])
        conf = self.dir / "nginx.conf"
        conf.write_text(self._config())
        log = open(self.dir / "stderr.log", "ab")
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.dir), "-c", str(conf),
             "-e", str(self.dir / "error.log")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if not wait_tcp(self.address, self.port, 10):
            self.stop()
            raise RuntimeError("nginx did not start:\n" + self.describe())
        return self

    def stop(self):
        stop_process(self.proc)

    def requests(self, domain):
        """The access log lines ("HOST \"REQUEST\" STATUS") of requests
        to mta-sts.DOMAIN."""
        try:
            text = (self.dir / "access.log").read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines()
                if line.startswith(f"mta-sts.{domain} ")]

    def describe(self):
        parts = []
        for name in ("error.log", "stderr.log", "access.log"):
            try:
                text = (self.dir / name).read_text(errors="replace")
            except FileNotFoundError:
                continue
            parts.append(f"nginx {name}:\n" +
                         "\n".join(text.splitlines()[-15:]))
        return f"nginx on {self.address}:{self.port}\n" + "\n".join(parts)
