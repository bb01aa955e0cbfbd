"""Opening a TCP connection on asyncio: RFC 8305 Happy Eyeballs with tasks.

Each attempt is a task running `loop.sock_connect` on a socket set up by the
core's `netbase._happy_eyeballs.new_socket()` (TCP_NODELAY, the user's
options before `connect()`, the source address). The order of attempts,
the stagger and the error messages are the threaded backend's: addresses of
the two families interleaved, a new attempt every `happy_eyeballs_delay`
seconds or at once when every attempt in flight has failed, the first to
connect wins, every other socket is closed and every task is over before this
returns, whether it succeeds, fails, times out or is cancelled.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Sequence
from typing import Any

from netbase._addresses import format_address
from netbase._exceptions import ConnectTimeout, connect_error
from netbase._happy_eyeballs import (
    SocketOption,
    connect_failed,
    connection_targets,
    new_socket,
    sockaddr_for,
)
from netbase_asyncio._timer import Expired, run_until

__all__ = ["can_loop_connect", "loop_connect", "open_tcp_socket"]

_monotonic = time.monotonic


async def open_tcp_socket(
    host: str,
    port: int,
    addresses: Sequence[str],
    *,
    local_address: str | None,
    socket_options: Sequence[SocketOption],
    happy_eyeballs_delay: float | None,
    deadline: float,
) -> socket.socket:
    """Connect to the first of `addresses` that answers; a non-blocking socket."""
    targets = connection_targets(host, port, addresses, local_address)
    if len(targets) == 1:
        return await _connect_single(
            host, port, targets[0], local_address, socket_options, deadline
        )
    return await _race(
        host, port, targets, local_address, socket_options, happy_eyeballs_delay, deadline
    )


def can_loop_connect(
    targets: Sequence[str], local_address: str | None, socket_options: Sequence[SocketOption]
) -> bool:
    """Whether `loop_connect()` can do this connect: one address, nothing to set up first.

    A source address (it wants IP_BIND_ADDRESS_NO_PORT before `bind()`),
    socket options (before `connect()`), a scope id (the loop would resolve
    it) or several addresses (the race) take the own-socket path.
    """
    return (
        len(targets) == 1 and not socket_options and local_address is None and "%" not in targets[0]
    )


async def loop_connect(
    host: str,
    port: int,
    address: str,
    protocol: asyncio.BaseProtocol,
    deadline: float,
) -> asyncio.BaseTransport:
    """Let the loop make the socket, connect it and build the transport of `protocol`.

    One await instead of two (`sock_connect`, then `create_connection(sock=)`),
    and under uvloop all of it in libuv, in one pass. The loop turns on
    TCP_NODELAY; an IP literal is not resolved (asyncio and uvloop both parse
    it in place). The loop closes its socket when the connect fails or is
    cancelled, as `open_tcp_socket()` does.
    """
    loop = asyncio.get_running_loop()
    connecting = loop.create_connection(lambda: protocol, address, port)
    try:
        if deadline == math.inf:
            transport, _ = await connecting
        else:
            transport, _ = await run_until(asyncio.ensure_future(connecting), deadline)
    except Expired as exc:
        raise connect_error(host, port, "timed out connecting", ConnectTimeout) from exc
    except OSError as exc:
        raise connect_failed(host, port, [(address, exc)]) from exc
    return transport


async def _attempt(sock: socket.socket, sockaddr: Any) -> socket.socket:
    """One connection attempt; the socket is closed unless it connects."""
    try:
        await asyncio.get_running_loop().sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


async def _connect_single(
    host: str,
    port: int,
    address: str,
    local_address: str | None,
    socket_options: Sequence[SocketOption],
    deadline: float,
) -> socket.socket:
    try:
        family, sockaddr = sockaddr_for(address, port)
        sock = new_socket(family, local_address, socket_options)
    except OSError as exc:
        raise connect_error(host, port, f"{format_address(address, port)}: {exc}") from exc
    sock.setblocking(False)
    try:
        if deadline == math.inf:
            return await _attempt(sock, sockaddr)
        return await run_until(asyncio.ensure_future(_attempt(sock, sockaddr)), deadline)
    except Expired as exc:
        raise connect_error(host, port, "timed out connecting", ConnectTimeout) from exc
    except OSError as exc:
        raise connect_failed(host, port, [(address, exc)]) from exc


async def _race(
    host: str,
    port: int,
    targets: list[str],
    local_address: str | None,
    socket_options: Sequence[SocketOption],
    delay: float | None,
    deadline: float,
) -> socket.socket:
    loop = asyncio.get_running_loop()
    attempts: dict[asyncio.Task[socket.socket], str] = {}
    failures: list[tuple[str, OSError]] = []
    winner: socket.socket | None = None
    next_target = 0
    next_start = _monotonic()
    latest: asyncio.Task[socket.socket] | None = None  # the attempt started last
    try:
        while winner is None:
            now = _monotonic()
            if now >= deadline:
                raise connect_error(host, port, "timed out connecting", ConnectTimeout)
            # Start the next attempt when its time has come, or at once when
            # nothing is in flight (the ones before it have all failed).
            if next_target < len(targets) and (
                not attempts or (delay is not None and now >= next_start)
            ):
                address = targets[next_target]
                next_target += 1
                try:
                    family, sockaddr = sockaddr_for(address, port)
                    sock = new_socket(family, local_address, socket_options)
                except OSError as exc:
                    failures.append((address, exc))
                    next_start = now  # it failed at once: the next goes now
                    continue
                sock.setblocking(False)
                latest = loop.create_task(_attempt(sock, sockaddr))
                attempts[latest] = address
                next_start = now + (delay or 0.0)
                continue
            if not attempts:
                raise connect_failed(host, port, failures)
            wake = deadline
            if next_target < len(targets) and delay is not None:
                wake = min(wake, next_start)
            timeout = None if wake == math.inf else max(0.0, wake - now)
            done, _ = await asyncio.wait(
                attempts, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                address = attempts.pop(task)
                error = task.exception()
                if error is None:
                    if winner is None:
                        winner = task.result()
                    else:
                        task.result().close()
                elif isinstance(error, OSError):
                    failures.append((address, error))
                    if task is latest:
                        # RFC 8305: the latest attempt failed, so the next
                        # one need not wait out the delay.
                        next_start = _monotonic()
                else:
                    raise error
    finally:
        await _cancel_all(attempts)
    return winner


async def _cancel_all(attempts: dict[asyncio.Task[socket.socket], str]) -> None:
    """Stop the attempts still running; their sockets are closed when they end."""
    if not attempts:
        return
    for task in attempts:
        task.cancel()
    try:
        await asyncio.wait(attempts)
    finally:
        for task in attempts:
            # Retrieve the outcome (no "never retrieved" warning); a late
            # winner is a loser now.
            if task.done() and not task.cancelled() and task.exception() is None:
                task.result().close()
