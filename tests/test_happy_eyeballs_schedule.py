"""The Happy Eyeballs policy (RFC 8305), on a fake clock, with no I/O.

Every runtime's ``connect`` carries out the decisions of one object in the
core, ``netbase._happy_eyeballs.HappyEyeballs``: which attempt starts when,
who wins, what is cancelled, what the error says. These tests drive it
exactly, once, for every runtime: a small discrete-event loop plays each
address's scripted outcome (how long its connect takes, whether it connects)
and jumps the clock to the next event, as trio's ``MockClock`` would. The
wall-clock tests in ``test_options_happy_eyeballs.py`` then check, on each
runtime, that real sockets follow the same decisions.
"""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

import netbase
from netbase._happy_eyeballs import HappyEyeballs, connect_failed, connection_targets

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

HOST, PORT = "eyeballs.test", 443
AT_ONCE = 0.0  # a connect that fails as it starts (connect_ex refused, bad socket option)
NEVER = math.inf  # a black hole: SYNs dropped, the attempt never ends


@dataclass
class Outcome:
    """What the race did: who started when, who won, what the runtime must cancel or close."""

    started: list[tuple[str, float]] = field(default_factory=list)
    winner: str | None = None
    won_at: float | None = None
    cancelled: list[str] = field(default_factory=list)  # in flight when the race was won
    late: list[str] = field(default_factory=list)  # connected after the winner: closed
    error: netbase.ConnectError | None = None
    timed_out: bool = False  # the runtime's deadline ended the race


def run_race(
    answer: list[str],
    plan: dict[str, tuple[float, bool]],
    delay: float | None = 0.25,
    deadline: float = math.inf,
) -> Outcome:
    """Run the race as a runtime does, on a fake clock.

    ``plan`` maps an address to (seconds its connect takes, whether it
    connects); ``answer`` is the resolver's answer, ordered by the core as
    every backend orders it. The deadline is the runtime's: at it, what is in
    flight is cancelled.
    """
    targets = connection_targets(HOST, PORT, answer, None)
    race = HappyEyeballs(targets, delay, 0.0)
    now = 0.0
    ends: dict[int, float] = {}  # attempt in flight -> when its connect ends
    out = Outcome()

    def end(attempt: int) -> None:
        del ends[attempt]
        address = targets[attempt]
        if plan[address][1]:
            if race.connected(attempt, address):
                out.winner, out.won_at = address, round(now, 9)
            else:
                out.late.append(address)
        else:
            race.failed(attempt, ConnectionRefusedError(111, f"refused by {address}"), now)

    while not race.done():
        while (attempt := race.start(now)) is not None:
            address = targets[attempt]
            out.started.append((address, round(now, 9)))
            took = plan[address][0]
            ends[attempt] = now + took
            if took == AT_ONCE:
                end(attempt)  # reported as it starts, before the next start()
        if race.done():
            break
        now = min(race.wake_at, min(ends.values(), default=math.inf), deadline)
        assert now < math.inf, "the race waits for nothing: it would never end"
        if now == deadline:
            out.timed_out = True
            break
        for attempt in sorted(ends, key=lambda a: (ends[a], a)):
            if ends[attempt] == now:
                end(attempt)
    out.cancelled = [targets[a] for a in sorted(race.in_flight)]
    assert set(race.in_flight) == set(ends)  # exactly what is still connecting
    if out.timed_out:
        assert race.winner is None
    elif race.winner is None:
        out.error = race.error(HOST, PORT)
    else:
        assert race.result(HOST, PORT) == (out.winner, out.winner)
    return out


def ok(seconds: float) -> tuple[float, bool]:
    return (seconds, True)


def refused(seconds: float) -> tuple[float, bool]:
    return (seconds, False)


HANG = (NEVER, False)


# -- RFC 8305 section 4: the order of attempts ----------------------------------------


def test_families_alternate_starting_with_the_resolvers_first():
    answer = ["2001:db8::1", "2001:db8::2", "192.0.2.1", "192.0.2.2"]
    out = run_race(answer, dict.fromkeys(answer, HANG) | {"192.0.2.2": ok(1.0)})
    assert out.started == [
        ("2001:db8::1", 0.0),
        ("192.0.2.1", 0.25),
        ("2001:db8::2", 0.5),
        ("192.0.2.2", 0.75),
    ]
    assert (out.winner, out.won_at) == ("192.0.2.2", 1.75)


def test_an_ipv4_first_answer_starts_with_ipv4():
    answer = ["192.0.2.1", "192.0.2.2", "2001:db8::1"]
    out = run_race(answer, dict.fromkeys(answer, HANG) | {"192.0.2.2": ok(0.0001)})
    assert [a for a, _ in out.started] == ["192.0.2.1", "2001:db8::1", "192.0.2.2"]


# -- RFC 8305 section 5: the Connection Attempt Delay ---------------------------------


def test_one_attempt_per_delay_while_none_ends():
    answer = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    out = run_race(answer, dict.fromkeys(answer, HANG) | {"192.0.2.3": ok(0.1)}, delay=0.3)
    assert out.started == [("192.0.2.1", 0.0), ("192.0.2.2", 0.3), ("192.0.2.3", 0.6)]
    assert out.won_at == pytest.approx(0.7)


