"""A small HTTP/1.1 connection pool on netbase's async interfaces, with h11.

The same code runs on asyncio and on trio: everything it waits on comes from the backend."""

from urllib.parse import urlsplit

import h11

import netbase


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

    async def send(self, method, target, headers, body):
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
        await self.stream.write(data)

    async def receive(self):
        response, content = None, b""
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await self.stream.read())
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


class AsyncConnectionPool:
    """Keeps connections alive and reuses them, at most ``max_connections`` open."""

    def __init__(self, backend, *, max_connections=10, ssl_context=None):
        self._backend = backend
        self._ssl_context = ssl_context or netbase.default_ssl_context()
        self._max = max_connections
        self._slots = self._backend.create_semaphore(max_connections)
        self._lock = self._backend.create_lock()
        self._idle = []  # connections waiting for a request, oldest first
        self._open = 0  # connections open, in use or idle

    async def request(self, method, url, *, headers=(), body=b"", timeout=None):
        """Send one request and read the whole response."""
        async with netbase.timeout(timeout if timeout is not None else float("inf")):
            url = urlsplit(url)
            port = url.port or (443 if url.scheme == "https" else 80)
            origin = (url.scheme, url.hostname, port)
            target = (url.path or "/") + (f"?{url.query}" if url.query else "")
            # Wait for a free slot: honours the deadline (netbase.TimeoutError).
            await self._slots.acquire()
            try:
                connection = await self._checkout(origin)
                try:
                    await connection.send(method.encode(), target.encode(), headers, body)
                    response = await connection.receive()
                    reusable = connection.finish()
                except BaseException:
                    reusable = False
                    raise
                finally:
                    async with self._lock:
                        if reusable:
                            self._idle.append(connection)
                        else:
                            await self._drop(connection)
                return response
            finally:
                self._slots.release()

    async def _checkout(self, origin):
        async with self._lock:
            for connection in reversed(self._idle):
                if connection.origin == origin:
                    self._idle.remove(connection)
                    if connection.is_reusable():
                        return connection
                    await self._drop(connection)  # the server closed it while idle
            # A new connection: make room by closing the oldest idle ones.
            while self._idle and self._open >= self._max:
                await self._drop(self._idle.pop(0))
            self._open += 1
        try:
            stream = await self._backend.connect(origin[1], origin[2])
        except BaseException:
            async with self._lock:
                self._open -= 1
            raise
        if origin[0] == "https":
            try:
                await stream.start_tls(self._ssl_context, hostname=origin[1])  # SNI
            except BaseException:
                async with self._lock:
                    self._open -= 1
                raise  # start_tls closed the stream
        return Connection(origin, stream)

    async def _drop(self, connection):
        await connection.stream.close()
        self._open -= 1

    async def close(self):
        async with self._lock:
            while self._idle:
                await self._drop(self._idle.pop())

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        await self.close()
