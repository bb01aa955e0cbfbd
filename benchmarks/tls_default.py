"""What `start_tls(ctx=None)` costs: the default context against a stdlib one with the same trust.

    python -m benchmarks.tls_default              # ~5 min on a quiet machine
    python -m benchmarks.tls_default --rounds 3 --flat 2000 --before-flat 300

Three contexts, side by side in one run, all trusting the same certificates
(the system's CA bundle plus a trustme CA, through `SSL_CERT_FILE`, with the
system's CA directory):

- **stdlib**: `ssl.create_default_context()` (TLS 1.2 minimum): the baseline;
- **before**: a `truststore.SSLContext` set up as `netbase.default_ssl_context()`
  made it before the trust was loaded once per context (its code is below);
- **default**: `netbase.default_ssl_context()` as it is now (`ctx=None` for
  the connections, so the shared context is what is measured).

Figures:

1. in memory: CPU per full handshake (both sides in this thread, no sockets);
2. flatness: in memory, the median CPU of handshakes near the 100th and near
   the Nth on one context (N = 10,000 for stdlib and default; fewer for
   before, whose handshakes cost ~20x more), measured in turns;
3. per runtime (threaded, asyncio, uvloop, trio): connect + handshake + close
   to a loopback TLS server in another process, one after another: wall time
   and this process's CPU per connection;
4. on asyncio, uvloop and trio, a ticker task that sleeps 1 ms in a loop,
   while connections open one after another: how late it wakes (max and p99;
   and "no TLS", the ticker alone: the machine's own noise), and the most CPU
   the loop's thread spent between two ticks (what a stall would be on a
   quiet machine: preemption by other processes does not count in it);
5. on asyncio, uvloop and trio, 200 connections opening at once: the CPU time
   of the loop's thread per connection.

The server is a separate process, so its handshakes do not run in the
measured process. The machine may be shared: every figure is the median over
`--rounds` rounds, each round measuring the contexts back to back, in an order rotated
from round to round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trustme
import truststore

import netbase
import netbase._ssl

CONTEXTS = ("stdlib", "before", "default")

SERVER = r"""
import asyncio, ssl, sys
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(sys.argv[1])

async def handle(reader, writer):
    try:
        await reader.read(1)  # until the client closes
    except (OSError, ssl.SSLError):
        pass
    writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def before_context() -> ssl.SSLContext:
    """`netbase.default_ssl_context()` as it was: truststore reloads the trust on every wrap."""
    ctx = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def stdlib_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def make(name: str) -> ssl.SSLContext:
    if name == "stdlib":
        return stdlib_context()
    if name == "before":
        return before_context()
    return netbase._ssl.shared_default_context()


# -- in memory ---------------------------------------------------------------------------


def handshake(client_ctx: ssl.SSLContext, server_ctx: ssl.SSLContext) -> None:
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = [False, False]
    while not all(done):
        for i, (obj, outbox, peer_in) in enumerate(((client, c_out, s_in), (server, s_out, c_in))):
            if not done[i]:
                try:
                    obj.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(outbox.read())


def in_memory(ctx: ssl.SSLContext, server_ctx: ssl.SSLContext, n: int) -> float:
    """CPU seconds per handshake, median of n."""
    costs = []
    for _ in range(n):
        start = time.thread_time()
        handshake(ctx, server_ctx)
        costs.append(time.thread_time() - start)
    return statistics.median(costs)


def flatness(
    make: Callable[[], ssl.SSLContext], server_ctx: ssl.SSLContext, last: int
) -> tuple[float, float]:
    """Median CPU time of handshakes ~100 and ~``last`` of a context, measured in turns.

    A shared machine's speed drifts over minutes; so the old context's last 40
    handshakes alternate with the 81st to 120th of a new one, and drift hits
    both alike.
    """
    old = make()
    for _ in range(last - 40):
        handshake(old, server_ctx)
    new = make()
    for _ in range(80):
        handshake(new, server_ctx)
    early, late = [], []
    for _ in range(40):
        for ctx, costs in ((new, early), (old, late)):
            start = time.thread_time()
            handshake(ctx, server_ctx)
            costs.append(time.thread_time() - start)
    return statistics.median(early), statistics.median(late)


# -- over loopback -------------------------------------------------------------------


def threaded_sequential(port: int, ctx: ssl.SSLContext | None, n: int) -> tuple[float, float]:
    import netbase_threaded

    net = netbase_threaded.NetworkBackend()
    walls = []
    cpu = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        with netbase.timeout(10):
            stream = net.connect("127.0.0.1", port)
            stream.start_tls(ctx, hostname="localhost")
            stream.close()
        walls.append(time.perf_counter() - start)
    return statistics.median(walls), (time.process_time() - cpu) / n


