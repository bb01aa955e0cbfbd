"""Checks on `NetworkBackend(...)` options, shared by every runtime.

Each runtime's backend takes the same keyword-only options; checking them in
one place keeps the errors the same everywhere and before any I/O.
"""

from __future__ import annotations

import math
import numbers
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# sun_path is 108 bytes on Linux (104 on the BSDs), terminating NUL included.
MAX_UNIX_PATH = 107


def check_backend_options(
    resolver: object,
    local_address: object,
    socket_options: Iterable[Any],
    happy_eyeballs_delay: object,
) -> list[Any]:
    """Validate the options; returns `socket_options` as a list of tuples."""
    if resolver is not None and not callable(getattr(resolver, "resolve", None)):
        raise TypeError("resolver must have a resolve(host, port) method")
    if local_address is not None:
        if not isinstance(local_address, str):
            raise TypeError(f"local_address must be a str, not {type(local_address).__name__}")
        try:
            socket.inet_pton(
                socket.AF_INET6 if ":" in local_address else socket.AF_INET, local_address
            )
        except OSError:
            raise ValueError(
                f"local_address must be an IP address, not {local_address!r}"
            ) from None
    if isinstance(socket_options, (str, bytes)) or not isinstance(socket_options, Iterable):
        raise TypeError("socket_options must be an iterable of setsockopt() argument tuples")
    options = list(socket_options)
    for option in options:
        if not isinstance(option, tuple) or len(option) not in (3, 4):
            raise TypeError(f"a socket option is a (level, option, value) tuple, not {option!r}")
        if not all(isinstance(part, int) and not isinstance(part, bool) for part in option[:2]):
            raise TypeError(f"a socket option's level and name are ints: {option!r}")
        if len(option) == 3 and not isinstance(option[2], (int, bytes, bytearray)):
            raise TypeError(f"a socket option's value is an int or bytes: {option!r}")
        if len(option) == 4 and (option[2] is not None or not isinstance(option[3], int)):
            raise TypeError(f"a 4-tuple socket option is (level, option, None, optlen): {option!r}")
    if happy_eyeballs_delay is not None:
        if isinstance(happy_eyeballs_delay, bool) or not isinstance(
            happy_eyeballs_delay, numbers.Real
        ):
            raise TypeError("happy_eyeballs_delay must be a number of seconds or None")
        delay = float(happy_eyeballs_delay)
        if math.isnan(delay) or delay < 0:
            raise ValueError("happy_eyeballs_delay must be a non-negative number of seconds")
    return options


class BackendOptions:
    """The options every built-in `NetworkBackend` takes, checked and kept.

    The four options of the contract (resolver, local address, socket
    options, Happy Eyeballs delay) are checked once, with the same errors on
    every runtime, and kept for the connect code.
    """

    # A backend's __init__ (whose keyword-only signature is its public
    # documentation) hands them to _set_options(); the connect code reads
    # _resolver, _local_address, _socket_options and _happy_eyeballs_delay.

    _resolver: Any
    _local_address: str | None
    _socket_options: Sequence[Any]
    _happy_eyeballs_delay: float | None

    def _set_options(
        self,
        resolver: object,
        local_address: str | None,
        socket_options: Iterable[Any],
        happy_eyeballs_delay: float | None,
        default_resolver: Callable[[], object],
    ) -> None:
        """Check the options (`check_backend_options`) and keep them.

        `resolver=None` means `default_resolver()`, the runtime's own.
        """
        self._socket_options = check_backend_options(
            resolver, local_address, socket_options, happy_eyeballs_delay
        )
        self._resolver = resolver if resolver is not None else default_resolver()
        self._local_address = local_address
        self._happy_eyeballs_delay = happy_eyeballs_delay


def check_unix_path(path: object) -> str | bytes:
    """`connect_unix(path)`: a non-empty str, bytes or path-like, short enough."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str, bytes or os.PathLike, not {type(path).__name__}")
    address = os.fspath(path)
    if not address:
        raise ValueError("path must not be empty")
    encoded = os.fsencode(address)
    if b"\x00" in encoded and not encoded.startswith(b"\x00"):
        raise ValueError("path must not contain a NUL character")
    if len(encoded) > MAX_UNIX_PATH:
        raise ValueError(f"path is longer than {MAX_UNIX_PATH} bytes: {address!r}")
    return address
