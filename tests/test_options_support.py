"""Helpers for the connection-option tests (no tests here).

- Stub resolvers of the flavour the runtime under test takes (sync for
  threaded, async otherwise), scripted with answers, errors and delays, and
  recording their calls.
- :class:`Layout`: several loopback addresses sharing one port, each with a
  chosen behaviour. The whole of 127.0.0.0/8 is loopback, so a stub resolver
  answering ``["::1", "127.0.0.2", "::ffff:127.0.0.3", ...]`` lets a test
  decide, per address, whether a connection attempt is accepted, refused or
  hangs, and see from the server side which addresses accepted, when, from
  where, and when the client closed them.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import os
import selectors
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import netbase

ACCEPT, REFUSE, HANG = "accept", "refuse", "hang"


# -- stub resolvers -------------------------------------------------------------


class _StubBase:
    """A scripted resolver: each call takes the next step (the last one repeats).

    A step is a list of addresses, a dict of them by host, or an exception to
    raise. ``delay`` seconds pass before the answer.
    """

    def __init__(self, steps: Sequence[Any], delay: float) -> None:
        self.steps = list(steps)
        self.delay = delay
        self.calls: list[tuple[str, int]] = []
        self.finished = 0  # calls that ran to their answer (not cut short)

    def _answer(self, host: str) -> list[str]:
        step = self.steps[min(len(self.calls) - 1, len(self.steps) - 1)]
        self.finished += 1
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, dict):
            step = step[host]
        return list(step)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.steps!r})"


class SyncStubResolver(_StubBase):
    """Sync flavour. Its delay honours the deadline, as a sync resolver must.

    A blocking call cannot be interrupted by the backend, so a well-behaved
    sync resolver waits at most until the deadline and raises ConnectTimeout
    itself (``SystemResolver`` does the same). ``ignore_deadline=True`` makes
    one that does not.
    """

    def __init__(self, steps: Sequence[Any], delay: float, ignore_deadline: bool = False) -> None:
        super().__init__(steps, delay)
        self.ignore_deadline = ignore_deadline

    def resolve(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if self.delay:
            left = None if self.ignore_deadline else netbase.remaining(netbase.ConnectTimeout)
            if left is not None and left < self.delay:
                time.sleep(left)
                raise netbase.ConnectTimeout(f"{host}:{port}: timed out resolving the name")
            time.sleep(self.delay)
        return self._answer(host)


class AsyncStubResolver(_StubBase):
    """Async flavour: sleeps on the running runtime; the backend must cut it at the deadline."""

    def __init__(self, runtime: Any, steps: Sequence[Any], delay: float) -> None:
        super().__init__(steps, delay)
        self.runtime = runtime

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if self.delay:
            await self.runtime.sleep(self.delay)
        return self._answer(host)


def stub_resolver(runtime: Any, *steps: Any, delay: float = 0.0, **kwargs: Any) -> Any:
    """A stub resolver of the runtime's flavour; ``steps`` are answers or exceptions."""
    if runtime.flavour == "sync":
        return SyncStubResolver(steps, delay, **kwargs)
    return AsyncStubResolver(runtime, steps, delay, **kwargs)


class _Answering:
    """A resolver that returns ``answer`` as it is, right or wrong (the stubs make a list)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def resolve(self, host: str, port: int) -> Any:
        return self.answer


class _AsyncAnswering(_Answering):
    async def resolve(self, host: str, port: int) -> Any:  # type: ignore[override]
        return self.answer


def answering_resolver(runtime: Any, answer: Any) -> Any:
    """A resolver of the runtime's flavour whose every answer is ``answer``, unchecked."""
    return _Answering(answer) if runtime.flavour == "sync" else _AsyncAnswering(answer)


def caching_resolver(runtime: Any, inner: Any = None, **options: Any) -> Any:
    """``netbase.CachingResolver`` or ``AsyncCachingResolver``, as the runtime needs."""
    if runtime.flavour == "sync":
        return netbase.CachingResolver(inner, **options)
    return netbase.AsyncCachingResolver(inner, **options)


async def call_resolve(resolver: Any, host: str, port: int) -> list[str]:
    """``resolver.resolve(host, port)``, awaited when it is a coroutine."""
    result = resolver.resolve(host, port)
    if inspect.isawaitable(result):
        result = await result
    return list(result)


# -- several loopback addresses on one port -------------------------------------


@dataclass
class Accepted:
    """One connection an accepting address took."""

    address: str  # the listener's address (as the layout names it)
    peer: tuple[str, int]
    at: float  # time.monotonic() when accept() returned
    mss: int  # TCP_MAXSEG of the accepted socket: what the client announced in its SYN
    closed: threading.Event = field(default_factory=threading.Event)


