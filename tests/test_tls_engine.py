"""The TLS pump, with no I/O: two engines wired back to back in memory.

Every runtime's TLS layer is `netbase.lowlevel.TLSEngine` plus that
runtime's way of moving bytes and waiting. These tests drive the engine
directly, once for every runtime: a client engine and a server engine (a
certificate from a trustme CA) hand each other bytes in whatever pieces the
test chooses, so handshakes, records cut anywhere, close_notify, a stream
truncated in the middle of a record, garbage and session tickets are all
exact and need no network. The conformance and hostile suites then check, on
each runtime, that real sockets give the same answers.
"""

from __future__ import annotations

import ssl

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from netbase.lowlevel import TLSEngine

HOSTNAME = "tls.test"
VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}

_CA = trustme.CA()
_CERT = _CA.issue_cert(HOSTNAME)


def _contexts(version: str = "TLSv1.3") -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _CERT.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    _CA.configure_trust(client_ctx)
    client_ctx.maximum_version = VERSIONS[version]
    return server_ctx, client_ctx


def _pair(version: str = "TLSv1.3") -> tuple[TLSEngine, TLSEngine]:
    server_ctx, client_ctx = _contexts(version)
    return TLSEngine(client_ctx, HOSTNAME), TLSEngine(server_ctx, server_side=True)


def _move(source: TLSEngine, destination: TLSEngine) -> None:
    """Hand `destination` what `source` has to send (`receive(b"")` would end its input)."""
    data = source.data_to_send()
    if data:
        destination.receive(data)


def _handshake(client: TLSEngine, server: TLSEngine) -> None:
    """Run both handshakes to the end, moving every byte at once."""
    client_done = server_done = False
    for _ in range(10):
        if not client_done:
            client_done = client.do_handshake()
        _move(client, server)
        if not server_done:
            server_done = server.do_handshake()
        _move(server, client)
        if client_done and server_done:
            return
    raise AssertionError("the handshake did not finish")


def _established(version: str = "TLSv1.3") -> tuple[TLSEngine, TLSEngine]:
    client, server = _pair(version)
    _handshake(client, server)
    return client, server


def _read_all(engine: TLSEngine, max_bytes: int = 65536) -> bytes:
    """Every byte that can be decrypted now (stops at need-data or end of stream)."""
    parts = []
    while (data := engine.read(max_bytes)) is not None and data:
        assert 1 <= len(data) <= max_bytes
        parts.append(data)
    return b"".join(parts)


@pytest.fixture(params=sorted(VERSIONS))
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- handshake -----------------------------------------------------------------


def test_handshake_settles_version_and_verified_peer(version: str) -> None:
    client, server = _established(version)
    assert client.obj.version() == server.obj.version() == version
    assert client.obj.getpeercert()["subjectAltName"] == (("DNS", HOSTNAME),)
    assert client.end is server.end is None


def test_handshake_needs_input_until_the_peer_answers() -> None:
    client, server = _pair()
    assert client.do_handshake() is False  # ClientHello queued, waiting for the server
    hello = client.data_to_send()
    assert hello[:1] == b"\x16"  # a handshake record
    assert client.data_to_send() == b""  # taken once
    assert client.do_handshake() is False  # nothing arrived: still waiting, nothing new
    assert client.data_to_send() == b""
    server.receive(hello)
    assert server.do_handshake() is False  # TLS 1.3: waits for the client's Finished
    client.receive(server.data_to_send())
    assert client.do_handshake() is True
    server.receive(client.data_to_send())
    assert server.do_handshake() is True


def test_handshake_byte_by_byte(version: str) -> None:
    client, server = _pair(version)
    client_done = server_done = False
    for _ in range(100_000):
        if client_done and server_done:
            break
        if not client_done:
            client_done = client.do_handshake()
        if not server_done:
            server_done = server.do_handshake()
        # One byte each way per step: every record arrives cut at every byte.
        if client.outgoing.pending:
            server.receive(client.outgoing.read(1))
        if server.outgoing.pending:
            client.receive(server.outgoing.read(1))
    assert client_done
    assert server_done
    assert client.obj.version() == version


def test_wrong_hostname_fails_verification() -> None:
    server_ctx, client_ctx = _contexts()
    client = TLSEngine(client_ctx, "other.test")
    server = TLSEngine(server_ctx, server_side=True)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(client, server)


def test_untrusted_certificate_fails_verification() -> None:
    server_ctx, _ = _contexts()
    client = TLSEngine(ssl.create_default_context(), HOSTNAME)  # does not trust the test CA
    server = TLSEngine(server_ctx, server_side=True)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(client, server)


