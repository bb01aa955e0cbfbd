"""Caching resolvers: remember what a resolver answered, for a while.

Wrap any resolver and pass the wrapper as `NetworkBackend(resolver=...)`:

```python
net = netbase_threaded.NetworkBackend(resolver=netbase.CachingResolver(ttl=60))
net = netbase_trio.NetworkBackend(resolver=netbase.AsyncCachingResolver(ttl=60))
```

Answers are kept per `(host, port)` for `ttl` seconds, at most
`max_size` of them, the least recently used going first. Only answers are
cached: a lookup that fails or returns no address is tried again next time.
Concurrent lookups of the same name share one call to the wrapped resolver,
and its outcome: the others wait for it, under their own deadline, and get
its answer or its error (ten callers of a name that fails make one call, not
ten in a row). Only when the shared lookup ran out of its caller's time (a
timeout) or was cancelled does each waiter try for itself, so a deadline
never reaches a caller whose own deadline would have allowed a retry.

The sync [`CachingResolver`][netbase.CachingResolver] is thread-safe. The async
[`AsyncCachingResolver`][netbase.AsyncCachingResolver] works under asyncio and trio; one instance
serves one event loop at a time.
"""

from __future__ import annotations

import importlib
import math
import numbers
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Sequence
from types import TracebackType
from typing import Any, Protocol

from netbase._exceptions import ConnectError, ConnectTimeout, TimeoutError, connect_error
from netbase._validate import check_resolver_answer

__all__ = ["AsyncCachingResolver", "AsyncResolver", "CachingResolver", "Resolver"]

_monotonic = time.monotonic


class Resolver(Protocol):
    """A sync resolver: `resolve(host, port)` returns IP address strings."""

    def resolve(self, host: str, port: int) -> Sequence[str]:
        """IP address strings for `host`, in the order to try them."""
        ...


class AsyncResolver(Protocol):
    """An async resolver: `await resolve(host, port)` returns IP address strings."""

    def resolve(self, host: str, port: int) -> Awaitable[Sequence[str]]:
        """IP address strings for `host`, in the order to try them."""
        ...


class _Cache:
    """An LRU map of `(host, port)` to addresses, each entry valid for `ttl` seconds."""

    def __init__(self, ttl: object, max_size: object) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, numbers.Real):
            raise TypeError(f"ttl must be a number of seconds, not {type(ttl).__name__}")
        try:
            seconds = float(ttl)
        except OverflowError:  # an int too large for a float: 10**400 is forever
            seconds = math.inf if ttl > 0 else -math.inf  # type: ignore[operator]
        if math.isnan(seconds) or seconds < 0:
            raise ValueError(f"ttl must be a non-negative number of seconds, not {ttl!r}")
        if isinstance(max_size, bool) or not isinstance(max_size, int):
            raise TypeError(f"max_size must be an int, not {type(max_size).__name__}")
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size!r}")
        self.ttl: float = seconds
        self.max_size: int = max_size
        self._entries: OrderedDict[tuple[str, int], tuple[float, tuple[str, ...]]] = OrderedDict()

    def get(self, key: tuple[str, int]) -> list[str] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, addresses = entry
        if _monotonic() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        # A fresh list each time: a caller that reorders its answer must not
        # reorder everyone else's.
        return list(addresses)

    def put(self, key: tuple[str, int], addresses: Sequence[str]) -> None:
        if not addresses or self.ttl == 0:
            return  # an empty answer is a failure: never cached
        self._entries[key] = (_monotonic() + self.ttl, tuple(addresses))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class _Shared:
    """One lookup in flight, and how it ended, for the callers waiting on it."""

    __slots__ = ("done", "error", "traceback")

    def __init__(self, done: Any) -> None:
        self.done = done  # an event, set when the lookup ends
        # The lookup's failure, shared with its waiters; None after an answer
        # (they find it in the cache), a timeout or a cancellation (they retry).
        self.error: BaseException | None = None
        self.traceback: TracebackType | None = None

    def finish(self, error: BaseException | None) -> None:
        if isinstance(error, Exception) and not isinstance(error, TimeoutError):
            self.error = error
            self.traceback = error.__traceback__
        self.done.set()

    def outcome(self) -> None:
        """In a waiter, after `done`: raise the shared failure, if there is one."""
        error = self.error
        if error is not None:
            # As an asyncio future does: every waiter raises the one error,
            # its traceback reset to where the lookup failed.
            raise error.with_traceback(self.traceback)


class _CachingBase:
    """What both flavours share: options, the cache, the in-flight lookups, repr."""

    def __init__(self, resolver: Any, ttl: float, max_size: int) -> None:
        if resolver is not None and not callable(getattr(resolver, "resolve", None)):
            raise TypeError("resolver must have a resolve(host, port) method")
        self._cache = _Cache(ttl, max_size)
        self._resolver = resolver
        # (host, port) -> the lookup running for that key.
        self._pending: dict[tuple[str, int], _Shared] = {}

    @property
    def ttl(self) -> float:
        """How long an answer is kept, in seconds."""
        return self._cache.ttl

    @property
    def max_size(self) -> int:
        """How many answers are kept at most."""
        return self._cache.max_size

    def clear(self) -> None:
        """Forget every cached answer (lookups in flight are not affected)."""
        self._cache.clear()

    def __len__(self) -> int:
        """How many answers are cached (expired ones included until looked at)."""
        return len(self._cache)

    def __repr__(self) -> str:
        inner = "default" if self._resolver is None else repr(self._resolver)
        return f"{type(self).__name__}({inner}, ttl={self.ttl!r}, max_size={self.max_size!r})"


