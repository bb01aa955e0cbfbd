"""`NetworkListener`: accepts trio streams."""

from __future__ import annotations

import socket
from typing import Any

import trio

from netbase import AsyncNetworkListenerInterface, ConnectTimeout
from netbase.lowlevel import (
    ListenerBase,
    accepted_peer,
    close_on_failure,
    closed_listener_error,
    listening_address,
    set_nodelay,
)
from netbase_trio._deadline import deadline_for, trio_deadline
from netbase_trio._stream import NetworkStream

__all__ = ["NetworkListener"]


class NetworkListener(ListenerBase, AsyncNetworkListenerInterface):
    """A listening TCP (or UNIX) socket; `await accept()` returns a `NetworkStream`.

    Made by `await NetworkBackend.listen()` / `listen_unix()`. Several
    tasks may wait in `accept()` at once: trio lets only one task wait for a
    socket to become readable, so they take turns through a lock, all under
    their deadlines. `close()` wakes them all.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._address = listening_address(sock)
        self._closed = False
        self._lock = trio.Lock()

    async def accept(self) -> NetworkStream:
        """Wait for a connection and return it as an open `NetworkStream`.

        Honours the active `netbase.timeout` (`netbase.ConnectTimeout`).
        On a closed listener, or when `close()` is called while waiting,
        raises `netbase.NetworkError` saying that it is closed. A
        cancellation stays a `trio.Cancelled` and leaves the listener as it was.
        """
        if self._closed:
            raise closed_listener_error(self)
        deadline = deadline_for(ConnectTimeout)
        if deadline is None:
            conn, peer = await self._accept()
        else:
            with trio.CancelScope(deadline=trio_deadline(deadline)) as scope:
                conn, peer = await self._accept()
            if scope.cancelled_caught:
                raise self._accept_timeout()
        with close_on_failure(conn):
            try:
                set_nodelay(conn)
            except OSError as exc:
                raise self._adopt_failed(exc) from exc
        # No checkpoint from accept() to here: a cancellation cannot lose the socket.
        return NetworkStream._adopt(conn, accepted_peer(self._address, peer), None)

    async def _accept(self) -> tuple[socket.socket, Any]:
        async with self._lock:
            while True:
                if self._closed:
                    raise closed_listener_error(self)
                try:
                    conn, peer = self._sock.accept()
                except BlockingIOError:
                    try:
                        await trio.lowlevel.wait_readable(self._sock)
                    except trio.ClosedResourceError as exc:
                        raise closed_listener_error(self) from exc
                    continue
                except OSError as exc:
                    error = self._accept_failed(exc)
                    if error is not None:
                        raise error from exc
                    continue
                conn.setblocking(False)
                return conn, peer

    async def close(self) -> None:
        """Stop listening (idempotent); every task waiting in `accept()` wakes and raises.

        A checkpoint, like trio's `aclose()`.
        """
        if not self._closed:
            self._closed = True
            # Wakes the task waiting on the socket before the descriptor goes.
            trio.lowlevel.notify_closing(self._sock)
            self._sock.close()
        await trio.lowlevel.checkpoint()
