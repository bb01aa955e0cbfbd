"""Run the whole test matrix: every default nox session, several at a time.

    python3 scripts/matrix.py            # what CI runs
    NETBASE_JOBS=3 python3 scripts/matrix.py

First it checks what the sessions need and installs what it can: Debian's
`chromium` (the browser check), `gcc` and `libssl-dev` (the benchmark server),
`iproute2` (the docs examples' private network), with apt-get when it runs as
root; otherwise it stops and says what to install. uv and Python 3.10 to 3.13
must be there already (it says so if not).

``uvx nox`` runs the same sessions one after another; this runs them side by
side, because they spend most of their time waiting on deadlines and loopback
peers, not computing (an asyncio session: 55 s of wall time for 15 s of CPU).
The quick benchmark runs alone at the end, since it pins CPUs and measures.
Each session's output goes to ``.nox-logs/<session>.log``; failures are shown
in full at the end, and the last line adds up the tests that passed and failed.
"""

from __future__ import annotations

import concurrent.futures
import glob
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / ".nox-logs"
ALONE = ("bench_quick",)  # run after the others, with the machine to themselves
FIRST = ("docs_tests", "tests")  # the longest sessions start first
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# What the sessions run besides Python: (what needs it, how to tell it is there, Debian packages).
SYSTEM_NEEDS = [
    (
        "the browser check drives Debian's chromium",
        lambda: os.path.exists("/usr/bin/chromium"),
        ["chromium"],
    ),
    (
        "the quick benchmark compiles its server with gcc against OpenSSL",
        lambda: bool(shutil.which("gcc")) and os.path.exists("/usr/include/openssl/ssl.h"),
        ["gcc", "libssl-dev"],
    ),
    (
        "the docs examples set up their private network with iproute2's ip",
        lambda: any(os.path.exists(p) for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip")),
        ["iproute2"],
    ),
]


class Unprepared(Exception):
    """Something the matrix needs is missing and could not be installed here."""


def prepare() -> None:
    """Check uv and the Pythons; install the system packages the sessions need, if root."""
    if not shutil.which("uvx"):
        raise Unprepared("uv is not on PATH: python3 -m pip install uv")
    missing_pythons = [
        v
        for v in PYTHONS
        if not shutil.which(f"python{v}")
        and not glob.glob(os.path.expanduser(f"~/.pyenv/versions/{v}.*/bin/python{v}"))
    ]
    if missing_pythons:
        raise Unprepared(
            f"Python {', '.join(missing_pythons)} not found on PATH nor under ~/.pyenv/versions: "
            "every session runs on 3.10 to 3.13 (e.g. pyenv install "
            + " ".join(missing_pythons)
            + ")"
        )
    missing = [(why, packages) for why, present, packages in SYSTEM_NEEDS if not present()]
    if not missing:
        return
    packages = [p for _, ps in missing for p in ps]
    reasons = "; ".join(why for why, _ in missing)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unprepared(
            f"missing {', '.join(packages)} ({reasons}). Install them "
            f"(sudo apt-get install -y {' '.join(packages)}), or run this script as root "
            "on Debian or Ubuntu and it will."
        )
    print(f"matrix: installing {', '.join(packages)} ({reasons})", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *packages],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    still = [why for why, present, _ in SYSTEM_NEEDS if not present()]
    if still:
        raise Unprepared(f"still missing after apt-get install: {'; '.join(still)}")


def cpu_budget() -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup v2 quota if any."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def default_jobs() -> int:
    """One session per CPU, at most four.

    A session is mostly waiting (an asyncio tests session: 324 s of wall time for
    83 s of CPU), but its timing tests need a CPU the moment a deadline passes.
    On two cores, the TLS test that writes 64 MiB under a 0.3 s deadline took
    0.84 s alone, 1.05 to 1.41 s with two copies running side by side, and 2.26
    to 2.41 s with four: past two sessions per two cores, load turns into
    timing failures (a 0.3 s write deadline was seen to return after 0.85 s
    with four sessions on two cores).
    """
    return max(1, min(4, cpu_budget()))


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
    try:
        prepare()
    except Unprepared as exc:
        print(f"matrix: cannot run: {exc}", file=sys.stderr)
        return 2
    LOGS.mkdir(exist_ok=True)
    sessions = default_sessions()
    parallel = [s for s in sessions if s not in ALONE]
    alone = [s for s in sessions if s in ALONE]
    jobs = int(os.environ.get("NETBASE_JOBS", "0")) or default_jobs()
    print(
        f"matrix: {len(sessions)} sessions, {jobs} at a time ({cpu_budget()} CPUs; "
        f"NETBASE_JOBS=N to choose); logs in {LOGS}",
        flush=True,
    )
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
