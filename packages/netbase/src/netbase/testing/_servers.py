"""Loopback servers: plain stdlib sockets in threads, independent of every backend.

A backend is judged by a peer it shares no code with. Each server runs its
accept loop and each connection in threads (named `test-...`), so the same
server serves a sync test, an asyncio test and a trio test. Each counts its live
connections: [`Server.wait_idle`][netbase.testing.Server.wait_idle] returns once
the client side of every connection has been closed, which is how a leak check
tells that a client forgot to close a stream.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import trustme

Handler = Callable[[socket.socket], None]
"""What a [`Server`][netbase.testing.Server] runs per connection, in its own thread."""


class Server:
    """Accepts on a loopback address and runs `handler(conn)` per connection, in a thread.

    Listens on `127.0.0.1` (or `::1` with `family=socket.AF_INET6`, or on the
    UNIX socket `unix_path`) on an ephemeral port, given by `host` and `port`
    (`address` is the raw `getsockname()`). With `tls`, each connection is
    wrapped server-side with that context before the handler sees it. The
    counters `accepted` and `active` tell how many connections came and how
    many are still being handled; an exception a handler did not expect lands
    in `errors`. Use it as a context manager, or call `close()`:

        with Server(echo) as server:
            stream = backend.connect(server.host, server.port)
    """

    def __init__(
        self,
        handler: Handler,
        *,
        family: int = socket.AF_INET,
        tls: ssl.SSLContext | None = None,
        unix_path: str | None = None,
        name: str = "server",
    ) -> None:
        self.handler = handler
        self.tls = tls
        self.name = name
        if unix_path is not None:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(unix_path)
        else:
            self.listener = socket.socket(family, socket.SOCK_STREAM)
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.listener.listen(128)
        # Accepted under the lock (never blocking it): wait_idle() sees a
        # connection either still queued or already counted, never in between.
        self.listener.setblocking(False)
        self.address: Any = self.listener.getsockname()
        self.host: str = self.address[0] if unix_path is None else ""
        self.port: int = self.address[1] if unix_path is None else 0
        self.active = 0
        self.accepted = 0
        self.errors: list[BaseException] = []
        self._lock = threading.Condition()
        self._closed = False
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name=f"test-{name}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        poller = select.poll()
        poller.register(self.listener, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while True:
            events = dict(poller.poll())
            if self._wake_r in events:
                return
            with self._lock:
                try:
                    conn, _ = self.listener.accept()
                except OSError:
                    continue
                self.active += 1
                self.accepted += 1
            conn.setblocking(True)
            if conn.family != socket.AF_UNIX:
                # Without it a small TLS write waits for the client's delayed
                # ACK (~40 ms), which slows every TLS round trip in the suite.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(
                target=self._handle, args=(conn,), name=f"test-{self.name}-conn", daemon=True
            ).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (OSError, ValueError):
                    return  # the client gave up or failed verification
            self.handler(conn)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass
        except BaseException as exc:  # pragma: no cover - a bug in a test server
            self.errors.append(exc)
        finally:
            conn.close()
            with self._lock:
                self.active -= 1
                self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for no connection to be handled; `False` if some still are.

        A connection's handler lives until the client closes its end, so a
        server that stays busy points at a stream the client never closed.
        """
        deadline = time.monotonic() + timeout
        # A connection the kernel completed but the accept loop has not taken
        # yet is not idle either: wait for it to be taken (and counted) first.
        if self.listener.fileno() >= 0:
            queued = select.poll()
            queued.register(self.listener, select.POLLIN)
            while queued.poll(0) and time.monotonic() < deadline:
                time.sleep(0.002)
        with self._lock:
            while self.active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.address if not self.host else f"{self.host}:{self.port}"
        return f"<Server {self.name} {where!s} active={self.active}>"

    def close(self) -> None:
        """Stop accepting and close the listener (connections being handled finish on their own).

        Idempotent. A UNIX socket's file is left for its directory's owner to remove.
        """
        if self._closed:
            return
        self._closed = True
        os.write(self._wake_w, b"x")
        self._thread.join()
        self.listener.close()
        os.close(self._wake_r)
        os.close(self._wake_w)


# -- handlers ---------------------------------------------------------------


def echo(conn: socket.socket) -> None:
    """Send back every byte until end of stream, then close cleanly."""
    while True:
        data = conn.recv(65536)
        if not data:
            break
        conn.sendall(data)
    if isinstance(conn, ssl.SSLSocket):
        with contextlib.suppress(OSError, ValueError):
            conn.unwrap()


def silent(conn: socket.socket) -> None:
    """Accept, never speak; read and drop until the client closes."""
    while conn.recv(65536):
        pass


def silent_for(seconds: float) -> Handler:
    """Say nothing for `seconds`, then close: a silent peer that cannot hang a client forever.

    A client that ignores its deadline sees an end of stream after `seconds`
    instead of a timeout, which a check can report instead of waiting for good.
    """

    def handler(conn: socket.socket) -> None:
        conn.settimeout(seconds)
        until = time.monotonic() + seconds
        with contextlib.suppress(OSError):
            while time.monotonic() < until:
                conn.settimeout(max(until - time.monotonic(), 0.001))
                if not conn.recv(65536):
                    return

    return handler


def stall_until(gate: threading.Event) -> Handler:
    """Read nothing until `gate` is set (the client's writes fill the buffers), then drain."""

    def handler(conn: socket.socket) -> None:
        gate.wait(30)
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass

    return handler


