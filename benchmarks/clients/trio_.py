"""The trio group: raw trio sockets (the floor), trio streams, anyio on trio,
httpcore TrioBackend, netbase_trio.

The floor is a non-blocking socket driven by ``trio.lowlevel.wait_readable`` /
``wait_writable`` (TLS: an ``ssl.SSLObject`` over memory BIOs on top of it),
with none of the checks trio's streams add. The workload driver and the anyio,
httpcore and netbase candidates are the asyncio group's: they are written
against those libraries' own APIs, which do not change with the runtime
underneath.

Accepting: the floor's loop is a non-blocking socket's ``accept()`` on
``wait_readable``; trio's own listener is ``open_tcp_listeners`` (a
``SocketListener``, whose ``accept()`` the accept loop calls) and its server
``serve_listeners``, which ``serve_tcp`` runs on them (started here after the
connections are queued).
"""

from __future__ import annotations

import socket
import ssl
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
    bulk_request,
)
from benchmarks.clients.aio import (
    AnyIO,
    HttpcoreAsync,
    NetbaseAsync,
    accept_and_aclose,
    measure,
)


class _Plain:
    """A non-blocking socket: try the call, wait for readiness when it would block.

    Its methods have the names of trio's streams, so that both share the loops.
    """

    __slots__ = ("sock", "wait_readable", "wait_writable")

    def __init__(self, trio: Any, sock: socket.socket) -> None:
        self.sock = sock
        self.wait_readable = trio.lowlevel.wait_readable
        self.wait_writable = trio.lowlevel.wait_writable

    async def receive_some(self, n: int) -> bytes:
        while True:
            try:
                return self.sock.recv(n)
            except BlockingIOError:
                await self.wait_readable(self.sock)

    async def send_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                await self.wait_writable(self.sock)

    async def aclose(self) -> None:
        self.sock.close()


class _TLS:
    """TLS over a _Plain: an SSLObject and two memory BIOs, as trio's SSLStream
    builds it, without its locks and conflict detection."""

    __slots__ = ("incoming", "obj", "outgoing", "plain")

    def __init__(self, plain: _Plain, ctx: ssl.SSLContext) -> None:
        self.plain = plain
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname=TLS_HOSTNAME)

    async def _flush(self) -> None:
        data = self.outgoing.read()
        if data:
            await self.plain.send_all(data)

    async def _fill(self) -> None:
        data = await self.plain.receive_some(CHUNK)
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()

    async def handshake(self) -> None:
        while True:
            try:
                self.obj.do_handshake()
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()
            else:
                await self._flush()
                return

    async def receive_some(self, n: int) -> bytes:
        while True:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                await self._fill()
            except ssl.SSLZeroReturnError:
                return b""

    async def send_all(self, data: bytes) -> None:
        self.obj.write(data)
        await self._flush()

    async def aclose(self) -> None:
        # close_notify, then close (trio's SSLStream does not wait for the peer's either)
        try:
            self.obj.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLError):
            pass
        try:
            await self._flush()
        except OSError:
            pass
        await self.plain.aclose()


