"""How addresses are written in messages and reprs."""

from __future__ import annotations

from typing import Any


def format_address(host: str, port: int) -> str:
    """`127.0.0.1:80`, `[::1]:80`, `www.example.com:443`."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def format_peer(address: Any) -> str:
    """The repr text for a socket's peer address: `host:port`, or a UNIX path."""
    if isinstance(address, tuple):
        return format_address(address[0], address[1])
    if isinstance(address, bytes):  # abstract UNIX socket names
        return address.decode("utf-8", "backslashreplace")
    return str(address)


def host_port(address: Any) -> Any:
    """The contract's `(host, port)` form of a socket address.

    IPv6 socket addresses carry flow info and scope id: they are dropped.
    UNIX socket addresses (a path) are returned as they are.
    """
    if isinstance(address, tuple):
        return (address[0], address[1])
    return address
