"""The secret-file check on Windows under Wine: ternd.exe refuses to start
when Everyone may read the TLS key, and starts when only the owner and
SYSTEM may.

Wine 8 keeps no ACLs of its own for files on a Linux folder: it builds a
file's DACL from the Unix mode (the owner and SYSTEM get full access,
Everyone gets read access when the mode lets others read). So chmod sets
the DACL that ternd.exe reads back with GetNamedSecurityInfoW here.
"""

import os

from peers import wait_for


def test_key_readable_by_everyone_rejected(lab):
    tern = lab.tern(start=False)
    key = tern.dir / "key.pem"
    os.chmod(key, 0o644)

    tern.start(wait=False)
    exited = wait_for(lambda: tern.proc.poll() is not None, 60)

    assert exited, f"ternd.exe runs with a key that Everyone may read" \
        f"{tern.tail()}"
    assert tern.proc.returncode != 0, f"ternd.exe exited with 0{tern.tail()}"
    text = tern.log_text() + tern.output()
    assert "key.pem" in text, f"the error does not name the key{tern.tail()}"


def test_key_private_accepted(lab):
    tern = lab.tern(start=False)
    os.chmod(tern.dir / "key.pem", 0o600)

    tern.start()

    assert tern.running(), f"ternd.exe exited{tern.tail()}"
