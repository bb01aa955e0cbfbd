"""netbase on blocking sockets.

`NetworkBackend()` opens streams; everything else is re-exported from
`netbase` so that code reads the same with only the module swapped:

```python
import netbase_threaded as netbase

net = netbase.NetworkBackend()
with netbase.timeout(10.0):
    with net.connect("www.example.com", 443) as stream:
        stream.start_tls(hostname="www.example.com")
```
"""

# Before anything imports `netbase`: make sure it is ours, not PyPI's namesake.
from netbase_threaded._corecheck import check_core

check_core()

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
from netbase import NetworkBackendInterface as NetworkBackendInterface
from netbase import NetworkStreamInterface as NetworkStreamInterface
from netbase_threaded._backend import NetworkBackend
from netbase_threaded._resolver import Resolver, SystemResolver
from netbase_threaded._stream import NetworkStream

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
