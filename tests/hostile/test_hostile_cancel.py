"""Cancellation storms: tasks cancelled at random points of every operation.

Hundreds of tasks run ``connect``, ``start_tls``, ``read``, ``write`` and
``close`` (plain and TLS) at once, and each is cancelled after a random delay:
before it starts, in the middle, or after it is done. The contract:

- cancellation is never converted (no NetworkError in place of
  ``CancelledError`` / ``trio.Cancelled``) and never swallowed;
- nothing leaks: no socket, transport or task (the leak check and the asyncio
  driver's pending-task check run after the test);
- every stream is closable afterwards, and says so.

The seed is printed in the figures; NETBASE_STORM_SEED replays one storm and
NETBASE_STORM_JOBS makes it bigger.
"""

from __future__ import annotations

import collections
import os
import random
import socket
import ssl

import figures
import pytest
from faultpeer import Scenario
from hostile_util import is_closed

import netbase
from drivers import TrioDriver

OPS = ["connect", "start_tls", "read", "write", "close"]
JOBS_PER_OP = int(os.environ.get("NETBASE_STORM_JOBS", "40"))
# Writes go to peers that never read, through a small send buffer: a write of
# BIG_WRITE always has to wait, so the cancellation lands in the middle of it.
BIG_WRITE = 1 << 20
SMALL_BUFFERS = [(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)]


def random_delay(rng: random.Random) -> float:
    """Mostly short: cancellation lands before the start, inside, or after the op."""
    return rng.choice(
        [
            0.0,
            rng.uniform(0, 0.0005),
            rng.uniform(0, 0.003),
            rng.uniform(0, 0.02),
            rng.uniform(0, 0.2),
        ]
    )


class Storm:
    def __init__(self, runtime, net, load_server, peers, client_context, backlog, seed):
        self.runtime = runtime
        self.net = net
        self.plain = (load_server.host, load_server.port)
        self.tls = (peers["tls"].host, peers["tls"].port)
        self.sinks = {
            tls: (peers[name].host, peers[name].port)
            for tls, name in ((False, "sink"), (True, "tls-sink"))
        }
        self.client_context = client_context
        self.connect_targets = [self.plain, ("localhost", load_server.port), backlog]
        self.rng = random.Random(seed)
        self.streams: list = []
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.failures: list[str] = []

    def jobs(self) -> list[tuple[str, bool, float, tuple[str, int]]]:
        jobs = []
        for op in OPS:
            for _ in range(JOBS_PER_OP):
                tls = op == "start_tls" or (
                    op in ("read", "write", "close") and self.rng.random() < 0.5
                )
                target = self.rng.choice(self.connect_targets)
                jobs.append((op, tls, random_delay(self.rng), target))
        self.rng.shuffle(jobs)
        return jobs

    async def prepare(self, op: str, tls: bool):
        """The stream the operation needs, set up before any cancellation."""
        if op == "connect":
            return None
        address = self.sinks[tls] if op == "write" else (self.tls if tls else self.plain)
        async with netbase.timeout(10.0):
            stream = await self.net.connect(*address)
            self.streams.append(stream)
            if tls and op != "start_tls":
                await stream.start_tls(self.client_context, hostname="localhost")
            if op == "close":
                await stream.write(b"something to be closed over")
        return stream

    async def perform(self, op: str, stream, target) -> None:
        if op == "connect":
            new = await self.net.connect(*target)
            self.streams.append(new)
        elif op == "start_tls":
            await stream.start_tls(self.client_context, hostname="localhost")
        elif op == "read":
            data = await stream.read()
            # Nothing was sent, so nothing can come back: a read that returns
            # has turned the cancellation into an end of stream or data.
            self.failures.append(f"read returned {data!r} where it was cancelled, on {stream!r}")
        elif op == "write":
            await stream.write(b"w" * BIG_WRITE)
        elif op == "close":
            await stream.close()

    def judge(self, op: str, requested: bool, cancelled: bool, error: BaseException | None):
        if error is not None:
            how = "turned into" if requested else "failed with"
            self.failures.append(f"{op}: cancellation {how} {error!r}")
        elif cancelled:
            self.outcomes[f"{op}:cancelled"] += 1
        elif requested and not isinstance(self.runtime, TrioDriver):
            self.failures.append(f"{op}: cancellation swallowed (the task ended normally)")
        else:
            self.outcomes[f"{op}:completed-first"] += 1

    # -- asyncio (and uvloop) --------------------------------------------------------

    async def run_asyncio(self, job) -> None:
        import asyncio

        op, tls, delay, target = job
        stream = await self.prepare(op, tls)
        task = asyncio.ensure_future(self.perform(op, stream, target))
        await asyncio.sleep(delay)
        requested = task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            self.judge(op, requested, True, None)
        except Exception as exc:
            self.judge(op, requested, False, exc)
        else:
            self.judge(op, requested, False, None)

    # -- trio --------------------------------------------------------------------------

    async def run_trio(self, job) -> None:
        import trio

        op, tls, delay, target = job
        stream = await self.prepare(op, tls)
        scope = trio.CancelScope()
        errors: list[BaseException] = []

        async def body() -> None:
            try:
                with scope:
                    await self.perform(op, stream, target)
            except Exception as exc:  # anything but Cancelled, which the scope caught
                errors.append(exc)

        async def canceller() -> None:
            await trio.sleep(delay)
            scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(body)
            nursery.start_soon(canceller)
        self.judge(op, True, scope.cancelled_caught, errors[0] if errors else None)

    async def close_all(self) -> None:
        """Every stream, whatever was cancelled in it, closes, twice, and says so."""
        for stream in self.streams:
            try:
                async with netbase.timeout(5.0):
                    await stream.close()
                    await stream.close()
            except Exception as exc:
                self.failures.append(f"close after the storm raised {exc!r} on {stream!r}")
            if not is_closed(stream):
                self.failures.append(f"{stream!r} does not say it is closed")
            try:
                await stream.read()
            except netbase.ReadError:
                pass
            else:
                self.failures.append(f"read on closed {stream!r} did not raise ReadError")


