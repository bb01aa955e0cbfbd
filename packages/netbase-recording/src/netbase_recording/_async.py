"""`AsyncRecordingBackend`: wraps an async backend and records every connection."""

from __future__ import annotations

import importlib
import os
import ssl
from typing import Any, TextIO

import netbase
from netbase import (
    AsyncEvent,
    AsyncLock,
    AsyncNetworkBackendInterface,
    AsyncNetworkStreamInterface,
    AsyncSemaphore,
)
from netbase_recording._echo import Echo
from netbase_recording._events import Recording
from netbase_recording._recorder import StreamTape, open_tape

__all__ = ["AsyncRecordingBackend", "AsyncRecordingStream", "running_loop_backend"]


def running_loop_backend() -> AsyncNetworkBackendInterface:
    """A `NetworkBackend()` of the async library running this task (asyncio or trio)."""
    from netbase.lowlevel import current_async_runtime

    name = current_async_runtime()
    try:
        module = importlib.import_module(f"netbase_{name}")
        backend_class = module.NetworkBackend
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(
            f"running under {name}, but netbase-{name} is not installed: "
            f"pip install netbase-{name} (or pass the backend to wrap)"
        ) from exc
    backend: AsyncNetworkBackendInterface = backend_class()
    return backend


class AsyncRecordingBackend(AsyncNetworkBackendInterface):
    """Wraps an async backend; records (and optionally echoes) every connection.

    `backend` is the backend to wrap; by default, the backend of the event
    loop running when it is first used (`netbase_asyncio` or `netbase_trio`).
    `echo` is a text stream to print the traffic to (`>>> ` written,
    `<<< ` read). What was recorded is in `recording`.
    """

    def __init__(
        self, backend: AsyncNetworkBackendInterface | None = None, *, echo: TextIO | None = None
    ) -> None:
        if backend is not None and not isinstance(backend, AsyncNetworkBackendInterface):
            raise TypeError(
                "AsyncRecordingBackend() wraps a netbase.AsyncNetworkBackendInterface, "
                f"not {type(backend).__name__}"
            )
        self._backend = backend
        self._by_runtime: dict[str, AsyncNetworkBackendInterface] = {}
        self.recording = Recording()
        self._echo = Echo(echo) if echo is not None else None

    @property
    def backend(self) -> AsyncNetworkBackendInterface:
        """The wrapped backend; by default, the running loop's (one per library: asyncio, trio)."""
        if self._backend is not None:
            return self._backend
        from netbase.lowlevel import current_async_runtime

        name = current_async_runtime()
        backend = self._by_runtime.get(name)
        if backend is None:
            backend = self._by_runtime[name] = running_loop_backend()
        return backend

    async def connect(self, host: str, port: int) -> AsyncRecordingStream:
        """Connect through the wrapped backend and record the connection."""
        backend = self.backend
        tape = open_tape(self.recording, self._echo, host, port)
        try:
            stream = await backend.connect(host, port)
        except netbase.NetworkError as exc:
            tape.failed("connect", exc)
            raise
        return AsyncRecordingStream(stream, tape)

    async def connect_unix(self, path: str | bytes | os.PathLike[str]) -> AsyncRecordingStream:
        """`connect_unix` of the wrapped backend, recorded (if it has one)."""
        connect_unix = getattr(self.backend, "connect_unix", None)
        if connect_unix is None:
            raise NotImplementedError(f"{self.backend!r} has no connect_unix()")
        tape = open_tape(self.recording, self._echo, None, None, os.fsdecode(os.fspath(path)))
        try:
            stream = await connect_unix(path)
        except netbase.NetworkError as exc:
            tape.failed("connect", exc)
            raise
        return AsyncRecordingStream(stream, tape)

    def wrap_stream(self, stream: AsyncNetworkStreamInterface) -> AsyncRecordingStream:
        """Record an already open stream as a new connection (to its server address)."""
        address = stream.get_extra_info("server_addr")
        if isinstance(address, tuple):
            tape = open_tape(self.recording, self._echo, address[0], address[1])
        else:
            tape = open_tape(self.recording, self._echo, None, None, str(address))
        return AsyncRecordingStream(stream, tape)

    def save(self, path: str | os.PathLike[str], *, scrub: Any = None) -> None:
        """Write `recording` to a cassette file (see [`save()`][netbase_recording.save])."""
        from netbase_recording._cassette import save

        save(self.recording, path, scrub=scrub)

    async def sleep(self, seconds: float) -> None:
        """The wrapped backend's `sleep`."""
        await self.backend.sleep(seconds)

    def create_lock(self) -> AsyncLock:
        """The wrapped backend's lock."""
        return self.backend.create_lock()

    def create_semaphore(self, value: int) -> AsyncSemaphore:
        """The wrapped backend's semaphore."""
        return self.backend.create_semaphore(value)

    def create_event(self) -> AsyncEvent:
        """The wrapped backend's event."""
        return self.backend.create_event()

    def __repr__(self) -> str:
        if self._backend is not None:
            inner = repr(self._backend)
        elif self._by_runtime:
            inner = " / ".join(repr(b) for b in self._by_runtime.values())
        else:
            inner = "the running loop's backend"
        return f"<AsyncRecordingBackend around {inner}>"


class AsyncRecordingStream(AsyncNetworkStreamInterface):
    """An async stream that records what goes through the stream it wraps."""

    def __init__(self, stream: AsyncNetworkStreamInterface, tape: StreamTape) -> None:
        self.stream = stream
        self._tape = tape
        self._closed = False
        tape.connected(stream)

    async def read(self, max_bytes: int | None = None) -> bytes:
        """Read from the wrapped stream and record the bytes (or end of stream)."""
        try:
            data = await self.stream.read(max_bytes)
        except netbase.NetworkError as exc:
            self._tape.failed("read", exc)
            raise
        self._tape.read(data)
        return data

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write to the wrapped stream and record the bytes."""
        try:
            await self.stream.write(data)
        except netbase.NetworkError as exc:
            self._tape.failed("write", exc)
            raise
        self._tape.wrote(bytes(data))

    async def start_tls(
        self, ctx: ssl.SSLContext | None = None, hostname: str | None = None
    ) -> None:
        """Upgrade the wrapped stream; record the hostname and what the handshake settled."""
        try:
            await self.stream.start_tls(ctx, hostname)
        except netbase.NetworkError as exc:
            self._tape.tls(hostname, None, exc)
            raise
        self._tape.tls(hostname, self.stream.get_extra_info("ssl_object"), None)

    def get_extra_info(self, key: str) -> Any:
        """The wrapped stream's answer (`is_readable` answers are recorded)."""
        value = self.stream.get_extra_info(key)
        if key == "is_readable":
            self._tape.readable(value)
        return value

    async def close(self) -> None:
        """Close the wrapped stream."""
        if not self._closed:
            self._closed = True
            self._tape.closed()
        await self.stream.close()

    def __repr__(self) -> str:
        return f"<AsyncRecordingStream around {self.stream!r}>"
