"""The interfaces a backend implements, sync and async.

They are plain abstract base classes, like httpcore's `_backends/base.py`:
a backend that implements them is usable anywhere a built-in backend is (a
connection pool, a recording wrapper, another custom backend). The stream
classes provide context management that calls `close()`.

The backend classes also carry what a connection pool needs besides
connecting: `sleep()` and factories for a lock, a semaphore and an event,
each native to the backend's runtime. The defaults below work for any backend
of that flavour (threads for the sync side; asyncio or trio, whichever is
running, for the async side), so custom backends get them for free; built-in
backends answer with their own runtime's primitives. Waiting on the semaphore
or the event honours the active [`netbase.timeout()`][netbase.timeout] and raises
[`netbase.TimeoutError`][netbase.TimeoutError] when it passes.
"""

from __future__ import annotations

import abc
import importlib
import ssl
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from netbase._listeners import check_connect_tls_args

if TYPE_CHECKING:
    from collections.abc import Awaitable

__all__ = [
    "AsyncEvent",
    "AsyncLock",
    "AsyncNetworkBackendInterface",
    "AsyncNetworkStreamInterface",
    "AsyncSemaphore",
    "Event",
    "Lock",
    "NetworkBackendInterface",
    "NetworkStreamInterface",
    "Semaphore",
]

_S = TypeVar("_S", bound="NetworkStreamInterface")
_AS = TypeVar("_AS", bound="AsyncNetworkStreamInterface")


class NetworkStreamInterface(abc.ABC):
    """A connected byte stream (sync).

    `with stream:` closes it on the way out.
    """

    # Empty slots, so that a stream class may declare its own and cost no
    # per-instance dict (subclasses without __slots__ get one as usual).
    __slots__ = ()

    @abc.abstractmethod
    def read(self, max_bytes: int | None = None) -> bytes:
        """Return 1 to `max_bytes` bytes (default 65536), or `b""` at end of stream."""

    @abc.abstractmethod
    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of `data`."""

    @abc.abstractmethod
    def start_tls(self, ctx: ssl.SSLContext | None = None, hostname: str | None = None) -> None:
        """Upgrade the stream to TLS in place (TLS inside TLS if it already is)."""

    def get_extra_info(self, key: str) -> Any:
        """Return `client_addr`, `server_addr`, `ssl_object`, `socket`, `is_readable`.

        Unknown keys give `None`.
        """
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Close the stream (idempotent). TLS streams attempt a bounded closing handshake."""

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncNetworkStreamInterface(abc.ABC):
    """A connected byte stream (async): the methods of the sync one, as coroutines.

    `get_extra_info` stays a plain method. `async with stream:` closes it.
    """

    __slots__ = ()

    @abc.abstractmethod
    async def read(self, max_bytes: int | None = None) -> bytes:
        """Return 1 to `max_bytes` bytes (default 65536), or `b""` at end of stream."""

    @abc.abstractmethod
    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of `data`."""

    @abc.abstractmethod
    async def start_tls(
        self, ctx: ssl.SSLContext | None = None, hostname: str | None = None
    ) -> None:
        """Upgrade the stream to TLS in place (TLS inside TLS if it already is)."""

    def get_extra_info(self, key: str) -> Any:
        """Return `client_addr`, `server_addr`, `ssl_object`, `socket`, `is_readable`.

        Unknown keys give `None`.
        """
        return None

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the stream (idempotent). TLS streams attempt a bounded closing handshake."""

    async def __aenter__(self: _AS) -> _AS:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


# -- what a connection pool needs besides streams ---------------------------


class Lock(Protocol):
    """A mutual-exclusion lock (`with lock:`)."""

    def __enter__(self) -> Any: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Any: ...


class Semaphore(Protocol):
    """A counting semaphore whose `acquire()` honours the active timeout."""

    def acquire(self) -> None:
        """Take one unit, waiting for one; raises `netbase.TimeoutError` at the deadline."""

    def release(self) -> None:
        """Give one unit back."""


class Event(Protocol):
    """A one-shot flag whose `wait()` honours the active timeout."""

    def set(self) -> None:
        """Set the flag and wake every waiter."""

    def is_set(self) -> bool:
        """Whether the flag is set."""

    def wait(self) -> None:
        """Wait for the flag; raises `netbase.TimeoutError` at the deadline."""


class AsyncLock(Protocol):
    """A mutual-exclusion lock (`async with lock:`)."""

    async def __aenter__(self) -> Any: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Any: ...


class AsyncSemaphore(Protocol):
    """A counting semaphore whose `acquire()` honours the active timeout."""

    def acquire(self) -> Awaitable[None]:
        """Take one unit, waiting for one; raises `netbase.TimeoutError` at the deadline."""

    def release(self) -> None:
        """Give one unit back."""


class AsyncEvent(Protocol):
    """A one-shot flag whose `wait()` honours the active timeout."""

    def set(self) -> None:
        """Set the flag and wake every waiter."""

    def is_set(self) -> bool:
        """Whether the flag is set."""

    def wait(self) -> Awaitable[None]:
        """Wait for the flag; raises `netbase.TimeoutError` at the deadline."""


