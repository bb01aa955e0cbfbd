"""Name resolution for the trio backend, bounded by the deadline.

`getaddrinfo()` blocks and cannot be cancelled on any OS (urllib3 #1334),
so it runs in a worker thread and the task waits for it; when the deadline
passes, or an enclosing trio scope is cancelled, the task stops waiting and
the lookup is abandoned (dropped if it has not started, else it finishes on
its own and its answer is dropped). That is what `trio.socket.getaddrinfo`
does through `trio.to_thread.run_sync(..., abandon_on_cancel=True)`;
netbase uses the small pool it shares with `netbase_threaded`
(`netbase._lookups`: at most `LIMIT` threads named `netbase-resolver`,
the rest queue, so a stalled DNS server cannot pile threads up) instead of
trio's thread cache, whose idle workers linger for seconds after the lookup
and would look like leaked threads to a caller checking for them.

A custom resolver is any object with `async def resolve(host, port)`
returning IP address strings in the order to try them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import trio

from netbase import ConnectTimeout
from netbase.lowlevel import getaddrinfo_addresses, resolve_errors
from netbase.lowlevel import submit_lookup as submit
from netbase_trio._deadline import Expired, deadline_for, run_until

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
        done = trio.Event()
        token = trio.lowlevel.current_trio_token()
        lookup = submit(
            getaddrinfo_addresses, host, port, notify=lambda: token.run_sync_soon(done.set)
        )
        with resolve_errors(host, port, (Expired,)):
            try:
                await run_until(_wait_event, done, deadline)
            except BaseException:
                lookup.abandon()  # timed out or cancelled: nobody waits for the answer
                raise
        result: list[str] = lookup.outcome()
        return result

    def __repr__(self) -> str:
        return "SystemResolver()"


async def _wait_event(event: trio.Event) -> None:
    await event.wait()
