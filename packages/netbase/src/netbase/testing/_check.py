"""`check_backend`: the contract's checks, clause by clause, against anyone's backend.

Each check is written once, as a coroutine over the async interface. A sync
backend is seen through a view whose methods are coroutines that call the
blocking methods straight through, and the check is stepped to its end in the
caller's thread: it never suspends, so it drives the real blocking API with the
real context variables (and so the real `netbase.timeout()` deadlines).

Every peer is a [`Server`][netbase.testing.Server] that gives up after a few
seconds of silence, so a backend that ignores a deadline is reported (it sees
an end of stream, late) instead of hanging the test run.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import importlib
import inspect
import math
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from typing import Any, NoReturn

import netbase
from netbase.testing._servers import (
    Certificates,
    Handler,
    Server,
    close_mid_handshake,
    echo,
    full_backlog,
    relay_to,
    reset_after,
    send_then_close,
    silent_for,
    unused_port,
)

CLAUSES: tuple[str, ...] = (
    "connect",
    "read",
    "write",
    "timeouts",
    "tls",
    "close",
    "extra_info",
    "unix",
)
"""Every clause [`check_backend`][netbase.testing.check_backend] knows, in the order it runs them.

- `connect`: names and IP literals, refused connections raise `ConnectError` with
  the cause, bad arguments fail with `TypeError`/`ValueError` before any I/O.
- `read`: 1 to `max_bytes` bytes, `b""` at end of stream and again after, bad
  `max_bytes`, a reset raises `ReadError` and closes the stream.
- `write`: all of `bytes`, `bytearray`, `memoryview`; `TypeError` for `str`; a
  reset raises `WriteError`.
- `timeouts`: `ReadTimeout` promptly and the stream keeps its data,
  `ConnectTimeout` promptly, an expired deadline fails before any I/O,
  `WriteTimeout` bounds the whole write and closes the stream.
- `tls`: `start_tls` in place, verification and handshake failures raise
  `ConnectError` and close the stream, TLS inside TLS.
- `close`: idempotent, a closed stream says so, `async with`/`with` closes.
- `extra_info`: `client_addr`/`server_addr` as 2-tuples (IPv6 too), `socket`,
  `ssl_object`, unknown keys, `is_readable`.
- `unix`: `connect_unix(path)` (offered by the built-in backends; not checked
  unless asked for).