class NetworkBackendInterface(abc.ABC):
    """Opens streams (sync)."""

    @abc.abstractmethod
    def connect(self, host: str, port: int) -> NetworkStreamInterface:
        """Resolve `host`, connect over TCP and return an open stream."""

    def connect_tls(
        self,
        host: str,
        port: int,
        *,
        hostname: str | None = None,
        ctx: ssl.SSLContext | None = None,
    ) -> NetworkStreamInterface:
        """`connect(host, port)`, then `start_tls(ctx, hostname)`, under one deadline.

        `hostname` defaults to `host`; `ctx=None` is
        `netbase.default_ssl_context()`. Bad arguments fail before any I/O.
        When TLS fails the stream is closed and the error
        (`netbase.ConnectError`) raised. Any backend gets this from the
        interface: it only needs `connect()`.
        """
        check_connect_tls_args(ctx, hostname)
        stream = self.connect(host, port)
        try:
            stream.start_tls(ctx, host if hostname is None else hostname)
        except BaseException:
            stream.close()
            raise
        return stream

    def sleep(self, seconds: float) -> None:
        """Sleep, as the backend's runtime does."""
        from netbase import _threads

        _threads.sleep(seconds)

    def create_lock(self) -> Lock:
        """A lock for this backend's runtime."""
        from netbase import _threads

        return _threads.create_lock()

    def create_semaphore(self, value: int) -> Semaphore:
        """A semaphore for this backend's runtime (acquire honours the active timeout)."""
        from netbase import _threads

        return _threads.DeadlineSemaphore(value)

    def create_event(self) -> Event:
        """An event for this backend's runtime (wait honours the active timeout)."""
        from netbase import _threads

        return _threads.DeadlineEvent()


class AsyncNetworkBackendInterface(abc.ABC):
    """Opens streams (async)."""

    @abc.abstractmethod
    async def connect(self, host: str, port: int) -> AsyncNetworkStreamInterface:
        """Resolve `host`, connect over TCP and return an open stream."""

    async def connect_tls(
        self,
        host: str,
        port: int,
        *,
        hostname: str | None = None,
        ctx: ssl.SSLContext | None = None,
    ) -> AsyncNetworkStreamInterface:
        """`connect(host, port)`, then `start_tls(ctx, hostname)`, under one deadline.

        `hostname` defaults to `host`; `ctx=None` is
        `netbase.default_ssl_context()`. Bad arguments fail before any I/O.
        When TLS fails (or is cancelled) the stream is closed and the error
        raised. Any backend gets this from the interface: it only needs
        `connect()`.
        """
        check_connect_tls_args(ctx, hostname)
        stream = await self.connect(host, port)
        try:
            await stream.start_tls(ctx, host if hostname is None else hostname)
        except BaseException:
            await _close_quietly(stream)
            raise
        return stream

    async def sleep(self, seconds: float) -> None:
        """Sleep, as the running event loop does."""
        await _async_runtime().sleep(seconds)

    def create_lock(self) -> AsyncLock:
        """A lock for the running event loop's library."""
        return _async_runtime().create_lock()

    def create_semaphore(self, value: int) -> AsyncSemaphore:
        """A semaphore for the running library (acquire honours the active timeout)."""
        return _async_runtime().create_semaphore(value)

    def create_event(self) -> AsyncEvent:
        """An event for the running library (wait honours the active timeout)."""
        return _async_runtime().create_event()


async def _close_quietly(stream: AsyncNetworkStreamInterface) -> None:
    """Close a failed stream; an error while closing must not hide the first one."""
    try:
        await stream.close()
    except BaseException:
        pass


class _AsyncRuntime(Protocol):
    def sleep(self, seconds: float) -> Awaitable[None]: ...
    def create_lock(self) -> AsyncLock: ...
    def create_semaphore(self, value: int) -> AsyncSemaphore: ...
    def create_event(self) -> AsyncEvent: ...


# One backend per async library, made on first use: it holds no resources.
_runtime_backends: dict[str, _AsyncRuntime] = {}


def _async_runtime() -> _AsyncRuntime:
    """The backend of the async library running this task, for its primitives.

    Lets a custom async backend (and a pool written against the interfaces)
    run unchanged on asyncio and on trio. The primitives come from the public
    `NetworkBackend` of `netbase_asyncio` or `netbase_trio`, which answers
    the four methods with its own runtime's; the core imports nothing private
    of a runtime package.
    """
    from netbase._runtime import current_async_runtime

    name = current_async_runtime()
    backend = _runtime_backends.get(name)
    if backend is None:
        try:
            backend_class = importlib.import_module(f"netbase_{name}").NetworkBackend
        except (ImportError, AttributeError) as exc:  # pragma: no cover - depends on install
            raise RuntimeError(
                f"running under {name}, but netbase-{name} is not installed: "
                f"pip install netbase-{name}"
            ) from exc
        if backend_class.sleep is AsyncNetworkBackendInterface.sleep:  # pragma: no cover
            # It would ask this function again, for ever.
            raise RuntimeError(f"netbase_{name}.NetworkBackend does not provide its primitives")
        backend = _runtime_backends[name] = cast("_AsyncRuntime", backend_class())
    return backend
