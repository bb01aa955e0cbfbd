"""Turn the measurements into ``results.md`` and the chart of the ratios."""

# The tables are typeset: en dashes for ranges, the multiplication sign for ratios.
# ruff: noqa: RUF001

from __future__ import annotations

import os
import platform
import ssl
import statistics
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

RUNTIME_LABEL = {"sync": "threaded", "asyncio": "asyncio", "uvloop": "uvloop", "trio": "trio"}
WORKLOAD_ORDER = [
    "bulk",
    "bulk-deadline",
    "pingpong",
    "pingpong-deadline",
    "connect",
    "connect-deadline",
    "bulk-tls",
    "bulk-tls-deadline",
    "pingpong-tls",
    "pingpong-tls-deadline",
]
TWINS = ["bulk", "pingpong", "connect", "bulk-tls", "pingpong-tls"]

#: The targets netbase set itself: cost vs the raw baseline of the same runtime, same run.
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
#: memory per idle stream: netbase's must not exceed this candidate's
MEMORY_REFERENCE = {"asyncio": "streams", "uvloop": "streams", "trio": "raw"}
OTHERS = ("streams", "anyio", "httpcore")  # the non-raw candidates netbase must not trail

#: Failures of other projects that this harness is known to catch, as in the
#: anchors: reported in full in the results, but they do not fail the run.
#: uvloop's SSL transport drops the decrypted data it holds when FIN arrives
#: while reading is paused (uvloop PR 661), which asyncio streams do at end of
#: a TLS download.
#: CPython's own SSL transport (3.11) now and then loses the tail the same way
#: with a BufferedProtocol (most likely: when the buffer fills it defers the
#: next read with call_soon, and the FIN that arrives first drops what the
#: SSLObject still holds).
KNOWN_UPSTREAM_FAILURES = {
    (runtime, cand, workload)
    for runtime, cand in [
        ("uvloop", "streams"),
        ("asyncio", "raw-buffered"),
        ("uvloop", "raw-buffered"),
    ]
    for workload in ("bulk-tls", "bulk-tls-deadline")
}

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
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": f"{u.system} {u.release} {u.machine}, {os.cpu_count()} CPUs ({cpu_model})",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "versions": versions,
        "openssl": ssl.OPENSSL_VERSION,
        "gcc": gcc,
        "dma": dma,
        "pinning": (
            f"client on CPU {client_cpu}, server on CPU {server_cpu}"
            if client_cpu is not None
            else "none (fewer than 2 CPUs)"
        ),
        "sizes": sizes.__dict__,
        "wall": wall,
        "quick": quick,
        "priority": priority,
        "executable": sys.executable,
    }


# -- statistics -----------------------------------------------------------------


