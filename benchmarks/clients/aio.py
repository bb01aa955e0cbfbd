"""The asyncio group (also run under uvloop): raw Protocol and BufferedProtocol,
asyncio streams, anyio, httpcore AnyIOBackend, netbase_asyncio.

Per-operation timeouts for the "-deadline" workloads: ``asyncio.timeout``
(``asyncio.wait_for`` before 3.11), ``anyio.fail_after``, httpcore's
``timeout=``; netbase enters one ambient ``netbase.timeout()`` around the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any

from benchmarks.clients._common import (
    CHUNK,
    DEADLINE,
    HOST,
    MESSAGE,
    TLS_HOSTNAME,
    BenchError,
    Job,
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

    async def open(self, job: Job) -> Any:
        loop = asyncio.get_running_loop()
        tls = {"ssl": job.client_context(), "server_hostname": TLS_HOSTNAME} if job.tls else {}
        _, proto = await loop.create_connection(lambda: self.protocol(loop), HOST, job.port, **tls)
        return proto

    async def bulk(self, proto: Any, nbytes: int, deadline: bool) -> int:
        proto.transport.write(bulk_request(nbytes))
        await (bounded(proto.done) if deadline else proto.done)
        return proto.total

    async def pingpong(self, proto: Any, n: int, deadline: bool) -> int:
        start = proto.total
        create_future, write = proto.loop.create_future, proto.transport.write
        for _ in range(n):
            proto.target = proto.total + 64
            proto.waiter = waiter = create_future()
            write(MESSAGE)
            await (bounded(waiter) if deadline else waiter)
        return proto.total - start

    async def connect(self, job: Job, n: int) -> int:
        loop = asyncio.get_running_loop()
        factory, port = (lambda: self.protocol(loop)), job.port
        for _ in range(n):
            coro = loop.create_connection(factory, HOST, port)
            transport, _ = await (bounded(coro) if job.deadline else coro)
            transport.close()
        return n

    async def close(self, proto: Any) -> None:
        proto.transport.close()
        await proto.done


class RawBufferedProtocol(RawProtocol):
    name = "raw asyncio.BufferedProtocol"
    protocol = _CountingBufferedProtocol


class Streams:
    name = "asyncio streams"

    async def open(self, job: Job) -> Any:
        tls = {"ssl": job.client_context(), "server_hostname": TLS_HOSTNAME} if job.tls else {}
        return await asyncio.open_connection(HOST, job.port, **tls)

    async def bulk(self, rw: Any, nbytes: int, deadline: bool) -> int:
        reader, writer = rw
        writer.write(bulk_request(nbytes))
        await writer.drain()
        read = reader.read
        total = 0
        while True:
            data = await (bounded(read(CHUNK)) if deadline else read(CHUNK))
            if not data:
                return total
            total += len(data)

    async def pingpong(self, rw: Any, n: int, deadline: bool) -> int:
        reader, writer = rw
        read, write, drain = reader.read, writer.write, writer.drain
        total = 0
        for _ in range(n):
            write(MESSAGE)
            await (bounded(drain()) if deadline else drain())
            got = 0
            while got < 64:
                data = await (bounded(read(CHUNK)) if deadline else read(CHUNK))
                if not data:
                    raise BenchError("end of stream in the middle of a round trip")
                got += len(data)
            total += got
        return total

    async def connect(self, job: Job, n: int) -> int:
        for _ in range(n):
            coro = asyncio.open_connection(HOST, job.port)
            _, writer = await (bounded(coro) if job.deadline else coro)
            writer.close()
            await writer.wait_closed()
        return n

    async def close(self, rw: Any) -> None:
        rw[1].close()
        with contextlib.suppress(OSError):
            await rw[1].wait_closed()


class AnyIO:
    name = "anyio"

    def __init__(self) -> None:
        import anyio

        self.anyio = anyio

    async def open(self, job: Job) -> Any:
        if job.tls:
            return await self.anyio.connect_tcp(
                HOST, job.port, ssl_context=job.client_context(), tls_hostname=TLS_HOSTNAME
            )
        return await self.anyio.connect_tcp(HOST, job.port)

    async def bulk(self, stream: Any, nbytes: int, deadline: bool) -> int:
        anyio = self.anyio
        await stream.send(bulk_request(nbytes))
        receive = stream.receive
        total = 0
        try:
            if deadline:
                while True:
                    with anyio.fail_after(DEADLINE):
                        total += len(await receive(CHUNK))
            else:
                while True:
                    total += len(await receive(CHUNK))
        except anyio.EndOfStream:
            return total

    async def pingpong(self, stream: Any, n: int, deadline: bool) -> int:
        fail_after, send, receive = self.anyio.fail_after, stream.send, stream.receive
        total = 0
        for _ in range(n):
            if deadline:
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

    async def connect(self, job: Job, n: int) -> int:
        connect_tcp, fail_after = self.anyio.connect_tcp, self.anyio.fail_after
        for _ in range(n):
            if job.deadline:
                with fail_after(DEADLINE):
                    stream = await connect_tcp(HOST, job.port)
            else:
                stream = await connect_tcp(HOST, job.port)
            await stream.aclose()
        return n

    async def close(self, stream: Any) -> None:
        await stream.aclose()


class HttpcoreAsync:
    name = "httpcore AnyIOBackend"

    def __init__(self) -> None:
        import httpcore

        self.backend = self.make_backend(httpcore)

    def make_backend(self, httpcore: Any) -> Any:
        return httpcore.AnyIOBackend()

    async def open(self, job: Job) -> Any:
        stream = await self.backend.connect_tcp(HOST, job.port)
        if job.tls:
            stream = await stream.start_tls(job.client_context(), server_hostname=TLS_HOSTNAME)
        return stream

    async def bulk(self, stream: Any, nbytes: int, deadline: bool) -> int:
        timeout = DEADLINE if deadline else None
        await stream.write(bulk_request(nbytes), timeout=timeout)
        read = stream.read
        total = 0
        while True:
            data = await read(CHUNK, timeout=timeout)
            if not data:
                return total
            total += len(data)

    async def pingpong(self, stream: Any, n: int, deadline: bool) -> int:
        timeout = DEADLINE if deadline else None
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

    async def connect(self, job: Job, n: int) -> int:
        timeout = DEADLINE if job.deadline else None
        connect_tcp = self.backend.connect_tcp
        for _ in range(n):
            stream = await connect_tcp(HOST, job.port, timeout=timeout)
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

    async def open(self, job: Job) -> Any:
        stream = await self.backend.connect(HOST, job.port)
        if job.tls:
            await stream.start_tls(job.client_context(), hostname=TLS_HOSTNAME)
        return stream

    async def bulk(self, stream: Any, nbytes: int, deadline: bool) -> int:
        if deadline:
            with self.netbase.timeout(DEADLINE):
                return await self._bulk(stream, nbytes)
        return await self._bulk(stream, nbytes)

    async def _bulk(self, stream: Any, nbytes: int) -> int:
        await stream.write(bulk_request(nbytes))
        read = stream.read
        total = 0
        while True:
            data = await read(CHUNK)
            if not data:
                return total
            total += len(data)

    async def pingpong(self, stream: Any, n: int, deadline: bool) -> int:
        if deadline:
            with self.netbase.timeout(DEADLINE):
                return await self._pingpong(stream, n)
        return await self._pingpong(stream, n)

    async def _pingpong(self, stream: Any, n: int) -> int:
        read, write = stream.read, stream.write
        total = 0
        for _ in range(n):
            await write(MESSAGE)
            got = 0
            while got < 64:
                data = await read(CHUNK)
                if not data:
                    raise BenchError("end of stream in the middle of a round trip")
                got += len(data)
            total += got
        return total

    async def connect(self, job: Job, n: int) -> int:
        if job.deadline:
            with self.netbase.timeout(DEADLINE):
                return await self._connect(job, n)
        return await self._connect(job, n)

    async def _connect(self, job: Job, n: int) -> int:
        connect = self.backend.connect
        for _ in range(n):
            stream = await connect(HOST, job.port)
            await stream.close()
        return n

    async def close(self, stream: Any) -> None:
        await stream.close()


CANDIDATES: dict[str, tuple[str, type[Any]]] = {
    "raw": ("asyncio", RawProtocol),
    "raw-buffered": ("asyncio", RawBufferedProtocol),
    "streams": ("asyncio", Streams),
    "anyio": ("anyio", AnyIO),
    "httpcore": ("httpcore", HttpcoreAsync),
    "netbase": ("netbase_asyncio", NetbaseAsync),
}


async def measure(cand: Any, job: Job) -> dict[str, float]:
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
    if job.workload == "connect":
        await cand.connect(job, warmup_size(job.size))
        t0 = time.perf_counter()
        count = await cand.connect(job, job.size)
        return {"seconds": time.perf_counter() - t0, "count": count}
    if job.workload == "bulk":
        warm = await cand.open(job)
        await cand.bulk(warm, warmup_size(job.size), job.deadline)
        await cand.close(warm)
        stream = await cand.open(job)
        t0 = time.perf_counter()
        count = await cand.bulk(stream, job.size, job.deadline)
        seconds = time.perf_counter() - t0
        await cand.close(stream)
        return {"seconds": seconds, "count": count}
    stream = await cand.open(job)
    await cand.pingpong(stream, warmup_size(job.size), job.deadline)
    t0 = time.perf_counter()
    count = await cand.pingpong(stream, job.size, job.deadline)
    seconds = time.perf_counter() - t0
    await cand.close(stream)
    return {"seconds": seconds, "count": count}


def run(key: str, job: Job, *, use_uvloop: bool = False) -> dict[str, float]:
    cand = CANDIDATES[key][1]()
    if use_uvloop:
        import uvloop

        return uvloop.run(measure(cand, job))  # type: ignore[no-any-return]
    return asyncio.run(measure(cand, job))
