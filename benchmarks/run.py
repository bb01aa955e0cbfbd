"""Run the benchmarks: ``python -m benchmarks.run [--quick] [--rounds N]``.

Method (the one of the issue's anchors, so that its figures and ours read alike):

- the server is a small C program (``server.c``) compiled here with gcc, in its
  own process, pinned to another CPU than the client;
- ``/dev/cpu_dma_latency`` is held at 0 for the whole run (and released after),
  so that an idle CPU keeps polling and a wake-up is not a virtual machine's
  halt exit, which costs ~60 µs here and would hide the libraries' cost;
- rounds: in each, every candidate runs every workload once, the candidates of
  a runtime back to back (a workload and its ``-deadline`` twin in a row), in
  an order rotated from round to round;
- each measurement runs in a fresh client process and times the loop only
  (connecting and the TLS handshake come before), after a warm-up of 1/8 of it;
- a measurement that fails, or whose byte count is not exact, is recorded as
  failed and reported loudly; it is never retried.

Writes ``benchmarks/results.md``, ``benchmarks/results.json`` and
``docs/img/bench-ratios.png`` (see ``report.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.report import KNOWN_UPSTREAM_FAILURES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: runtime group -> the client module holding its candidates
GROUPS = {
    "sync": "benchmarks.clients.sync",
    "asyncio": "benchmarks.clients.aio",
    "uvloop": "benchmarks.clients.aio",
    "trio": "benchmarks.clients.trio_",
}
#: what each group needs besides its candidates' own libraries
GROUP_NEEDS = {"uvloop": "uvloop", "trio": "trio"}

#: (name, workload kind, TLS); each also runs as "<name>-deadline"
WORKLOADS = [
    ("bulk", "bulk", False),
    ("pingpong", "pingpong", False),
    ("connect", "connect", False),
    ("bulk-tls", "bulk", True),
    ("pingpong-tls", "pingpong", True),
]


@dataclass(frozen=True)
class Sizes:
    bulk: int
    pingpong: int
    connect: int
    memory_threaded: int
    memory_async: int
    rounds: int
    quick: bool

    def size(self, kind: str, runtime: str) -> int:
        if kind == "memory":
            return self.memory_threaded if runtime == "sync" else self.memory_async
        return int(getattr(self, kind))


FULL = Sizes(
    bulk=256 * 1024 * 1024,
    pingpong=20_000,
    connect=2_000,
    memory_threaded=1_000,
    memory_async=10_000,
    rounds=3,
    quick=False,
)
QUICK = Sizes(
    bulk=2 * 1024 * 1024,
    pingpong=200,
    connect=50,
    memory_threaded=50,
    memory_async=100,
    rounds=1,
    quick=True,
)


@dataclass
class Candidate:
    runtime: str
    key: str
    name: str
    module: str
    missing: str | None = None  # why it is not installed


@dataclass
class Results:
    """Every measurement: (runtime, candidate key, workload) -> {round: value or error}."""

    values: dict[str, dict[int, float]] = field(default_factory=dict)
    errors: dict[str, dict[int, str]] = field(default_factory=dict)

    @staticmethod
    def key(runtime: str, cand: str, workload: str) -> str:
        return f"{runtime}|{cand}|{workload}"


# -- the machine --------------------------------------------------------------


def build_server(workdir: Path) -> Path:
    """Compile server.c; gcc and OpenSSL's headers (libssl-dev) are needed."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise SystemExit("benchmarks: gcc is needed to build the server (apt-get install gcc)")
    exe = workdir / "server"
    proc = subprocess.run(
        [
            gcc,
            "-O2",
            "-Wall",
            "-o",
            str(exe),
            str(HERE / "server.c"),
            "-lssl",
            "-lcrypto",
            "-lpthread",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(
            "benchmarks: compiling server.c failed (is libssl-dev installed?)\n" + proc.stderr
        )
    return exe


def make_certs(workdir: Path) -> tuple[Path, Path, Path]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca_pem, cert_pem, key_pem = workdir / "ca.pem", workdir / "cert.pem", workdir / "key.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    cert.private_key_pem.write_to_path(str(key_pem))
    with open(cert_pem, "wb") as f:
        for blob in cert.cert_chain_pems:
            f.write(blob.bytes())
    return ca_pem, cert_pem, key_pem


def cpus() -> tuple[int | None, int | None]:
    """(client CPU, server CPU), or Nones when there are not two to pin to."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None, None
    return allowed[0], allowed[1]


@contextlib.contextmanager
def start_server(exe: Path, cert: Path, key: Path, cpu: int | None) -> Iterator[dict[str, int]]:
    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    proc = subprocess.Popen(
        [str(exe), str(cert), str(key)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        preexec_fn=pin,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line:
            raise SystemExit(f"benchmarks: the server did not start (exit {proc.wait()})")
        yield {k: int(v) for k, v in (item.split("=") for item in line.split())}
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # the server exits when its stdin closes
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def raise_priority() -> str:
    """Run server and clients at nice -10 when allowed (they inherit it).

    The CPUs may be shared with other work: a higher priority keeps it from
    landing in the middle of one candidate's measurement and not another's.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    except OSError as exc:
        return f"default (could not raise it: {exc.strerror})"
    return "nice -10 (server and clients)"


@contextlib.contextmanager
def low_latency_idle() -> Iterator[str]:
    """Hold the PM QoS cpu_dma_latency request at 0 while open; say whether it is held."""
    try:
        fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
    except OSError as exc:
        yield f"not held ({exc.strerror}): figures include idle-CPU wake-ups"
        return
    try:
        os.write(fd, struct.pack("i", 0))
        yield "held at 0 during the run (idle CPUs keep polling), released after"
    finally:
        os.close(fd)  # closing the file releases the request


# -- candidates ----------------------------------------------------------------


def discover() -> list[Candidate]:
    found = []
    for runtime, modname in GROUPS.items():
        module = importlib.import_module(modname)
        for key, (needs, cls) in module.CANDIDATES.items():
            name = cls.name + (" (uvloop)" if runtime == "uvloop" else "")
            if runtime in ("asyncio", "uvloop") and key in ("anyio",):
                name = f"anyio ({runtime})"
            cand = Candidate(runtime, key, name, needs)
            for mod in filter(None, [needs, GROUP_NEEDS.get(runtime)]):
                try:
                    imported = importlib.import_module(mod)
                except ImportError as exc:
                    cand.missing = f"not installed ({exc})"
                    break
                if mod.startswith("netbase_") and not hasattr(imported, "NetworkBackend"):
                    cand.missing = f"not installed ({mod} has no NetworkBackend yet)"
                    break
            found.append(cand)
    return found


def workload_kinds(cand: Candidate) -> list[tuple[str, str, bool, bool]]:
    """(workload name, kind, tls, deadline) in the order a round runs them."""
    out = []
    for name, kind, tls in WORKLOADS:
        out.append((name, kind, tls, False))
        out.append((name + "-deadline", kind, tls, True))
    if cand.key != "raw-buffered":  # a buffer per stream by design: not an idle stream
        out.append(("memory", "memory", False, False))
    return out


def expected_count(kind: str, size: int) -> int:
    return size * 64 if kind == "pingpong" else size


def measure(
    cand: Candidate,
    workload: tuple[str, str, bool, bool],
    sizes: Sizes,
    ports: dict[str, int],
    cafile: Path,
    timeout: float,
) -> float | str:
    """One fresh client process: the per-unit figure, or an error message."""
    _, kind, tls, deadline = workload
    size = sizes.size(kind, cand.runtime)
    spec = {
        "runtime": cand.runtime,
        "candidate": cand.key,
        "job": {
            "workload": kind,
            "tls": tls,
            "deadline": deadline,
            "size": size,
            "ports": ports,
            "cafile": str(cafile),
        },
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.client", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return f"no result within {timeout:.0f} s"
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit status {proc.returncode}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    want = expected_count(kind, size)
    if result["count"] != want:
        unit = (
            "bytes"
            if kind in ("bulk", "pingpong")
            else "cycles"
            if kind == "connect"
            else "streams"
        )
        return f"BenchError: received {result['count']} {unit}, expected {want}"
    if kind == "memory":
        return float(result["bytes_per_stream"])
    # seconds per unit: per byte (bulk), per round trip, per connect cycle
    return float(result["seconds"]) / size


def selected(only: list[str], runtime: str, key: str, workload: str) -> bool:
    """--only filters: each is runtime/candidate/workload, any part may be empty or "*"."""
    if not only:
        return True
    for pattern in only:
        parts = [*pattern.split("/"), "", "", ""][:3]
        if all(
            p in ("", "*", have) for p, have in zip(parts, (runtime, key, workload), strict=True)
        ):
            return True
    return False


def run(
    sizes: Sizes,
    allow_missing: bool,
    out_md: Path,
    out_json: Path,
    chart: Path,
    only: list[str] | None = None,
) -> int:
    from benchmarks import report

    started = time.time()
    t0 = time.perf_counter()
    candidates = discover()
    present = [c for c in candidates if c.missing is None]
    missing = [c for c in candidates if c.missing is not None]
    for c in missing:
        print(f"benchmarks: {c.runtime}/{c.name}: {c.missing}", file=sys.stderr)
    client_cpu, server_cpu = cpus()
    priority = raise_priority()
    results = Results()
    timeout = 120.0 if sizes.quick else 600.0
    with tempfile.TemporaryDirectory(prefix="netbase-bench-") as tmp:
        workdir = Path(tmp)
        exe = build_server(workdir)
        ca, cert, key = make_certs(workdir)
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})  # client processes inherit it
        with low_latency_idle() as dma, start_server(exe, cert, key, server_cpu) as ports:
            for rnd in range(sizes.rounds):
                for runtime in GROUPS:
                    group = [c for c in present if c.runtime == runtime]
                    if not group:
                        continue
                    shift = rnd % len(group)
                    order = group[shift:] + group[:shift]
                    workloads = {w[0]: w for c in group for w in workload_kinds(c)}
                    for wname, wl in workloads.items():
                        for cand in order:
                            if rnd > 0 and wname == "memory":
                                continue  # it does not vary from round to round: once is enough
                            if wl not in workload_kinds(cand) or not selected(
                                only or [], runtime, cand.key, wname
                            ):
                                continue
                            value = measure(cand, wl, sizes, ports, ca, timeout)
                            k = Results.key(runtime, cand.key, wname)
                            if isinstance(value, str):
                                results.errors.setdefault(k, {})[rnd] = value
                                print(
                                    f"FAILED round {rnd + 1}: {runtime}/{cand.name}/{wname}: "
                                    f"{value}",
                                    file=sys.stderr,
                                )
                            else:
                                results.values.setdefault(k, {})[rnd] = value
                print(
                    f"benchmarks: round {rnd + 1}/{sizes.rounds} done "
                    f"({time.perf_counter() - t0:.0f} s)",
                    file=sys.stderr,
                )
    wall = time.perf_counter() - t0
    meta = report.collect_meta(
        started=started,
        wall=wall,
        sizes=sizes,
        dma=dma,
        client_cpu=client_cpu,
        server_cpu=server_cpu,
        quick=sizes.quick,
        priority=priority,
    )
    data = {
        "meta": meta,
        "candidates": [c.__dict__ for c in candidates],
        "values": {k: {str(r): v for r, v in d.items()} for k, d in results.values.items()},
        "errors": {k: {str(r): v for r, v in d.items()} for k, d in results.errors.items()},
    }
    out_json.write_text(json.dumps(data, indent=1) + "\n")
    report.write(data, out_md, chart)
    print(f"benchmarks: wrote {out_md} and {chart} in {wall:.0f} s", file=sys.stderr)

    status = 0
    for k in results.errors:
        runtime, cand, wname = k.split("|")
        if (runtime, cand, wname) not in KNOWN_UPSTREAM_FAILURES:
            status = 1
    if status:
        print("benchmarks: FAILED measurements above (byte counts or errors)", file=sys.stderr)
    if missing and not allow_missing:
        print(
            "benchmarks: candidates missing: "
            + ", ".join(f"{c.runtime}/{c.name}" for c in missing),
            file=sys.stderr,
        )
        status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, one round: checks that every candidate runs",
    )
    parser.add_argument("--rounds", type=int, help="rounds (default: 3, quick: 1)")
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="a candidate whose library is not installed is reported, not an error",
    )
    parser.add_argument("--out", type=Path, help="results markdown (default benchmarks/results.md)")
    parser.add_argument("--chart", type=Path, help="chart (default docs/img/bench-ratios.png)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="RUNTIME/CANDIDATE/WORKLOAD",
        help="run only these (e.g. asyncio/netbase/, trio//pingpong); repeatable",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = dataclasses.replace(sizes, rounds=args.rounds)
    tmp_default = Path(tempfile.gettempdir()) / "netbase-bench-quick"
    if args.quick:
        tmp_default.mkdir(exist_ok=True)
    out = args.out or (tmp_default / "results.md" if args.quick else HERE / "results.md")
    chart = args.chart or (
        tmp_default / "bench-ratios.png"
        if args.quick
        else ROOT / "docs" / "img" / "bench-ratios.png"
    )
    chart.parent.mkdir(parents=True, exist_ok=True)
    return run(sizes, args.allow_missing, out, out.with_suffix(".json"), chart, args.only)


if __name__ == "__main__":
    sys.exit(main())
