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


class _AsyncRuntime(Protocol):
    def sleep(self, seconds: float) -> Awaitable[None]: ...
    def create_lock(self) -> AsyncLock: ...
    def create_semaphore(self, value: int) -> AsyncSemaphore: ...
    def create_event(self) -> AsyncEvent: ...


def _async_runtime() -> _AsyncRuntime:
    """The primitives module of the async runtime running this task.

    Lets a custom async backend (and a pool written against the interfaces)
    run unchanged on asyncio and on trio.
    """
    from netbase._runtime import current_async_runtime

    name = current_async_runtime()
    try:
        primitives = importlib.import_module(f"netbase_{name}._primitives")
    except ImportError as exc:  # pragma: no cover - depends on what is installed
        raise RuntimeError(
            f"running under {name}, but netbase-{name} is not installed: pip install netbase-{name}"
        ) from exc
    return cast("_AsyncRuntime", primitives)
