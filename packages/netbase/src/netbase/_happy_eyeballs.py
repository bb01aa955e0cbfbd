"""Opening TCP connections: the Happy Eyeballs policy and the helpers every runtime shares.

The policy of RFC 8305 (which address to try when, who wins, what to cancel)
is decided here once, by `HappyEyeballs`, which does no I/O and reads
no clock: each runtime's `_connect` module only starts the attempts it is
told to start and waits (`poll()` for threads, tasks for asyncio and trio).
The order of attempts, the socket setup (TCP_NODELAY, the user's options, the
source address) and the error messages are the same everywhere because they
live here.
"""

from __future__ import annotations

import contextlib
import math
import socket
import sys
from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar

if sys.version_info >= (3, 11):
    from builtins import ExceptionGroup
else:  # pragma: no cover - 3.10 only
    from exceptiongroup import ExceptionGroup

from netbase._addresses import format_address
from netbase._exceptions import ConnectError, close_on_failure, connect_error

# Linux: let bind() to a source address leave the port to connect(), so that
# many connections from one source IP do not exhaust the ephemeral ports.
IP_BIND_ADDRESS_NO_PORT = getattr(
    socket, "IP_BIND_ADDRESS_NO_PORT", 24 if sys.platform.startswith("linux") else None
)

SocketOption = tuple[int, int, Any] | tuple[int, int, None, int]
"""A socket option, as `setsockopt` takes it: `(level, option, value)` or
`(level, option, None, length)`."""

Conn = TypeVar("Conn")  # what a runtime calls a connection: its socket type