async def _one(net: Any, port: int, ctx: ssl.SSLContext | None) -> None:
    async with netbase.timeout(300):  # before: 200 at once take ~15 s of the loop's CPU
        stream = await net.connect("127.0.0.1", port)
        try:
            await stream.start_tls(ctx, hostname="localhost")
        finally:
            await stream.close()


async def async_run(lib: str, port: int, ctx: ssl.SSLContext | None, n: int, burst: int) -> dict:
    """Sequential connections under a ticker, then a burst of ``burst`` at once."""
    if lib == "trio":
        import trio

        import netbase_trio

        net = netbase_trio.NetworkBackend()
        sleep = trio.sleep
    else:
        import netbase_asyncio

        net = netbase_asyncio.NetworkBackend()
        sleep = asyncio.sleep
    await _one(net, port, ctx)  # warm up (and build the shared context)

    lateness: list[float] = []
    busy: list[float] = []  # the loop thread's CPU while the ticker slept
    stop = False

    async def ticker() -> None:
        while not stop:
            start, cpu = time.perf_counter(), time.thread_time()
            await sleep(0.001)
            lateness.append(time.perf_counter() - start - 0.001)
            busy.append(time.thread_time() - cpu)

    # The machine's own noise: the ticker alone, as long as the connections will take.
    async def idle() -> None:
        nonlocal stop
        await sleep(0.5)
        stop = True

    await _gather(lib, [ticker, idle])
    idle_late = sorted(lateness)
    lateness.clear()
    busy.clear()
    stop = False

    walls = []

    async def sequential() -> None:
        nonlocal stop
        await sleep(0.01)
        for _ in range(n):
            start = time.perf_counter()
            await _one(net, port, ctx)
            walls.append(time.perf_counter() - start)
        stop = True

    cpu = time.process_time()
    await _gather(lib, [ticker, sequential])
    cpu = (time.process_time() - cpu) / n
    lateness.sort()
    busy.sort()

    thread_cpu = time.thread_time()
    await _gather(lib, [lambda: _one(net, port, ctx)] * burst)
    thread_cpu = (time.thread_time() - thread_cpu) / burst
    return {
        "wall": statistics.median(walls),
        "cpu": cpu,
        "idle_max": idle_late[-1],
        "idle_p99": idle_late[int(len(idle_late) * 0.99)],
        "late_max": lateness[-1],
        "late_p99": lateness[int(len(lateness) * 0.99)],
        "busy_max": busy[-1],
        "burst_cpu": thread_cpu,
    }


async def _gather(lib: str, funcs: list[Callable[[], Any]]) -> None:
    if lib == "trio":
        import trio

        async with trio.open_nursery() as nursery:
            for func in funcs:
                nursery.start_soon(func)
    else:
        await asyncio.gather(*(func() for func in funcs))


def run_async(lib: str, *args: Any) -> dict:
    if lib == "trio":
        import trio

        return trio.run(async_run, lib, *args)
    if lib == "uvloop":
        import uvloop

        return uvloop.run(async_run(lib, *args))
    return asyncio.run(async_run(lib, *args))


# -- the run -----------------------------------------------------------------------------