def test_a_failure_of_the_latest_attempt_starts_the_next_at_once():
    out = run_race(
        ["2001:db8::1", "192.0.2.1"], {"2001:db8::1": refused(0.1), "192.0.2.1": ok(0.05)}
    )
    assert out.started == [("2001:db8::1", 0.0), ("192.0.2.1", 0.1)]
    assert out.won_at == pytest.approx(0.15)


def test_a_late_failure_of_the_latest_starts_the_next_while_an_earlier_one_hangs():
    answer = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    plan = {"192.0.2.1": HANG, "192.0.2.2": refused(0.05), "192.0.2.3": ok(0.01)}
    out = run_race(answer, plan, delay=0.3)
    assert out.started == [("192.0.2.1", 0.0), ("192.0.2.2", 0.3), ("192.0.2.3", 0.35)]
    assert out.winner == "192.0.2.3"
    assert out.cancelled == ["192.0.2.1"]


def test_a_failure_of_an_earlier_attempt_leaves_the_latest_its_delay():
    """The delay gives the latest attempt time: an older one failing does not cut it short."""
    answer = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    plan = {"192.0.2.1": refused(0.3), "192.0.2.2": HANG, "192.0.2.3": ok(0.01)}
    out = run_race(answer, plan)
    assert out.started == [("192.0.2.1", 0.0), ("192.0.2.2", 0.25), ("192.0.2.3", 0.5)]


def test_a_failure_as_it_starts_starts_the_next_in_the_same_instant():
    answer = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    plan = {"192.0.2.1": refused(AT_ONCE), "192.0.2.2": refused(AT_ONCE), "192.0.2.3": ok(0.2)}
    out = run_race(answer, plan, delay=10.0)
    assert out.started == [("192.0.2.1", 0.0), ("192.0.2.2", 0.0), ("192.0.2.3", 0.0)]
    assert out.won_at == pytest.approx(0.2)


def test_no_delay_means_one_address_after_another():
    answer = ["2001:db8::1", "192.0.2.1"]
    out = run_race(answer, {"2001:db8::1": refused(3.0), "192.0.2.1": ok(1.0)}, delay=None)
    assert out.started == [("2001:db8::1", 0.0), ("192.0.2.1", 3.0)]
    assert out.won_at == 4.0


def test_no_delay_and_a_black_hole_waits_for_the_deadline():
    race = HappyEyeballs(["192.0.2.1", "192.0.2.2"], None, 0.0)
    assert race.start(0.0) == 0
    assert race.start(1e9) is None  # however long it takes: only the deadline ends it
    assert race.wake_at == math.inf
    assert not race.done()


def test_a_zero_delay_starts_every_attempt_at_once():
    answer = ["192.0.2.1", "2001:db8::1", "192.0.2.2"]
    out = run_race(answer, dict.fromkeys(answer, HANG) | {"192.0.2.2": ok(0.01)}, delay=0)
    assert [t for _, t in out.started] == [0.0, 0.0, 0.0]
    assert out.cancelled == ["192.0.2.1", "2001:db8::1"]


# -- RFC 8305 section 5: the first success wins ---------------------------------------


def test_the_first_to_connect_wins_and_the_rest_are_cancelled_or_never_started():
    answer = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]
    plan = {"192.0.2.1": HANG, "192.0.2.2": ok(0.1), "192.0.2.3": ok(0.01), "192.0.2.4": ok(0.01)}
    out = run_race(answer, plan)
    assert (out.winner, out.won_at) == ("192.0.2.2", pytest.approx(0.35))
    assert out.cancelled == ["192.0.2.1"]  # in flight: the runtime cancels it
    assert [a for a, _ in out.started] == ["192.0.2.1", "192.0.2.2"]  # never started


def test_a_later_attempt_can_win():
    out = run_race(["2001:db8::1", "192.0.2.1"], {"2001:db8::1": ok(5.0), "192.0.2.1": ok(0.1)})
    assert (out.winner, out.won_at) == ("192.0.2.1", pytest.approx(0.35))
    assert out.cancelled == ["2001:db8::1"]


def test_two_connecting_in_the_same_instant_one_wins_the_other_is_closed():
    answer = ["192.0.2.1", "192.0.2.2"]
    out = run_race(answer, {"192.0.2.1": ok(0.5), "192.0.2.2": ok(0.25)}, delay=0.25)
    assert out.winner == "192.0.2.1"  # reported first
    assert out.late == ["192.0.2.2"]
    assert out.cancelled == []


def test_after_the_win_nothing_changes():
    race = HappyEyeballs(["192.0.2.1", "192.0.2.2", "192.0.2.3"], 0.0, 0.0)
    assert [race.start(0.0), race.start(0.0), race.start(0.0)] == [0, 1, 2]
    assert race.connected(1, "second")
    assert race.done()
    assert race.in_flight == frozenset({0, 2})
    race.failed(0, ConnectionResetError(), 0.1)  # a loser ending is not a failure of the race
    assert not race.connected(2, "third")
    assert race.failures == []
    assert (race.winner, race.in_flight, race.wake_at) == (1, frozenset(), math.inf)
    assert race.start(5.0) is None