@pytest.mark.async_only
async def test_cancellation_storm(
    runtime, load_server, fault_peer, server_context, ca, full_backlog
):
    seed = int(os.environ.get("NETBASE_STORM_SEED", random.randrange(2**32)))
    # A TLS echo peer that takes a few milliseconds per flight, so that random
    # cancellations land inside handshakes, not only before or after them.
    peers = {
        "tls": fault_peer(Scenario("storm-tls", tls=server_context, delay=0.03)),
        "sink": fault_peer(Scenario("storm-sink", read_input=False)),
        "tls-sink": fault_peer(Scenario("storm-tls-sink", tls=server_context, read_input=False)),
    }
    net = runtime.backend(socket_options=SMALL_BUFFERS)
    # A stdlib context trusting the test CA only: the storm is about
    # cancellation, not about where the trust comes from.
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    storm = Storm(runtime, net, load_server, peers, ctx, full_backlog, seed)
    jobs = storm.jobs()
    run = storm.run_trio if isinstance(runtime, TrioDriver) else storm.run_asyncio
    try:
        await runtime.gather(*[lambda job=job: run(job) for job in jobs])
    finally:
        await storm.close_all()
    assert not storm.failures, f"seed {seed}: {storm.failures[:10]}"
    cancelled = sum(n for key, n in storm.outcomes.items() if key.endswith(":cancelled"))
    # The storm must actually have hit operations in flight, for every kind.
    for op in OPS:
        if op != "close":  # a close can legitimately finish before any delay
            assert storm.outcomes[f"{op}:cancelled"] > 0, (op, dict(storm.outcomes))
    figures.note(
        "cancellation storm",
        f"{runtime.name}: {len(jobs)} tasks (seed {seed}), {cancelled} ended cancelled, "
        f"{len(jobs) - cancelled} finished first, {len(storm.streams)} streams closed after; "
        + ", ".join(f"{k}={v}" for k, v in sorted(storm.outcomes.items())),
    )
