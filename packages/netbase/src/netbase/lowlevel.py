"""What a backend is built from: the pieces every runtime package shares.

`netbase` itself is what an application or a connection pool uses: the
interfaces, [`timeout()`][netbase.timeout], the exceptions, the default TLS
context. This module is for the people who write a backend, as
`anyio.lowlevel` is for anyio's: the checks, the connection policy and the
socket helpers that `netbase_threaded`, `netbase_asyncio` and `netbase_trio`
are made of, so that a new backend behaves as theirs do (the same errors, the
same messages, the same order of checks) without copying them. The runtime
packages import nothing else from the core: whatever is not here or in
`netbase` may change without notice.

The names, by what they are for:

- **Argument checks**, to call first, so that bad input fails with
  `TypeError` or `ValueError` before any I/O: `check_host_port`,
  `check_max_bytes` (and `DEFAULT_MAX_BYTES`), `check_data`,
  `check_tls_args`, `start_tls_args`, `check_unix_path`,
  `check_backend_options` (kept by the `BackendOptions` base of a backend),
  `check_stream_socket`, and `check_resolver_call` and
  `check_resolver_answer` for what a resolver returned.
- **Deadlines**: [`netbase.current_deadline()`][netbase.current_deadline] and
  [`netbase.remaining()`][netbase.remaining] read the effective deadline; a
  backend waits on its own runtime until then, and raises `Expired` from
  its wait when the deadline cuts it (each operation maps it to its
  timeout).
- **Errors**: `connect_error` and `connect_failed` build the
  [`ConnectError`][netbase.ConnectError] of a failed connection, naming the
  host and port, with every cause kept. Around a connect's waits,
  `resolve_errors`, `attempt_errors` and `unix_connect_errors` (three uses
  of `map_errors`) map a native failure (or the runtime's timeout) to it,
  and `close_on_failure` closes the socket when anything goes wrong, a
  cancellation included.
- **Connecting**: `HappyEyeballs` decides RFC 8305's connection race with no
  I/O and no clock; `connection_targets`, `due_attempts`, `attempt_socket`, `new_socket`,
  `sockaddr_for`, `is_ip_literal`, `getaddrinfo_addresses` and the
  `SocketOption` type are what a runtime needs to run it.
- **Streams**: `StreamBase` is what the three streams share (the state
  `OPEN` / `BROKEN` / `CLOSED`, the mapping of a native failure to
  `ReadError` / `WriteError` / `ConnectError`, the read-ahead of
  `is_readable`, `get_extra_info`, the checks opening `start_tls`);
  `format_address`, `format_peer` and `stream_repr` write
  addresses as the messages and reprs do; `address_info` answers
  `get_extra_info("client_addr" | "server_addr")`; `set_nodelay` and
  `poll_readable` are socket helpers; `busy_error` is the error for a second
  reader (or writer) while one is in progress.
- **TLS**: `TLSEngine` is the whole TLS pump with no I/O (an
  `ssl.SSLObject` over memory BIOs: handshake, decrypted data or "need
  data", close_notify and a truncated stream as the end of the stream), so
  that a runtime's TLS layer only moves bytes and waits;
  `shared_default_context_ready` and `build_shared_in_thread` let an
  event loop load the system's trust for `start_tls(ctx=None)` without
  blocking the loop.
- **Listening and serving**: `listen_socket`, `listen_unix_socket`,
  `listening_address`, `accepted_peer`, `closed_listener_error`,
  `prepare_serve`, `DEFAULT_BACKLOG`, and the `ListenerBase` and `ServerBase`
  classes that the built-in listeners and servers extend.
- **Name lookups**: `submit_lookup` runs a blocking `getaddrinfo` in a
  small process-wide pool of threads, so that a lookup abandoned at its
  deadline neither blocks the caller nor piles threads up; it returns a
  `Lookup`.
- **Runtime**: `current_async_runtime` says whether asyncio or trio runs the
  current task.

The async interfaces' `sleep()`, `create_lock()`, `create_semaphore()` and
`create_event()` come from the running library's runtime package: the core
asks `netbase_asyncio.NetworkBackend` or `netbase_trio.NetworkBackend` for
them, so a runtime package's `NetworkBackend` answers the four with its own
primitives.
"""

from __future__ import annotations

from netbase._addresses import format_address, format_peer
from netbase._connecting import attempt_errors, resolve_errors, unix_connect_errors
from netbase._exceptions import close_on_failure, connect_error, map_errors
from netbase._happy_eyeballs import (
    HappyEyeballs,
    SocketOption,
    attempt_socket,
    connect_failed,
    connection_targets,
    due_attempts,
    getaddrinfo_addresses,
    is_ip_literal,
    new_socket,
    sockaddr_for,
)
from netbase._listeners import (
    DEFAULT_BACKLOG,
    ListenerBase,
    ServerBase,
    accepted_peer,
    closed_listener_error,
    listen_socket,
    listen_unix_socket,
    listening_address,
    prepare_serve,
    start_tls_args,
)
from netbase._lookups import Lookup
from netbase._lookups import submit as submit_lookup
from netbase._options import BackendOptions, check_backend_options, check_unix_path
from netbase._runtime import current_async_runtime
from netbase._ssl import build_shared_in_thread, shared_default_context_ready
from netbase._streams import (
    BROKEN,
    CLOSED,
    OPEN,
    StreamBase,
    address_info,
    check_stream_socket,
    poll_readable,
    set_nodelay,
    stream_repr,
)
from netbase._streams import (
    busy as busy_error,
)
from netbase._timeout import Expired
from netbase._tls_engine import TLSEngine
from netbase._validate import (
    DEFAULT_MAX_BYTES,
    check_data,
    check_host_port,
    check_max_bytes,
    check_resolver_answer,
    check_resolver_call,
    check_tls_args,
)

__all__ = [
    "BackendOptions",
    "BROKEN",
    "CLOSED",
    "DEFAULT_BACKLOG",
    "DEFAULT_MAX_BYTES",
    "Expired",
    "HappyEyeballs",
    "ListenerBase",
    "Lookup",
    "OPEN",
    "ServerBase",
    "SocketOption",
    "StreamBase",
    "TLSEngine",
    "accepted_peer",
    "address_info",
    "attempt_errors",
    "attempt_socket",
    "build_shared_in_thread",
    "busy_error",
    "check_backend_options",
    "check_data",
    "check_host_port",
    "check_max_bytes",
    "check_resolver_answer",
    "check_resolver_call",
    "check_stream_socket",
    "check_tls_args",
    "check_unix_path",
    "close_on_failure",
    "closed_listener_error",
    "connect_error",
    "connect_failed",
    "connection_targets",
    "current_async_runtime",
    "due_attempts",
    "format_address",
    "format_peer",
    "getaddrinfo_addresses",
    "is_ip_literal",
    "listen_socket",
    "listen_unix_socket",
    "listening_address",
    "map_errors",
    "new_socket",
    "poll_readable",
    "prepare_serve",
    "resolve_errors",
    "set_nodelay",
    "shared_default_context_ready",
    "sockaddr_for",
    "start_tls_args",
    "stream_repr",
    "submit_lookup",
    "unix_connect_errors",
]