def mapped(address: str) -> str:
    """``127.0.0.3`` -> ``::ffff:127.0.0.3``: an IPv6-family address reaching an IPv4 listener."""
    return "::ffff:" + address


class Layout:
    """Loopback addresses sharing one port, each accepting, refusing or hanging.

    - ``accept``: a listener that echoes, recording every connection.
    - ``refuse``: a socket bound to the address and port, not listening (RST).
    - ``hang``: a listener whose backlog is full and which never accepts, so
      a SYN gets no answer and the attempt hangs until the client gives up.
    """

    def __init__(self, plan: dict[str, str]) -> None:
        self.plan = plan
        self.port = 0
        self.accepted: list[Accepted] = []
        self._sockets: list[socket.socket] = []
        self._listeners: dict[socket.socket, str] = {}
        self._handlers: list[threading.Thread] = []
        for _ in range(50):
            try:
                self._bind_all()
                break
            except OSError as exc:  # the port is taken on one of the addresses: another go
                self._close_sockets()
                if exc.errno != errno.EADDRINUSE:
                    raise
        else:  # pragma: no cover
            raise RuntimeError("no port free on every address of the layout")
        self._wake_r, self._wake_w = os.pipe()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="test-layout", daemon=True)
        self._thread.start()

    def _bind_all(self) -> None:
        port = 0
        for address, behaviour in self.plan.items():
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            self._sockets.append(sock)
            sock.bind((address, port))
            port = sock.getsockname()[1]
            if behaviour == ACCEPT:
                sock.listen(64)
                self._listeners[sock] = address
            elif behaviour == HANG:
                sock.listen(0)
                for _ in range(4):  # fill the backlog: later SYNs are dropped
                    filler = socket.socket(family, socket.SOCK_STREAM)
                    self._sockets.append(filler)
                    filler.setblocking(False)
                    filler.connect_ex((address, port))
            elif behaviour != REFUSE:
                raise ValueError(f"unknown behaviour {behaviour!r}")
        self.port = port
        time.sleep(0.05)  # let the fillers' handshakes settle into the backlog

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_r, selectors.EVENT_READ)
            for listener in self._listeners:
                selector.register(listener, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj == self._wake_r:
                        return
                    listener: Any = key.fileobj
                    try:
                        conn, peer = listener.accept()
                    except OSError:
                        continue
                    record = Accepted(
                        address=self._listeners[listener],
                        peer=(peer[0], peer[1]),
                        at=time.monotonic(),
                        mss=conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG),
                    )
                    with self._lock:
                        self.accepted.append(record)
                    handler = threading.Thread(
                        target=self._echo, args=(conn, record), name="test-layout-conn"
                    )
                    self._handlers.append(handler)
                    handler.start()

    @staticmethod
    def _echo(conn: socket.socket, record: Accepted) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                conn.sendall(data)
        record.closed.set()

    def accepts(self, address: str) -> list[Accepted]:
        """The connections ``address`` accepted so far."""
        with self._lock:
            return [a for a in self.accepted if a.address == address]

    def first_accept(self, address: str, timeout: float = 5.0) -> Accepted:
        """The first connection ``address`` accepted, waiting for the server thread to see it."""
        deadline = time.monotonic() + timeout
        while not (found := self.accepts(address)) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert found, f"{address} accepted nothing"
        return found[0]

    def open_connections(self) -> list[Accepted]:
        """Accepted connections the client has not closed yet."""
        with self._lock:
            return [a for a in self.accepted if not a.closed.is_set()]

    def wait_closed(self, keep: int = 0, timeout: float = 5.0) -> list[Accepted]:
        """Wait until at most ``keep`` accepted connections are still open; returns them."""
        deadline = time.monotonic() + timeout
        while len(left := self.open_connections()) > keep and time.monotonic() < deadline:
            time.sleep(0.01)
        return left

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        self._listeners.clear()

    def close(self) -> list[Accepted]:
        """Stop serving; returns the connections a client left open."""
        left = self.wait_closed()
        os.write(self._wake_w, b"x")
        self._thread.join()
        for handler in self._handlers:
            handler.join(5.0)
        self._close_sockets()
        os.close(self._wake_r)
        os.close(self._wake_w)
        return left


@contextlib.contextmanager
def layout(plan: dict[str, str]) -> Any:
    """A :class:`Layout` for the duration of the block."""
    lay = Layout(plan)
    try:
        yield lay
    except BaseException:
        lay.close()
        raise
    left = lay.close()
    assert not left, f"connections the client never closed: {left}"
