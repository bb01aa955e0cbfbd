"""A small HTTP/1.1 connection pool on netbase's sync interfaces, with h11."""

from urllib.parse import urlsplit

import h11

import netbase
import netbase_threaded


class Response:
    def __init__(self, status, headers, content):
        self.status = status
        self.headers = headers
        self.content = content

    def __repr__(self):
        return f"<Response [{self.status}]>"


class Connection:
    """One stream and the HTTP/1.1 state of the exchange on it."""

    def __init__(self, origin, stream):
        self.origin = origin
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)

    def is_reusable(self):
        # An idle connection has nothing to read. If it has, the server closed
        # it (or sent something unasked for): it cannot carry a request.
        return not self.stream.get_extra_info("is_readable")

    def send(self, method, target, headers, body):
        host = (
            self.origin[1] if self.origin[2] in (80, 443) else f"{self.origin[1]}:{self.origin[2]}"
        )
        headers = [("Host", host), *headers]
        if body:
            headers.append(("Content-Length", str(len(body))))
        data = self.h11.send(h11.Request(method=method, target=target, headers=headers))
        if body:
            data += self.h11.send(h11.Data(data=body))
        data += self.h11.send(h11.EndOfMessage())
        self.stream.write(data)

    def receive(self):
        response, content = None, b""
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(self.stream.read())
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                content += event.data
            elif isinstance(event, h11.EndOfMessage):
                headers = [(k.decode(), v.decode()) for k, v in response.headers]
                return Response(response.status_code, headers, content)

    def finish(self):
        """Ready for the next request? Then start its cycle; else close."""
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            return True
        return False


class ConnectionPool:
    """Keeps connections alive and reuses them, at most ``max_connections`` open."""

    def __init__(self, backend=None, *, max_connections=10, ssl_context=None):
        self._backend = backend if backend is not None else netbase_threaded.NetworkBackend()
        self._ssl_context = ssl_context or netbase.default_ssl_context()
        self._max = max_connections
        self._slots = self._backend.create_semaphore(max_connections)
        self._lock = self._backend.create_lock()
        self._idle = []  # connections waiting for a request, oldest first
        self._open = 0  # connections open, in use or idle

    def request(self, method, url, *, headers=(), body=b"", timeout=None):
        """Send one request and read the whole response."""
        with netbase.timeout(timeout if timeout is not None else float("inf")):
            url = urlsplit(url)
            port = url.port or (443 if url.scheme == "https" else 80)
            origin = (url.scheme, url.hostname, port)
            target = (url.path or "/") + (f"?{url.query}" if url.query else "")
            # Wait for a free slot: honours the deadline (netbase.TimeoutError).
            self._slots.acquire()
            try:
                connection = self._checkout(origin)
                try:
                    connection.send(method.encode(), target.encode(), headers, body)
                    response = connection.receive()
                    reusable = connection.finish()
                except BaseException:
                    reusable = False
                    raise
                finally:
                    with self._lock:
                        if reusable:
                            self._idle.append(connection)
                        else:
                            self._drop(connection)
                return response
            finally:
                self._slots.release()

    def _checkout(self, origin):
        with self._lock:
            for connection in reversed(self._idle):
                if connection.origin == origin:
                    self._idle.remove(connection)
                    if connection.is_reusable():
                        return connection
                    self._drop(connection)  # the server closed it while idle
            # A new connection: make room by closing the oldest idle ones.
            while self._idle and self._open >= self._max:
                self._drop(self._idle.pop(0))
            self._open += 1
        try:
            stream = self._backend.connect(origin[1], origin[2])
        except BaseException:
            with self._lock:
                self._open -= 1
            raise
        if origin[0] == "https":
            try:
                stream.start_tls(self._ssl_context, hostname=origin[1])  # SNI
            except BaseException:
                with self._lock:
                    self._open -= 1
                raise  # start_tls closed the stream
        return Connection(origin, stream)

    def _drop(self, connection):
        connection.stream.close()
        self._open -= 1

    def close(self):
        with self._lock:
            while self._idle:
                self._drop(self._idle.pop())

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
