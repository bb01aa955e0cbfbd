"""What only the threaded backend has: NetworkStream(sock), and threads."""

from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest

import netbase
import servers

pytestmark = pytest.mark.runtimes("threaded")


@pytest.mark.sync_only
async def test_network_stream_checks_its_socket(runtime, echo_server):
    NetworkStream = runtime.module.NetworkStream
    with pytest.raises(TypeError):
        NetworkStream("not a socket")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(ValueError):
        NetworkStream(udp)
    with socket.socket() as unconnected, pytest.raises(ValueError, match="connected"):
        NetworkStream(unconnected)
    ctx = ssl.create_default_context()
    with socket.socket() as raw:
        tls = ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
        with tls, pytest.raises(TypeError, match="plain socket"):
            NetworkStream(tls)


@pytest.mark.sync_only
async def test_closing_from_another_thread_wakes_a_blocked_reader(runtime, echo_server):
    stream = runtime.module.NetworkBackend().connect("127.0.0.1", echo_server.port)
    outcome = []

    def reader():
        try:
            outcome.append(stream.read())
        except netbase.NetworkError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=reader, name="test-reader")
    thread.start()
    time.sleep(0.1)
    stream.close()
    thread.join(5)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], netbase.ReadError)
    assert "closed" in str(outcome[0])


