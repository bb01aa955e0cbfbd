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
