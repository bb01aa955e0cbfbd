"""Ambient deadlines: `netbase.timeout()`.

A deadline is not passed to each call. It lives in a `ContextVar` and every
network operation reads it, so one `with netbase.timeout(10.0):` bounds a
whole exchange (name resolution, every connection attempt, the handshake and
every read and write) however many calls it takes. That is the "total timeout"
users of per-operation timeouts keep asking for (httpx #1450, urllib3 #2055).

The context variable holds a linked chain of `_Deadline` nodes, newest
first. Entering a block pushes a node, leaving it resets the variable, so
blocks nest and a deadline follows exactly the thread or task that entered it
(a task started inside the block copies the context, and with it the chain).
The effective deadline is the earliest deadline in the chain that has not been
cancelled. Nodes are shared, not copied: `t.cancel()` disarms the deadline
for every task that inherited it.

Backends call [`remaining()`][netbase.remaining] (or
[`current_deadline()`][netbase.current_deadline]) before each blocking step. With no active timeout
the context variable holds `None` and the check costs one `ContextVar.get()`.
"""

from __future__ import annotations

import math
import numbers
import time
from contextvars import ContextVar
from types import TracebackType
from typing import cast

from netbase._exceptions import TimeoutError

__all__ = ["Expired", "Timeout", "current_deadline", "remaining", "timeout"]

_monotonic = time.monotonic

# A deadline further away than this is no deadline at all. The system calls
# that wait cannot express one: poll() takes a C int of milliseconds (24.8
# days), threading's waits stop at threading.TIMEOUT_MAX, socket timeouts at a
# C timeval, and a float cannot hold 10**400. No network operation waits 24
# days on purpose, so such a timeout is kept as "no limit", on every runtime,
# and remaining() never returns more than this.
FAR_DEADLINE = 24 * 86400.0


class Expired(Exception):
    """A runtime's wait was cut by the netbase deadline (internal to a backend).

    Each runtime's deadline helper raises it where its own waits end at the
    deadline; the operation that waited maps it to the contract's
    `ConnectTimeout`, `ReadTimeout` or `WriteTimeout`, since only it knows
    which one it was. It is never meant to escape a backend.
    """


class _Deadline:
    """One entered [`Timeout`][netbase.Timeout]: its deadline and the chain it was pushed on."""

    __slots__ = ("cancelled", "deadline", "parent")

    def __init__(self, deadline: float, parent: _Deadline | None) -> None:
        self.deadline = deadline
        self.parent = parent
        self.cancelled = False


_chain: ContextVar[_Deadline | None] = ContextVar("netbase_deadlines", default=None)


def current_deadline() -> float:
    """The effective deadline, as a `time.monotonic()` value.

    `math.inf` when no timeout is active (or all active ones were cancelled).
    """
    node = _chain.get()
    deadline = math.inf
    while node is not None:
        if not node.cancelled and node.deadline < deadline:
            deadline = node.deadline
        node = node.parent
    return deadline


def remaining(expired: type[TimeoutError]) -> float | None:
    """Seconds left before the effective deadline; `None` when there is none.

    A deadline more than 24 days away counts as none (see `timeout()`), so
    the value is always one that `socket.settimeout()`, `poll()` and
    `threading` waits accept.

    This is the helper backends call before every blocking step. It raises
    `expired(...)` (for example [`netbase.ReadTimeout`][netbase.ReadTimeout]) when the deadline
    has already passed, so an expired deadline fails before any I/O. The value
    returned is always positive, ready for `socket.settimeout()`.
    """
    node = _chain.get()
    if node is None:
        return None
    deadline = current_deadline()
    if deadline == math.inf:
        return None
    left = deadline - _monotonic()
    if left <= 0:
        raise expired("timed out: the deadline passed")
    return left if left <= FAR_DEADLINE else None


def _check_seconds(seconds: object) -> float:
    # An exact float or int needs no ABC check (a bool is not one: its type is bool).
    if (
        type(seconds) is not float
        and type(seconds) is not int
        and (isinstance(seconds, bool) or not isinstance(seconds, numbers.Real))
    ):
        raise TypeError(f"timeout() takes a number of seconds, not {type(seconds).__name__}")
    number = cast("float", seconds)  # a float, an int or another numbers.Real
    try:
        value = float(number)
    except OverflowError:  # an int too large for a float: 10**400
        value = math.inf if number > 0 else -math.inf
    if math.isnan(value):
        raise ValueError("timeout() takes a number of seconds, not NaN")
    if value < 0:
        raise ValueError(f"timeout() takes a non-negative number of seconds, not {seconds!r}")
    return value


class Timeout:
    """A deadline `seconds` after the block is entered; see [`timeout()`][netbase.timeout].

    Usable with `with` and `async with`; both give this same object, whose
    [`cancel()`][netbase.Timeout.cancel] disarms the deadline. A `Timeout` can be entered once.
    """

    __slots__ = ("_entered", "_node", "_seconds", "_token")

    def __init__(self, seconds: float) -> None:
        # The common case, a non-negative float, is checked here (NaN fails >= 0).
        ok = type(seconds) is float and seconds >= 0
        self._seconds = seconds if ok else _check_seconds(seconds)
        self._node: _Deadline | None = None
        self._token: object | None = None
        self._entered = False

    @property
    def seconds(self) -> float:
        """The duration this timeout was created with."""
        return self._seconds

    @property
    def deadline(self) -> float:
        """The deadline as a `time.monotonic()` value.

        `math.inf` before the block is entered, after [`cancel()`][netbase.Timeout.cancel], or for
        `timeout(math.inf)`.
        """
        node = self._node
        if node is None or node.cancelled:
            return math.inf
        return node.deadline

    @property
    def cancelled(self) -> bool:
        """Whether [`cancel()`][netbase.Timeout.cancel] was called."""
        return self._node is not None and self._node.cancelled

    def cancel(self) -> None:
        """Disarm this deadline: it no longer applies, here or in tasks that inherited it.

        Enclosing timeouts still apply. Unlike trio's or anyio's
        `CancelScope.cancel()`, this cancels the *deadline*, not the work.
        """
        if self._node is None:
            # Cancelled before it was entered: enter with no deadline at all.
            self._node = _Deadline(math.inf, None)
        self._node.cancelled = True

    def __enter__(self) -> Timeout:
        if self._entered:
            raise RuntimeError("a netbase.timeout() can be entered only once")
        self._entered = True
        parent = _chain.get()
        if self._node is not None:  # cancelled before entering
            node = self._node
            node.parent = parent
        elif self._seconds > FAR_DEADLINE:
            node = _Deadline(math.inf, parent)  # too far away to wait for: no limit
        else:
            node = _Deadline(_monotonic() + self._seconds, parent)
            self._node = node
        self._token = _chain.set(node)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token = self._token
        if token is None:
            raise RuntimeError("this netbase.timeout() was not entered")
        self._token = None
        _chain.reset(token)  # type: ignore[arg-type]

    async def __aenter__(self) -> Timeout:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else ("active" if self._token else "idle")
        return f"<netbase.timeout({self._seconds!r}) {state}>"


def timeout(seconds: float) -> Timeout:
    """A deadline for every network operation inside the block.

    ```python
    with netbase.timeout(10.0):            # or: async with netbase.timeout(10.0)
        with netbase.timeout(3.0) as t:
            stream = net.connect("www.example.com", 443)
            stream.start_tls(ctx, hostname="www.example.com")
            t.cancel()                     # the 3 s deadline no longer applies
        ...                                # the 10 s deadline still does
    ```

    `seconds` is a non-negative real number; `math.inf` means no limit, and so
    does any number of seconds above 24 days (no system call can wait that long
    in one go, and no network operation means to). The deadline starts when the
    block is entered. Nested blocks can only shorten
    the effective deadline (the earliest one applies). When it passes, the
    operation under way raises [`ConnectTimeout`][netbase.ConnectTimeout],
    [`ReadTimeout`][netbase.ReadTimeout] or [`WriteTimeout`][netbase.WriteTimeout]. A timeout does
    not interrupt anything else: other awaits and blocking calls inside the block run as they would
    without it.
    """
    return Timeout(seconds)
