"""`NetworkListener`: accepts threaded streams."""

from __future__ import annotations

import math
import select
import socket
import threading
import time
from typing import Any

from netbase import NetworkListenerInterface, current_deadline
from netbase.lowlevel import (
    ListenerBase,
    accepted_peer,
    close_on_failure,
    closed_listener_error,
    listening_address,
    set_nodelay,
)
from netbase_threaded._stream import NetworkStream

__all__ = ["NetworkListener"]

_monotonic = time.monotonic


class NetworkListener(ListenerBase, NetworkListenerInterface):
    """A listening TCP (or UNIX) socket; `accept()` returns a `NetworkStream`.

    Made by `NetworkBackend.listen()` / `listen_unix()`. Several threads
    may wait in `accept()` at once; `close()` from any thread wakes them
    all (through a socket pair each waiter polls along with the listener,
    since closing a descriptor does not wake a thread blocked on it).
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._address = listening_address(sock)
        self._closed = False
        self._lock = threading.Lock()
        self._waiters = 0
        self._wake_recv, self._wake_send = socket.socketpair()

    def accept(self) -> NetworkStream:
        """Wait for a connection and return it as an open `NetworkStream`.

        Honours the active `netbase.timeout` (`netbase.ConnectTimeout`).
        On a closed listener, or when `close()` is called while waiting,
        raises `netbase.NetworkError` saying that it is closed.
        """
        deadline = current_deadline()
        with self._lock:
            if self._closed:
                raise closed_listener_error(self)
            self._waiters += 1
        try:
            conn, peer = self._accept(deadline)
        finally:
            with self._lock:
                self._waiters -= 1
                if self._is_closed() and not self._waiters:
                    self._close_wakers()
        with close_on_failure(conn):
            try:
                conn.setblocking(True)
                set_nodelay(conn)
            except OSError as exc:
                raise self._adopt_failed(exc) from exc
        return NetworkStream._adopt(conn, accepted_peer(self._address, peer), None)

    def _accept(self, deadline: float) -> tuple[socket.socket, Any]:
        poller = select.poll()
        poller.register(self._sock, select.POLLIN)
        poller.register(self._wake_recv, select.POLLIN)
        while True:
            if self._closed:
                raise closed_listener_error(self)
            if deadline != math.inf and _monotonic() >= deadline:
                raise self._accept_timeout()
            try:
                return self._sock.accept()
            except BlockingIOError:
                pass
            except OSError as exc:
                error = self._accept_failed(exc)
                if error is not None:
                    raise error from exc
                continue
            wait_ms = None if deadline == math.inf else max(0.0, deadline - _monotonic()) * 1000
            poller.poll(wait_ms)

    def close(self) -> None:
        """Stop listening (idempotent); every thread waiting in `accept()` wakes and raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._waiters:
                try:
                    self._wake_send.send(b"x")
                except OSError:
                    pass
            else:
                self._close_wakers()
        self._sock.close()

    def _is_closed(self) -> bool:
        return self._closed  # a call: close() may run in another thread meanwhile

    def _close_wakers(self) -> None:
        self._wake_recv.close()
        self._wake_send.close()
