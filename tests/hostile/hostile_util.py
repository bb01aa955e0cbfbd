"""Small helpers shared by the hostile tests."""

from __future__ import annotations

import ssl
import time
from typing import Any

import netbase


def assert_chained(exc: BaseException) -> None:
    """The contract: a runtime-native failure is chained as the cause, never lost.

    Somewhere along ``__cause__`` there must be the native exception: an
    ``OSError`` (``ssl.SSLError`` included) that is not one of netbase's own.
    trio wraps it once more (``BrokenResourceError`` caused by the OSError).
    """
    cause = exc.__cause__
    assert cause is not None, f"{exc!r} has no __cause__"
    seen = []
    while cause is not None and len(seen) < 10:
        seen.append(cause)
        if isinstance(cause, (OSError, ssl.SSLError)) and not isinstance(
            cause, netbase.NetworkError
        ):
            return
        cause = cause.__cause__ or cause.__context__
    raise AssertionError(f"no native OSError chained under {exc!r}: {seen!r}")


def is_closed(stream: Any) -> bool:
    return "CLOSED" in repr(stream)


async def read_until_error(stream: Any) -> tuple[bytes, Exception]:
    """Read until an exception; return the bytes read before it and the exception.

    A clean end of stream (``b""``) is not what these callers expect, so it
    fails the test at once.
    """
    got = b""
    while True:
        try:
            chunk = await stream.read()
        except Exception as exc:
            return got, exc
        assert chunk, f"clean end of stream after {len(got)} bytes, where an error was due"
        got += chunk


async def write_until_error(stream: Any, chunk: bytes, limit: int = 1000) -> Exception:
    """Write ``chunk`` until an exception (at most ``limit`` times) and return it."""
    for _ in range(limit):
        try:
            await stream.write(chunk)
        except Exception as exc:
            return exc
    raise AssertionError(f"{limit} writes of {len(chunk)} bytes all succeeded")


async def until(runtime: Any, predicate: Any, within: float = 5.0) -> None:
    """Poll ``predicate`` until it holds (the network, or another task, gets there).

    Fails the test after ``within`` seconds; never a fixed sleep.
    """
    stop = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < stop, "the condition never held"
        await runtime.sleep(0.005)
