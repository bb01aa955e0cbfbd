"""How a netbase deadline interrupts an await on asyncio.

Two shapes, both costing nothing when no deadline is active (the callers only
build them for a finite deadline):

- `Deadline` for the waits of stream operations. It arms a single
  `loop.call_at` timer the first time an operation has to wait (a read that
  finds data buffered arms none) and serves every later wait under the same
  deadline: the several waits of one TLS read or handshake, and the next reads
  of a stream inside the same `netbase.timeout` block (the stream keeps it
  until the deadline changes or it closes). When it fires it fails the future
  being awaited with `Expired`; nothing is cancelled, so no task state
  has to be repaired and cancellation stays the caller's.
- `run_until()` for awaiting a task or future the backend does not own the
  inside of (`sock_connect`, a resolver, `getaddrinfo` in an executor): at
  the deadline the timer cancels it and the wait raises `Expired`.

Callers map `Expired` to the contract's `ConnectTimeout`,
`ReadTimeout` or `WriteTimeout`: only they know which operation it was.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, TypeVar

from netbase.lowlevel import Expired

_monotonic = time.monotonic
_T = TypeVar("_T")

__all__ = ["Deadline", "Expired", "run_until"]


class Deadline:
    """A deadline for stream waits: at most one timer, armed on the first wait."""

    __slots__ = ("_handle", "_loop", "_waiter", "expired", "when")

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self._loop = loop
        self.when = deadline  # a time.monotonic() value
        self._handle: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Future[Any] | None = None
        self.expired = False

    def arm(self, waiter: asyncio.Future[Any]) -> None:
        """Make `waiter` fail with `Expired` at the deadline; raise it if passed.

        The caller awaits `waiter` itself and calls `disarm()` after:
        no coroutine per wait, and the timer stays armed for the next one.
        """
        if self._handle is None:
            left = self.when - _monotonic()
            if left <= 0:
                self.expired = True
                raise Expired
            # loop.time() is monotonic too, but its origin is the loop's own
            # (uvloop counts in libuv's clock): convert through "seconds left".
            self._handle = self._loop.call_at(self._loop.time() + left, self._fire)
        elif self.expired:
            raise Expired
        self._waiter = waiter

    def disarm(self) -> None:
        """The wait is over (the timer stays for the next one)."""
        self._waiter = None

    def _fire(self) -> None:
        self.expired = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(Expired())

    def cancel(self) -> None:
        """Disarm the timer (the operation is over)."""
        if self._handle is not None:
            self._handle.cancel()


def _cancelling() -> bool:
    """Whether the current task itself is being cancelled (3.11+ can tell)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False


async def run_until(future: asyncio.Future[_T], deadline: float) -> _T:
    """Await `future` (a task or a future); cancel it and raise `Expired` at `deadline`.

    A cancellation of the caller's own task is passed on unchanged.
    """
    if deadline == math.inf:
        return await future
    loop = asyncio.get_running_loop()
    fired = False

    def fire() -> None:
        nonlocal fired
        fired = True
        future.cancel()

    left = deadline - _monotonic()
    if left <= 0:
        fire()
    handle = loop.call_at(loop.time() + max(left, 0.0), fire)
    try:
        return await future
    except asyncio.CancelledError:
        if fired and not _cancelling():
            raise Expired from None
        raise
    finally:
        handle.cancel()
