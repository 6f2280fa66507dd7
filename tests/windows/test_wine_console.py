"""ternd.exe without -f under Wine.

Windows has no detached mode for ternd, because a detached copy has no
console to receive Ctrl+C and only TerminateProcess could end it. So
ternd.exe without -f runs in the console as with -f, and Ctrl+C (SIGINT
under Wine) stops it cleanly.
"""

import signal

from wine_tern import WineTern


class ConsoleTern(WineTern):
    """ternd.exe started without -f."""

    def command(self):
        return [arg for arg in super().command() if arg != "-f"]


def test_ternd_without_f_stays_in_console(lab):
    tern = lab.tern(start=False)
    console = ConsoleTern(tern.dir, tern.settings)
    lab.terns.append(console)
    console.start()

    assert console.proc.poll() is None, console.output()
    assert "started in the background" not in console.output()
    assert console.stop(signal.SIGINT) == 0, console.log_text()
    assert "all processes stopped" in console.log_text()


def test_ternd_creates_log_folders(lab):
    """A log.file whose folders are missing, as after an install that
    made only the top folder: ternd creates them, as it does the queue's
    parents, instead of failing with "cannot open"."""
    tern = lab.tern(start=False)
    settings = dict(tern.settings)
    settings["log"] = dict(settings["log"], file="logs/new/tern.log")
    tern.write_config(settings)
    tern.log_path = tern.dir / "logs" / "new" / "tern.log"
    assert not (tern.dir / "logs").exists()

    tern.start()

    assert tern.log_path.is_file(), tern.output()
    assert "starting tern" in tern.log_text()
    assert tern.stop() == 0
