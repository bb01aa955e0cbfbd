"""Fixtures for the conformance suite: runtimes, loopback servers, certificates, leak checks.

Choose runtimes with ``--runtime NAME`` (repeatable) or ``NETBASE_RUNTIMES=a,b``.
Without either, every runtime whose package is installed runs. A runtime named
explicitly but not installed is an error, never a silent skip.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

import servers
from drivers import DRIVERS, Driver, is_async_test

# Test modules about one package are left out of collection (not skipped)
# in sessions that do not install it: each nox session installs one runtime.
_MODULE_NEEDS = {
    "test_asyncio_*.py": "netbase_asyncio",
    "test_trio_*.py": "netbase_trio",
    "test_recording_*.py": "netbase_recording",
    "test_threaded.py": "netbase_threaded",
}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


collect_ignore_glob = [
    pattern for pattern, module in _MODULE_NEEDS.items() if not _installed(module)
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runtime",
        action="append",
        default=[],
        help=f"run the conformance suite on this runtime ({', '.join(DRIVERS)}); repeatable",
    )


def selected_drivers(config: pytest.Config) -> list[Driver]:
    names: list[str] = list(config.getoption("--runtime"))
    if not names and os.environ.get("NETBASE_RUNTIMES"):
        names = [n.strip() for n in os.environ["NETBASE_RUNTIMES"].split(",") if n.strip()]
    if names:
        unknown = [n for n in names if n not in DRIVERS]
        if unknown:
            raise pytest.UsageError(f"unknown runtime(s) {unknown}; known: {list(DRIVERS)}")
        missing = [n for n in names if not DRIVERS[n].available()]
        if missing:
            raise pytest.UsageError(f"runtime(s) {missing} asked for but not installed")
        return [DRIVERS[n] for n in names]
    return [d for d in DRIVERS.values() if d.available()]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sync_only: the test is about threads, not tasks")
    config.addinivalue_line("markers", "async_only: the test is about tasks (cancellation...)")
    config.addinivalue_line("markers", "runtimes(*names): run only on these runtimes")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "runtime" not in metafunc.fixturenames:
        return
    drivers = selected_drivers(metafunc.config)
    if metafunc.definition.get_closest_marker("sync_only"):
        drivers = [d for d in drivers if d.flavour == "sync"]
    if metafunc.definition.get_closest_marker("async_only"):
        drivers = [d for d in drivers if d.flavour == "async"]
    only = metafunc.definition.get_closest_marker("runtimes")
    if only:
        drivers = [d for d in drivers if d.name in only.args]
    if drivers:
        metafunc.parametrize("runtime", drivers, ids=[d.name for d in drivers])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect runtime tests left with no runtime (async-only tests in a threaded run).

    They are not skipped: a skip would read as a missing feature. They run in
    the sessions of the runtimes they are for.
    """
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        needs_runtime = "runtime" in getattr(item, "fixturenames", ())
        if needs_runtime and (callspec is None or "runtime" not in callspec.params):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what collection made (modules, fixtures, parameters) out of the collector's way.

    The leak check collects garbage around every test so that a stream dropped
    without `close()` warns in the test that dropped it. A full collection walks
    every object the interpreter holds, tens of thousands after importing the
    suite, trio and hypothesis: tens of milliseconds per test, minutes per
    session. Frozen objects are never scanned again; what the tests make still is.
    """
    gc.collect()
    gc.freeze()


def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests on the runtime they are parametrized with."""
    if not is_async_test(pyfuncitem.obj):
        return None
    driver: Driver = pyfuncitem.funcargs["runtime"]
    argnames = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in argnames}
    driver.run(pyfuncitem.obj, **kwargs)
    return True