class TrioSocket:
    name = "raw trio.socket"

    def __init__(self) -> None:
        import trio

        self.trio = trio

    async def in_scope(self, aw: Awaitable[Any]) -> Any:
        with self.trio.fail_after(DEADLINE):
            return await aw

    async def open(self, job: Job) -> Any:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            try:
                sock.connect((HOST, job.port))
            except BlockingIOError:
                await self.trio.lowlevel.wait_writable(sock)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, "connect failed") from None
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            plain = _Plain(self.trio, sock)
            if not job.tls:
                return plain
            tls = _TLS(plain, job.client_context())
            await tls.handshake()
            return tls
        except BaseException:
            sock.close()
            raise

    async def bulk(self, stream: Any, nbytes: int, op: bool) -> int:
        fail_after = self.trio.fail_after
        await stream.send_all(bulk_request(nbytes))
        recv = stream.receive_some
        total = 0
        while True:
            if op:
                with fail_after(DEADLINE):
                    data = await recv(CHUNK)
            else:
                data = await recv(CHUNK)
            if not data:
                return total
            total += len(data)

    async def pingpong(self, stream: Any, n: int, op: bool) -> int:
        fail_after, send, recv = self.trio.fail_after, stream.send_all, stream.receive_some
        total = 0
        for _ in range(n):
            got = 0
            if op:
                with fail_after(DEADLINE):
                    await send(MESSAGE)
                while got < 64:
                    with fail_after(DEADLINE):
                        data = await recv(CHUNK)
                    if not data:
                        raise BenchError("end of stream in the middle of a round trip")
                    got += len(data)
            else:
                await send(MESSAGE)
                while got < 64:
                    data = await recv(CHUNK)
                    if not data:
                        raise BenchError("end of stream in the middle of a round trip")
                    got += len(data)
            total += got
        return total

    async def connect(self, job: Job, n: int, op: bool) -> int:
        fail_after = self.trio.fail_after
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
        wait_readable = self.trio.lowlevel.wait_readable
        with socket.create_server((HOST, 0), backlog=BACKLOG) as listener:
            listener.setblocking(False)
            clients.connect(listener.getsockname()[1])
            n = clients.n
            t0 = time.perf_counter()
            for _ in range(n):
                while True:
                    try:
                        conn, _ = listener.accept()
                    except BlockingIOError:
                        await wait_readable(listener)
                    else:
                        break
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.close()
            return time.perf_counter() - t0, n


class TrioStreams(TrioSocket):
    name = "trio streams"

    async def accept(self, clients: Clients) -> tuple[float, int]:
        (listener,) = await self.trio.open_tcp_listeners(0, host=HOST, backlog=BACKLOG)
        async with listener:
            clients.connect(listener.socket.getsockname()[1])
            return await accept_and_aclose(listener.accept, clients.n)

    async def serve(self, clients: Clients) -> tuple[float, int]:
        trio = self.trio
        done = trio.Event()

        async def handle(stream: Any) -> None:
            await stream.aclose()
            if clients.served():
                done.set()

        listeners = await trio.open_tcp_listeners(0, host=HOST, backlog=BACKLOG)
        try:
            clients.connect(listeners[0].socket.getsockname()[1])
            async with trio.open_nursery() as nursery:
                t0 = time.perf_counter()
                nursery.start_soon(trio.serve_listeners, handle, listeners)
                await self.in_scope(done.wait())
                seconds = time.perf_counter() - t0
                nursery.cancel_scope.cancel()
        finally:
            for listener in listeners:
                await listener.aclose()
        return seconds, clients.handled

    async def open(self, job: Job) -> Any:
        stream = await self.trio.open_tcp_stream(HOST, job.port)
        if job.tls:
            stream = self.trio.SSLStream(stream, job.client_context(), server_hostname=TLS_HOSTNAME)
            await stream.do_handshake()
        return stream


class AnyIOTrio(AnyIO):
    name = "anyio (trio)"


class HttpcoreTrio(HttpcoreAsync):
    name = "httpcore TrioBackend"

    def make_backend(self, httpcore: Any) -> Any:
        return httpcore.TrioBackend()


class NetbaseTrio(NetbaseAsync):
    name = "netbase_trio"
    module = "netbase_trio"

    def event(self) -> Any:
        import trio

        return trio.Event()


CANDIDATES: dict[str, tuple[str, type[Any]]] = {
    "raw": ("trio", TrioSocket),
    "streams": ("trio", TrioStreams),
    "anyio": ("anyio", AnyIOTrio),
    "httpcore": ("httpcore", HttpcoreTrio),
    "netbase": ("netbase_trio", NetbaseTrio),
}


async def trio_gather(fns: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run the functions concurrently in one nursery; their results in order."""
    import trio

    results: list[Any] = [None] * len(fns)

    async def one(i: int) -> None:
        results[i] = await fns[i]()

    async with trio.open_nursery() as nursery:
        for i in range(len(fns)):
            nursery.start_soon(one, i)
    return results


def run(key: str, job: Job) -> dict[str, float]:
    import trio

    cand = CANDIDATES[key][1]()
    return trio.run(measure, cand, job, trio_gather)  # type: ignore[no-any-return]