"""

DEFAULT_CLAUSES = tuple(c for c in CLAUSES if c != "unix")
# Over a UNIX socket there is no host and port to prove: addresses, refusals
# and connect deadlines belong to TCP.
_UNIX_CLAUSES = ("read", "write", "timeouts", "tls", "close")
_RUNTIMES = ("threaded", "asyncio", "uvloop", "trio")

# How long a peer stays silent before it gives up and closes, and how long an
# operation under a short deadline may take before the kit calls it late. The
# margins are wide on purpose: the contract asks for tens of milliseconds, a
# loaded test machine needs seconds, and a backend that ignores the deadline
# takes the full guard.
GUARD = 6.0
PROMPT = 2.5


@dataclasses.dataclass(frozen=True)
class CheckFailure:
    """One broken check: the contract clause, the check, what was expected and what came."""

    clause: str
    check: str
    expected: str
    got: str

    def __str__(self) -> str:
        return f"[{self.clause}] {self.check}: expected {self.expected}; got {self.got}"


class ConformanceError(AssertionError):
    """A backend broke the contract: one [`CheckFailure`][netbase.testing.CheckFailure] per check.

    `failures` holds them, `passed` names the checks that held.

    The message lists them, one line each, clause first:

        [read] read_reset: expected ReadError (a reset is not an end of stream); got returned b''
    """

    def __init__(self, backend: str, failures: list[CheckFailure], passed: list[str]) -> None:
        self.failures = failures
        self.passed = passed
        lines = "\n".join(f"  {failure}" for failure in failures)
        super().__init__(
            f"{backend} broke {len(failures)} check(s) of the netbase contract "
            f"(passed {len(passed)}):\n{lines}"
        )

    @property
    def clauses(self) -> list[str]:
        """The clauses that broke, each once, in order."""
        return list(dict.fromkeys(failure.clause for failure in self.failures))


class _Fail(Exception):
    def __init__(self, expected: str, got: str) -> None:
        self.expected = expected
        self.got = got


def _fail(expected: str, got: str) -> NoReturn:
    raise _Fail(expected, got)


def _describe(value: Any, exc: BaseException | None, elapsed: float | None = None) -> str:
    after = f" after {elapsed:.2f} s" if elapsed is not None else ""
    if exc is not None:
        text = f"raised {type(exc).__name__}({str(exc)!r})"
        if isinstance(exc, netbase.NetworkError) and exc.__cause__ is None:
            text += " with no __cause__"
        return text + after
    return f"returned {value!r}"[:200] + after


@dataclasses.dataclass
class _Outcome:
    value: Any
    exc: BaseException | None
    elapsed: float

    def __str__(self) -> str:
        return _describe(self.value, self.exc, self.elapsed)

    def expect(self, exc_type: type[BaseException], expected: str) -> BaseException:
        if not isinstance(self.exc, exc_type):
            _fail(expected, str(self))
        return self.exc


def _expect_prompt(outcome: _Outcome, exc_type: type[BaseException], deadline: float) -> None:
    """`exc_type` for an operation under `timeout(deadline)`, and no later than `PROMPT` after."""
    name = exc_type.__name__
    outcome.expect(exc_type, f"{name} within {deadline} s")
    if outcome.elapsed > deadline + PROMPT:
        _fail(
            f"{name} within {deadline} s (allowing {PROMPT} s for a loaded machine)", str(outcome)
        )


async def _close_if_opened(outcome: _Outcome) -> None:
    """Close the stream a connect that should have failed returned anyway."""
    if outcome.exc is None and outcome.value is not None:
        await outcome.value.close()


async def _attempt(awaitable: Awaitable[Any]) -> _Outcome:
    start = time.monotonic()
    try:
        value = await awaitable
    except Exception as exc:  # whatever came is what the report shows
        return _Outcome(None, exc, time.monotonic() - start)
    return _Outcome(value, None, time.monotonic() - start)


# -- seeing a sync backend through the async interface ------------------------

_BLOCKING = frozenset({"connect", "connect_unix", "read", "write", "start_tls", "close"})


class _SyncView:
    """Coroutine methods over a sync backend or stream; each call runs at once, in this thread."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in _BLOCKING:
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            return _SyncView(result) if name.startswith("connect") else result

        return call

    async def __aenter__(self) -> _SyncView:
        self.inner.__enter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.inner.__exit__(*exc_info)

    def __repr__(self) -> str:
        return repr(self.inner)


