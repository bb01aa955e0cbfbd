"""Opening a TCP connection: RFC 8305 Happy Eyeballs, with tasks in a nursery.

The shape is trio's `open_tcp_stream` (`_highlevel_open_tcp_stream.py`):
one task per attempt in a nursery, every loser's socket closed in its own
task. Which attempt starts when (after `happy_eyeballs_delay`, or at once
when the latest has failed), who wins and what is cancelled are the core's
decisions (`HappyEyeballs`, the same for every runtime); this module starts
the tasks it is told to and waits. What trio's version cannot do and this one
does: sockets are made by the core's `new_socket`, so the user's
`socket_options` and `local_address` are applied before `connect()` on
every attempt, and the addresses come from netbase's resolver, ordered as on
every runtime (both families interleaved). With a single address there is no
nursery at all.

Deadlines are not handled here: the backend runs the whole of `connect`
(resolution included) inside one cancel scope, so this code only sees a trio
cancellation, which closes every socket on the way out.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Sequence
from typing import Any

import trio

from netbase.lowlevel import (
    HappyEyeballs,
    SocketOption,
    attempt_errors,
    attempt_socket,
    close_on_failure,
    connection_targets,
)

__all__ = ["connect_socket", "open_tcp_socket"]

_IN_PROGRESS = (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK)


async def connect_socket(sock: socket.socket, sockaddr: Any) -> None:
    """Connect a non-blocking `sock`; `OSError` on failure. Closes nothing."""
    sock.setblocking(False)
    code = sock.connect_ex(sockaddr)
    while code == errno.EAGAIN and sock.family == socket.AF_UNIX:
        # A UNIX listener's backlog is full: no connection was started, and
        # waiting for "writable" would not start one. Try again shortly.
        await trio.sleep(0.01)
        code = sock.connect_ex(sockaddr)
    if code in _IN_PROGRESS:
        await trio.lowlevel.wait_writable(sock)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    else:
        await trio.lowlevel.checkpoint()
    if code:
        raise OSError(code, os.strerror(code))


async def _attempt(
    address: str, port: int, local_address: str | None, socket_options: Sequence[SocketOption]
) -> socket.socket:
    sock, sockaddr = attempt_socket(address, port, local_address, socket_options)
    with close_on_failure(sock):
        await connect_socket(sock, sockaddr)
    return sock


async def open_tcp_socket(
    host: str,
    port: int,
    addresses: Sequence[str],
    *,
    local_address: str | None,
    socket_options: Sequence[SocketOption],
    happy_eyeballs_delay: float | None,
) -> tuple[socket.socket, str]:
    """Connect to the first of `addresses` that answers: a non-blocking socket, the address."""
    targets = connection_targets(host, port, addresses, local_address)
    if len(targets) == 1:
        with attempt_errors(host, port, targets[0]):
            return await _attempt(targets[0], port, local_address, socket_options), targets[0]
    return await _race(host, port, targets, local_address, socket_options, happy_eyeballs_delay)


async def _race(
    host: str,
    port: int,
    targets: list[str],
    local_address: str | None,
    socket_options: Sequence[SocketOption],
    delay: float | None,
) -> tuple[socket.socket, str]:
    """Run the core's `HappyEyeballs` decisions, one task per attempt in a nursery."""
    race: HappyEyeballs[socket.socket] = HappyEyeballs(targets, delay, trio.current_time())
    ended = trio.Event()  # set when an attempt ends; a new one for every wait

    async def attempt(number: int) -> None:
        try:
            sock = await _attempt(targets[number], port, local_address, socket_options)
        except OSError as exc:
            race.failed(number, exc, trio.current_time())
        else:
            # No checkpoint between the connect and here: a connected socket
            # is either the winner (the race holds it) or closed, never dropped.
            if not race.connected(number, sock):
                sock.close()  # connected in the same instant as the winner
        ended.set()

    try:
        async with trio.open_nursery() as nursery:
            while not race.done():
                while (number := race.start(trio.current_time())) is not None:
                    nursery.start_soon(attempt, number)
                ended = trio.Event()
                with trio.move_on_at(race.wake_at):
                    await ended.wait()
            # RFC 8305: once one has connected, the others are abandoned; each
            # loser's task closes its socket as it is cancelled.
            nursery.cancel_scope.cancel()
    except BaseException:
        # Cancelled from outside after an attempt won, while the losers were
        # ending: the winner is nobody's to close but ours.
        if race.connection is not None:
            race.connection.close()
        raise
    return race.result(host, port)
