"""Name resolution for the asyncio backend, bounded by the deadline.

`getaddrinfo()` cannot be cancelled on any OS (urllib3 #1334). The lookup
runs in the loop's default executor; at the deadline the caller stops waiting
and abandons it (the worker thread finishes on its own, its answer dropped).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from netbase import ConnectTimeout, current_deadline, remaining
from netbase.lowlevel import connect_error, getaddrinfo_addresses
from netbase_asyncio._deadline import Expired, run_until

__all__ = ["Resolver", "SystemResolver"]


class Resolver(Protocol):
    """Turns a host name into IP addresses, in the order to try them (async)."""

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        """IP address strings for `host` (`port` is a hint; most ignore it)."""
        ...


class SystemResolver:
    """The operating system's resolver (`getaddrinfo` in the default executor)."""

    async def resolve(self, host: str, port: int) -> list[str]:
        """Resolve `host`; [`ConnectTimeout`][netbase.ConnectTimeout] at the deadline."""
        remaining(ConnectTimeout)
        loop = asyncio.get_running_loop()
        lookup = loop.run_in_executor(None, getaddrinfo_addresses, host, port)
        try:
            return await run_until(lookup, current_deadline())
        except Expired as exc:
            raise connect_error(host, port, "timed out resolving the name", ConnectTimeout) from exc

    def __repr__(self) -> str:
        return "SystemResolver()"
