"""tern's Windows programs under Wine, for the end-to-end tests.

WineTern runs ternd.exe from a cross-built tree (TERN_WINDOWS_BUILD_DIR)
with the wine loader, in the Wine prefix that WINEPREFIX names. It reuses
the integration tests' Tern for the configuration, the log and the SMTP
client, and changes how ternd starts and stops:

- start: "wine ternd.exe -c Z:\\...\\tern.conf -f" in the instance's
  folder.
- stop: Wine turns SIGINT into a CTRL_C_EVENT for the Windows program,
  which ternd handles like Ctrl+C in a console (a clean stop). SIGTERM
  would end the Wine process at once, like TerminateProcess, so it is
  only the fallback after a timeout.

Every process is stopped by its pid. The processes of this build are
those whose command line starts with the build folder's Windows path,
so Wine programs of anyone else are never touched.

WineService drives the same ternd.exe as a Windows service through
Wine's service manager (sc.exe or ternd's own service commands).
"""

import os
import re
import signal
import subprocess
import tempfile
from pathlib import Path

from peers import pid_alive, proc_cmdline, wait_for
from tern_instance import Lab, Tern

WINE = "/usr/bin/wine"

# The service name that ternd registers, and that the tests pass to sc.exe.
SERVICE_NAME = "tern"


def build_dir():
    """The cross-built tree that contains ternd.exe and its children."""
    value = os.environ.get("TERN_WINDOWS_BUILD_DIR")
    if not value:
        raise AssertionError(
            "TERN_WINDOWS_BUILD_DIR is not set: run these tests through "
            "tests/windows/check-windows.sh (make check-windows)")
    return Path(value)


def wine_prefix():
    value = os.environ.get("WINEPREFIX")
    if not value:
        raise AssertionError(
            "WINEPREFIX is not set: run these tests through "
            "tests/windows/check-windows.sh, which makes a private prefix")
    return Path(value)


def windows_path(path):
    """The Windows name of a Linux path through Wine's Z: drive, which a
    new prefix maps to the Linux root folder."""
    return "Z:" + str(Path(path).resolve()).replace("/", "\\")


def drive_c(*parts):
    """A path below C:\\ of the Wine prefix, as a Linux path."""
    return wine_prefix().joinpath("drive_c", *parts)


def wine(*args, timeout=60):
    """Run a Windows program with wine; return the CompletedProcess with
    its output as text.

    The output goes through temporary files, not pipes: a wine command
    may start the prefix's services.exe, which inherits its standard
    output and keeps running, so a pipe would never reach end of file."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        done = subprocess.run([WINE, *args], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=err, timeout=timeout)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            done.args, done.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"))


def build_processes():
    """Pids of live processes that run a program from this build.

    Wine shows a program's path as the first word of its command line.
    For the first program that is the Linux path given to wine. For a
    program that a Windows process started it is the Windows path, with
    whatever mix of / and \\ the caller used
    ("Z:\\tmp\\b\\src/tern-qmgr.exe")."""
    folder = build_dir().resolve()
    windows_prefix = windows_path(folder).lower().encode() + b"\\"
    linux_prefix = str(folder).lower().encode() + b"/"
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = proc_cmdline(int(entry))
        if not argv:
            continue
        program = argv[0].lower()
        ours = program.startswith(linux_prefix) or \
            program.replace(b"/", b"\\").startswith(windows_prefix)
        if ours and pid_alive(int(entry)):
            pids.append(int(entry))
    return pids


def kill_build_processes():
    """SIGKILL every process that runs a program of this build."""
    for pid in build_processes():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def program_names():
    """Map of pid to program name (ternd.exe, tern-smtpd.exe, ...) for
    the processes of this build."""
    names = {}
    for pid in build_processes():
        argv = proc_cmdline(pid)
        if argv:
            path = argv[0].decode(errors="replace").strip()
            names[pid] = re.split(r"[\\/]", path)[-1]
    return names


class WineTern(Tern):
    """ternd.exe in the foreground under Wine, in its own folder."""

    def command(self):
        ternd = build_dir() / "ternd.exe"
        if not ternd.is_file():
            raise AssertionError(f"{ternd} is missing: the Windows build "
                                 "did not make it")
        return [WINE, str(ternd), "-c", windows_path(self.conf_path), "-f"]

    def children(self):
        """Map of program name to pids, for the processes of this build
        other than ternd.exe."""
        found = {}
        for pid, name in program_names().items():
            if name.lower() != "ternd.exe":
                found.setdefault(name.removesuffix(".exe"), []).append(pid)
        return found

    def own_processes(self):
        return build_processes()

    def stop(self, sig=signal.SIGINT, timeout=30, kill_leftovers=True):
        """Stop ternd with Ctrl+C (SIGINT through Wine) and return its
        exit status. After timeout ternd is killed by pid, and so are the
        processes of this build still running unless kill_leftovers is
        False."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        if kill_leftovers:
            kill_build_processes()
        return self.proc.returncode

    def kill_tree(self):
        """End ternd and its children at once with SIGKILL, as a power
        cut or TerminateProcess would, leaving the queue as it was."""
        kill_build_processes()
        if self.proc is not None:
            self.proc.wait(10)

    def wait_listening(self, log_offset=0, out_offset=0, timeout=60):
        # Each child is a new Wine process, which starts slower than a
        # Linux one, so the wait is longer than the integration tests'.
        super().wait_listening(log_offset, out_offset, timeout)


