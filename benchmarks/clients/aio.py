"""The asyncio group (also run under uvloop): raw Protocol and BufferedProtocol,
asyncio streams, anyio, httpcore AnyIOBackend, netbase_asyncio.

Deadlines on equal terms, two forms for every candidate:

- one scope around the timed loop (``in_scope``): ``asyncio.timeout``
  (``asyncio.wait_for`` before 3.11), ``anyio.fail_after`` (httpcore runs on
  anyio), ``netbase.timeout``;
- one scope per operation (the loops' ``op`` branches): the same scopes
  entered around each call, httpcore's ``timeout=``.

Accepting (accept: a loop over an accept call; serve: a server calling a
handler per connection): the floor is ``loop.sock_accept`` on a listening
socket; the runtime's own server is ``asyncio.start_server`` (the streams
candidate); anyio's listener does both; httpcore has no listener. Each
handler closes its stream before it is counted.

The workload driver (``measure``) is shared with the trio group.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.clients._common import (
    BACKLOG,
    CHUNK,
    DEADLINE,
    HOST,
    MESSAGE,
    TLS_HOSTNAME,
    BenchError,
    Clients,
    Job,
    Stopwatch,
    bulk_request,
    rss_bytes,
    warmup_size,
)

if sys.version_info >= (3, 11):

    async def bounded(aw: Any) -> Any:
        async with asyncio.timeout(DEADLINE):
            return await aw

else:

    async def bounded(aw: Any) -> Any:
        return await asyncio.wait_for(aw, DEADLINE)


class _Counting:
    """What both raw protocols share: count bytes, wake a waiter at a target."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.total = 0
        self.target = 0
        self.waiter: asyncio.Future[None] | None = None
        self.done: asyncio.Future[None] = loop.create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def _received(self, n: int) -> None:
        self.total += n
        waiter = self.waiter
        if waiter is not None and self.total >= self.target:
            self.waiter = None
            waiter.set_result(None)

    def eof_received(self) -> None:
        self._finish()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(BenchError("end of stream in the middle of a round trip"))