@pytest.mark.parametrize(
    "answer", [b"HTTP/1.1 400 Bad Request\r\n\r\n", b""], ids=["garbage", "end-of-stream"]
)
def test_a_bad_answer_to_the_client_hello_fails(answer: bytes) -> None:
    client, _ = _pair()
    assert client.do_handshake() is False
    client.receive(answer)
    with pytest.raises(ssl.SSLError):
        client.do_handshake()


# -- data ----------------------------------------------------------------------


def test_nothing_to_read_is_need_data() -> None:
    client, server = _established()
    _read_all(client)  # the session tickets, if any
    assert client.read(65536) is None
    assert server.read(65536) is None
    assert client.end is server.end is None


def test_data_both_ways(version: str) -> None:
    client, server = _established(version)
    assert client.write(b"ping") == 4
    server.receive(client.data_to_send())
    assert server.read(65536) == b"ping"
    assert server.read(65536) is None
    assert server.write(b"pong") == 4
    client.receive(server.data_to_send())
    assert client.read(65536) == b"pong"
    assert client.read(65536) is None


def test_a_large_write_reads_back_joined_up_to_max_bytes() -> None:
    client, server = _established()
    payload = bytes(range(256)) * 4096  # 1 MiB: 64 records
    assert client.write(payload) == len(payload)
    server.receive(client.data_to_send())
    first = server.read(65536)
    assert first is not None
    assert len(first) == 65536  # four records joined in one read
    rest = _read_all(server)
    assert first + rest == payload
    assert server.read(65536) is None


def test_small_reads_take_a_record_a_piece_at_a_time() -> None:
    client, server = _established()
    client.write(b"abcdefghij")
    server.receive(client.data_to_send())
    assert server.read(3) == b"abc"
    assert server.has_buffered()  # the rest of the record is decrypted, held
    assert server.read(3) == b"def"
    assert server.read(100) == b"ghij"
    assert not server.has_buffered()
    assert server.read(100) is None


@pytest.mark.parametrize("cut", [1, 4, 5, 6, 500, -1])
def test_a_record_cut_anywhere_waits_for_its_end(cut: int) -> None:
    client, server = _established()
    _read_all(server)
    client.write(b"x" * 1000)
    record = client.data_to_send()
    server.receive(record[:cut])
    assert server.read(65536) is None  # need data, not an error, not the end
    assert server.end is None
    server.receive(record[cut:])
    assert server.read(65536) == b"x" * 1000


def test_empty_write_sends_nothing() -> None:
    client, _ = _established()
    assert client.write(b"") == 0
    assert client.data_to_send() == b""


def test_write_takes_a_memoryview() -> None:
    client, server = _established()
    assert client.write(memoryview(b"--view--")[2:6]) == 4
    server.receive(client.data_to_send())
    assert server.read(100) == b"view"


@settings(max_examples=60, deadline=None)
@given(
    messages=st.lists(st.binary(min_size=1, max_size=40_000), min_size=1, max_size=5),
    cuts=st.lists(st.integers(min_value=1, max_value=20_000), min_size=1, max_size=30),
    max_bytes=st.integers(min_value=1, max_value=70_000),
    close=st.booleans(),
)
def test_any_chunking_gives_back_the_bytes_then_the_end(
    messages: list[bytes], cuts: list[int], max_bytes: int, close: bool
) -> None:
    """Ciphertext delivered in any pieces, read with any size, gives the plaintext in order."""
    client, server = _established()
    for message in messages:
        server.write(message)
    if close:
        server.close_notify()
    wire = server.data_to_send()
    received = []
    position = 0
    pieces = iter(cuts)
    while position < len(wire):
        size = next(pieces, len(wire))
        client.receive(wire[position : position + size])
        position += size
        while data := client.read(max_bytes):
            assert len(data) <= max_bytes
            received.append(data)
    client.receive(b"")  # the layer below ends
    while data := client.read(max_bytes):
        received.append(data)
    assert b"".join(received) == b"".join(messages)
    assert client.read(max_bytes) == b""
    assert client.end == ("close_notify" if close else "truncated")


# -- session tickets: need data, not readable ----------------------------------


def test_session_tickets_alone_are_need_data() -> None:
    """TLS 1.3 tickets arrive after the handshake; they are not application data."""
    client, server = _pair()
    assert client.do_handshake() is False
    server.receive(client.data_to_send())
    server.do_handshake()
    client.receive(server.data_to_send())
    assert client.do_handshake() is True
    server.receive(client.data_to_send())
    assert server.do_handshake() is True
    tickets = server.data_to_send()
    assert tickets  # OpenSSL sends its session tickets once the client has finished
    client.receive(tickets)
    assert client.has_buffered()  # ciphertext waiting: a socket poll would say readable
    assert client.read(65536) is None  # ...but it decrypts to nothing for the reader
    assert not client.has_buffered()
    assert client.end is None


