"""Conformance: ``start_tls``, TLS inside TLS, TLS end of stream and close, on every runtime."""

from __future__ import annotations

import ssl

import pytest

import netbase
import servers
from helpers import PROMPT, random_chunks, random_payload, read_exactly, read_until_eof, stopwatch


async def test_start_tls_upgrades_in_place(runtime, net, tls_echo_server, client_context):
    async with await net.connect("127.0.0.1", tls_echo_server.port) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        assert repr(stream) == f'<NetworkStream ["127.0.0.1:{tls_echo_server.port}" TLS]>'
        await stream.write(b"secret")
        assert await stream.read() == b"secret"
        tls = stream.get_extra_info("ssl_object")
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert tls.cipher()[0]
        assert tls.selected_alpn_protocol() is None
        assert tls.getpeercert()["subjectAltName"]
    assert repr(stream) == f'<NetworkStream ["127.0.0.1:{tls_echo_server.port}" TLS CLOSED]>'


async def test_alpn_is_negotiated(runtime, net, ca):
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    server_ctx.set_alpn_protocols(["h2", "http/1.1"])
    server = servers.Server(servers.echo, tls=server_ctx, name="test-alpn")
    client_ctx = netbase.default_ssl_context()
    ca.configure_trust(client_ctx)
    client_ctx.set_alpn_protocols(["http/1.1"])
    try:
        async with await net.connect("localhost", server.port) as stream:
            await stream.start_tls(client_ctx, hostname="localhost")
            assert stream.get_extra_info("ssl_object").selected_alpn_protocol() == "http/1.1"
    finally:
        server.wait_idle(5)
        server.close()


async def test_hostname_defaults_to_the_connect_host(runtime, net, tls_echo_server, client_context):
    async with await net.connect("localhost", tls_echo_server.port) as stream:
        await stream.start_tls(client_context)
        await stream.write(b"sni")
        assert await stream.read() == b"sni"


async def test_default_context_verifies_against_the_system_store(runtime, net, tls_echo_server):
    # ctx=None is netbase.default_ssl_context(): the test CA is not in the
    # system store, so verification fails, which proves verification ran.
    stream = await net.connect("localhost", tls_echo_server.port)
    try:
        with pytest.raises(netbase.ConnectError) as info:
            await stream.start_tls(hostname="localhost")
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        assert "CLOSED" in repr(stream)
    finally:
        await stream.close()


async def test_wrong_hostname_fails_verification(runtime, net, tls_echo_server, client_context):
    stream = await net.connect("127.0.0.1", tls_echo_server.port)
    try:
        with pytest.raises(netbase.ConnectError) as info:
            await stream.start_tls(client_context, hostname="not-this-host.test")
        assert not isinstance(info.value, netbase.TimeoutError)
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        assert "CLOSED" in repr(stream)
        with pytest.raises(netbase.NetworkError, match="closed"):
            await stream.read()
    finally:
        await stream.close()


async def test_peer_closing_mid_handshake_is_connect_error(
    runtime, net, handshake_close_server, client_context
):
    stream = await net.connect("127.0.0.1", handshake_close_server.port)
    try:
        with pytest.raises(netbase.ConnectError) as info:
            async with netbase.timeout(5):
                await stream.start_tls(client_context, hostname="localhost")
        assert not isinstance(info.value, netbase.TimeoutError)
        assert isinstance(info.value.__cause__, OSError)
        assert "CLOSED" in repr(stream)
    finally:
        await stream.close()


async def test_garbage_instead_of_tls_is_connect_error(
    runtime, net, garbage_server, client_context
):
    stream = await net.connect("127.0.0.1", garbage_server.port)
    try:
        with pytest.raises(netbase.ConnectError) as info:
            async with netbase.timeout(5):
                await stream.start_tls(client_context, hostname="localhost")
        assert not isinstance(info.value, netbase.TimeoutError)
        assert isinstance(info.value.__cause__, ssl.SSLError)
    finally:
        await stream.close()


async def test_handshake_timeout_is_prompt(runtime, net, silent_server, client_context):
    stream = await net.connect("127.0.0.1", silent_server.port)
    try:
        with stopwatch() as watch, pytest.raises(netbase.ConnectTimeout):
            async with netbase.timeout(0.2):
                await stream.start_tls(client_context, hostname="localhost")
        assert watch.seconds < 0.2 + PROMPT
        assert "CLOSED" in repr(stream)
    finally:
        await stream.close()


@pytest.mark.parametrize(
    ("ctx", "hostname", "error"),
    [
        ("not a context", None, TypeError),
        (None, b"localhost", TypeError),
        (None, 42, TypeError),
        (None, "", ValueError),
        (None, "local\x00host", ValueError),
        (None, "a" * 254, ValueError),
        (None, "xn--a.example", ValueError),
        (None, "bad..example", ValueError),
        (None, "exa mple.com", ValueError),
    ],
)
async def test_start_tls_rejects_bad_arguments_before_io(
    runtime, net, tls_echo_server, ctx, hostname, error
):
    async with await net.connect("127.0.0.1", tls_echo_server.port) as stream:
        with pytest.raises(error):
            await stream.start_tls(ctx, hostname=hostname)
        assert "CLOSED" not in repr(stream)
        assert "TLS" not in repr(stream)


async def test_start_tls_refuses_a_server_side_context_before_io(
    runtime, net, tls_echo_server, server_context, client_context
):
    """A server's context cannot start a client's handshake: ValueError, stream kept."""
    async with await net.connect("127.0.0.1", tls_echo_server.port) as stream:
        with pytest.raises(ValueError, match="server"):
            await stream.start_tls(server_context, hostname="localhost")
        assert "CLOSED" not in repr(stream)
        assert "TLS" not in repr(stream)
        # Nothing went to the peer: a proper handshake still works.
        await stream.start_tls(client_context, hostname="localhost")
        await stream.write(b"kept")
        assert await read_exactly(stream, 4) == b"kept"


