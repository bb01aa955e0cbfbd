"""The failure matrix's peer: one TCP connection, zero to two TLS layers, one fault.

It speaks every TLS layer itself through ``ssl.SSLObject`` (for two layers it
is both the proxy's TLS and the origin's TLS inside it, as a client behind an
HTTPS proxy sees them), so it controls every raw byte. The conversation:

1. the handshakes, one per layer (or the fault in the middle of the first
   one, for ``start_tls``);
2. it sends ``b"hello"`` and waits for ``b"go"`` from the client: both ends are
   now idle, every byte read, so the fault lands at a known point;
3. the fault, then ``fault_done`` is set.

Faults: ``rst`` (reset), ``fin`` (half-close: it still reads, and counts),
``close`` (closes both ways: the client's next bytes meet a reset),
``close_notify_rst`` (the innermost layer's close_notify, then a reset),
``truncated_rst`` / ``truncated_fin`` (a record cut 10 bytes short, then a
reset / a half-close).
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import ssl
import struct
import termios
import threading
import time

import servers

FAULTS = ("rst", "fin", "close", "close_notify_rst", "truncated_rst", "truncated_fin")


class MatrixPeer:
    def __init__(self, ctx: ssl.SSLContext | None, layers: int, fault: str, *, at: str = "idle"):
        self.ctx = ctx
        self.layers = layers
        self.fault = fault
        self.at = at  # "idle" (after hello/go) or "handshake" (during the first handshake)
        self.fault_done = threading.Event()
        self.received_after_fault = 0
        self.server = servers.Server(self._handle, name=f"matrix-{fault}")
        self.host = self.server.host
        self.port = self.server.port

    def close(self) -> None:
        self.server.wait_idle(5.0)
        self.server.close()

    # -- one connection -----------------------------------------------------------

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10.0)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = conn
        self.tls: list[tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]] = []
        self.plain = b""  # application bytes read and not yet consumed
        try:
            for layer in range(self.layers):
                if self.at == "handshake" and layer == self.layers - 1:
                    # This layer's ClientHello (it may have come with the end
                    # of the layer below's handshake, and wait there).
                    if not self._unwrap_from(layer, b""):
                        conn.recv(65536)
                    self._fault()
                    return
                assert self.ctx is not None
                incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                obj = self.ctx.wrap_bio(incoming, outgoing, server_side=True)
                self._handshake(obj, incoming, outgoing)
                self.tls.append((obj, incoming, outgoing))
            self.conn.sendall(self._wrap(b"hello"))
            while b"go" not in self.plain:
                if not self._read_app():
                    return
            self._fault()
        except OSError:
            pass

    # -- layers -------------------------------------------------------------------

    def _wrap(self, data: bytes, layer: int | None = None) -> bytes:
        """``data`` as raw bytes through the layers from ``layer`` (default: innermost) out."""
        top = len(self.tls) if layer is None else layer
        for obj, _, outgoing in reversed(self.tls[:top]):
            if data:
                obj.write(data)
            data = outgoing.read()
        return data

    def _unwrap_from(self, layer: int, raw: bytes) -> bytes | None:
        """Feed raw bytes to ``layer`` and those under it; the plaintext that came out.

        ``None`` when the innermost layer saw a close_notify.
        """
        data = raw
        for obj, incoming, _ in self.tls[:layer]:
            if data:
                incoming.write(data)
            out = b""
            while True:
                try:
                    chunk = obj.read(65536)
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                    break
                if not chunk:
                    return None
                out += chunk
            data = out
        return data

    def _handshake(self, obj: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing) -> None:
        below = len(self.tls)
        while True:
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                self.conn.sendall(self._wrap(outgoing.read(), below))
                # What the layers below already hold first (the client may
                # send this handshake's first flight with the last one's end).
                data = self._unwrap_from(below, b"")
                while not data:
                    raw = self.conn.recv(65536)
                    if not raw:
                        raise OSError("the client left in the handshake") from None
                    data = self._unwrap_from(below, raw)
                incoming.write(data)
            else:
                self.conn.sendall(self._wrap(outgoing.read(), below))
                return

    def _read_app(self) -> bool:
        raw = self.conn.recv(65536)
        if not raw:
            return False
        data = self._unwrap_from(len(self.tls), raw)
        if data is None:
            return False
        self.plain += data
        return True

    # -- the fault ----------------------------------------------------------------

    def _fault(self) -> None:
        fault = self.fault
        if fault == "close_notify_rst" and self.tls:
            obj, _, outgoing = self.tls[-1]
            with contextlib.suppress(ssl.SSLError):
                obj.unwrap()
            self.conn.sendall(self._wrap(outgoing.read(), len(self.tls) - 1))
        if fault.startswith("truncated"):
            self.conn.sendall(self._wrap(b"world")[:-10])
        if fault in ("rst", "close_notify_rst", "truncated_rst"):
            self._wait_acked()
            servers.abort(self.conn)
            self.fault_done.set()
        elif fault == "close":
            self.conn.close()
            self.fault_done.set()
        else:  # a half-close: keep reading what the client sends
            self.conn.shutdown(socket.SHUT_WR)
            self.fault_done.set()
            with contextlib.suppress(OSError):
                while raw := self.conn.recv(65536):
                    self.received_after_fault += len(raw)

    def _wait_acked(self) -> None:
        """Until the client acknowledged every byte: a reset drops what is still queued."""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            queued = struct.unpack("i", fcntl.ioctl(self.conn, termios.TIOCOUTQ, b"\0" * 4))[0]
            if not queued:
                return
            time.sleep(0.001)
