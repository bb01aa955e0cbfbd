"""netbase-recording: record, save, load and replay, on every runtime."""

from __future__ import annotations

import io
from typing import Any

import pytest

import netbase
from drivers import Driver, SyncFacade
from helpers import random_payload, read_exactly
from netbase_recording import (
    AsyncRecordingBackend,
    AsyncReplayBackend,
    Failed,
    Read,
    Readable,
    RecordingBackend,
    ReplayBackend,
    ReplayError,
    ReplayMismatch,
    StartTLS,
    Write,
    load,
    scrub_headers,
)

# -- helpers: the same conversation, sync or async -----------------------------


def recorder(runtime: Driver, **kwargs: Any) -> Any:
    """A recording backend around the runtime's own backend (not a facade)."""
    inner = runtime.module.NetworkBackend()
    if runtime.flavour == "sync":
        return RecordingBackend(inner, **kwargs)
    return AsyncRecordingBackend(inner, **kwargs)


def replayer(runtime: Driver, cassette: Any, **kwargs: Any) -> Any:
    if runtime.flavour == "sync":
        return ReplayBackend(cassette, **kwargs)
    return AsyncReplayBackend(cassette, **kwargs)


def facade(runtime: Driver, backend: Any) -> Any:
    """The async interface over ``backend``, as the suite uses it."""
    return SyncFacade(backend) if runtime.flavour == "sync" else backend


async def conversation(net: Any, host: str, port: int, *, tls: Any = None) -> bytes:
    """Connect, maybe TLS, write in chunks, read the echo back, close."""
    async with await net.connect(host, port) as stream:
        if tls is not None:
            await stream.start_tls(tls, hostname="localhost")
        await stream.write(b"GET / HTTP/1.1\r\n")
        await stream.write(b"Host: localhost\r\n\r\n")
        return await read_exactly(stream, 35)


# -- record then replay ----------------------------------------------------------


async def test_plain_round_trip(runtime, echo_server, tmp_path):
    rec = recorder(runtime)
    answer = await conversation(facade(runtime, rec), echo_server.host, echo_server.port)
    assert answer == b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    [connection] = rec.recording.connections
    assert (connection.host, connection.port) == (echo_server.host, echo_server.port)
    assert connection.written == answer
    assert connection.received == answer
    times = [e.time for e in connection.events]
    assert times == sorted(times)

    path = tmp_path / "plain.cassette"
    rec.save(path)
    assert load(path) == rec.recording
    accepted = echo_server.accepted
    replay = replayer(runtime, path)
    again = await conversation(facade(runtime, replay), echo_server.host, echo_server.port)
    assert again == answer
    replay.check_played()
    assert echo_server.accepted == accepted  # no network


async def test_tls_round_trip_keeps_plaintext(runtime, tls_echo_server, client_context, tmp_path):
    rec = recorder(runtime)
    net = facade(runtime, rec)
    answer = await conversation(net, tls_echo_server.host, tls_echo_server.port, tls=client_context)
    [connection] = rec.recording.connections
    assert connection.tls_hostnames == ["localhost"]
    start = next(e for e in connection.events if isinstance(e, StartTLS))
    assert start.tls is not None
    assert start.tls.version
    assert start.tls.version.startswith("TLS")
    path = tmp_path / "tls.cassette"
    rec.save(path)
    text = path.read_text()
    assert "    | GET / HTTP/1.1\\r\\n" in text  # the plaintext, readable
    assert f"version={start.tls.version}" in text

    replay = replayer(runtime, path)
    rnet = facade(runtime, replay)
    async with await rnet.connect(tls_echo_server.host, tls_echo_server.port) as stream:
        assert stream.get_extra_info("ssl_object") is None
        await stream.start_tls(client_context, hostname="localhost")
        ssl_object = stream.get_extra_info("ssl_object")
        assert ssl_object.version() == start.tls.version
        assert ssl_object.cipher() == start.tls.cipher
        assert ssl_object.selected_alpn_protocol() == start.tls.alpn
        assert ssl_object.getpeercert() == start.tls.peercert
        await stream.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")  # other chunking
        assert await read_exactly(stream, 35) == answer
    replay.check_played()


async def test_tls_in_tls_records_both_hostnames(runtime, tls_relay, client_context, tmp_path):
    rec = recorder(runtime)
    async with await facade(runtime, rec).connect(tls_relay.host, tls_relay.port) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        await stream.start_tls(client_context, hostname="tls.test")
        await stream.write(b"inner")
        assert await read_exactly(stream, 5) == b"inner"
    [connection] = rec.recording.connections
    assert connection.tls_hostnames == ["localhost", "tls.test"]
    rec.save(tmp_path / "c")
    replay = replayer(runtime, tmp_path / "c")
    async with await facade(runtime, replay).connect(tls_relay.host, tls_relay.port) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        await stream.start_tls(client_context, hostname="tls.test")
        await stream.write(b"inner")
        assert await stream.read() == b"inner"
    replay.check_played()


