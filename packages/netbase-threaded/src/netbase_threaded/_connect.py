"""Opening a TCP connection: resolution, then RFC 8305 Happy Eyeballs.

This is trio's `open_tcp_stream` done without threads: every attempt is a
non-blocking `connect()` and one `poll()` watches them all, so the race
costs no thread and the whole of it (resolution included) sits under the one
effective deadline. With a single address it is a plain `connect()`.

The order is RFC 8305's: addresses of the two families interleaved, starting
with the family the resolver put first. An attempt starts every
`happy_eyeballs_delay` seconds (250 ms by default), or at once when the
previous attempts have all failed; the first to connect wins and every other
socket is closed.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import time
from collections.abc import Sequence

from netbase._addresses import format_address
from netbase._exceptions import ConnectTimeout, connect_error
from netbase._happy_eyeballs import (
    SocketOption,
    connect_failed,
    connection_targets,
    is_ip_literal,
    new_socket,
    sockaddr_for,
)

_monotonic = time.monotonic

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
    """Connect to the first of `addresses` that answers: a blocking socket, and the address."""
    targets = connection_targets(host, port, addresses, local_address)
    if len(targets) == 1:
        sock = _connect_single(host, port, targets[0], local_address, socket_options, deadline)
        return sock, targets[0]
    return _race(host, port, targets, local_address, socket_options, happy_eyeballs_delay, deadline)


def _connect_single(
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
    try:
        if deadline == math.inf:
            sock.connect(sockaddr)
        else:
            left = deadline - _monotonic()
            if left <= 0:
                raise TimeoutError("timed out")
            sock.settimeout(left)
            sock.connect(sockaddr)
            sock.settimeout(None)
    except TimeoutError as exc:
        sock.close()
        raise connect_error(host, port, "timed out connecting", ConnectTimeout) from exc
    except BaseException as exc:
        sock.close()
        if isinstance(exc, OSError):
            raise connect_failed(host, port, [(address, exc)]) from exc
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
    poller = select.poll()
    pending: dict[int, tuple[socket.socket, str]] = {}
    failures: list[tuple[str, OSError]] = []
    winner: socket.socket | None = None
    winner_address = ""
    next_target = 0
    next_start = _monotonic()
    latest = -1  # the descriptor of the attempt started last
    try:
        while winner is None:
            now = _monotonic()
            if now >= deadline:
                raise connect_error(host, port, "timed out connecting", ConnectTimeout)
            # Start the next attempt when its time has come, or at once when
            # nothing is in flight (the ones before it have all failed).
            if next_target < len(targets) and (
                not pending or (delay is not None and now >= next_start)
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
                code = sock.connect_ex(sockaddr)
                if code == 0:
                    winner, winner_address = sock, address
                    break
                if code not in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
                    sock.close()
                    failures.append((address, OSError(code, os.strerror(code))))
                    next_start = now  # it failed at once: the next goes now
                    continue
                pending[sock.fileno()] = (sock, address)
                poller.register(sock, select.POLLOUT)
                latest = sock.fileno()
                next_start = now + (delay or 0.0)
                continue
            if not pending:
                raise connect_failed(host, port, failures)
            wake = deadline
            if next_target < len(targets) and delay is not None:
                wake = min(wake, next_start)
            wait_ms = None if wake == math.inf else max(0.0, (wake - now) * 1000.0)
            for fd, _events in poller.poll(wait_ms):
                sock, address = pending.pop(fd)
                poller.unregister(fd)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code == 0 and winner is None:
                    winner, winner_address = sock, address
                else:
                    sock.close()
                    if code:
                        failures.append((address, OSError(code, os.strerror(code))))
                    if fd == latest:
                        # RFC 8305: the latest attempt failed, so the next
                        # one need not wait out the delay.
                        next_start = _monotonic()
    finally:
        for sock, _address in pending.values():
            sock.close()
    winner.setblocking(True)
    return winner, winner_address
