"""The server side, shared by every runtime: listener interfaces, checks, sockets.

A listener is the other end of `connect()`: `accept()` gives a stream with
every behaviour of the contract. What does not depend on the runtime lives
here once: the interfaces (sync and async), the argument checks (bad input
fails before any socket exists), opening the listening socket, the checks of
server-side TLS and the repr. Each runtime only waits for a connection in its
own way.
"""

from __future__ import annotations

import abc
import errno
import logging
import os
import socket
import ssl
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from netbase._addresses import format_peer, host_port
from netbase._exceptions import ConnectTimeout, NetworkError, close_on_failure
from netbase._options import check_unix_path
from netbase._validate import check_host_port, check_tls_args

if TYPE_CHECKING:
    from netbase._interfaces import AsyncNetworkStreamInterface, NetworkStreamInterface

__all__ = [
    "DEFAULT_BACKLOG",
    "ListenerBase",
    "ServerBase",
    "check_connect_tls_args",
    "prepare_serve",
    "start_tls_args",
    "accepted_peer",
    "AsyncNetworkListenerInterface",
    "NetworkListenerInterface",
    "check_serve_options",
    "check_server_tls_args",
    "closed_listener_error",
    "listen_socket",
    "listen_unix_socket",
    "listener_repr",
    "server_logger",
]

# The backlog listen() asks for; the kernel caps it at net.core.somaxconn
# (4096 on Linux since 5.4). trio asks for as much as it can too: a burst of
# clients beyond the backlog waits for SYN retransmissions, a second or more.
DEFAULT_BACKLOG = 4096
"""The listen queue asked for when no `backlog` is given (the OS may cap it)."""

# Where serve() reports a handler that raised: the server keeps serving, and
# the error, with its traceback, goes to this logger at ERROR level.
server_logger = logging.getLogger("netbase.server")

# accept() failures that concern one connection, not the listener: the client
# gave up between its SYN and our accept(). Like trio, skip it and wait again.
TRANSIENT_ACCEPT_ERRORS = frozenset(
    {errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EAGAIN, errno.EWOULDBLOCK}
)

_L = TypeVar("_L", bound="NetworkListenerInterface")
_AL = TypeVar("_AL", bound="AsyncNetworkListenerInterface")


class NetworkListenerInterface(abc.ABC):
    """A listening socket that hands out streams (sync).

    `with listener:` closes it on the way out.
    """

    @abc.abstractmethod
    def accept(self) -> NetworkStreamInterface:
        """Wait for a connection and return it as an open stream.

        Honours the active `netbase.timeout` (`netbase.ConnectTimeout`).
        Once the listener is closed (also when `close()` is called while
        waiting) it raises `netbase.NetworkError` saying so.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Stop listening (idempotent); wakes every waiting `accept()`."""

    @property
    @abc.abstractmethod
    def address(self) -> Any:
        """The address listened on: `(host, port)` (the real port for port 0), or a path."""

    def __enter__(self: _L) -> _L:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncNetworkListenerInterface(abc.ABC):
    """A listening socket that hands out streams (async): the sync one's methods as coroutines.

    `async with listener:` closes it on the way out.
    """

    @abc.abstractmethod
    async def accept(self) -> AsyncNetworkStreamInterface:
        """Wait for a connection and return it as an open stream.

        Honours the active `netbase.timeout` (`netbase.ConnectTimeout`).
        Once the listener is closed (also when `close()` is called while
        waiting) it raises `netbase.NetworkError` saying so.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop listening (idempotent); wakes every waiting `accept()`."""

    @property
    @abc.abstractmethod
    def address(self) -> Any:
        """The address listened on: `(host, port)` (the real port for port 0), or a path."""

    async def __aenter__(self: _AL) -> _AL:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class ListenerBase:
    """What the three runtimes' listeners share: the address, the repr, accept's failures."""

    _address: Any
    _closed: bool

    @property
    def address(self) -> Any:
        """`(host, port)` listened on (the real port when 0 was asked for), or the path."""
        return self._address

    @property
    def port(self) -> int:
        """The TCP port listened on (the ephemeral one for port 0)."""
        return int(self._address[1])

    def _accept_timeout(self) -> ConnectTimeout:
        """The error of an `accept()` whose deadline passed."""
        return ConnectTimeout(f"timed out waiting for a connection on {self!r}")

    def _adopt_failed(self, exc: OSError) -> NetworkError:
        """The error when an accepted socket cannot be made a stream (it is closed)."""
        return NetworkError(f"accepting a connection on {self!r} failed: {exc}")

    def _accept_failed(self, exc: OSError) -> NetworkError | None:
        """What a failed `accept()` raises; `None` when it concerns one client only."""
        if self._closed:
            return closed_listener_error(self)
        if exc.errno in TRANSIENT_ACCEPT_ERRORS:
            return None
        return NetworkError(exc.errno, f"accept on {self!r} failed: {exc}")

    def __repr__(self) -> str:
        return listener_repr(self._address, self._closed)


