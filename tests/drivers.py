"""Runtime drivers: how the one conformance suite runs on every backend.

Conformance tests are written once, as ``async def`` functions that take the
``runtime`` fixture and use the async interface. Each driver says how to run
such a function and how to make a backend:

- ``threaded``: the backend is wrapped in :class:`SyncFacade`, whose methods
  are coroutines that call the blocking methods straight through, in the test's
  own thread, and the test coroutine is stepped once: it never suspends.
  So the test really drives the blocking API, with the real context variables.
- ``asyncio``, ``uvloop``, ``trio``: the backend as it is, under its loop.

A new backend is proven by adding a driver here (and naming it in
``DRIVERS``); no test changes.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any


class Driver:
    """What the suite needs to know about one runtime."""

    name: str = ""
    flavour: str = "async"  # or "sync"
    module_name: str = ""
    # What repr(backend) must be: <NetworkBackend [threaded]>, [asyncio] (uvloop too), [trio].
    backend_repr: str = ""

    @functools.cached_property
    def module(self) -> Any:
        return importlib.import_module(self.module_name)

    def available(self) -> bool:
        try:
            self.module  # noqa: B018
        except ImportError:
            return False
        return True

    def backend(self, **options: Any) -> Any:
        """A backend with the async interface (a facade for sync backends)."""
        return self.module.NetworkBackend(**options)

    def wrap_socket(self, sock: socket.socket) -> Awaitable[Any]:
        """The runtime's documented stream-from-a-connected-socket constructor."""
        raise NotImplementedError

    def server_backend(self) -> Any:
        """The runtime's own backend, for listeners and servers (async interface).

        The recording drivers record the client side; their server side is the
        wrapped runtime's.
        """
        return self.backend()

    def run(self, fn: Callable[..., Coroutine[Any, Any, Any]], **kwargs: Any) -> Any:
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    async def gather(self, *fns: Callable[[], Coroutine[Any, Any, Any]]) -> list[Any]:
        """Run the functions concurrently (tasks, or threads for sync) and return results."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


# -- the sync side ------------------------------------------------------------


def step(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (the sync facade's) to its end."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a sync-driver test awaited something that suspends")


class SyncFacade:
    """Async-looking methods over a sync object: ``await f.read()`` calls ``read()``."""

    _async_methods = frozenset(
        {
            "read",
            "write",
            "start_tls",
            "close",
            "connect",
            "connect_unix",
            "connect_tls",
            "listen",
            "listen_unix",
            "accept",
            "sleep",
            "acquire",
            "wait",
            "resolve",
        }
    )

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name == "serve":
            # An async test handler, run to its end in the server's handler thread.
            def serve(host: str, port: int, handler: Any, **kwargs: Any) -> SyncFacade:
                def sync_handler(stream: Any) -> None:
                    step(handler(SyncFacade(stream)))

                if not inspect.iscoroutinefunction(handler):
                    return SyncFacade(attr(host, port, handler, **kwargs))
                return SyncFacade(attr(host, port, sync_handler, **kwargs))

            return serve
        if name not in self._async_methods and not name.startswith("create_"):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if name in (
                "connect",
                "connect_unix",
                "connect_tls",
                "accept",
                "listen",
                "listen_unix",
            ):
                return SyncFacade(result)
            return result

        if name in ("create_semaphore", "create_event", "create_lock"):
            return lambda *args, **kwargs: SyncFacade(attr(*args, **kwargs))
        return call

    async def __aenter__(self) -> SyncFacade:
        self.inner.__enter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.inner.__exit__(*exc_info)

    def __repr__(self) -> str:
        return repr(self.inner)


class ThreadedDriver(Driver):
    name = "threaded"
    flavour = "sync"
    module_name = "netbase_threaded"
    backend_repr = "<NetworkBackend [threaded]>"

    def backend(self, **options: Any) -> Any:
        return SyncFacade(self.module.NetworkBackend(**options))

    async def wrap_socket(self, sock: socket.socket) -> Any:
        return SyncFacade(self.module.NetworkStream(sock))

    def run(self, fn: Callable[..., Coroutine[Any, Any, Any]], **kwargs: Any) -> Any:
        return step(fn(**kwargs))

    async def sleep(self, seconds: float) -> None:
        import time

        time.sleep(seconds)

    async def gather(self, *fns: Callable[[], Coroutine[Any, Any, Any]]) -> list[Any]:
        results: list[Any] = [None] * len(fns)
        errors: list[BaseException] = []

        def target(i: int) -> None:
            try:
                results[i] = step(fns[i]())
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=target, args=(i,), name=f"test-gather-{i}")
            for i in range(len(fns))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return results


# -- asyncio ----------------------------------------------------------------


class AsyncioDriver(Driver):
    name = "asyncio"
    module_name = "netbase_asyncio"
    backend_repr = "<NetworkBackend [asyncio]>"

    def new_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    async def wrap_socket(self, sock: socket.socket) -> Any:
        return await self.module.NetworkStream.from_socket(sock)

    def run(self, fn: Callable[..., Coroutine[Any, Any, Any]], **kwargs: Any) -> Any:
        loop = self.new_loop()
        try:
            result = loop.run_until_complete(self._checked(fn, kwargs))
            loop.run_until_complete(loop.shutdown_asyncgens())
            # Resolver lookups run in the default executor: join its threads.
            loop.run_until_complete(loop.shutdown_default_executor())
            return result
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    async def _checked(self, fn: Callable[..., Coroutine[Any, Any, Any]], kwargs: Any) -> Any:
        result = await fn(**kwargs)
        # Let callbacks scheduled by closing transports run, then check that
        # nothing the backend started is still pending.
        for _ in range(3):
            await asyncio.sleep(0)
        current = asyncio.current_task()
        left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
        if left:
            for task in left:
                task.cancel()
            raise AssertionError(f"tasks left pending after the test: {left}")
        return result

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def gather(self, *fns: Callable[[], Coroutine[Any, Any, Any]]) -> list[Any]:
        return list(await asyncio.gather(*(fn() for fn in fns)))


class UvloopDriver(AsyncioDriver):
    name = "uvloop"

    def available(self) -> bool:
        try:
            import uvloop
        except ImportError:
            return False
        # libuv opens a process-wide pipe with the first loop and keeps it for
        # good: open it here, before any test takes its file-descriptor baseline.
        uvloop.new_event_loop().close()
        return super().available()

    def new_loop(self) -> asyncio.AbstractEventLoop:
        import uvloop

        return uvloop.new_event_loop()


# -- trio -------------------------------------------------------------------


class TrioDriver(Driver):
    name = "trio"
    module_name = "netbase_trio"
    backend_repr = "<NetworkBackend [trio]>"

    async def wrap_socket(self, sock: socket.socket) -> Any:
        return await self.module.NetworkStream.from_socket(sock)

    def run(self, fn: Callable[..., Coroutine[Any, Any, Any]], **kwargs: Any) -> Any:
        import trio

        return trio.run(functools.partial(fn, **kwargs))

    async def sleep(self, seconds: float) -> None:
        import trio

        await trio.sleep(seconds)

    async def gather(self, *fns: Callable[[], Coroutine[Any, Any, Any]]) -> list[Any]:
        import trio

        results: list[Any] = [None] * len(fns)

        async def run_one(i: int) -> None:
            results[i] = await fns[i]()

        async with trio.open_nursery() as nursery:
            for i in range(len(fns)):
                nursery.start_soon(run_one, i)
        return results


DRIVERS: dict[str, Driver] = {
    driver.name: driver
    for driver in (ThreadedDriver(), AsyncioDriver(), UvloopDriver(), TrioDriver())
}


def is_async_test(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn)


# -- netbase-recording: the same suite through the recording wrappers ---------
#
# The backend is RecordingBackend / AsyncRecordingBackend around the runtime's
# own. Recording must change neither bytes nor semantics, so every clause must
# hold through it. One thing differs by design: the wrapper's reprs say what
# they wrap (<RecordingStream around <NetworkStream [...]>>), so the view below
# shows the wrapped stream's repr where the suite checks a stream's repr; the
# wrapper's own reprs are tested in test_recording_*.py.


class RecordingFacade(SyncFacade):
    """SyncFacade over a recording backend or stream, with the wrapped stream's repr."""

    def __getattr__(self, name: str) -> Any:
        if name in ("connect", "connect_unix", "connect_tls"):
            attr = getattr(self.inner, name)

            async def connect(*args: Any, **kwargs: Any) -> Any:
                return RecordingFacade(attr(*args, **kwargs))

            return connect
        return super().__getattr__(name)

    def __repr__(self) -> str:
        return repr(getattr(self.inner, "stream", self.inner))


