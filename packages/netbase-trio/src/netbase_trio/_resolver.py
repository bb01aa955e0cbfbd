"""Name resolution for the trio backend, bounded by the deadline.

`getaddrinfo()` blocks and cannot be cancelled on any OS (urllib3 #1334),
so it runs in a worker thread and the task waits for it; when the deadline
passes, or an enclosing trio scope is cancelled, the task stops waiting and
the thread is abandoned (it finishes on its own and its answer is dropped).
That is what `trio.socket.getaddrinfo` does through
`trio.to_thread.run_sync(..., abandon_on_cancel=True)`; netbase starts its
own short-lived daemon thread (named `netbase-resolver`, as in
`netbase_threaded`) instead of borrowing one from trio's thread cache,
whose idle workers linger for seconds after the lookup and would look like
leaked threads to a caller checking for them.

A custom resolver is any object with `async def resolve(host, port)`
returning IP address strings in the order to try them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Protocol

import trio

from netbase import ConnectTimeout
from netbase.lowlevel import connect_error, getaddrinfo_addresses
from netbase_trio._deadline import Expired, deadline_for, wait

__all__ = ["Resolver", "SystemResolver"]


class Resolver(Protocol):
    """Turns a host name into IP addresses, in the order to try them."""

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        """IP address strings for `host` (`port` is a hint; most ignore it)."""
        ...


class SystemResolver:
    """The operating system's resolver (`getaddrinfo`), bounded by the deadline."""

    async def resolve(self, host: str, port: int) -> list[str]:
        """Resolve `host`; [`ConnectTimeout`][netbase.ConnectTimeout] at the deadline."""
        deadline = deadline_for(ConnectTimeout)
        lookup = _Lookup(host, port, trio.lowlevel.current_trio_token())
        thread = threading.Thread(target=lookup.run, name="netbase-resolver", daemon=True)
        thread.start()
        try:
            await wait(_wait_event, lookup.done, deadline)
        except Expired as exc:
            raise connect_error(host, port, "timed out resolving the name", ConnectTimeout) from exc
        if lookup.error is not None:
            raise lookup.error
        return lookup.result

    def __repr__(self) -> str:
        return "SystemResolver()"


async def _wait_event(event: trio.Event) -> None:
    await event.wait()


class _Lookup:
    """One getaddrinfo() call in a worker thread; abandoned if nobody waits for it."""

    def __init__(self, host: str, port: int, token: trio.lowlevel.TrioToken) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.done = trio.Event()
        self.result: list[str] = []
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            self.result = getaddrinfo_addresses(self.host, self.port)
        except OSError as exc:
            self.error = exc
        # Abandoned, and trio.run() has returned since: nobody to tell.
        with contextlib.suppress(trio.RunFinishedError):
            self.token.run_sync_soon(self.done.set)