def setup(tmp: Path) -> tuple[trustme.CA, ssl.SSLContext, Path]:
    """A bundle = the system's + a trustme CA, named by SSL_CERT_FILE; a server cert from it."""
    ca = trustme.CA()
    system = ssl.get_default_verify_paths().cafile
    bundle = tmp / "bundle.pem"
    bundle.write_bytes((Path(system).read_bytes() if system else b"") + ca.cert_pem.bytes())
    os.environ["SSL_CERT_FILE"] = str(bundle)
    cert = ca.issue_cert("localhost")
    pem = tmp / "server.pem"
    pem.write_bytes(
        cert.private_key_pem.bytes() + b"".join(c.bytes() for c in cert.cert_chain_pems)
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    return ca, server_ctx, pem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--memory", type=int, default=50, help="in-memory handshakes per round")
    parser.add_argument("--sequential", type=int, default=40, help="connections one after another")
    parser.add_argument("--burst", type=int, default=200, help="connections opening at once")
    parser.add_argument("--before-burst", type=int, default=50, help="the same, for before")
    parser.add_argument(
        "--flat", type=int, default=10_000, help="the Nth handshake (stdlib, default)"
    )
    parser.add_argument("--before-flat", type=int, default=1_000, help="the Nth handshake (before)")
    parser.add_argument("--runtimes", default="threaded,asyncio,uvloop,trio")
    args = parser.parse_args(argv)
    runtimes = args.runtimes.split(",")

    with tempfile.TemporaryDirectory() as tmpdir:
        _, server_ctx, pem = setup(Path(tmpdir))
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(pem)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            figures = measure(args, runtimes, server_ctx, port)
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(10)
    report(args, runtimes, figures)
    return 0


def measure(args: Any, runtimes: list[str], server_ctx: ssl.SSLContext, port: int) -> dict:
    figures: dict[tuple[str, ...], list[float]] = {}

    def add(key: tuple[str, ...], value: float) -> None:
        figures.setdefault(key, []).append(value)

    contexts = {name: make(name) for name in CONTEXTS}
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
        order = CONTEXTS[r % 3 :] + CONTEXTS[: r % 3]  # no context always first
        for name in order:
            add(("memory", name), in_memory(contexts[name], server_ctx, args.memory))
        for runtime in runtimes:
            for name in order:
                ctx = None if name == "default" else contexts[name]
                if runtime == "threaded":
                    wall, cpu = threaded_sequential(port, ctx, args.sequential)
                    add((runtime, name, "wall"), wall)
                    add((runtime, name, "cpu"), cpu)
                else:
                    burst = args.before_burst if name == "before" else args.burst
                    result = run_async(runtime, port, ctx, args.sequential, burst)
                    for key, value in result.items():
                        add((runtime, name, key), value)
    for name, last in (("stdlib", args.flat), ("default", args.flat), ("before", args.before_flat)):
        print(f"flatness: {name}, {last} handshakes", file=sys.stderr, flush=True)
        factory = netbase.default_ssl_context if name == "default" else lambda n=name: make(n)
        early, late = flatness(factory, server_ctx, last)
        figures[("flat", name, "early")] = [early]
        figures[("flat", name, "late")] = [late]
        figures[("flat", name, "n")] = [last]
    return figures


def report(args: Any, runtimes: list[str], figures: dict) -> None:
    def med(*key: str) -> float:
        return statistics.median(figures[key])

    def ms(value: float) -> str:
        return f"{value * 1000:.2f}"

    def row(label: str, key: Callable[[str], tuple[str, ...]]) -> str:
        base = med(*key("stdlib"))
        cells = [
            f"{ms(med(*key(name)))} ({med(*key(name)) / base:.2f}x)"
            if name != "stdlib"
            else ms(base)
            for name in CONTEXTS
        ]
        return f"| {label} | " + " | ".join(cells) + " |"

    print(
        f"\nOpenSSL {ssl.OPENSSL_VERSION}, Python {sys.version.split()[0]}, truststore "
        f"{truststore.__version__}; medians of {args.rounds} rounds (the machine may be shared).\n"
    )
    print("| ms (ratio to stdlib) | stdlib | before | default |")
    print("|---|---|---|---|")
    print(row("in memory: CPU per handshake", lambda n: ("memory", n)))
    for runtime in runtimes:
        if runtime == "threaded":
            print(row(f"{runtime}: connect+TLS, wall", lambda n, r=runtime: (r, n, "wall")))
            print(row(f"{runtime}: connect+TLS, CPU", lambda n, r=runtime: (r, n, "cpu")))
            continue
        print(row(f"{runtime}: connect+TLS, wall", lambda n, r=runtime: (r, n, "wall")))
        print(row(f"{runtime}: connect+TLS, CPU", lambda n, r=runtime: (r, n, "cpu")))
        print(row(f"{runtime}: ticker late, max, no TLS", lambda n, r=runtime: (r, n, "idle_max")))
        print(row(f"{runtime}: ticker late, p99, no TLS", lambda n, r=runtime: (r, n, "idle_p99")))
        print(row(f"{runtime}: ticker late, max", lambda n, r=runtime: (r, n, "late_max")))
        print(row(f"{runtime}: ticker late, p99", lambda n, r=runtime: (r, n, "late_p99")))
        print(
            row(
                f"{runtime}: loop CPU between two ticks, max",
                lambda n, r=runtime: (r, n, "busy_max"),
            )
        )
        print(
            row(
                f"{runtime}: loop-thread CPU per connection, {args.burst} at once"
                f" (before: {args.before_burst})",
                lambda n, r=runtime: (r, n, "burst_cpu"),
            )
        )
    print("\nFlatness (in memory, CPU per handshake, medians of 40 of each, in turns)\n")
    print("| context | ~100th (ms) | Nth (ms) | N | ratio |")
    print("|---|---|---|---|---|")
    for name in CONTEXTS:
        early, late = med("flat", name, "early"), med("flat", name, "late")
        n = int(med("flat", name, "n"))
        print(f"| {name} | {ms(early)} | {ms(late)} | {n:,} | {late / early:.2f} |")


if __name__ == "__main__":
    raise SystemExit(main())
