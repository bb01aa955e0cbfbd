"""`ReplayBackend` / `AsyncReplayBackend`: serve a recording with no network."""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable
from typing import Any

from netbase import (
    AsyncNetworkBackendInterface,
    AsyncNetworkStreamInterface,
    NetworkBackendInterface,
    NetworkStreamInterface,
)
from netbase.lowlevel import (
    check_data,
    check_host_port,
    check_max_bytes,
    check_tls_args,
    check_unix_path,
    format_address,
)
from netbase_recording._cassette import load
from netbase_recording._events import Connection, Recording
from netbase_recording._player import Player, ReplayError

__all__ = [
    "AsyncReplayBackend",
    "AsyncReplayStream",
    "Match",
    "ReplayBackend",
    "ReplayStream",
    "same_target",
]

Match = Callable[[Connection, "str | None", "int | None", "str | None"], bool]


def same_target(
    connection: Connection, host: str | None, port: int | None, path: str | None
) -> bool:
    """The default rule: the recorded connection went to the same host and port (or path)."""
    return (connection.host, connection.port, connection.path) == (host, port, path)


class _Cassette:
    """The connections of a recording, handed out in order (thread safe)."""

    def __init__(
        self,
        cassette: Recording | str | os.PathLike[str],
        match: Match | None,
        scrub: Callable[[bytes], bytes] | None,
        in_order: bool,
    ) -> None:
        if isinstance(cassette, Recording):
            self.name = "the recording"
            self.recording = cassette
        elif isinstance(cassette, (str, os.PathLike)):
            self.name = os.fspath(cassette)
            self.recording = load(cassette)
        else:
            raise TypeError(
                f"a replay takes a Recording or a cassette path, not {type(cassette).__name__}"
            )
        if match is not None and not callable(match):
            raise TypeError("match must be a function (connection, host, port, path) -> bool")
        if scrub is not None and not callable(scrub):
            raise TypeError("scrub must be a function taking and returning bytes")
        self._match = match or same_target
        self._scrub = scrub
        self._in_order = in_order
        self._used = [False] * len(self.recording.connections)
        self._players: list[Player] = []
        self._targets: dict[int, tuple[str | None, int | None, str | None]] = {}
        self._lock = threading.Lock()

    def open(self, host: str | None, port: int | None, path: str | None) -> Player:
        what = f"unix:{path}" if path is not None else f"{host}:{port}"
        connections = self.recording.connections
        with self._lock:
            candidates = [i for i, used in enumerate(self._used) if not used]
            if not candidates:
                raise ReplayError(
                    f"connect to {what}: {self.name} has no more connections "
                    f"(all {len(connections)} were played)"
                )
            if self._in_order:
                candidates = candidates[:1]
            for i in candidates:
                if self._match(connections[i], host, port, path):
                    break
            else:
                expected = connections[candidates[0]]
                raise ReplayError(
                    f"connect to {what}, but the next connection in {self.name} "
                    f"(connection {candidates[0] + 1}) goes to {expected.target}"
                )
            self._used[i] = True
            player = Player(connections[i], i + 1, self._scrub)
            self._players.append(player)
            if not self._in_order:
                player.binder = self._bind
                self._targets[id(player)] = (host, port, path)
        failure = player.connect_failure()
        if failure is not None:
            player.closed = True
            raise failure
        return player

    def _bind(self, player: Player, data: bytes | None) -> None:
        """Out of order: on its first write, a stream takes the connection that wrote that.

        Connections to one target opened concurrently come in any order; the
        bytes a stream writes first tell which recorded connection it is. A
        connection held by a stream that has not started yet is swapped.
        """
        with self._lock:
            if player.started or data is None or player.opens_with(player.connection, data):
                player.started = True
                return
            host, port, path = self._targets[id(player)]
            holders = {p.number - 1: p for p in self._players if not p.started}
            connections = self.recording.connections
            for i, connection in enumerate(connections):
                free = not self._used[i]
                if not (free or i in holders) or i == player.number - 1:
                    continue
                if not self._match(connection, host, port, path):
                    continue
                if not player.opens_with(connection, data):
                    continue
                mine = player.number - 1
                if free:
                    self._used[mine], self._used[i] = False, True
                else:
                    holders[i].load(connections[mine], mine + 1)
                player.load(connection, i + 1)
                break
            player.started = True

    def check_played(self) -> None:
        with self._lock:
            problems = [p for player in self._players for p in player.unplayed()]
            unused = [i for i, used in enumerate(self._used) if not used]
        for i in unused:
            target = self.recording.connections[i].target
            problems.append(f"connection {i + 1} to {target} was never opened")
        if problems:
            raise ReplayError(f"{self.name} was not played to the end:\n  " + "\n  ".join(problems))

    def __repr__(self) -> str:
        return f'["{self.name}" {len(self.recording.connections)} connection(s)]'