class ServerBase:
    """What the three runtimes' `Server` share: the address, the reports, the repr."""

    listener: ListenerBase

    def __init__(self, listener: ListenerBase, handler: Any, shutdown_timeout: float) -> None:
        self.listener = listener
        self._handler = handler
        self._shutdown_timeout = shutdown_timeout
        self._closing = False

    @property
    def address(self) -> Any:
        """The address served: `(host, port)`, the real port for port 0."""
        return self.listener.address

    @property
    def port(self) -> int:
        """The TCP port served (the ephemeral one for port 0)."""
        return self.listener.port

    def _stopping(self) -> bool:
        """Whether `close()` has begun (a call, so that type checkers do not narrow it)."""
        return self._closing

    def _report(self, stream: object, exc: Exception) -> None:
        """Log a handler's exception, unless it is the shutdown waking the handler."""
        if not (self._closing and isinstance(exc, NetworkError)):
            server_logger.error("the handler for %r raised", stream, exc_info=exc)

    def _report_accept(self, exc: NetworkError) -> None:
        # Out of descriptors or memory: say so; the loop breathes and goes on.
        server_logger.error("accept() failed on %r: %s", self.listener, exc)

    def _report_stuck(self, count: int, timeout: float, what: str) -> None:
        server_logger.error(
            "%d handler(s) still running %.1f s after the server closed: %s", count, timeout, what
        )

    def __repr__(self) -> str:
        return f"<Server {self.listener!r}{' CLOSED' if self._closing else ''}>"


def prepare_serve(
    host: str,
    port: int,
    handler: object,
    backlog: int,
    max_handlers: object,
    shutdown_timeout: object,
) -> tuple[socket.socket, int, float]:
    """`serve()`'s checks, then its listening socket: the socket and the two options."""
    checked_max, checked_timeout = check_serve_options(max_handlers, shutdown_timeout)
    if not callable(handler):
        raise TypeError(f"handler must be callable, not {type(handler).__name__}")
    return listen_socket(host, port, backlog), checked_max, checked_timeout


# -- checks -------------------------------------------------------------------


def check_backlog(backlog: object) -> int:
    """`backlog`: a non-negative int."""
    if isinstance(backlog, bool) or not isinstance(backlog, int):
        raise TypeError(f"backlog must be an int, not {type(backlog).__name__}")
    if backlog < 0:
        raise ValueError(f"backlog must not be negative, not {backlog}")
    return backlog


def _family_of(host: str) -> int:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    raise ValueError(
        f"listen() takes an IP address (such as '127.0.0.1', '::1' or '0.0.0.0'), not {host!r}"
    )


def check_listen_args(host: object, port: object, backlog: object) -> int:
    """`listen(host, port, backlog=...)`: an IP literal, a port in 0..65535; the family."""
    check_host_port(host, port)
    check_backlog(backlog)
    assert isinstance(host, str)
    return _family_of(host)


def check_server_tls_args(ctx: object, hostname: object) -> ssl.SSLContext:
    """`start_tls(ctx, server_side=True)`: a server context, and no hostname.

    A server has no default context (it needs its own certificate), and a
    hostname means nothing to it (SNI comes from the client).
    """
    if ctx is None:
        raise TypeError("server-side TLS needs the server's ssl.SSLContext (with its certificate)")
    if not isinstance(ctx, ssl.SSLContext):
        raise TypeError(f"ctx must be an ssl.SSLContext, not {type(ctx).__name__}")
    if ctx.protocol == ssl.PROTOCOL_TLS_CLIENT:
        raise ValueError(
            "server-side TLS needs a server context (ssl.PROTOCOL_TLS_SERVER, as made by "
            "ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)), not a client one"
        )
    if hostname is not None:
        raise ValueError("hostname is for the client side; server-side TLS takes none")
    return ctx


