"""`RecordingBackend`: wraps a sync backend and records every connection."""

from __future__ import annotations

import os
import ssl
from typing import Any, TextIO

import netbase
from netbase import Event, Lock, NetworkBackendInterface, NetworkStreamInterface, Semaphore
from netbase_recording._echo import Echo
from netbase_recording._events import Recording
from netbase_recording._recorder import StreamTape, open_tape

__all__ = ["RecordingBackend", "RecordingStream"]


def _default_backend() -> NetworkBackendInterface:
    try:
        import netbase_threaded
    except ImportError as exc:
        raise RuntimeError(
            "RecordingBackend() wraps netbase_threaded by default, which is not installed: "
            "pip install netbase-threaded (or pass the backend to wrap)"
        ) from exc
    return netbase_threaded.NetworkBackend()


class RecordingBackend(NetworkBackendInterface):
    """Wraps a sync backend; records (and optionally echoes) every connection.

    `backend` is the backend to wrap (default: `netbase_threaded.NetworkBackend()`).
    `echo` is a text stream (`sys.stdout`...) to print the traffic to, as
    `>>> ` lines for bytes written and `<<< ` lines for bytes read.
    What was recorded is in `recording`; [`save()`][netbase_recording.RecordingBackend.save] writes
    a cassette.
    """

    def __init__(
        self, backend: NetworkBackendInterface | None = None, *, echo: TextIO | None = None
    ) -> None:
        if backend is not None and not isinstance(backend, NetworkBackendInterface):
            raise TypeError(
                "RecordingBackend() wraps a netbase.NetworkBackendInterface, "
                f"not {type(backend).__name__}"
            )
        self.backend: NetworkBackendInterface = (
            backend if backend is not None else _default_backend()
        )
        self.recording = Recording()
        self._echo = Echo(echo) if echo is not None else None

    def connect(self, host: str, port: int) -> RecordingStream:
        """Connect through the wrapped backend and record the connection."""
        tape = open_tape(self.recording, self._echo, host, port)
        try:
            stream = self.backend.connect(host, port)
        except netbase.NetworkError as exc:
            tape.failed("connect", exc)
            raise
        return RecordingStream(stream, tape)

    def connect_unix(self, path: str | bytes | os.PathLike[str]) -> RecordingStream:
        """`connect_unix` of the wrapped backend, recorded (if it has one)."""
        connect_unix = getattr(self.backend, "connect_unix", None)
        if connect_unix is None:
            raise NotImplementedError(f"{self.backend!r} has no connect_unix()")
        tape = open_tape(self.recording, self._echo, None, None, os.fsdecode(os.fspath(path)))
        try:
            stream = connect_unix(path)
        except netbase.NetworkError as exc:
            tape.failed("connect", exc)
            raise
        return RecordingStream(stream, tape)

    def wrap_stream(self, stream: NetworkStreamInterface) -> RecordingStream:
        """Record an already open stream as a new connection (to its server address)."""
        address = stream.get_extra_info("server_addr")
        if isinstance(address, tuple):
            tape = open_tape(self.recording, self._echo, address[0], address[1])
        else:
            tape = open_tape(self.recording, self._echo, None, None, str(address))
        return RecordingStream(stream, tape)

    def save(self, path: str | os.PathLike[str], *, scrub: Any = None) -> None:
        """Write `recording` to a cassette file (see [`save()`][netbase_recording.save])."""
        from netbase_recording._cassette import save

        save(self.recording, path, scrub=scrub)

    def sleep(self, seconds: float) -> None:
        """The wrapped backend's `sleep`."""
        self.backend.sleep(seconds)

    def create_lock(self) -> Lock:
        """The wrapped backend's lock."""
        return self.backend.create_lock()

    def create_semaphore(self, value: int) -> Semaphore:
        """The wrapped backend's semaphore."""
        return self.backend.create_semaphore(value)

    def create_event(self) -> Event:
        """The wrapped backend's event."""
        return self.backend.create_event()

    def __repr__(self) -> str:
        return f"<RecordingBackend around {self.backend!r}>"


class RecordingStream(NetworkStreamInterface):
    """A stream that records what goes through the stream it wraps.

    `start_tls` happens inside the wrapped stream, so the recorded bytes are
    the plaintext above TLS.
    """

    def __init__(self, stream: NetworkStreamInterface, tape: StreamTape) -> None:
        self.stream = stream
        self._tape = tape
        self._closed = False
        tape.connected(stream)

    def read(self, max_bytes: int | None = None) -> bytes:
        """Read from the wrapped stream and record the bytes (or end of stream)."""
        try:
            data = self.stream.read(max_bytes)
        except netbase.NetworkError as exc:
            self._tape.failed("read", exc)
            raise
        self._tape.read(data)
        return data

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write to the wrapped stream and record the bytes."""
        try:
            self.stream.write(data)
        except netbase.NetworkError as exc:
            self._tape.failed("write", exc)
            raise
        self._tape.wrote(bytes(data))

    def start_tls(self, ctx: ssl.SSLContext | None = None, hostname: str | None = None) -> None:
        """Upgrade the wrapped stream; record the hostname and what the handshake settled."""
        try:
            self.stream.start_tls(ctx, hostname)
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

    def close(self) -> None:
        """Close the wrapped stream."""
        if not self._closed:
            self._closed = True
            self._tape.closed()
        self.stream.close()

    def __repr__(self) -> str:
        return f"<RecordingStream around {self.stream!r}>"
