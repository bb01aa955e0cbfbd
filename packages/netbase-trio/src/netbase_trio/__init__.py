"""netbase on trio.

`NetworkBackend()` opens streams; everything else is re-exported from
`netbase` so that code reads the same with only the module swapped:

```python
import netbase_trio as netbase

net = netbase.NetworkBackend()
async with netbase.timeout(10.0):
    async with await net.connect("www.example.com", 443) as stream:
        await stream.start_tls(hostname="www.example.com")
```

A socket connected by other means becomes a stream with
`await netbase_trio.NetworkStream.from_socket(sock)`.
"""

# Before anything imports `netbase`: make sure it is ours, not PyPI's namesake.
from netbase_trio._corecheck import check_core

check_core()

from netbase import AsyncNetworkBackendInterface as NetworkBackendInterface
from netbase import AsyncNetworkStreamInterface as NetworkStreamInterface
from netbase import (
    ConnectError,
    ConnectTimeout,
    NetworkError,
    ReadError,
    ReadTimeout,
    TimeoutError,
    WriteError,
    WriteTimeout,
    default_ssl_context,
    timeout,
)
from netbase_trio._backend import NetworkBackend
from netbase_trio._resolver import Resolver, SystemResolver
from netbase_trio._stream import NetworkStream

__version__ = "0.1.0"

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "NetworkBackend",
    "NetworkBackendInterface",
    "NetworkError",
    "NetworkStream",
    "NetworkStreamInterface",
    "ReadError",
    "ReadTimeout",
    "Resolver",
    "SystemResolver",
    "TimeoutError",
    "WriteError",
    "WriteTimeout",
    "default_ssl_context",
    "timeout",
]
