"""One measurement in a fresh process: ``python -m benchmarks.client JSON``.

Prints one JSON line on stdout: ``{"seconds": s, "count": n}`` (or
``{"bytes_per_stream": b, "count": n}`` for the memory workload). Any failure
is an exception and a non-zero exit: the orchestrator reports it, never
retries it.
"""

from __future__ import annotations

import json
import sys

from benchmarks.clients._common import Job, raise_fd_limit


def main() -> None:
    spec = json.loads(sys.argv[1])
    job = Job.from_dict(spec["job"])
    runtime, key = spec["runtime"], spec["candidate"]
    raise_fd_limit()
    if runtime == "sync":
        from benchmarks.clients import sync

        result = sync.run(key, job)
    elif runtime in ("asyncio", "uvloop"):
        from benchmarks.clients import aio

        result = aio.run(key, job, use_uvloop=runtime == "uvloop")
    elif runtime == "trio":
        from benchmarks.clients import trio_

        result = trio_.run(key, job)
    else:
        raise SystemExit(f"unknown runtime {runtime!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
