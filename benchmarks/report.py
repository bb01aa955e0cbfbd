"""Turn the measurements into ``results.md`` and the chart of the ratios."""

# The tables are typeset: en dashes for ranges, the multiplication sign for ratios.
# ruff: noqa: RUF001

from __future__ import annotations

import dataclasses
import os
import platform
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

RUNTIME_LABEL = {"sync": "threaded", "asyncio": "asyncio", "uvloop": "uvloop", "trio": "trio"}
TWINS = ["bulk", "pingpong", "connect", "bulk-tls", "pingpong-tls"]
FORMS = ["", "-deadline", "-deadline-op"]
PLAIN_ORDER = [t + f for t in TWINS[:3] for f in FORMS]
TLS_ORDER = [t + f for t in TWINS[3:] for f in FORMS] + ["connect-tls", "connect-tls-default"]
WORKLOAD_ORDER = PLAIN_ORDER + TLS_ORDER
#: accepting connections: a loop over a listener's accept(), and a server with a handler each
ACCEPT_ORDER = ["accept", "accept-serve"]
#: the workloads of the chart of ratios
CHART_ORDER = [*PLAIN_ORDER, *TLS_ORDER[:-1], "connect-many", *ACCEPT_ORDER]

#: The targets netbase set itself: cost vs the fastest raw candidate of the same
#: runtime, same run.
_ASYNC_TARGETS = {
    "bulk": 1.25,
    "pingpong": 1.25,
    "deadline": 1.15,
    "connect": 1.25,
    "bulk-tls": 1.10,
    "pingpong-tls": 1.25,
}
TARGETS = {
    "sync": {
        "bulk": 1.05,
        "pingpong": 1.10,
        "deadline": 1.10,
        "connect": 1.25,
        "bulk-tls": 1.05,
        "pingpong-tls": 1.10,
    },
    "asyncio": _ASYNC_TARGETS,
    "uvloop": _ASYNC_TARGETS,
    "trio": {
        "bulk": 1.10,
        "pingpong": 1.10,
        "deadline": 1.20,
        "connect": 1.10,
        "bulk-tls": 1.10,
        "pingpong-tls": 1.10,
    },
}
#: per-operation cost at the most streams vs at one stream
SCALE_TARGET = 1.25
#: TLS setup with netbase's default context vs a stdlib context with the same trust
DEFAULT_CTX_TARGET = 1.10
#: memory per idle stream: netbase's must not exceed this candidate's
MEMORY_REFERENCE = {
    "memory": {"asyncio": "streams", "uvloop": "streams", "trio": "streams"},
    "memory-tls": {"asyncio": "raw", "uvloop": "raw", "trio": "streams"},
}
OTHERS = ("streams", "anyio", "httpcore")  # the non-raw candidates netbase must not trail

#: Failures of other projects that this harness is known to catch, each with
#: its upstream report: shown in full in the results, they do not fail the run.
_TLS_BULK = ("bulk-tls", "bulk-tls-deadline", "bulk-tls-deadline-op")
KNOWN_UPSTREAM_FAILURES = {
    ("uvloop", "streams", workload): (
        "uvloop's SSL transport drops the decrypted data it holds when the FIN "
        "arrives while reading is paused (close_notify, then FIN)",
        "https://github.com/MagicStack/uvloop/pull/661",
    )
    for workload in _TLS_BULK
}
# The loops' SSL transport handing a BufferedProtocol one buffer at a time:
# when the buffer fills, the rest waits for a call_soon, but a FIN that arrives
# first makes eof_received() read one more buffer and shut down, dropping what
# is left. uvloop's sslproto.pyx and CPython's asyncio/sslproto.py (a port of
# it) have the same _do_flush(); the report names the uvloop fix, which
# describes this case ("reading from buffer is needed before shutdown").
KNOWN_UPSTREAM_FAILURES.update(
    {
        (runtime, "raw-buffered", workload): (
            "the loop's SSL transport reads one BufferedProtocol buffer and shuts "
            "down when the FIN arrives, dropping the decrypted data left "
            "(asyncio's sslproto.py is a port of uvloop's, with the same _do_flush)",
            "https://github.com/MagicStack/uvloop/pull/661",
        )
        for runtime in ("asyncio", "uvloop")
        for workload in _TLS_BULK
    }
)

PACKAGES = [
    "netbase",
    "netbase-threaded",
    "netbase-asyncio",
    "netbase-trio",
    "httpcore",
    "anyio",
    "trio",
    "uvloop",
    "h11",
    "sniffio",
    "trustme",
    "matplotlib",
]


