"""An echo server for load: one asyncio loop in a thread, thousands of connections.

The suite's stdlib servers spend a thread per connection, which is right for
judging a backend by an independent peer but wrong for 1,000 connections at
once. This one uses plain asyncio protocols (no netbase code) with flow
control, and counts live connections and their peak, so a test can prove they
were all held at the same time.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any


class _Echo(asyncio.Protocol):
    def __init__(self, server: LoadEchoServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.server._opened(transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def pause_writing(self) -> None:
        # The client is not reading: stop reading from it until it does.
        assert self.transport is not None
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        assert self.transport is not None
        self.transport.resume_reading()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: BaseException | None) -> None:
        assert self.transport is not None
        self.server._closed(self.transport)


class LoadEchoServer:
    """``LoadEchoServer()`` listens on 127.0.0.1 at once; ``close()`` stops it."""

    def __init__(self, backlog: int = 4096) -> None:
        self.active = 0
        self.peak = 0
        self.accepted = 0
        self._transports: set[Any] = set()
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(backlog)
        self.host, self.port = listener.getsockname()
        self._server = self._loop.run_until_complete(
            self._loop.create_server(lambda: _Echo(self), sock=listener, backlog=backlog)
        )
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-load-echo")
        self._thread.start()

    def _opened(self, transport: Any) -> None:
        with self._cond:
            self._transports.add(transport)
            self.active += 1
            self.accepted += 1
            self.peak = max(self.peak, self.active)

    def _closed(self, transport: Any) -> None:
        with self._cond:
            self._transports.discard(transport)
            self.active -= 1
            self._cond.notify_all()

    def wait_active(self, count: int, timeout: float) -> bool:
        """Wait until exactly ``count`` connections are live."""
        with self._cond:
            return self._cond.wait_for(lambda: self.active == count, timeout)

    def close(self) -> None:
        def stop() -> None:
            self._server.close()
            for transport in list(self._transports):
                transport.abort()
            self._loop.call_soon(self._loop.stop)

        self._loop.call_soon_threadsafe(stop)
        self._thread.join()
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()
