"""The trio group: trio streams, anyio on trio, httpcore TrioBackend, netbase_trio.

The workload driver and the anyio, httpcore and netbase candidates are the
asyncio group's: they are written against those libraries' own APIs, which
do not change with the runtime underneath.
"""

from __future__ import annotations

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
)
from benchmarks.clients.aio import AnyIO, HttpcoreAsync, NetbaseAsync, measure


class TrioStreams:
    name = "trio streams"

    def __init__(self) -> None:
        import trio

        self.trio = trio

    async def open(self, job: Job) -> Any:
        stream = await self.trio.open_tcp_stream(HOST, job.port)
        if job.tls:
            stream = self.trio.SSLStream(stream, job.client_context(), server_hostname=TLS_HOSTNAME)
            await stream.do_handshake()
        return stream

    async def bulk(self, stream: Any, nbytes: int, deadline: bool) -> int:
        fail_after = self.trio.fail_after
        await stream.send_all(bulk_request(nbytes))
        receive = stream.receive_some
        total = 0
        while True:
            if deadline:
                with fail_after(DEADLINE):
                    data = await receive(CHUNK)
            else:
                data = await receive(CHUNK)
            if not data:
                return total
            total += len(data)

    async def pingpong(self, stream: Any, n: int, deadline: bool) -> int:
        fail_after, send, receive = self.trio.fail_after, stream.send_all, stream.receive_some
        total = 0
        for _ in range(n):
            got = 0
            if deadline:
                with fail_after(DEADLINE):
                    await send(MESSAGE)
                while got < 64:
                    with fail_after(DEADLINE):
                        data = await receive(CHUNK)
                    if not data:
                        raise BenchError("end of stream in the middle of a round trip")
                    got += len(data)
            else:
                await send(MESSAGE)
                while got < 64:
                    data = await receive(CHUNK)
                    if not data:
                        raise BenchError("end of stream in the middle of a round trip")
                    got += len(data)
            total += got
        return total

    async def connect(self, job: Job, n: int) -> int:
        open_tcp_stream, fail_after = self.trio.open_tcp_stream, self.trio.fail_after
        for _ in range(n):
            if job.deadline:
                with fail_after(DEADLINE):
                    stream = await open_tcp_stream(HOST, job.port)
            else:
                stream = await open_tcp_stream(HOST, job.port)
            await stream.aclose()
        return n

    async def close(self, stream: Any) -> None:
        await stream.aclose()


class AnyIOTrio(AnyIO):
    name = "anyio (trio)"


class HttpcoreTrio(HttpcoreAsync):
    name = "httpcore TrioBackend"

    def make_backend(self, httpcore: Any) -> Any:
        return httpcore.TrioBackend()


class NetbaseTrio(NetbaseAsync):
    name = "netbase_trio"
    module = "netbase_trio"


CANDIDATES: dict[str, tuple[str, type[Any]]] = {
    "raw": ("trio", TrioStreams),
    "anyio": ("anyio", AnyIOTrio),
    "httpcore": ("httpcore", HttpcoreTrio),
    "netbase": ("netbase_trio", NetbaseTrio),
}


def run(key: str, job: Job) -> dict[str, float]:
    import trio

    cand = CANDIDATES[key][1]()
    return trio.run(measure, cand, job)  # type: ignore[no-any-return]
