"""A fault-injecting peer: one loopback server whose misbehaviour a :class:`Scenario` describes.

It is an echo server (or a server that sends a fixed payload) that can speak
TLS itself, through ``ssl.SSLObject`` and memory BIOs, so it sees and controls
the raw bytes it sends: TLS records included. That is what lets one piece of
code delay, trickle, stall, reset or half-close at any byte, truncate a TLS
record, answer a ClientHello with garbage, close TLS without a close_notify, or
vanish when the client starts its closing handshake.

Every fault applies to what the peer SENDS, counted in raw bytes on the wire
(for TLS: handshake and record bytes too). It runs on :class:`servers.Server`,
so it is a plain stdlib peer that shares no code with the backends under test.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import select
import socket
import ssl
import struct
import termios
import threading
import time
from typing import Literal

import servers

GARBAGE = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 8

# How long a peer waits for a client that neither speaks nor closes: far above
# any test's deadline, so only a client that leaks its connection ever hits it.
IDLE_LIMIT = 10.0


@dataclasses.dataclass(frozen=True)
class Scenario:
    """What the peer does. Offsets are raw bytes the peer has sent on this connection."""

    name: str
    tls: ssl.SSLContext | None = None
    # "echo": answer what arrives. "silent": accept and never speak.
    # "garbage": answer the first bytes (a ClientHello) with non-TLS bytes.
    greeting: Literal["echo", "silent", "garbage"] = "echo"
    # After the handshake, send these (one TLS record each), then `after`.
    payload: tuple[bytes, ...] = ()
    after: Literal["echo", "fin", "close_notify", "reset", "stall"] = "echo"
    truncate: int = 0  # hold back this many raw bytes at the end of the payload
    delay: float = 0.0  # seconds before each burst the peer sends
    trickle: float | None = None  # send one byte at a time, this many seconds apart
    stall_at: int | None = None  # stop sending after this many bytes; stay connected
    reset_at: int | None = None  # RST once this many bytes are sent
    fin_at: int | None = None  # half-close (FIN) once this many bytes are sent
    read_input: bool = True  # False: never read what the client sends
    # What a TLS peer does when the client sends its close_notify.
    on_close_notify: Literal["answer", "vanish", "ignore"] = "answer"


class _Ended(Exception):
    """The scenario ended the conversation (reset, stall, half-close...)."""


class FaultPeer:
    """A :class:`servers.Server` running one :class:`Scenario` per connection.

    ``received`` counts the application bytes the peer read, over all
    connections; ``received_after_fin`` those that arrived after it half-closed.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.received = 0
        self.received_after_fin = 0
        self.events: list[str] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.server = servers.Server(self._handle, name=f"fault-{scenario.name}")
        self.host = self.server.host
        self.port = self.server.port

    @property
    def accepted(self) -> int:
        return self.server.accepted

    def close(self) -> None:
        self.stopping.set()
        self.server.wait_idle(IDLE_LIMIT)
        self.server.close()

    def _event(self, what: str) -> None:
        with self._lock:
            self.events.append(what)

    def _count(self, n: int, *, after_fin: bool = False) -> None:
        with self._lock:
            self.received += n
            if after_fin:
                self.received_after_fin += n

    # -- one connection ---------------------------------------------------------

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(IDLE_LIMIT)
        # Every byte goes out as soon as it is sent: the offsets are exact.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _Connection(self, conn).run()


