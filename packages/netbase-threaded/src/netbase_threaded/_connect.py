"""Opening a TCP connection: resolution, then RFC 8305 Happy Eyeballs.

This is trio's ``open_tcp_stream`` done without threads: every attempt is a
non-blocking ``connect()`` and one ``poll()`` watches them all, so the race
costs no thread and the whole of it (resolution included) sits under the one
effective deadline. With a single address it is a plain ``connect()``.

The order is RFC 8305's: addresses of the two families interleaved, starting
with the family the resolver put first. An attempt starts every
``happy_eyeballs_delay`` seconds (250 ms by default), or at once when the
previous attempts have all failed; the first to connect wins and every other
socket is closed.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from netbase._addresses import format_address
from netbase._exceptions import ConnectError, ConnectTimeout, connect_error

_monotonic = time.monotonic

# Linux: let bind() to a source address leave the port to connect(), so that
# many connections from one source IP do not exhaust the ephemeral ports.
IP_BIND_ADDRESS_NO_PORT = getattr(
    socket, "IP_BIND_ADDRESS_NO_PORT", 24 if sys.platform.startswith("linux") else None
)

SocketOption = tuple[int, int, Any] | tuple[int, int, None, int]


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address (no resolution needed)."""
    try:
        socket.inet_pton(socket.AF_INET, host)
    except OSError:
        pass
    else:
        return True
    try:
        socket.inet_pton(socket.AF_INET6, host.partition("%")[0])
    except OSError:
        return False
    return True


def sockaddr_for(address: str, port: int) -> tuple[int, Any]:
    """``(family, sockaddr)`` for an IP address string."""
    if ":" not in address:
        return socket.AF_INET, (address, port)
    if "%" not in address:
        return socket.AF_INET6, (address, port, 0, 0)
    # A scope id ("fe80::1%eth0") needs the resolver's numeric parsing.
    info = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    return info[0][0], info[0][4]


def interleave(addresses: Sequence[str]) -> list[str]:
    """RFC 8305 section 4: alternate the families, starting with the first one given."""
    if len(addresses) < 2:
        return list(addresses)
    first_is_v6 = ":" in addresses[0]
    first = [a for a in addresses if (":" in a) == first_is_v6]
    other = [a for a in addresses if (":" in a) != first_is_v6]
    ordered: list[str] = []
    for i in range(max(len(first), len(other))):
        ordered.extend(family[i] for family in (first, other) if i < len(family))
    return ordered


def new_socket(
    family: int, local_address: str | None, socket_options: Sequence[SocketOption]
) -> socket.socket:
    """A TCP socket with TCP_NODELAY, the user's options and source address set."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for option in socket_options:
            sock.setsockopt(*option)
        if local_address is not None:
            if IP_BIND_ADDRESS_NO_PORT is not None:
                try:
                    sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                except OSError:
                    pass
            sock.bind((local_address, 0))
    except BaseException:
        sock.close()
        raise
    return sock


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
    """Connect to the first of ``addresses`` that answers: a blocking socket, and the address."""
    if local_address is not None:
        want_v6 = ":" in local_address
        addresses = [a for a in addresses if (":" in a) == want_v6]
        if not addresses:
            raise connect_error(
                host, port, f"no address of this host has the family of {local_address}"
            )
    if not addresses:
        raise connect_error(host, port, "the resolver returned no address")
    targets = interleave(addresses)
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
            raise _failed(host, port, [(address, exc)]) from exc
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
                    continue
                sock.setblocking(False)
                code = sock.connect_ex(sockaddr)
                if code == 0:
                    winner, winner_address = sock, address
                    break
                if code not in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
                    sock.close()
                    failures.append((address, OSError(code, os.strerror(code))))
                    continue
                pending[sock.fileno()] = (sock, address)
                poller.register(sock, select.POLLOUT)
                next_start = now + (delay or 0.0)
                continue
            if not pending:
                raise _failed(host, port, failures)
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
            if winner is None and not pending:
                next_start = _monotonic()  # everything in flight failed: go on now
    finally:
        for sock, _address in pending.values():
            sock.close()
    winner.setblocking(True)
    return winner, winner_address


def _failed(host: str, port: int, failures: list[tuple[str, OSError]]) -> ConnectError:
    """One ConnectError for every failed attempt; the cause is the first attempt's error."""
    if len(failures) == 1:
        _address, error = failures[0]
        exc = connect_error(host, port, str(error))
    else:
        detail = "; ".join(f"{format_address(a, port)}: {e}" for a, e in failures)
        exc = connect_error(host, port, f"all {len(failures)} attempts failed ({detail})")
    if failures:
        exc.__cause__ = failures[0][1]
    return exc
