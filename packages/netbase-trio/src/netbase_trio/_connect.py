"""Opening a TCP connection: RFC 8305 Happy Eyeballs, with tasks in a nursery.

The shape is trio's `open_tcp_stream` (`_highlevel_open_tcp_stream.py`):
one task per attempt in a nursery, the next attempt started when
`happy_eyeballs_delay` has passed or at once when the latest attempt has
failed, the first to connect cancelling the rest, every loser's socket closed
in its own task. What trio's version cannot do and this one does: sockets are
made by `netbase._happy_eyeballs.new_socket()`, so the user's
`socket_options` and `local_address` are applied before `connect()` on
every attempt, and the addresses come from netbase's resolver, ordered as in
`netbase_threaded` (both families interleaved). With a single address there
is no nursery at all.

Deadlines are not handled here: the backend runs the whole of `connect`
(resolution included) inside one cancel scope, so this code only sees a trio
cancellation, which closes every socket on the way out.
"""

from __future__ import annotations

import errno
import math
import os
import socket
from collections.abc import Sequence
from typing import Any

import trio

from netbase._happy_eyeballs import (
    SocketOption,
    connect_failed,
    connection_targets,
    new_socket,
    sockaddr_for,
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
    family, sockaddr = sockaddr_for(address, port)
    sock = new_socket(family, local_address, socket_options)
    try:
        await connect_socket(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
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
        try:
            return await _attempt(targets[0], port, local_address, socket_options), targets[0]
        except OSError as exc:
            raise connect_failed(host, port, [(targets[0], exc)]) from exc
    return await _race(host, port, targets, local_address, socket_options, happy_eyeballs_delay)


async def _race(
    host: str,
    port: int,
    targets: list[str],
    local_address: str | None,
    socket_options: Sequence[SocketOption],
    delay: float | None,
) -> tuple[socket.socket, str]:
    failures: list[tuple[str, OSError]] = []
    winner: tuple[socket.socket, str] | None = None

    async def attempt(address: str, failed: trio.Event, race: trio.CancelScope) -> None:
        nonlocal winner
        try:
            sock = await _attempt(address, port, local_address, socket_options)
        except OSError as exc:
            failures.append((address, exc))
            failed.set()
            return
        if winner is None:
            winner = sock, address
            race.cancel()  # the others lose: their tasks close their sockets
        else:
            sock.close()  # connected in the same instant as the winner

    async with trio.open_nursery() as nursery:
        for address in targets:
            failed = trio.Event()
            nursery.start_soon(attempt, address, failed, nursery.cancel_scope)
            # Next attempt after the stagger, or at once if this one fails.
            with trio.move_on_after(math.inf if delay is None else delay):
                await failed.wait()
    if winner is None:
        raise connect_failed(host, port, failures)
    return winner
