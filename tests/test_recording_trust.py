"""netbase-recording with real traffic: the echo never costs a byte, cassettes never
corrupt, replay matches what really varies (on every runtime)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from test_recording_roundtrip import facade, record_simple, recorder, replayer

from helpers import read_exactly
from netbase_recording import Connection, Read, Recording, ReplayError, Write, load, save

# -- the echo never changes what the caller gets ----------------------------------


def closed_stream() -> Any:
    stream = io.StringIO()
    stream.close()
    return stream


def broken_pipe() -> Any:
    """A pipe whose reader has gone, as in `python app.py | head` once head has exited."""
    reader, writer = os.pipe()
    os.close(reader)
    return open(writer, "w", buffering=1, encoding="utf-8")


def ascii_console() -> Any:
    """A console whose encoding cannot show "é"."""
    return io.TextIOWrapper(io.BytesIO(), encoding="ascii", line_buffering=True)


@pytest.mark.parametrize("make_echo", [closed_stream, broken_pipe, ascii_console])
async def test_failing_echo_never_costs_data(runtime, echo_server, caplog, make_echo):
    echo = make_echo()
    try:
        rec = recorder(runtime, echo=echo)
        net = facade(runtime, rec)
        caplog.set_level(logging.WARNING, logger="netbase_recording")
        async with await net.connect(echo_server.host, echo_server.port) as stream:
            for message in (b"caf\xc3\xa9 1\n", b"caf\xc3\xa9 2\n"):
                await stream.write(message)
                assert await read_exactly(stream, len(message)) == message
        [connection] = rec.recording.connections
        assert connection.written == connection.received == b"caf\xc3\xa9 1\ncaf\xc3\xa9 2\n"
        failures = [r for r in caplog.records if "echo stream failed" in r.getMessage()]
        assert len(failures) == 1  # reported once, then the echo stopped
        assert rec._echo.error is not None
    finally:
        with contextlib.suppress(OSError, ValueError):
            echo.close()


async def test_working_echo_is_flushed_as_it_goes(runtime, echo_server):
    reader, writer = os.pipe()
    os.set_blocking(reader, False)
    with open(reader, "rb") as incoming, open(writer, "w", encoding="utf-8") as pipe:
        rec = recorder(runtime, echo=pipe)
        async with await facade(runtime, rec).connect(echo_server.host, echo_server.port) as s:
            await s.write(b"ping\n")
            # Block buffered, the pipe would hold the line until close: it is there now.
            assert incoming.read() == b">>> ping\n"
            await read_exactly(s, 5)


# -- replay checks the scrub hook's answer -------------------------------------------


@pytest.mark.parametrize(
    ("hook", "kind"), [(lambda data: None, "NoneType"), (lambda data: data.decode(), "str")]
)
async def test_replay_checks_the_scrub_hooks_answer(runtime, echo_server, tmp_path, hook, kind):
    rec = recorder(runtime)
    async with await facade(runtime, rec).connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"GET /users/1 HTTP/1.1\r\n\r\n")
        await read_exactly(stream, 25)
    rec.save(tmp_path / "plain.cassette")
    with pytest.raises(TypeError) as saved:
        rec.save(tmp_path / "scrubbed.cassette", scrub=hook)

    # A completely different request: a hook that answers None must not make it match.
    replay = replayer(runtime, tmp_path / "plain.cassette", scrub=hook)
    async with await facade(runtime, replay).connect(echo_server.host, echo_server.port) as stream:
        with pytest.raises(TypeError) as replayed:
            await stream.write(b"DELETE /everything HTTP/1.1\r\n\r\n")
            await stream.read()
    assert str(replayed.value) == str(saved.value) == f"a scrub hook returns bytes, not {kind}"


# -- only connects that happened are recorded ------------------------------------------


async def test_connect_that_fails_before_any_io_leaves_no_connection(
    runtime, echo_server, tmp_path
):
    rec = recorder(runtime)
    net = facade(runtime, rec)
    with pytest.raises(ValueError, match="port"):
        await net.connect("127.0.0.1", 70000)
    with pytest.raises(TypeError):
        await net.connect(b"127.0.0.1", 80)
    async with await net.connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"x")
        await stream.read()
    assert [c.port for c in rec.recording.connections] == [echo_server.port]
    rec.save(tmp_path / "c")
    assert load(tmp_path / "c") == rec.recording  # the library reads what it wrote
    replay = replayer(runtime, tmp_path / "c")
    async with await facade(runtime, replay).connect(echo_server.host, echo_server.port) as s:
        await s.write(b"x")
        assert await s.read() == b"x"
    replay.check_played()


@pytest.mark.async_only
async def test_cancelled_connect_leaves_no_connection(runtime, full_backlog, echo_server, tmp_path):
    rec = recorder(runtime)
    host, port = full_backlog

    async def connect() -> None:
        await rec.connect(host, port)  # never completes: the backlog is full

    if runtime.name.endswith("trio"):
        import trio

        with trio.move_on_after(0.2) as scope:
            await connect()
        assert scope.cancelled_caught
    else:
        import asyncio

        task = asyncio.ensure_future(connect())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    async with await rec.connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"x")
        await stream.read()
    assert [c.port for c in rec.recording.connections] == [echo_server.port]
    rec.save(tmp_path / "c")
    replay = replayer(runtime, tmp_path / "c")
    async with await replay.connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"x")
        await stream.read()
    replay.check_played()  # no phantom connection demanded


async def test_connects_started_first_come_first_in_the_recording(
    runtime, echo_server, silent_server
):
    """A connect that finishes late still takes its place among those started after it."""
    rec = recorder(runtime)
    connection = rec.recording.open(silent_server.host, silent_server.port)  # started first
    async with await facade(runtime, rec).connect(echo_server.host, echo_server.port) as s:
        await s.write(b"x")
        await s.read()
    connection.keep()
    assert [c.port for c in rec.recording.connections] == [silent_server.port, echo_server.port]


# -- save is atomic ----------------------------------------------------------------------

FILL_PAST_THE_LIMIT = textwrap.dedent(
    """
    import resource, signal, sys
    from netbase_recording import Connection, Read, Recording, save

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
    big = Recording([Connection("127.0.0.1", 80, events=[Read(0.0, bytes(range(256)) * 4096)])])
    try:
        save(big, sys.argv[1])
    except OSError as exc:
        print("save failed:", exc.strerror)
    """
)


async def test_failed_save_keeps_the_previous_cassette(runtime, echo_server, tmp_path):
    path = await record_simple(runtime, echo_server, tmp_path)
    good = path.read_bytes()
    recorded = load(path)

    # A size limit (as a full disk would) stops the next save part-way.
    done = subprocess.run(
        [sys.executable, "-c", FILL_PAST_THE_LIMIT, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.startswith("save failed: File too large"), done
    assert path.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no temporary file left

    # So does a scrub hook that raises on the second connection.
    seen = []

    def scrub(data: bytes) -> bytes:
        seen.append(data)
        if len(seen) > 2:
            raise RuntimeError("the hook fails")
        return data

    twice = Recording([*recorded.connections, *recorded.connections])
    with pytest.raises(RuntimeError, match="the hook fails"):
        save(twice, path, scrub=scrub)
    assert path.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == [path.name]
    assert load(path) == recorded


# -- out of order: HTTPS, and requests that share their first bytes ---------------------

HEAD = b"POST /items HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n\r\n"


async def test_out_of_order_replay_for_https(runtime, tls_echo_server, client_context, tmp_path):
    server = (tls_echo_server.host, tls_echo_server.port)
    conversations = [("localhost", b"a"), ("localhost", b"b"), ("tls.test", b"c")]
    rec = recorder(runtime)
    net = facade(runtime, rec)
    for hostname, body in conversations:
        async with await net.connect(*server) as stream:
            await stream.start_tls(client_context, hostname=hostname)
            await stream.write(HEAD)  # the same first write on every connection
            await stream.write(body)
            assert await read_exactly(stream, len(HEAD) + 1) == HEAD + body
    rec.save(tmp_path / "https.cassette")

    # Replayed interleaved and in another order: each stream finds its own.
    replay = replayer(runtime, tmp_path / "https.cassette", in_order=False)
    rnet = facade(runtime, replay)
    order = [conversations[2], conversations[1], conversations[0]]
    streams = [await rnet.connect(*server) for _ in order]
    for stream, (hostname, _) in zip(streams, order, strict=True):
        await stream.start_tls(client_context, hostname=hostname)
    for stream in streams:
        await stream.write(HEAD)
    for stream, (_, body) in zip(streams, order, strict=True):
        await stream.write(body)
    for stream, (_, body) in zip(reversed(streams), reversed(order), strict=True):
        assert await read_exactly(stream, len(HEAD) + 1) == HEAD + body
        await stream.close()
    replay.check_played()

    # A request that no recorded connection made is still refused, showing the closest.
    replay = replayer(runtime, tmp_path / "https.cassette", in_order=False)
    async with await facade(runtime, replay).connect(*server) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        await stream.write(HEAD)
        with pytest.raises(ReplayError, match=f"differ from the recording at byte {len(HEAD)}"):
            await stream.write(b"z")
    # And a TLS hostname that no connection used.
    replay = replayer(runtime, tmp_path / "https.cassette", in_order=False)
    async with await facade(runtime, replay).connect(*server) as stream:
        with pytest.raises(ReplayError, match=r"hostname='other\.test'"):
            await stream.start_tls(client_context, hostname="other.test")


async def test_out_of_order_streams_never_share_a_connection(runtime, echo_server, tmp_path):
    rec = recorder(runtime)
    net = facade(runtime, rec)
    for _ in range(2):
        async with await net.connect(echo_server.host, echo_server.port) as stream:
            await stream.write(b"same")
            await read_exactly(stream, 4)
    rec.save(tmp_path / "c")
    replay = replayer(runtime, tmp_path / "c", in_order=False)
    rnet = facade(runtime, replay)
    first = await rnet.connect(echo_server.host, echo_server.port)
    second = await rnet.connect(echo_server.host, echo_server.port)
    with pytest.raises(ReplayError, match="no connection to it left"):
        await rnet.connect(echo_server.host, echo_server.port)
    for stream in (first, second):
        await stream.write(b"same")
        assert await stream.read() == b"same"
        await stream.close()
    replay.check_played()


# -- large cassettes stream both ways ------------------------------------------------


def test_large_cassette_streams_both_ways(tmp_path):
    import tracemalloc

    size = 8_000_000
    chunks = [bytes([i % 251]) * 1000 + os.urandom(64_536) for i in range(size // 65_536 + 1)]
    events = [Write(0.0, b"GET /big HTTP/1.1\r\n\r\n")] + [Read(0.0, c) for c in chunks]
    recording = Recording([Connection("www.example.com", 443, events=events)])
    payload = sum(len(c) for c in chunks)
    path = tmp_path / "big.cassette"
    tracemalloc.start()
    try:
        save(recording, path)
        _, saving = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        loaded = load(path)
        _, loading = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert loaded == recording
    # Saving holds a few blocks, never the whole text; loading holds the bytes it
    # returns and a few blocks, never the whole text or a list of its lines.
    assert saving < payload / 4, (saving, payload)  # about 1 MB
    assert loading < payload * 1.5, (loading, payload)


async def test_echo_and_recording_agree_under_real_traffic(runtime, echo_server):
    """What the echo printed and what was recorded are the same bytes."""
    out = io.StringIO()
    rec = recorder(runtime, echo=out)
    async with await facade(runtime, rec).connect(echo_server.host, echo_server.port) as stream:
        await stream.write("héllo\n".encode())
        await read_exactly(stream, 7)
    assert out.getvalue() == ">>> héllo\n<<< héllo\n"
    assert isinstance(rec.recording.connections[0].events[1], Write)
    assert isinstance(rec.recording.connections[0].events[2], Read)
