"""How a netbase deadline interrupts an await on asyncio.

Two shapes, both costing nothing when no deadline is active (the callers only
build them for a finite deadline):

- `Deadline` for the waits of stream operations. It arms a single
  `loop.call_at` timer the first time an operation has to wait (a read that
  finds data buffered arms none) and serves every later wait: the several
  waits of one TLS read or handshake, and the next reads of the stream (each
  direction keeps one `Deadline` and moves its deadline in place; the timer
  is re-armed only when a deadline comes earlier than it, or when it fires
  before the current one). When it fires at the deadline it fails the future
  being awaited with `Expired`; nothing is cancelled, so no task state
  has to be repaired and cancellation stays the caller's.
- `await_until()` for a coroutine of the loop's that can be cancelled where
  it stands (`create_connection`, `sock_connect`): it runs in the calling
  task, and at the deadline the timer cancels that task, as
  `asyncio.timeout_at()` does; the cancellation it caused becomes `Expired`.
  No task of its own, so a connect under a deadline costs one timer.
- `run_until()` for awaiting a task or future the backend does not own the
  inside of (a resolver, `getaddrinfo` in an executor): at the deadline the
  timer cancels it and the wait raises `Expired`.

Callers map `Expired` to the contract's `ConnectTimeout`,
`ReadTimeout` or `WriteTimeout`: only they know which operation it was.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import sys
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from netbase.lowlevel import Expired

_monotonic = time.monotonic
_T = TypeVar("_T")

__all__ = ["Deadline", "Expired", "await_until", "run_until"]


class Deadline:
    """A deadline for stream waits: at most one timer, armed lazily, moved in place.

    `when` is the deadline (a `time.monotonic()` value); the owner sets it
    before each operation, with no new object. The timer is armed by the first
    wait that needs it and kept while the deadline only moves later: when it
    fires before the current deadline it re-arms for what is left. A run of
    per-operation timeouts of one length so costs about one `loop.call_at`
    per length of time, not one per operation. A deadline earlier than the
    armed timer re-arms it at once, so a wait never outlasts its deadline by
    more than the loop's own timer granularity.
    """

    __slots__ = ("_handle", "_loop", "_passed", "_timer_when", "_waiter", "when")

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self._loop = loop
        self.when = deadline
        self._handle: asyncio.TimerHandle | None = None
        self._timer_when = math.inf  # the deadline the armed timer is for
        self._passed = -math.inf  # the latest deadline seen to pass
        self._waiter: asyncio.Future[Any] | None = None

    def arm(self, waiter: asyncio.Future[Any]) -> None:
        """Make `waiter` fail with `Expired` at the deadline; raise it if passed.

        The caller awaits `waiter` itself and calls `disarm()` after:
        no coroutine per wait, and the timer stays armed for the next one.
        """
        when = self.when
        if self._handle is None or when < self._timer_when:
            if when <= self._passed:
                raise Expired
            self._start(when)
        self._waiter = waiter

    def _start(self, when: float) -> None:
        left = when - _monotonic()
        if left <= 0:
            self._passed = when
            raise Expired
        if self._handle is not None:
            self._handle.cancel()
        # loop.time() is monotonic too, but its origin is the loop's own
        # (uvloop counts in libuv's clock): convert through "seconds left".
        loop = self._loop
        # An empty context, not a copy of the caller's (what call_at takes by
        # default): the timer outlives the operation, kept for the next one,
        # and a copy would keep the task's context variables (an application's
        # per-request state) alive until the deadline, and their mapping with
        # every idle stream. _fire needs none of them. A fresh one per timer,
        # because a context may be entered by one thread at a time.
        self._handle = loop.call_at(loop.time() + left, self._fire, context=contextvars.Context())
        self._timer_when = when

    def disarm(self) -> None:
        """The wait is over (the timer stays for the next one)."""
        self._waiter = None

    def _fire(self) -> None:
        self._handle = None
        when = self.when
        if when > self._timer_when:  # moved later since the timer was armed
            try:
                self._start(when)
            except Expired:
                pass
            else:
                return
        # The timer was for this deadline (or a later one, moved earlier with
        # no wait since): it has passed, as far as the loop's clock can tell.
        self._passed = when
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(Expired())

    def cancel(self) -> None:
        """Disarm the timer (the stream closes, the operation is over)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class _Cut:
    """The timer of `await_until()` and `run_until()`: cancels `target` when it fires."""

    __slots__ = ("_target", "fired", "handle")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, target: asyncio.Future[Any], left: float
    ) -> None:
        self._target = target
        self.fired = False
        self.handle = loop.call_at(loop.time() + left, self.fire)

    def fire(self) -> None:
        self.fired = True
        self._target.cancel()


async def await_until(
    loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, _T], deadline: float
) -> _T:
    """Await `work` in the calling task; at `deadline` cancel it there and raise `Expired`.

    `work` must end when cancelled and leave nothing behind (the loop's
    connects close their socket). A cancellation from elsewhere passes through
    unchanged: 3.11+ counts them (`cancelling()` / `uncancel()`); 3.10 cannot,
    and takes one that comes in the very loop iteration the timer fires for
    the timer's.
    """
    left = deadline - _monotonic()
    if left <= 0:
        work.close()  # never started: no "never awaited" warning
        raise Expired
    task = asyncio.current_task()
    assert task is not None
    if sys.version_info >= (3, 11):
        cancelling = task.cancelling()
    cut = _Cut(loop, task, left)
    try:
        return await work
    except asyncio.CancelledError:
        if cut.fired:
            cut.fired = False  # taken back here, whatever is raised
            if sys.version_info < (3, 11) or task.uncancel() <= cancelling:
                raise Expired from None  # ours alone
        raise
    finally:
        cut.handle.cancel()
        if cut.fired and sys.version_info >= (3, 11):
            task.uncancel()  # ours, though `work` ended some other way


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
    left = deadline - _monotonic()
    cut = _Cut(asyncio.get_running_loop(), future, max(left, 0.0))
    if left <= 0:
        cut.fire()
    try:
        return await future
    except asyncio.CancelledError:
        if cut.fired and not _cancelling():
            raise Expired from None
        raise
    finally:
        cut.handle.cancel()