async def test_binary_payload_survives(runtime, echo_server, tmp_path):
    payload = random_payload(200_000)
    rec = recorder(runtime)
    async with await facade(runtime, rec).connect(echo_server.host, echo_server.port) as stream:
        await stream.write(payload)
        assert await read_exactly(stream, len(payload)) == payload
    rec.save(tmp_path / "binary.cassette")
    loaded = load(tmp_path / "binary.cassette")
    assert loaded == rec.recording
    assert loaded.connections[0].received == payload
    replay = replayer(runtime, loaded)
    async with await facade(runtime, replay).connect(echo_server.host, echo_server.port) as stream:
        for i in range(0, len(payload), 7000):  # written in other chunks: still matches
            await stream.write(payload[i : i + 7000])
        assert await read_exactly(stream, len(payload)) == payload
    replay.check_played()


async def test_failures_are_recorded_and_replayed(runtime, silent_server, tmp_path):
    from servers import unused_port

    port = unused_port()
    rec = recorder(runtime)
    net = facade(runtime, rec)
    with pytest.raises(netbase.ConnectError) as refused:
        await net.connect("127.0.0.1", port)
    async with await net.connect(silent_server.host, silent_server.port) as stream:
        with pytest.raises(netbase.ReadTimeout):
            async with netbase.timeout(0.05):
                await stream.read()
    failed = [e for c in rec.recording.connections for e in c.events if isinstance(e, Failed)]
    assert [(e.operation, e.error) for e in failed] == [
        ("connect", "ConnectError"),
        ("read", "ReadTimeout"),
    ]
    rec.save(tmp_path / "f")

    rnet = facade(runtime, replayer(runtime, tmp_path / "f"))
    with pytest.raises(netbase.ConnectError) as again:
        await rnet.connect("127.0.0.1", port)
    assert str(again.value) == str(refused.value)
    assert (again.value.host, again.value.port) == ("127.0.0.1", port)
    async with await rnet.connect(silent_server.host, silent_server.port) as stream:
        with pytest.raises(netbase.ReadTimeout):
            await stream.read()  # at once: no deadline needed, never hangs
        with pytest.raises(ReplayError, match="it never read this far"):
            await stream.read()


async def test_end_of_stream_and_is_readable_replayed(runtime, echo_server, tmp_path):
    rec = recorder(runtime)
    net = facade(runtime, rec)
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"ping")
        assert await read_exactly(stream, 4) == b"ping"
        idle = stream.get_extra_info("is_readable")
    assert idle is False
    [connection] = rec.recording.connections
    assert Readable(connection.events[-2].time, False) in connection.events
    rec.save(tmp_path / "r")
    replay = replayer(runtime, tmp_path / "r")
    async with await facade(runtime, replay).connect(echo_server.host, echo_server.port) as stream:
        assert stream.get_extra_info("is_readable") is False  # a write comes next
        await stream.write(b"ping")
        assert stream.get_extra_info("is_readable") is True  # a read comes next
        assert await stream.read(2) == b"pi"
        assert await stream.read() == b"ng"
        assert stream.get_extra_info("is_readable") is False  # as recorded
        assert stream.get_extra_info("server_addr") == (echo_server.host, echo_server.port)
    replay.check_played()


async def test_concurrent_connections_keep_their_own_order(
    runtime, echo_server, echo_server_v6, tmp_path
):
    servers = [echo_server, echo_server_v6] * 2
    rec = recorder(runtime)

    def talker(net: Any, i: int) -> Any:
        async def talk() -> bytes:
            server = servers[i]
            async with await net.connect(server.host, server.port) as stream:
                got = b""
                for j in range(5):
                    message = f"conn {i} message {j}\n".encode()
                    await stream.write(message)
                    got += await read_exactly(stream, len(message))
                return got

        return talk

    net = facade(runtime, rec)
    results = await runtime.gather(*(talker(net, i) for i in range(4)))
    connections = rec.recording.connections
    assert len(connections) == 4
    assert sorted(c.written for c in connections) == sorted(results)
    for connection in connections:
        kinds = [type(e) for e in connection.events if isinstance(e, (Read, Write))]
        assert kinds == [Write, Read] * 5  # each connection's order is its own
        assert connection.received == connection.written
    rec.save(tmp_path / "c")

    # Replayed concurrently, in another order: each stream finds its own
    # recorded connection by what it writes first.
    replay = replayer(runtime, tmp_path / "c", in_order=False)
    rnet = facade(runtime, replay)
    order = [3, 1, 2, 0]
    assert await runtime.gather(*(talker(rnet, i) for i in order)) == [results[i] for i in order]
    replay.check_played()

    # In order (the default), a different order of connects is an error.
    strict = facade(runtime, replayer(runtime, tmp_path / "c"))
    first = rec.recording.connections[0]
    other = next(s for s in (echo_server, echo_server_v6) if s.host != first.host)
    with pytest.raises(ReplayError, match="but the next connection"):
        await strict.connect(other.host, other.port)


