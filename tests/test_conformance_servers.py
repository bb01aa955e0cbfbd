"""Conformance: both ends of the wire. ``connect_tls``, listeners, server-side TLS, ``serve()``.

The client side is the runtime under test (the recording wrappers included);
listeners and servers come from ``runtime.server_backend()``, the runtime's
own backend.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest

import netbase
from drivers import SyncFacade
from helpers import PROMPT, read_exactly, read_until_eof, stopwatch

# -- connect_tls ----------------------------------------------------------------


async def test_connect_tls_is_connect_then_start_tls(runtime, net, tls_echo_server, client_context):
    port = tls_echo_server.port
    async with await net.connect_tls(
        "127.0.0.1", port, hostname="localhost", ctx=client_context
    ) as stream:
        assert repr(stream) == f'<NetworkStream ["127.0.0.1:{port}" TLS]>'
        await stream.write(b"over tls")
        assert await stream.read() == b"over tls"
        assert stream.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    assert repr(stream) == f'<NetworkStream ["127.0.0.1:{port}" TLS CLOSED]>'


async def test_connect_tls_hostname_defaults_to_the_host(
    runtime, net, tls_echo_server, client_context
):
    # The certificate names "localhost": verification passes only if the
    # host was used as the TLS hostname.
    async with await net.connect_tls("localhost", tls_echo_server.port, ctx=client_context) as s:
        await s.write(b"sni")
        assert await s.read() == b"sni"


async def test_connect_tls_failure_closes_the_stream(runtime, net, tls_echo_server):
    # ctx=None is the system store, which does not trust the test CA; the
    # no_leaks fixture proves the connected socket was closed.
    with pytest.raises(netbase.ConnectError) as info:
        await net.connect_tls("localhost", tls_echo_server.port)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


async def test_connect_tls_bad_arguments_before_any_io(runtime, net, echo_server):
    before = echo_server.accepted
    with pytest.raises(TypeError):
        await net.connect_tls("127.0.0.1", echo_server.port, ctx="not a context")
    with pytest.raises(ValueError):
        await net.connect_tls("127.0.0.1", echo_server.port, hostname="")
    with pytest.raises(TypeError):
        await net.connect_tls("127.0.0.1", str(echo_server.port))
    assert echo_server.accepted == before


async def test_connect_tls_under_one_deadline(runtime, net, silent_server, client_context):
    # The server accepts but never answers the ClientHello: the deadline
    # covers the handshake that follows the connect.
    with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout):
        async with netbase.timeout(0.3):
            await net.connect_tls("127.0.0.1", silent_server.port, ctx=client_context)
    assert watch.seconds < 0.3 + PROMPT


async def test_a_custom_backend_gets_connect_tls(runtime, tls_echo_server, client_context):
    # connect() is all a custom backend writes; its streams know no hostname,
    # so verification of "localhost" passes only if connect_tls passes the host.
    module = runtime.module
    if runtime.flavour == "sync":

        class Custom(netbase.NetworkBackendInterface):
            def connect(self, host: str, port: int) -> netbase.NetworkStreamInterface:
                return module.NetworkStream(socket.create_connection((host, port)))

        backend = SyncFacade(Custom())
    else:

        class AsyncCustom(netbase.AsyncNetworkBackendInterface):
            async def connect(self, host: str, port: int) -> netbase.AsyncNetworkStreamInterface:
                sock = socket.create_connection((host, port))  # loopback: does not block
                return await module.NetworkStream.from_socket(sock)

        backend = AsyncCustom()
    async with await backend.connect_tls(
        "localhost", tls_echo_server.port, ctx=client_context
    ) as s:
        assert "TLS" in repr(s)
        await s.write(b"custom")
        assert await s.read() == b"custom"


# -- listeners ------------------------------------------------------------------


async def test_listener_reports_its_ephemeral_port(runtime):
    server_net = runtime.server_backend()
    async with await server_net.listen("127.0.0.1", 0) as listener:
        host, port = listener.address
        assert host == "127.0.0.1"
        assert port > 0
        assert repr(listener) == f'<NetworkListener ["127.0.0.1:{port}"]>'
    assert repr(listener) == f'<NetworkListener ["127.0.0.1:{port}" CLOSED]>'


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_accept_gives_a_full_stream(runtime, net, host):
    server_net = runtime.server_backend()
    async with await server_net.listen(host, 0) as listener:
        port = listener.address[1]
        shown = f"[{host}]" if ":" in host else host

        async def serve_one() -> bytes:
            async with await listener.accept() as stream:
                assert stream.get_extra_info("server_addr")[0] == host
                assert stream.get_extra_info("client_addr") == (host, port)
                assert repr(stream).startswith(f'<NetworkStream ["{shown}:')
                data = await read_exactly(stream, 5)
                await stream.write(data.upper())
                return data

        async def client() -> bytes:
            async with await net.connect(host, port) as stream:
                await stream.write(b"hello")
                return await read_until_eof(stream)

        served, answered = await runtime.gather(serve_one, client)
    assert (served, answered) == (b"hello", b"HELLO")


async def test_listen_unix(runtime, net):
    server_net = runtime.server_backend()
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "server.sock")
        async with await server_net.listen_unix(path) as listener:
            assert listener.address == path
            assert repr(listener) == f'<NetworkListener ["{path}"]>'

            async def serve_one() -> None:
                async with await listener.accept() as stream:
                    await stream.write(await read_exactly(stream, 4))

            async def client() -> bytes:
                async with await net.connect_unix(path) as stream:
                    await stream.write(b"unix")
                    return await read_until_eof(stream)

            _, answered = await runtime.gather(serve_one, client)
        assert answered == b"unix"


async def test_accept_honours_the_deadline(runtime):
    server_net = runtime.server_backend()
    async with await server_net.listen("127.0.0.1", 0) as listener:
        with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout):
            async with netbase.timeout(0.2):
                await listener.accept()
        assert 0.15 < watch.seconds < 0.2 + PROMPT
        # An expired deadline fails at once, and the listener still works.
        with pytest.raises(netbase.ConnectTimeout):
            async with netbase.timeout(0):
                await listener.accept()
        assert "CLOSED" not in repr(listener)


async def test_close_wakes_a_blocked_accept(runtime):
    server_net = runtime.server_backend()
    listener = await server_net.listen("127.0.0.1", 0)
    woke: list[float] = []

    async def blocked() -> None:
        start = time.monotonic()
        with pytest.raises(netbase.NetworkError, match="closed"):
            await listener.accept()
        woke.append(time.monotonic() - start)

    async def closer() -> None:
        await runtime.sleep(0.2)
        await listener.close()

    with stopwatch() as watch:
        await runtime.gather(blocked, blocked, closer)  # two waiters: both wake
    assert watch.seconds < 0.2 + PROMPT
    assert len(woke) == 2
    assert min(woke) >= 0.15
    # And once closed, accept says so at once.
    with pytest.raises(netbase.NetworkError, match="closed"):
        await listener.accept()
    await listener.close()  # idempotent


async def test_concurrent_accepts_each_get_a_client(runtime, net):
    server_net = runtime.server_backend()
    async with await server_net.listen("127.0.0.1", 0) as listener:
        port = listener.address[1]

        async def serve_one() -> bytes:
            async with netbase.timeout(10), await listener.accept() as stream:
                data = await read_exactly(stream, 1)
                await stream.write(data)
                return data

        def client(tag: bytes):
            async def run() -> bytes:
                async with netbase.timeout(10), await net.connect("127.0.0.1", port) as stream:
                    await stream.write(tag)
                    return await read_exactly(stream, 1)

            return run

        results = await runtime.gather(serve_one, serve_one, client(b"a"), client(b"b"))
    assert sorted(results[:2]) == [b"a", b"b"]
    assert results[2:] == [b"a", b"b"]


async def test_listen_errors(runtime):
    server_net = runtime.server_backend()
    async with await server_net.listen("127.0.0.1", 0) as listener:
        port = listener.address[1]
        with pytest.raises(netbase.NetworkError) as info:
            await server_net.listen("127.0.0.1", port)
        assert info.value.errno == errno.EADDRINUSE
        assert isinstance(info.value.__cause__, OSError)
        assert str(port) in str(info.value)
    for host, port, error in [
        ("127.0.0.1", 70000, ValueError),
        ("127.0.0.1", -1, ValueError),
        ("127.0.0.1", "80", TypeError),
        (b"127.0.0.1", 0, TypeError),
        ("", 0, ValueError),
        ("localhost", 0, ValueError),  # an IP address: listen() resolves no names
    ]:
        with pytest.raises(error):
            await server_net.listen(host, port)
    with pytest.raises(ValueError):
        await server_net.listen("127.0.0.1", 0, backlog=-1)


async def test_listen_reuses_an_address_in_time_wait(runtime, net):
    # SO_REUSEADDR: the server side closes first, leaving TIME_WAIT on its
    # port; a new listener binds the same port at once.
    server_net = runtime.server_backend()
    listener = await server_net.listen("127.0.0.1", 0)
    port = listener.address[1]

    async def serve_one() -> None:
        stream = await listener.accept()
        await stream.close()

    async def client() -> None:
        async with await net.connect("127.0.0.1", port) as stream:
            assert await read_until_eof(stream) == b""

    await runtime.gather(serve_one, client)
    await listener.close()
    async with await server_net.listen("127.0.0.1", port) as again:
        assert again.address == ("127.0.0.1", port)


# -- server-side TLS --------------------------------------------------------------


async def test_server_side_tls_arguments(runtime, net, client_context, server_context):
    server_net = runtime.server_backend()
    async with await server_net.listen("127.0.0.1", 0) as listener:
        port = listener.address[1]

        async def serve_one() -> None:
            async with await listener.accept() as stream:
                with pytest.raises(TypeError):
                    await stream.start_tls(server_side=True)  # no default server context
                with pytest.raises(ValueError):
                    await stream.start_tls(client_context, server_side=True)
                with pytest.raises(ValueError):
                    await stream.start_tls(server_context, "localhost", server_side=True)
                assert "CLOSED" not in repr(stream)  # no I/O happened
                await stream.write(b"ok")

        async def client() -> bytes:
            async with await net.connect("127.0.0.1", port) as stream:
                return await read_until_eof(stream)

        _, answer = await runtime.gather(serve_one, client)
    assert answer == b"ok"


def _stdlib_tls_client(port: int, ca_pem: str, out: list[object]) -> None:
    ctx = ssl.create_default_context(cafile=ca_pem)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"ping")
            out.append(tls.recv(100))
            out.append(tls.version())
    except BaseException as exc:  # reported by the test
        out.append(exc)


async def test_server_side_tls_against_the_stdlib_client(runtime, server_context, ca):
    server_net = runtime.server_backend()
    out: list[object] = []
    with ca.cert_pem.tempfile() as ca_pem:
        async with await server_net.listen("127.0.0.1", 0) as listener:
            client = threading.Thread(
                target=_stdlib_tls_client, args=(listener.address[1], ca_pem, out)
            )
            client.start()
            try:
                async with netbase.timeout(10), await listener.accept() as stream:
                    await stream.start_tls(server_context, server_side=True)
                    assert "TLS" in repr(stream)
                    assert stream.get_extra_info("ssl_object").version() == "TLSv1.3"
                    assert await read_exactly(stream, 4) == b"ping"
                    await stream.write(b"pong")
            finally:
                client.join(10)
    assert out == [b"pong", "TLSv1.3"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
async def test_server_side_tls_against_openssl_s_client(runtime, server_context, ca):
    server_net = runtime.server_backend()
    with ca.cert_pem.tempfile() as ca_pem:
        async with await server_net.listen("127.0.0.1", 0) as listener:
            command = [
                "openssl", "s_client", "-quiet", "-verify_return_error",
                "-connect", f"127.0.0.1:{listener.address[1]}",
                "-servername", "localhost", "-verify_hostname", "localhost", "-CAfile", ca_pem,
            ]  # fmt: skip
            proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            try:
                assert proc.stdin is not None
                proc.stdin.write(b"ping\n")
                proc.stdin.flush()
                async with netbase.timeout(10), await listener.accept() as stream:
                    await stream.start_tls(server_context, server_side=True)
                    assert await read_exactly(stream, 5) == b"ping\n"
                    await stream.write(b"pong\n")
                out, err = proc.communicate(timeout=10)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
    assert out == b"pong\n", err


# -- serve() ----------------------------------------------------------------------


async def echo_once(stream) -> None:
    """Read what the client sends (up to a newline), send it back; the server closes."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = await stream.read()
        if not chunk:
            return
        data += chunk
    await stream.write(data)


