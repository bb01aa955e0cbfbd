"""Custom backends for proving the kit: a good one and two broken ones, per runtime.

Written as a user would, against the public interfaces only, so that the same
file also serves as the backend of a fresh project (`test_testing_kit_project.py`
copies it there). `backends(runtime)` returns the three factories:

- `logging`: wraps the runtime's built-in backend and logs every call (keeps the contract);
- `swallows_read_errors`: wraps it too, but turns a `ReadError` into `b""`;
- `ignores_deadline`: talks to the socket itself and never looks at `netbase.timeout()`.
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import Callable
from typing import Any

import netbase

MODULES = {"threaded": "netbase_threaded", "asyncio": "netbase_asyncio", "trio": "netbase_trio"}


def _checked_size(max_bytes: Any) -> int:
    if max_bytes is None:
        return 65536
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool):
        raise TypeError(f"max_bytes must be an int, not {type(max_bytes).__name__}")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive, not {max_bytes}")
    return max_bytes


# -- sync ---------------------------------------------------------------------


class LoggingStream(netbase.NetworkStreamInterface):
    def __init__(self, stream: Any, log: list[str]) -> None:
        self._stream = stream
        self._log = log

    def read(self, max_bytes: int | None = None) -> bytes:
        data: bytes = self._stream.read(max_bytes)
        self._log.append(f"read {len(data)}")
        return data

    def write(self, data: Any) -> None:
        self._log.append(f"write {len(data) if hasattr(data, '__len__') else '?'}")
        self._stream.write(data)

    def start_tls(self, ctx: Any = None, hostname: str | None = None) -> None:
        self._log.append(f"start_tls {hostname}")
        self._stream.start_tls(ctx, hostname)

    def get_extra_info(self, key: str) -> Any:
        return self._stream.get_extra_info(key)

    def close(self) -> None:
        self._log.append("close")
        self._stream.close()


class SwallowingStream(LoggingStream):
    def read(self, max_bytes: int | None = None) -> bytes:
        try:
            return super().read(max_bytes)
        except netbase.ReadError as exc:
            if isinstance(exc, netbase.TimeoutError):
                raise
            return b""  # the bug: a reset reads as a clean end of stream


class LoggingBackend(netbase.NetworkBackendInterface):
    stream_class: type[LoggingStream] = LoggingStream

    def __init__(self) -> None:
        self._backend = importlib.import_module("netbase_threaded").NetworkBackend()
        self.log: list[str] = []

    def connect(self, host: str, port: int) -> LoggingStream:
        self.log.append(f"connect {host}:{port}")
        return self.stream_class(self._backend.connect(host, port), self.log)


class SwallowingBackend(LoggingBackend):
    stream_class = SwallowingStream


class RawStream(netbase.NetworkStreamInterface):
    """A blocking socket used directly, with no deadline anywhere (the bug)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock: socket.socket | None = sock

    def _open(self) -> socket.socket:
        if self._sock is None:
            raise netbase.NetworkError("the stream is closed")
        return self._sock

    def read(self, max_bytes: int | None = None) -> bytes:
        size = _checked_size(max_bytes)
        try:
            return self._open().recv(size)
        except OSError as exc:
            self.close()
            raise netbase.ReadError(str(exc)) from exc

    def write(self, data: Any) -> None:
        try:
            self._open().sendall(data)
        except OSError as exc:
            self.close()
            raise netbase.WriteError(str(exc)) from exc

    def start_tls(self, ctx: Any = None, hostname: str | None = None) -> None:
        raise netbase.ConnectError("no TLS here")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class DeadlineIgnoringBackend(netbase.NetworkBackendInterface):
    def connect(self, host: str, port: int) -> RawStream:
        try:
            return RawStream(socket.create_connection((host, port)))
        except OSError as exc:
            raise netbase.ConnectError(f"{host}:{port}: {exc}") from exc


# -- async (asyncio and trio) ------------------------------------------------------


