"""What every runtime's connect wraps around its waits: errors mapped, sockets closed.

Each runtime waits for a connection its own way; what it does when the wait
fails is the same everywhere, and lives here as small context managers:

- `resolve_errors`, `attempt_errors`, `unix_connect_errors`, three uses of
  `map_errors` (in `_exceptions`, beside `close_on_failure`): a native
  failure (`OSError`, or the runtime's `Expired` / `TimeoutError` for its
  deadline, given as `timeouts`) becomes the contract's `ConnectError` or
  `ConnectTimeout`, with the cause chained. A netbase error raised inside
  (a resolver's own `ConnectError`, say) goes through unchanged.

They are for the connect paths only: a stream's read and write map their
errors in an `except` clause (`StreamBase`), at no cost until one fails.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from netbase._exceptions import ConnectError, ConnectTimeout, connect_error, map_errors
from netbase._happy_eyeballs import connect_failed

__all__ = ["attempt_errors", "resolve_errors", "unix_connect_errors"]

Timeouts = tuple[type[BaseException], ...]


def resolve_errors(host: str, port: int, timeouts: Timeouts = ()) -> AbstractContextManager[None]:
    """Name resolution for `host:port`: its failure becomes a `ConnectError` naming them."""
    return map_errors(
        timeouts,
        lambda: connect_error(host, port, "timed out resolving the name", ConnectTimeout),
        lambda exc: connect_error(host, port, f"could not resolve the name: {exc}"),
    )


def attempt_errors(
    host: str, port: int, address: str, timeouts: Timeouts = ()
) -> AbstractContextManager[None]:
    """One connection attempt to `address`: its failure becomes `host:port`'s `ConnectError`."""
    return map_errors(
        timeouts,
        lambda: connect_error(host, port, "timed out connecting", ConnectTimeout),
        lambda exc: connect_failed(host, port, [(address, exc)]),
    )


def unix_connect_errors(
    address: str | bytes, timeouts: Timeouts = ()
) -> AbstractContextManager[None]:
    """`connect_unix(path)`: its failure becomes a `ConnectError` naming the path."""
    return map_errors(
        timeouts,
        lambda: ConnectTimeout(f"{address!r}: timed out connecting"),
        lambda exc: ConnectError(f"{address!r}: {exc}"),
    )
