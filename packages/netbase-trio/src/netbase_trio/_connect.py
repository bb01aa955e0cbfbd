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
every runtime (both families interleaved).

One address (an IP literal, or a name with a single address) takes
`connect_single`: no nursery, no task, and the steps of trio's own
`socket.connect`: `checkpoint_if_cancelled()`, the non-blocking `connect()`,
then, if the kernel answered "in progress", a `poll()` of the socket, because
on a nearby peer the handshake is usually over by then: only a socket that is
not writable yet is waited on (`wait_writable`), under a cancel scope when
there is a deadline; one that is gets a `cancel_shielded_checkpoint()`. An IP
literal's deadline is handled here, so a connect that does not wait costs no
cancel scope at all. For a name the backend runs resolution and the attempts
inside one cancel scope, so the race only sees a trio cancellation, which
closes every socket on the way out.
"""

from __future__ import annotations

import errno
import os
import select
import socket
from collections.abc import Sequence
from typing import Any

import trio

from netbase import ConnectTimeout
from netbase.lowlevel import (
    HappyEyeballs,
    SocketOption,
    attempt_socket,
    close_on_failure,
    connect_error,
    connect_failed,
    connection_targets,
)
from netbase_trio._deadline import Expired, trio_deadline

__all__ = ["connect_single", "connect_socket", "open_tcp_socket"]

_IN_PROGRESS = (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK)
_POLLOUT = select.POLLOUT
_poll = select.poll
_checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled
_cancel_shielded_checkpoint = trio.lowlevel.cancel_shielded_checkpoint
_wait_writable = trio.lowlevel.wait_writable


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
        # (The caller's cancel scope holds the deadline.)
        sock = await connect_single(host, port, targets[0], local_address, socket_options)
        return sock, targets[0]
    return await _race(host, port, targets, local_address, socket_options, happy_eyeballs_delay)


async def connect_single(
    host: str,
    port: int,
    address: str,
    local_address: str | None,
    socket_options: Sequence[SocketOption],
    deadline: float | None = None,
) -> socket.socket:
    """Connect to one address: a non-blocking socket, or `ConnectError` / `ConnectTimeout`.

    `deadline` is a `time.monotonic()` value (`None`: no limit, or the
    caller's cancel scope holds it); it costs a cancel scope only when the
    connect has to wait. A trio cancellation closes the socket and goes on.
    """
    await _checkpoint_if_cancelled()
    try:
        sock, sockaddr = attempt_socket(address, port, local_address, socket_options)
    except OSError as exc:
        raise connect_failed(host, port, [(address, exc)]) from exc
    try:
        sock.setblocking(False)
        code = sock.connect_ex(sockaddr)
        if code in _IN_PROGRESS:
            poller = _poll()
            poller.register(sock, _POLLOUT)
            if poller.poll(0):
                await _cancel_shielded_checkpoint()
            elif deadline is None:
                await _wait_writable(sock)
            else:
                with trio.CancelScope(deadline=trio_deadline(deadline)) as scope:
                    await _wait_writable(sock)
                if scope.cancelled_caught:
                    raise Expired("timed out")
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        else:
            await _cancel_shielded_checkpoint()
        if code:
            raise OSError(code, os.strerror(code))
    except Expired as exc:
        sock.close()
        raise connect_error(host, port, "timed out connecting", ConnectTimeout) from exc
    except OSError as exc:
        sock.close()
        raise connect_failed(host, port, [(address, exc)]) from exc
    except BaseException:
        sock.close()
        raise
    return sock


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
