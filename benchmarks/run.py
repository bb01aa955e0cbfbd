"""Run the benchmarks: ``python -m benchmarks.run [--quick] [--rounds N]``.

Method (benchmarks/README.md has it in full):

- the server is a small C program (``server.c``) compiled here with gcc, in its
  own process, pinned to another CPU than the client;
- ``/dev/cpu_dma_latency`` is held at 0 for the whole run (and released after),
  so that an idle CPU keeps polling and a wake-up is not a virtual machine's
  halt exit, which costs ~60 µs here and would hide the libraries' cost;
- rounds: in each, every candidate runs every workload once, the candidates of
  a runtime back to back, in an order rotated from round to round;
- client processes: one per memory measurement, one per batch of workloads (a
  workload and its deadline twins, ...); each workload times its loop only
  (connecting and the TLS handshake come before), after a warm-up of 1/8 of it;
- a measurement that fails, or whose byte count is not exact, is recorded as
  failed and reported loudly; it is never retried;
- what the machine did meanwhile (other processes' CPU time, steal, load) is
  measured and recorded.

Writes ``benchmarks/results.md``, ``benchmarks/results.json``,
``docs/img/bench-ratios.png`` and ``docs/img/bench-scale.png`` (see ``report.py``).
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
from typing import Any, NamedTuple

from benchmarks.clients._common import Job, raise_fd_limit
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

#: (name, workload kind, TLS): each also runs as "<name>-deadline" (one deadline
#: scope around the timed loop) and "<name>-deadline-op" (one per operation)
TWIN_WORKLOADS = [
    ("bulk", "bulk", False),
    ("pingpong", "pingpong", False),
    ("connect", "connect", False),
    ("bulk-tls", "bulk", True),
    ("pingpong-tls", "pingpong", True),
]
DEADLINE_FORMS = [("", ""), ("-deadline", "loop"), ("-deadline-op", "op")]
#: The threaded runtime's scale workloads stop here (a thread per stream): with
#: 10,000 threads each round trip waits for the GIL behind thousands of others,
#: some for longer than the 30 s deadline on a loaded machine, and a measurement
#: takes 25 s.
MAX_THREADS = 1_000


@dataclass(frozen=True)
class Workload:
    name: str
    kind: str  # bulk | pingpong | connect | memory | connect_many | scale | accept | serve
    tls: bool = False
    deadline: str = ""  # "" | "loop" | "op"
    streams: int = 1  # scale: streams at once
    default_ctx: bool = False  # TLS with netbase's default context
    #: workloads of one batch share a client process in a full run (each after
    #: its own warm-up); "" = a process of its own
    batch: str = ""


@dataclass(frozen=True)
class Sizes:
    bulk: int
    pingpong: int
    connect: int
    connect_tls: int
    memory: int
    connect_many: int
    #: the stream counts of the scale workloads, and the round trips they share
    scale: tuple[int, ...]
    scale_round_trips: int
    #: connections accepted (accept, serve), all queued in the listen backlog at once
    accept: int
    rounds: int
    #: memory-tls runs in the first N rounds only: 10,000 TLS handshakes per
    #: measurement cost seconds of CPU each time
    memory_tls_rounds: int
    quick: bool

    def size(self, wl: Workload) -> int:
        if wl.kind == "connect":
            return self.connect_tls if wl.tls else self.connect
        if wl.kind == "scale":
            return self.round_trips_per_stream(wl.streams)
        if wl.kind == "serve":
            return self.accept
        return int(getattr(self, wl.kind))

    def round_trips_per_stream(self, streams: int) -> int:
        """The scale workloads share their round trips out (at least 5 per stream)."""
        return max(5, self.scale_round_trips // streams)


FULL = Sizes(
    bulk=128 * 1024 * 1024,
    pingpong=10_000,
    connect=1_000,
    connect_tls=200,
    memory=10_000,
    connect_many=1_000,
    scale=(1, 100, 1_000, 10_000),
    scale_round_trips=10_000,
    accept=2_000,
    rounds=5,
    memory_tls_rounds=1,
    quick=False,
)
QUICK = Sizes(
    bulk=256 * 1024,
    pingpong=100,
    connect=20,
    connect_tls=5,
    memory=50,
    connect_many=20,
    scale=(1, 4, 16),
    scale_round_trips=32,
    accept=20,
    rounds=1,
    memory_tls_rounds=1,
    quick=True,
)


def workloads(sizes: Sizes) -> list[Workload]:
    """Every workload, in the order a round runs them (twins in a row)."""
    out = [
        Workload(name + suffix, kind, tls, deadline, batch=name)
        for name, kind, tls in TWIN_WORKLOADS
        for suffix, deadline in DEADLINE_FORMS
    ]
    out += [
        Workload("connect-tls", "connect", True, batch="connect-tls"),
        Workload("connect-tls-default", "connect", True, default_ctx=True, batch="connect-tls"),
        # memory: a fresh process each, so that nothing before it shapes the heap
        Workload("memory", "memory"),
        Workload("memory-tls", "memory", True),
        Workload("connect-many", "connect_many", deadline="loop", batch="connect"),
    ]
    out += [
        Workload(f"scale-{n}", "scale", deadline="loop", streams=n, batch="scale")
        for n in sizes.scale
    ]
    out += [
        Workload("accept", "accept", batch="accept"),
        Workload("accept-serve", "serve", batch="accept"),
    ]
    return out


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
    #: the timed loops' client CPU seconds and voluntary waits, per unit as `values`
    usage: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)

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


class Serving(NamedTuple):
    """What `serving()` yields."""

    ports: dict[str, int]  # the server's ports, by what each serves
    ca: Path  # the CA file the server's certificate chains to
    idle: str  # what `low_latency_idle()` said ("" when not pinned)


@contextlib.contextmanager
def serving(prefix: str, *, pinned: bool = True) -> Iterator[Serving]:
    """The benchmark's server, for a full run and for the tools beside it.

    Builds the server and the certificates in a temporary directory and
    points ``SSL_CERT_FILE`` at the CA (netbase's default context trusts it).
    ``pinned``: this process (and the client processes, which inherit it) on
    the client CPU and the server on the other, with the idle-CPU latency
    request held.
    """
    client_cpu, server_cpu = cpus() if pinned else (None, None)
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        exe = build_server(workdir)
        ca, cert, key = make_certs(workdir)
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        idle = stack.enter_context(low_latency_idle()) if pinned else ""
        ports = stack.enter_context(start_server(exe, cert, key, server_cpu))
        os.environ["SSL_CERT_FILE"] = str(ca)
        yield Serving(ports, ca, idle)


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


def cpu_times() -> tuple[dict[str, int], float]:
    """(the machine's CPU time by kind, in clock ticks; our own and our children's, in s)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    machine = dict(zip(names, map(int, fields), strict=False))
    t = os.times()
    return machine, t.user + t.system + t.children_user + t.children_system


def machine_during(
    before: tuple[dict[str, int], float],
    after: tuple[dict[str, int], float],
    load: list[float],
    cpus_allowed: int,
) -> dict[str, Any]:
    """What the machine did during the run, measured: how busy its CPUs were with
    other work than the benchmark's, the time the hypervisor took (steal), and
    the load average."""
    tick = os.sysconf("SC_CLK_TCK")
    delta = {k: (after[0][k] - before[0][k]) / tick for k in after[0]}
    total = sum(delta.values())
    busy = total - delta["idle"] - delta["iowait"] - delta["steal"]
    ours = after[1] - before[1]
    return {
        "cpus": os.cpu_count(),
        "cpus_allowed": cpus_allowed,
        "cpu_seconds": round(total, 1),
        "ours_seconds": round(ours, 1),
        "others_seconds": round(max(0.0, busy - ours), 1),
        "steal_seconds": round(delta["steal"], 1),
        "load_1min": [round(x, 2) for x in load],
    }


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


def runs(cand: Candidate, wl: Workload) -> bool:
    """Whether the candidate runs the workload."""
    if wl.default_ctx:  # netbase's default context: the others have no such thing
        return cand.key == "netbase"
    if wl.kind == "scale" and cand.runtime == "sync" and wl.streams > MAX_THREADS:
        return False
    if wl.name == "memory-tls" and cand.key == "httpcore":
        # httpcore's streams are the stdlib's and anyio's, measured beside it; 10,000
        # TLS handshakes take long enough to leave out a figure that repeats theirs
        return False
    if cand.key == "raw-buffered":
        # The other asyncio floor, for the workloads where it can be the faster one;
        # it keeps a buffer per stream by design, so not an idle stream either.
        return wl.kind in ("bulk", "pingpong")
    if wl.kind in ("accept", "serve"):
        # those with a listener (accept) or a server (serve): the client class says
        cls = importlib.import_module(GROUPS[cand.runtime]).CANDIDATES[cand.key][1]
        return hasattr(cls, wl.kind)
    return True


def make_job(wl: Workload, sizes: Sizes, ports: dict[str, int], cafile: Path) -> Job:
    """What a client process is told to do for one workload."""
    return Job(
        workload=wl.kind,
        tls=wl.tls,
        deadline=wl.deadline,
        size=sizes.size(wl),
        ports=ports,
        cafile=str(cafile),
        streams=wl.streams,
        default_ctx=wl.default_ctx,
    )


def make_batches(
    todo: list[tuple[Workload, Candidate]], rnd: int, quick: bool
) -> list[tuple[Candidate, list[Workload]]]:
    """Which measurements share a client process, in the order they run.

    A full run gives a candidate's workloads of one batch (a workload and its
    deadline twins; the scale workloads) one process, each workload after its
    own warm-up, in an order rotated from round to round; the others a process
    each. The quick run gives each candidate one process for everything, to
    start fewer interpreters.
    """
    groups: dict[tuple[int, str], tuple[Candidate, list[Workload]]] = {}
    for i, (wl, cand) in enumerate(todo):
        key = (id(cand), "" if quick else wl.batch or f"#{i}")
        groups.setdefault(key, (cand, []))[1].append(wl)
    out = []
    for cand, wls in groups.values():
        shift = 0 if quick else rnd % len(wls)
        out.append((cand, wls[shift:] + wls[:shift]))
    return out


def unit_of(kind: str) -> str:
    return {
        "connect": "cycles",
        "memory": "streams",
        "connect_many": "connects",
        "accept": "connections",
        "serve": "connections",
    }.get(kind, "bytes")


def measure(
    cand: Candidate,
    wls: list[Workload],
    sizes: Sizes,
    ports: dict[str, int],
    cafile: Path,
    timeout: float,
) -> tuple[list[float | str], list[dict[str, float]]]:
    """One fresh client process for these workloads: per workload, the per-unit
    figure or an error message; and per workload, the client's CPU seconds and
    voluntary waits per unit in the timed loop (empty where not measured)."""
    from benchmarks.clients._common import expected_count, per_unit

    jobs = [make_job(wl, sizes, ports, cafile) for wl in wls]
    spec = {
        "runtime": cand.runtime,
        "candidate": cand.key,
        "jobs": [dataclasses.asdict(job) for job in jobs],
    }
    # netbase's default context (the system trust store) trusts the run's CA
    # through SSL_CERT_FILE, as the stdlib context of its twin does through cafile.
    env = {**os.environ, "SSL_CERT_FILE": str(cafile)}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.client", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout * len(jobs),
            cwd=ROOT,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return [f"no result within {timeout * len(jobs):.0f} s"] * len(jobs), [{}] * len(jobs)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        failed = lines[-1] if lines else f"exit status {proc.returncode}"
        return [failed] * len(jobs), [{}] * len(jobs)
    out: list[float | str] = []
    usage: list[dict[str, float]] = []
    for wl, job, result in zip(
        wls, jobs, json.loads(proc.stdout.strip().splitlines()[-1]), strict=True
    ):
        want = expected_count(job)
        usage.append(
            {"cpu": result["cpu_seconds"] / per_unit(job), "waits": result["waits"] / per_unit(job)}
            if "cpu_seconds" in result and result.get("count") == want
            else {}
        )
        if "error" in result:
            out.append(result["error"])
        elif result["count"] != want:
            out.append(
                f"BenchError: received {result['count']} {unit_of(wl.kind)}, expected {want}"
            )
        elif wl.kind == "memory":
            out.append(float(result["bytes_per_stream"]))
        else:
            # seconds per unit: per byte (bulk), per round trip, per connect
            out.append(float(result["seconds"]) / per_unit(job))
    return out, usage


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
    cpus_allowed = len(os.sched_getaffinity(0))
    client_cpu, server_cpu = cpus()
    priority = raise_priority()
    fd_limit = raise_fd_limit()  # client processes inherit it (and raise it again)
    results = Results()
    load = [os.getloadavg()[0]]  # 1-minute load average: at the start, after each round
    timeout = 120.0 if sizes.quick else 600.0
    with serving("netbase-bench-") as (ports, ca, dma):
        cpu_before = cpu_times()
        memory_tls_time = 0.0  # in the first round, for the estimate of the whole
        for rnd in range(sizes.rounds):
            for runtime in GROUPS:
                group = [c for c in present if c.runtime == runtime]
                if not group:
                    continue
                shift = rnd % len(group)
                order = group[shift:] + group[:shift]
                todo = [
                    (wl, cand)
                    for wl in workloads(sizes)
                    for cand in order
                    if runs(cand, wl)
                    and selected(only or [], runtime, cand.key, wl.name)
                    and (wl.name != "memory-tls" or rnd < sizes.memory_tls_rounds)
                ]
                batches = make_batches(todo, rnd, sizes.quick)
                for cand, wls in batches:
                    t1 = time.perf_counter()
                    values, usage = measure(cand, wls, sizes, ports, ca, timeout)
                    spent = time.perf_counter() - t1
                    if rnd == 0 and any(wl.name == "memory-tls" for wl in wls):
                        memory_tls_time += spent
                    print(
                        f"benchmarks: round {rnd + 1}: {runtime}/{cand.name}: "
                        f"{', '.join(wl.name for wl in wls)}: {spent:.1f} s",
                        file=sys.stderr,
                    )
                    for wl, value, used in zip(wls, values, usage, strict=True):
                        k = Results.key(runtime, cand.key, wl.name)
                        if used:
                            results.usage.setdefault(k, {})[rnd] = used
                        if isinstance(value, str):
                            results.errors.setdefault(k, {})[rnd] = value
                            print(
                                f"FAILED round {rnd + 1}: {runtime}/{cand.name}/{wl.name}: {value}",
                                file=sys.stderr,
                            )
                        else:
                            results.values.setdefault(k, {})[rnd] = value
            load.append(os.getloadavg()[0])
            if rnd == 0 and sizes.rounds > 1:
                rest = time.perf_counter() - t0 - memory_tls_time
                total = rest * sizes.rounds + memory_tls_time * min(
                    sizes.memory_tls_rounds, sizes.rounds
                )
                print(f"benchmarks: about {total / 60:.0f} min in all", file=sys.stderr)
            print(
                f"benchmarks: round {rnd + 1}/{sizes.rounds} done "
                f"({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
            )
    # after the server has exited, so that its CPU time counts as ours
    machine = machine_during(cpu_before, cpu_times(), load, cpus_allowed)
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
        machine=machine,
        fd_limit=fd_limit,
    )
    data = {
        "meta": meta,
        "candidates": [c.__dict__ for c in candidates],
        "values": {k: {str(r): v for r, v in d.items()} for k, d in results.values.items()},
        "errors": {k: {str(r): v for r, v in d.items()} for k, d in results.errors.items()},
        "usage": {k: {str(r): v for r, v in d.items()} for k, d in results.usage.items()},
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
    parser.add_argument("--rounds", type=int, help="rounds (default: 5, quick: 1)")
    parser.add_argument(
        "--memory-tls-rounds",
        type=int,
        help="rounds that measure memory-tls (default: 1): 10,000 handshakes each time",
    )
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
    if args.memory_tls_rounds is not None:
        sizes = dataclasses.replace(sizes, memory_tls_rounds=args.memory_tls_rounds)
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
