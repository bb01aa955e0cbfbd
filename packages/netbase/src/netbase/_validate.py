"""Argument checks shared by every backend.

The contract wants bad input to fail before any I/O, with `TypeError` for the
wrong type and `ValueError` for a wrong value. Backends call these first.
"""

from __future__ import annotations

import ssl

from netbase._ssl import shared_default_context

DEFAULT_MAX_BYTES = 65536
"""What `read()` returns at most when no `max_bytes` is given."""

# RFC 1035: 253 characters for a name written without its trailing dot.
_MAX_HOSTNAME = 253


def check_host_port(host: object, port: object) -> None:
    """`connect(host, port)`: a non-empty str and an int in 0..65535."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not host:
        raise ValueError("host must not be empty")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535, not {port}")
    check_hostname_text(host, "host")


def check_hostname_text(name: str, what: str) -> None:
    """Reject names no resolver or TLS library could take: NUL, overlong, bad IDNA.

    ASCII names (the common case, IP literals included) are checked by hand;
    only names with other characters, or "xn--" labels, go through the IDNA
    codec, which is slow enough to show in a connect benchmark.
    """
    if name.replace(".", "").isdigit() and name.isascii():
        return  # an IPv4 literal (or digits that resolution will reject)
    if "\x00" in name:
        raise ValueError(f"{what} must not contain a NUL character: {name!r}")
    if len(name.rstrip(".")) > _MAX_HOSTNAME:
        raise ValueError(f"{what} is longer than {_MAX_HOSTNAME} characters")
    if not name.isprintable() or " " in name:
        raise ValueError(f"{what} must not contain spaces or control characters: {name!r}")
    if ":" in name:  # an IPv6 literal; IDNA does not apply
        return
    if name.isascii() and "xn--" not in name.lower():
        labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
        for label in labels:
            if not 0 < len(label) <= 63:
                raise ValueError(f"{what} has an empty or overlong label: {name!r}")
        return
    try:
        encoded = name.encode("idna")
        # Encoding lets an ASCII "xn--" label through unchecked: decoding
        # catches punycode that is not valid.
        encoded.decode("idna")
    except UnicodeError as exc:
        raise ValueError(f"{what} is not a valid hostname: {name!r} ({exc})") from None
    if any(len(label) > 63 for label in encoded.split(b".")):
        raise ValueError(f"{what} has a label longer than 63 characters: {name!r}")


def check_max_bytes(max_bytes: object) -> int:
    """`read(max_bytes)`: `None` (65536) or a positive int."""
    if max_bytes is None:
        return DEFAULT_MAX_BYTES
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError(f"max_bytes must be an int or None, not {type(max_bytes).__name__}")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive, not {max_bytes}")
    return max_bytes


def check_data(data: object) -> None:
    """`write(data)`: bytes, bytearray or memoryview."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, bytearray or memoryview, not {type(data).__name__}")


def check_tls_args(ctx: object, hostname: object) -> ssl.SSLContext:
    """`start_tls(ctx, hostname)`: returns the context to use (the shared default for None)."""
    if ctx is None:
        ctx = shared_default_context()
    elif not isinstance(ctx, ssl.SSLContext):
        raise TypeError(f"ctx must be an ssl.SSLContext or None, not {type(ctx).__name__}")
    if hostname is not None:
        if not isinstance(hostname, str):
            raise TypeError(f"hostname must be a str or None, not {type(hostname).__name__}")
        if not hostname:
            raise ValueError("hostname must not be empty (pass None for no hostname)")
        check_hostname_text(hostname, "hostname")
    return ctx
