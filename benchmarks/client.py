"""Measurements in a fresh process: ``python -m benchmarks.client JSON``.

The JSON names a runtime, a candidate and a list of jobs (one in a full run:
each measurement gets a fresh process; the quick run batches a candidate's
jobs, so that it checks every workload without paying an interpreter start
for each). Prints one JSON list on stdout, an entry per job: ``{"seconds": s,
"count": n}`` (``{"bytes_per_stream": b, "count": n}`` for the memory
workload), or ``{"error": message}``. A failure is never retried.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

from benchmarks.clients._common import Job, raise_fd_limit


def one(runtime: str, key: str, job: Job) -> dict[str, Any]:
    if runtime == "sync":
        from benchmarks.clients import sync

        return sync.run(key, job)
    if runtime in ("asyncio", "uvloop"):
        from benchmarks.clients import aio

        return aio.run(key, job, use_uvloop=runtime == "uvloop")
    if runtime == "trio":
        from benchmarks.clients import trio_

        return trio_.run(key, job)
    raise SystemExit(f"unknown runtime {runtime!r}")


def main() -> None:
    spec = json.loads(sys.argv[1])
    raise_fd_limit()
    out = []
    for d in spec["jobs"]:
        try:
            out.append(one(spec["runtime"], spec["candidate"], Job.from_dict(d)))
        except Exception as exc:
            traceback.print_exc()
            out.append({"error": f"{type(exc).__name__}: {exc}"})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
