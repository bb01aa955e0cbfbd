"""Redacting secrets before a cassette is written (and, the same way, on replay).

A scrub hook is a function `bytes -> bytes`. It is applied to each *run*
of bytes (consecutive writes, or consecutive reads, joined), never to single
chunks, so a secret split across two `write()` calls is still found. It must
be idempotent (scrubbing scrubbed bytes changes nothing): the replay applies it
to what the code writes and to what the cassette holds, then compares.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from netbase_recording._events import Connection, Event, Read, Write

__all__ = ["Scrub", "apply_scrub", "check_scrub", "scrub_connection", "scrub_headers"]

Scrub = Callable[[bytes], bytes]


def check_scrub(scrub: object) -> None:
    """`TypeError` at once for a scrub hook that is not a function."""
    if scrub is not None and not callable(scrub):
        raise TypeError("scrub must be a function taking and returning bytes")


def apply_scrub(scrub: Scrub, data: bytes) -> bytes:
    """`scrub(data)`, checked: a hook that forgets `return` must not match everything."""
    scrubbed = scrub(data)
    if not isinstance(scrubbed, bytes):
        raise TypeError(f"a scrub hook returns bytes, not {type(scrubbed).__name__}")
    return scrubbed


def scrub_headers(*names: str, replacement: bytes = b"REDACTED") -> Scrub:
    """A scrub hook that replaces the values of these HTTP/1.1 header fields.

    `scrub_headers("Authorization", "Cookie")` turns
    `Authorization: Bearer abc` into `Authorization: REDACTED`, in requests
    and responses alike. Names match case-insensitively.
    """
    if not names or not all(isinstance(n, str) and n for n in names):
        raise TypeError("scrub_headers() takes one or more header names (non-empty str)")
    alternatives = b"|".join(re.escape(n.encode("ascii")) for n in names)
    pattern = re.compile(rb"(?im)^((?:" + alternatives + rb")[ \t]*:[ \t]*)[^\r\n]*")

    def scrub(data: bytes) -> bytes:
        return pattern.sub(lambda m: m.group(1) + replacement, data)

    return scrub


def _scrub_run(run: list[Read | Write], scrub: Scrub) -> list[Read | Write]:
    joined = b"".join(e.data for e in run)
    scrubbed = apply_scrub(scrub, joined)
    if scrubbed == joined:
        return run
    if len(scrubbed) != len(joined):
        # The chunk boundaries no longer mean anything: keep one chunk.
        return [replace(run[0], data=scrubbed)]
    out: list[Read | Write] = []
    offset = 0
    for event in run:
        size = len(event.data)
        out.append(replace(event, data=scrubbed[offset : offset + size]))
        offset += size
    return out


def scrub_connection(connection: Connection, scrub: Scrub) -> Connection:
    """A copy of `connection` whose written and read bytes went through `scrub`."""
    events: list[Event] = []
    run: list[Read | Write] = []
    for event in [*connection.events, None]:
        if run and type(event) is not type(run[0]):
            events.extend(_scrub_run(run, scrub))
            run = []
        if isinstance(event, (Read, Write)):
            run.append(event)
        elif event is not None:
            events.append(event)
    return replace(connection, events=events)
