"""How fast netbase-recording saves and loads a large cassette, and how much memory it takes.

    python -m benchmarks.cassette_speed                 # 100 MB, binary and text bodies, 3 runs
    python -m benchmarks.cassette_speed --size 20 --kind text --repeat 1
    python -m benchmarks.cassette_speed --out benchmarks/cassette-results.md
                                                        # the figures the docs show

Each measurement runs in a fresh process. "Peak memory" is the most resident
memory (VmHWM) during the save or load, above what the process held without
the payload, divided by the payload size: the recording itself counts, so 1.0
is the payload alone. The cassette is one HTTP/1.1 response read in
64 KiB chunks, as a recording of a large download keeps it: a random (binary)
body is written as base64, a text body (lines of JSON) as text lines.
It prints a Markdown table (best and median speed of `--repeat` runs, the
worst peak memory) with the machine's load, then one line per body to quote;
`--out` writes the same to a file, which the Recording page of the docs
includes (until then the page states no figures). Needs only
netbase-recording (no network, no runtime package).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MB = 1_000_000
CHUNK = 65536


def rss_now() -> int:
    """Resident memory now, in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> None:
    """Start the peak (VmHWM) afresh from now (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def peak_rss() -> int:
    """Most resident memory since `reset_peak()`, in bytes (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def body_chunks(kind: str, size: int) -> list[bytes]:
    """The body in 64 KiB chunks, each its own object (no second copy of the payload)."""
    count = -(-size // CHUNK)
    sizes = [CHUNK] * (count - 1) + [size - CHUNK * (count - 1)]
    if kind == "binary":
        return [os.urandom(n) for n in sizes]
    line = json.dumps({"id": 12345, "name": "netbase", "tags": ["a", "b"], "ok": True}) + "\n"
    text = (line.encode() * (CHUNK // len(line) + 1))[:CHUNK]
    return [(b"%08d" % i + text[8:])[:n] for i, n in enumerate(sizes)]


def recording_of(kind: str, size: int):  # type: ignore[no-untyped-def]
    from netbase_recording import Connected, Connection, EndOfStream, Read, Recording, Write

    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size
    events = [
        Connected(0.001, ("127.0.0.1", 50000), ("127.0.0.1", 443)),
        Write(0.002, b"GET /big HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
        Read(0.003, head),
    ]
    events += [Read(0.004, chunk) for chunk in body_chunks(kind, size)]
    events.append(EndOfStream(0.005))
    return Recording([Connection("www.example.com", 443, events=events)])


def child(step: str, kind: str, size: int, path: str) -> None:
    """One measurement, printed as JSON."""
    from netbase_recording import load, save

    if step == "save":
        recording = recording_of(kind, size)
        # The recording holds the payload (once): count it, and only what save adds.
        before = rss_now() - size
        reset_peak()
        start = time.perf_counter()
        save(recording, path)
    else:
        before = rss_now()
        reset_peak()
        start = time.perf_counter()
        recording = load(path)
    seconds = time.perf_counter() - start
    payload = sum(len(e.data) for e in recording.connections[0].events if hasattr(e, "data"))
    assert payload >= size
    print(json.dumps({"seconds": seconds, "peak": peak_rss() - before, "payload": payload}))


def measure(step: str, kind: str, size: int, path: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", step, "--kind", kind, "--size", str(size / MB), path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def machine() -> str:
    """What else the machine was doing, for the figures to be read against."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    niced = os.nice(0)
    return f"{os.cpu_count()} CPUs, load average {load} (1, 5, 15 min), this process niced {niced}"


def report(size: int, kinds: list[str], repeat: int) -> tuple[list[str], bool]:
    """Each step measured `repeat` times: the Markdown lines, and whether the target was missed."""
    lines = [
        "Measured with `python -m benchmarks.cassette_speed "
        f"--size {size / MB:g} --repeat {repeat}` on {machine()}.",
        "",
        "| body | step | payload | speed, best | speed, median | peak memory / payload, worst |",
        "|---|---|---|---|---|---|",
    ]
    failed = False
    summary = []
    for kind in kinds:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "big.cassette")
            figures = []
            for step in ("save", "load"):
                runs = [measure(step, kind, size, path) for _ in range(repeat)]
                speeds = sorted(r["payload"] / MB / r["seconds"] for r in runs)
                ratio = max(r["peak"] / r["payload"] for r in runs)
                best, median = speeds[-1], statistics.median(speeds)
                lines.append(
                    f"| {kind} | {step} | {runs[0]['payload'] / MB:.0f} MB | {best:.0f} MB/s "
                    f"| {median:.0f} MB/s | {ratio:.2f} |"
                )
                figures.append(f"{step} {best:.0f} MB/s (median {median:.0f}), memory {ratio:.2f}x")
                failed |= median < 100 or ratio >= 2
            summary.append(f"{kind}: " + "; ".join(figures))
            lines.append(f"| {kind} | cassette file | {os.path.getsize(path) / MB:.0f} MB | | | |")
            if kind == "binary":
                # The floor on this machine now: read the file and decode base64 of the
                # same size, in one C call each, with no parsing at all.
                start = time.perf_counter()
                with open(path, "rb") as file:
                    encoded = file.read()
                base64.b64decode(encoded[: len(encoded) // 4 * 4].translate(None, b" \n:|"))
                seconds = time.perf_counter() - start
                floor = size / MB / seconds
                lines.append(
                    f"| binary | floor: read + decode base64 only | | {floor:.0f} MB/s | | |"
                )
    lines += [
        "",
        "Speed is the payload over the time of one save or load; best and median of "
        f"{repeat} runs, each in a fresh process. "
        "Target: a median of at least 100 MB/s both ways, peak memory under 2x the payload: "
        + ("**missed**." if failed else "met."),
        "",
        *(f"- {line}" for line in summary),
    ]
    return lines, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=100, help="payload in MB (default 100)")
    parser.add_argument("--kind", choices=["binary", "text"], action="append")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step (default 3)")
    parser.add_argument("--out", help="also write the figures (Markdown) to this file")
    parser.add_argument("--child", choices=["save", "load"], help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = int(args.size * MB)
    if args.child:
        child(args.child, args.kind[0], size, args.path)
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    lines, failed = report(size, args.kind or ["binary", "text"], args.repeat)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