def is_ip_literal(host: str) -> bool:
    """Whether `host` is an IPv4 or IPv6 address (no resolution needed)."""
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
    """`getaddrinfo(host, port, SOCK_STREAM)`: unique addresses, in the order given.

    Always `OSError` on failure: `getaddrinfo()` encodes a `str` host
    with the IDNA codec, whose `UnicodeError` (a name the host checks let
    through) becomes a `socket.gaierror` here, with the codec's error as its
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
    """`(family, sockaddr)` for an IP address string."""
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
    """The addresses to try, in order; `ConnectError` when there is none to try.

    With a `local_address` only addresses of its family can be reached.
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
    with close_on_failure(sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for option in socket_options:
            sock.setsockopt(*option)
        if local_address is not None:
            if IP_BIND_ADDRESS_NO_PORT is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((local_address, 0))
    return sock


def attempt_socket(
    address: str, port: int, local_address: str | None, socket_options: Sequence[SocketOption]
) -> tuple[socket.socket, Any]:
    """The socket of one attempt to `address` (`new_socket`), and the sockaddr to connect to."""
    family, sockaddr = sockaddr_for(address, port)
    return new_socket(family, local_address, socket_options), sockaddr


class HappyEyeballs(Generic[Conn]):
    """RFC 8305's connection race, decided with no I/O and no clock of its own.

    The runtime owns the sockets and the waiting; this object owns every
    decision, and holds the winning connection (a socket, of type `Conn`) once
    there is one. Attempts are numbered in the order of `targets` (already
    interleaved by family, see `connection_targets`), so an address given
    twice is two attempts. A runtime runs it so:

        race = HappyEyeballs(targets, delay, now)
        while not race.done():
            while (attempt := race.start(now)) is not None:
                ...start connecting to race.targets[attempt] (see due_attempts);
                a failure known at once is reported with race.failed(attempt, exc, now)
            ...wait until an attempt ends, or until race.wake_at (and the deadline)
            race.connected(attempt, sock)  # False: a late one, close it
            race.failed(attempt, exc, now)
        ...cancel what is still in flight (race.in_flight), close every loser;
        if that is interrupted, close race.connection too
        return race.result(host, port)  # (sock, address), or the ConnectError

    The rules (RFC 8305 section 5, and what trio's `open_tcp_stream` does):

    - the first attempt starts at once, each next one `delay` seconds after
      the one before it (`delay=0` starts them all at once);
    - when the attempt started last fails, the next starts at once instead of
      waiting out the delay; with `delay=None` that is the only way the next
      starts, so the addresses are tried one after another;
    - when nothing is in flight and addresses are left, the next starts at once;
    - the first attempt to connect wins; every other one in flight is to be
      cancelled and no further attempt is started;
    - when every attempt has failed, `error` is one `ConnectError` whose cause
      holds every failure.
    """

    __slots__ = (
        "_delay",
        "_failures",
        "_in_flight",
        "_latest",
        "_next",
        "_next_start",
        "connection",
        "targets",
        "winner",
    )

    def __init__(self, targets: Sequence[str], delay: float | None, now: float) -> None:
        #: the addresses to try, in order; an attempt is an index into it
        self.targets: Sequence[str] = targets
        #: the attempt that connected first, once there is one
        self.winner: int | None = None
        #: its connection: the runtime's to close if it gives up after the win
        self.connection: Conn | None = None
        self._delay = delay
        self._next = 0  # the next attempt to start
        self._next_start = now  # when it is due, unless one fails first
        self._latest = -1  # the attempt started last
        self._in_flight: set[int] = set()
        self._failures: dict[int, OSError] = {}

    def done(self) -> bool:
        """Whether the race is decided: a winner, or every attempt failed.

        A method, not a property, so that a type checker does not take its
        value for fixed between two calls that change it.
        """
        return self.winner is not None or (not self._in_flight and self._next >= len(self.targets))

    @property
    def in_flight(self) -> frozenset[int]:
        """The attempts started and not ended; once there is a winner, the ones to cancel."""
        return frozenset(self._in_flight)

    @property
    def wake_at(self) -> float:
        """When `start` has an attempt to give if no attempt ends before; `inf`: none."""
        if self.winner is not None or self._next >= len(self.targets):
            return math.inf
        return self._next_start

    def start(self, now: float) -> int | None:
        """The attempt to start now, or `None`: call again until `None`.

        The runtime must start the attempt it is given (or report its failure
        with `failed`): it counts as in flight from here on.
        """
        if self.winner is not None or self._next >= len(self.targets):
            return None
        if self._in_flight and now < self._next_start:
            return None
        attempt = self._next
        self._next += 1
        self._latest = attempt
        self._in_flight.add(attempt)
        self._next_start = math.inf if self._delay is None else now + self._delay
        return attempt

    def connected(self, attempt: int, connection: Conn) -> bool:
        """`attempt` connected: `True` if it wins, `False` if it came too late.

        The race keeps a winner's `connection`; a late one is the runtime's to close.
        """
        self._in_flight.discard(attempt)
        if self.winner is not None:
            return False
        self.winner, self.connection = attempt, connection
        return True

    def failed(self, attempt: int, error: OSError, now: float) -> None:
        """`attempt` failed with `error`; when it was the latest, the next is due at once."""
        self._in_flight.discard(attempt)
        if self.winner is not None:
            return  # a loser's failure changes nothing
        self._failures[attempt] = error
        if attempt == self._latest:
            # The delay is there to give the latest attempt time to connect;
            # once it has failed, waiting it out gains nothing.
            self._next_start = now

    @property
    def failures(self) -> list[tuple[str, OSError]]:
        """`(address, error)` for every attempt that failed, in the order they were started."""
        return [(self.targets[i], self._failures[i]) for i in sorted(self._failures)]

    def error(self, host: str, port: int) -> ConnectError:
        """The `ConnectError` for a race that every attempt lost."""
        return connect_failed(host, port, self.failures)

    def result(self, host: str, port: int) -> tuple[Conn, str]:
        """The winner's connection and address; `error` raised when every attempt failed."""
        if self.winner is None or self.connection is None:
            raise self.error(host, port)
        return self.connection, self.targets[self.winner]


def due_attempts(
    race: HappyEyeballs[Any],
    now: float,
    port: int,
    local_address: str | None,
    socket_options: Sequence[SocketOption],
) -> Iterator[tuple[int, socket.socket, Any]]:
    """The attempts to start now: `(attempt, non-blocking socket, address to connect to)`.

    An attempt whose socket cannot be made (a socket option or source address
    the OS refuses) has failed: it is reported to `race` and the next one,
    due at once then, follows. The caller reports what becomes of the others.
    """
    while (attempt := race.start(now)) is not None:
        try:
            sock, sockaddr = attempt_socket(
                race.targets[attempt], port, local_address, socket_options
            )
        except OSError as exc:
            race.failed(attempt, exc, now)
            continue
        sock.setblocking(False)
        yield attempt, sock, sockaddr


def connect_failed(host: str, port: int, failures: list[tuple[str, OSError]]) -> ConnectError:
    """One `ConnectError` naming `host:port` for every failed attempt.

    One attempt: its error is the cause. Several: the message lists each
    address with its error, and the cause is an `ExceptionGroup` holding every
    error, in the order of the attempts (as trio's `open_tcp_stream` keeps
    them), so that no failure is reduced to text.
    """
    if len(failures) == 1:
        exc = connect_error(host, port, str(failures[0][1]))
        exc.__cause__ = failures[0][1]
        return exc
    detail = "; ".join(f"{format_address(a, port)}: {e}" for a, e in failures)
    exc = connect_error(host, port, f"all {len(failures)} attempts failed ({detail})")
    if failures:
        exc.__cause__ = ExceptionGroup(
            f"all {len(failures)} attempts to connect to {format_address(host, port)} failed",
            [error for _address, error in failures],
        )
    return exc