async def test_tls_inside_tls(runtime, net, tls_relay, client_context):
    async with await net.connect("127.0.0.1", tls_relay.port) as stream:
        await stream.start_tls(client_context, hostname="localhost")  # to the relay
        await stream.start_tls(client_context, hostname="tls.test")  # through it, to the echo
        assert repr(stream) == f'<NetworkStream ["127.0.0.1:{tls_relay.port}" TLS]>'
        inner = stream.get_extra_info("ssl_object")
        assert inner.version() in ("TLSv1.2", "TLSv1.3")
        payload = random_payload(1024 * 1024, seed=11)

        async def writer():
            for chunk in random_chunks(payload, seed=12, most=40000):
                await stream.write(chunk)

        async def reader():
            return await read_exactly(stream, len(payload), seed=13)

        async with netbase.timeout(30):
            _, echoed = await runtime.gather(writer, reader)
        assert echoed == payload


async def test_tls_integrity_under_random_chunking(runtime, net, tls_echo_server, client_context):
    payload = random_payload(3 * 1024 * 1024, seed=21)
    async with await net.connect("127.0.0.1", tls_echo_server.port) as stream:
        await stream.start_tls(client_context, hostname="localhost")

        async def writer():
            for chunk in random_chunks(payload, seed=22):
                await stream.write(chunk)

        async def reader():
            return await read_exactly(stream, len(payload), seed=23)

        async with netbase.timeout(30):
            _, echoed = await runtime.gather(writer, reader)
    assert echoed == payload


async def test_tls_duplex_many_small_writes(runtime, net, tls_echo_server, client_context):
    # A reader and a writer at once, many small records each way: on the
    # threaded backend this is two threads inside one SSL object, which must
    # never overlap (OpenSSL's objects are not thread-safe).
    for round_ in range(4):
        payload = random_payload(512 * 1024, seed=40 + round_)
        async with await net.connect("127.0.0.1", tls_echo_server.port) as stream:
            await stream.start_tls(client_context, hostname="localhost")

            async def writer(payload=payload, stream=stream, seed=50 + round_):
                for chunk in random_chunks(payload, seed=seed, most=4096):
                    await stream.write(chunk)

            async def reader(payload=payload, stream=stream, seed=60 + round_):
                return await read_exactly(stream, len(payload), seed=seed)

            async with netbase.timeout(30):
                _, echoed = await runtime.gather(writer, reader)
        assert echoed == payload


@pytest.mark.parametrize("close_notify", [True, False], ids=["close_notify", "ragged"])
async def test_tls_end_of_stream(runtime, net, server_context, client_context, close_notify):
    payload = random_payload(300_000, seed=31)
    server = servers.Server(
        servers.send_then_close(payload, close_notify=close_notify),
        tls=server_context,
        name="test-tls-once",
    )
    try:
        async with await net.connect("127.0.0.1", server.port) as stream:
            await stream.start_tls(client_context, hostname="localhost")
            async with netbase.timeout(10):
                assert await read_until_eof(stream) == payload
                assert await stream.read() == b""
    finally:
        server.wait_idle(5)
        server.close()


async def test_tls_read_timeout_keeps_the_stream(runtime, net, tls_echo_server, client_context):
    async with await net.connect("127.0.0.1", tls_echo_server.port) as stream:
        await stream.start_tls(client_context, hostname="localhost")
        with stopwatch() as watch, pytest.raises(netbase.ReadTimeout):
            async with netbase.timeout(0.2):
                await stream.read()
        assert watch.seconds < 0.2 + PROMPT
        await stream.write(b"after the timeout")
        assert await read_exactly(stream, 17) == b"after the timeout"


async def test_tls_close_does_not_wait_for_a_silent_peer(
    runtime, net, tls_silent_server, client_context
):
    # The peer never answers our close_notify: close must not hang on it.
    stream = await net.connect("127.0.0.1", tls_silent_server.port)
    await stream.start_tls(client_context, hostname="localhost")
    with stopwatch() as watch:
        await stream.close()
    assert watch.seconds < PROMPT
    assert repr(stream).endswith(" TLS CLOSED]>")


async def test_tls_close_never_raises_when_the_peer_is_gone(
    runtime, net, server_context, client_context
):
    server = servers.Server(servers.abort_after_handshake, tls=server_context, name="test-gone")
    try:
        stream = await net.connect("127.0.0.1", server.port)
        await stream.start_tls(client_context, hostname="localhost")
        await runtime.sleep(0.1)  # the reset arrives
        async with netbase.timeout(0.01):
            await stream.close()  # no exception, not even a timeout
        await stream.close()
    finally:
        server.wait_idle(5)
        server.close()


async def test_close_under_expired_deadline_does_not_raise(
    runtime, net, tls_echo_server, client_context
):
    stream = await net.connect("127.0.0.1", tls_echo_server.port)
    await stream.start_tls(client_context, hostname="localhost")
    async with netbase.timeout(0):
        await stream.close()
    assert repr(stream).endswith(" TLS CLOSED]>")


async def test_tls_close_sends_close_notify(runtime, net, server_context, client_context):
    seen = []
    server = servers.Server(servers.record_close(seen), tls=server_context, name="test-notify")
    try:
        stream = await net.connect("127.0.0.1", server.port)
        await stream.start_tls(client_context, hostname="localhost")
        await stream.write(b"bye")
        assert await stream.read() == b"bye"
        await stream.close()
        assert server.wait_idle(5)
        assert seen == ["close_notify"]
    finally:
        server.close()