async def test_serve_500_concurrent_clients(runtime, net):
    server_net = runtime.server_backend()
    count = 500
    async with server_net.serve("127.0.0.1", 0, echo_once) as server:
        assert repr(server.listener) == f'<NetworkListener ["127.0.0.1:{server.port}"]>'
        async with netbase.timeout(60):
            streams = []
            try:
                for _ in range(count):  # all 500 connected at once
                    streams.append(await net.connect("127.0.0.1", server.port))
                for i, stream in enumerate(streams):
                    await stream.write(b"%d\n" % i)
                for i, stream in enumerate(streams):
                    # The server closes each stream when its handler returns.
                    assert await read_until_eof(stream) == b"%d\n" % i
            finally:
                for stream in streams:
                    await stream.close()
    assert "CLOSED" in repr(server.listener)


async def test_serve_keeps_serving_when_a_handler_raises(runtime, net, caplog):
    server_net = runtime.server_backend()

    async def handler(stream) -> None:
        data = await stream.read()
        if data == b"boom":
            raise RuntimeError("the handler failed")
        await stream.write(data)

    with caplog.at_level(logging.ERROR, logger="netbase.server"):
        async with server_net.serve("127.0.0.1", 0, handler) as server, netbase.timeout(10):
            async with await net.connect("127.0.0.1", server.port) as stream:
                await stream.write(b"boom")
                assert await read_until_eof(stream) == b""  # closed by the server
            async with await net.connect("127.0.0.1", server.port) as stream:
                await stream.write(b"fine")
                assert await stream.read() == b"fine"
    failures = [r for r in caplog.records if r.name == "netbase.server"]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert isinstance(failures[0].exc_info[1], RuntimeError)


