"""`Server`: `NetworkBackend.serve()`, a nursery with a task per connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import trio

from netbase import NetworkError
from netbase.lowlevel import ServerBase
from netbase_trio._listener import NetworkListener
from netbase_trio._stream import NetworkStream

__all__ = ["Server"]

Handler = Callable[[NetworkStream], Awaitable[object]]


class Server(ServerBase):
    """Runs `await handler(stream)` in a task of its own nursery for each connection.

    Made by `NetworkBackend.serve()`; `async with server:` accepts until
    the block is left. At most `max_handlers` handlers run at once. Each
    stream is closed when its handler returns; a handler that raises is logged
    to the `"netbase.server"` logger, and neither stops the server nor
    cancels the nursery. Leaving stops accepting, closes the open streams
    (waking their handlers) and waits up to `shutdown_timeout` seconds for
    the handlers, then cancels those still running. An exception from the
    body of `async with` comes out as it is, not in an exception group.
    """

    listener: NetworkListener

    def __init__(
        self,
        listener: NetworkListener,
        handler: Handler,
        *,
        max_handlers: int,
        shutdown_timeout: float,
    ) -> None:
        super().__init__(listener, handler, shutdown_timeout)
        self._slots = trio.Semaphore(max_handlers)
        self._streams: set[NetworkStream] = set()
        self._running = 0
        self._idle = trio.Event()
        self._idle.set()
        self._nursery_manager: Any = None
        self._nursery: trio.Nursery | None = None

    async def __aenter__(self) -> Server:
        manager = trio.open_nursery()
        self._nursery = await manager.__aenter__()
        self._nursery_manager = manager
        self._nursery.start_soon(self._accept_loop)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.close()
        finally:
            # Every child has ended (or been cancelled) by now; the body's own
            # exception is not handed to the nursery, so it is not wrapped.
            await self._nursery_manager.__aexit__(None, None, None)

    async def _accept_loop(self) -> None:
        nursery = self._nursery
        assert nursery is not None
        while True:
            await self._slots.acquire()
            if self._stopping():
                return
            try:
                stream = await self.listener.accept()
            except NetworkError as exc:
                self._slots.release()
                if self._stopping():
                    return
                self._report_accept(exc)
                await trio.sleep(0.1)
                continue
            self._streams.add(stream)
            self._running += 1
            self._idle = trio.Event() if self._running == 1 else self._idle
            nursery.start_soon(self._run, stream)

    async def _run(self, stream: NetworkStream) -> None:
        try:
            await self._handler(stream)
        except Exception as exc:
            self._report(stream, exc)
        finally:
            with trio.CancelScope(shield=True):
                await stream.close()
            self._streams.discard(stream)
            self._slots.release()
            self._running -= 1
            if not self._running:
                self._idle.set()

    async def close(self) -> None:
        """Stop accepting, close the open streams, wait (bounded) for the handlers."""
        if self._closing:
            return
        self._closing = True
        await self.listener.close()
        for stream in list(self._streams):
            await stream.close()
        with trio.move_on_after(self._shutdown_timeout):
            await self._idle.wait()
        if self._running:
            self._report_stuck(self._running, self._shutdown_timeout, "cancelled")
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()  # the accept loop, and handlers left
