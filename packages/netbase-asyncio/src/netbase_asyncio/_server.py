"""`Server`: `NetworkBackend.serve()`, a task per connection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType

from netbase import NetworkError
from netbase.lowlevel import ServerBase
from netbase_asyncio._listener import NetworkListener
from netbase_asyncio._stream import NetworkStream

__all__ = ["Server"]

Handler = Callable[[NetworkStream], Awaitable[object]]


class Server(ServerBase):
    """Runs `await handler(stream)` in a task of its own for each connection.

    Made by `NetworkBackend.serve()`; `async with server:` accepts (in a
    task) until the block is left. At most `max_handlers` handlers run at
    once. Each stream is closed when its handler returns; a handler that
    raises is logged to the `"netbase.server"` logger and the server goes
    on. Leaving stops accepting, closes the open streams (waking their
    handlers) and waits up to `shutdown_timeout` seconds for the handlers,
    then cancels those still running.
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
        self._max_handlers = max_handlers
        self._slots: asyncio.Semaphore | None = None
        self._streams: set[NetworkStream] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepter: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Server:
        self._slots = asyncio.Semaphore(self._max_handlers)
        self._accepter = asyncio.ensure_future(self._accept_loop())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _accept_loop(self) -> None:
        slots = self._slots
        assert slots is not None
        loop = asyncio.get_running_loop()
        while True:
            await slots.acquire()
            if self._stopping():
                return
            try:
                stream = await self.listener.accept()
            except NetworkError as exc:
                slots.release()
                if self._closing:
                    return
                self._report_accept(exc)
                await asyncio.sleep(0.1)
                continue
            if self._stopping():
                await stream.close()
                return
            self._streams.add(stream)
            task = loop.create_task(self._run(stream))
            self._tasks.add(task)

    async def _run(self, stream: NetworkStream) -> None:
        try:
            await self._handler(stream)
        except Exception as exc:
            self._report(stream, exc)
        finally:
            try:
                await stream.close()
            finally:
                self._streams.discard(stream)
                task = asyncio.current_task()
                if task is not None:
                    self._tasks.discard(task)
                assert self._slots is not None
                self._slots.release()

    async def close(self) -> None:
        """Stop accepting, close the open streams, wait (bounded) for the handlers."""
        if self._closing:
            return
        self._closing = True
        await self.listener.close()
        if self._slots is not None:
            self._slots.release()  # wakes the accept loop if it waits for a slot
        if self._accepter is not None:
            await asyncio.wait({self._accepter})
        for stream in list(self._streams):
            await stream.close()
        tasks = set(self._tasks)
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=self._shutdown_timeout)
        if pending:
            self._report_stuck(len(pending), self._shutdown_timeout, "cancelled")
            for task in pending:
                task.cancel()
            await asyncio.wait(pending)