def collect_meta(
    *,
    started: float,
    wall: float,
    sizes: Any,
    dma: str,
    client_cpu: int | None,
    server_cpu: int | None,
    quick: bool,
    priority: str,
    machine: dict[str, Any],
    fd_limit: int,
) -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    cpu_model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout
        gcc = gcc.splitlines()[0]
    except (OSError, IndexError):
        gcc = "unknown"
    u = platform.uname()
    return {
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": f"{u.system} {u.release} {u.machine}, {os.cpu_count()} CPUs ({cpu_model})",
        "during": machine,
        "fd_limit": fd_limit,
        "versions": versions,
        "openssl": ssl.OPENSSL_VERSION,
        "gcc": gcc,
        "dma": dma,
        "pinning": (
            f"client on CPU {client_cpu}, server on CPU {server_cpu}"
            if client_cpu is not None
            else "none (fewer than 2 CPUs)"
        ),
        "sizes": dataclasses.asdict(sizes),
        "wall": wall,
        "quick": quick,
        "priority": priority,
        "executable": sys.executable,
    }


def commit() -> str:
    """The checkout measured: its commit, "+ changes" when tracked files differ from it."""
    here = str(Path(__file__).resolve().parent.parent)

    def git(*args: str) -> str:
        run = subprocess.run(["git", "-C", here, *args], capture_output=True, text=True, check=True)
        return run.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head} + changes" if dirty else head


# -- statistics -----------------------------------------------------------------


class Table:
    """Lookups over the raw data: values per round, baselines, per-round ratios."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.values = {k: {int(r): v for r, v in d.items()} for k, d in data["values"].items()}
        self.errors = {k: {int(r): v for r, v in d.items()} for k, d in data["errors"].items()}
        #: client CPU seconds and waits per unit; absent from runs before it was measured
        self.usage = {
            k: {int(r): v for r, v in d.items()} for k, d in data.get("usage", {}).items()
        }
        self.candidates = data["candidates"]

    def rounds(self, rt: str, cand: str, wl: str) -> dict[int, float]:
        return self.values.get(f"{rt}|{cand}|{wl}", {})

    def median(self, rt: str, cand: str, wl: str) -> float | None:
        v = list(self.rounds(rt, cand, wl).values())
        return statistics.median(v) if v else None

    def baseline(self, rt: str, wl: str) -> str:
        """ "raw", or for asyncio/uvloop the faster of Protocol / BufferedProtocol."""
        if rt in ("asyncio", "uvloop"):
            a, b = self.median(rt, "raw", wl), self.median(rt, "raw-buffered", wl)
            if a is None or (b is not None and b < a):
                return "raw-buffered" if b is not None else "raw"
        return "raw"

    def ratio(
        self, rt: str, cand: str, wl: str, base: str, base_wl: str | None = None
    ) -> float | None:
        """Median over rounds of (candidate / base) within each round."""
        a, b = self.rounds(rt, cand, wl), self.rounds(rt, base, base_wl or wl)
        ratios = [a[r] / b[r] for r in a if r in b and b[r] > 0]
        return statistics.median(ratios) if ratios else None

    def cost(self, rt: str, cand: str, wl: str) -> float | None:
        # The floors have no default context: theirs is the stdlib one of the twin;
        # nor a server: theirs is the accept loop.
        base_wl = {"connect-tls-default": "connect-tls", "accept-serve": "accept"}.get(wl, wl)
        return self.ratio(rt, cand, wl, self.baseline(rt, base_wl), base_wl)

    def deadline_cost(self, rt: str, cand: str, twin: str, form: str) -> float | None:
        """With the deadline form ÷ without, for one candidate (median over rounds)."""
        return self.ratio(rt, cand, twin + form, cand, twin)

    def used(self, rt: str, cand: str, wl: str, what: str) -> float | None:
        """Median over rounds of the client's "cpu" (seconds) or "waits" per unit."""
        v = [u[what] for u in self.usage.get(f"{rt}|{cand}|{wl}", {}).values()]
        return statistics.median(v) if v else None

    def scale_counts(self, rt: str) -> list[int]:
        names = {k.split("|")[2] for k in self.values if k.startswith(rt + "|")}
        return sorted(int(n.split("-")[1]) for n in names if n.startswith("scale-"))

    def scale_growth(self, rt: str, cand: str) -> float | None:
        """Per-round-trip cost at the most streams ÷ at the fewest (median over rounds)."""
        counts = self.scale_counts(rt)
        if len(counts) < 2:
            return None
        return self.ratio(rt, cand, f"scale-{counts[-1]}", cand, f"scale-{counts[0]}")

    def has(self, rt: str, cand: str) -> bool:
        return any(c["key"] == cand and not c["missing"] for c in self.group(rt))

    def name(self, rt: str, cand: str) -> str:
        return next((c["name"] for c in self.group(rt) if c["key"] == cand), cand)

    def group(self, rt: str) -> list[dict[str, Any]]:
        return [c for c in self.candidates if c["runtime"] == rt]


