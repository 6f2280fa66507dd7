"""Recipient forms that try to make tern relay for a client outside
smtpd.relay_networks on an mx listener: routing in the local part ("%",
"!", a quoted "@"), source routes, and case or trailing-dot spellings of
a relay domain. Nothing of the refused forms may be queued."""

import time

import pytest

from peers import RawClient

INSIDE = "127.0.0.1"
OUTSIDE = "127.0.0.9"

TRICKS = [
    "user%other.example@example.test",
    "user%other.example@Example.TEST.",
    "other.example!user@example.test",
    '"user@other.example"@example.test',
    '"user\\@other.example"@example.test',
    '"user%other.example"@example.test',
    "@example.test:user@other.example",
    "@example.test,@mx.example.test:user@other.example",
    "user@other.example",
    "user@other.example.",
    "user@[127.0.0.2]",
]


def relay_lab(lab):
    return lab.tern(smtpd={"relay_networks": [f"{INSIDE}/32"],
                           "relay_domains": ["example.test"]})


def outside_session(tern):
    c = RawClient(tern.address, tern.port, source=OUTSIDE)
    c.greeting()
    c.expect("EHLO client.test", 250)
    c.expect("MAIL FROM:<tricks@origin.test>", 250)
    return c


@pytest.mark.parametrize("recipient", TRICKS)
def test_relay_trick_refused(lab, recipient):
    tern = relay_lab(lab)

    with outside_session(tern) as c:
        reply = c.command(f"RCPT TO:<{recipient}>")
        data = c.command("DATA")
        c.command("QUIT")

    assert reply.code == 554, f"<{recipient}> from {OUTSIDE} got {reply}"
    assert reply.lines[0].startswith("5.7.1"), reply
    assert "Relay access denied" in reply.text, reply
    assert data.code == 554, f"DATA with no valid recipient got {data}"
    time.sleep(0.5)
    assert tern.queue_counts() == (0, 0), tern.recipients()


@pytest.mark.parametrize("recipient", [
    "user@example.test", "user@Example.TEST", "user@EXAMPLE.test.",
    "@other.example:user@example.test"])
def test_relay_domain_spellings_accepted(lab, recipient):
    tern = relay_lab(lab)

    with outside_session(tern) as c:
        reply = c.command(f"RCPT TO:<{recipient}>")
        c.expect("DATA", 354)
        c.send(b"Subject: spelling\r\n\r\nbody\r\n.\r\n")
        queued = c.reply()
        c.command("QUIT")

    assert reply.code == 250, f"<{recipient}> from {OUTSIDE} got {reply}"
    assert queued.code == 250, f"end of DATA got {queued}"
    stored = [r["address"] for r in tern.recipients()]
    assert [a.lower() for a in stored] == ["user@example.test"], \
        f"<{recipient}> was queued as {stored}"


def test_relay_networks_client_may_route(lab):
    """A client that may relay anywhere gains nothing from routing forms,
    so they are not refused for it."""
    tern = relay_lab(lab)

    with RawClient(tern.address, tern.port, source=INSIDE) as c:
        c.greeting()
        c.expect("EHLO client.test", 250)
        c.expect("MAIL FROM:<inside@origin.test>", 250)
        routed = c.command("RCPT TO:<user%other.example@example.test>")
        other = c.command("RCPT TO:<user@other.example>")
        c.command("QUIT")

    assert routed.code == 250, f"routing form from {INSIDE} got {routed}"
    assert other.code == 250, f"relay from {INSIDE} got {other}"