def _step(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise TypeError(
        "a method of this sync backend or its streams returned something awaitable: "
        "check it with runtime='asyncio' or 'trio' (async interfaces), or make it blocking"
    )


# -- the environment a check runs in -------------------------------------------


class _Env:
    def __init__(
        self, factory: Callable[..., Any], runtime: str, unix: bool, certs: Certificates
    ) -> None:
        self.factory = factory
        self.runtime = runtime
        self.unix = unix
        self.certs = certs
        self.servers: dict[str, Server] = {}
        self.directory = tempfile.mkdtemp(prefix="netbase-testing-")
        self.release = threading.Event()

    # servers, started on first use and closed by close()

    def server(self, name: str) -> Server:
        if name == "relay":
            self.server("tls")  # the relay's far end
        if name not in self.servers:
            handler, tls = self._handlers()[name]
            kwargs: dict[str, Any] = {"tls": self.certs.server_context() if tls else None}
            if name == "echo6":
                kwargs["family"] = socket.AF_INET6
            elif self.unix or name == "unix":
                kwargs["unix_path"] = os.path.join(self.directory, f"{name}.sock")
            # The relay reads and writes its TLS socket from two threads, which
            # an SSLSocket only survives in blocking mode: no timeout on it. It
            # still ends, when its far end (guarded) gives up.
            guarded = handler if name == "relay" else _guarded(handler)
            self.servers[name] = Server(guarded, name=f"check-{name}", **kwargs)
        return self.servers[name]

    def _handlers(self) -> dict[str, tuple[Handler, bool]]:
        if "relay" not in self.servers and "tls" in self.servers:
            relay: Handler = relay_to(_tcp_address(self.servers["tls"]))
        else:
            relay = echo  # replaced once the TLS echo server runs (below)
        return {
            "echo": (echo, False),
            "echo6": (echo, False),
            "unix": (echo, False),
            "silent": (silent_for(GUARD), False),
            "eof": (send_then_close(b"hello"), False),
            "reset": (reset_after(5), False),
            "stall": (_stall(self.release), False),
            "tls": (echo, True),
            "handshake_close": (close_mid_handshake, False),
            "relay": (relay, True),
        }

    def busy(self) -> int:
        return sum(server.active for server in self.servers.values())

    def close(self) -> None:
        self.release.set()
        for server in self.servers.values():
            server.close()
        for entry in os.listdir(self.directory):
            os.unlink(os.path.join(self.directory, entry))
        os.rmdir(self.directory)

    # backends and streams, seen through the async interface

    def view(self, obj: Any) -> Any:
        return _SyncView(obj) if self.runtime == "threaded" else obj

    def backend(self) -> Any:
        return self.view(_make(self.factory, self.unix, None))

    async def open(self, name: str, host: str | None = None) -> Any:
        server = self.server(name)
        if self.unix:
            net = self.view(_make(self.factory, True, server.address))
            return await net.connect("localhost", 80)
        return await self.backend().connect(host or server.host, server.port)

    async def sleep(self, seconds: float) -> None:
        if self.runtime == "threaded":
            # A sync check never suspends: it blocks, as the backend under test does.
            time.sleep(seconds)  # noqa: ASYNC251
        elif self.runtime == "trio":
            import trio

            await trio.sleep(seconds)
        else:
            import asyncio

            await asyncio.sleep(seconds)


def _tcp_address(server: Server) -> tuple[str, int]:
    return ("127.0.0.1", server.port) if server.host else server.address


def _guarded(handler: Handler) -> Handler:
    """Give up on a peer silent for `GUARD` seconds, so no check can hang for good."""

    def guarded(conn: socket.socket) -> None:
        conn.settimeout(GUARD)
        handler(conn)

    return guarded


def _stall(release: threading.Event) -> Handler:
    """Read nothing for `GUARD` seconds (the client's writes fill the buffers), then drain."""

    def handler(conn: socket.socket) -> None:
        release.wait(GUARD)
        with contextlib.suppress(OSError):
            while conn.recv(1 << 20):
                pass

    return handler


@contextlib.asynccontextmanager
async def _closing(stream: Any) -> AsyncIterator[Any]:
    try:
        yield stream
    finally:
        with contextlib.suppress(Exception):
            await stream.close()


async def _read_exactly(env: _Env, stream: Any, count: int) -> bytes:
    data = b""
    while len(data) < count:
        outcome = await _attempt(stream.read())
        if outcome.exc is not None or not outcome.value:
            _fail(f"the {count} bytes echoed back", f"{data!r}, then {outcome}")
        data += outcome.value
    return data


async def _round_trip(env: _Env, stream: Any, payload: bytes, expected: str) -> None:
    """Write `payload` to an echo peer and read it back; fail with `expected` if it differs."""
    await stream.write(payload)
    got = await _read_exactly(env, stream, len(payload))
    if got != payload:
        _fail(expected, repr(got))


# -- the checks -------------------------------------------------------------

_Check = Callable[[_Env], Coroutine[Any, Any, None]]
_CHECKS: list[tuple[str, str, bool, _Check]] = []  # (clause, name, over UNIX too, check)


def _check(clause: str, *, unix: bool = True) -> Callable[[_Check], _Check]:
    def register(fn: _Check) -> _Check:
        _CHECKS.append((clause, fn.__name__.lstrip("_"), unix, fn))
        return fn

    return register


@_check("connect", unix=False)
async def _connect_names(env: _Env) -> None:
    """connect() by IPv4 literal, by name, and by IPv6 literal gives a working stream."""
    hosts = [("echo", "127.0.0.1"), ("echo", "localhost")]
    if _has_ipv6():
        hosts.append(("echo6", "::1"))
    for name, host in hosts:
        outcome = await _attempt(env.open(name, host))
        if outcome.exc is not None:
            _fail(f"connect({host!r}, port) to a listening server to succeed", str(outcome))
        async with _closing(outcome.value) as stream:
            await _round_trip(
                env, stream, b"ping", f"b'ping' echoed back over a connection to {host!r}"
            )


@_check("connect", unix=False)
async def _connect_refused(env: _Env) -> None:
    """A refused connection raises ConnectError naming host and port, with the cause chained."""
    port = unused_port()
    outcome = await _attempt(env.backend().connect("127.0.0.1", port))
    await _close_if_opened(outcome)
    exc = outcome.expect(netbase.ConnectError, f"ConnectError for a refused port {port}")
    if exc.__cause__ is None:
        _fail("the OSError chained as __cause__", f"{type(exc).__name__}({exc}) with no cause")
    if str(port) not in str(exc):
        _fail(f"the message to name the port {port}", repr(str(exc)))


@_check("connect", unix=False)
async def _connect_bad_arguments(env: _Env) -> None:
    """Bad host or port: TypeError / ValueError before any I/O."""
    server = env.server("echo")
    before = server.accepted
    cases: list[tuple[Any, Any, type[Exception]]] = [
        (b"127.0.0.1", server.port, TypeError),
        ("127.0.0.1", str(server.port), TypeError),
        ("", server.port, ValueError),
        ("127.0.0.1", 65536, ValueError),
        ("127.0.0.1", -1, ValueError),
    ]
    for host, port, exc_type in cases:
        outcome = await _attempt(env.backend().connect(host, port))
        await _close_if_opened(outcome)
        outcome.expect(exc_type, f"{exc_type.__name__} for connect({host!r}, {port!r})")
    if server.accepted != before:
        _fail("no connection for bad arguments", f"{server.accepted - before} accepted")


@_check("read")
async def _read_max_bytes(env: _Env) -> None:
    """read(max_bytes) returns 1..max_bytes bytes; a bad max_bytes is TypeError/ValueError."""
    async with _closing(await env.open("echo")) as stream:
        for bad, exc_type in ((0, ValueError), (-1, ValueError), ("4", TypeError)):
            outcome = await _attempt(stream.read(bad))
            outcome.expect(exc_type, f"{exc_type.__name__} for read({bad!r})")
        await stream.write(b"0123456789" * 10)
        data = b""
        while len(data) < 100:
            chunk = await stream.read(7)
            if not 1 <= len(chunk) <= 7:
                _fail("between 1 and 7 bytes from read(7)", f"{len(chunk)} bytes: {chunk!r}")
            data += chunk
        if data != b"0123456789" * 10:
            _fail("the 100 bytes written, in order", repr(data))


@_check("read")
async def _read_end_of_stream(env: _Env) -> None:
    """At end of stream read() returns b"", and b"" again on every later read."""
    async with _closing(await env.open("eof")) as stream:
        data = b""
        while len(data) < 5:
            outcome = await _attempt(stream.read())
            if outcome.exc is not None or not outcome.value:
                _fail("b'hello' before the end of stream", f"{data!r}, then {outcome}")
            data += outcome.value
        for attempt in ("first", "second"):
            outcome = await _attempt(stream.read())
            if outcome.exc is not None or outcome.value != b"":
                _fail(f"b'' at end of stream ({attempt} read after it)", str(outcome))


@_check("read", unix=False)  # a UNIX socket has no reset: its peer just closes
async def _read_reset(env: _Env) -> None:
    """A reset raises ReadError (not an end of stream), cause chained; the stream is then closed."""
    async with _closing(await env.open("reset")) as stream:
        await stream.write(b"12345")
        outcome = await _attempt(stream.read())
        exc = outcome.expect(netbase.ReadError, "ReadError (a reset is not an end of stream)")
        if isinstance(exc, netbase.TimeoutError) or exc.__cause__ is None:
            _fail("ReadError with the reset chained as __cause__", str(outcome))
        after = await _attempt(stream.read())
        after.expect(netbase.NetworkError, "NetworkError from read() on the stream a reset closed")


@_check("write")
async def _write_types(env: _Env) -> None:
    """write() sends all of bytes, bytearray and memoryview; str is a TypeError."""
    async with _closing(await env.open("echo")) as stream:
        outcome = await _attempt(stream.write("text"))
        outcome.expect(TypeError, "TypeError for write(str)")
        # Small enough for the socket buffers to hold it all (UNIX ones are
        # smaller than TCP's): the check writes everything before it reads.
        payload = os.urandom(48 * 1024)
        await stream.write(payload[:1000])
        await stream.write(bytearray(payload[1000:2000]))
        await stream.write(memoryview(payload)[2000:])
        got = await _read_exactly(env, stream, len(payload))
        if got != payload:
            _fail("the 48 KiB written (bytes, bytearray, memoryview) echoed intact", "other bytes")


@_check("write", unix=False)  # a UNIX socket has no reset: its peer just closes
async def _write_reset(env: _Env) -> None:
    """Writing to a peer that reset the connection raises WriteError, cause chained."""
    async with _closing(await env.open("reset")) as stream:
        await stream.write(b"12345")
        deadline = time.monotonic() + GUARD
        while True:
            outcome = await _attempt(stream.write(b"x" * 65536))
            if outcome.exc is not None or time.monotonic() > deadline:
                break
            await env.sleep(0.01)
        exc = outcome.expect(netbase.WriteError, "WriteError after the peer reset")
        if exc.__cause__ is None:
            _fail("WriteError with the OSError chained as __cause__", str(outcome))


@_check("timeouts")
async def _read_timeout(env: _Env) -> None:
    """read() under timeout(0.2) from a silent peer raises ReadTimeout promptly."""
    async with _closing(await env.open("silent")) as stream:
        with netbase.timeout(0.2):
            outcome = await _attempt(stream.read())
        _expect_prompt(outcome, netbase.ReadTimeout, 0.2)


@_check("timeouts")
async def _read_timeout_keeps_stream(env: _Env) -> None:
    """After a ReadTimeout the stream stays open and loses nothing."""
    async with _closing(await env.open("echo")) as stream:
        with netbase.timeout(0.1):
            outcome = await _attempt(stream.read())
        outcome.expect(netbase.ReadTimeout, "ReadTimeout within 0.1 s from an idle echo peer")
        await _round_trip(env, stream, b"after", "b'after' read after the ReadTimeout")


@_check("timeouts")
async def _expired_deadline(env: _Env) -> None:
    """An expired deadline fails before any I/O: read raises ReadTimeout at once."""
    async with _closing(await env.open("echo")) as stream:
        await stream.write(b"ready")
        await _read_exactly(env, stream, 5)
        await stream.write(b"x")
        # Wait for the echo to be there: even with data ready, the deadline wins.
        for _ in range(500):
            if stream.get_extra_info("is_readable") is not False:
                break
            await env.sleep(0.01)
        with netbase.timeout(0):
            outcome = await _attempt(stream.read())
        outcome.expect(netbase.ReadTimeout, "ReadTimeout under an expired deadline")


@_check("timeouts", unix=False)
async def _connect_timeout(env: _Env) -> None:
    """connect() under timeout(0.2) to a peer that never answers raises ConnectTimeout promptly."""
    with full_backlog(give_up_after=GUARD) as (host, port), netbase.timeout(0.2):
        outcome = await _attempt(env.backend().connect(host, port))
    await _close_if_opened(outcome)
    _expect_prompt(outcome, netbase.ConnectTimeout, 0.2)


@_check("timeouts")
async def _write_timeout(env: _Env) -> None:
    """A write to a peer that reads nothing raises WriteTimeout in time and closes the stream."""
    async with _closing(await env.open("stall")) as stream:
        with netbase.timeout(0.5):
            outcome = await _attempt(stream.write(b"x" * (64 << 20)))
        _expect_prompt(outcome, netbase.WriteTimeout, 0.5)
        after = await _attempt(stream.write(b"x"))
    # Let the peer drain and see the end of the stream now, not after its guard.
    env.release.set()
    after.expect(netbase.NetworkError, "NetworkError from write() after a WriteTimeout")


@_check("tls")
async def _tls_roundtrip(env: _Env) -> None:
    """start_tls upgrades in place: bytes go through, ssl_object answers."""
    async with _closing(await env.open("tls")) as stream:
        if stream.get_extra_info("ssl_object") is not None:
            _fail("ssl_object None before start_tls", repr(stream.get_extra_info("ssl_object")))
        outcome = await _attempt(stream.start_tls(env.certs.client_context(), "localhost"))
        if outcome.exc is not None:
            _fail("start_tls to succeed against a trusted certificate", str(outcome))
        ssl_object = stream.get_extra_info("ssl_object")
        if ssl_object is None or not str(ssl_object.version()).startswith("TLS"):
            _fail("ssl_object with version() 'TLSv1.x' after start_tls", repr(ssl_object))
        await _round_trip(env, stream, b"secret", "b'secret' echoed back over TLS")


@_check("tls")
async def _tls_verification_failure(env: _Env) -> None:
    """An untrusted certificate raises ConnectError (cause chained) and closes the stream."""
    async with _closing(await env.open("tls")) as stream:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # trusts nothing
        outcome = await _attempt(stream.start_tls(ctx, "localhost"))
        exc = outcome.expect(netbase.ConnectError, "ConnectError for an untrusted certificate")
        if not isinstance(exc.__cause__, ssl.SSLError):
            _fail("the ssl.SSLError chained as __cause__", f"__cause__={exc.__cause__!r}")
        after = await _attempt(stream.write(b"x"))
        after.expect(netbase.NetworkError, "NetworkError from write() after a failed start_tls")


@_check("tls")
async def _tls_handshake_closed(env: _Env) -> None:
    """A peer that hangs up in the middle of the handshake: ConnectError."""
    async with _closing(await env.open("handshake_close")) as stream:
        outcome = await _attempt(stream.start_tls(env.certs.client_context(), "localhost"))
        outcome.expect(netbase.ConnectError, "ConnectError when the peer closes mid-handshake")


@_check("tls", unix=False)
async def _tls_inside_tls(env: _Env) -> None:
    """start_tls on a TLS stream runs TLS inside TLS (what HTTPS proxies need)."""
    async with _closing(await env.open("relay")) as stream:
        await stream.start_tls(env.certs.client_context(), "localhost")
        outcome = await _attempt(stream.start_tls(env.certs.client_context(), "tls.test"))
        if outcome.exc is not None:
            _fail("a second start_tls through the TLS tunnel to succeed", str(outcome))
        await _round_trip(env, stream, b"inner", "b'inner' echoed back through TLS inside TLS")


@_check("close")
async def _close_idempotent(env: _Env) -> None:
    """close() twice is fine; then read, write and start_tls raise NetworkError."""
    stream = await env.open("echo")
    await stream.close()
    second = await _attempt(stream.close())
    if second.exc is not None:
        _fail("a second close() to do nothing", str(second))
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("read()", lambda: stream.read()),
        ("write(b'x')", lambda: stream.write(b"x")),
        ("start_tls()", lambda: stream.start_tls(env.certs.client_context(), "localhost")),
    ]
    for what, call in calls:
        outcome = await _attempt(call())
        outcome.expect(netbase.NetworkError, f"NetworkError from {what} on a closed stream")