class AsyncRecordingView:
    """An async recording backend or stream, with the wrapped stream's repr."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name in ("connect", "connect_unix", "connect_tls"):

            async def connect(*args: Any, **kwargs: Any) -> Any:
                return AsyncRecordingView(await attr(*args, **kwargs))

            return connect
        return attr

    async def __aenter__(self) -> AsyncRecordingView:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.inner.close()

    def __repr__(self) -> str:
        return repr(getattr(self.inner, "stream", self.inner))


class _RecordingDriver(Driver):
    def available(self) -> bool:
        try:
            import netbase_recording  # noqa: F401
        except ImportError:
            return False
        return super().available()


class RecordingThreadedDriver(_RecordingDriver, ThreadedDriver):
    name = "recording-threaded"
    backend_repr = "<RecordingBackend around <NetworkBackend [threaded]>>"

    def backend(self, **options: Any) -> Any:
        from netbase_recording import RecordingBackend

        return RecordingFacade(RecordingBackend(self.module.NetworkBackend(**options)))

    def server_backend(self) -> Any:
        return SyncFacade(self.module.NetworkBackend())

    async def wrap_socket(self, sock: socket.socket) -> Any:
        from netbase_recording import RecordingBackend

        recorder = RecordingBackend(self.module.NetworkBackend())
        return RecordingFacade(recorder.wrap_stream(self.module.NetworkStream(sock)))


class _AsyncRecordingDriver(_RecordingDriver):
    def backend(self, **options: Any) -> Any:
        from netbase_recording import AsyncRecordingBackend

        inner = self.module.NetworkBackend(**options)
        return AsyncRecordingView(AsyncRecordingBackend(inner))

    def server_backend(self) -> Any:
        return self.module.NetworkBackend()

    async def wrap_socket(self, sock: socket.socket) -> Any:
        from netbase_recording import AsyncRecordingBackend

        recorder = AsyncRecordingBackend(self.module.NetworkBackend())
        stream = await self.module.NetworkStream.from_socket(sock)
        return AsyncRecordingView(recorder.wrap_stream(stream))


class RecordingAsyncioDriver(_AsyncRecordingDriver, AsyncioDriver):
    name = "recording-asyncio"
    backend_repr = "<AsyncRecordingBackend around <NetworkBackend [asyncio]>>"


class RecordingTrioDriver(_AsyncRecordingDriver, TrioDriver):
    name = "recording-trio"
    backend_repr = "<AsyncRecordingBackend around <NetworkBackend [trio]>>"


DRIVERS.update(
    (driver.name, driver)
    for driver in (RecordingThreadedDriver(), RecordingAsyncioDriver(), RecordingTrioDriver())
)
