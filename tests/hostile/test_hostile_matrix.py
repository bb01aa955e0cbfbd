"""The failure matrix: operation x peer fault x layers, on every runtime and recording wrapper.

The contract: the call that meets a failure raises it (a write whose bytes the
kernel refuses raises ``WriteError`` then, never later and never as an end of
stream on the next read; the same for ``read``, ``start_tls`` and every TLS
layer), with the native cause chained; after a ``ReadError`` or ``WriteError``
the stream is closed and says so; an end of stream is ``b""`` and stays
``b""``; ``close()`` never raises. Each cell below names the call that must
raise, the exception, and the stream's state afterwards.

Layers: ``plain``, ``tls``, ``tls-in-tls`` (the peer plays both the proxy's
TLS and the origin's inside it). The peer (``matrixpeer.py``) faults at a
known point: after sending ``b"hello"`` and reading ``b"go"``, so both ends
are idle and every byte before the fault has been read; or in the middle of
the handshake of the last layer.

A reset is an error wherever it lands (between records or in the middle of
one), unless the peer's FIN came first: then the end of stream has already
been read (servers closing a ``Connection: close`` exchange often reset after
their FIN).
"""

from __future__ import annotations

import pytest
from hostile_util import assert_chained, is_closed, until

import netbase
import servers
from helpers import read_exactly

LAYERS = {"plain": 0, "tls": 1, "tls-in-tls": 2}
# Truncation and close_notify need TLS. Every fault on one TLS layer; inside
# TLS, those whose bytes cross both layers differently (kept small: every cell
# costs two handshakes).
PLAIN_FAULTS = ("rst", "fin", "close")
TLS_FAULTS = ("rst", "fin", "close", "close_notify_rst", "truncated_rst", "truncated_fin")
READ_CELLS = (
    [("plain", fault) for fault in PLAIN_FAULTS]
    + [("tls", fault) for fault in TLS_FAULTS]
    + [("tls-in-tls", fault) for fault in ("rst", "fin", "close_notify_rst", "truncated_rst")]
)
# A write meets a reset the same way whatever the reset followed.
WRITE_CELLS = (
    [("plain", fault) for fault in PLAIN_FAULTS]
    + [("tls", fault) for fault in ("rst", "fin", "close", "truncated_rst")]
    + [("tls-in-tls", fault) for fault in ("rst", "close")]
)
RESETS = ("rst", "close_notify_rst", "truncated_rst")
HALF_CLOSES = ("fin", "truncated_fin")
DEADLINE = 5.0


async def faulted(runtime, net, peer, layer, client_context):
    """A stream through every layer, idle, once the peer's fault is done."""
    stream = await net.connect(peer.host, peer.port)
    async with netbase.timeout(DEADLINE):
        for _ in range(LAYERS[layer]):
            await stream.start_tls(client_context, hostname="localhost")
        assert await read_exactly(stream, 5) == b"hello"
        await stream.write(b"go")
    await until(runtime, peer.fault_done.is_set)
    return stream


async def closes_quietly(stream) -> None:
    """close() never raises (not even under an expired deadline), and stays closed."""
    async with netbase.timeout(0):
        await stream.close()
    await stream.close()
    assert is_closed(stream)


def assert_broken(exc, kind) -> None:
    assert isinstance(exc, kind), repr(exc)
    assert not isinstance(exc, netbase.TimeoutError), repr(exc)
    assert_chained(exc)


# -- read -----------------------------------------------------------------------------


@pytest.mark.parametrize(("layer", "fault"), READ_CELLS)
async def test_read_after_a_fault(runtime, net, matrix_peer, client_context, layer, fault):
    peer = matrix_peer(LAYERS[layer], fault)
    stream = await faulted(runtime, net, peer, layer, client_context)
    async with netbase.timeout(DEADLINE):
        if fault in RESETS and fault != "close_notify_rst":
            # The read meets the reset; nothing of a cut record is delivered.
            with pytest.raises(netbase.ReadError) as info:
                await stream.read()
            assert_broken(info.value, netbase.ReadError)
            assert is_closed(stream)
            with pytest.raises(netbase.ReadError, match="closed"):
                await stream.read()
        else:
            # FIN, close_notify, a record cut short by a FIN: end of stream, for good.
            assert await stream.read() == b""
            assert await stream.read() == b""
            assert not is_closed(stream)
    await closes_quietly(stream)


