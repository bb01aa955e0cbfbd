"""Fixtures for the hostile-network tests: fault peers, file limits, figures.

The top-level conftest gives the ``runtime`` parametrization, ``net``, the
loopback servers, the certificates and the leak check; this one adds what only
these tests need and prints their figures at the end of the run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import figures
import pytest
from faultpeer import FaultPeer, Scenario
from hypothesis import settings
from loadserver import LoadEchoServer
from matrixpeer import MatrixPeer

# Enough descriptors for the load test: 1,000 client and 1,000 server sockets,
# plus the rest of the suite. Only the soft limit moves, never above the hard one.
WANTED_FDS = 8192

# Property tests: a few seconds per runtime in CI; NETBASE_HYPOTHESIS_EXAMPLES=500 for more.
settings.register_profile(
    "netbase",
    max_examples=int(os.environ.get("NETBASE_HYPOTHESIS_EXAMPLES", "12")),
    stateful_step_count=int(os.environ.get("NETBASE_HYPOTHESIS_STEPS", "25")),
    deadline=None,
    database=None,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "known_bug(runtimes, reason): a reported backend bug on these runtimes; deselected "
        "there unless NETBASE_RUN_KNOWN_BUGS=1",
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < WANTED_FDS:
        target = WANTED_FDS if hard == resource.RLIM_INFINITY else min(WANTED_FDS, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep reported backend bugs out of the default run, visibly (as "deselected")."""
    if os.environ.get("NETBASE_RUN_KNOWN_BUGS") == "1":
        return
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("known_bug")
        runtime = getattr(item, "callspec", None) and item.callspec.params.get("runtime")
        # The recording wrappers inherit the bugs of the runtime they wrap.
        base = runtime.name.removeprefix("recording-") if runtime is not None else None
        if marker and base in marker.args[0]:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = figures.summary()
    if lines:
        terminalreporter.section("hostile network figures")
        for line in lines:
            terminalreporter.write_line(line)


@contextlib.contextmanager
def started_peers(make: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """Start peers with ``make`` for the test; closed (once idle) when it ends."""
    peers: list[Any] = []

    def start(*args: Any, **kwargs: Any) -> Any:
        peer = make(*args, **kwargs)
        peers.append(peer)
        return peer

    try:
        yield start
    finally:
        for peer in peers:
            peer.close()
    errors = [err for peer in peers for err in peer.server.errors]
    assert not errors, f"a peer failed: {errors!r}"


@pytest.fixture
def fault_peer() -> Iterator[Callable[[Scenario], FaultPeer]]:
    """Start fault peers for the test; closed (once idle) when it ends."""
    with started_peers(FaultPeer) as start:
        yield start


@pytest.fixture
def matrix_peer(server_context: ssl.SSLContext) -> Iterator[Callable[..., MatrixPeer]]:
    """Start failure-matrix peers: ``matrix_peer(layers, fault, at="idle")``."""
    with started_peers(functools.partial(MatrixPeer, server_context)) as start:
        yield start


@pytest.fixture
def load_server() -> Iterator[LoadEchoServer]:
    """An asyncio echo server in a thread, for thousands of connections."""
    server = LoadEchoServer()
    yield server
    server.close()