# -- certificates -------------------------------------------------------------


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """The servers' TLS context: a certificate for localhost and the loopback IPs."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1", "::1", "tls.test").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="session")
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """What a user would build: the default context, trusting the test CA."""
    import netbase

    ctx = netbase.default_ssl_context()
    ca.configure_trust(ctx)
    return ctx


# -- servers ----------------------------------------------------------------

_servers: list[servers.Server] = []


def _server(handler: servers.Handler, **kwargs: Any) -> servers.Server:
    server = servers.Server(handler, **kwargs)
    _servers.append(server)
    return server


@pytest.fixture(scope="session")
def echo_server() -> Iterator[servers.Server]:
    server = _server(servers.echo, name="echo")
    yield server
    server.close()


@pytest.fixture(scope="session")
def echo_server_v6() -> Iterator[servers.Server]:
    server = _server(servers.echo, family=socket.AF_INET6, name="echo6")
    yield server
    server.close()


@pytest.fixture(scope="session")
def tls_echo_server(server_context: ssl.SSLContext) -> Iterator[servers.Server]:
    server = _server(servers.echo, tls=server_context, name="tls-echo")
    yield server
    server.close()


@pytest.fixture(scope="session")
def silent_server() -> Iterator[servers.Server]:
    server = _server(servers.silent, name="silent")
    yield server
    server.close()


@pytest.fixture(scope="session")
def tls_silent_server(server_context: ssl.SSLContext) -> Iterator[servers.Server]:
    server = _server(servers.silent, tls=server_context, name="tls-silent")
    yield server
    server.close()


@pytest.fixture(scope="session")
def reset_server() -> Iterator[servers.Server]:
    """Reads 5 bytes, then resets the connection."""
    server = _server(servers.reset_after(5), name="reset")
    yield server
    server.close()


@pytest.fixture(scope="session")
def handshake_close_server() -> Iterator[servers.Server]:
    server = _server(servers.close_mid_handshake, name="handshake-close")
    yield server
    server.close()


@pytest.fixture(scope="session")
def garbage_server() -> Iterator[servers.Server]:
    server = _server(servers.garbage_hello, name="garbage")
    yield server
    server.close()


@pytest.fixture(scope="session")
def tls_relay(
    server_context: ssl.SSLContext, tls_echo_server: servers.Server
) -> Iterator[servers.Server]:
    """TLS to the relay, then a tunnel to the TLS echo server: for TLS inside TLS."""
    server = _server(
        servers.relay_to((tls_echo_server.host, tls_echo_server.port)),
        tls=server_context,
        name="tls-relay",
    )
    yield server
    server.close()


@pytest.fixture
def full_backlog() -> Iterator[tuple[str, int]]:
    with servers.full_backlog() as address:
        yield address


@pytest.fixture
def unix_echo_server() -> Iterator[servers.Server]:
    with tempfile.TemporaryDirectory() as directory:
        server = _server(servers.echo, unix_path=os.path.join(directory, "echo.sock"), name="unix")
        yield server
        server.close()


@pytest.fixture
def net(runtime: Driver) -> Any:
    """A default backend of the runtime under test (async interface)."""
    return runtime.backend()


# -- nothing leaks --------------------------------------------------------------


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def _test_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if not t.name.startswith("test-")}


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a file descriptor or a thread behind.

    Servers count their live connections; a connection the client never closed
    keeps its server handler alive, so waiting for the servers to go idle
    catches unclosed client sockets even before counting descriptors.
    """
    # Fixtures the test uses are set up before this runs its body, so their
    # descriptors (listeners, pipes) are in the baseline.
    gc.collect()
    before_fds = _open_fds()
    before_threads = _test_threads()
    yield
    busy = [s.name for s in _servers if not s.wait_idle(5.0)]
    gc.collect()
    deadline = time.monotonic() + 2.0
    while True:
        leaked = _open_fds() - before_fds
        new_threads = {t for t in _test_threads() - before_threads if t.is_alive()}
        if (not leaked and not new_threads) or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    problems = []
    if busy:
        problems.append(f"servers still serving a connection: {busy}")
    # A descriptor gone by the time it is described was another thread's passing
    # one (a resolver thread reading /etc/hosts, a server closing): not a leak.
    described = {fd: _describe(fd) for fd in sorted(leaked)}
    described = {fd: what for fd, what in described.items() if what is not None}
    if described:
        problems.append(f"file descriptors leaked: {described}")
    if new_threads:
        problems.append(f"threads left running: {sorted(t.name for t in new_threads)}")
    for server in _servers:
        if server.errors:
            problems.append(f"server {server.name} failed: {server.errors!r}")
            server.errors.clear()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def _describe(fd: int) -> str | None:
    """What the descriptor is open on, or None if it is closed now."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