# -- write ----------------------------------------------------------------------------


@pytest.mark.parametrize(("layer", "fault"), WRITE_CELLS)
async def test_write_after_a_fault(runtime, net, matrix_peer, client_context, layer, fault):
    peer = matrix_peer(LAYERS[layer], fault)
    stream = await faulted(runtime, net, peer, layer, client_context)
    async with netbase.timeout(DEADLINE):
        if fault in HALF_CLOSES:
            # A half-closed peer still reads: writes go through.
            await stream.write(b"x" * 1000)
            await until(runtime, lambda: peer.received_after_fault >= 1000)
            assert not is_closed(stream)
        else:
            if fault == "close":
                # The peer has closed: the kernel may take this one (the peer
                # answers it with a reset), or already know.
                try:
                    await stream.write(b"first")
                except netbase.WriteError as exc:
                    assert_broken(exc, netbase.WriteError)
                else:
                    await runtime.sleep(0.05)  # the reset comes back (loopback: at once)
            if not is_closed(stream):
                # This write meets the reset (EPIPE / ECONNRESET): it raises.
                with pytest.raises(netbase.WriteError) as info:
                    await stream.write(b"second")
                assert_broken(info.value, netbase.WriteError)
            assert is_closed(stream)
            # ...and the failure is not heard of again as an end of stream.
            with pytest.raises(netbase.ReadError, match="closed"):
                await stream.read()
    await closes_quietly(stream)


# -- start_tls -------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["tls", "tls-in-tls"])
@pytest.mark.parametrize("fault", ["rst", "fin", "close"])
async def test_start_tls_meets_a_fault(runtime, net, matrix_peer, client_context, layer, fault):
    peer = matrix_peer(LAYERS[layer], fault, at="handshake")
    stream = await net.connect(peer.host, peer.port)
    async with netbase.timeout(DEADLINE):
        for _ in range(LAYERS[layer] - 1):
            await stream.start_tls(client_context, hostname="localhost")
        with pytest.raises(netbase.ConnectError) as info:
            await stream.start_tls(client_context, hostname="localhost")
    assert_broken(info.value, netbase.ConnectError)
    assert is_closed(stream)
    with pytest.raises(netbase.WriteError, match="closed"):
        await stream.write(b"x")
    await closes_quietly(stream)


# -- connect ---------------------------------------------------------------------------


async def test_connect_refused(runtime, net):
    port = servers.unused_port()
    async with netbase.timeout(DEADLINE):
        with pytest.raises(netbase.ConnectError) as info:
            await net.connect("127.0.0.1", port)
    assert_broken(info.value, netbase.ConnectError)


async def test_connect_to_a_peer_that_resets_at_once(runtime, net):
    """Whichever call meets the reset raises it.

    The TCP handshake completes before the peer resets, so connect usually
    succeeds and the read meets the reset; but a connect that is still
    checking its socket when the reset lands meets it itself.
    """
    server = servers.Server(servers.abort, name="matrix-abort")
    try:
        try:
            stream = await net.connect(server.host, server.port)
        except netbase.ConnectError as exc:
            assert_broken(exc, netbase.ConnectError)
            return
        async with netbase.timeout(DEADLINE):
            await until(runtime, lambda: stream.get_extra_info("is_readable"))
            with pytest.raises(netbase.ReadError) as info:
                await stream.read()
        assert_broken(info.value, netbase.ReadError)
        assert is_closed(stream)
        await closes_quietly(stream)
    finally:
        server.wait_idle(5)
        server.close()
