"""The websites the documentation examples talk to, served locally.

Each site of :data:`docs_sandbox.SITES` gets a plain HTTP server on port 80 and
an HTTPS one on port 443 of its address, inside the private network. They are
small HTTP/1.1 servers on stdlib sockets and threads, independent of netbase:
keep-alive, ``Connection: close``, ``Content-Length`` bodies. A server that
waits for a request that never comes simply waits, as real ones do, which is
what the timeout examples rely on.

The connection pool tests need a little more from them, so each server counts
the connections it accepted and the most it had open at once, can close the
connections that sit idle between requests, and answers ``/slow`` after a
delay. None of it changes what a documentation example sees.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import trustme
from docs_sandbox import SITES

EXAMPLE_PAGE = b"""<!doctype html>
<html>
<head>
    <title>Example Domain</title>
    <meta charset="utf-8" />
</head>
<body>
<div>
    <h1>Example Domain</h1>
    <p>This domain is for use in illustrative examples in documents.</p>
</div>
</body>
</html>
"""


def page_for(name: str) -> bytes:
    if name == "www.example.com":
        return EXAMPLE_PAGE
    title = name.encode()
    return b"<!doctype html>\n<html><head><title>" + title + b"</title></head></html>\n"


class HTTPServer:
    """One listening socket: HTTP/1.1 with keep-alive, over TLS when given a context."""

    def __init__(self, name: str, address: str, port: int, tls: ssl.SSLContext | None) -> None:
        self.name = name
        self.page = page_for(name)
        self.tls = tls
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((address, port))
        self.listener.listen(128)
        # Accepted under the lock (never blocking it): wait_idle() sees a
        # connection either still queued or already counted, never in between.
        self.listener.setblocking(False)
        self.accepted = 0
        self.open = 0
        self.most_open = 0
        self.requests = 0
        self.errors: list[BaseException] = []
        self._idle: set[socket.socket] = set()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Condition()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name=f"docs-{name}:{port}", daemon=True)
        self._thread.start()

    # -- what the pool tests look at --------------------------------------------

    def reset_counts(self) -> None:
        with self._lock:
            self.accepted = self.requests = 0
            self.most_open = self.open

    def close_idle(self, timeout: float = 2.0) -> int:
        """Close every connection that waits for its next request; returns how many.

        A connection whose response has just been sent becomes idle a moment
        later: first wait (up to ``timeout``) for every open one to be idle.
        """
        with self._lock:
            self._lock.wait_for(lambda: len(self._idle) == self.open, timeout)
            idle = list(self._idle)
            self._idle.clear()
        for conn in idle:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        return len(idle)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no connection is open (clients closed theirs).

        A connection the kernel completed but the accept loop has not taken
        yet counts as open: wait for it to be taken first.
        """
        deadline = time.monotonic() + timeout
        if self.listener.fileno() >= 0:
            poller = select.poll()
            poller.register(self.listener, select.POLLIN)
            while poller.poll(0) and time.monotonic() < deadline:
                time.sleep(0.005)
        with self._lock:
            return self._lock.wait_for(
                lambda: self.open == 0, max(0.0, deadline - time.monotonic())
            )

    # -- serving -----------------------------------------------------------------

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
                conn.setblocking(True)
                self.accepted += 1
                self.open += 1
                self.most_open = max(self.most_open, self.open)
                self._conns.add(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        raw = conn
        try:
            if self.tls is not None:
                conn.settimeout(10.0)
                try:
                    # wrap_socket() moves the descriptor to the new SSLSocket.
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError):
                    return  # the client gave up on the handshake (or failed verification)
                finally:
                    with self._lock:
                        self._conns.discard(raw)
                        self._conns.add(conn)
                conn.settimeout(None)
            self._converse(conn)
        except OSError:
            pass  # the client went away
        except BaseException as exc:  # a bug in this server: report it
            self.errors.append(exc)
        finally:
            with self._lock:
                self._idle.discard(conn)
                self._conns.discard(conn)
            conn.close()
            with self._lock:
                self.open -= 1
                self._lock.notify_all()

    def _converse(self, conn: socket.socket) -> None:
        buffer = b""
        while True:
            with self._lock:
                self._idle.add(conn)
                self._lock.notify_all()
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                with self._lock:
                    self._idle.discard(conn)
                buffer += data
            with self._lock:
                self._idle.discard(conn)
                self.requests += 1
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = [*lines[0].split(" "), "", "", ""][:3]
            headers = {}
            for line in lines[1:]:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            while len(buffer) < length:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            buffer = buffer[length:]
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            conn.sendall(self._response(method, target, close))
            if close:
                return

    def _response(self, method: str, target: str, close: bool) -> bytes:
        if target.startswith("/slow"):
            time.sleep(1.0)
        status, body = (
            ("200 OK", self.page) if target in ("/", "/slow") else ("404 Not Found", b"Not Found\n")
        )
        head = [
            f"HTTP/1.1 {status}",
            "Content-Type: text/html; charset=UTF-8",
            f"Content-Length: {len(body)}",
        ]
        if close:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode()
        return data if method == "HEAD" else data + body

    def close(self) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join()
        self.listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.wait_idle(5.0)
        os.close(self._wake_r)
        os.close(self._wake_w)


class Sites:
    """Every site's HTTP and HTTPS server, and the CA that signed their certificates."""

    def __init__(self, directory: str) -> None:
        self.ca = trustme.CA(organization_name="netbase docs CA")
        self.ca_file = os.path.join(directory, "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self.servers: dict[tuple[str, int], HTTPServer] = {}
        for name, address in SITES.items():
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert(name, name.removeprefix("www.")).configure_cert(ctx)
            self.servers[name, 80] = HTTPServer(name, address, 80, None)
            self.servers[name, 443] = HTTPServer(name, address, 443, ctx)

    def trust(self) -> None:
        """Make the system trust store (OpenSSL's defaults, so truststore) trust our CA only."""
        os.environ["SSL_CERT_FILE"] = self.ca_file
        os.environ["SSL_CERT_DIR"] = os.path.dirname(self.ca_file)

    def wait_idle(self, timeout: float = 5.0) -> list[str]:
        """Names of the servers still holding a connection after ``timeout``."""
        deadline = time.monotonic() + timeout
        return [
            f"{name}:{port}"
            for (name, port), server in self.servers.items()
            if not server.wait_idle(max(0.0, deadline - time.monotonic()))
        ]

    def errors(self) -> list[BaseException]:
        found = [e for server in self.servers.values() for e in server.errors]
        for server in self.servers.values():
            server.errors.clear()
        return found

    def close(self) -> None:
        for server in self.servers.values():
            server.close()


@contextmanager
def running_sites() -> Iterator[Sites]:
    """Enter the private network, start every site and trust their CA."""
    import docs_sandbox

    with tempfile.TemporaryDirectory(prefix="netbase-docs-") as directory:
        docs_sandbox.enter(directory)
        sites = Sites(directory)
        sites.trust()
        try:
            yield sites
        finally:
            sites.close()
