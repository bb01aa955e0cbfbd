"""What every client process shares: the job it was given and how it reports."""

from __future__ import annotations

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

    workload: str  # bulk | pingpong | connect | memory
    tls: bool
    deadline: bool
    size: int  # bytes for bulk, round trips for pingpong, cycles for connect, streams for memory
    ports: dict[str, int]
    cafile: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        return cls(
            workload=d["workload"],
            tls=d["tls"],
            deadline=d["deadline"],
            size=d["size"],
            ports=d["ports"],
            cafile=d["cafile"],
        )

    @property
    def port(self) -> int:
        if self.workload == "memory":
            return self.ports["sink"]
        if self.workload == "connect":
            return self.ports["echo"]
        name = "bulk" if self.workload == "bulk" else "echo"
        return self.ports["tls_" + name if self.tls else name]

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)


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


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