def slow_reader(conn: socket.socket) -> None:
    """Read 4 KiB every 10 ms for 1.5 s (slow, but never stalled), then drain at full speed."""
    until = time.monotonic() + 1.5
    while conn.recv(4096):
        if time.monotonic() < until:
            time.sleep(0.01)


def reset_after(count: int) -> Handler:
    """Read `count` bytes, then reset the connection (RST)."""

    def handler(conn: socket.socket) -> None:
        got = 0
        while got < count:
            data = conn.recv(count - got)
            if not data:
                return
            got += len(data)
        abort(conn)

    return handler


def abort(conn: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees a reset, not an end of stream."""
    raw = conn
    if isinstance(conn, ssl.SSLSocket):
        raw = socket.socket(fileno=os.dup(conn.fileno()))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def send_then_close(payload: bytes, *, close_notify: bool = True) -> Handler:
    """Send `payload` then close; on TLS with or without a close_notify (ragged EOF)."""

    def handler(conn: socket.socket) -> None:
        conn.sendall(payload)
        if isinstance(conn, ssl.SSLSocket) and close_notify:
            with contextlib.suppress(OSError, ValueError):
                conn.unwrap()
        else:
            conn.shutdown(socket.SHUT_WR)
        # Wait for the client to close so its side never sees a reset.
        with contextlib.suppress(OSError):
            conn.settimeout(10)
            while conn.recv(65536):
                pass

    return handler


def close_mid_handshake(conn: socket.socket) -> None:
    """A plain server that reads the ClientHello and hangs up."""
    conn.recv(65536)


def garbage_hello(conn: socket.socket) -> None:
    """Answer a ClientHello with bytes that are not TLS."""
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\nthis is not TLS\r\n" * 4)
    with contextlib.suppress(OSError):
        while conn.recv(65536):
            pass


def abort_after_handshake(conn: socket.socket) -> None:
    """Complete the TLS handshake (done by the server), then reset the connection."""
    abort(conn)


def record_close(seen: list[str]) -> Handler:
    """Echo one message, then record how the client ended: close_notify, or not."""

    def handler(conn: socket.socket) -> None:
        conn.sendall(conn.recv(65536))
        try:
            data = conn.recv(65536)
        except ssl.SSLEOFError:
            seen.append("ragged")
        except OSError as exc:
            seen.append(f"error: {exc}")
        else:
            seen.append("close_notify" if data == b"" else f"data: {data!r}")

    return handler


def relay_to(target: tuple[str, int]) -> Handler:
    """A tunnel: pipe the (decrypted) bytes to `target` over TCP and back.

    Behind a TLS listener this is what an HTTPS proxy does after CONNECT: the
    client then runs TLS with the target inside the TLS it has with the relay.
    """

    def handler(conn: socket.socket) -> None:
        upstream = socket.create_connection(target)
        try:
            done = threading.Event()

            def pump_up() -> None:
                with contextlib.suppress(OSError, ValueError):
                    while data := conn.recv(65536):
                        upstream.sendall(data)
                with contextlib.suppress(OSError):
                    upstream.shutdown(socket.SHUT_WR)
                done.set()

            thread = threading.Thread(target=pump_up, name="test-relay-up", daemon=True)
            thread.start()
            with contextlib.suppress(OSError, ValueError):
                while data := upstream.recv(65536):
                    conn.sendall(data)
            done.wait(10)
            thread.join(10)
        finally:
            upstream.close()

    return handler


@contextlib.contextmanager
def full_backlog(
    family: int = socket.AF_INET, *, give_up_after: float | None = None
) -> Iterator[tuple[str, int]]:
    """An address whose listener never accepts and whose backlog is full.

    A connect() to it hangs (the SYN is dropped) until the client gives up:
    the way to test connect timeouts without leaving loopback. With
    `give_up_after`, the listener closes after that many seconds, so that a
    client ignoring its deadline is refused at its next SYN retry (within
    seconds) instead of hanging for the kernel's full retry schedule.
    """
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    stop = threading.Event()
    guard = None
    if give_up_after is not None:

        def give_up() -> None:
            if not stop.wait(give_up_after):
                listener.close()

        guard = threading.Thread(target=give_up, name="test-backlog-guard", daemon=True)
        guard.start()
    try:
        for _ in range(4):
            filler = socket.socket(family, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(address)
            fillers.append(filler)
        time.sleep(0.05)
        yield address[0], address[1]
    finally:
        stop.set()
        if guard is not None:
            guard.join()
        for filler in fillers:
            filler.close()
        listener.close()


def unused_port(family: int = socket.AF_INET) -> int:
    """A loopback port nobody listens on (connections to it are refused)."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Certificates:
    """A throwaway certificate authority (from `trustme`) and the contexts the servers use.

    `server_context()` serves a certificate for `localhost`, `127.0.0.1`,
    `::1` and `tls.test`; `client_context()` is what a user would build,
    `netbase.default_ssl_context()`, trusting this authority as well.
    """

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self._server: ssl.SSLContext | None = None

    def server_context(self) -> ssl.SSLContext:
        """The servers' context (built once)."""
        if self._server is None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert("localhost", "127.0.0.1", "::1", "tls.test").configure_cert(ctx)
            self._server = ctx
        return self._server

    def client_context(self) -> ssl.SSLContext:
        """A new client context: the default one, trusting this authority too."""
        import netbase

        ctx = netbase.default_ssl_context()
        self.ca.configure_trust(ctx)
        return ctx
