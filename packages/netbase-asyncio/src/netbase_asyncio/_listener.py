"""`NetworkListener`: accepts asyncio streams."""

from __future__ import annotations

import asyncio
import math
import socket
import time

from netbase import AsyncNetworkListenerInterface, ConnectTimeout, current_deadline
from netbase.lowlevel import (
    ListenerBase,
    accepted_peer,
    close_on_failure,
    closed_listener_error,
    listening_address,
    set_nodelay,
)
from netbase_asyncio._deadline import Expired, run_until
from netbase_asyncio._stream import NetworkStream

__all__ = ["NetworkListener"]

_monotonic = time.monotonic


class NetworkListener(ListenerBase, AsyncNetworkListenerInterface):
    """A listening TCP (or UNIX) socket; `await accept()` returns a `NetworkStream`.

    Made by `await NetworkBackend.listen()` / `listen_unix()`. Several
    tasks may wait in `accept()` at once; they share one readiness watch on
    the socket, and `close()` wakes them all.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self._address = listening_address(sock)
        self._closed = False
        # Set when the socket is readable (or the listener closed): one
        # add_reader for every waiting task, since a loop keeps one per fd.
        self._readable: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def accept(self) -> NetworkStream:
        """Wait for a connection and return it as an open `NetworkStream`.

        Honours the active `netbase.timeout` (`netbase.ConnectTimeout`).
        On a closed listener, or when `close()` is called while waiting,
        raises `netbase.NetworkError` saying that it is closed. A
        cancellation leaves the listener as it was.
        """
        if self._closed:
            raise closed_listener_error(self)
        deadline = current_deadline()
        if deadline != math.inf and deadline <= _monotonic():
            raise ConnectTimeout("timed out: the deadline passed")
        while True:
            if self._closed:
                raise closed_listener_error(self)
            try:
                conn, peer = self._sock.accept()
            except BlockingIOError:
                pass
            except OSError as exc:
                error = self._accept_failed(exc)
                if error is not None:
                    raise error from exc
                continue
            else:
                break
            try:
                await run_until(asyncio.shield(self._watch()), deadline)
            except Expired as exc:
                raise self._accept_timeout() from exc
        with close_on_failure(conn):
            try:
                set_nodelay(conn)
                return await NetworkStream._adopt(conn, accepted_peer(self._address, peer), None)
            except OSError as exc:
                raise self._adopt_failed(exc) from exc

    def _watch(self) -> asyncio.Future[None]:
        readable = self._readable
        if readable is None:
            loop = asyncio.get_running_loop()
            readable = self._readable = loop.create_future()
            self._loop = loop
            loop.add_reader(self._fd, self._wake)
        return readable

    def _wake(self) -> None:
        readable, loop = self._readable, self._loop
        self._readable = None
        if loop is not None:
            loop.remove_reader(self._fd)
        if readable is not None and not readable.done():
            readable.set_result(None)

    async def close(self) -> None:
        """Stop listening (idempotent); every task waiting in `accept()` wakes and raises."""
        if self._closed:
            return
        self._closed = True
        self._wake()  # the reader goes before the descriptor does
        self._sock.close()
        await asyncio.sleep(0)
