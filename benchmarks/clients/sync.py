"""The sync group: raw blocking socket, httpcore SyncBackend, netbase_threaded.

Each candidate's loops are written the way a careful user of that library
would write them, directly against its API, so that the only difference
between candidates is the library.

Deadlines, two forms for every candidate:

- one around the timed loop: a socket timeout set once (raw socket);
  one `netbase.timeout()` block (netbase); httpcore has no such form: its
  `timeout=` is per call, so its loop form is the per-operation one;
- one per operation: `settimeout` before each call (raw socket), httpcore's
  `timeout=`, a `netbase.timeout()` block around each call.

Many streams at once (connect_many, scale) run one thread per stream: that is
what a blocking library offers.

Accepting (accept: a loop over `accept()`; serve: a server calling a handler per
connection): the floor is a blocking socket's `accept()`; httpcore has no
listener.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from collections.abc import Callable, Iterator
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

#: the stack of each thread of the many-stream workloads (10,000 of them)
THREAD_STACK = 256 * 1024


class RawSocket:
    name = "raw socket"

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        # A socket timeout set once, on every socket the loop creates.
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DEADLINE)
        try:
            yield
        finally:
            socket.setdefaulttimeout(previous)

    def open(self, job: Job, timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT) -> Any:  # type: ignore[attr-defined]
        sock = socket.create_connection((HOST, job.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if job.tls:
            sock = job.client_context().wrap_socket(sock, server_hostname=TLS_HOSTNAME)
        return sock

    def open_bounded(self, job: Job) -> Any:
        """Open inside scope(): the timeout set once applies."""
        return self.open(job)

    def bulk(self, sock: Any, nbytes: int, deadline: str) -> int:
        if deadline == "loop":
            sock.settimeout(DEADLINE)  # set once: it bounds every call after
        sock.sendall(bulk_request(nbytes))
        recv, settimeout = sock.recv, sock.settimeout
        total = 0
        while True:
            if deadline == "op":
                settimeout(DEADLINE)
            data = recv(CHUNK)
            if not data:
                return total
            total += len(data)

    def pingpong(self, sock: Any, n: int, deadline: str) -> int:
        if deadline == "loop":
            sock.settimeout(DEADLINE)
        sendall, recv, settimeout = sock.sendall, sock.recv, sock.settimeout
        op = deadline == "op"
        total = 0
        for _ in range(n):
            if op:
                settimeout(DEADLINE)
            sendall(MESSAGE)
            got = 0
            while got < 64:
                if op:
                    settimeout(DEADLINE)
                data = recv(CHUNK)
                if not data:
                    raise BenchError("end of stream in the middle of a round trip")
                got += len(data)
            total += got
        return total

    def connect(self, job: Job, n: int, deadline: str) -> int:
        open_ = self.open
        if deadline == "loop":
            with self.scope():
                for _ in range(n):
                    open_(job).close()
            return n
        timeout = DEADLINE if deadline == "op" else None
        for _ in range(n):
            open_(job, timeout).close()
        return n

    def close(self, sock: Any) -> None:
        sock.close()

    def accept(self, clients: Clients) -> tuple[float, int]:
        with socket.create_server((HOST, 0), backlog=BACKLOG) as listener:
            clients.connect(listener.getsockname()[1])
            accept, n = listener.accept, clients.n
            t0 = time.perf_counter()
            for _ in range(n):
                conn, _ = accept()
                # as the connect loop's socket, and as a server that will talk does
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.close()
            return time.perf_counter() - t0, n


class HttpcoreSync:
    name = "httpcore SyncBackend"

    def __init__(self) -> None:
        import httpcore

        self.backend = httpcore.SyncBackend()

    def scope(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()  # none of its own: its timeout= is per call

    def open(self, job: Job, timeout: float | None = None) -> Any:
        stream = self.backend.connect_tcp(HOST, job.port, timeout=timeout)
        if job.tls:
            stream = stream.start_tls(
                job.client_context(), server_hostname=TLS_HOSTNAME, timeout=timeout
            )
        return stream

    def open_bounded(self, job: Job) -> Any:
        return self.open(job, DEADLINE)

    def bulk(self, stream: Any, nbytes: int, deadline: str) -> int:
        timeout = DEADLINE if deadline else None
        stream.write(bulk_request(nbytes), timeout=timeout)
        read = stream.read
        total = 0
        while True:
            data = read(CHUNK, timeout=timeout)
            if not data:
                return total
            total += len(data)

    def pingpong(self, stream: Any, n: int, deadline: str) -> int:
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

    def connect(self, job: Job, n: int, deadline: str) -> int:
        timeout = DEADLINE if deadline else None
        open_ = self.open
        for _ in range(n):
            open_(job, timeout).close()
        return n

    def close(self, stream: Any) -> None:
        stream.close()


class NetbaseThreaded:
    name = "netbase_threaded"

    def __init__(self) -> None:
        import netbase_threaded

        self.netbase = netbase_threaded
        self.backend = netbase_threaded.NetworkBackend()

    def scope(self) -> Any:
        return self.netbase.timeout(DEADLINE)

    def open(self, job: Job) -> Any:
        stream = self.backend.connect(HOST, job.port)
        if job.default_ctx:
            stream.start_tls(hostname=TLS_HOSTNAME)  # netbase's default context
        elif job.tls:
            stream.start_tls(job.client_context(), hostname=TLS_HOSTNAME)
        return stream

    def open_bounded(self, job: Job) -> Any:
        """Open inside scope(): the deadline reaches it through the context."""
        return self.open(job)

    def bulk(self, stream: Any, nbytes: int, deadline: str) -> int:
        if deadline == "loop":
            # netbase's deadline is ambient: one block bounds every operation in it.
            with self.netbase.timeout(DEADLINE):
                return self._bulk(stream, nbytes, False)
        return self._bulk(stream, nbytes, deadline == "op")

    def _bulk(self, stream: Any, nbytes: int, op: bool) -> int:
        timeout, read = self.netbase.timeout, stream.read
        total = 0
        if op:
            with timeout(DEADLINE):
                stream.write(bulk_request(nbytes))
            while True:
                with timeout(DEADLINE):
                    data = read(CHUNK)
                if not data:
                    return total
                total += len(data)
        stream.write(bulk_request(nbytes))
        while True:
            data = read(CHUNK)
            if not data:
                return total
            total += len(data)

    def pingpong(self, stream: Any, n: int, deadline: str) -> int:
        if deadline == "loop":
            with self.netbase.timeout(DEADLINE):
                return self._pingpong(stream, n, False)
        return self._pingpong(stream, n, deadline == "op")

    def _pingpong(self, stream: Any, n: int, op: bool) -> int:
        timeout, read, write = self.netbase.timeout, stream.read, stream.write
        total = 0
        for _ in range(n):
            got = 0
            if op:
                with timeout(DEADLINE):
                    write(MESSAGE)
                while got < 64:
                    with timeout(DEADLINE):
                        data = read(CHUNK)
                    if not data:
                        raise BenchError("end of stream in the middle of a round trip")
                    got += len(data)
            else:
                write(MESSAGE)
                while got < 64:
                    data = read(CHUNK)
                    if not data:
                        raise BenchError("end of stream in the middle of a round trip")
                    got += len(data)
            total += got
        return total

    def connect(self, job: Job, n: int, deadline: str) -> int:
        if deadline == "loop":
            with self.netbase.timeout(DEADLINE):
                return self._connect(job, n, False)
        return self._connect(job, n, deadline == "op")

    def _connect(self, job: Job, n: int, op: bool) -> int:
        timeout, open_ = self.netbase.timeout, self.open
        for _ in range(n):
            if op:
                with timeout(DEADLINE):
                    stream = open_(job)
            else:
                stream = open_(job)
            stream.close()
        return n

    def close(self, stream: Any) -> None:
        stream.close()

    def accept(self, clients: Clients) -> tuple[float, int]:
        with self.backend.listen(HOST, 0, backlog=BACKLOG) as listener:
            clients.connect(listener.port)
            accept, n = listener.accept, clients.n
            t0 = time.perf_counter()
            for _ in range(n):
                accept().close()
            return time.perf_counter() - t0, n

    def serve(self, clients: Clients) -> tuple[float, int]:
        lock, done = threading.Lock(), threading.Event()

        def handle(stream: Any) -> None:
            stream.close()  # serve() would close it after: closed before it is counted
            with lock:
                if clients.served():
                    done.set()

        server = self.backend.serve(HOST, 0, handle, backlog=BACKLOG)
        try:
            clients.connect(server.port)  # it listens from here, accepts inside `with`
        except BaseException:
            server.listener.close()
            raise
        t0 = time.perf_counter()
        with server:
            done.wait(DEADLINE)
            seconds = time.perf_counter() - t0
        return seconds, clients.handled


CANDIDATES: dict[str, tuple[str, type[Any]]] = {
    # key: (the module it needs, class)
    "raw": ("socket", RawSocket),
    "httpcore": ("httpcore", HttpcoreSync),
    "netbase": ("netbase_threaded", NetbaseThreaded),
}


def in_threads(
    cand: Any, fns: list[Callable[[], Any]], *, one_deadline: bool
) -> tuple[float, list[Any]]:
    """Run each function in its own thread, all released at once; the seconds
    from release to the last one done, and their results.

    With `one_deadline`, inside the candidate's scope: its deadline reaches each
    thread through a copy of the context taken inside it."""
    results: list[Any] = [None] * len(fns)
    errors: list[BaseException] = []
    go = threading.Event()

    def one(i: int) -> None:
        go.wait()
        try:
            results[i] = fns[i]()
        except BaseException as exc:  # reported below, with the first one's message
            errors.append(exc)

    old = threading.stack_size(THREAD_STACK)
    try:
        with cand.scope() if one_deadline else contextlib.nullcontext():
            threads = [
                threading.Thread(target=contextvars.copy_context().run, args=(one, i))
                for i in range(len(fns))
            ]
            for t in threads:
                t.start()
            t0 = time.perf_counter()
            go.set()
            for t in threads:
                t.join()
            seconds = time.perf_counter() - t0
    finally:
        threading.stack_size(old)
    if errors:
        raise BenchError(f"{len(errors)} of {len(fns)} threads failed: {errors[0]!r}")
    return seconds, results


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
    if job.workload == "connect_many":
        opens = [lambda: cand.open_bounded(job)]
        _, warm = in_threads(cand, opens * warmup_size(job.size), one_deadline=True)
        for s in warm:
            cand.close(s)
        seconds, streams = in_threads(cand, opens * job.size, one_deadline=True)
        for s in streams:
            cand.close(s)
        return {"seconds": seconds, "count": sum(s is not None for s in streams)}
    if job.workload == "scale":
        streams = [cand.open(job) for _ in range(job.streams)]
        # each stream under its own deadline (the loop form, in its thread)
        in_threads(
            cand, [lambda s=s: cand.pingpong(s, 1, "loop") for s in streams], one_deadline=False
        )
        seconds, counts = in_threads(
            cand,
            [lambda s=s: cand.pingpong(s, job.size, "loop") for s in streams],
            one_deadline=False,
        )
        for s in streams:
            cand.close(s)
        return {"seconds": seconds, "count": sum(counts)}
    if job.workload in ("accept", "serve"):
        for n in (warmup_size(job.size), job.size):
            with contextlib.closing(Clients(n)) as clients:
                seconds, handled = getattr(cand, job.workload)(clients)
                count = min(handled, clients.closed_by_server())
        return {"seconds": seconds, "count": count}
    if job.workload == "connect":
        cand.connect(job, warmup_size(job.size), job.deadline)
        watch = Stopwatch()
        return watch.stop(cand.connect(job, job.size, job.deadline))
    if job.workload == "bulk":
        warm = cand.open(job)
        cand.bulk(warm, warmup_size(job.size), job.deadline)
        cand.close(warm)
        stream = cand.open(job)
        watch = Stopwatch()
        result = watch.stop(cand.bulk(stream, job.size, job.deadline))
        cand.close(stream)
        return result
    stream = cand.open(job)
    cand.pingpong(stream, warmup_size(job.size), job.deadline)
    watch = Stopwatch()
    result = watch.stop(cand.pingpong(stream, job.size, job.deadline))
    cand.close(stream)
    return result
