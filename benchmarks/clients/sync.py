"""The sync group: raw blocking socket, httpcore SyncBackend, netbase_threaded.

Each candidate's loops are written the way a careful user of that library
would write them, directly against its API, so that the only difference
between candidates is the library.
"""

from __future__ import annotations

import socket
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


class RawSocket:
    name = "raw socket"

    def open(self, job: Job) -> Any:
        sock = socket.create_connection(
            (HOST, job.port), timeout=DEADLINE if job.deadline else None
        )
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if job.tls:
            sock = job.client_context().wrap_socket(sock, server_hostname=TLS_HOSTNAME)
        return sock

    def bulk(self, sock: Any, nbytes: int, deadline: bool) -> int:
        # settimeout() is per operation: the socket polls before every recv.
        sock.settimeout(DEADLINE if deadline else None)
        sock.sendall(bulk_request(nbytes))
        recv = sock.recv
        total = 0
        while True:
            data = recv(CHUNK)
            if not data:
                return total
            total += len(data)

    def pingpong(self, sock: Any, n: int, deadline: bool) -> int:
        sock.settimeout(DEADLINE if deadline else None)
        sendall, recv = sock.sendall, sock.recv
        total = 0
        for _ in range(n):
            sendall(MESSAGE)
            got = 0
            while got < 64:
                data = recv(CHUNK)
                if not data:
                    raise BenchError("end of stream in the middle of a round trip")
                got += len(data)
            total += got
        return total

    def connect(self, job: Job, n: int) -> int:
        timeout = DEADLINE if job.deadline else None
        addr = (HOST, job.port)
        for _ in range(n):
            sock = socket.create_connection(addr, timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.close()
        return n

    def close(self, sock: Any) -> None:
        sock.close()


class HttpcoreSync:
    name = "httpcore SyncBackend"

    def __init__(self) -> None:
        import httpcore

        self.backend = httpcore.SyncBackend()

    def open(self, job: Job) -> Any:
        stream = self.backend.connect_tcp(HOST, job.port)
        if job.tls:
            stream = stream.start_tls(job.client_context(), server_hostname=TLS_HOSTNAME)
        return stream

    def bulk(self, stream: Any, nbytes: int, deadline: bool) -> int:
        timeout = DEADLINE if deadline else None
        stream.write(bulk_request(nbytes), timeout=timeout)
        read = stream.read
        total = 0
        while True:
            data = read(CHUNK, timeout=timeout)
            if not data:
                return total
            total += len(data)

    def pingpong(self, stream: Any, n: int, deadline: bool) -> int:
        timeout = DEADLINE if deadline else None
        read, write = stream.read, stream.write
        total = 0
        for _ in range(n):
            write(MESSAGE, timeout=timeout)
            got = 0
            while got < 64:
                data = read(CHUNK, timeout=timeout)
                if not data:
                    raise BenchError("end of stream in the middle of a round trip")
                got += len(data)
            total += got
        return total

    def connect(self, job: Job, n: int) -> int:
        timeout = DEADLINE if job.deadline else None
        connect_tcp, port = self.backend.connect_tcp, job.port
        for _ in range(n):
            connect_tcp(HOST, port, timeout=timeout).close()
        return n

    def close(self, stream: Any) -> None:
        stream.close()


class NetbaseThreaded:
    name = "netbase_threaded"

    def __init__(self) -> None:
        import netbase_threaded

        self.netbase = netbase_threaded
        self.backend = netbase_threaded.NetworkBackend()

    def open(self, job: Job) -> Any:
        stream = self.backend.connect(HOST, job.port)
        if job.tls:
            stream.start_tls(job.client_context(), hostname=TLS_HOSTNAME)
        return stream

    def bulk(self, stream: Any, nbytes: int, deadline: bool) -> int:
        if deadline:
            # netbase's deadline is ambient: one block bounds every operation in it.
            with self.netbase.timeout(DEADLINE):
                return self._bulk(stream, nbytes)
        return self._bulk(stream, nbytes)

    def _bulk(self, stream: Any, nbytes: int) -> int:
        stream.write(bulk_request(nbytes))
        read = stream.read
        total = 0
        while True:
            data = read(CHUNK)
            if not data:
                return total
            total += len(data)

    def pingpong(self, stream: Any, n: int, deadline: bool) -> int:
        if deadline:
            with self.netbase.timeout(DEADLINE):
                return self._pingpong(stream, n)
        return self._pingpong(stream, n)

    def _pingpong(self, stream: Any, n: int) -> int:
        read, write = stream.read, stream.write
        total = 0
        for _ in range(n):
            write(MESSAGE)
            got = 0
            while got < 64:
                data = read(CHUNK)
                if not data:
                    raise BenchError("end of stream in the middle of a round trip")
                got += len(data)
            total += got
        return total

    def connect(self, job: Job, n: int) -> int:
        if job.deadline:
            with self.netbase.timeout(DEADLINE):
                return self._connect(job, n)
        return self._connect(job, n)

    def _connect(self, job: Job, n: int) -> int:
        connect, port = self.backend.connect, job.port
        for _ in range(n):
            connect(HOST, port).close()
        return n

    def close(self, stream: Any) -> None:
        stream.close()


CANDIDATES: dict[str, tuple[str, type[Any]]] = {
    # key: (the module it needs, class)
    "raw": ("socket", RawSocket),
    "httpcore": ("httpcore", HttpcoreSync),
    "netbase": ("netbase_threaded", NetbaseThreaded),
}


def run(key: str, job: Job) -> dict[str, float]:
    """Warm up, then time one workload; return seconds and what was counted."""
    cand = CANDIDATES[key][1]()
    if job.workload == "memory":
        for s in [cand.open(job) for _ in range(min(100, job.size))]:
            cand.close(s)
        before = rss_bytes()
        streams = [cand.open(job) for _ in range(job.size)]
        after = rss_bytes()
        for s in streams:
            cand.close(s)
        return {"bytes_per_stream": (after - before) / job.size, "count": len(streams)}
    if job.workload == "connect":
        cand.connect(job, warmup_size(job.size))
        t0 = time.perf_counter()
        count = cand.connect(job, job.size)
        return {"seconds": time.perf_counter() - t0, "count": count}
    if job.workload == "bulk":
        warm = cand.open(job)
        cand.bulk(warm, warmup_size(job.size), job.deadline)
        cand.close(warm)
        stream = cand.open(job)
        t0 = time.perf_counter()
        count = cand.bulk(stream, job.size, job.deadline)
        seconds = time.perf_counter() - t0
        cand.close(stream)
        return {"seconds": seconds, "count": count}
    stream = cand.open(job)
    cand.pingpong(stream, warmup_size(job.size), job.deadline)
    t0 = time.perf_counter()
    count = cand.pingpong(stream, job.size, job.deadline)
    seconds = time.perf_counter() - t0
    cand.close(stream)
    return {"seconds": seconds, "count": count}