class _Connection:
    def __init__(self, peer: FaultPeer, conn: socket.socket) -> None:
        self.peer = peer
        self.s = peer.scenario
        self.conn = conn
        self.sent = 0
        self.obj: ssl.SSLObject | None = None
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()

    def run(self) -> None:
        s = self.s
        try:
            if s.greeting == "silent":
                self._drain()
                return
            if s.greeting == "garbage":
                self.conn.recv(65536)
                self._emit(GARBAGE)
                self._drain()
                return
            if s.tls is not None:
                self.obj = s.tls.wrap_bio(self.incoming, self.outgoing, server_side=True)
                if not self._handshake():
                    return
            if not s.read_input:
                self._wait_for_hangup()
                return
            if s.payload:
                self._send_payload()
                if s.after == "fin":
                    self._half_close()
                    return
                if s.after == "close_notify":
                    self._close_notify()
                    self._drain()
                    return
                if s.after in ("reset", "stall"):
                    self._end(s.after)
            self._echo()
        except _Ended:
            pass

    # -- sending, with the faults -------------------------------------------------

    def _emit(self, data: bytes) -> None:
        """Send raw bytes, applying delay, trickle and the stall/reset/FIN offsets."""
        s = self.s
        if not data:
            return
        if s.delay:
            time.sleep(s.delay)
        limit, action = self._next_limit()
        if limit is not None and self.sent + len(data) >= limit:
            head = data[: limit - self.sent]
            self._send(head)
            self._end(action)
        self._send(data)

    def _next_limit(self) -> tuple[int | None, str]:
        limits = [
            (at, name)
            for at, name in (
                (self.s.stall_at, "stall"),
                (self.s.reset_at, "reset"),
                (self.s.fin_at, "fin"),
            )
            if at is not None
        ]
        if not limits:
            return None, ""
        return min(limits)

    def _send(self, data: bytes) -> None:
        if self.s.trickle is None:
            self.conn.sendall(data)
            self.sent += len(data)
            return
        for i in range(len(data)):
            self.conn.sendall(data[i : i + 1])
            self.sent += 1
            time.sleep(self.s.trickle)

    def _end(self, action: str) -> None:
        self.peer._event(f"{action}@{self.sent}")
        if action == "reset":
            self._wait_sent()
            servers.abort(self.conn)
        elif action == "stall":
            self._drain()
        elif action == "fin":
            self._half_close()
        raise _Ended

    def _wait_sent(self) -> None:
        """Wait until the client has acknowledged every byte sent (SIOCOUTQ is 0).

        A reset throws away whatever is still queued, so without this "reset at
        byte n" would drop some of the n bytes before it.
        """
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            unacked = struct.unpack("i", fcntl.ioctl(self.conn, termios.TIOCOUTQ, b"\0" * 4))
            if unacked[0] == 0:
                return
            time.sleep(0.001)

    def _flush_tls(self) -> None:
        self._emit(self.outgoing.read())

    # -- receiving ----------------------------------------------------------------

    def _recv_raw(self) -> bytes:
        data = self.conn.recv(65536)
        if self.obj is None:
            self.peer._count(len(data))
        return data

    def _drain(self, *, after_fin: bool = False) -> None:
        """Read and drop until the client closes (or resets)."""
        with contextlib.suppress(OSError):
            while data := self.conn.recv(65536):
                self.peer._count(len(data), after_fin=after_fin)

    def _wait_for_hangup(self) -> None:
        """Never read; return once the client has closed its side (or IDLE_LIMIT)."""
        # A client that closes while its unsent data waits on our zero window
        # queues its FIN behind that data: we would never see it. So also stop
        # when the test is over (FaultPeer.close).
        poller = select.poll()
        poller.register(self.conn, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        deadline = time.monotonic() + IDLE_LIMIT
        while not poller.poll(50) and not self.peer.stopping.is_set():
            if time.monotonic() > deadline:
                break
        with contextlib.suppress(OSError):
            servers.abort(self.conn)  # unread data: the kernel would reset anyway

    def _half_close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_WR)
        self.peer._event("fin")
        self._drain(after_fin=True)

    # -- TLS ------------------------------------------------------------------------

    def _handshake(self) -> bool:
        assert self.obj is not None
        while True:
            try:
                self.obj.do_handshake()
            except ssl.SSLWantReadError:
                self._flush_tls()
                data = self._recv_raw()
                if not data:
                    return False
                self.incoming.write(data)
            except ssl.SSLError:
                self._flush_tls()  # our alert, if any
                return False
            else:
                self._flush_tls()
                self.peer._event("handshake")
                return True

    def _send_payload(self) -> None:
        raw = b""
        for record in self.s.payload:
            if self.obj is None:
                raw += record
            else:
                self.obj.write(record)
                raw += self.outgoing.read()
        if self.s.truncate:
            raw = raw[: -self.s.truncate]
        self._emit(raw)

    def _close_notify(self) -> None:
        assert self.obj is not None
        with contextlib.suppress(ssl.SSLError):
            self.obj.unwrap()
        self._flush_tls()

    def _recv_app(self) -> bytes | None:
        """Application bytes; ``b""`` at TCP end of stream, ``None`` for a close_notify."""
        if self.obj is None:
            return self._recv_raw()
        while True:
            try:
                data = self.obj.read(65536)
            except ssl.SSLWantReadError:
                raw = self._recv_raw()
                if not raw:
                    return b""
                self.incoming.write(raw)
                continue
            except ssl.SSLZeroReturnError:
                return None
            if not data:  # CPython reports the close_notify as b"", not an exception
                return None
            self.peer._count(len(data))
            return data

    def _echo(self) -> None:
        while True:
            data = self._recv_app()
            if data is None:  # the client's close_notify
                self.peer._event("close_notify")
                if self.s.on_close_notify == "vanish":
                    servers.abort(self.conn)
                    self.peer._event("vanished")
                elif self.s.on_close_notify == "ignore":
                    self._drain()
                else:
                    self._close_notify()
                return
            if not data:
                self.peer._event("eof")
                return
            if self.obj is None:
                self._emit(data)
            else:
                self.obj.write(data)
                self._flush_tls()