async def test_echo_output(runtime, echo_server):
    out = io.StringIO()
    rec = recorder(runtime, echo=out)
    async with await facade(runtime, rec).connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await read_exactly(stream, 27)
        await stream.write(b"\x00\xffbin\n")
        await read_exactly(stream, 6)
    lines = out.getvalue().splitlines()
    assert lines[:3] == [">>> GET / HTTP/1.1", ">>> Host: x", ">>> "]
    assert lines[3].startswith("<<< GET / HTTP/1.1")
    assert ">>> \\x00\\xffbin" in lines
    assert all(line.startswith((">>> ", "<<< ")) for line in lines)


# -- what a replay refuses -------------------------------------------------------


async def record_simple(runtime: Driver, echo_server: Any, tmp_path: Any) -> Any:
    rec = recorder(runtime)
    async with await facade(runtime, rec).connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"GET /users/1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        await read_exactly(stream, 44)
    path = tmp_path / "simple.cassette"
    rec.save(path)
    return path


async def test_mismatch_shows_expected_and_actual(runtime, echo_server, tmp_path):
    path = await record_simple(runtime, echo_server, tmp_path)
    replay = replayer(runtime, path)
    async with await facade(runtime, replay).connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"GET /users/")
        with pytest.raises(ReplayMismatch) as info:
            await stream.write(b"2 HTTP/1.1\r\n")
    message = str(info.value)
    assert "differ from the recording at byte 11" in message
    assert "expected: GET /users/1 HTTP/1.1\\r\\nHost: example.com" in message
    assert "actual:   GET /users/2 HTTP/1.1\\r\\n" in message
    caret_line = message.splitlines()[-1]
    actual_line = message.splitlines()[-2]
    assert actual_line[caret_line.index("^")] == "2"
    assert info.value.offset == 11


async def test_wrong_target_and_extra_connection(runtime, echo_server, tmp_path):
    path = await record_simple(runtime, echo_server, tmp_path)
    rnet = facade(runtime, replayer(runtime, path))
    with pytest.raises(ReplayError, match=r"connect to 127.0.0.1:1, but the next connection"):
        await rnet.connect("127.0.0.1", 1)
    replay = replayer(runtime, path, match=lambda c, h, p, u: True)  # any target
    rnet = facade(runtime, replay)
    async with await rnet.connect("127.0.0.1", 1) as stream:
        await stream.write(b"GET /users/1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        await stream.read()
    with pytest.raises(ReplayError, match="no more connections"):
        await rnet.connect("127.0.0.1", 1)


async def test_reading_before_writing_everything_is_an_error(runtime, echo_server, tmp_path):
    path = await record_simple(runtime, echo_server, tmp_path)
    replay = replayer(runtime, path)
    async with await facade(runtime, replay).connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"GET /users/1 HTTP/1.1\r\n")
        with pytest.raises(ReplayMismatch, match="at byte 23"):
            await stream.read()


async def test_check_played_reports_what_was_left(runtime, echo_server, tmp_path):
    path = await record_simple(runtime, echo_server, tmp_path)
    replay = replayer(runtime, path)
    async with await facade(runtime, replay).connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"GET /users/1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    with pytest.raises(ReplayError, match=r"not played to the end:\n  connection 1 to 127.0.0.1"):
        replay.check_played()


async def test_scrub_redacts_and_replay_still_matches(runtime, echo_server, tmp_path):
    scrub = scrub_headers("Authorization")
    rec = recorder(runtime)
    request = b"GET / HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n"
    async with await facade(runtime, rec).connect(echo_server.host, echo_server.port) as stream:
        await stream.write(request[:30])  # the secret is cut in two writes
        await stream.write(request[30:])
        assert await read_exactly(stream, len(request)) == request
    path = tmp_path / "scrubbed.cassette"
    rec.save(path, scrub=scrub)
    text = path.read_text()
    assert "s3cret" not in text
    assert "Authorization: REDACTED\\r\\n" in text

    # The code sends its real (different) token, cut differently: it still matches.
    replay = replayer(runtime, path, scrub=scrub)
    other = request.replace(b"s3cret", b"an0ther-t0ken")
    async with await facade(runtime, replay).connect(echo_server.host, echo_server.port) as stream:
        await stream.write(other[:20])
        await stream.write(other[20:])
        data = await read_exactly(stream, len(b"GET / HTTP/1.1\r\nAuthorization: REDACTED\r\n\r\n"))
        assert b"REDACTED" in data
    replay.check_played()

    replay = replayer(runtime, path, scrub=scrub)
    async with await facade(runtime, replay).connect(echo_server.host, echo_server.port) as stream:
        await stream.write(other.replace(b"GET /", b"PUT /"))
        with pytest.raises(ReplayMismatch, match="at byte 0"):
            await stream.read()
