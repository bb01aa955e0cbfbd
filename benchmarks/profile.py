"""Profile one candidate on one workload under cProfile.

``python -m benchmarks.profile RUNTIME CANDIDATE WORKLOAD``

Starts the same server as ``run.py`` and runs the measurement in this process
under cProfile (full sizes unless ``--quick``), then prints the functions with
the most time of their own. For a sampling profile of the same measurement
without cProfile's overhead, use py-spy on ``python -m benchmarks.client``.

    python -m benchmarks.profile sync netbase pingpong
    python -m benchmarks.profile trio netbase bulk-tls-deadline --top 30
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys

from benchmarks import run
from benchmarks.clients._common import raise_fd_limit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runtime", choices=list(run.GROUPS))
    parser.add_argument("candidate", help="raw, raw-buffered, streams, anyio, httpcore, netbase")
    parser.add_argument("workload", help="e.g. pingpong, bulk-tls-deadline-op, scale-10000")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime")
    args = parser.parse_args(argv)

    sizes = run.QUICK if args.quick else run.FULL
    wl = next((w for w in run.workloads(sizes) if w.name == args.workload), None)
    if wl is None:
        parser.error(f"unknown workload {args.workload!r}")
    raise_fd_limit()
    with run.serving("netbase-prof-") as (ports, ca, _idle):
        job = run.make_job(wl, sizes, ports, ca)
        if args.runtime == "sync":
            from benchmarks.clients import sync

            call = lambda: sync.run(args.candidate, job)  # noqa: E731
        elif args.runtime == "trio":
            from benchmarks.clients import trio_

            call = lambda: trio_.run(args.candidate, job)  # noqa: E731
        else:
            from benchmarks.clients import aio

            uv = args.runtime == "uvloop"
            call = lambda: aio.run(args.candidate, job, use_uvloop=uv)  # noqa: E731
        profiler = cProfile.Profile()
        result = profiler.runcall(call)
    print(result, file=sys.stderr)
    pstats.Stats(profiler).strip_dirs().sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
