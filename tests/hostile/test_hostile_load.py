"""Load and soak: many connections at once, many connections in a row, many bytes.

- Load: 1,000 concurrent connections on the async runtimes (200 threads on the
  threaded one), all held open at the same time, each doing echo exchanges
  under deadlines: zero errors, descriptors back to baseline.
- Soak: connect/close cycles and one long-lived stream moving many bytes,
  checking that descriptors and memory do not grow. The normal run does a
  shortened version; NETBASE_SOAK=1 (the nox session ``soak``) does 100,000
  plain cycles, 10,000 TLS cycles and 4 GiB.
"""

from __future__ import annotations

import gc
import os
import random
import ssl
import time

import figures
from faultpeer import Scenario

import netbase
from helpers import read_exactly

SOAK = os.environ.get("NETBASE_SOAK") == "1"
CONCURRENT = {"sync": 200, "async": 1000}  # threads for sync, tasks for async
EXCHANGES = 3
CYCLES = 100_000 if SOAK else 1_000
TLS_CYCLES = 10_000 if SOAK else 200
STREAM_BYTES = (4 << 30) if SOAK else (64 << 20)
CHUNK = 256 * 1024
# Memory may settle a little (allocator arenas, caches); a leak of even a few
# hundred bytes per connection would blow well past this over the cycles.
RSS_GROWTH_LIMIT = 32 << 20


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def describe_fds() -> list[str]:
    """What each open descriptor is, for a failure message."""
    described = []
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            described.append(f"{fd}:{os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            pass
    return described


def keeps_traffic(runtime) -> bool:
    """The recording wrappers keep every byte by design: memory grows with traffic."""
    return runtime.name.startswith("recording-")


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def warm_up(runtime, net, load_server) -> None:
    """One connection first: the runtime's lazily opened, per-loop descriptors
    (libuv opens one on first use and keeps it until the loop closes) belong in
    the baseline, not in the count of what the test leaked."""
    async with await net.connect(load_server.host, load_server.port) as stream:
        await stream.write(b"warm")
        assert await read_exactly(stream, 4) == b"warm"
    assert load_server.wait_active(0, 10.0)
    await runtime.sleep(0.05)  # let transports closed in callbacks go
    gc.collect()


async def settle(runtime, load_server, baseline_fds: int) -> int:
    """Wait for the server to see every close, then return the descriptor count."""
    assert load_server.wait_active(0, 10.0), f"{load_server.active} connections still open"
    for _ in range(200):
        gc.collect()
        if open_fds() <= baseline_fds:
            break
        await runtime.sleep(0.01)
    return open_fds()


async def test_many_concurrent_connections(runtime, net, load_server):
    count = CONCURRENT[runtime.flavour]
    await warm_up(runtime, net, load_server)
    baseline = open_fds()
    errors: list[BaseException] = []

    async def connect(i: int):
        try:
            async with netbase.timeout(30.0):
                return await net.connect(load_server.host, load_server.port)
        except Exception as exc:
            errors.append(exc)
            return None

    async def exchange(stream, i: int) -> None:
        rng = random.Random(i)
        try:
            for round_ in range(EXCHANGES):
                message = f"{i}:{round_}:".encode() + rng.randbytes(rng.randint(1, 4096))
                async with netbase.timeout(30.0):
                    await stream.write(message)
                    assert await read_exactly(stream, len(message)) == message
        except Exception as exc:
            errors.append(exc)

    started = time.monotonic()
    streams = await runtime.gather(*[lambda i=i: connect(i) for i in range(count)])
    try:
        assert not errors, f"{len(errors)} connects failed, first: {errors[0]!r}"
        # Every connection is open at the same time before any exchange starts.
        assert load_server.wait_active(count, 10.0), (load_server.active, count)
        await runtime.gather(*[lambda s=s, i=i: exchange(s, i) for i, s in enumerate(streams)])
        assert not errors, f"{len(errors)} exchanges failed, first: {errors[0]!r}"
        assert load_server.active == count
    finally:
        await runtime.gather(*[lambda s=s: s.close() for s in streams if s is not None])
    elapsed = time.monotonic() - started
    after = await settle(runtime, load_server, baseline)
    assert after <= baseline, f"descriptors: {baseline} before, {after} after: {describe_fds()}"
    figures.note(
        "load",
        f"{runtime.name}: {load_server.peak} connections held at once, "
        f"{count * EXCHANGES} echo exchanges under deadlines, {len(errors)} errors, "
        f"fds {baseline} -> {after}, {elapsed:.2f} s",
    )


async def test_soak_connect_close_cycles(runtime, net, load_server):
    async def cycle(i: int) -> None:
        async with netbase.timeout(10.0):
            stream = await net.connect(load_server.host, load_server.port)
            try:
                message = i.to_bytes(4, "big")
                await stream.write(message)
                assert await read_exactly(stream, 4) == message
            finally:
                await stream.close()

    for i in range(200):  # warm up: caches, allocator arenas, first imports
        await cycle(i)
    assert load_server.wait_active(0, 10.0)
    gc.collect()
    fds_before, rss_before = open_fds(), rss()
    started = time.monotonic()
    for i in range(CYCLES):
        await cycle(i)
        if i % 1000 == 999:  # the server must keep up, or fds pile up on its side
            assert load_server.wait_active(0, 10.0)
    elapsed = time.monotonic() - started
    fds_after = await settle(runtime, load_server, fds_before)
    rss_after = rss()
    assert fds_after <= fds_before, f"descriptors: {fds_before} before, {fds_after} after"
    if not keeps_traffic(runtime):
        assert rss_after - rss_before < RSS_GROWTH_LIMIT, (rss_before, rss_after)
    figures.note(
        "soak",
        f"{runtime.name}: {CYCLES} connect/echo/close cycles in {elapsed:.1f} s, "
        f"fds {fds_before} -> {fds_after}, RSS {rss_before >> 20} -> {rss_after >> 20} MiB",
    )


async def test_soak_tls_connect_close_cycles(runtime, net, fault_peer, server_context, ca):
    """TLS streams opened and closed over and over: nothing of the TLS layers may linger."""
    # A stdlib context trusting the test CA: the point is the stream's TLS
    # layers, not the system's trust store.
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    # The fault peer with no fault: a TLS echo that sends with TCP_NODELAY, so
    # a cycle is not 40 ms of Nagle waiting on a delayed ACK after the tickets.
    tls_echo_server = fault_peer(Scenario("tls-echo", tls=server_context)).server

    async def cycle(i: int) -> None:
        async with netbase.timeout(10.0):
            stream = await net.connect(tls_echo_server.host, tls_echo_server.port)
            try:
                await stream.start_tls(ctx, hostname="localhost")
                message = i.to_bytes(4, "big")
                await stream.write(message)
                assert await read_exactly(stream, 4) == message
            finally:
                await stream.close()

    for i in range(20):
        await cycle(i)
    assert tls_echo_server.wait_idle(10.0)
    gc.collect()
    fds_before, rss_before = open_fds(), rss()
    started = time.monotonic()
    for i in range(TLS_CYCLES):
        await cycle(i)
    elapsed = time.monotonic() - started
    assert tls_echo_server.wait_idle(10.0)
    gc.collect()
    fds_after, rss_after = open_fds(), rss()
    assert fds_after <= fds_before, f"descriptors: {fds_before} before, {fds_after} after"
    if not keeps_traffic(runtime):
        assert rss_after - rss_before < RSS_GROWTH_LIMIT, (rss_before, rss_after)
    figures.note(
        "soak",
        f"{runtime.name}: {TLS_CYCLES} TLS connect/handshake/echo/close cycles in {elapsed:.1f} s, "
        f"fds {fds_before} -> {fds_after}, RSS {rss_before >> 20} -> {rss_after >> 20} MiB",
    )


async def test_soak_long_lived_stream(runtime, net, load_server):
    pattern = random.Random(7).randbytes(CHUNK)
    await warm_up(runtime, net, load_server)
    fds_before = open_fds()
    async with await net.connect(load_server.host, load_server.port) as stream:
        moved = 0
        started = time.monotonic()
        rss_before = None
        while moved < STREAM_BYTES:
            # Rotate the pattern so a stuck or replayed chunk cannot match.
            shift = (moved // CHUNK) % 251
            chunk = pattern[shift:] + pattern[:shift]
            async with netbase.timeout(30.0):
                await stream.write(chunk)
                assert await read_exactly(stream, CHUNK) == chunk
            moved += CHUNK
            if rss_before is None and moved >= 16 * CHUNK:
                gc.collect()
                rss_before = rss()  # after warm-up: buffers reached their size
        elapsed = time.monotonic() - started
        rss_after = rss()
    assert rss_before is not None
    if not keeps_traffic(runtime):
        assert rss_after - rss_before < RSS_GROWTH_LIMIT, (rss_before, rss_after)
    fds_after = await settle(runtime, load_server, fds_before)
    assert fds_after <= fds_before, f"{fds_before} before, {fds_after} after: {describe_fds()}"
    figures.note(
        "soak",
        f"{runtime.name}: one stream echoed {moved >> 20} MiB in {elapsed:.1f} s "
        f"({moved / elapsed / (1 << 20):.0f} MiB/s each way), "
        f"RSS {rss_before >> 20} -> {rss_after >> 20} MiB",
    )
