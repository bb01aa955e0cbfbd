"""Primitives for the sync side: what a thread-based connection pool waits on."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from netbase._exceptions import TimeoutError
from netbase._timeout import remaining


def sleep(seconds: float) -> None:
    """`time.sleep`."""
    time.sleep(seconds)


def create_lock() -> threading.Lock:
    """A plain `threading.Lock`."""
    return threading.Lock()


class DeadlineSemaphore:
    """A `threading.Semaphore` whose `acquire()` honours the active timeout."""

    def __init__(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a semaphore's value is an int, not {type(value).__name__}")
        if value < 0:
            raise ValueError("a semaphore's value must be >= 0")
        self._semaphore = threading.Semaphore(value)

    def acquire(self) -> None:
        """Take one unit; [`TimeoutError`][netbase.TimeoutError] at the deadline."""
        if not self._semaphore.acquire(timeout=remaining(TimeoutError)):
            raise TimeoutError("timed out waiting for a semaphore")

    def release(self) -> None:
        """Give one unit back."""
        self._semaphore.release()

    def __enter__(self) -> DeadlineSemaphore:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class DeadlineEvent:
    """A `threading.Event` whose `wait()` honours the active timeout."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        self._event.set()

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._event.is_set()

    def wait(self) -> None:
        """Wait for the flag; [`TimeoutError`][netbase.TimeoutError] at the deadline."""
        if not self._event.wait(timeout=remaining(TimeoutError)):
            raise TimeoutError("timed out waiting for an event")