def display(wl: str, seconds_per_unit: float) -> tuple[str, str]:
    """(figure, unit) for one value: MB/s for bulk, µs otherwise, KiB for memory."""
    if wl.startswith("memory"):
        return f"{seconds_per_unit / 1024:,.2f}", "KiB/stream"
    if wl.startswith("bulk"):
        return f"{1 / seconds_per_unit / 1e6:,.0f}", "MB/s"
    unit = (
        "µs/connection"
        if wl.startswith("accept")
        else "µs/connect"
        if wl == "connect-many"
        else "µs/cycle"
        if wl.startswith("connect")
        else "µs/round trip"
    )
    us = seconds_per_unit * 1e6
    return (f"{us:,.1f}" if us < 100 else f"{us:,.0f}"), unit


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


# -- the markdown ---------------------------------------------------------------


def targets_rows(t: Table) -> list[tuple[str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str]] = []
    for rt in RUNTIME_LABEL:
        label = RUNTIME_LABEL[rt]
        nb = next((c for c in t.group(rt) if c["key"] == "netbase"), None)
        if nb is None or not (
            nb["missing"] or any(k.startswith(f"{rt}|netbase|") for k in t.values)
        ):
            continue  # not part of this run
        if nb["missing"]:
            rows.append((label, "all", "–", nb["missing"], "**missed**"))
            continue
        goal = TARGETS[rt]
        for wl in PLAIN_ORDER + TLS_ORDER[:6]:
            target = goal[wl.removesuffix("-op").removesuffix("-deadline")]
            c = t.cost(rt, "netbase", wl)
            rows.append(
                (
                    label,
                    f"{wl}: cost vs {t.baseline(rt, wl)}",
                    f"≤ {target:.2f}",
                    fmt(c),
                    verdict(c, target),
                )
            )
        for twin in TWINS:
            c = t.deadline_cost(rt, "netbase", twin, "-deadline")
            rows.append(
                (
                    label,
                    f"{twin}: one deadline around the loop vs none",
                    f"≤ {goal['deadline']:.2f}",
                    fmt(c),
                    verdict(c, goal["deadline"]),
                )
            )
        # Equal terms: what netbase's scope adds, against what the runtime's own adds
        # on the workload's floor (asyncio, uvloop: the faster raw protocol, as for cost).
        for form, what in (("-deadline", "around the loop"), ("-deadline-op", "per operation")):
            for twin in TWINS:
                mine = t.deadline_cost(rt, "netbase", twin, form)
                base = t.baseline(rt, twin)
                theirs = t.deadline_cost(rt, base, twin, form)
                rows.append(
                    (
                        label,
                        f"{twin}: a deadline {what}, added cost vs the floor's own",
                        f"≤ {fmt(theirs)} ({t.name(rt, base)})",
                        fmt(mine),
                        verdict(mine, theirs),
                    )
                )
        behind = []
        for wl in WORKLOAD_ORDER:
            mine = t.cost(rt, "netbase", wl)
            for other in OTHERS:
                theirs = t.cost(rt, other, wl)
                if mine is not None and theirs is not None and mine > theirs:
                    behind.append(f"{wl} ({t.name(rt, other)} {theirs:.2f} < {mine:.2f})")
        rows.append(
            (
                label,
                "no costlier than " + ", ".join(t.name(rt, o) for o in OTHERS if t.has(rt, o)),
                "every workload",
                "; ".join(behind) or "never behind",
                "**missed**" if behind else "met",
            )
        )
        c = t.ratio(rt, "netbase", "connect-tls-default", "netbase", "connect-tls")
        rows.append(
            (
                label,
                "connect-tls-default vs connect-tls (netbase's default context vs a stdlib one)",
                f"≤ {DEFAULT_CTX_TARGET:.2f}",
                fmt(c),
                verdict(c, DEFAULT_CTX_TARGET),
            )
        )
        counts = t.scale_counts(rt)
        if len(counts) > 1:
            c = t.scale_growth(rt, "netbase")
            rows.append(
                (
                    label,
                    f"per round trip at {counts[-1]:,} streams vs at {counts[0]:,}",
                    f"≤ {SCALE_TARGET:.2f}",
                    fmt(c),
                    verdict(c, SCALE_TARGET),
                )
            )
        for wl, refs in MEMORY_REFERENCE.items():
            ref = refs.get(rt)
            if ref is None:
                continue
            mine_mem, theirs_mem = t.median(rt, "netbase", wl), t.median(rt, ref, wl)
            ok = None if mine_mem is None or theirs_mem is None else mine_mem <= theirs_mem
            rows.append(
                (
                    label,
                    f"{wl}: per idle stream vs {t.name(rt, ref)}",
                    f"≤ {kib(theirs_mem)}",
                    kib(mine_mem),
                    "met" if ok else "**missed**",
                )
            )
    failed = [k for k in t.errors if tuple(k.split("|")) not in KNOWN_UPSTREAM_FAILURES]
    rows.append(
        (
            "all",
            "every byte arrives on every candidate",
            "no failure",
            f"{len(failed)} failed" if failed else "none failed",
            "**missed**" if failed else "met",
        )
    )
    return rows


