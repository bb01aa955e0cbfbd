"""Small helpers shared by the conformance tests."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from typing import Any

# The contract asks for "promptly: within tens of milliseconds". Tests allow a
# wider margin so that a loaded CI machine does not make them flaky; a backend
# that waited for the next second, or for the OS's own timeout, still fails.
PROMPT = 0.5


class Stopwatch:
    seconds: float = 0.0


@contextlib.contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    watch = Stopwatch()
    start = time.monotonic()
    try:
        yield watch
    finally:
        watch.seconds = time.monotonic() - start


def random_payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def random_chunks(data: bytes, seed: int = 1, most: int = 70000) -> Iterator[bytes]:
    rng = random.Random(seed)
    i = 0
    while i < len(data):
        n = rng.randint(1, most)
        yield data[i : i + n]
        i += n


async def read_exactly(stream: Any, size: int, seed: int = 2) -> bytes:
    """Read ``size`` bytes with reads of random sizes."""
    rng = random.Random(seed)
    parts = []
    got = 0
    while got < size:
        data = await stream.read(rng.randint(1, 100000))
        assert data, f"end of stream after {got} of {size} bytes"
        parts.append(data)
        got += len(data)
    return b"".join(parts)


async def read_until_eof(stream: Any) -> bytes:
    parts = []
    while data := await stream.read():
        parts.append(data)
    return b"".join(parts)
