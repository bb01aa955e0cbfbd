"""Fixtures for the kit's loopback servers, for a suite's own tests (opt in).

Not registered on install (a plain `netbase` install has no `trustme`): enable
it in a `conftest.py` with

```python
pytest_plugins = ["netbase.testing.pytest_plugin"]
```

or with `pytest -p netbase.testing.pytest_plugin`. The servers run in
threads, so the same fixtures serve sync tests and async ones (asyncio, trio).
Each is started once per session and closed at its end.

- `netbase_certificates`: the [`Certificates`][netbase.testing.Certificates]
  the TLS servers use; `netbase_certificates.client_context()` trusts them.
- `netbase_echo_server`, `netbase_tls_echo_server`: echo peers on `127.0.0.1`
  ([`Server`][netbase.testing.Server]; `.host`, `.port`).
- `netbase_silent_server`: accepts and never speaks (for read deadlines).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netbase.testing._servers import Certificates, Server, echo, silent

__all__ = [
    "netbase_certificates",
    "netbase_echo_server",
    "netbase_silent_server",
    "netbase_tls_echo_server",
]


@pytest.fixture(scope="session")
def netbase_certificates() -> Certificates:
    """A throwaway certificate authority and the servers' certificate (for `localhost`)."""
    return Certificates()


@pytest.fixture(scope="session")
def netbase_echo_server() -> Iterator[Server]:
    """A plain echo server on `127.0.0.1`."""
    with Server(echo, name="echo") as server:
        yield server


@pytest.fixture(scope="session")
def netbase_tls_echo_server(netbase_certificates: Certificates) -> Iterator[Server]:
    """A TLS echo server on `127.0.0.1`, certified for `localhost` by `netbase_certificates`."""
    with Server(echo, tls=netbase_certificates.server_context(), name="tls-echo") as server:
        yield server


@pytest.fixture(scope="session")
def netbase_silent_server() -> Iterator[Server]:
    """A server that accepts and never speaks."""
    with Server(silent, name="silent") as server:
        yield server