@_check("close")
async def _close_context_manager(env: _Env) -> None:
    """Leaving `with` / `async with` closes the stream (the peer sees it go)."""
    server = env.server("echo")
    stream = await env.open("echo")
    async with stream:
        await stream.write(b"x")
        await _read_exactly(env, stream, 1)
    outcome = await _attempt(stream.read())
    outcome.expect(netbase.NetworkError, "NetworkError from read() after leaving the block")
    if not server.wait_idle(GUARD):
        _fail("the peer to see the connection closed", "it stayed open")


@_check("extra_info", unix=False)
async def _extra_info_addresses(env: _Env) -> None:
    """client_addr and server_addr are (host, port) 2-tuples, IPv6 too; socket; unknown keys."""
    cases = [("echo", "127.0.0.1")] + ([("echo6", "::1")] if _has_ipv6() else [])
    for name, host in cases:
        server = env.server(name)
        async with _closing(await env.open(name, host)) as stream:
            server_addr = stream.get_extra_info("server_addr")
            if server_addr != (host, server.port):
                _fail(f"server_addr == {(host, server.port)!r}", repr(server_addr))
            client_addr = stream.get_extra_info("client_addr")
            if not (isinstance(client_addr, tuple) and len(client_addr) == 2):
                _fail("client_addr as a (host, port) 2-tuple", repr(client_addr))
            if client_addr[0] != host:
                _fail(f"client_addr on {host}", repr(client_addr))
            sock = stream.get_extra_info("socket")
            if not hasattr(sock, "fileno"):
                _fail("the underlying socket for 'socket'", repr(sock))
            for key in ("ssl_object", "no such key"):
                if stream.get_extra_info(key) is not None:
                    _fail(f"None for {key!r} on a plain stream", repr(stream.get_extra_info(key)))


