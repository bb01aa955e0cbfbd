"""The exceptions every netbase backend raises.

The tree is the contract's:

```text
NetworkError(OSError)
├── ConnectError
├── ReadError
├── WriteError
└── TimeoutError (also a builtins.TimeoutError)
    ├── ConnectTimeout (also ConnectError)
    ├── ReadTimeout    (also ReadError)
    └── WriteTimeout   (also WriteError)
```

Backends never let a runtime's own exception escape (`OSError`,
`ssl.SSLError`, `trio.BrokenResourceError`...): they raise one of these
with the original chained as `__cause__`. Cancellation is never converted.
"""

from __future__ import annotations

import builtins
import socket
from collections.abc import Callable
from types import TracebackType

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "NetworkError",
    "ReadError",
    "ReadTimeout",
    "TimeoutError",
    "WriteError",
    "WriteTimeout",
]


class NetworkError(OSError):
    """Base class of every error a netbase operation raises."""


class ConnectError(NetworkError):
    """Name resolution, connecting or the TLS handshake failed.

    `host` and `port` name the target when the backend knows them.
    """

    host: str | None = None
    port: int | None = None


class ReadError(NetworkError):
    """Reading failed (connection reset, stream closed...)."""


class WriteError(NetworkError):
    """Writing failed (connection reset, broken pipe, stream closed...)."""


class TimeoutError(NetworkError, builtins.TimeoutError):
    """The effective deadline of a [`netbase.timeout()`][netbase.timeout] block passed."""


class ConnectTimeout(TimeoutError, ConnectError):
    """The deadline passed while resolving, connecting or during the TLS handshake."""


class ReadTimeout(TimeoutError, ReadError):
    """The deadline passed while reading. The stream stays open and loses nothing."""


class WriteTimeout(TimeoutError, WriteError):
    """The deadline passed while writing. Part of the data may have gone: the stream is closed."""


# Public under "netbase": tracebacks and reprs say netbase.ConnectError, as
# the contract and the docs write them, not netbase._exceptions.ConnectError.
for _cls in (
    NetworkError,
    ConnectError,
    ReadError,
    WriteError,
    TimeoutError,
    ConnectTimeout,
    ReadTimeout,
    WriteTimeout,
):
    _cls.__module__ = "netbase"
del _cls


def connect_error(
    host: str, port: int, reason: str, cls: type[ConnectError] = ConnectError
) -> ConnectError:
    """Build a [`ConnectError`][netbase.ConnectError] (or subclass) naming `host:port`."""
    from netbase._addresses import format_address

    exc = cls(f"{format_address(host, port)}: {reason}")
    exc.host = host
    exc.port = port
    return exc


# The two helpers below are classes rather than @contextmanager generators:
# they wrap every connect and accept, and a class costs three calls where a
# generator-based manager costs seven (no generator, no StopIteration).


class close_on_failure:  # lower case: used like a function, `with close_on_failure(sock):`
    """Close `sock` if the block raises anything (cancellation included), and re-raise."""

    __slots__ = ("_sock",)

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def __enter__(self) -> socket.socket:
        return self._sock

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._sock.close()


class map_errors:  # lower case: used like a function, `with map_errors(...):`
    """Raise `timed_out()` for one of `timeouts`, `failed(exc)` for an `OSError`, cause chained.

    A `NetworkError` raised in the block goes through unchanged (it is an
    `OSError` too, and already the contract's).
    """

    __slots__ = ("_failed", "_timed_out", "_timeouts")

    def __init__(
        self,
        timeouts: tuple[type[BaseException], ...],
        timed_out: Callable[[], NetworkError],
        failed: Callable[[OSError], NetworkError],
    ) -> None:
        self._timeouts = timeouts
        self._timed_out = timed_out
        self._failed = failed

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, NetworkError):
            return
        if isinstance(exc, self._timeouts):
            raise self._timed_out() from exc
        if isinstance(exc, OSError):
            raise self._failed(exc) from exc