class WineService:
    """ternd.exe as the Windows service "tern" in the Wine prefix, with a
    configuration written by a WineTern that is never started itself."""

    def __init__(self, tern):
        self.tern = tern

    def binary_path(self):
        """The command line the service manager starts."""
        ternd = windows_path(build_dir() / "ternd.exe")
        return f'"{ternd}" service run --config ' \
               f'"{windows_path(self.tern.conf_path)}"'

    def sc(self, *args, timeout=60):
        return wine("sc", *args, timeout=timeout)

    def state(self):
        """The STATE word of "sc query tern" (RUNNING, STOPPED, ...), or
        the output when there is no such line."""
        done = self.sc("query", SERVICE_NAME)
        m = re.search(r"STATE\s*:\s*\d+\s+(\w+)", done.stdout)
        return m.group(1) if m else (done.stdout + done.stderr).strip()

    def wait_state(self, wanted, timeout=60):
        state = wait_for(lambda: self.state() == wanted, timeout,
                         interval=0.5)
        assert state, (f"service {SERVICE_NAME} is {self.state()!r}, "
                       f"expected {wanted} within {timeout} s:\n"
                       f"{self.tern.diagnostics()}")

    def wait_listening(self, since=0, timeout=60):
        """Wait for the log's "listening on" line of every listener."""
        for address, port in self.tern.listeners:
            self.tern.wait_log(rf"listening on {re.escape(address)}:{port}\b",
                               timeout, since)

    def remove(self):
        """Stop and delete the service if it is still there, then end
        any process of this build; for cleanup after a failed test."""
        if self.state() in ("RUNNING", "START_PENDING", "STOP_PENDING"):
            self.sc("stop", SERVICE_NAME)
            wait_for(lambda: self.state() == "STOPPED", 30, interval=0.5)
        self.sc("delete", SERVICE_NAME)
        kill_build_processes()


class WineLab(Lab):
    """A Lab whose tern instances are WineTern."""

    def tern(self, start=True, name="tern", **overrides):
        directory = self.dir / name
        directory.mkdir()
        cert, key = self.certificate
        (directory / "cert.pem").write_bytes(Path(cert).read_bytes())
        # Under Wine a file's DACL comes from its Unix mode, and ternd
        # rejects a key that Everyone may read, so the key stays 0600.
        key_copy = directory / "key.pem"
        key_copy.write_bytes(Path(key).read_bytes())
        key_copy.chmod(0o600)
        t = WineTern(directory, self.settings(**overrides))
        self.terns.append(t)
        if start:
            t.start()
        return t

    def close(self, keep=False):
        super().close(keep)
        kill_build_processes()

