"""End to end under Wine: ternd.exe runs with its configuration, queue,
log and TLS files in a folder whose name has a space, "é" and "中文".

Windows hands main() its arguments in the ANSI code page and the narrow
C runtime calls read paths in it too. The Western European page (1252)
has no "中", so ternd starts and delivers here only when it reads its
command line as UTF-16 and opens every file through the W APIs.
"""

from peers import message_bytes, split_received

FOLDER = "tern \u00e9t\u00e9 \u4e2d\u6587"


def test_non_ascii_folder_delivers(lab):
    receiver = lab.receiver("127.0.0.2")
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    tern = lab.tern(name=FOLDER)
    assert (tern.dir / "queue" / "ternd.lock").exists(), \
        f"no lock file in {tern.dir / 'queue'}{tern.tail()}"
    content = message_bytes("Non-ASCII folder")

    qid = tern.send("utf8@origin.test", ["user@example.test"], content)

    got = receiver.wait(1, timeout=60)
    assert len(got) == 1, f"receiver got {got}{tern.tail()}"
    received, rest = split_received(got[0].content)
    assert received, f"no Received field: {got[0].content[:200]!r}"
    assert rest == content, "delivered message differs from the sent one"
    tern.wait_log(rf"{qid}: to=<user@example\.test>, .*status=sent",
                  timeout=30)