class ReplayBackend(NetworkBackendInterface):
    """A sync backend that serves a recording or a cassette file, with no network.

    `cassette` is a [`Recording`][netbase_recording.Recording] or the path of a cassette file.
    Connections must come in the recorded order, to the recorded host and port;
    `match(connection, host, port, path) -> bool` replaces the target rule,
    and `in_order=False` lets any not yet played connection that matches
    serve (for concurrent code whose connection order varies): a stream then
    takes, on its first write, the matching connection whose recording
    begins with those bytes. `scrub` is the
    hook the cassette was saved with: writes are scrubbed the same way before
    they are compared. [`check_played()`][netbase_recording.ReplayBackend.check_played] raises if
    something was not played.
    """

    def __init__(
        self,
        cassette: Recording | str | os.PathLike[str],
        *,
        match: Match | None = None,
        scrub: Callable[[bytes], bytes] | None = None,
        in_order: bool = True,
    ) -> None:
        self._cassette = _Cassette(cassette, match, scrub, in_order)

    @property
    def recording(self) -> Recording:
        """The recording being replayed."""
        return self._cassette.recording

    def connect(self, host: str, port: int) -> ReplayStream:
        """The next recorded connection (it must match); a recorded connect error is raised."""
        check_host_port(host, port)
        return ReplayStream(self._cassette.open(host, port, None))

    def connect_unix(self, path: str | bytes | os.PathLike[str]) -> ReplayStream:
        """The next recorded connection, which must be to this UNIX socket path."""
        address = os.fsdecode(check_unix_path(path))
        return ReplayStream(self._cassette.open(None, None, address))

    def check_played(self) -> None:
        """Raise [`ReplayError`][netbase_recording.ReplayError] if a recorded call was not made."""
        self._cassette.check_played()

    def __repr__(self) -> str:
        return f"<ReplayBackend {self._cassette!r}>"


def _extra(player: Player, key: str) -> Any:
    if key == "is_readable":
        return player.is_readable()
    if key == "ssl_object":
        return player.tls
    if key == "client_addr":
        return player.client_addr
    if key == "server_addr":
        return player.server_addr
    return None


def _repr(kind: str, player: Player) -> str:
    address = player.server_addr
    peer = player.connection.target
    if isinstance(address, tuple):
        peer = format_address(address[0], address[1])
    tls = " TLS" if player.tls is not None else ""
    closed = " CLOSED" if player.closed else ""
    return f'<{kind} ["{peer}"{tls}{closed}]>'


class ReplayStream(NetworkStreamInterface):
    """A replayed connection: reads give the recorded bytes, writes must match."""

    def __init__(self, player: Player) -> None:
        self._player = player

    def read(self, max_bytes: int | None = None) -> bytes:
        """The next recorded bytes (or end of stream, or the recorded error)."""
        return self._player.read(check_max_bytes(max_bytes))

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Compare `data` with the tape ([`ReplayMismatch`][netbase_recording.ReplayMismatch])."""
        check_data(data)
        self._player.write(bytes(data))

    def start_tls(self, ctx: ssl.SSLContext | None = None, hostname: str | None = None) -> None:
        """Replay the recorded `start_tls` (no handshake: the bytes are plaintext)."""
        check_tls_args(ctx, hostname)
        self._player.start_tls(hostname)

    def get_extra_info(self, key: str) -> Any:
        """Recorded addresses, a stub `ssl_object`, the replayed `is_readable`."""
        return _extra(self._player, key)

    def close(self) -> None:
        """Close (never raises; what went wrong shows in `check_played()`)."""
        self._player.close()

    def __repr__(self) -> str:
        return _repr("ReplayStream", self._player)


class AsyncReplayBackend(AsyncNetworkBackendInterface):
    """The async twin of [`ReplayBackend`][netbase_recording.ReplayBackend] (asyncio and trio)."""

    def __init__(
        self,
        cassette: Recording | str | os.PathLike[str],
        *,
        match: Match | None = None,
        scrub: Callable[[bytes], bytes] | None = None,
        in_order: bool = True,
    ) -> None:
        self._cassette = _Cassette(cassette, match, scrub, in_order)

    @property
    def recording(self) -> Recording:
        """The recording being replayed."""
        return self._cassette.recording

    async def connect(self, host: str, port: int) -> AsyncReplayStream:
        """The next recorded connection (it must match); a recorded connect error is raised."""
        check_host_port(host, port)
        return AsyncReplayStream(self._cassette.open(host, port, None))

    async def connect_unix(self, path: str | bytes | os.PathLike[str]) -> AsyncReplayStream:
        """The next recorded connection, which must be to this UNIX socket path."""
        address = os.fsdecode(check_unix_path(path))
        return AsyncReplayStream(self._cassette.open(None, None, address))

    def check_played(self) -> None:
        """Raise [`ReplayError`][netbase_recording.ReplayError] if a recorded call was not made."""
        self._cassette.check_played()

    def __repr__(self) -> str:
        return f"<AsyncReplayBackend {self._cassette!r}>"


class AsyncReplayStream(AsyncNetworkStreamInterface):
    """A replayed connection (async): reads give the recorded bytes, writes must match."""

    def __init__(self, player: Player) -> None:
        self._player = player

    async def read(self, max_bytes: int | None = None) -> bytes:
        """The next recorded bytes (or end of stream, or the recorded error)."""
        return self._player.read(check_max_bytes(max_bytes))

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Compare `data` with the tape ([`ReplayMismatch`][netbase_recording.ReplayMismatch])."""
        check_data(data)
        self._player.write(bytes(data))

    async def start_tls(
        self, ctx: ssl.SSLContext | None = None, hostname: str | None = None
    ) -> None:
        """Replay the recorded `start_tls` (no handshake: the bytes are plaintext)."""
        check_tls_args(ctx, hostname)
        self._player.start_tls(hostname)

    def get_extra_info(self, key: str) -> Any:
        """Recorded addresses, a stub `ssl_object`, the replayed `is_readable`."""
        return _extra(self._player, key)

    async def close(self) -> None:
        """Close (never raises; what went wrong shows in `check_played()`)."""
        self._player.close()

    def __repr__(self) -> str:
        return _repr("AsyncReplayStream", self._player)