def test_tickets_then_data_gives_the_data() -> None:
    client, server = _established()
    server.write(b"hello")
    client.receive(server.data_to_send())
    assert client.read(65536) == b"hello"


# -- closing -------------------------------------------------------------------


def test_close_notify_is_the_end_of_stream(version: str) -> None:
    client, server = _established(version)
    server.write(b"last words")
    server.close_notify()
    client.receive(server.data_to_send())
    assert client.read(65536) == b"last words"
    assert client.read(65536) == b""
    assert client.end == "close_notify"
    assert client.read(65536) == b""  # again, on every later read


def test_close_notify_in_the_same_chunk_as_data() -> None:
    client, server = _established()
    server.write(b"a" * 20_000)  # two records
    server.close_notify()
    client.receive(server.data_to_send())
    assert client.read(65536) == b"a" * 20_000  # the data first, whole
    assert client.end == "close_notify"
    # Nothing more will come from below, but a read answers at once: the end.
    assert client.has_buffered()
    assert client.read(65536) == b""
    assert client.has_buffered()


def test_bytes_after_close_notify_are_ignored() -> None:
    client, server = _established()
    server.close_notify()
    client.receive(server.data_to_send() + b"trailing garbage")
    assert client.read(65536) == b""
    client.receive(b"more")
    assert client.read(65536) == b""
    assert client.end == "close_notify"


def test_close_notify_both_ways() -> None:
    client, server = _established()
    client.close_notify()
    alert = client.data_to_send()
    assert alert
    server.receive(alert)
    assert server.read(65536) == b""
    assert server.end == "close_notify"
    server.close_notify()  # the answer
    client.receive(server.data_to_send())
    assert client.read(65536) == b""
    assert client.end == "close_notify"


def test_close_notify_is_idempotent_and_never_raises() -> None:
    client, _ = _established()
    client.close_notify()
    first = client.data_to_send()
    client.close_notify()
    assert first
    assert client.data_to_send() == b""


def test_close_notify_before_the_handshake_sends_nothing() -> None:
    client, _ = _pair()
    client.close_notify()
    assert client.data_to_send() == b""
    assert client.end is None


def test_ragged_eof_between_records_is_the_end_of_stream(version: str) -> None:
    client, server = _established(version)
    server.write(b"body")
    client.receive(server.data_to_send())
    client.receive(b"")  # the layer below ends: no close_notify
    assert client.read(65536) == b"body"
    assert client.read(65536) == b""
    assert client.end == "truncated"
    assert client.data_to_send() == b""  # no alert left to send to nobody
    assert client.read(65536) == b""


def test_truncated_mid_record_gives_whole_records_then_ends() -> None:
    client, server = _established()
    server.write(b"A" * 100)
    server.write(b"B" * 100)
    wire = server.data_to_send()
    client.receive(wire[:-10])  # the second record cut 10 bytes short
    assert client.read(65536) == b"A" * 100
    assert client.read(65536) is None  # the rest may still come
    client.receive(b"")
    assert client.read(65536) == b""
    assert client.end == "truncated"
    assert client.data_to_send() == b""


def test_end_of_stream_with_nothing_pending() -> None:
    client, _ = _established()
    _read_all(client)
    client.receive(b"")
    assert client.read(65536) == b""
    assert client.end == "truncated"


# -- failures ------------------------------------------------------------------


def test_garbage_after_the_handshake_fails() -> None:
    client, _ = _established()
    _read_all(client)
    client.receive(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)  # a record that does not decrypt
    with pytest.raises(ssl.SSLError):
        client.read(65536)


def test_a_record_from_a_different_session_fails() -> None:
    client, _ = _established()
    _read_all(client)
    _, other = _established()
    other.write(b"not for you")
    client.receive(other.data_to_send())
    with pytest.raises(ssl.SSLError):
        client.read(65536)


def test_garbage_after_whole_records_fails_on_the_next_read() -> None:
    """Records that decrypted are handed out first; the failure comes on the next read."""
    client, server = _established()
    _read_all(client)
    server.write(b"good")
    client.receive(server.data_to_send() + b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
    assert client.read(65536) == b"good"
    with pytest.raises(ssl.SSLError):
        client.read(65536)
    assert client.has_buffered()  # a read answers at once: with the failure
    with pytest.raises(ssl.SSLError):  # and on every later read: the stream is broken
        client.read(65536)
    assert client.end is None