class AsyncLoggingStream(netbase.AsyncNetworkStreamInterface):
    def __init__(self, stream: Any, log: list[str]) -> None:
        self._stream = stream
        self._log = log

    async def read(self, max_bytes: int | None = None) -> bytes:
        data: bytes = await self._stream.read(max_bytes)
        self._log.append(f"read {len(data)}")
        return data

    async def write(self, data: Any) -> None:
        self._log.append(f"write {len(data) if hasattr(data, '__len__') else '?'}")
        await self._stream.write(data)

    async def start_tls(self, ctx: Any = None, hostname: str | None = None) -> None:
        self._log.append(f"start_tls {hostname}")
        await self._stream.start_tls(ctx, hostname)

    def get_extra_info(self, key: str) -> Any:
        return self._stream.get_extra_info(key)

    async def close(self) -> None:
        self._log.append("close")
        await self._stream.close()


class AsyncSwallowingStream(AsyncLoggingStream):
    async def read(self, max_bytes: int | None = None) -> bytes:
        try:
            return await super().read(max_bytes)
        except netbase.ReadError as exc:
            if isinstance(exc, netbase.TimeoutError):
                raise
            return b""


class AsyncLoggingBackend(netbase.AsyncNetworkBackendInterface):
    stream_class: type[AsyncLoggingStream] = AsyncLoggingStream

    def __init__(self, module: str) -> None:
        self._backend = importlib.import_module(module).NetworkBackend()
        self.log: list[str] = []

    async def connect(self, host: str, port: int) -> AsyncLoggingStream:
        self.log.append(f"connect {host}:{port}")
        return self.stream_class(await self._backend.connect(host, port), self.log)


class AsyncSwallowingBackend(AsyncLoggingBackend):
    stream_class = AsyncSwallowingStream


class AsyncRawStream(netbase.AsyncNetworkStreamInterface):
    """A non-blocking socket read and written through the loop, with no deadline (the bug)."""

    def __init__(self, sock: Any, runtime: str) -> None:
        self._sock = sock
        self._runtime = runtime
        self._closed = False

    async def read(self, max_bytes: int | None = None) -> bytes:
        size = _checked_size(max_bytes)
        if self._closed:
            raise netbase.NetworkError("the stream is closed")
        try:
            if self._runtime == "trio":
                data: bytes = await self._sock.recv(size)
                return data
            import asyncio

            return await asyncio.get_running_loop().sock_recv(self._sock, size)
        except OSError as exc:
            await self.close()
            raise netbase.ReadError(str(exc)) from exc

    async def write(self, data: Any) -> None:
        if self._closed:
            raise netbase.NetworkError("the stream is closed")
        try:
            if self._runtime == "trio":
                view = memoryview(data)
                while view:
                    view = view[await self._sock.send(view) :]
                return
            import asyncio

            await asyncio.get_running_loop().sock_sendall(self._sock, data)
        except OSError as exc:
            await self.close()
            raise netbase.WriteError(str(exc)) from exc

    async def start_tls(self, ctx: Any = None, hostname: str | None = None) -> None:
        raise netbase.ConnectError("no TLS here")

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._sock.close()


class AsyncDeadlineIgnoringBackend(netbase.AsyncNetworkBackendInterface):
    def __init__(self, runtime: str) -> None:
        self._runtime = runtime

    async def connect(self, host: str, port: int) -> AsyncRawStream:
        if self._runtime == "trio":
            import trio

            sock: Any = trio.socket.socket()
        else:
            sock = socket.socket()
            sock.setblocking(False)
        try:
            if self._runtime == "trio":
                await sock.connect((host, port))
            else:
                import asyncio

                await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except OSError as exc:
            sock.close()
            raise netbase.ConnectError(f"{host}:{port}: {exc}") from exc
        return AsyncRawStream(sock, self._runtime)


def backends(runtime: str) -> dict[str, Callable[[], Any]]:
    """The three factories for `runtime` ("threaded", "asyncio" or "trio")."""
    if runtime == "threaded":
        return {
            "logging": LoggingBackend,
            "swallows_read_errors": SwallowingBackend,
            "ignores_deadline": DeadlineIgnoringBackend,
        }
    module = MODULES[runtime]
    return {
        "logging": lambda: AsyncLoggingBackend(module),
        "swallows_read_errors": lambda: AsyncSwallowingBackend(module),
        "ignores_deadline": lambda: AsyncDeadlineIgnoringBackend(runtime),
    }