def check_connect_tls_args(ctx: object, hostname: object) -> None:
    """`connect_tls(..., hostname=, ctx=)`: the checks of `start_tls`, before any I/O.

    Without building the default context for `ctx=None`: that is
    `start_tls`'s job, which on the async runtimes builds it off the loop.
    """
    if ctx is not None and not isinstance(ctx, ssl.SSLContext):
        raise TypeError(f"ctx must be an ssl.SSLContext or None, not {type(ctx).__name__}")
    if hostname is not None:
        check_tls_args(ctx if ctx is not None else _ANY_CONTEXT, hostname)


# Stands in for ctx=None when only the hostname is checked (a context costs
# nothing to make until certificates are loaded into it).
_ANY_CONTEXT = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def start_tls_args(
    ctx: object, hostname: object, server_side: bool, default_hostname: str | None
) -> tuple[ssl.SSLContext, str | None]:
    """`start_tls(ctx, hostname, server_side=...)`: the context and hostname to use."""
    if server_side:
        return check_server_tls_args(ctx, hostname), None
    context = check_tls_args(ctx, hostname)
    return context, default_hostname if hostname is None else cast("str", hostname)


# -- sockets ------------------------------------------------------------------


def _listen_error(what: str, exc: OSError) -> NetworkError:
    """`NetworkError` keeping the errno (`EADDRINUSE`, `EACCES`...) for callers to test."""
    return NetworkError(exc.errno or errno.EIO, f"cannot listen on {what}: {exc.strerror or exc}")


def listen_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A blocking TCP socket listening on `host:port`; checks its arguments first.

    `SO_REUSEADDR` is on, as servers expect: a restarted server binds again
    at once although connections of the previous one sit in TIME_WAIT. (On
    Linux it does not let two live listeners share a port; that takes
    `SO_REUSEPORT`.) An IPv6 socket is IPv6 only, so that `::` and
    `0.0.0.0` can be listened on side by side, as trio does.
    """
    family = check_listen_args(host, port, backlog)
    sock = socket.socket(family, socket.SOCK_STREAM)
    with close_on_failure(sock):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            sock.listen(backlog)
        except OSError as exc:
            raise _listen_error(format_peer((host, port)), exc) from exc
    return sock


def listen_unix_socket(path: str | bytes | os.PathLike[str], backlog: int) -> socket.socket:
    """A blocking UNIX socket listening at `path`; checks its arguments first.

    An existing file at `path` is an error (`EADDRINUSE`): it is not
    removed, and neither is the socket file when the listener closes.
    """
    address = check_unix_path(path)
    check_backlog(backlog)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with close_on_failure(sock):
        try:
            sock.bind(address)
            sock.listen(backlog)
        except OSError as exc:
            raise _listen_error(format_peer(address), exc) from exc
    return sock


def listening_address(sock: socket.socket) -> Any:
    """The address a listening socket reports: `(host, port)` or a path."""
    return host_port(sock.getsockname())


def closed_listener_error(listener: object) -> NetworkError:
    """What `accept()` raises on a closed listener."""
    return NetworkError(errno.EBADF, f"cannot accept: {listener!r} is closed")


def listener_repr(address: Any, closed: bool) -> str:
    """`<NetworkListener ["127.0.0.1:8080"]>`, `<NetworkListener ["[::1]:8080" CLOSED]>`."""
    return f'<NetworkListener ["{format_peer(address)}"{" CLOSED" if closed else ""}]>'


def check_serve_options(max_handlers: object, shutdown_timeout: object) -> tuple[int, float]:
    """`serve(..., max_handlers=, shutdown_timeout=)`: a positive int, a non-negative number."""
    if isinstance(max_handlers, bool) or not isinstance(max_handlers, int):
        raise TypeError(f"max_handlers must be an int, not {type(max_handlers).__name__}")
    if max_handlers < 1:
        raise ValueError(f"max_handlers must be at least 1, not {max_handlers}")
    if isinstance(shutdown_timeout, bool) or not isinstance(shutdown_timeout, (int, float)):
        raise TypeError(
            f"shutdown_timeout must be a number of seconds, not {type(shutdown_timeout).__name__}"
        )
    if not shutdown_timeout >= 0:  # NaN too
        raise ValueError(f"shutdown_timeout must be a non-negative number, not {shutdown_timeout}")
    return max_handlers, float(shutdown_timeout)


def accepted_peer(listening: Any, peer: Any) -> str:
    """The repr text of an accepted stream's peer (a UNIX client has no name: the path)."""
    if isinstance(peer, tuple):
        return format_peer(peer)
    return format_peer(peer or listening)
