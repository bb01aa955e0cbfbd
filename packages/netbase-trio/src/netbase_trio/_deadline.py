"""netbase deadlines on trio's clock: one cancel scope, and only when waiting.

A netbase deadline is a `time.monotonic()` value; trio's clock has its own
origin, so the conversion is `trio.current_time() + (deadline - monotonic())`.

Cost is the point of this module. `trio.fail_after` around every operation
adds about 66% to a ping-pong round trip (a cancel scope is entered and its
deadline registered with the run loop every time). So the callers try the
non-blocking system call first and come here only when they must wait; with
no active deadline there is no cancel scope at all.

The scope composes with the caller's own: an enclosing trio cancel scope that
fires first raises `trio.Cancelled` through ours untouched (our scope did
not catch it), and only our own deadline becomes a `TimeoutError` here,
which the stream turns into `ReadTimeout`, `WriteTimeout` or
`ConnectTimeout`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from netbase import TimeoutError, current_deadline
from netbase.lowlevel import Expired

__all__ = ["Expired", "deadline_for", "run_until", "trio_deadline"]

_monotonic = time.monotonic
_T = TypeVar("_T")


def deadline_for(expired: type[TimeoutError]) -> float | None:
    """The effective netbase deadline (monotonic), `None` when there is none.

    Raises `expired` when it has already passed, so an expired deadline fails
    before any I/O. With no active timeout this is one `ContextVar.get()`.
    """
    deadline = current_deadline()  # one ContextVar.get() when no timeout is active
    if deadline == math.inf:
        return None
    if deadline <= _monotonic():
        raise expired("timed out: the deadline passed")
    return deadline


def trio_deadline(deadline: float) -> float:
    """A `time.monotonic()` deadline as a `trio.current_time()` value."""
    return trio.current_time() + (deadline - _monotonic())


async def run_until(fn: Callable[[_T], Awaitable[object]], arg: _T, deadline: float | None) -> None:
    """`await fn(arg)`, raising `Expired` if `deadline` passes first.

    `deadline` is a `time.monotonic()` value, `None` for no limit.
    """
    if deadline is None:
        await fn(arg)
        return
    with trio.CancelScope(deadline=trio_deadline(deadline)) as scope:
        await fn(arg)
    if scope.cancelled_caught:
        raise Expired("timed out")