@_check("extra_info", unix=False)
async def _extra_info_is_readable(env: _Env) -> None:
    """is_readable is False on an idle stream, True once data is pending."""
    async with _closing(await env.open("echo")) as stream:
        if stream.get_extra_info("is_readable") is not False:
            _fail("is_readable False on an idle stream", repr(stream.get_extra_info("is_readable")))
        await stream.write(b"x")
        deadline = time.monotonic() + GUARD
        while stream.get_extra_info("is_readable") is not True:
            if time.monotonic() > deadline:
                _fail("is_readable True once the echo is pending", "still False")
            await env.sleep(0.01)
        await _read_exactly(env, stream, 1)


@_check("unix", unix=False)
async def _connect_unix(env: _Env) -> None:
    """connect_unix(path) gives a working stream over a UNIX domain socket."""
    net = env.backend()
    if not hasattr(net, "connect_unix"):
        _fail("a connect_unix(path) method", f"{net!r} has none (leave out the 'unix' clause)")
    outcome = await _attempt(net.connect_unix(env.server("unix").address))
    if outcome.exc is not None:
        _fail("connect_unix to a listening UNIX socket to succeed", str(outcome))
    async with _closing(outcome.value) as stream:
        await _round_trip(env, stream, b"local", "b'local' echoed back over the UNIX socket")