def test_the_same_address_twice_is_two_attempts():
    race = HappyEyeballs(["192.0.2.1", "192.0.2.1"], 0.25, 0.0)
    assert race.start(0.0) == 0
    assert race.start(0.25) == 1
    race.failed(0, ConnectionRefusedError(), 0.3)
    assert race.connected(1, "second")
    assert race.winner == 1
    assert race.result(HOST, PORT) == ("second", "192.0.2.1")


# -- every attempt failed: one ConnectError, every failure kept -----------------------


def test_every_failure_is_kept_in_the_order_of_the_attempts():
    answer = ["2001:db8::1", "192.0.2.1", "192.0.2.2"]
    # They fail in another order than they started: 192.0.2.1 first.
    plan = {"2001:db8::1": refused(0.4), "192.0.2.1": refused(0.1), "192.0.2.2": refused(0.1)}
    out = run_race(answer, plan)
    error = out.error
    assert isinstance(error, netbase.ConnectError)
    assert (error.host, error.port) == (HOST, PORT)
    message = str(error)
    assert message.startswith(f"{HOST}:{PORT}: all 3 attempts failed")
    order = ["[2001:db8::1]:443", "192.0.2.1:443", "192.0.2.2:443"]
    assert [message.find(a) for a in order] == sorted(message.find(a) for a in order)
    group = error.__cause__
    assert isinstance(group, BaseExceptionGroup)
    assert [str(e) for e in group.exceptions] == [
        f"[Errno 111] refused by {a}" for a in ["2001:db8::1", "192.0.2.1", "192.0.2.2"]
    ]
    assert all(isinstance(e, ConnectionRefusedError) for e in group.exceptions)
    assert f"{HOST}:{PORT}" in str(group)


def test_the_result_of_a_lost_race_is_the_error():
    race = HappyEyeballs(["192.0.2.1", "2001:db8::1"], 0.25, 0.0)
    assert race.start(0.0) == 0
    race.failed(0, ConnectionRefusedError(111, "refused"), 0.1)
    assert race.start(0.1) == 1  # the latest failed: the next at once
    race.failed(1, OSError(101, "Network is unreachable"), 0.2)
    assert race.done()
    with pytest.raises(netbase.ConnectError, match="all 2 attempts failed") as info:
        race.result(HOST, PORT)
    assert [e.errno for e in info.value.__cause__.exceptions] == [111, 101]


def test_one_failed_attempt_is_the_cause_itself():
    cause = ConnectionRefusedError(111, "Connection refused")
    error = connect_failed(HOST, PORT, [("192.0.2.1", cause)])
    assert error.__cause__ is cause
    assert str(error) == f"{HOST}:{PORT}: [Errno 111] Connection refused"


# -- properties over any answer and any outcomes --------------------------------------

_v4 = st.ip_addresses(v=4).map(str)
_v6 = st.ip_addresses(v=6).map(str)
_outcome = st.tuples(
    st.one_of(st.just(AT_ONCE), st.just(NEVER), st.integers(1, 40).map(lambda n: n / 20)),
    st.booleans(),
).map(lambda o: HANG if o[0] == NEVER else o)


@given(
    answer=st.lists(st.one_of(_v4, _v6), unique=True, min_size=1, max_size=8),
    outcomes=st.lists(_outcome, min_size=8, max_size=8),
    delay=st.one_of(st.none(), st.sampled_from([0.0, 0.1, 0.25, 0.3])),
)
def test_race_properties(answer, outcomes, delay):
    plan = dict(zip(answer, outcomes[: len(answer)], strict=True))
    out = run_race(answer, plan, delay, deadline=100.0)
    targets = connection_targets(HOST, PORT, answer, None)
    started = [a for a, _ in out.started]
    times = [t for _, t in out.started]
    assert started == targets[: len(started)]  # in RFC 8305 order, none skipped
    assert times == sorted(times)
    if delay is not None:  # never more than one delay between two starts
        assert all(b - a <= delay + 1e-9 for a, b in itertools.pairwise(times))
    if out.timed_out:
        assert out.winner is None
        assert NEVER in [plan[a][0] for a in started]  # only a black hole lasts that long
        assert all(plan[a] == HANG or a not in out.cancelled for a in started)
    elif out.winner is None:
        assert started == targets  # every address was tried...
        assert out.error is not None
        assert isinstance(out.error.__cause__, (OSError, BaseExceptionGroup))
        assert out.cancelled == []  # ...and every attempt is over
    else:
        assert out.error is None
        # Whoever connected first in time won; nothing started after the win.
        assert out.won_at == pytest.approx(
            min(t + plan[a][0] for a, t in out.started if plan[a][1])
        )
        assert all(t <= out.won_at for t in times)
        assert out.winner not in out.cancelled
        assert out.winner not in out.late