async def test_serve_exit_closes_open_streams_and_waits(runtime, net, caplog):
    server_net = runtime.server_backend()
    started: list[bool] = []
    finished: list[bytes | BaseException] = []

    async def handler(stream) -> None:
        started.append(True)
        try:
            # The client sends nothing: blocked until the shutdown wakes it,
            # with an end of stream or a NetworkError.
            finished.append(await stream.read())
        except netbase.NetworkError as exc:
            finished.append(exc)
            raise

    with caplog.at_level(logging.ERROR, logger="netbase.server"), stopwatch() as watch:
        async with server_net.serve("127.0.0.1", 0, handler, shutdown_timeout=5) as server:
            client = await net.connect("127.0.0.1", server.port)
            deadline = time.monotonic() + 10
            while not started and time.monotonic() < deadline:
                await runtime.sleep(0.01)
            assert started
    try:
        assert watch.seconds < 5  # the handler was woken, not waited out
        assert len(finished) == 1
        assert finished[0] == b"" or isinstance(finished[0], netbase.NetworkError)
        assert await read_until_eof(client) == b""
    finally:
        await client.close()
    # A handler woken by the shutdown is the shutdown, not an error to report.
    assert not [r for r in caplog.records if r.name == "netbase.server"]


async def test_serve_bad_arguments_before_any_io(runtime):
    server_net = runtime.server_backend()

    async def handler(stream) -> None:
        return None

    with pytest.raises(ValueError):
        server_net.serve("127.0.0.1", 70000, handler)
    with pytest.raises(TypeError):
        server_net.serve("127.0.0.1", 0, "not callable")
    with pytest.raises(ValueError):
        server_net.serve("127.0.0.1", 0, handler, max_handlers=0)
    with pytest.raises(ValueError):
        server_net.serve("127.0.0.1", 0, handler, shutdown_timeout=math.nan)