class _CountingProtocol(_Counting, asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        self._received(len(data))


class _CountingBufferedProtocol(_Counting, asyncio.BufferedProtocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.buffer = memoryview(bytearray(CHUNK))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._received(nbytes)


class RawProtocol:
    name = "raw asyncio.Protocol"
    protocol: type[_Counting] = _CountingProtocol

    async def in_scope(self, aw: Awaitable[Any]) -> Any:
        return await bounded(aw)

    async def open(self, job: Job) -> Any:
        loop = asyncio.get_running_loop()
        tls = {"ssl": job.client_context(), "server_hostname": TLS_HOSTNAME} if job.tls else {}
        _, proto = await loop.create_connection(lambda: self.protocol(loop), HOST, job.port, **tls)
        return proto

    async def bulk(self, proto: Any, nbytes: int, op: bool) -> int:
        # The transport reads by itself: the one operation to bound is the wait for the end.
        proto.transport.write(bulk_request(nbytes))
        await (bounded(proto.done) if op else proto.done)
        return proto.total

    async def pingpong(self, proto: Any, n: int, op: bool) -> int:
        start = proto.total
        create_future, write = proto.loop.create_future, proto.transport.write
        for _ in range(n):
            proto.target = proto.total + 64
            proto.waiter = waiter = create_future()
            write(MESSAGE)
            await (bounded(waiter) if op else waiter)
        return proto.total - start

    async def connect(self, job: Job, n: int, op: bool) -> int:
        for _ in range(n):
            proto = await (bounded(self.open(job)) if op else self.open(job))
            # Closed when connection_lost has run, as every other candidate's close
            # waits for (asyncio streams' wait_closed, anyio's aclose, netbase's close).
            await self.close(proto)
        return n

    async def close(self, proto: Any) -> None:
        proto.transport.close()
        await proto.done

    async def accept(self, clients: Clients) -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        with socket.create_server((HOST, 0), backlog=BACKLOG) as listener:
            listener.setblocking(False)
            clients.connect(listener.getsockname()[1])
            sock_accept, n = loop.sock_accept, clients.n
            t0 = time.perf_counter()
            for _ in range(n):
                conn, _ = await sock_accept(listener)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.close()
            return time.perf_counter() - t0, n


class RawBufferedProtocol(RawProtocol):
    name = "raw asyncio.BufferedProtocol"
    protocol = _CountingBufferedProtocol


class Streams:
    name = "asyncio streams"

    async def in_scope(self, aw: Awaitable[Any]) -> Any:
        return await bounded(aw)

    async def open(self, job: Job) -> Any:
        tls = {"ssl": job.client_context(), "server_hostname": TLS_HOSTNAME} if job.tls else {}
        return await asyncio.open_connection(HOST, job.port, **tls)

    async def bulk(self, rw: Any, nbytes: int, op: bool) -> int:
        reader, writer = rw
        writer.write(bulk_request(nbytes))
        await writer.drain()
        read = reader.read
        total = 0
        while True:
            data = await (bounded(read(CHUNK)) if op else read(CHUNK))
            if not data:
                return total
            total += len(data)

    async def pingpong(self, rw: Any, n: int, op: bool) -> int:
        reader, writer = rw
        read, write, drain = reader.read, writer.write, writer.drain
        total = 0
        for _ in range(n):
            write(MESSAGE)
            await (bounded(drain()) if op else drain())
            got = 0
            while got < 64:
                data = await (bounded(read(CHUNK)) if op else read(CHUNK))
                if not data:
                    raise BenchError("end of stream in the middle of a round trip")
                got += len(data)
            total += got
        return total

    async def connect(self, job: Job, n: int, op: bool) -> int:
        for _ in range(n):
            rw = await (bounded(self.open(job)) if op else self.open(job))
            await self.close(rw)
        return n

    async def close(self, rw: Any) -> None:
        rw[1].close()
        with contextlib.suppress(OSError):
            await rw[1].wait_closed()

    async def serve(self, clients: Clients) -> tuple[float, int]:
        done = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self.close((reader, writer))
            if clients.served():
                done.set()

        # A socket listening already: asyncio's server listens when it starts serving.
        sock = socket.create_server((HOST, 0), backlog=BACKLOG)
        try:
            server = await asyncio.start_server(
                handle, sock=sock, backlog=BACKLOG, start_serving=False
            )
        except BaseException:
            sock.close()
            raise
        try:
            clients.connect(sock.getsockname()[1])
            t0 = time.perf_counter()
            await server.start_serving()
            await bounded(done.wait())
            seconds = time.perf_counter() - t0
        finally:
            server.close()
            await server.wait_closed()
        return seconds, clients.handled


class AnyIO:
    name = "anyio"

    def __init__(self) -> None:
        import anyio

        self.anyio = anyio

    async def in_scope(self, aw: Awaitable[Any]) -> Any:
        with self.anyio.fail_after(DEADLINE):
            return await aw

    async def open(self, job: Job) -> Any:
        if job.tls:
            return await self.anyio.connect_tcp(
                HOST, job.port, ssl_context=job.client_context(), tls_hostname=TLS_HOSTNAME
            )
        return await self.anyio.connect_tcp(HOST, job.port)

    async def bulk(self, stream: Any, nbytes: int, op: bool) -> int:
        anyio = self.anyio
        await stream.send(bulk_request(nbytes))
        receive = stream.receive
        total = 0
        try:
            if op:
                while True:
                    with anyio.fail_after(DEADLINE):
                        total += len(await receive(CHUNK))
            else:
                while True:
                    total += len(await receive(CHUNK))
        except anyio.EndOfStream:
            return total

    async def pingpong(self, stream: Any, n: int, op: bool) -> int:
        fail_after, send, receive = self.anyio.fail_after, stream.send, stream.receive
        total = 0
        for _ in range(n):
            if op:
                with fail_after(DEADLINE):
                    await send(MESSAGE)
                got = 0
                while got < 64:
                    with fail_after(DEADLINE):
                        got += len(await receive(CHUNK))
            else:
                await send(MESSAGE)
                got = 0
                while got < 64:
                    got += len(await receive(CHUNK))
            total += got
        return total

    async def connect(self, job: Job, n: int, op: bool) -> int:
        fail_after = self.anyio.fail_after
        for _ in range(n):
            if op:
                with fail_after(DEADLINE):
                    stream = await self.open(job)
            else:
                stream = await self.open(job)
            await stream.aclose()
        return n

    async def close(self, stream: Any) -> None:
        await stream.aclose()

    async def accept(self, clients: Clients) -> tuple[float, int]:
        anyio = self.anyio
        async with await anyio.create_tcp_listener(local_host=HOST, backlog=BACKLOG) as multi:
            listener = multi.listeners[0]
            clients.connect(listener.extra(anyio.abc.SocketAttribute.local_port))
            return await accept_and_aclose(listener.accept, clients.n)

    async def serve(self, clients: Clients) -> tuple[float, int]:
        anyio = self.anyio
        done = anyio.Event()

        async def handle(stream: Any) -> None:
            await stream.aclose()
            if clients.served():
                done.set()

        async with await anyio.create_tcp_listener(local_host=HOST, backlog=BACKLOG) as multi:
            clients.connect(multi.extra(anyio.abc.SocketAttribute.local_port))
            async with anyio.create_task_group() as tg:
                t0 = time.perf_counter()
                tg.start_soon(multi.serve, handle)
                await self.in_scope(done.wait())
                seconds = time.perf_counter() - t0
                tg.cancel_scope.cancel()
        return seconds, clients.handled


class HttpcoreAsync:
    name = "httpcore AnyIOBackend"

    def __init__(self) -> None:
        import anyio
        import httpcore

        self.anyio = anyio
        self.backend = self.make_backend(httpcore)

    def make_backend(self, httpcore: Any) -> Any:
        return httpcore.AnyIOBackend()

    async def in_scope(self, aw: Awaitable[Any]) -> Any:
        # httpcore has no scope of its own; its backends run on anyio.
        with self.anyio.fail_after(DEADLINE):
            return await aw

    async def open(self, job: Job, timeout: float | None = None) -> Any:
        stream = await self.backend.connect_tcp(HOST, job.port, timeout=timeout)
        if job.tls:
            stream = await stream.start_tls(
                job.client_context(), server_hostname=TLS_HOSTNAME, timeout=timeout
            )
        return stream

    async def bulk(self, stream: Any, nbytes: int, op: bool) -> int:
        timeout = DEADLINE if op else None
        await stream.write(bulk_request(nbytes), timeout=timeout)
        read = stream.read
        total = 0
        while True:
            data = await read(CHUNK, timeout=timeout)
            if not data:
                return total
            total += len(data)

    async def pingpong(self, stream: Any, n: int, op: bool) -> int:
        timeout = DEADLINE if op else None
        read, write = stream.read, stream.write
        total = 0
        for _ in range(n):
            await write(MESSAGE, timeout=timeout)
            got = 0
            while got < 64:
                data = await read(CHUNK, timeout=timeout)
                if not data:
                    raise BenchError("end of stream in the middle of a round trip")
                got += len(data)
            total += got
        return total

    async def connect(self, job: Job, n: int, op: bool) -> int:
        timeout = DEADLINE if op else None
        for _ in range(n):
            stream = await self.open(job, timeout)
            await stream.aclose()
        return n

    async def close(self, stream: Any) -> None:
        await stream.aclose()


class NetbaseAsync:
    """netbase_asyncio, or netbase_trio through the subclass in trio_.py."""

    name = "netbase_asyncio"
    module = "netbase_asyncio"

    def __init__(self) -> None:
        import importlib

        self.netbase = importlib.import_module(self.module)
        self.backend = self.netbase.NetworkBackend()

    async def in_scope(self, aw: Awaitable[Any]) -> Any:
        with self.netbase.timeout(DEADLINE):
            return await aw

    async def open(self, job: Job) -> Any:
        stream = await self.backend.connect(HOST, job.port)
        if job.default_ctx:
            await stream.start_tls(hostname=TLS_HOSTNAME)  # netbase's default context
        elif job.tls:
            await stream.start_tls(job.client_context(), hostname=TLS_HOSTNAME)
        return stream

    async def bulk(self, stream: Any, nbytes: int, op: bool) -> int:
        timeout = self.netbase.timeout
        read = stream.read
        total = 0
        if op:
            with timeout(DEADLINE):
                await stream.write(bulk_request(nbytes))
            while True:
                with timeout(DEADLINE):
                    data = await read(CHUNK)
                if not data:
                    return total
                total += len(data)
        await stream.write(bulk_request(nbytes))
        while True:
            data = await read(CHUNK)
            if not data:
                return total
            total += len(data)

    async def pingpong(self, stream: Any, n: int, op: bool) -> int:
        timeout, read, write = self.netbase.timeout, stream.read, stream.write
        total = 0
        for _ in range(n):
            got = 0
            if op:
                with timeout(DEADLINE):
                    await write(MESSAGE)
                while got < 64:
                    with timeout(DEADLINE):
                        data = await read(CHUNK)
                    if not data:
                        raise BenchError("end of stream in the middle of a round trip")
                    got += len(data)
            else:
                await write(MESSAGE)
                while got < 64:
                    data = await read(CHUNK)
                    if not data:
                        raise BenchError("end of stream in the middle of a round trip")
                    got += len(data)
            total += got
        return total

    async def connect(self, job: Job, n: int, op: bool) -> int:
        timeout = self.netbase.timeout
        for _ in range(n):
            if op:
                with timeout(DEADLINE):
                    stream = await self.open(job)
            else:
                stream = await self.open(job)
            await stream.close()
        return n

    async def close(self, stream: Any) -> None:
        await stream.close()

    def event(self) -> Any:
        """An event of the runtime underneath."""
        return asyncio.Event()

    async def accept(self, clients: Clients) -> tuple[float, int]:
        listener = await self.backend.listen(HOST, 0, backlog=BACKLOG)
        async with listener:
            clients.connect(listener.port)
            accept, n = listener.accept, clients.n
            t0 = time.perf_counter()
            for _ in range(n):
                await (await accept()).close()
            return time.perf_counter() - t0, n

    async def serve(self, clients: Clients) -> tuple[float, int]:
        done = self.event()

        async def handle(stream: Any) -> None:
            await stream.close()  # serve() would close it after: closed before it is counted
            if clients.served():
                done.set()

        server = self.backend.serve(HOST, 0, handle, backlog=BACKLOG)
        try:
            clients.connect(server.port)  # it listens from here, accepts inside `async with`
        except BaseException:
            await server.listener.close()
            raise
        t0 = time.perf_counter()
        async with server:
            await self.in_scope(done.wait())
            seconds = time.perf_counter() - t0
        return seconds, clients.handled


CANDIDATES: dict[str, tuple[str, type[Any]]] = {
    "raw": ("asyncio", RawProtocol),
    "raw-buffered": ("asyncio", RawBufferedProtocol),
    "streams": ("asyncio", Streams),
    "anyio": ("anyio", AnyIO),
    "httpcore": ("httpcore", HttpcoreAsync),
    "netbase": ("netbase_asyncio", NetbaseAsync),
}


async def accept_and_aclose(accept: Callable[[], Awaitable[Any]], n: int) -> tuple[float, int]:
    """Time `n` accepts of anyio's or trio's listener, each stream closed at once."""
    t0 = time.perf_counter()
    for _ in range(n):
        await (await accept()).aclose()
    return time.perf_counter() - t0, n


Gather = Callable[[list[Callable[[], Awaitable[Any]]]], Awaitable[list[Any]]]


async def asyncio_gather(fns: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run the functions concurrently, one task each; their results in order."""
    return list(await asyncio.gather(*(fn() for fn in fns)))


async def _timed(cand: Any, job: Job, loop: Callable[[bool], Awaitable[int]]) -> dict[str, float]:
    """Time one loop in the job's deadline form: none, one scope around it, or per operation."""
    watch = Stopwatch()
    if job.deadline == "loop":
        count = await cand.in_scope(loop(False))
    else:
        count = await loop(job.op)
    return watch.stop(count)


def each_pingpong(cand: Any, streams: list[Any], n: int) -> list[Callable[[], Awaitable[Any]]]:
    """The scale workload's tasks: each stream n round trips under its own deadline."""
    return [lambda s=s: cand.in_scope(cand.pingpong(s, n, False)) for s in streams]


async def measure(cand: Any, job: Job, gather: Gather = asyncio_gather) -> dict[str, float]:
    """Warm up, then time one workload; return seconds and what was counted."""
    if job.workload == "memory":
        for s in [await cand.open(job) for _ in range(min(100, job.size))]:
            await cand.close(s)
        before = rss_bytes()
        streams = [await cand.open(job) for _ in range(job.size)]
        after = rss_bytes()
        for s in streams:
            await cand.close(s)
        return {"bytes_per_stream": (after - before) / job.size, "count": len(streams)}
    if job.workload == "connect_many":
        # n connects at once, one task each, all under one deadline.
        async def burst(n: int) -> list[Any]:
            return await cand.in_scope(gather([lambda: cand.open(job)] * n))

        for s in await burst(warmup_size(job.size)):
            await cand.close(s)
        t0 = time.perf_counter()
        streams = await burst(job.size)
        seconds = time.perf_counter() - t0
        for s in streams:
            await cand.close(s)
        return {"seconds": seconds, "count": sum(s is not None for s in streams)}
    if job.workload == "scale":
        # job.streams streams, each doing job.size round trips under its own deadline.
        streams = [await cand.open(job) for _ in range(job.streams)]
        await gather(each_pingpong(cand, streams, 1))
        t0 = time.perf_counter()
        counts = await gather(each_pingpong(cand, streams, job.size))
        seconds = time.perf_counter() - t0
        for s in streams:
            await cand.close(s)
        return {"seconds": seconds, "count": sum(counts)}
    if job.workload in ("accept", "serve"):
        for n in (warmup_size(job.size), job.size):
            with contextlib.closing(Clients(n)) as clients:
                seconds, handled = await getattr(cand, job.workload)(clients)
                count = min(handled, clients.closed_by_server())
        return {"seconds": seconds, "count": count}
    if job.workload == "connect":
        await cand.connect(job, warmup_size(job.size), job.op)
        return await _timed(cand, job, lambda op: cand.connect(job, job.size, op))
    if job.workload == "bulk":
        warm = await cand.open(job)
        await cand.bulk(warm, warmup_size(job.size), job.op)
        await cand.close(warm)
        stream = await cand.open(job)
        result = await _timed(cand, job, lambda op: cand.bulk(stream, job.size, op))
        await cand.close(stream)
        return result
    stream = await cand.open(job)
    await cand.pingpong(stream, warmup_size(job.size), job.op)
    result = await _timed(cand, job, lambda op: cand.pingpong(stream, job.size, op))
    await cand.close(stream)
    return result


def run(key: str, job: Job, *, use_uvloop: bool = False) -> dict[str, float]:
    cand = CANDIDATES[key][1]()
    if use_uvloop:
        import uvloop

        return uvloop.run(measure(cand, job))  # type: ignore[no-any-return]
    return asyncio.run(measure(cand, job))
