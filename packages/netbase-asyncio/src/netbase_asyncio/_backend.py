"""`NetworkBackend`: opens asyncio streams."""

from __future__ import annotations

import asyncio
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from netbase import (
    AsyncLock,
    AsyncNetworkBackendInterface,
    ConnectTimeout,
    current_deadline,
    remaining,
)
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
    is_ip_literal,
    listen_socket,
    listen_unix_socket,
    prepare_serve,
    resolve_errors,
    unix_connect_errors,
)
from netbase_asyncio import _primitives
from netbase_asyncio._connect import can_loop_connect, loop_connect, open_tcp_socket
from netbase_asyncio._deadline import Expired, await_until, run_until
from netbase_asyncio._listener import NetworkListener
from netbase_asyncio._resolver import Resolver, SystemResolver
from netbase_asyncio._server import Server
from netbase_asyncio._stream import NetworkStream
from netbase_asyncio._transports import StreamProtocol

__all__ = ["NetworkBackend"]

_monotonic = time.monotonic


class NetworkBackend(BackendOptions, AsyncNetworkBackendInterface):
    """Opens TCP and UNIX streams on the running asyncio loop (uvloop included).

    Every option is keyword-only and optional:

    - `resolver`: an object with `async resolve(host, port) -> list of IP
      strings` (default: `getaddrinfo` in the loop's executor, bounded by
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
        ([`netbase.ConnectTimeout`][netbase.ConnectTimeout]); failure raises
        [`netbase.ConnectError`][netbase.ConnectError] naming the host and port, with the
        cause chained. TCP_NODELAY is on. A cancelled connect leaves no
        socket open.
        """
        check_host_port(host, port)
        deadline = current_deadline()  # one ContextVar.get() when no timeout is active
        if deadline != math.inf and deadline <= _monotonic():
            raise ConnectTimeout("timed out: the deadline passed")
        if is_ip_literal(host):
            addresses: Sequence[str] = [host]
        else:
            addresses = await self._resolve(host, port, deadline)
        targets = connection_targets(host, port, addresses, self._local_address)
        if can_loop_connect(targets, self._local_address, self._socket_options):
            protocol = StreamProtocol(asyncio.get_running_loop())
            await loop_connect(host, port, targets[0], protocol, deadline)
            return NetworkStream._from_protocol(protocol, host)
        sock, _address = await open_tcp_socket(
            host,
            port,
            addresses,
            local_address=self._local_address,
            socket_options=self._socket_options,
            happy_eyeballs_delay=self._happy_eyeballs_delay,
            deadline=deadline,
        )
        with close_on_failure(sock):
            try:
                return await NetworkStream._adopt(sock, None, host)
            except OSError as exc:
                raise connect_error(host, port, str(exc)) from exc

    async def _resolve(self, host: str, port: int, deadline: float) -> Sequence[str]:
        """The resolver's answer, under the deadline whatever the resolver does."""
        lookup = self._resolver.resolve(host, port)
        check_resolver_call(self._resolver, lookup, "asyncio")
        with resolve_errors(host, port, (Expired,)):
            if deadline == math.inf:
                answer = await lookup  # no task to run it in: nothing to cancel it with
            else:
                answer = await run_until(asyncio.ensure_future(lookup), deadline)
        return check_resolver_answer(self._resolver, host, answer)

    async def connect_unix(self, path: str | bytes | os.PathLike[str]) -> NetworkStream:
        """Connect to a UNIX domain socket at `path`; the stream behaves as a TCP one."""
        address = check_unix_path(path)
        remaining(ConnectTimeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with unix_connect_errors(address, (Expired,)), close_on_failure(sock):
            for option in self._socket_options:
                sock.setsockopt(*option)
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            connecting = loop.sock_connect(sock, address)
            deadline = current_deadline()
            if deadline == math.inf:
                await connecting
            else:
                await await_until(loop, connecting, deadline)
            return await NetworkStream._adopt(sock, None, None)

    async def listen(
        self, host: str, port: int, *, backlog: int = DEFAULT_BACKLOG
    ) -> NetworkListener:
        """Listen on `host` (an IP address) and `port` (0 for an ephemeral one).

        `SO_REUSEADDR` is on; `::` listens on IPv6 only. Bad arguments
        raise `TypeError` / `ValueError` before any socket exists; a port
        in use or not allowed raises `netbase.NetworkError` with its
        `errno` (`EADDRINUSE`, `EACCES`) and the cause chained.
        """
        return NetworkListener(listen_socket(host, port, backlog))

    async def listen_unix(
        self, path: str | bytes | os.PathLike[str], *, backlog: int = DEFAULT_BACKLOG
    ) -> NetworkListener:
        """Listen on a UNIX domain socket at `path` (which must not exist yet)."""
        return NetworkListener(listen_unix_socket(path, backlog))

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
        """A server running `await handler(stream)` for each connection, in tasks.

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
        """`asyncio.sleep`."""
        await _primitives.sleep(seconds)

    def create_lock(self) -> AsyncLock:
        """An `asyncio.Lock`."""
        return _primitives.create_lock()

    def create_semaphore(self, value: int) -> _primitives.DeadlineSemaphore:
        """A semaphore whose `acquire()` honours the active timeout."""
        return _primitives.create_semaphore(value)

    def create_event(self) -> _primitives.DeadlineEvent:
        """An event whose `wait()` honours the active timeout."""
        return _primitives.create_event()

    def __repr__(self) -> str:
        return "<NetworkBackend [asyncio]>"