@pytest.mark.sync_only
async def test_deadlines_of_a_reader_and_a_writer_thread_are_their_own(runtime, echo_server):
    # Each thread has its own context: the reader's short deadline must not
    # touch the writer, which has none.
    stream = runtime.module.NetworkBackend().connect("127.0.0.1", echo_server.port)
    results = {}

    def reader():
        try:
            with netbase.timeout(0.1):
                while True:
                    stream.read()
        except netbase.ReadTimeout:
            results["reader"] = "timed out"

    def writer():
        time.sleep(0.3)
        stream.write(b"late")
        results["writer"] = "wrote"

    threads = [threading.Thread(target=f, name=f"test-{f.__name__}") for f in (reader, writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert results == {"reader": "timed out", "writer": "wrote"}
    assert stream.read() == b"late"
    stream.close()


def _wait_until(condition, seconds=10.0):
    """Poll ``condition`` until it holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def _close_within(stream, seconds=5.0):
    """close() in a helper thread: fail (instead of hanging the suite) if it blocks."""
    closer = threading.Thread(target=stream.close, name="test-closer", daemon=True)
    closer.start()
    closer.join(seconds)
    assert not closer.is_alive(), "close() is blocked"


@pytest.mark.sync_only
async def test_close_wakes_a_writer_blocked_in_tls_inside_tls(
    runtime, server_context, client_context
):
    # TLS to a relay, TLS through it to a peer that reads nothing: the writer
    # fills every buffer on the way and blocks holding the inner TLS layer's
    # send lock. close() must neither wait for that lock nor leave it blocked.
    gate = threading.Event()
    peer = servers.Server(servers.stall_until(gate), tls=server_context, name="stalled")
    relay = servers.Server(servers.relay_to((peer.host, peer.port)), tls=server_context)
    try:
        stream = runtime.module.NetworkBackend().connect("127.0.0.1", relay.port)
        stream.start_tls(client_context, hostname="localhost")
        stream.start_tls(client_context, hostname="tls.test")
        sent = [0]
        outcome = []

        def writer():
            chunk = b"x" * 65536
            try:
                while True:
                    stream.write(chunk)
                    sent[0] += len(chunk)
            except netbase.NetworkError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=writer, name="test-writer", daemon=True)
        thread.start()
        last = [-1, time.monotonic()]

        def blocked():  # the count has not moved for half a second
            if sent[0] != last[0]:
                last[:] = [sent[0], time.monotonic()]
            return time.monotonic() - last[1] > 0.5

        _wait_until(blocked, 60)
        _close_within(stream)
        thread.join(5)
        assert not thread.is_alive(), "the writer is still blocked after close()"
        assert len(outcome) == 1
        assert isinstance(outcome[0], netbase.WriteError)
        assert "closed" in str(outcome[0])
    finally:
        gate.set()
        for server in (relay, peer):
            assert server.wait_idle(10)
            server.close()


@pytest.mark.sync_only
async def test_close_wakes_a_thread_blocked_in_start_tls(runtime, silent_server, client_context):
    stream = runtime.module.NetworkBackend().connect("127.0.0.1", silent_server.port)
    outcome = []

    def handshake():
        try:
            stream.start_tls(client_context, hostname="localhost")
        except netbase.NetworkError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=handshake, name="test-handshake", daemon=True)
    thread.start()
    time.sleep(0.2)  # let the ClientHello go out (close() must wake it either way)
    _close_within(stream)
    thread.join(5)
    assert not thread.is_alive(), "start_tls() is still blocked after close()"
    assert len(outcome) == 1
    assert isinstance(outcome[0], netbase.ConnectError)
    assert "closed" in str(outcome[0])
    assert "CLOSED" in repr(stream)


@pytest.mark.sync_only
async def test_a_read_timeout_after_reads_that_filled_their_buffer_keeps_the_stream(
    runtime, echo_server
):
    # Reads under a deadline that fill their buffer try the next recv before
    # polling; when that finds nothing the read must still wait, time out at
    # the deadline, and leave the stream as it was.
    with runtime.module.NetworkBackend().connect("127.0.0.1", echo_server.port) as stream:
        stream.write(b"a" * 100 + b"b" * 100)
        time.sleep(0.05)  # the echo is all waiting to be read
        with netbase.timeout(5):
            assert stream.read(100) == b"a" * 100
            assert stream.read(100) == b"b" * 100
        started = time.monotonic()
        with pytest.raises(netbase.ReadTimeout), netbase.timeout(0.2):
            stream.read(100)
        assert 0.15 < time.monotonic() - started < 2.0
        assert "CLOSED" not in repr(stream)
        with netbase.timeout(5):
            stream.write(b"after")
            assert stream.read(100) == b"after"


def _read_in_a_thread(stream, size):
    """Read `size` bytes from `stream` in a thread (under a deadline): the thread, the bytes."""
    received = bytearray()

    def reader():
        with netbase.timeout(30):
            while len(received) < size:
                received.extend(stream.read())

    thread = threading.Thread(target=reader, name="test-reader")
    thread.start()
    return thread, received


@pytest.mark.sync_only
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_a_write_under_a_deadline_larger_than_the_buffers_arrives_whole(
    runtime, echo_server, tls_echo_server, client_context, tls
):
    # The first non-blocking send takes part of it; the rest waits for room
    # under the same deadline, and every byte arrives in order.
    server = tls_echo_server if tls else echo_server
    payload = bytes(range(256)) * (16 * 1024)  # 4 MiB
    with runtime.module.NetworkBackend().connect("127.0.0.1", server.port) as stream:
        if tls:
            stream.start_tls(client_context, hostname="localhost")
        thread, received = _read_in_a_thread(stream, len(payload))
        with netbase.timeout(30):
            stream.write(memoryview(bytearray(payload)))
        thread.join(30)
        assert not thread.is_alive()
        assert received == payload


@pytest.mark.sync_only
async def test_an_expired_deadline_fails_a_tls_read_with_data_decrypted_and_waiting(
    runtime, tls_echo_server, client_context
):
    with runtime.module.NetworkBackend().connect("127.0.0.1", tls_echo_server.port) as stream:
        stream.start_tls(client_context, hostname="localhost")
        stream.write(b"sent")
        assert stream.read(1) == b"s"  # the rest is held by the TLS layer
        with pytest.raises(netbase.ReadTimeout), netbase.timeout(0):
            stream.read()
        assert stream.read() == b"ent"


@pytest.mark.sync_only
async def test_a_stream_connected_under_a_deadline_waits_when_used_without_one(
    runtime, echo_server
):
    # Connected under a deadline, the socket is not blocking yet: the first
    # read or write with no deadline must still wait, not fail.
    net = runtime.module.NetworkBackend()
    with netbase.timeout(5):
        stream = net.connect("127.0.0.1", echo_server.port)
    with stream:

        def late_writer():
            time.sleep(0.2)
            stream.write(b"late")

        thread = threading.Thread(target=late_writer, name="test-writer")
        thread.start()
        started = time.monotonic()
        assert stream.read() == b"late"  # no deadline: it waits for the echo
        assert time.monotonic() - started > 0.15
        thread.join(5)

    with netbase.timeout(5):
        stream = net.connect("127.0.0.1", echo_server.port)
    with stream:
        payload = b"x" * (4 * 1024 * 1024)
        thread, received = _read_in_a_thread(stream, len(payload))
        stream.write(payload)  # no deadline: it waits for room, however long
        thread.join(30)
        assert not thread.is_alive()
        assert received == payload
