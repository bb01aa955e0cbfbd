"""What every client process shares: the job it was given and how it reports."""

from __future__ import annotations

import functools
import gc
import os
import resource
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
TLS_HOSTNAME = "localhost"
CHUNK = 65536
MESSAGE = b"x" * 64
#: The per-operation timeout of the "-deadline" workloads: long enough never
#: to fire, so only the cost of keeping it armed is measured.
DEADLINE = 30.0
#: The listen backlog of the accept workloads: room for every connection queued
#: at once (the kernel caps it at net.core.somaxconn).
BACKLOG = 4096


class BenchError(Exception):
    """A measurement that went wrong (short read, early end of stream)."""


@dataclass(frozen=True)
class Job:
    """One measurement: which workload, how big, against which ports."""

    #: bulk | pingpong | connect | memory | connect_many | scale | accept | serve
    workload: str
    tls: bool
    #: "" (none), "loop" (one scope around the timed loop) or "op" (one per operation)
    deadline: str
    #: bytes for bulk, round trips for pingpong (per stream for scale), cycles for
    #: connect, streams for memory, concurrent connects for connect_many,
    #: connections for accept and serve
    size: int
    ports: dict[str, int]
    cafile: str
    #: scale: how many streams run at once
    streams: int = 1
    #: connect with TLS through netbase's default context (``start_tls(ctx=None)``)
    default_ctx: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        return cls(**d)

    @property
    def op(self) -> bool:
        """A deadline scope per operation (the loop's own code enters them)."""
        return self.deadline == "op"

    @property
    def port(self) -> int:
        if self.workload == "memory":
            return self.ports["tls_sink" if self.tls else "sink"]
        if self.workload == "connect_many":
            return self.ports["sink"]
        if self.workload == "scale":
            return self.ports["mecho"]
        name = "bulk" if self.workload == "bulk" else "echo"
        return self.ports["tls_" + name if self.tls else name]

    @functools.cached_property
    def context(self) -> ssl.SSLContext:
        """The stdlib client context trusting the run's CA: built once per process."""
        return ssl.create_default_context(cafile=self.cafile)

    def client_context(self) -> ssl.SSLContext:
        return self.context


def expected_count(job: Job) -> int:
    """What a measurement must count: bytes (bulk, pingpong, scale), cycles, streams
    or connections (accept, serve: each accepted and closed, as its client saw)."""
    if job.workload == "pingpong":
        return job.size * len(MESSAGE)
    if job.workload == "scale":
        return job.size * job.streams * len(MESSAGE)
    return job.size


def per_unit(job: Job) -> int:
    """What a time is divided by: bytes (bulk), round trips, cycles, connects, connections."""
    return job.size * job.streams if job.workload == "scale" else job.size


@dataclass
class Clients:
    """The connecting side of the accept workloads, the same for every candidate.

    `connect(port)` opens `n` connections one after another with plain blocking
    sockets, before the timer starts: on loopback the kernel completes each
    handshake by itself and queues the connection in the listen backlog, so
    the timed loop is the accept side alone (accept, close), draining a full
    backlog as a loaded server does. A server's handler counts each connection
    it closed with `served()`. `close()` closes the clients' sockets.
    """

    n: int
    socks: list[socket.socket] = field(default_factory=list)
    handled: int = 0

    def served(self) -> bool:
        """Count one connection a handler closed; whether it was the last one."""
        self.handled += 1
        return self.handled == self.n

    def connect(self, port: int) -> None:
        limit = somaxconn()
        if self.n > min(limit, BACKLOG):
            # Past it the kernel drops the handshake's last ACK and the client
            # retries a second later: the figure would be the retry timer's.
            raise BenchError(
                f"{self.n} connections do not fit the listen backlog "
                f"(net.core.somaxconn = {limit}, backlog {BACKLOG})"
            )
        for _ in range(self.n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.socks.append(sock)
            sock.connect((HOST, port))

    def closed_by_server(self) -> int:
        """How many connections the server closed: each client reads its end of stream."""
        deadline = time.monotonic() + DEADLINE
        count = 0
        for sock in self.socks:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                if sock.recv(1) == b"":
                    count += 1
            except OSError:  # reset, or not closed in time: not counted
                pass
        return count

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


def somaxconn() -> int:
    """The kernel's cap on a listen backlog (4096 where it cannot be read)."""
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return int(f.read())
    except (OSError, ValueError):
        return BACKLOG


def bulk_request(nbytes: int) -> bytes:
    """What the bulk server reads first: how many bytes to send."""
    return nbytes.to_bytes(8, "big")


def warmup_size(size: int) -> int:
    """The warm-up before each timed loop: 1/8 of the work, at least one unit."""
    return max(1, size // 8)


class Stopwatch:
    """Wall time across one timed loop, and what the client process spent in it.

    Besides the seconds, `stop()` reports the process's CPU time (user and
    system) and its voluntary context switches, the times it blocked in the
    kernel: an operation that finds nothing to do yet (a ping-pong whose reply
    has not arrived) sleeps, and its wall time then includes the wake-up, which
    its CPU time does not. A client that does more work between send and
    receive blocks less often, so wall time alone can rank a slower client
    ahead; the two figures beside it show which happened.
    """

    __slots__ = ("_cpu", "_t0", "_waits")

    def __init__(self) -> None:
        self._cpu, self._waits = _usage()
        self._t0 = time.perf_counter()

    def stop(self, count: int) -> dict[str, float]:
        """What a measurement reports: seconds, cpu_seconds, waits, and `count`."""
        seconds = time.perf_counter() - self._t0
        cpu, waits = _usage()
        return {
            "seconds": seconds,
            "cpu_seconds": cpu - self._cpu,
            "waits": waits - self._waits,
            "count": count,
        }


def _usage() -> tuple[float, int]:
    """CPU seconds (user + system) and voluntary context switches of this process."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_nvcsw


def rss_bytes() -> int:
    """Resident set size now (not the peak), after a full collection."""
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard one; return it.

    10,000 streams need 10,000 descriptors here (and as many in the server's
    process, which raises its own).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard
