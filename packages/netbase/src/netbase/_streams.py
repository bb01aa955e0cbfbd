"""Pieces every socket-based stream shares, whatever its runtime.

The three built-in streams are parallel in shape; what they would otherwise
each write again lives here: the checks on a socket handed in by the user,
the address keys of `get_extra_info`, a non-blocking readability probe and
the contract's repr.
"""

from __future__ import annotations

import select
import socket
import ssl
from typing import Any

from netbase._addresses import host_port


def check_stream_socket(sock: object, what: str) -> Any:
    """Check a socket given to a stream constructor (`what` names it); returns its peer.

    It must be a plain, connected `SOCK_STREAM` socket: TLS comes from
    `start_tls()`, so that every layer of it is the stream's own.
    """
    if not isinstance(sock, socket.socket):
        raise TypeError(f"{what} takes a socket.socket, not {type(sock).__name__}")
    if isinstance(sock, ssl.SSLSocket):
        raise TypeError(f"{what} takes a plain socket; call start_tls() on the stream for TLS")
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"{what} takes a SOCK_STREAM socket")
    try:
        return sock.getpeername()
    except OSError as exc:
        raise ValueError(f"{what} takes a connected socket ({exc})") from None


def set_nodelay(sock: socket.socket) -> None:
    """TCP_NODELAY on TCP sockets (UNIX sockets have no such option)."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def address_info(sock: socket.socket, key: str) -> Any:
    """`get_extra_info("client_addr" | "server_addr")`: `(host, port)`, a UNIX path, or None."""
    try:
        if key == "client_addr":
            return host_port(sock.getsockname())
        return host_port(sock.getpeername())
    except OSError:  # closed, or the peer is gone
        return None


def poll_readable(fd: int) -> bool:
    """Whether a read on `fd` would not block (data, end of stream or an error pending)."""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
    except (OSError, ValueError):  # closed underneath us: a read would not block
        return True
    return bool(poller.poll(0))


def stream_repr(peer: str, tls: bool, closed: bool) -> str:
    """`<NetworkStream ["127.0.0.1:443" TLS CLOSED]>`."""
    return f'<NetworkStream ["{peer}"{" TLS" if tls else ""}{" CLOSED" if closed else ""}]>'


def busy(stream: object, operation: str, by: str) -> RuntimeError:
    """The error for a second `read` (or `write`) while one is in progress.

    Raised at once, before the second call touches anything, so the first
    call and the stream carry on unharmed: trio's and anyio's streams do the
    same (`BusyResourceError`). `by` is "task" or "thread".
    """
    return RuntimeError(
        f"{operation}() called on {stream!r} while another {by} is already in "
        f"{operation}(): one reader and one writer at a time"
    )
