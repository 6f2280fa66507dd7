"""End to end under Wine: a client submits to ternd.exe on 127.0.0.1, and
tern queues the message and looks up the MX in dnsmasq (the resolver
setting). It delivers to an aiosmtpd receiver on 127.0.0.2, which gets
the submitted bytes with only tern's Received field added.
"""

from peers import message_bytes, split_received


def first_difference(a, b):
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y),
             min(len(a), len(b)))
    return (f"lengths {len(a)} and {len(b)}, first difference at offset "
            f"{n}: {a[max(0, n - 40):n + 40]!r} vs {b[max(0, n - 40):n + 40]!r}")


def assert_arrived_intact(delivered, sent):
    """The delivered bytes are the sent bytes with one Received header
    field added at the top; returns that field."""
    received, rest = split_received(delivered.content)
    assert received, ("delivered message does not start with a Received "
                      f"header: {delivered.content[:200]!r}")
    assert not rest.startswith(b"Received:"), \
        "tern added more than one Received header"
    assert rest == sent, ("delivered message differs from the submitted "
                          "one: " + first_difference(rest, sent))
    return received


def body_with_edge_cases():
    """Lines that need dot-stuffing, 8-bit text and a long line, so the
    Windows build's SMTP reader, queue and writer all see them."""
    lines = [b".starts with a dot", b".", b"..", b"Gr\xc3\xbc\xc3\x9fe",
             b"tab\tand trailing space ", b"x" * 900]
    return b"\r\n".join(lines) + b"\r\n"


def test_message_delivered_byte_exact(lab):
    receiver = lab.receiver("127.0.0.2")
    lab.dns(mx={"example.test": [(10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.2"]})
    tern = lab.tern()
    content = message_bytes("Windows end to end", body=body_with_edge_cases())

    qid = tern.send("win@origin.test", ["user@example.test"], content)

    got = receiver.wait(1, timeout=60)
    assert len(got) == 1, f"receiver got {got}{tern.tail()}"
    assert got[0].mail_from == "win@origin.test"
    assert got[0].rcpt_tos == ["user@example.test"]
    received = assert_arrived_intact(got[0], content)
    assert b"by tern.test" in received, \
        f"Received header does not name tern's hostname: {received!r}"
    tern.wait_log(rf"{qid}: to=<user@example\.test>, "
                  rf"relay=mx1\.example\.test\[127\.0\.0\.2\]:{lab.port}, "
                  rf".*status=sent", timeout=30)


def test_mx_preference_followed(lab):
    """The lower preference wins, which shows that the MX records came
    from dnsmasq and tern did not fall back to the domain's address."""
    best = lab.receiver("127.0.0.3")
    other = lab.receiver("127.0.0.4")
    lab.dns(mx={"example.test": [(20, "mx2.example.test"),
                                 (10, "mx1.example.test")]},
            hosts={"mx1.example.test": ["127.0.0.3"],
                   "mx2.example.test": ["127.0.0.4"],
                   "example.test": ["127.0.0.4"]})
    tern = lab.tern()
    content = message_bytes("MX preference")

    tern.send("pref@origin.test", ["user@example.test"], content)

    got = best.wait(1, timeout=60)
    assert len(got) == 1, f"MX 10 got {got}{tern.tail()}"
    assert_arrived_intact(got[0], content)
    assert other.messages == [], f"MX 20 got {other.messages}"

