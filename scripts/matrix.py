"""Run the whole test matrix: every default nox session, several at a time.

    python3 scripts/matrix.py            # what CI runs (needs only uv on PATH)
    NETBASE_JOBS=2 python3 scripts/matrix.py

``uvx nox`` runs the same sessions one after another; this runs them side by
side, because they spend most of their time waiting on deadlines and loopback
peers, not computing (an asyncio session: 55 s of wall time for 15 s of CPU).
The quick benchmark runs alone at the end, since it pins CPUs and measures.
Each session's output goes to ``.nox-logs/<session>.log``; failures are shown
in full at the end, and the last line adds up the tests that passed and failed.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / ".nox-logs"
ALONE = ("bench_quick",)  # run after the others, with the machine to themselves
FIRST = ("docs_tests", "tests")  # the longest sessions start first


def default_sessions() -> list[str]:
    listing = subprocess.run(
        ["uvx", "nox", "--list"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    selected = [
        line[2:].split(" -> ")[0] for line in listing.stdout.splitlines() if line.startswith("* ")
    ]
    return sorted(selected, key=lambda s: (not s.startswith(FIRST), s))


def run(session: str) -> tuple[str, int, float]:
    start = time.monotonic()
    log = LOGS / (re.sub(r"[^\w.-]+", "_", session) + ".log")
    with log.open("w") as out:
        code = subprocess.run(
            ["uvx", "nox", "-s", session],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    return session, code, time.monotonic() - start


def counts(text: str) -> tuple[int, int]:
    """Tests passed and failed (errors included) from pytest's closing lines."""
    passed = failed = 0
    for line in text.splitlines():
        if re.match(r"^=+ .* in [\d.]+s", line):
            passed += sum(int(n) for n in re.findall(r"(\d+) passed", line))
            failed += sum(int(n) for n in re.findall(r"(\d+) (?:failed|errors?)\b", line))
    return passed, failed


def main() -> int:
    LOGS.mkdir(exist_ok=True)
    sessions = default_sessions()
    parallel = [s for s in sessions if s not in ALONE]
    alone = [s for s in sessions if s in ALONE]
    jobs = int(os.environ.get("NETBASE_JOBS", "4"))
    print(f"matrix: {len(sessions)} sessions, {jobs} at a time; logs in {LOGS}", flush=True)
    results: list[tuple[str, int, float]] = []
    started = time.monotonic()

    def report(result: tuple[str, int, float]) -> None:
        session, code, seconds = result
        results.append(result)
        status = "ok" if code == 0 else f"FAILED ({code})"
        print(f"  {status:>11}  {seconds:6.0f} s  {session}", flush=True)

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for result in pool.map(run, parallel):
            report(result)
    for session in alone:
        report(run(session))

    passed = failed_tests = 0
    failed_sessions = []
    for session, code, _ in results:
        log = LOGS / (re.sub(r"[^\w.-]+", "_", session) + ".log")
        text = log.read_text(errors="replace")
        p, f = counts(text)
        passed += p
        failed_tests += f
        if code != 0:
            failed_sessions.append(session)
            print(f"\n===== {session}: last lines of {log.name} =====")
            print("\n".join(text.splitlines()[-80:]))
    minutes = (time.monotonic() - started) / 60
    print(
        f"\nmatrix: {len(results) - len(failed_sessions)} of {len(results)} sessions passed "
        f"in {minutes:.1f} min"
        + (f"; failed: {', '.join(failed_sessions)}" if failed_sessions else "")
    )
    # A session that failed without failing tests (lint, a build) still counts.
    failed = failed_tests or len(failed_sessions)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed_sessions else 0


if __name__ == "__main__":
    sys.exit(main())
