"""Opening a TCP connection on asyncio: RFC 8305 Happy Eyeballs with tasks.

Each attempt is a task running `loop.sock_connect` on a socket set up by the
core's `new_socket` (TCP_NODELAY, the user's options before `connect()`,
the source address). Which attempt starts when, who wins and what is
cancelled are the core's decisions (`HappyEyeballs`, the same for every
runtime): addresses of the two families interleaved, a new attempt every
`happy_eyeballs_delay` seconds or at once when the latest has failed, the
first to connect wins. Every other socket is closed and every task is over
before this returns, whether it succeeds, fails, times out or is cancelled,
the winner included when the cancellation comes while the losers end.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Sequence

from netbase import ConnectTimeout
from netbase.lowlevel import (
    HappyEyeballs,
    SocketOption,
    attempt_errors,
    attempt_socket,
    close_on_failure,
    connect_error,
    connection_targets,
    due_attempts,
)
from netbase_asyncio._deadline import Expired, await_until

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
) -> tuple[socket.socket, str]:
    """Connect to the first of `addresses` that answers: a non-blocking socket, the address."""
    targets = connection_targets(host, port, addresses, local_address)
    if len(targets) == 1:
        sock = await _connect_single(
            host, port, targets[0], local_address, socket_options, deadline
        )
        return sock, targets[0]
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
    with attempt_errors(host, port, address, (Expired,)):
        if deadline == math.inf:
            transport, _ = await connecting
        else:
            transport, _ = await await_until(loop, connecting, deadline)
    return transport


async def _connect_single(
    host: str,
    port: int,
    address: str,
    local_address: str | None,
    socket_options: Sequence[SocketOption],
    deadline: float,
) -> socket.socket:
    with attempt_errors(host, port, address, (Expired,)):
        sock, sockaddr = attempt_socket(address, port, local_address, socket_options)
        sock.setblocking(False)
        with close_on_failure(sock):
            loop = asyncio.get_running_loop()
            connecting = loop.sock_connect(sock, sockaddr)
            if deadline == math.inf:
                await connecting
            else:
                await await_until(loop, connecting, deadline)
    return sock


async def _race(
    host: str,
    port: int,
    targets: list[str],
    local_address: str | None,
    socket_options: Sequence[SocketOption],
    delay: float | None,
    deadline: float,
) -> tuple[socket.socket, str]:
    """Run the core's `HappyEyeballs` decisions, one `sock_connect` task per attempt."""
    loop = asyncio.get_running_loop()
    race: HappyEyeballs[socket.socket] = HappyEyeballs(targets, delay, _monotonic())
    # Each task's socket is held here, not by the task, so that every one is
    # closed whatever becomes of its task (even one cancelled before it ran).
    attempts: dict[asyncio.Task[None], tuple[int, socket.socket]] = {}
    try:
        try:
            while not race.done():
                now = _monotonic()
                if now >= deadline:
                    raise connect_error(host, port, "timed out connecting", ConnectTimeout)
                for attempt, sock, sockaddr in due_attempts(
                    race, now, port, local_address, socket_options
                ):
                    task = loop.create_task(loop.sock_connect(sock, sockaddr))
                    attempts[task] = (attempt, sock)
                if race.done():
                    break  # every attempt failed as it started
                wake = min(deadline, race.wake_at)
                done, _ = await asyncio.wait(
                    attempts,
                    timeout=None if wake == math.inf else max(0.0, wake - now),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in done:
                    attempt, sock = attempts.pop(task)
                    error = task.exception()
                    if error is None and race.connected(attempt, sock):
                        continue
                    sock.close()  # failed, or connected in the same step as the winner
                    if isinstance(error, OSError):
                        race.failed(attempt, error, _monotonic())
                    elif error is not None:
                        raise error
        finally:
            # RFC 8305: once one has connected, the others are abandoned.
            await _cancel_all(attempts)
    except BaseException:
        # Cancelled (or failed) after an attempt won, while the losers were
        # ending: the winner is nobody's to close but ours.
        if race.connection is not None:
            race.connection.close()
        raise
    return race.result(host, port)


async def _cancel_all(attempts: dict[asyncio.Task[None], tuple[int, socket.socket]]) -> None:
    """Stop the attempts still running, wait until each is over, close their sockets.

    A cancelled `sock_connect` ends at its task's next step, so the wait is
    short; a cancellation of this wait is held until they have all ended (no
    task outlives the connect), then raised.
    """
    if not attempts:
        return
    for task in attempts:
        task.cancel()
    cancelled: BaseException | None = None
    try:
        while True:
            try:
                await asyncio.wait(attempts)
            except asyncio.CancelledError as exc:
                cancelled = exc
            else:
                break
    finally:
        for task, (_attempt, sock) in attempts.items():
            sock.close()
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: no "never retrieved" warning
    if cancelled is not None:
        raise cancelled