@functools.lru_cache(maxsize=1)
def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- the entry point ---------------------------------------------------------


def _make(factory: Callable[..., Any], unix: bool, path: str | None) -> Any:
    return factory(path if path is not None else os.devnull) if unix else factory()


def _flavour_of(backend: Any) -> str:
    connect = getattr(backend, "connect", None)
    if not callable(connect):
        raise TypeError(
            f"the factory returned {backend!r}, which is not a netbase backend (it has no "
            "connect method): return an instance of a netbase.NetworkBackendInterface or "
            "netbase.AsyncNetworkBackendInterface subclass"
        )
    return "async" if inspect.iscoroutinefunction(connect) else "sync"


def _clause_list(value: Iterable[str] | None, name: str, default: tuple[str, ...]) -> list[str]:
    if value is None:
        return list(default)
    if isinstance(value, str):
        raise TypeError(f"{name} must be a list of clause names, not the string {value!r}")
    names = list(value)
    unknown = [n for n in names if n not in CLAUSES]
    if unknown:
        raise ValueError(f"unknown clause(s) {unknown} in {name}; known: {list(CLAUSES)}")
    return names


def _runner(runtime: str) -> Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]:
    if runtime == "threaded":
        return lambda fn: _step(fn())
    if runtime == "trio":
        trio = _require("trio", "runtime='trio'", "trio")
        return lambda fn: trio.run(fn)
    import asyncio

    def new_loop() -> asyncio.AbstractEventLoop:
        if runtime == "uvloop":
            uvloop = _require("uvloop", "runtime='uvloop'", "uvloop")
            return uvloop.new_event_loop()  # type: ignore[no-any-return]
        return asyncio.new_event_loop()

    def run(fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        loop = new_loop()
        try:
            result = loop.run_until_complete(fn())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            return result
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    return run


def _require(module: str, what: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{what} needs {module}: install it (`pip install {package}`)") from exc


def check_backend(
    factory: Callable[..., Any],
    *,
    runtime: str | None = None,
    clauses: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    unix: bool = False,
) -> list[str]:
    """Run the contract's checks against the backends `factory()` makes; raise if any breaks.

    - `factory`: called with no arguments for a fresh backend for each check (a
      class works). With `unix=True` it is called with the path of a UNIX
      domain socket instead, and the backend must connect there whatever host
      and port it is asked for; the clauses about TCP (`connect`,
      `extra_info`, `unix`, and connect deadlines) do not apply then.
    - `runtime`: `"threaded"` for a sync backend (`NetworkBackendInterface`),
      `"asyncio"`, `"uvloop"` or `"trio"` for an async one
      (`AsyncNetworkBackendInterface`). By default, `"threaded"` or
      `"asyncio"` after the backend's flavour. Each check runs in its own
      event loop, started here: call `check_backend` from a plain (sync) test.
    - `clauses`: which of [`CLAUSES`][netbase.testing.CLAUSES] to check
      (default: all but `unix`, which only backends offering `connect_unix` have);
      `exclude`: clauses to leave out, for a backend that deliberately lacks one.

    Returns the names of the checks that passed. If any broke, raises
    [`ConformanceError`][netbase.testing.ConformanceError] listing each broken
    check with its clause, what was expected and what came, once every
    selected check has run. Every peer gives up after a few seconds, so a
    backend that ignores deadlines fails slowly, but fails.

    Call it from a plain test function. Called where an event loop is running
    (an `async def` test, a notebook), it runs the checks in a thread of its
    own, in a fresh context, and blocks that loop until they are done.

    Bad input fails at once, before any server starts: `TypeError` for a
    factory that is not callable or makes something that is not a backend, and
    for a backend of the wrong flavour for `runtime`; `ValueError` for an
    unknown runtime or clause; `ImportError` naming what to install when trio
    (or uvloop) is missing.
    """
    if not callable(factory):
        raise TypeError(f"factory must be a callable that makes a backend, not {factory!r}")
    if runtime is not None and runtime not in _RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; use one of {list(_RUNTIMES)}")
    allowed = _UNIX_CLAUSES if unix else CLAUSES
    selected = _clause_list(clauses, "clauses", _UNIX_CLAUSES if unix else DEFAULT_CLAUSES)
    excluded = _clause_list(exclude, "exclude", ())
    not_here = [c for c in selected if c not in allowed]
    if not_here:
        raise ValueError(f"clause(s) {not_here} need TCP and do not apply with unix=True")
    probe = _make(factory, unix, None)
    flavour = _flavour_of(probe)
    if runtime is None:
        runtime = "threaded" if flavour == "sync" else "asyncio"
    wanted = "sync" if runtime == "threaded" else "async"
    if flavour != wanted:
        if wanted == "async":
            raise TypeError(
                f"{probe!r}.connect is not a coroutine function, but runtime={runtime!r} "
                "needs an async backend (netbase.AsyncNetworkBackendInterface); "
                "check a blocking backend with runtime='threaded'"
            )
        raise TypeError(
            f"{probe!r}.connect is a coroutine function, but runtime='threaded' needs a "
            "blocking backend (netbase.NetworkBackendInterface); "
            "check an async backend with runtime='asyncio' or 'trio'"
        )
    run = _runner(runtime)
    if _loop_running():
        return _in_thread(
            functools.partial(_check_all, factory, runtime, unix, selected, excluded, probe, run)
        )
    return _check_all(factory, runtime, unix, selected, excluded, probe, run)


def _loop_running() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return True
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


def _in_thread(fn: Callable[[], list[str]]) -> list[str]:
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(contextvars.Context().run(fn))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=target, name="test-check-backend")
    thread.start()
    thread.join()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    result: list[str] = outcome[0]
    return result


def _check_all(
    factory: Callable[..., Any],
    runtime: str,
    unix: bool,
    selected: list[str],
    excluded: list[str],
    probe: Any,
    run: Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any],
) -> list[str]:
    env = _Env(factory, runtime, unix, Certificates())
    failures: list[CheckFailure] = []
    passed: list[str] = []
    try:
        for clause in selected:
            if clause in excluded:
                continue
            for check_clause, name, over_unix, check in _CHECKS:
                if check_clause != clause or (unix and not over_unix):
                    continue
                failure = _run_one(env, run, clause, name, check)
                if failure is None:
                    passed.append(name)
                else:
                    failures.append(failure)
    finally:
        env.close()
    if failures:
        raise ConformanceError(repr(probe), failures, passed)
    return passed


def _run_one(
    env: _Env,
    run: Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any],
    clause: str,
    name: str,
    check: _Check,
) -> CheckFailure | None:
    busy_before = env.busy()
    try:
        run(functools.partial(check, env))
    except _Fail as fail:
        return CheckFailure(clause, name, fail.expected, fail.got)
    except Exception as exc:
        expected = (check.__doc__ or name).strip().splitlines()[0]
        return CheckFailure(clause, name, expected, _describe(None, exc))
    # A peer may hold a connection for up to GUARD seconds after the client
    # closed it (the stalled one only reads again then): wait for twice that.
    deadline = time.monotonic() + 2 * GUARD
    while env.busy() > busy_before:
        if time.monotonic() > deadline:
            return CheckFailure(
                clause, name, "every stream closed by the end of the check", "one left open"
            )
        time.sleep(0.01)
    if math.isfinite(netbase.current_deadline()):
        return CheckFailure(clause, name, "no deadline left active", "a deadline still active")
    return None
