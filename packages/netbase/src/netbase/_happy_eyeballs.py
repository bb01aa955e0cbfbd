"""Pure helpers for opening TCP connections, shared by every runtime's backend.

Each runtime races its connection attempts its own way (``poll()`` for
threads, tasks for asyncio); what they share lives here, so that the order of
attempts (RFC 8305), the socket setup (TCP_NODELAY, the user's options, the
source address) and the error messages are the same everywhere.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Sequence
from typing import Any

from netbase._addresses import format_address
from netbase._exceptions import ConnectError, connect_error

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


def getaddrinfo_addresses(host: str, port: int) -> list[str]:
    """``getaddrinfo(host, port, SOCK_STREAM)``: unique addresses, in the order given.

    Always ``OSError`` on failure: ``getaddrinfo()`` encodes a ``str`` host
    with the IDNA codec, whose ``UnicodeError`` (a name the host checks let
    through) becomes a ``socket.gaierror`` here, with the codec's error as its
    cause, so that no resolver thread dies of it and no caller sees it raw.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:
        raise socket.gaierror(socket.EAI_NONAME, f"not a valid host name: {exc}") from exc
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


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


def connection_targets(
    host: str, port: int, addresses: Sequence[str], local_address: str | None
) -> list[str]:
    """The addresses to try, in order; ``ConnectError`` when there is none to try.

    With a ``local_address`` only addresses of its family can be reached.
    """
    if local_address is not None:
        want_v6 = ":" in local_address
        addresses = [a for a in addresses if (":" in a) == want_v6]
        if not addresses:
            raise connect_error(
                host, port, f"no address of this host has the family of {local_address}"
            )
    if not addresses:
        raise connect_error(host, port, "the resolver returned no address")
    return interleave(addresses)


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
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((local_address, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def connect_failed(host: str, port: int, failures: list[tuple[str, OSError]]) -> ConnectError:
    """One ConnectError for every failed attempt; the cause is the first attempt's error."""
    if len(failures) == 1:
        exc = connect_error(host, port, str(failures[0][1]))
    else:
        detail = "; ".join(f"{format_address(a, port)}: {e}" for a, e in failures)
        exc = connect_error(host, port, f"all {len(failures)} attempts failed ({detail})")
    if failures:
        exc.__cause__ = failures[0][1]
    return exc
