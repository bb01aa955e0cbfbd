"""Opening a TCP connection: resolution, then RFC 8305 Happy Eyeballs.

This is trio's `open_tcp_stream` done without threads: every attempt is a
non-blocking `connect()` and one `poll()` watches them all, so the race
costs no thread and the whole of it (resolution included) sits under the one
effective deadline. With a single address it is a plain `connect()`.

The order is RFC 8305's: addresses of the two families interleaved, starting
with the family the resolver put first. An attempt starts every
`happy_eyeballs_delay` seconds (250 ms by default), or at once when the
latest has failed; the first to connect wins and every other socket is
closed. Those decisions are the core's (`HappyEyeballs`, the same for every
runtime); this module only carries them out and waits.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import time
from collections.abc import Sequence

from netbase import ConnectTimeout
from netbase.lowlevel import (
    HappyEyeballs,
    SocketOption,
    attempt_errors,
    attempt_socket,
    connect_error,
    connection_targets,
    due_attempts,
    is_ip_literal,
)
from netbase_threaded._transports import wait_ready

_monotonic = time.monotonic
# What a non-blocking connect() answers while the connection is on its way
# (EINTR too: the kernel carries on connecting).
_IN_PROGRESS = (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)

__all__ = [
    "SocketOption",
    "is_ip_literal",
    "open_tcp_socket",
]


def open_tcp_socket(
    host: str,
    port: int,
    addresses: Sequence[str],
    *,
    local_address: str | None,
    socket_options: Sequence[SocketOption],
    happy_eyeballs_delay: float | None,
    deadline: float,
) -> tuple[socket.socket, str]:
    """Connect to the first of `addresses` that answers: the socket, and the address.

    The socket is blocking when it was connected with no deadline and no
    race; otherwise non-blocking, and the stream switches it if it must.
    """
    if len(addresses) == 1 and local_address is None:
        targets: Sequence[str] = addresses  # the common case: nothing to filter or interleave
    else:
        targets = connection_targets(host, port, addresses, local_address)
    if len(targets) == 1:
        sock = _connect_single(host, port, targets[0], local_address, socket_options, deadline)
        return sock, targets[0]
    return _race(
        host, port, list(targets), local_address, socket_options, happy_eyeballs_delay, deadline
    )


def _connect_single(
    host: str,
    port: int,
    address: str,
    local_address: str | None,
    socket_options: Sequence[SocketOption],
    deadline: float,
) -> socket.socket:
    """One attempt: a blocking `connect()`, or under a deadline a non-blocking one.

    The socket connected under a deadline is left non-blocking: the stream
    makes it block the first time it must wait with no deadline, if ever
    (see `PlainSocket`), so that a connect under a deadline costs one
    `ioctl()`, as a socket timeout does, and not two.
    """
    try:
        sock, sockaddr = attempt_socket(address, port, local_address, socket_options)
        try:
            if deadline == math.inf:
                sock.connect(sockaddr)
            else:
                sock.setblocking(False)
                code = sock.connect_ex(sockaddr)
                if code in _IN_PROGRESS:
                    wait_ready(sock.fileno(), select.POLLOUT, deadline)
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise OSError(code, os.strerror(code))
        except BaseException:
            sock.close()
            raise
    except OSError:
        # The core's mapping, entered only on failure: a connect that
        # succeeds pays for no context manager.
        with attempt_errors(host, port, address, (TimeoutError,)):
            raise
    return sock


def _race(
    host: str,
    port: int,
    targets: list[str],
    local_address: str | None,
    socket_options: Sequence[SocketOption],
    delay: float | None,
    deadline: float,
) -> tuple[socket.socket, str]:
    """Run the core's `HappyEyeballs` decisions with non-blocking sockets and one `poll()`."""
    race: HappyEyeballs[socket.socket] = HappyEyeballs(targets, delay, _monotonic())
    poller = select.poll()
    pending: dict[int, tuple[socket.socket, int]] = {}  # fd -> (socket, attempt)
    try:
        while not race.done():
            now = _monotonic()
            if now >= deadline:
                raise connect_error(host, port, "timed out connecting", ConnectTimeout)
            for attempt, sock, sockaddr in due_attempts(
                race, now, port, local_address, socket_options
            ):
                code = sock.connect_ex(sockaddr)
                if code in _IN_PROGRESS:
                    pending[sock.fileno()] = (sock, attempt)
                    poller.register(sock, select.POLLOUT)
                elif code == 0:
                    race.connected(attempt, sock)
                    break
                else:
                    sock.close()
                    race.failed(attempt, OSError(code, os.strerror(code)), now)
            if race.done():
                break
            wake = min(deadline, race.wake_at)
            wait_ms = None if wake == math.inf else max(0.0, (wake - now) * 1000.0)
            for fd, _events in poller.poll(wait_ms):
                sock, attempt = pending.pop(fd)
                poller.unregister(fd)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    sock.close()
                    race.failed(attempt, OSError(code, os.strerror(code)), _monotonic())
                elif not race.connected(attempt, sock):
                    sock.close()  # connected in the same poll() as the winner
    finally:
        # RFC 8305: once one has connected, the others are abandoned.
        for sock, _attempt in pending.values():
            sock.close()
    # Left non-blocking, as a single attempt under a deadline is.
    return race.result(host, port)
