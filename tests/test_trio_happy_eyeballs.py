"""trio only: the Happy Eyeballs race, deterministic, on trio's MockClock.

Each attempt is replaced by a scripted one (how long it takes, whether it
connects) and the clock jumps whenever every task waits, so the stagger, the
early start after a failure, the winner and the losers are checked exactly,
with no network. The same pattern as trio's own ``open_tcp_stream`` tests.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
import trio
import trio.testing

import netbase
from netbase_trio import _connect

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

pytestmark = pytest.mark.runtimes("trio")


class FakeSocket:
    def __init__(self, address: str) -> None:
        self.address = address
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Script:
    """address -> (seconds to answer, connects?)."""

    def __init__(self, plan: dict[str, tuple[float, bool]]) -> None:
        self.plan = plan
        self.started: list[tuple[str, float]] = []
        self.sockets: list[FakeSocket] = []

    async def attempt(self, address: str, port: int, local_address: Any, options: Any) -> Any:
        self.started.append((address, trio.current_time()))
        delay, ok = self.plan[address]
        sock = FakeSocket(address)
        self.sockets.append(sock)
        try:
            await trio.sleep(delay)
        except BaseException:
            sock.close()
            raise
        if not ok:
            sock.close()
            raise ConnectionRefusedError(111, "Connection refused")
        return sock


def race(
    monkeypatch: pytest.MonkeyPatch,
    script: Script,
    addresses: list[str],
    delay: float | None = 0.25,
) -> tuple[Any, float]:
    monkeypatch.setattr(_connect, "_attempt", script.attempt)

    async def main() -> tuple[Any, float]:
        sock, address = await _connect.open_tcp_socket(
            "host.test",
            80,
            addresses,
            local_address=None,
            socket_options=(),
            happy_eyeballs_delay=delay,
        )
        assert address == sock.address  # the backend shows it in the stream's repr
        return sock, trio.current_time()

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_interleaved_and_staggered_first_success_wins(runtime, monkeypatch):
    script = Script({a: (10.0, True) for a in ("::1", "::2", "10.0.0.1", "10.0.0.2")})
    sock, done = race(monkeypatch, script, ["::1", "::2", "10.0.0.1", "10.0.0.2"])
    assert script.started == [("::1", 0.0), ("10.0.0.1", 0.25), ("::2", 0.5), ("10.0.0.2", 0.75)]
    assert sock.address == "::1"
    assert not sock.closed
    assert done == 10.0
    assert all(s.closed for s in script.sockets if s is not sock)  # losers closed


def test_a_failure_starts_the_next_attempt_at_once(runtime, monkeypatch):
    script = Script({"::1": (0.1, False), "10.0.0.1": (0.05, True)})
    sock, done = race(monkeypatch, script, ["::1", "10.0.0.1"])
    assert script.started == [("::1", 0.0), ("10.0.0.1", 0.1)]
    assert sock.address == "10.0.0.1"
    assert done == pytest.approx(0.15)


def test_a_later_attempt_can_win(runtime, monkeypatch):
    script = Script({"::1": (5.0, True), "10.0.0.1": (0.1, True)})
    sock, done = race(monkeypatch, script, ["::1", "10.0.0.1"])
    assert sock.address == "10.0.0.1"
    assert done == pytest.approx(0.35)
    assert script.sockets[0].closed


def test_no_delay_means_one_after_another(runtime, monkeypatch):
    script = Script({"::1": (3.0, False), "10.0.0.1": (1.0, True)})
    sock, done = race(monkeypatch, script, ["::1", "10.0.0.1"], delay=None)
    assert script.started == [("::1", 0.0), ("10.0.0.1", 3.0)]
    assert sock.address == "10.0.0.1"
    assert done == 4.0


def test_all_failing_names_every_attempt(runtime, monkeypatch):
    script = Script({"::1": (0.1, False), "10.0.0.1": (0.2, False)})
    with pytest.raises(netbase.ConnectError, match="all 2 attempts failed") as info:
        race(monkeypatch, script, ["::1", "10.0.0.1"])
    group = info.value.__cause__
    assert isinstance(group, BaseExceptionGroup)  # every failure kept, as trio keeps them
    assert [type(e) for e in group.exceptions] == [ConnectionRefusedError] * 2
    assert all(s.closed for s in script.sockets)


def test_cancelled_after_the_win_while_a_loser_ends_closes_the_winner(runtime, monkeypatch):
    """The winner is in hand, a loser takes its time to end, and an enclosing scope is
    cancelled meanwhile: the winner's socket is closed, not dropped."""
    script = Script({"::1": (60.0, True), "10.0.0.1": (0.1, True)})

    async def slow_to_end(address: str, port: int, local_address: Any, options: Any) -> Any:
        try:
            return await script.attempt(address, port, local_address, options)
        except trio.Cancelled:
            with trio.CancelScope(shield=True):
                await trio.sleep(1.0)  # e.g. a slow close: the nursery waits for it
            raise

    monkeypatch.setattr(_connect, "_attempt", slow_to_end)

    async def main() -> None:
        with trio.move_on_after(0.5) as scope:  # lands while the loser ends (0.35 to 1.35)
            await _connect.open_tcp_socket(
                "host.test",
                80,
                ["::1", "10.0.0.1"],
                local_address=None,
                socket_options=(),
                happy_eyeballs_delay=0.25,
            )
        assert scope.cancelled_caught

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert [s.address for s in script.sockets] == ["::1", "10.0.0.1"]
    assert all(s.closed for s in script.sockets)  # the winner (10.0.0.1) too


def test_the_whole_race_is_under_one_deadline(runtime, monkeypatch):
    import netbase_trio

    script = Script({"::1": (60.0, True), "10.0.0.1": (60.0, True)})
    monkeypatch.setattr(_connect, "_attempt", script.attempt)

    class Resolver:
        async def resolve(self, host: str, port: int) -> list[str]:
            await trio.sleep(0.5)
            return ["::1", "10.0.0.1"]

    async def main() -> None:
        net = netbase_trio.NetworkBackend(resolver=Resolver())
        with pytest.raises(netbase.ConnectTimeout):
            async with netbase.timeout(2.0):
                await net.connect("host.test", 80)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert [a for a, _ in script.started] == ["::1", "10.0.0.1"]
    assert all(s.closed for s in script.sockets)
