"""The cyclic garbage collector's share of the scale workload (asyncio, uvloop).

``python -m benchmarks.collector RUNTIME CANDIDATE[,CANDIDATE...] [--streams N] [--size K]``

Opens N streams to the same server as ``run.py`` (with the same CPU pinning
and idle-CPU latency request), runs the scale workload's timed section (each
stream K round trips of 64 bytes under its own deadline, all at once) and
prints, per candidate: the µs per round trip; how many passes the collector
made of each generation and the share of the timed section it took; and the
objects the collector tracks per open stream after a round trip, by type.
Then the same again after ``gc.freeze()`` (the objects alive before the
timed section moved out of the collector's passes), which an application
with a long-lived pool can do too.

At one stream the collector does not run during the timed section (a round
trip's objects die young); at 10,000 streams every pass of the oldest
generation walks every object each open stream keeps. This is what the
scale rows of ``profiles.md`` cite.

    python -m benchmarks.collector asyncio raw,streams,netbase --streams 10000 --size 5
    python -m benchmarks.collector uvloop raw,netbase --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import gc
import statistics
import sys
import time
from typing import Any

from benchmarks import run
from benchmarks.clients import aio
from benchmarks.clients._common import Job, raise_fd_limit


@dataclasses.dataclass
class Passes:
    """The collector's passes during a timed section, counted by a gc callback."""

    counts: list[int] = dataclasses.field(default_factory=lambda: [0, 0, 0])
    seconds: float = 0.0
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.counts[info["generation"]] += 1
            self.seconds += time.perf_counter() - self._started


def census() -> collections.Counter[str]:
    """The objects the collector tracks, by type name (after a full collection)."""
    gc.collect()
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


async def measure(key: str, job: Job, freeze: bool) -> dict[str, Any]:
    """One timed section of scale-N for one candidate, with the collector watched."""
    cand = aio.CANDIDATES[key][1]()
    before = census()
    streams = [await cand.open(job) for _ in range(job.streams)]
    try:
        await aio.asyncio_gather(aio.each_pingpong(cand, streams, 1))
        kept = census() - before
        if freeze:
            gc.freeze()
        passes = Passes()
        gc.callbacks.append(passes)
        try:
            t0 = time.perf_counter()
            counts = await aio.asyncio_gather(aio.each_pingpong(cand, streams, job.size))
            seconds = time.perf_counter() - t0
        finally:
            gc.callbacks.remove(passes)
            gc.unfreeze()
        if sum(counts) != 64 * job.size * job.streams:
            raise SystemExit(f"collector: {key}: {sum(counts)} bytes came back, not all")
    finally:
        for s in streams:
            await cand.close(s)
    return {
        "us": seconds / (job.size * job.streams) * 1e6,
        "passes": passes.counts,
        "share": passes.seconds / seconds,
        "kept": kept,
    }


def main(argv: list[str] | None = None) -> int:
    """Print the collector's share of the scale workload, per candidate."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runtime", choices=["asyncio", "uvloop"])
    parser.add_argument("candidates", help="comma-separated: raw, raw-buffered, streams, netbase")
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=5, help="round trips per stream")
    parser.add_argument("--repeat", type=int, default=1, help="median of this many")
    args = parser.parse_args(argv)
    raise_fd_limit()
    scale_1 = next(w for w in run.workloads(run.FULL) if w.name == "scale-1")
    wl = dataclasses.replace(scale_1, name=f"scale-{args.streams}", streams=args.streams)
    with run.serving("netbase-collector-") as (ports, ca, _idle):
        job = dataclasses.replace(run.make_job(wl, run.FULL, ports, ca), size=args.size)
        runner: Any = asyncio.run
        if args.runtime == "uvloop":
            import uvloop

            runner = uvloop.run
        print(
            f"{args.runtime}, {args.streams:,} streams, {args.size} round trips each, "
            f"median of {args.repeat}"
        )
        for key in args.candidates.split(","):
            for freeze in (False, True):
                runs = [runner(measure(key, job, freeze)) for _ in range(args.repeat)]
                mid = sorted(runs, key=lambda r: r["us"])[len(runs) // 2]
                kept = mid["kept"]
                per_stream = sum(kept.values()) / args.streams
                top = ", ".join(f"{name} {n / args.streams:.1f}" for name, n in kept.most_common(8))
                share = statistics.median(r["share"] for r in runs)
                print(
                    f"  {key:8s} {'gc.freeze()' if freeze else 'collector on':12s} "
                    f"{mid['us']:6.1f} µs per round trip; passes (gen 0/1/2) "
                    f"{'/'.join(map(str, mid['passes']))}, {share:.0%} of the time; "
                    f"tracked per stream {per_stream:.1f} ({top})"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
