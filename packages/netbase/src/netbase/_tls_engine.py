"""The TLS pump, once: an `ssl.SSLObject` over two memory BIOs, with no I/O.

Every runtime's TLS layer is this engine plus the runtime's way of moving
bytes and waiting, as h11 keeps HTTP/1.1 in objects that never touch a
socket. What TLS over a byte stream has to decide lives here: when the
handshake is done, what the peer's bytes decrypt to, whether more input is
needed, whether the stream has ended (a close_notify, or the peer's plain
end of stream without one), and what must be sent.
"""

from __future__ import annotations

import ssl
from typing import Final, Literal

__all__ = ["CLOSE_NOTIFY", "RECORD", "TRUNCATED", "TLSEngine"]

# The most plaintext one TLS record carries (RFC 8446 section 5.1).
RECORD: Final = 16384

CLOSE_NOTIFY: Final = "close_notify"
TRUNCATED: Final = "truncated"

_WantRead = ssl.SSLWantReadError
_EOF = ssl.SSLEOFError
_ZeroReturn = ssl.SSLZeroReturnError
_SSLError = ssl.SSLError


class TLSEngine:
    """TLS over any byte stream, without I/O: bytes in, bytes out.

    A runtime's TLS layer owns one engine and only moves bytes and waits:

    - what arrives from the layer below goes in with `receive()` (`b""`
      when the layer below has ended);
    - `data_to_send()` gives the bytes to send to the layer below, whenever
      `outgoing.pending` says there are some (after the handshake, a write,
      a close, and also after a read: TLS 1.3 key updates are answered while
      reading);
    - `do_handshake()`, `read()`, `write()` and `close_notify()` drive TLS
      itself.

    `read()` says what happened in its return value, with no exception on
    the common paths:

    - non-empty `bytes`: application data;
    - `None`: need data: nothing can be decrypted until more input arrives.
      A TLS 1.3 session ticket alone gives `None`, so a readiness check
      built on `read()` is not fooled by it;
    - `b""`: the end of the stream, and again on every later call; `end`
      says how.

    `end` is `None` while the stream is open, then
    `"close_notify"` (the peer closed TLS properly) or `"truncated"` (the
    layer below ended without a close_notify, between records or in the
    middle of one). netbase's contract treats both as the end of the
    stream: framing is the application protocol's job, and HTTP servers
    commonly close without a close_notify. A failure (a bad record, garbage,
    a fatal alert from the peer) raises `ssl.SSLError`.

    Bytes given to `receive()` are kept until decrypted, so a layer that
    times out or is cancelled between two waits loses nothing.

    The engine takes no lock: a runtime whose reader and writer run in
    parallel threads must serialise the calls (`SSLObject` releases the GIL),
    and keep the order of the bytes it sends the one in which
    `data_to_send()` handed them out.
    """

    __slots__ = ("_failure", "end", "incoming", "obj", "outgoing")

    def __init__(
        self,
        ctx: ssl.SSLContext,
        hostname: str | None = None,
        *,
        server_side: bool = False,
    ) -> None:
        """Wrap two new memory BIOs with `ctx`.

        `hostname` drives SNI and certificate verification (client side);
        `server_side=True` makes the engine answer a handshake instead.
        """
        self.incoming = ssl.MemoryBIO()
        """The peer's bytes, not yet decrypted."""
        self.outgoing = ssl.MemoryBIO()
        """The bytes to send, not yet taken by `data_to_send()`."""
        self.obj: ssl.SSLObject = ctx.wrap_bio(
            self.incoming, self.outgoing, server_side=server_side, server_hostname=hostname
        )
        """The `ssl.SSLObject` (`version()`, `cipher()`, `getpeercert()`...)."""
        self.end: Literal["close_notify", "truncated"] | None = None
        """How the stream ended: `None` while open, `"close_notify"` or `"truncated"`."""
        # A failure met after records that decrypted: those go out first, and
        # the failure is raised by the next read (and every one after it).
        self._failure: ssl.SSLError | None = None

    def receive(self, data: bytes) -> None:
        """Hand the engine bytes from the layer below; `b""` means it has ended."""
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()

    def data_to_send(self) -> bytes:
        """Take the bytes to send to the layer below (`b""` when there are none)."""
        return self.outgoing.read()

    def do_handshake(self) -> bool:
        """Advance the handshake: `True` once done, `False` when it needs more input.

        Send `data_to_send()` in either case, then, on `False`, `receive()`
        what comes back and call again. Certificate and protocol failures
        raise `ssl.SSLError` (`ssl.SSLCertVerificationError` included).
        """
        try:
            self.obj.do_handshake()
        except _WantRead:
            return False
        return True

    def read(self, max_bytes: int) -> bytes | None:
        """Decrypt up to `max_bytes` bytes: data, `None` (need data) or `b""` (end).

        Decrypts every complete record held, up to `max_bytes`, in one call:
        OpenSSL hands out one record (16 KiB at most) per `SSLObject.read()`
        and allocates the size asked for, so the engine asks a record at a
        time and joins, which costs neither a large allocation per record nor
        one wait per record in the runtime. Nothing is attempted when nothing
        can be decrypted (a read that finds nothing costs an exception and an
        allocation of its whole buffer).
        """
        if self.end is not None:
            return b""
        if self._failure is not None:
            raise self._failure
        obj = self.obj
        incoming = self.incoming
        # Cheapest first: an attribute of the BIO, then a call into OpenSSL.
        if not (incoming.pending or obj.pending() or incoming.eof):
            return None
        asked = max_bytes if max_bytes < RECORD else RECORD
        try:
            data = obj.read(asked)
        except _WantRead:
            return None
        except _SSLError as exc:
            if self._ended(exc):
                return b""
            self._failure = exc
            raise
        size = len(data)
        if not size:
            self.end = CLOSE_NOTIFY
            return data
        # OpenSSL hands out one record per call, and a record holds 16 KiB
        # at most: unless `max_bytes` cut it, the record is used up, and only
        # bytes still in the BIO can add to the read. (Were anything left in
        # OpenSSL, it would not be lost: the next read starts with it.)
        if size >= max_bytes or not incoming.pending:
            return data
        parts = [data]
        while size < max_bytes and incoming.pending:
            left = max_bytes - size
            try:
                more = obj.read(left if left < RECORD else RECORD)
            except _WantRead:  # a partial record
                break
            except _SSLError as exc:
                if not self._ended(exc):
                    self._failure = exc
                break
            if not more:
                self.end = CLOSE_NOTIFY  # the next read says so
                break
            parts.append(more)
            size += len(more)
        return b"".join(parts)

    def _ended(self, exc: ssl.SSLError) -> bool:
        """Whether `exc` is the end of the stream (then `end` says how), not a failure."""
        if isinstance(exc, _EOF):
            # The layer below ended without a close_notify. The alert
            # OpenSSL queued for it has nobody to go to (and the layer below
            # may be gone): drop it, so that sending it cannot fail the read.
            self.end = TRUNCATED
            self.outgoing.read()
            return True
        if isinstance(exc, _ZeroReturn):
            # The peer's close_notify after we sent ours (CPython returns
            # b"" only when the peer closed first).
            self.end = CLOSE_NOTIFY
            return True
        return False

    def write(self, data: bytes | memoryview) -> int:
        """Encrypt `data` (all of it) into `outgoing`; returns how much was taken.

        An empty `data` does nothing (`SSLObject.write(b"")` would not be a
        no-op). A runtime encrypts a large payload a slice at a time and
        sends in between, so that it is not held twice in memory.
        """
        if not data:
            return 0
        return self.obj.write(data)

    def has_buffered(self) -> bool:
        """Whether `read()` may answer without more input from the layer below.

        True when bytes are held (decrypted, or received and not yet
        decrypted: perhaps only a session ticket, which `read()` then tells),
        and once the stream has ended or failed: the layer below may have
        nothing more to say, but a read returns (or raises) at once.
        """
        return (
            self.incoming.pending > 0
            or self.obj.pending() > 0
            or self.end is not None
            or self._failure is not None
        )

    def close_notify(self) -> None:
        """Queue our close_notify in `outgoing`; never wait for the peer's.

        Waiting can hang on peers that never answer (httpx #634, aiohttp
        #11091), and the TLS specs allow closing without it: trio's
        `SSLStream.aclose()` does the same. Never raises: a stream that is
        broken or not yet through its handshake just sends nothing.
        """
        try:
            self.obj.unwrap()
        except (OSError, ValueError):
            pass