def _wait_timed_out(host: str, port: int) -> ConnectError:
    return connect_error(host, port, "timed out resolving the name", ConnectTimeout)


def _system_resolver(runtime: str) -> Any:
    """`netbase_<runtime>.SystemResolver()`, imported only when first needed."""
    try:
        module = importlib.import_module(f"netbase_{runtime}")
    except ImportError as exc:
        raise RuntimeError(
            f"the default resolver of a caching resolver needs netbase-{runtime}: "
            "install it, or pass the resolver to wrap"
        ) from exc
    return module.SystemResolver()


class CachingResolver(_CachingBase):
    """A sync resolver that caches the answers of another (thread-safe).

    `resolver` is any object with `resolve(host, port) -> list of IP
    strings`; by default the threaded backend's system resolver
    (`netbase_threaded.SystemResolver`). `ttl` is in seconds (`0`
    caches nothing but still shares concurrent lookups); `max_size` bounds
    the number of names kept, least recently used first out.
    """

    def __init__(
        self, resolver: Resolver | None = None, *, ttl: float = 60.0, max_size: int = 256
    ) -> None:
        super().__init__(resolver, ttl, max_size)
        self._lock = threading.Lock()

    def _inner(self) -> Resolver:
        if self._resolver is None:
            self._resolver = _system_resolver("threaded")  # the one sync runtime
        resolver: Resolver = self._resolver
        return resolver

    def resolve(self, host: str, port: int) -> list[str]:
        """The cached answer for `(host, port)`, or the wrapped resolver's."""
        from netbase._threads import DeadlineEvent

        key = (host, port)
        while True:
            with self._lock:
                cached = self._cache.get(key)
                if cached is not None:
                    return cached
                pending = self._pending.get(key)
                leader = pending is None
                if pending is None:
                    pending = self._pending[key] = _Shared(DeadlineEvent())
            if leader:
                return self._lookup(key, pending)
            try:
                pending.done.wait()
            except TimeoutError:
                raise _wait_timed_out(host, port) from None
            # The lookup ended: its failure is ours too; else the cache has
            # its answer, or it timed out and this caller tries for itself.
            pending.outcome()

    def _lookup(self, key: tuple[str, int], shared: _Shared) -> list[str]:
        error: BaseException | None = None
        try:
            inner = self._inner()
            addresses = check_resolver_answer(inner, key[0], inner.resolve(*key))
            with self._lock:
                self._cache.put(key, addresses)
            return addresses
        except BaseException as exc:
            error = exc
            raise
        finally:
            with self._lock:
                del self._pending[key]
            shared.finish(error)


class AsyncCachingResolver(_CachingBase):
    """An async resolver that caches the answers of another (asyncio and trio).

    `resolver` is any object with `async resolve(host, port) -> list of IP
    strings`; by default the running runtime's system resolver
    (`netbase_asyncio.SystemResolver` or `netbase_trio.SystemResolver`).
    `ttl` and `max_size` as for [`CachingResolver`][netbase.CachingResolver].
    """

    def __init__(
        self, resolver: AsyncResolver | None = None, *, ttl: float = 60.0, max_size: int = 256
    ) -> None:
        super().__init__(resolver, ttl, max_size)
        self._system: dict[str, AsyncResolver] = {}

    def _inner(self) -> AsyncResolver:
        if self._resolver is not None:
            resolver: AsyncResolver = self._resolver
            return resolver
        from netbase._runtime import current_async_runtime

        name = current_async_runtime()
        if name not in self._system:
            self._system[name] = _system_resolver(name)
        return self._system[name]

    async def resolve(self, host: str, port: int) -> list[str]:
        """The cached answer for `(host, port)`, or the wrapped resolver's."""
        from netbase._interfaces import _async_runtime

        key = (host, port)
        # No lock: between two awaits nothing else runs on this event loop.
        while True:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            pending = self._pending.get(key)
            if pending is None:
                shared = self._pending[key] = _Shared(_async_runtime().create_event())
                error: BaseException | None = None
                try:
                    inner = self._inner()
                    addresses = check_resolver_answer(inner, host, await inner.resolve(host, port))
                    self._cache.put(key, addresses)
                    return addresses
                except BaseException as exc:
                    error = exc  # a cancellation is not shared: the waiters retry
                    raise
                finally:
                    del self._pending[key]
                    shared.finish(error)
            try:
                await pending.done.wait()
            except TimeoutError:
                raise _wait_timed_out(host, port) from None
            pending.outcome()