class Table:
    """Lookups over the raw data: values per round, baselines, per-round ratios."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.values = {k: {int(r): v for r, v in d.items()} for k, d in data["values"].items()}
        self.errors = {k: {int(r): v for r, v in d.items()} for k, d in data["errors"].items()}
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
        return self.ratio(rt, cand, wl, self.baseline(rt, wl))

    def deadline_cost(self, rt: str, cand: str, twin: str) -> float | None:
        a, b = self.rounds(rt, cand, twin + "-deadline"), self.rounds(rt, cand, twin)
        ratios = [a[r] / b[r] for r in a if r in b and b[r] > 0]
        return statistics.median(ratios) if ratios else None

    def group(self, rt: str) -> list[dict[str, Any]]:
        return [c for c in self.candidates if c["runtime"] == rt]


def display(wl: str, seconds_per_unit: float) -> tuple[str, str]:
    """(figure, unit) for one value: MB/s for bulk, µs otherwise, KiB for memory."""
    if wl == "memory":
        return f"{seconds_per_unit / 1024:,.2f}", "KiB/stream"
    if wl.startswith("bulk"):
        return f"{1 / seconds_per_unit / 1e6:,.0f}", "MB/s"
    unit = "µs/cycle" if wl.startswith("connect") else "µs/round trip"
    us = seconds_per_unit * 1e6
    return (f"{us:,.1f}" if us < 100 else f"{us:,.0f}"), unit


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


# -- the markdown ---------------------------------------------------------------


def targets_rows(t: Table) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for rt in ("sync", "asyncio", "uvloop", "trio"):
        label = RUNTIME_LABEL[rt]
        nb = next((c for c in t.group(rt) if c["key"] == "netbase"), None)
        if nb is None:
            continue
        if nb["missing"]:
            rows.append((label, "all", "–", nb["missing"], "**missed**"))
            continue
        goal = TARGETS[rt]
        for wl in WORKLOAD_ORDER:
            target = goal[wl.removesuffix("-deadline")]
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
            c = t.deadline_cost(rt, "netbase", twin)
            rows.append(
                (
                    label,
                    f"{twin}: with a deadline vs without",
                    f"≤ {goal['deadline']:.2f}",
                    fmt(c),
                    verdict(c, goal["deadline"]),
                )
            )
        behind = []
        for wl in WORKLOAD_ORDER:
            mine = t.cost(rt, "netbase", wl)
            for other in OTHERS:
                theirs = t.cost(rt, other, wl)
                if mine is not None and theirs is not None and mine > theirs:
                    behind.append(f"{wl} ({other} {theirs:.2f} < {mine:.2f})")
        rows.append(
            (
                label,
                "no costlier than httpcore, anyio, asyncio streams",
                "every workload",
                "; ".join(behind) or "never behind",
                "**missed**" if behind else "met",
            )
        )
        ref = MEMORY_REFERENCE.get(rt)
        mine_mem = t.median(rt, "netbase", "memory")
        if ref is not None:
            theirs_mem = t.median(rt, ref, "memory")
            name = next(c["name"] for c in t.group(rt) if c["key"] == ref)
            ok = None if mine_mem is None or theirs_mem is None else mine_mem <= theirs_mem
            rows.append(
                (
                    label,
                    f"memory per idle stream vs {name}",
                    f"≤ {display('memory', theirs_mem)[0] if theirs_mem else '–'} KiB",
                    f"{display('memory', mine_mem)[0]} KiB" if mine_mem else "–",
                    "met" if ok else "**missed**",
                )
            )
    return rows


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "**missed** (no data)"
    return "met" if value <= target else "**missed**"


def write(data: dict[str, Any], out: Path, chart: Path) -> None:
    """results.md (and the chart) from the measurements."""
    t = Table(data)
    m = data["meta"]
    s = m["sizes"]
    v = m["versions"]
    lines = [
        "# netbase benchmarks: results"
        + (" (QUICK run: tiny sizes, not figures)" if m["quick"] else ""),
        "",
        "Generated by `nox -s bench` (`python -m benchmarks.run`); the method is in "
        "`benchmarks/README.md`.",
        "",
        f"- Date: {m['date']}",
        f"- Python: {m['python']}",
        f"- Machine: {m['machine']}; load average at the end {m['load']}. **The 2 CPUs were "
        "shared with other jobs running at the same time** (other developers' test runs), so "
        "absolute figures are noisy; only side-by-side ratios within a round count.",
        "- Packages: " + ", ".join(f"{k} {val}" for k, val in v.items()) + f"; {m['openssl']}",
        f"- Server: C ({m['gcc']}, -O2, one thread per connection), separate process; TLS: "
        "OpenSSL, TLS 1.3, no session tickets",
        f"- CPU pinning: {m['pinning']}; priority: {m.get('priority', 'default')}",
        f"- /dev/cpu_dma_latency: {m['dma']}",
        f"- Sizes: bulk {s['bulk'] // 1024 // 1024} MiB in 65536-byte reads; pingpong "
        f"{s['pingpong']:,} × 64 B; connect {s['connect']:,} cycles; memory "
        f"{s['memory_threaded']:,} idle streams (threaded), {s['memory_async']:,} (asyncio, "
        "uvloop, trio); warm-up 1/8 of that first",
        f"- Method: {s['rounds']} rounds; in each round every candidate runs each workload once, "
        "candidates back to back (a workload and its -deadline twin in a row), order rotated "
        "per round; each measurement in a fresh client process, timed with time.perf_counter "
        "around the loop; a failed measurement is not retried",
        "- Deadlines: netbase enters one `netbase.timeout(30)` around the loop (its deadlines "
        "are ambient); the others use their per-operation timeout of 30 s: `settimeout`, "
        "httpcore's `timeout=`, `asyncio.timeout`, `anyio.fail_after`, `trio.fail_after`",
        f"- Wall time: {m['wall'] / 60:.1f} min",
        *(f"- Note: {note}" for note in m.get("notes", [])),
        "",
        "How to read: **median** over the rounds (MB/s: higher is better; µs, KiB: lower is "
        "better); min–max spans the rounds. **cost** = time relative to the runtime's raw "
        "baseline (sync: raw socket; asyncio, uvloop: the faster of raw asyncio.Protocol and "
        "BufferedProtocol for that workload; trio: trio streams), 1.00 = as fast, 2.00 = takes "
        "twice as long; it is the median over rounds of the ratio within each round, so it need "
        "not equal the ratio of the two medians.",
        "",
        "![cost relative to the raw baseline](../docs/img/bench-ratios.png)",
        "",
        "## Targets",
        "",
        "| runtime | criterion | target | netbase | |",
        "|---|---|--:|--:|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in targets_rows(t)]

    lines += [
        "",
        "## Cost vs the runtime's baseline, at a glance",
        "",
        "| runtime | candidate | " + " | ".join(WORKLOAD_ORDER) + " |",
        "|---|---|" + "--:|" * len(WORKLOAD_ORDER),
    ]
    for rt in RUNTIME_LABEL:
        for c in t.group(rt):
            measured = any(
                t.rounds(rt, c["key"], wl) or t.errors.get(f"{rt}|{c['key']}|{wl}")
                for wl in WORKLOAD_ORDER
            )
            if c["missing"] or not measured:
                continue
            cells = [
                fmt(t.cost(rt, c["key"], wl))
                if t.rounds(rt, c["key"], wl)
                else ("failed" if t.errors.get(f"{rt}|{c['key']}|{wl}") else "")
                for wl in WORKLOAD_ORDER
            ]
            lines.append(f"| {RUNTIME_LABEL[rt]} | {c['name']} | " + " | ".join(cells) + " |")

    lines += [
        "",
        "## Cost of a deadline (each candidate with ÷ without)",
        "",
        "| runtime | candidate | " + " | ".join(TWINS) + " |",
        "|---|---|" + "--:|" * len(TWINS),
    ]
    for rt in RUNTIME_LABEL:
        for c in t.group(rt):
            cells = [fmt(t.deadline_cost(rt, c["key"], tw)) for tw in TWINS]
            if not c["missing"] and set(cells) != {"–"}:
                lines.append(f"| {RUNTIME_LABEL[rt]} | {c['name']} | " + " | ".join(cells) + " |")

    lines += [
        "",
        "## Memory per idle open stream",
        "",
        "Resident set size of the client process after opening the streams, minus before, "
        "divided by their number (after a full garbage collection; the kernel's socket "
        "buffers are not in it). Measured in the first round only: it does not vary.",
        "",
        "| runtime | candidate | streams | per stream |",
        "|---|---|--:|--:|",
    ]
    for rt in RUNTIME_LABEL:
        n = s["memory_threaded"] if rt == "sync" else s["memory_async"]
        for c in t.group(rt):
            r = t.rounds(rt, c["key"], "memory")
            if r:
                vals = sorted(r.values())
                lines.append(
                    f"| {RUNTIME_LABEL[rt]} | {c['name']} | {n:,} | "
                    f"{display('memory', statistics.median(vals))[0]} KiB |"
                )

    lines += [
        "",
        "## All measurements",
        "",
        "| runtime | candidate | workload | median | cost vs baseline | min–max |",
        "|---|---|---|--:|--:|--:|",
    ]
    for rt in RUNTIME_LABEL:
        for wl in WORKLOAD_ORDER:
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
                lo, _ = display(wl, min(r.values()))
                hi, _ = display(wl, max(r.values()))
                if wl.startswith("bulk"):
                    lo, hi = hi, lo  # MB/s: the shortest time is the highest rate
                cost = "1.00 (baseline)" if c["key"] == base else fmt(t.cost(rt, c["key"], wl))
                note = f" ({len(errs)} failed)" if errs else ""
                lines.append(
                    f"| {RUNTIME_LABEL[rt]} | {c['name']} | {wl} | {med} {unit} | "
                    f"{cost} | {lo}–{hi}{note} |"
                )

    lines += ["", "## Failures", ""]
    failures = [(k, r, e) for k, d in sorted(t.errors.items()) for r, e in sorted(d.items())]
    if not failures:
        lines.append("None: every measurement ran and every byte arrived.")
    for k, r, e in failures:
        rt, cand, wl = k.split("|")
        name = next(c["name"] for c in t.candidates if c["runtime"] == rt and c["key"] == cand)
        known = (
            " (known upstream bug, see below)" if (rt, cand, wl) in KNOWN_UPSTREAM_FAILURES else ""
        )
        lines.append(f"- {RUNTIME_LABEL[rt]}/{name} {wl}: round {r + 1}: {e}{known}")
    if any(
        k.startswith(("asyncio|raw-buffered|bulk-tls", "uvloop|raw-buffered|bulk-tls"))
        for k in t.errors
    ):
        lines += [
            "",
            "CPython's own SSL transport (3.11+) loses the tail the same way with a "
            "BufferedProtocol: when the buffer fills it defers the next read with "
            "call_soon, and a FIN that arrives first drops what the SSLObject still holds. "
            "A CPython bug, not a harness error: the same client with a Protocol gets every "
            "byte.",
        ]
    if any(k.startswith("uvloop|streams|bulk-tls") for k in t.errors):
        lines += [
            "",
            "uvloop's SSL transport drops the decrypted data it still holds when the "
            "server's FIN arrives while the StreamReader has paused reading (close_notify, "
            "then FIN); a uvloop bug (uvloop PR 661), not a harness error: the raw uvloop "
            "Protocol, which never pauses reading, gets every byte.",
        ]
    if (out.parent / "profiles.md").exists():
        lines += [
            "",
            "## Profiles of the misses",
            "",
            "What the profiles of netbase's backends say about each target missed, and "
            "what would close it: [profiles.md](profiles.md).",
        ]
    missing = [c for c in t.candidates if c["missing"]]
    if missing:
        lines += ["", "Not measured:", ""]
        lines += [f"- {RUNTIME_LABEL[c['runtime']]}/{c['name']}: {c['missing']}" for c in missing]
    out.write_text("\n".join(lines) + "\n")
    draw(t, chart)


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
    fig, axes = plt.subplots(len(runtimes), 1, figsize=(13, 3.2 * len(runtimes)), squeeze=False)
    for ax, rt in zip(axes[:, 0], runtimes, strict=True):
        cands = [c for c in t.group(rt) if not c["missing"]]
        width = 0.8 / max(1, len(cands))
        for i, c in enumerate(cands):
            ys = [t.cost(rt, c["key"], wl) or 0.0 for wl in WORKLOAD_ORDER]
            xs = [j + (i - (len(cands) - 1) / 2) * width for j in range(len(WORKLOAD_ORDER))]
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
        for j, wl in enumerate(WORKLOAD_ORDER):
            ax.hlines(
                goal[wl.removesuffix("-deadline")],
                j - 0.4,
                j + 0.4,
                colors="red",
                linestyles="dashed",
                linewidth=1,
            )
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_xticks(range(len(WORKLOAD_ORDER)))
        ax.set_xticklabels(WORKLOAD_ORDER, fontsize=8)
        ax.set_ylabel("cost vs raw (×)")
        ax.set_title(
            f"{RUNTIME_LABEL[rt]}: time relative to the raw baseline "
            "(lower is better; red dashes: netbase's target)",
            fontsize=10,
        )
        ax.legend(fontsize=7, ncol=4, loc="upper left")
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
    fig.savefig(chart, dpi=90)
    plt.close(fig)


def merge(datas: list[dict[str, Any]]) -> dict[str, Any]:
    """One data set from several runs (say, one per runtime): measurements united."""
    out: dict[str, Any] = {"meta": dict(datas[0]["meta"]), "values": {}, "errors": {}}
    out["meta"]["wall"] = sum(d["meta"]["wall"] for d in datas)
    cands: dict[tuple[str, str], dict[str, Any]] = {}
    for d in datas:
        out["values"].update(d["values"])
        out["errors"].update(d["errors"])
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
    parser.add_argument("--note", action="append", default=[], help="a line for the header")
    args = parser.parse_args(argv)
    data = merge([json.loads(p.read_text()) for p in args.data])
    data["meta"]["notes"] = data["meta"].get("notes", []) + args.note
    args.out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    write(data, args.out, args.chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
