"""`NetworkBackend`: opens threaded streams."""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence

from netbase import (
    ConnectTimeout,
    NetworkBackendInterface,
    current_deadline,
    remaining,
)
from netbase.lowlevel import (
    DEFAULT_BACKLOG,
    BackendOptions,
    check_host_port,
    check_resolver_answer,
    check_unix_path,
    close_on_failure,
    format_address,
    format_peer,
    listen_socket,
    listen_unix_socket,
    prepare_serve,
    resolve_errors,
    unix_connect_errors,
)
from netbase_threaded._connect import SocketOption, is_ip_literal, open_tcp_socket
from netbase_threaded._listener import NetworkListener
from netbase_threaded._resolver import Resolver, SystemResolver
from netbase_threaded._server import Server
from netbase_threaded._stream import NetworkStream

__all__ = ["NetworkBackend"]

_monotonic = time.monotonic


class NetworkBackend(BackendOptions, NetworkBackendInterface):
    """Opens TCP and UNIX streams on blocking sockets.

    Every option is keyword-only and optional:

    - `resolver`: an object with `resolve(host, port) -> list of IP strings`
      (default: the system resolver, bounded by the deadline).
    - `local_address`: the source IP to connect from.
    - `socket_options`: `setsockopt` argument tuples, applied to every
      socket before `connect()`.
    - `happy_eyeballs_delay`: seconds between connection attempts when a name
      has several addresses (default 0.25); `None` tries them one after
      another.
    """

    _resolver: Resolver

    def __init__(
        self,
        *,
        resolver: Resolver | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] = (),
        happy_eyeballs_delay: float | None = 0.25,
    ) -> None:
        self._set_options(
            resolver, local_address, socket_options, happy_eyeballs_delay, SystemResolver
        )

    def connect(self, host: str, port: int) -> NetworkStream:
        """Resolve `host`, connect to `port` and return an open stream.

        Resolution and every attempt run under the effective deadline
        ([`netbase.ConnectTimeout`][netbase.ConnectTimeout]); failure raises
        [`netbase.ConnectError`][netbase.ConnectError] naming the host and port, with the
        cause chained. TCP_NODELAY is on.
        """
        check_host_port(host, port)
        deadline = current_deadline()
        if deadline != math.inf and deadline <= _monotonic():  # before any I/O
            raise ConnectTimeout("timed out: the deadline passed")  # as remaining() says it
        if is_ip_literal(host):
            addresses: Sequence[str] = [host]
        else:
            with resolve_errors(host, port):
                answer = self._resolver.resolve(host, port)
            addresses = check_resolver_answer(self._resolver, host, answer)
            deadline = current_deadline()  # a timeout may have been cancelled meanwhile
        sock, address = open_tcp_socket(
            host,
            port,
            addresses,
            local_address=self._local_address,
            socket_options=self._socket_options,
            happy_eyeballs_delay=self._happy_eyeballs_delay,
            deadline=deadline,
        )
        return NetworkStream._adopt(sock, format_address(address, port), host)

    def connect_unix(self, path: str | bytes | os.PathLike[str]) -> NetworkStream:
        """Connect to a UNIX domain socket at `path`; the stream behaves as a TCP one."""
        address = check_unix_path(path)
        timeout = remaining(ConnectTimeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with unix_connect_errors(address, (TimeoutError,)), close_on_failure(sock):
            for option in self._socket_options:
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            sock.connect(address)
            sock.settimeout(None)
        return NetworkStream._adopt(sock, format_peer(address), None)

    def listen(self, host: str, port: int, *, backlog: int = DEFAULT_BACKLOG) -> NetworkListener:
        """Listen on `host` (an IP address) and `port` (0 for an ephemeral one).

        `SO_REUSEADDR` is on; `::` listens on IPv6 only. Bad arguments
        raise `TypeError` / `ValueError` before any socket exists; a port
        in use or not allowed raises `netbase.NetworkError` with its
        `errno` (`EADDRINUSE`, `EACCES`) and the cause chained.
        """
        return NetworkListener(listen_socket(host, port, backlog))

    def listen_unix(
        self, path: str | bytes | os.PathLike[str], *, backlog: int = DEFAULT_BACKLOG
    ) -> NetworkListener:
        """Listen on a UNIX domain socket at `path` (which must not exist yet)."""
        return NetworkListener(listen_unix_socket(path, backlog))

    def serve(
        self,
        host: str,
        port: int,
        handler: Callable[[NetworkStream], object],
        *,
        backlog: int = DEFAULT_BACKLOG,
        max_handlers: int = 100,
        shutdown_timeout: float = 5.0,
    ) -> Server:
        """A server running `handler(stream)` for each connection, in threads.

        Use it as a context manager (`with net.serve(...) as server:`); see
        `Server` for what it guarantees. `server.port` is the port served.
        """
        sock, limit, grace = prepare_serve(
            host, port, handler, backlog, max_handlers, shutdown_timeout
        )
        return Server(NetworkListener(sock), handler, max_handlers=limit, shutdown_timeout=grace)

    def sleep(self, seconds: float) -> None:
        """`time.sleep`."""
        time.sleep(seconds)

    def __repr__(self) -> str:
        return "<NetworkBackend [threaded]>"
