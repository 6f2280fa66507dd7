"""The secret-file check on Windows under Wine: ternd.exe refuses to start
when Everyone may read the TLS key, and starts when only the owner and
SYSTEM may.

Wine 8 keeps no ACLs of its own for files on a Linux folder: it builds a
file's DACL from the Unix mode (the owner and SYSTEM get full access,
Everyone gets read access when the mode lets others read). So chmod sets
the DACL that ternd.exe reads back with GetNamedSecurityInfoW here.
"""

import os


def test_key_readable_by_everyone_rejected(lab):
    tern = lab.tern(start=False)
    key = tern.dir / "key.pem"
    os.chmod(key, 0o644)

    tern.start(wait=False)
    status = tern.proc.wait(60)

    assert status != 0, f"ternd.exe started with a world-readable key" \
        f"{tern.tail()}"
    text = tern.log_text() + tern.output()
    assert "key.pem" in text, f"the error does not name the key{tern.tail()}"


def test_key_private_accepted(lab):
    tern = lab.tern(start=False)
    os.chmod(tern.dir / "key.pem", 0o600)

    tern.start()

    assert tern.running(), f"ternd.exe exited{tern.tail()}"