def kib(value: float | None) -> str:
    return "–" if value is None else f"{value / 1024:,.2f} KiB"


def verdict(value: float | None, target: float | None) -> str:
    if value is None or target is None:
        return "**missed** (no data)"
    return "met" if value <= target else "**missed**"


def cost_table(t: Table, order: list[str]) -> list[str]:
    lines = [
        "| runtime | candidate | " + " | ".join(order) + " |",
        "|---|---|" + "--:|" * len(order),
    ]
    for rt in RUNTIME_LABEL:
        for c in t.group(rt):
            if c["missing"]:
                continue
            cells = [
                fmt(t.cost(rt, c["key"], wl))
                if t.rounds(rt, c["key"], wl)
                else ("failed" if t.errors.get(f"{rt}|{c['key']}|{wl}") else "")
                for wl in order
            ]
            if any(cells):
                lines.append(f"| {RUNTIME_LABEL[rt]} | {c['name']} | " + " | ".join(cells) + " |")
    return lines


def write(data: dict[str, Any], out: Path, chart: Path) -> None:
    """results.md (and the charts) from the measurements alone."""
    t = Table(data)
    m = data["meta"]
    s = m["sizes"]
    v = m["versions"]
    d = m["during"]
    # bench-ratios.png beside bench-scale.png; another run's NAME-ratios.png beside NAME-scale.png
    scale_chart = chart.with_name(chart.name.replace("ratios", "scale"))
    if scale_chart == chart:
        scale_chart = chart.with_name(chart.stem + "-scale.png")
    counts = s["scale"]
    share = d["others_seconds"] / d["cpu_seconds"] if d["cpu_seconds"] else 0.0
    lines = [
        "# netbase benchmarks: results"
        + (" (QUICK run: tiny sizes, not figures)" if m["quick"] else ""),
        "",
        "Generated by `nox -s bench` (`python -m benchmarks.run`) from `results.json` alone"
        + (
            f" ({m['runs']} runs, each as `benchmarks.run` wrote it, united by "
            "`python -m benchmarks.report`)"
            if m.get("runs", 1) > 1
            else ""
        )
        + "; the method is in `benchmarks/README.md`.",
        "",
        f"- Date: {m['date']}" + (f"; commit measured: {m['commit']}" if "commit" in m else ""),
        f"- Python: {m['python']}",
        f"- Machine: {m['machine']}; {d['cpus_allowed']} CPUs allowed to the run",
        f"- Measured during the run: of {d['cpu_seconds']:,.0f} CPU-seconds, the benchmark "
        f"(server and clients) used {d['ours_seconds']:,.0f}, other processes "
        f"{d['others_seconds']:,.0f} ({share:.0%}), the hypervisor took "
        f"{d['steal_seconds']:,.0f} (steal); 1-minute load average at the start of each run "
        "and after each round: " + ", ".join(f"{x:.2f}" for x in d["load_1min"]),
        "- Packages: " + ", ".join(f"{k} {val}" for k, val in v.items()) + f"; {m['openssl']}",
        f"- Server: C ({m['gcc']}, -O2; one thread per connection, epoll for the idle and "
        "the scale streams), separate process; TLS: OpenSSL, TLS 1.3, no session tickets",
        f"- CPU pinning: {m['pinning']}; priority: {m['priority']}; open files allowed: "
        f"{m['fd_limit']:,}",
        f"- /dev/cpu_dma_latency: {m['dma']}",
        f"- Sizes: bulk {s['bulk'] / 1024 / 1024:g} MiB in 65536-byte reads; pingpong "
        f"{s['pingpong']:,} × 64 B; connect {s['connect']:,} cycles ({s['connect_tls']:,} with "
        f"TLS); memory {s['memory']:,} idle streams; connect-many {s['connect_many']:,} "
        "connects at once; scale " + ", ".join(f"{n:,}" for n in counts) + " streams at once, "
        f"{s['scale_round_trips']:,} round trips shared out (at least 5 each); "
        + (f"accept {s['accept']:,} connections queued at once; " if "accept" in s else "")
        + "warm-up 1/8 of the work first",
        f"- Method: {s['rounds']} rounds; in each round every candidate runs each workload "
        f"once (memory too; memory-tls in {min(s['memory_tls_rounds'], s['rounds'])}), candidates "
        "back to back, order rotated per round; "
        + (
            "the quick run batches a candidate's workloads in one client process"
            if m["quick"]
            else "a fresh client process for each memory measurement and for each batch (a "
            "workload and its two deadline twins; connect-tls and connect-tls-default; "
            "connect and connect-many; the scale workloads; accept and accept-serve), in an "
            "order rotated per round"
        )
        + "; each workload warms up, then is timed with time.perf_counter around its loop; "
        "a failed measurement is not retried",
        "- Deadlines, on equal terms: every candidate runs each of bulk, pingpong, connect, "
        "bulk-tls and pingpong-tls with no deadline, with one deadline of 30 s around the "
        "timed loop (`-deadline`: `asyncio.timeout`, `anyio.fail_after`, `trio.fail_after`, "
        "`netbase.timeout`, a socket timeout set once) and with one per operation "
        "(`-deadline-op`: the same scopes around each call, `settimeout` before each call, "
        "httpcore's `timeout=`). httpcore has no scope of its own: on asyncio and trio its "
        "loop form is `anyio.fail_after`; its threaded loop form is its per-call `timeout=`",
        f"- Wall time: {m['wall'] / 60:.1f} min",
        "",
        "How to read: **median** over the rounds (MB/s: higher is better; µs, KiB: lower is "
        "better); min–max spans the rounds. **cost** = time relative to the runtime's raw "
        "floor (threaded: a blocking socket; asyncio, uvloop: the faster of a raw "
        "asyncio.Protocol and BufferedProtocol for that workload; trio: a non-blocking socket "
        "driven by `trio.lowlevel.wait_readable` / `wait_writable`, with an `ssl.SSLObject` "
        "for TLS), 1.00 = as fast, 2.00 = takes twice as long; it is the median over rounds "
        "of the ratio within each round, so it need not equal the ratio of the two medians.",
        "",
        f"![cost relative to the raw baseline](../docs/img/{chart.name})",
        "",
        "## Targets",
        "",
        "| runtime | criterion | target | netbase | |",
        "|---|---|--:|--:|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d_} | {e} |" for a, b, c, d_, e in targets_rows(t)]
    lines += ["", "## Cost vs the runtime's floor: plain TCP", "", *cost_table(t, PLAIN_ORDER)]
    lines += [
        "",
        "## Cost vs the runtime's floor: TLS",
        "",
        "connect-tls: connect, handshake with a stdlib context trusting the run's CA, close. "
        "connect-tls-default: the same through netbase's default context (`start_tls()` "
        "without a context; `SSL_CERT_FILE` names the same CA).",
        "",
        *cost_table(t, TLS_ORDER),
    ]
    lines += [
        "",
        "## Cost of a deadline (each candidate: with ÷ without)",
        "",
        "| runtime | candidate | "
        + " | ".join(f"{tw} {form}" for tw in TWINS for form in ("loop", "op"))
        + " |",
        "|---|---|" + "--:|" * (2 * len(TWINS)),
    ]
    for rt in RUNTIME_LABEL:
        for c in t.group(rt):
            cells = [
                fmt(t.deadline_cost(rt, c["key"], tw, form))
                for tw in TWINS
                for form in ("-deadline", "-deadline-op")
            ]
            if not c["missing"] and set(cells) != {"–"}:
                lines.append(f"| {RUNTIME_LABEL[rt]} | {c['name']} | " + " | ".join(cells) + " |")

    if t.usage:
        lines += usage_section(t)

    lines += [
        "",
        "## Memory per idle open stream",
        "",
        f"{s['memory']:,} streams opened one after another (TLS: each with its handshake "
        "done), to a server that never writes; resident set size of the client process "
        "after, minus before, divided by their number (after a full garbage collection; the "
        "kernel's socket buffers are not in it). Plain: every round; TLS: "
        + (
            "every round."
            if s["memory_tls_rounds"] >= s["rounds"]
            else f"the first "
            f"{s['memory_tls_rounds']} of them (10,000 TLS handshakes a measurement)."
        ),
        "",
        "| runtime | candidate | plain | min–max | TLS | min–max |",
        "|---|---|--:|--:|--:|--:|",
    ]

    def memory_cells(rt: str, key: str) -> list[str]:
        cells = []
        for wl in ("memory", "memory-tls"):
            r = t.rounds(rt, key, wl)
            if r:
                cells += [kib(statistics.median(r.values())), spread(wl, r)]
            else:
                cells += ["failed" if t.errors.get(f"{rt}|{key}|{wl}") else "–", ""]
        return cells

    lines += candidate_rows(t, memory_cells)

    lines += [
        "",
        "## Many streams at once",
        "",
        f"connect-many: {s['connect_many']:,} connects at once (a task, or a thread, each), "
        "all under one deadline; µs per connect (the wall time over the count). scale-N: N "
        "streams open at once, each doing ping-pong under its own deadline (a scope around "
        "its loop); µs per round trip (the wall time over all of them). **growth** = the "
        f"cost per round trip at the most streams measured ÷ at {counts[0]:,}. The threaded "
        "runtime runs a thread per stream and stops at 1,000 threads.",
        "",
        f"![µs per round trip against the number of streams](../docs/img/{scale_chart.name})",
        "",
        "| runtime | candidate | connect-many | "
        + " | ".join(f"scale-{n}" for n in counts)
        + " | growth |",
        "|---|---|--:|" + "--:|" * len(counts) + "--:|",
    ]
    for rt in RUNTIME_LABEL:
        for c in t.group(rt):
            cells = [micro(t.median(rt, c["key"], "connect-many"))]
            cells += [micro(t.median(rt, c["key"], f"scale-{n}")) for n in counts]
            if set(cells) != {"–"}:
                cells.append(fmt(t.scale_growth(rt, c["key"])))
                lines.append(f"| {RUNTIME_LABEL[rt]} | {c['name']} | " + " | ".join(cells) + " |")

    if any(k.split("|")[2] in ACCEPT_ORDER for k in [*t.values, *t.errors]):
        lines += [
            "",
            "## Accepting connections",
            "",
            f"{s.get('accept', 0):,} connections from this process to itself on loopback, "
            "each opened with a plain blocking socket before the timer starts (the kernel "
            "completes the handshakes and queues them in the listen backlog, the same for "
            "every candidate), then accepted and closed, the accept side alone timed; µs per "
            "connection, and each client must see its connection closed. accept: a loop "
            "over the listener's accept (a blocking `socket.accept()`, `loop.sock_accept`, "
            "a non-blocking `accept()` on `trio.lowlevel.wait_readable`; netbase's "
            "`NetworkListener.accept()`, anyio's listener, trio's `open_tcp_listeners`). "
            "accept-serve: the same connections through a server running a handler per "
            "connection, which closes it (netbase's `serve()`, `asyncio.start_server`, "
            "`trio.serve_listeners` as `trio.serve_tcp` runs it, anyio's `serve()`); its "
            "**cost** is against the floor's accept loop. httpcore has no listener.",
            "",
            "| runtime | candidate | accept | cost | accept-serve | cost |",
            "|---|---|--:|--:|--:|--:|",
        ]

        def accept_cells(rt: str, key: str) -> list[str]:
            cells = []
            for wl in ACCEPT_ORDER:
                value = t.median(rt, key, wl)
                if value is None:
                    cells += ["failed" if t.errors.get(f"{rt}|{key}|{wl}") else "–", ""]
                else:
                    cells += [micro(value), fmt(t.cost(rt, key, wl))]
            return cells

        lines += candidate_rows(t, accept_cells)

    lines += [
        "",
        "## All measurements",
        "",
        "| runtime | candidate | workload | median | cost vs floor | min–max |",
        "|---|---|---|--:|--:|--:|",
    ]
    all_order = [
        *WORKLOAD_ORDER,
        "memory",
        "memory-tls",
        "connect-many",
        *(f"scale-{n}" for n in counts),
        *ACCEPT_ORDER,
    ]
    for rt in RUNTIME_LABEL:
        for wl in all_order:
            base = t.baseline(rt, wl)
            for c in t.group(rt):
                if c["missing"]:
                    continue
                r = t.rounds(rt, c["key"], wl)
                errs = t.errors.get(f"{rt}|{c['key']}|{wl}", {})
                if not r:
                    if errs:
                        first = min(errs)
                        lines.append(
                            f"| {RUNTIME_LABEL[rt]} | {c['name']} | {wl} | failed | – | "
                            f"round {first + 1}: {errs[first]} |"
                        )
                    continue
                med, unit = display(wl, statistics.median(r.values()))
                cost = "1.00 (floor)" if c["key"] == base else fmt(t.cost(rt, c["key"], wl))
                note = f" ({len(errs)} failed)" if errs else ""
                lines.append(
                    f"| {RUNTIME_LABEL[rt]} | {c['name']} | {wl} | {med} {unit} | "
                    f"{cost} | {spread(wl, r)}{note} |"
                )

    lines += ["", "## Failures", ""]
    failures = [(k, r, e) for k, dd in sorted(t.errors.items()) for r, e in sorted(dd.items())]
    if not failures:
        lines.append("None: every measurement ran and every byte arrived.")
    for k, r, e in failures:
        rt, cand, wl = k.split("|")
        known = KNOWN_UPSTREAM_FAILURES.get((rt, cand, wl))
        why = f" (upstream: {known[0]}; {known[1]})" if known else ""
        lines.append(f"- {RUNTIME_LABEL[rt]}/{t.name(rt, cand)} {wl}: round {r + 1}: {e}{why}")
    if (out.parent / "profiles.md").exists():
        lines += [
            "",
            "## Profiles of the misses",
            "",
            "What the profiles of netbase's backends say about the targets missed, and what "
            "would close them: [profiles.md](profiles.md).",
        ]
    missing = [c for c in t.candidates if c["missing"]]
    if missing:
        lines += ["", "Not measured:", ""]
        lines += [f"- {RUNTIME_LABEL[c['runtime']]}/{c['name']}: {c['missing']}" for c in missing]
    out.write_text("\n".join(lines) + "\n")
    draw(t, chart)
    draw_scale(t, scale_chart, counts)


