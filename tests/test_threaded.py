"""What only the threaded backend has: NetworkStream(sock), and threads."""

from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest

import netbase

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
