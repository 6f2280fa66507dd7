"""Per-listener resource limits of smtpd against real sockets: sessions
per listener and per client address, commands and errors per session,
the idle timeouts before and after EHLO, floods of idle connections and
the open file limit."""

import os
import re
import resource
import socket
import time

import pytest

from peers import RawClient, wait_for

HOST = "tern.test"
TOO_MANY = "421 4.7.0 tern.test Too many connections, try later"


def listener(lab, **limits):
    """smtpd settings with one listener on the lab's port and limits."""
    entry = {"address": "127.0.0.1", "port": lab.smtpd_port}
    entry.update(limits)
    return {"listeners": [entry]}


def raise_own_fd_limit(wanted):
    """Raise this test process's soft open file limit to wanted, or skip
    the test when the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"open file hard limit {hard} is below {wanted}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def greeted(tern, source=None, timeout=10):
    """A raw client that has read the 220 greeting."""
    c = tern.raw(source=source, timeout=timeout)
    c.greeting()
    return c


def first_line(c, timeout=10):
    """The first reply line the server sends, or "" when it closes the
    connection without one."""
    try:
        return c._line(timeout)
    except (ConnectionError, OSError):
        return ""


def assert_closed(c, timeout=10):
    """The server closed the connection: the next read is end of file
    (or a reset) and not a timeout."""
    c.sock.settimeout(timeout)
    try:
        data = c.sock.recv(4096)
    except ConnectionResetError:
        return
    assert data == b"", f"expected the connection closed, got {data!r}"


def wait_disconnects(tern, count, since, timeout=20):
    """Wait until smtpd logged count "disconnect from" lines past since."""
    found = wait_for(lambda: len(tern.log_lines(
        r"disconnect from \[", since)) >= count, timeout)
    assert found, (f"smtpd did not log {count} disconnects:\n"
                   f"{tern.tail()}")


def send_message(tern, sender, source=None):
    """Send one message and return its queue id (tern.send checks every
    reply)."""
    return tern.send(sender, ["user@example.test"],
                     f"Subject: {sender}\r\n\r\nbody\r\n", source=source)


def smtpd_rss_kib(tern):
    """Resident memory of tern-smtpd in KiB, from /proc."""
    pid = tern.child_pid("tern-smtpd")
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def open_idlers(tern, count, sources):
    """count connections that read their greeting and then stay silent,
    spread over the source addresses."""
    clients = []
    try:
        for i in range(count):
            clients.append(greeted(tern, source=sources[i % len(sources)],
                                   timeout=20))
    except BaseException:
        for c in clients:
            c.close()
        raise
    return clients


def rejections_logged(tern):
    """Rejections the log accounts for: one per rejection line plus the
    counts of those that the rate limit held back."""
    total = 0
    for line in tern.log_lines(r"rejected: too many connections"):
        total += 1
        m = re.search(r"; (\d+) more rejected since", line)
        if m:
            total += int(m.group(1))
    for line in tern.log_lines(r"\d+ more connections on .* were rejected"):
        total += int(re.search(r"(\d+) more connections", line).group(1))
    return total


def close_all(clients):
    for c in clients:
        c.close()


def test_max_connections_rejects_extra(lab):
    tern = lab.tern(smtpd=listener(lab, max_connections=3))

    idlers = open_idlers(tern, 3, ["127.0.0.1"])
    try:
        with tern.raw() as extra:
            rejected = first_line(extra)
            assert_closed(extra)
        assert rejected == TOO_MANY, f"4th connection got {rejected!r}"
        assert tern.log_lines(r"rejected: too many connections on "
                              r"127\.0\.0\.1:\d+ \(max_connections=3\)"), \
            tern.tail()

        since = tern.log_size()
        idlers.pop().close()
        wait_disconnects(tern, 1, since)
        with greeted(tern) as c:
            c.expect("EHLO client.test", 250)
    finally:
        close_all(idlers)


def test_per_client_limit_spares_others(lab):
    tern = lab.tern(smtpd=listener(lab, max_connections=100,
                                   max_connections_per_client=2))

    idlers = open_idlers(tern, 2, ["127.0.0.5"])
    try:
        with tern.raw(source="127.0.0.5") as extra:
            rejected = first_line(extra)
            assert_closed(extra)
        assert rejected == TOO_MANY, \
            f"3rd connection from 127.0.0.5 got {rejected!r}"
        assert tern.log_lines(r"connect from \[127\.0\.0\.5\] rejected: too "
                              r"many connections from this address"), \
            tern.tail()

        with greeted(tern, source="127.0.0.6") as other:
            other.expect("EHLO client.test", 250)
    finally:
        close_all(idlers)


def test_max_commands_closes_session(lab):
    tern = lab.tern(smtpd=listener(lab, max_commands=5))

    with greeted(tern) as c:
        c.expect("EHLO client.test", 250)
        for _ in range(4):
            c.expect("NOOP", 250)
        over = c.command("NOOP")
        assert_closed(c)

    assert over.code == 421, f"6th command got {over}"
    assert over.text == "4.7.0 tern.test Error: too many commands", over
    assert tern.log_lines(r"too many commands from \[127\.0\.0\.1\] "
                          r"\(max_commands=5\)"), tern.tail()


def test_max_errors_closes_session(lab):
    tern = lab.tern(smtpd=listener(lab, max_errors=3))

    with greeted(tern) as c:
        c.expect("EHLO client.test", 250)
        c.send(b"XYZZY\r\nXYZZY\r\nXYZZY\r\n")
        replies = c.replies_within(10)
        assert_closed(c)

    codes = [r.code for r in replies]
    assert codes == [500, 500, 500, 421], f"replies {replies}"
    assert replies[-1].text == "4.7.0 tern.test Error: too many errors", \
        replies


def test_pre_ehlo_timeout_closes_silent_client(lab):
    tern = lab.tern(smtpd=listener(lab, pre_ehlo_timeout=2,
                                   idle_timeout=300))

    with greeted(tern, timeout=30) as c:
        replies = c.replies_within(20)
        assert_closed(c)

    assert [r.code for r in replies] == [421], f"replies {replies}"
    assert replies[0].text == "4.4.2 tern.test Error: timeout exceeded"
    assert tern.log_lines(r"timeout after CONNECT from \[127\.0\.0\.1\]")


def test_idle_timeout_after_ehlo(lab):
    """pre_ehlo_timeout is long here, so only idle_timeout can end the
    session within the wait."""
    tern = lab.tern(smtpd=listener(lab, pre_ehlo_timeout=600,
                                   idle_timeout=2))

    with greeted(tern, timeout=30) as c:
        c.expect("EHLO client.test", 250)
        replies = c.replies_within(20)
        assert_closed(c)

    assert [r.code for r in replies] == [421], f"replies {replies}"
    assert replies[0].text == "4.4.2 tern.test Error: timeout exceeded"
    assert tern.log_lines(r"timeout after EHLO from \[127\.0\.0\.1\]")


def test_pre_ehlo_timeout_not_applied_after_ehlo(lab):
    """A session past EHLO is not ended by the short pre_ehlo_timeout."""
    tern = lab.tern(smtpd=listener(lab, pre_ehlo_timeout=2,
                                   idle_timeout=300))

    with greeted(tern, timeout=30) as c:
        c.expect("EHLO client.test", 250)
        replies = c.replies_within(5)
        assert replies == [], f"idle session after EHLO got {replies}"
        c.expect("NOOP", 250)


def test_thousand_idle_sessions_leave_room(lab):
    """1,000 idle sessions, with ternd started at a soft open file limit
    of 256: smtpd must raise it to the hard limit to hold them, and a new
    client still gets its greeting and can send a message."""
    raise_own_fd_limit(4096)
    tern = lab.tern(start=False, smtpd=listener(
        lab, max_connections=1100, max_connections_per_client=1100))
    tern.start(prefix=("prlimit", "--nofile=256:8192", "--"))
    assert tern.log_lines(r"smtpd\[\d+\]: info: open file limit: 8192"), \
        tern.tail()

    rss_before = smtpd_rss_kib(tern)
    sources = [f"127.0.0.{i}" for i in range(10, 20)]
    idlers = open_idlers(tern, 1000, sources)
    try:
        rss_idle = smtpd_rss_kib(tern)
        print(f"tern-smtpd VmRSS: {rss_before} KiB with no session, "
              f"{rss_idle} KiB with 1000 idle sessions "
              f"({(rss_idle - rss_before) * 1024 // 1000} bytes each)")

        with greeted(tern, source="127.0.0.30") as c:
            c.expect("EHLO client.test", 250)
        send_message(tern, "after-flood@origin.test", source="127.0.0.31")
    finally:
        close_all(idlers)


def test_idle_flood_gets_quick_421(lab):
    """Idlers fill a listener of 20: new clients get 421 at once rather
    than waiting, the log has fewer lines than rejections, and service
    resumes when the idlers leave."""
    tern = lab.tern(smtpd=listener(lab, max_connections=20))

    idlers = open_idlers(tern, 20, [f"127.0.0.{i}" for i in range(40, 45)])
    try:
        since = tern.log_size()
        replies = []
        for i in range(200):
            with tern.raw(source=f"127.0.1.{i % 50 + 1}",
                          timeout=10) as extra:
                replies.append(first_line(extra))
        wrong = [r for r in replies if r != TOO_MANY]
        assert wrong == [], f"{len(wrong)} of 200 got {wrong[:3]}"
        logged = tern.log_lines(r"rejected: too many connections", since)
        assert 1 <= len(logged) < 200, \
            f"{len(logged)} log lines for 200 rejections"
    finally:
        since = tern.log_size()
        close_all(idlers)
    wait_disconnects(tern, 20, since)

    # The held-back rejections are logged once a session is admitted
    # and the previous line is older than the 1-second log interval.
    time.sleep(1.5)
    with greeted(tern) as c:
        c.expect("EHLO client.test", 250)
    wait_for(lambda: tern.log_lines(r"more connections on .* were "
                                    r"rejected", since), 5)
    assert rejections_logged(tern) == 200, tern.tail(60)


def test_open_file_limit_does_not_stop_service(lab):
    """ternd starts with a hard open file limit of 64, and smtpd keeps
    half of it for sessions. The extra clients get 421 rather than a
    silent close, and the log has fewer lines than rejections. Service
    resumes once the idlers leave."""
    raise_own_fd_limit(1024)
    tern = lab.tern(start=False, smtpd=listener(lab, max_connections=1000))
    tern.start(prefix=("prlimit", "--nofile=64:64", "--"))
    assert tern.log_lines(r"smtpd\[\d+\]: info: at most 32 sessions at "
                          r"once for the open file limit"), tern.tail()
    smtpd_fds = os.listdir(f"/proc/{tern.child_pid('tern-smtpd')}/fd")
    print(f"tern-smtpd descriptors with no session: {len(smtpd_fds)}")

    clients, replies = [], []
    try:
        for i in range(120):
            c = RawClient(tern.address, tern.port,
                          source=f"127.0.2.{i % 50 + 1}", timeout=10)
            clients.append(c)
            replies.append(first_line(c))
        served = [r for r in replies if r.startswith("220 ")]
        rejected = [r for r in replies if r == TOO_MANY]
        assert len(served) == 32, f"{len(served)} of 120 got a greeting"
        assert len(rejected) == 88, \
            f"{len(rejected)} of 120 got 421; others: " \
            f"{[r for r in replies if r not in served + rejected][:3]}"
        logged = tern.log_lines(r"rejected: too many connections for the "
                                r"open file limit")
        assert 1 <= len(logged) < 88, \
            f"{len(logged)} log lines for 88 rejections:\n{tern.tail()}"
    finally:
        since = tern.log_size()
        close_all(clients)
    wait_disconnects(tern, 32, since)

    with greeted(tern, source="127.0.0.1") as c:
        c.expect("EHLO client.test", 250)
    assert tern.running(), "ternd stopped"


def test_listener_limits_on_ipv6_loopback(lab):
    """The per-client count works for IPv6 addresses too."""
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no ::1 on this host")
    entry = {"address": "::1", "port": lab.smtpd_port,
             "max_connections_per_client": 1}
    tern = lab.tern(smtpd={"listeners": [entry]})

    with RawClient("::1", lab.smtpd_port) as first:
        assert first.greeting().code == 220
        with RawClient("::1", lab.smtpd_port) as second:
            rejected = first_line(second)
    assert rejected == TOO_MANY, f"2nd connection from ::1 got {rejected!r}"
    assert HOST in rejected
