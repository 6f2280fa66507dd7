"""The IIS pickup folder under Wine. With C:\\inetpub\\mailroot\\Pickup
present and no pickup setting, ternd.exe takes the .eml files that
System.Net.Mail's SpecifiedPickupDirectory mode writes there and delivers
them. A file that is not a message goes to C:\\inetpub\\mailroot\\Badmail
with a file that gives the reason.

The files are written as System.Net.Mail writes them (dotnet/runtime,
Message.PrepareEnvelopeHeaders and PrepareHeaders): X-Sender, one
X-Receiver per recipient, then the header and body, CRLF line ends, named
GUID.eml.
"""

import shutil
import uuid

import pytest

from peers import wait_for
from wine_tern import drive_c

MAILROOT = ("inetpub", "mailroot")


def dotnet_file(sender, recipients, subject, body="Hello from the app.\r\n"):
    lines = [f"X-Sender: {sender}"]
    lines += [f"X-Receiver: {r}" for r in recipients]
    lines += ["MIME-Version: 1.0", f"From: {sender}",
              f"To: {', '.join(recipients)}",
              "Date: 15 Jan 2025 10:30:00 +0100", f"Subject: {subject}",
              "Content-Type: text/plain; charset=us-ascii",
              "Content-Transfer-Encoding: quoted-printable", ""]
    return ("\r\n".join(lines) + "\r\n" + body).encode()


@pytest.fixture
def mailroot():
    """C:\\inetpub\\mailroot\\Pickup in the Wine prefix, as IIS leaves it;
    removed after the test so that other tests' ternd.exe does not find
    an IIS pickup folder."""
    root = drive_c(*MAILROOT)
    shutil.rmtree(drive_c(MAILROOT[0]), ignore_errors=True)
    (root / "Pickup").mkdir(parents=True)
    yield root
    shutil.rmtree(drive_c(MAILROOT[0]), ignore_errors=True)


def start(lab):
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    receiver = lab.receiver("127.0.0.2")
    tern = lab.tern()
    return tern, receiver


def test_iis_pickup_file_delivered(lab, mailroot):
    tern, receiver = start(lab)
    tern.wait_log(r"started pickup \(pid", timeout=60)
    path = mailroot / "Pickup" / f"{uuid.uuid4()}.eml"
    body = "Sent through the IIS pickup folder.\r\n"

    path.write_bytes(dotnet_file("app@origin.test", ["user@example.test"],
                                 "IIS pickup", body))

    got = receiver.wait(1, timeout=60)
    assert len(got) == 1, f"receiver got {got}{tern.tail()}"
    message = got[0]
    assert message.mail_from == "app@origin.test"
    assert message.rcpt_tos == ["user@example.test"]
    assert b"X-Sender:" not in message.content, \
        f"X-Sender not removed: {message.content[:400]!r}"
    assert b"X-Receiver:" not in message.content, \
        f"X-Receiver not removed: {message.content[:400]!r}"
    assert b"Subject: IIS pickup\r\n" in message.content
    assert message.content.endswith(body.encode())
    gone = wait_for(lambda: not path.exists(), 30)
    assert gone, f"{path.name} still in the pickup folder after delivery"


def test_malformed_file_goes_to_badmail(lab, mailroot):
    tern, receiver = start(lab)
    tern.wait_log(r"started pickup \(pid", timeout=60)
    name = f"{uuid.uuid4()}.eml"
    path = mailroot / "Pickup" / name
    # A header without any recipient: no X-Receiver, To, Cc or Bcc.
    content = b"X-Sender: app@origin.test\r\nSubject: nobody\r\n\r\nbody\r\n"

    path.write_bytes(content)

    badmail = mailroot / "Badmail"
    stem = name[:-len(".eml")]

    def moved():
        if path.exists() or not badmail.is_dir():
            return None
        found = [p for p in badmail.iterdir() if p.name.startswith(stem)]
        return found if len(found) >= 2 else None
    found = wait_for(moved, 60)
    assert found, (f"{name} not moved to {badmail} with a reason file: "
                   f"pickup has {list((mailroot / 'Pickup').iterdir())}, "
                   f"badmail has "
                   f"{list(badmail.iterdir()) if badmail.is_dir() else None}"
                   f"{tern.tail()}")
    copies = [p for p in found if p.read_bytes() == content]
    assert copies, f"no file in {badmail} holds the original bytes: {found}"
    reasons = [p for p in found if p not in copies]
    assert reasons, f"no reason file beside the bad file: {found}"
    reason = reasons[0].read_text(errors="replace")
    assert "recipient" in reason.lower(), f"reason {reason!r}"
    assert receiver.messages == []
    tern.wait_log(rf"{stem}", timeout=30)
