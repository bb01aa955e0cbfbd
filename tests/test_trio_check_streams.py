"""trio only: trio's own stream conformance checks, run on netbase_trio streams.

``trio.testing.check_two_way_stream`` is what trio runs on ``SocketStream``
and ``SSLStream``: checkpoints on every operation, waking a blocked reader or
writer on close, cancelled closes still closing, 1 MiB of random duplex
traffic... It speaks ``trio.abc.Stream``, so a thin adapter maps the names
(read -> receive_some, write -> send_all, close -> aclose) and netbase's errors
to trio's: ``ClosedResourceError`` after our own close, ``BrokenResourceError``
after a failure, ``BusyResourceError`` for two senders or two receivers (trio
streams detect that; netbase leaves it to the caller, so the adapter does).
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
import trio
import trio.testing

import netbase

pytestmark = pytest.mark.runtimes("trio")


class Adapter(trio.abc.Stream):
    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.closed = False
        self.broken = False
        self.sending = False
        self.receiving = False

    def _check(self, flag: str) -> None:
        if self.closed:
            raise trio.ClosedResourceError
        if getattr(self, flag):
            raise trio.BusyResourceError

    def _translate(self, exc: netbase.NetworkError) -> BaseException:
        if self.closed:
            return trio.ClosedResourceError()
        self.broken = True
        return trio.BrokenResourceError()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._check("sending")
        if self.broken:
            await trio.lowlevel.checkpoint()
            raise trio.BrokenResourceError
        self.sending = True
        try:
            await self.stream.write(data)
        except netbase.NetworkError as exc:
            raise self._translate(exc) from exc
        finally:
            self.sending = False

    async def wait_send_all_might_not_block(self) -> None:
        self._check("sending")
        self.sending = True
        try:
            await trio.lowlevel.wait_writable(self.stream.get_extra_info("socket"))
        finally:
            self.sending = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        self._check("receiving")
        self.receiving = True
        try:
            return await self.stream.read(max_bytes)  # type: ignore[no-any-return]
        except netbase.NetworkError as exc:
            raise self._translate(exc) from exc
        finally:
            self.receiving = False

    async def aclose(self) -> None:
        self.closed = True
        await self.stream.close()


async def plain_pair() -> tuple[Adapter, Adapter]:
    import netbase_trio

    a, b = socket.socketpair()
    left = await netbase_trio.NetworkStream.from_socket(a)
    right = await netbase_trio.NetworkStream.from_socket(b)
    return Adapter(left), Adapter(right)


async def test_trio_check_two_way_stream_on_plain_streams(runtime):
    await trio.testing.check_two_way_stream(plain_pair, None)


async def test_trio_check_two_way_stream_on_tls_streams(runtime, server_context, client_context):
    """The client end is netbase TLS (its SSLObject layer); the server end trio's SSLStream."""
    import netbase_trio

    async def tls_pair() -> tuple[Any, Any]:
        a, b = socket.socketpair()
        client = await netbase_trio.NetworkStream.from_socket(a)
        server = trio.SSLStream(
            trio.SocketStream(trio.socket.from_stdlib_socket(b)), server_context, server_side=True
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.do_handshake)
            await client.start_tls(client_context, hostname="localhost")
        return Adapter(client), server

    await trio.testing.check_two_way_stream(tls_pair, None)
