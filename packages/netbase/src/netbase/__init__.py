"""netbase: network streams, TLS and deadlines for Python HTTP clients.

This package holds what every runtime shares: the interfaces a backend
implements, [`timeout()`][netbase.timeout] deadlines, the exceptions and the default TLS
context. The backends live in `netbase_threaded`, `netbase_asyncio` and
`netbase_trio`; each re-exports the names here so that code reads the same
with only the module swapped.
"""

from netbase._caching import AsyncCachingResolver, CachingResolver
from netbase._exceptions import (
    ConnectError,
    ConnectTimeout,
    NetworkError,
    ReadError,
    ReadTimeout,
    TimeoutError,
    WriteError,
    WriteTimeout,
)
from netbase._interfaces import (
    AsyncEvent,
    AsyncLock,
    AsyncNetworkBackendInterface,
    AsyncNetworkStreamInterface,
    AsyncSemaphore,
    Event,
    Lock,
    NetworkBackendInterface,
    NetworkStreamInterface,
    Semaphore,
)
from netbase._ssl import default_ssl_context
from netbase._timeout import Timeout, current_deadline, remaining, timeout

__version__ = "1!0.1.0"

__all__ = [
    "AsyncCachingResolver",
    "AsyncEvent",
    "AsyncLock",
    "AsyncNetworkBackendInterface",
    "AsyncNetworkStreamInterface",
    "AsyncSemaphore",
    "CachingResolver",
    "ConnectError",
    "ConnectTimeout",
    "Event",
    "Lock",
    "NetworkBackendInterface",
    "NetworkError",
    "NetworkStreamInterface",
    "ReadError",
    "ReadTimeout",
    "Semaphore",
    "Timeout",
    "TimeoutError",
    "WriteError",
    "WriteTimeout",
    "current_deadline",
    "default_ssl_context",
    "remaining",
    "timeout",
]
