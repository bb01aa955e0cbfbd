"""The conformance kit: prove that a backend keeps the netbase contract.

Installed with the `testing` extra (`pip install "netbase[testing]"`), which
brings `trustme` (certificates for the TLS servers) and `pytest`; a plain
`netbase` install pulls no test tools.

- [`check_backend`][netbase.testing.check_backend] runs the contract's checks,
  clause by clause, against any backend, sync (threads) or async (asyncio,
  uvloop or trio), and raises
  [`ConformanceError`][netbase.testing.ConformanceError] naming every clause
  that broke, with what was expected and what came.
- The loopback servers it uses are public too
  ([`Server`][netbase.testing.Server] and its handlers,
  [`full_backlog`][netbase.testing.full_backlog],
  [`Certificates`][netbase.testing.Certificates]): plain stdlib sockets in
  threads, so they serve sync and async tests alike, and judge a backend by a
  peer that shares no code with it. `netbase.testing.pytest_plugin` offers
  some of them as pytest fixtures (opt in with
  `pytest_plugins = ["netbase.testing.pytest_plugin"]`).

```python
import netbase_threaded
from netbase.testing import check_backend

def test_my_backend():
    check_backend(netbase_threaded.NetworkBackend)
```
"""

from __future__ import annotations

try:
    import pytest  # noqa: F401
    import trustme  # noqa: F401
except ImportError as exc:
    raise ImportError(
        f"netbase.testing needs {exc.name}, which comes with the `testing` extra: install "
        "it with `pip install 'netbase[testing]'` (or `uv add --dev 'netbase[testing]'`)"
    ) from exc

from netbase.testing._check import (
    CLAUSES,
    CheckFailure,
    ConformanceError,
    check_backend,
)
from netbase.testing._servers import (
    Certificates,
    Handler,
    Server,
    abort,
    abort_after_handshake,
    close_mid_handshake,
    echo,
    full_backlog,
    garbage_hello,
    record_close,
    relay_to,
    reset_after,
    send_then_close,
    silent,
    silent_for,
    slow_reader,
    stall_until,
    unused_port,
)

__all__ = [
    "CLAUSES",
    "Certificates",
    "CheckFailure",
    "ConformanceError",
    "Handler",
    "Server",
    "abort",
    "abort_after_handshake",
    "check_backend",
    "close_mid_handshake",
    "echo",
    "full_backlog",
    "garbage_hello",
    "record_close",
    "relay_to",
    "reset_after",
    "send_then_close",
    "silent",
    "silent_for",
    "slow_reader",
    "stall_until",
    "unused_port",
]
