"""`NetworkBackend`: opens trio streams."""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import cast

import trio

from netbase import AsyncLock, AsyncNetworkBackendInterface, ConnectTimeout
from netbase.lowlevel import (
    DEFAULT_BACKLOG,
    BackendOptions,
    SocketOption,
    check_host_port,
    check_resolver_answer,
    check_resolver_call,
    check_unix_path,
    close_on_failure,
    connect_error,
    connection_targets,
    format_address,
    format_peer,
    is_ip_literal,
    listen_socket,
    listen_unix_socket,
    prepare_serve,
    resolve_errors,
    unix_connect_errors,
)
from netbase_trio import _primitives
from netbase_trio._connect import connect_single, connect_socket, open_tcp_socket
from netbase_trio._deadline import Expired, deadline_for, run_until, trio_deadline
from netbase_trio._listener import NetworkListener
from netbase_trio._resolver import Resolver, SystemResolver
from netbase_trio._server import Server
from netbase_trio._stream import NetworkStream

__all__ = ["NetworkBackend"]


class NetworkBackend(BackendOptions, AsyncNetworkBackendInterface):
    """Opens TCP and UNIX streams on trio.

    Every option is keyword-only and optional:

    - `resolver`: an object with `async resolve(host, port) -> list of IP
      strings` (default: the system resolver in a worker thread, abandoned at
      the deadline).
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

    async def connect(self, host: str, port: int) -> NetworkStream:
        """Resolve `host`, connect to `port` and return an open stream.

        Resolution and every attempt run under the effective deadline
        ([`netbase.ConnectTimeout`][netbase.ConnectTimeout]), a trio cancel scope
        entered only when the connect has to wait; failure
        raises [`netbase.ConnectError`][netbase.ConnectError] naming the host and port, with
        the cause chained. TCP_NODELAY is on. A cancellation of an enclosing
        trio scope stays a `trio.Cancelled` and leaves no socket open.
        """
        check_host_port(host, port)
        deadline = deadline_for(ConnectTimeout)
        if is_ip_literal(host):
            # One address, nothing to resolve: the short path, which holds the
            # deadline itself (a cancel scope only if the connect must wait).
            (address,) = connection_targets(host, port, [host], self._local_address)
            sock = await connect_single(
                host, port, address, self._local_address, self._socket_options, deadline
            )
            return NetworkStream._adopt(sock, format_address(address, port), host)
        # What the deadline interrupted, for the message: [what is under way].
        step = ["resolving the name"]
        if deadline is None:
            return await self._connect(host, port, step)
        with trio.CancelScope(deadline=trio_deadline(deadline)) as scope:
            return await self._connect(host, port, step)
        # Only reached when our scope caught its own cancellation.
        assert scope.cancelled_caught
        raise connect_error(host, port, f"timed out {step[0]}", ConnectTimeout)

    async def _connect(self, host: str, port: int, step: list[str]) -> NetworkStream:
        pending = self._resolver.resolve(host, port)
        check_resolver_call(self._resolver, pending, "trio")
        with resolve_errors(host, port):
            answer = await pending
        addresses = check_resolver_answer(self._resolver, host, answer)
        step[0] = "connecting"
        sock, address = await open_tcp_socket(
            host,
            port,
            addresses,
            local_address=self._local_address,
            socket_options=self._socket_options,
            happy_eyeballs_delay=self._happy_eyeballs_delay,
        )
        # No checkpoint between here and the caller: the socket cannot be lost.
        return NetworkStream._adopt(sock, format_address(address, port), host)

    async def connect_unix(self, path: str | bytes | os.PathLike[str]) -> NetworkStream:
        """Connect to a UNIX domain socket at `path`; the stream behaves as a TCP one."""
        address = check_unix_path(path)
        deadline = deadline_for(ConnectTimeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with unix_connect_errors(address, (Expired,)), close_on_failure(sock):
            for option in self._socket_options:
                sock.setsockopt(*option)
            await run_until(lambda s: connect_socket(s, address), sock, deadline)
        return NetworkStream._adopt(sock, format_peer(address), None)

    async def listen(
        self, host: str, port: int, *, backlog: int = DEFAULT_BACKLOG
    ) -> NetworkListener:
        """Listen on `host` (an IP address) and `port` (0 for an ephemeral one).

        `SO_REUSEADDR` is on; `::` listens on IPv6 only. Bad arguments
        raise `TypeError` / `ValueError` before any socket exists; a port
        in use or not allowed raises `netbase.NetworkError` with its
        `errno` (`EADDRINUSE`, `EACCES`) and the cause chained.
        """
        listener = NetworkListener(listen_socket(host, port, backlog))
        await trio.lowlevel.checkpoint()
        return listener

    async def listen_unix(
        self, path: str | bytes | os.PathLike[str], *, backlog: int = DEFAULT_BACKLOG
    ) -> NetworkListener:
        """Listen on a UNIX domain socket at `path` (which must not exist yet)."""
        listener = NetworkListener(listen_unix_socket(path, backlog))
        await trio.lowlevel.checkpoint()
        return listener

    def serve(
        self,
        host: str,
        port: int,
        handler: Callable[[NetworkStream], Awaitable[object]],
        *,
        backlog: int = DEFAULT_BACKLOG,
        max_handlers: int = 1000,
        shutdown_timeout: float = 5.0,
    ) -> Server:
        """A server running `await handler(stream)` for each connection, in a nursery.

        Use it as an async context manager
        (`async with net.serve(...) as server:`); see `Server` for what it
        guarantees. The socket listens from this call on, so `server.port` is
        known at once.
        """
        sock, limit, grace = prepare_serve(
            host, port, handler, backlog, max_handlers, shutdown_timeout
        )
        return Server(NetworkListener(sock), handler, max_handlers=limit, shutdown_timeout=grace)

    async def sleep(self, seconds: float) -> None:
        """`trio.sleep`."""
        await _primitives.sleep(seconds)

    def create_lock(self) -> AsyncLock:
        """A `trio.Lock`."""
        # trio.Lock names its __aexit__ arguments; the protocol takes *exc_info.
        return cast("AsyncLock", _primitives.create_lock())

    def create_semaphore(self, value: int) -> _primitives.DeadlineSemaphore:
        """A trio semaphore whose `acquire()` honours the active timeout."""
        return _primitives.create_semaphore(value)

    def create_event(self) -> _primitives.DeadlineEvent:
        """A trio event whose `wait()` honours the active timeout."""
        return _primitives.create_event()

    def __repr__(self) -> str:
        return "<NetworkBackend [trio]>"