def usage_section(t: Table) -> list[str]:
    """The ping-pong loops' client CPU and waits beside their wall time."""
    lines = [
        "",
        "## Client CPU and waits per round trip",
        "",
        "Measured in the client process around each ping-pong's timed loop, medians over "
        "the rounds: **wall** µs per round trip (as above), **CPU** µs per round trip (user "
        "and system time, `getrusage`), and **waits** per round trip (voluntary context "
        "switches: the times the client blocked for its reply). A round trip that blocks "
        "pays the wake-up in wall time but not in CPU time, and a client with more work "
        "per round trip finds its reply already there more often; so a deadline can cost "
        "less wall time than it costs CPU, or more. **+CPU op**: the CPU a deadline per "
        "operation adds to the candidate's round trip, in µs.",
        "",
        "| runtime | candidate | workload | wall | wall op | CPU | CPU loop | CPU op "
        "| +CPU op | waits | waits op |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]

    def us(x: float | None) -> str:
        return "–" if x is None else f"{x * 1e6:,.1f}"

    for rt in RUNTIME_LABEL:
        for twin in ("pingpong", "pingpong-tls"):
            for c in t.group(rt):
                key = c["key"]
                cpu = [t.used(rt, key, twin + f, "cpu") for f in FORMS]
                if c["missing"] or cpu[0] is None:
                    continue
                waits = [t.used(rt, key, twin + f, "waits") for f in ("", "-deadline-op")]
                added = None if cpu[2] is None else cpu[2] - cpu[0]
                cells = [
                    us(t.median(rt, key, twin)),
                    us(t.median(rt, key, twin + "-deadline-op")),
                    *(us(x) for x in cpu),
                    us(added),
                    *("–" if w is None else f"{w:.2f}" for w in waits),
                ]
                lines.append(
                    f"| {RUNTIME_LABEL[rt]} | {c['name']} | {twin} | " + " | ".join(cells) + " |"
                )
    return lines


def candidate_rows(t: Table, cells_of: Callable[[str, str], list[str]]) -> list[str]:
    """A row per candidate measured in each runtime, its cells from `cells_of(runtime, key)`;
    none for a candidate whose cells are all blank (a dash, or empty)."""
    rows = []
    for rt in RUNTIME_LABEL:
        for c in t.group(rt):
            cells = cells_of(rt, c["key"])
            if not c["missing"] and not set(cells) <= {"–", ""}:
                rows.append(f"| {RUNTIME_LABEL[rt]} | {c['name']} | " + " | ".join(cells) + " |")
    return rows


def micro(seconds: float | None) -> str:
    return "–" if seconds is None else display("scale", seconds)[0]


def spread(wl: str, r: dict[int, float]) -> str:
    lo, _ = display(wl, min(r.values()))
    hi, _ = display(wl, max(r.values()))
    if wl.startswith("bulk"):
        lo, hi = hi, lo  # MB/s: the shortest time is the highest rate
    return f"{lo}–{hi}"


#: one colour per kind of candidate, the same in every runtime's panel
COLORS = {
    "raw": "#9e9e9e",
    "raw-buffered": "#cfcfcf",
    "streams": "#2ca02c",
    "anyio": "#d62728",
    "httpcore": "#9467bd",
    "netbase": "#1f77b4",
}


def draw(t: Table, chart: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runtimes = [rt for rt in RUNTIME_LABEL if any(k.startswith(rt + "|") for k in t.values)]
    if not runtimes:
        return
    fig, axes = plt.subplots(len(runtimes), 1, figsize=(16, 3.4 * len(runtimes)), squeeze=False)
    for ax, rt in zip(axes[:, 0], runtimes, strict=True):
        cands = [c for c in t.group(rt) if not c["missing"]]
        width = 0.8 / max(1, len(cands))
        for i, c in enumerate(cands):
            ys = [t.cost(rt, c["key"], wl) or 0.0 for wl in CHART_ORDER]
            xs = [j + (i - (len(cands) - 1) / 2) * width for j in range(len(CHART_ORDER))]
            bold = c["key"] == "netbase"
            ax.bar(
                xs,
                ys,
                width,
                label=c["name"],
                color=COLORS[c["key"]],
                edgecolor="black" if bold else "none",
                linewidth=1.2 if bold else 0,
            )
        goal = TARGETS[rt]
        for j, wl in enumerate(CHART_ORDER):
            key = wl.removesuffix("-op").removesuffix("-deadline")
            if key in goal:
                ax.hlines(goal[key], j - 0.4, j + 0.4, colors="red", linestyles="dashed", lw=1)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_xticks(range(len(CHART_ORDER)))
        ax.set_xticklabels(CHART_ORDER, fontsize=7, rotation=30, ha="right")
        ax.set_ylabel("cost vs raw (×)")
        ax.set_title(
            f"{RUNTIME_LABEL[rt]}: time relative to the raw floor "
            "(lower is better; red dashes: netbase's target)",
            fontsize=10,
        )
        ax.legend(fontsize=7, ncol=5, loc="upper left")
        top = max([1.5] + [p.get_height() for p in ax.patches])
        ceiling = min(top * 1.15, 6)
        ax.set_ylim(0, ceiling)
        for p in ax.patches:  # a bar cut off by the axis says how tall it is
            if p.get_height() > ceiling:
                ax.annotate(
                    f"{p.get_height():.1f}",
                    (p.get_x() + p.get_width() / 2, ceiling),
                    ha="center",
                    va="top",
                    fontsize=6,
                    rotation=90,
                )
    fig.tight_layout()
    fig.savefig(chart, dpi=80)
    plt.close(fig)


def draw_scale(t: Table, chart: Path, counts: list[int]) -> None:
    """The per-round-trip cost against the number of streams, a panel per runtime."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runtimes = [
        rt
        for rt in RUNTIME_LABEL
        if any(t.rounds(rt, c["key"], f"scale-{counts[0]}") for c in t.group(rt))
    ]
    if not runtimes:
        return
    fig, axes = plt.subplots(1, len(runtimes), figsize=(4 * len(runtimes), 3.6), squeeze=False)
    for ax, rt in zip(axes[0], runtimes, strict=True):
        for c in t.group(rt):
            pts = [(n, t.median(rt, c["key"], f"scale-{n}")) for n in counts]
            pts = [(n, y * 1e6) for n, y in pts if y is not None]
            if not pts:
                continue
            bold = c["key"] == "netbase"
            ax.plot(
                [n for n, _ in pts],
                [y for _, y in pts],
                marker="o",
                label=c["name"],
                color=COLORS[c["key"]],
                linewidth=2.2 if bold else 1.2,
            )
        ax.set_xscale("log")
        ax.set_xticks(counts, [f"{n:,}" for n in counts])
        ax.minorticks_off()
        ax.set_ylim(bottom=0)
        ax.set_xlabel("streams at once")
        ax.set_title(RUNTIME_LABEL[rt], fontsize=10)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("µs per round trip (lower is better)")
    fig.tight_layout()
    fig.savefig(chart, dpi=80)
    plt.close(fig)


def merge(datas: list[dict[str, Any]]) -> dict[str, Any]:
    """One data set from several runs, their measurements united.

    Runs that measured different things (say, one per runtime) are laid side
    by side. A run that measured something an earlier one also measured (the
    same code run again) adds rounds: its rounds are numbered on after the
    earlier runs' ones, so a ratio still pairs two candidates of the same
    round of the same run.
    """
    meta = dict(datas[0]["meta"])
    out: dict[str, Any] = {"meta": meta, "values": {}, "errors": {}, "usage": {}}
    fields = ("values", "errors", "usage")
    offset = rounds = tls_rounds = 0
    for d in datas:
        sizes = d["meta"]["sizes"]
        keys = {k for field in fields for k in d.get(field, {})}
        if any(k in out[field] for field in fields for k in keys):
            offset, tls_offset = rounds, tls_rounds  # the same things again: rounds on
        else:
            offset = tls_offset = 0
        for field in fields:
            for key, per_round in d.get(field, {}).items():
                into = out[field].setdefault(key, {})
                for r, value in per_round.items():
                    into[str(int(r) + offset)] = value
        rounds = max(rounds, offset + sizes["rounds"])
        tls_rounds = max(tls_rounds, tls_offset + sizes["memory_tls_rounds"])
    meta["sizes"] = {**meta["sizes"], "rounds": rounds, "memory_tls_rounds": tls_rounds}
    for key, joiner in (("date", " and "), ("commit", ", ")):
        seen = [d["meta"][key] for d in datas if key in d["meta"]]
        if seen:
            meta[key] = joiner.join(dict.fromkeys(seen))
    meta["wall"] = sum(d["meta"]["wall"] for d in datas)
    meta["runs"] = sum(d["meta"].get("runs", 1) for d in datas)
    during = meta["during"] = dict(datas[0]["meta"]["during"])
    for key in ("cpu_seconds", "ours_seconds", "others_seconds", "steal_seconds"):
        during[key] = sum(d["meta"]["during"][key] for d in datas)
    during["load_1min"] = [x for d in datas for x in d["meta"]["during"]["load_1min"]]
    cands: dict[tuple[str, str], dict[str, Any]] = {}
    for d in datas:
        for c in d["candidates"]:
            key = (c["runtime"], c["key"])
            if key not in cands or (cands[key]["missing"] and not c["missing"]):
                cands[key] = c
    out["candidates"] = list(cands.values())
    return out


def main(argv: list[str] | None = None) -> int:
    """Re-render results.md and the chart from one or more results.json files."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("data", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--chart", type=Path, required=True)
    args = parser.parse_args(argv)
    data = merge([json.loads(p.read_text()) for p in args.data])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.chart.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    write(data, args.out, args.chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
