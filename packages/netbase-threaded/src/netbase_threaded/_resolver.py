"""Name resolution for the threaded backend, bounded by the deadline.

`getaddrinfo()` cannot be cancelled on any OS (urllib3 #1334): a stalled
system resolver blocks its thread for as long as it likes. So when a deadline
is active the lookup runs in one of a few shared worker threads
(`netbase._lookups`: at most `LIMIT` at once, the rest queue), and the
caller stops waiting at the deadline and abandons it. With no deadline it runs
in the caller's thread: no thread, no cost.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from netbase import ConnectTimeout, remaining
from netbase.lowlevel import connect_error, getaddrinfo_addresses
from netbase.lowlevel import submit_lookup as submit

__all__ = ["Resolver", "SystemResolver"]


class Resolver(Protocol):
    """Turns a host name into IP addresses, in the order to try them."""

    def resolve(self, host: str, port: int) -> Sequence[str]:
        """IP address strings for `host` (`port` is a hint; most ignore it)."""
        ...


class SystemResolver:
    """The operating system's resolver (`getaddrinfo`), bounded by the deadline."""

    def resolve(self, host: str, port: int) -> list[str]:
        """Resolve `host`; [`ConnectTimeout`][netbase.ConnectTimeout] at the deadline."""
        timeout = remaining(ConnectTimeout)
        if timeout is None:
            return getaddrinfo_addresses(host, port)
        done = threading.Event()
        lookup = submit(getaddrinfo_addresses, host, port, notify=done.set)
        if not done.wait(timeout):
            lookup.abandon()
            raise connect_error(host, port, "timed out resolving the name", ConnectTimeout)
        result: list[str] = lookup.outcome()
        return result

    def __repr__(self) -> str:
        return "SystemResolver()"
