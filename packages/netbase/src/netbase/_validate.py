"""Argument checks shared by every backend.

The contract wants bad input to fail before any I/O, with `TypeError` for the
wrong type and `ValueError` for a wrong value. Backends call these first.
"""

from __future__ import annotations

import inspect
import socket
import ssl
from collections.abc import Sequence

from netbase._ssl import shared_default_context

DEFAULT_MAX_BYTES = 65536
"""What `read()` returns at most when no `max_bytes` is given."""

# The most one read() asks the layer below for. A socket read allocates its
# whole buffer before it knows what will arrive, so `read(10**12)` must not
# ask for 10**12 bytes: the kernel never hands over more than its receive
# buffer holds (a few MiB at most), and a TLS record is 16 KiB.
MAX_READ_CHUNK = 1 << 20

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

    ASCII names (the common case, IP literals included) are checked by hand,
    with the rules of the IDNA codec that `getaddrinfo()` applies to every
    `str` host: each label 1 to 63 characters (the last may be empty, a
    trailing dot). A name it refuses ("192.168..1") would otherwise fail there
    with a raw `UnicodeError`. Only names with other characters, or "xn--"
    labels, go through the codec itself, which is slow enough to show in a
    connect benchmark.
    """
    if name.isascii():
        labels = name.split(".")
        for label in labels[:-1]:
            if not 0 < len(label) <= 63:
                raise ValueError(f"{what} has an empty or overlong label: {name!r}")
        if len(labels[-1]) > 63:
            raise ValueError(f"{what} has a label longer than 63 characters: {name!r}")
        if name.replace(".", "").isdigit():
            return  # an IPv4 literal (or digits that resolution will reject)
    if "\x00" in name:
        raise ValueError(f"{what} must not contain a NUL character: {name!r}")
    if len(name.rstrip(".")) > _MAX_HOSTNAME:
        raise ValueError(f"{what} is longer than {_MAX_HOSTNAME} characters")
    if not name.isprintable() or " " in name:
        raise ValueError(f"{what} must not contain spaces or control characters: {name!r}")
    if name.isascii() and (":" in name or "xn--" not in name.lower()):
        return  # labels checked above; IDNA does not apply to an IPv6 literal
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
    """`read(max_bytes)`: `None` (65536) or a positive int.

    Returns how many bytes to ask for: `max_bytes`, capped at what one
    read can bring (`MAX_READ_CHUNK`), so a huge `max_bytes` allocates
    nothing huge.
    """
    if max_bytes is None:
        return DEFAULT_MAX_BYTES
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError(f"max_bytes must be an int or None, not {type(max_bytes).__name__}")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive, not {max_bytes}")
    return max_bytes if max_bytes <= MAX_READ_CHUNK else MAX_READ_CHUNK


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
    elif ctx.protocol == ssl.PROTOCOL_TLS_SERVER:
        # The handshake would go out as a server's and fail on the peer: a
        # caller's mistake that can be told before any byte is sent.
        raise ValueError(
            "ctx is a server-side context (ssl.PROTOCOL_TLS_SERVER): start_tls() is "
            "the client side, use ssl.create_default_context() or netbase.default_ssl_context()"
        )
    if hostname is not None:
        if not isinstance(hostname, str):
            raise TypeError(f"hostname must be a str or None, not {type(hostname).__name__}")
        if not hostname:
            raise ValueError("hostname must not be empty (pass None for no hostname)")
        check_hostname_text(hostname, "hostname")
    return ctx


def check_resolver_call(resolver: object, pending: object, runtime: str) -> None:
    """What an async backend's resolver call returned must be awaitable.

    A sync `resolve()` handed to an async backend would block its loop;
    `TypeError` names the resolver and the runtime (`"asyncio"`, `"trio"`).
    """
    if not inspect.isawaitable(pending):
        raise TypeError(
            f"{type(resolver).__name__}.resolve() must be a coroutine function "
            f"on {runtime} (async def resolve(host, port))"
        )


def check_resolver_answer(resolver: object, host: str, answer: object) -> list[str]:
    """What a resolver returned, checked: a sequence of IP address strings.

    Every runtime's backend calls this on the answer of its resolver before
    connecting to anything. A wrong answer is the resolver's bug, and
    connecting anyway can reach the wrong host: a `str` would be tried
    character by character (`"0"` is this machine), an empty string is
    this machine too. So `TypeError` for an answer that is not a sequence
    of `str`, `ValueError` for a string that is not an IP address; both
    name the resolver and show what it returned. An empty sequence is left to
    the caller (no address to try: a `ConnectError`).
    """
    if isinstance(answer, (str, bytes, bytearray)) or not isinstance(answer, Sequence):
        raise TypeError(
            f"{_describe(resolver)}.resolve({host!r}) must return a sequence of IP address "
            f"strings, not {type(answer).__name__}: {_shorten(answer)}"
        )
    addresses = list(answer)
    for address in addresses:
        if not isinstance(address, str):
            raise TypeError(
                f"{_describe(resolver)}.resolve({host!r}) must return IP address strings, "
                f"not {type(address).__name__} ({_shorten(address)}) in {_shorten(answer)}"
            )
        if not is_ip_address(address):
            raise ValueError(
                f"{_describe(resolver)}.resolve({host!r}) returned {address!r}, which is "
                f"not an IP address, in {_shorten(answer)}"
            )
    return addresses


def is_ip_address(text: str) -> bool:
    """Whether `text` is an IPv4 or IPv6 address (a `%scope` allowed on IPv6)."""
    try:
        socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):
        pass
    else:
        return True
    address, percent, scope = text.partition("%")
    if percent and (not scope or "\x00" in scope):
        return False
    try:
        socket.inet_pton(socket.AF_INET6, address)
    except (OSError, ValueError):
        return False
    return True


def _describe(resolver: object) -> str:
    return type(resolver).__name__


def _shorten(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."