async def test_tls_client_and_server_both_on_netbase(runtime, net, server_context, client_context):
    server_net = runtime.server_backend()

    async def handler(stream) -> None:
        await stream.start_tls(server_context, server_side=True)
        tls = stream.get_extra_info("ssl_object")
        assert tls.version() == "TLSv1.3"
        assert tls.server_side
        line = await stream.read()
        await stream.write(b"hello, " + line)

    async with (
        server_net.serve("127.0.0.1", 0, handler) as server,
        netbase.timeout(10),
        await net.connect_tls(
            "127.0.0.1", server.port, hostname="localhost", ctx=client_context
        ) as stream,
    ):
        assert not stream.get_extra_info("ssl_object").server_side
        await stream.write(b"netbase")
        assert await read_until_eof(stream) == b"hello, netbase"


async def test_serve_exit_wakes_a_handler_in_the_tls_handshake(
    runtime, net, server_context, caplog
):
    server_net = runtime.server_backend()
    started: list[bool] = []
    outcome: list[BaseException | None] = []

    async def handler(stream) -> None:
        started.append(True)
        try:
            await stream.start_tls(server_context, server_side=True)  # no ClientHello comes
        except netbase.NetworkError as exc:
            outcome.append(exc)
            raise
        outcome.append(None)

    with caplog.at_level(logging.ERROR, logger="netbase.server"), stopwatch() as watch:
        async with server_net.serve("127.0.0.1", 0, handler) as server:
            client = await net.connect("127.0.0.1", server.port)
            deadline = time.monotonic() + 10
            while not started and time.monotonic() < deadline:
                await runtime.sleep(0.01)
            assert started
    try:
        assert watch.seconds < 5
        assert len(outcome) == 1
        assert isinstance(outcome[0], netbase.ConnectError)
        assert await read_until_eof(client) == b""
    finally:
        await client.close()
    assert not [r for r in caplog.records if r.name == "netbase.server"]
