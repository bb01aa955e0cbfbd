"""What every client process shares: the job it was given and how it reports."""

from __future__ import annotations

import functools
import gc
import os
import resource
import ssl
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"
TLS_HOSTNAME = "localhost"
CHUNK = 65536
MESSAGE = b"x" * 64
#: The per-operation timeout of the "-deadline" workloads: long enough never
#: to fire, so only the cost of keeping it armed is measured.
DEADLINE = 30.0


class BenchError(Exception):
    """A measurement that went wrong (short read, early end of stream)."""


@dataclass(frozen=True)
class Job:
    """One measurement: which workload, how big, against which ports."""

    #: bulk | pingpong | connect | memory | connect_many | scale
    workload: str
    tls: bool
    #: "" (none), "loop" (one scope around the timed loop) or "op" (one per operation)
    deadline: str
    #: bytes for bulk, round trips for pingpong (per stream for scale), cycles for
    #: connect, streams for memory, concurrent connects for connect_many
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
    """What a measurement must count: bytes (bulk, pingpong, scale), cycles or streams."""
    if job.workload == "pingpong":
        return job.size * len(MESSAGE)
    if job.workload == "scale":
        return job.size * job.streams * len(MESSAGE)
    return job.size


def per_unit(job: Job) -> int:
    """What a time is divided by: bytes (bulk), round trips, cycles, connects."""
    return job.size * job.streams if job.workload == "scale" else job.size


def bulk_request(nbytes: int) -> bytes:
    """What the bulk server reads first: how many bytes to send."""
    return nbytes.to_bytes(8, "big")


def warmup_size(size: int) -> int:
    """The warm-up before each timed loop: 1/8 of the work, at least one unit."""
    return max(1, size // 8)


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
