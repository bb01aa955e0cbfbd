"""A small shared pool of threads for name lookups that may be abandoned.

`getaddrinfo()` blocks and cannot be cancelled on any OS (urllib3 #1334).
Under a deadline the threaded and trio backends run it in a worker thread and
stop waiting when the deadline passes, abandoning the lookup. One thread per
lookup would let a stalled DNS server pile threads up without bound (each
stuck for the resolver's own timeout, seconds to minutes), so lookups share
at most :data:`LIMIT` threads, process-wide; the others queue. A lookup
abandoned while still queued is dropped without ever running; one abandoned
while running finishes on its own, and its answer is thrown away. A worker
exits as soon as the queue is empty: an idle process keeps no resolver thread
(and a test checking for leaked threads sees only lookups still under way).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["LIMIT", "THREAD_NAME", "Lookup", "submit"]

# As many lookups at once as a busy client reasonably has in flight; glibc's
# getaddrinfo() is thread-safe. asyncio's default executor is bounded too.
LIMIT = 8
THREAD_NAME = "netbase-resolver"


class Lookup:
    """One call queued for, or running in, a lookup thread.

    `notify` is called (in the worker thread) once `result` or `error`
    is set, unless the lookup was abandoned before it started; what it raises
    is ignored (the waiter's event loop may have ended since).
    """

    __slots__ = ("abandoned", "args", "error", "fn", "notify", "result")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], notify: Callable[[], None]):
        self.fn = fn
        self.args = args
        self.notify = notify
        self.result: Any = None
        self.error: OSError | None = None
        self.abandoned = False

    def outcome(self) -> Any:
        """Once done: the function's result, or raise the `OSError` it raised."""
        if self.error is not None:
            raise self.error
        return self.result

    def abandon(self) -> None:
        """Nobody waits any more: drop it if it has not started."""
        self.abandoned = True
        with _lock:
            try:
                _queue.remove(self)
            except ValueError:  # running or done: it ends on its own
                pass


_lock = threading.Lock()
_queue: collections.deque[Lookup] = collections.deque()
_workers = 0


def submit(fn: Callable[..., Any], *args: Any, notify: Callable[[], None]) -> Lookup:
    """Run `fn(*args)` in a lookup thread; `notify()` when it is done."""
    global _workers
    lookup = Lookup(fn, args, notify)
    with _lock:
        _queue.append(lookup)
        if _workers >= LIMIT:
            return lookup
        _workers += 1
    threading.Thread(target=_work, name=THREAD_NAME, daemon=True).start()
    return lookup


def _work() -> None:
    global _workers
    while True:
        with _lock:
            if not _queue:
                _workers -= 1
                return
            lookup = _queue.popleft()
        try:
            lookup.result = lookup.fn(*lookup.args)
        except OSError as exc:
            lookup.error = exc
        except BaseException as exc:  # never kill the worker: the waiter must hear of it
            lookup.error = OSError(f"name lookup failed: {exc!r}")
            lookup.error.__cause__ = exc
        try:
            lookup.notify()
        except Exception:  # the waiter is gone (its event loop ended)
            pass
