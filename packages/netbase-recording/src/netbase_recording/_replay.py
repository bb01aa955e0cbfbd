"""`ReplayBackend` / `AsyncReplayBackend`: serve a recording with no network."""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import netbase
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
from netbase_recording._scrub import check_scrub

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
    """The connections of a recording, and which replayed stream holds each (thread safe)."""

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
        check_scrub(scrub)
        self._match = match or same_target
        self._scrub = scrub
        self._in_order = in_order
        self._claimed: dict[int, _Seat] = {}  # connection index -> the stream that is it
        self._seats: list[_Seat] = []
        self.lock = threading.RLock()

    def open(self, host: str | None, port: int | None, path: str | None) -> _Seat:
        what = f"unix:{path}" if path is not None else format_address(host or "", port or 0)
        connections = self.recording.connections
        with self.lock:
            free = [i for i in range(len(connections)) if i not in self._claimed]
            if not free:
                raise ReplayError(
                    f"connect to {what}: {self.name} has no more connections "
                    f"(all {len(connections)} were played)"
                )
            if self._in_order:
                if not self._match(connections[free[0]], host, port, path):
                    raise ReplayError(
                        f"connect to {what}, but the next connection in {self.name} "
                        f"(connection {free[0] + 1}) goes to {connections[free[0]].target}"
                    )
                candidates = free[:1]
            else:
                candidates = [i for i in free if self._match(connections[i], host, port, path)]
                if not candidates:
                    targets = sorted({connections[i].target for i in free})
                    raise ReplayError(
                        f"connect to {what}, but {self.name} has no connection to it left "
                        f"(left: {', '.join(targets)})"
                    )
                # Streams still open that may be one of these hold one each.
                held = sum(
                    1
                    for seat in self._seats
                    if not seat.settled and any(p.number - 1 in candidates for p in seat.players)
                )
                if len(candidates) <= held:
                    raise ReplayError(
                        f"connect to {what}, but {self.name} has no connection to it left: "
                        f"the {len(candidates)} it has are held by streams still open"
                    )
            seat = _Seat(
                self, what, [Player(connections[i], i + 1, self._scrub) for i in candidates]
            )
            self._seats.append(seat)
            seat.play(_connect)
        return seat

    def claim(self, seat: _Seat) -> None:
        """`seat` is down to one recorded connection: no other stream may take it."""
        self._claimed.setdefault(seat.players[0].number - 1, seat)

    def taken(self, player: Player, seat: _Seat) -> bool:
        """Whether another stream holds `player`'s connection."""
        holder = self._claimed.get(player.number - 1)
        return holder is not None and holder is not seat

    def check_played(self) -> None:
        with self.lock:
            for seat in self._seats:
                seat.settle()
            problems = [
                p for seat in self._seats if seat.settled for p in seat.players[0].unplayed()
            ]
            unused = [i for i in range(len(self.recording.connections)) if i not in self._claimed]
        for i in unused:
            target = self.recording.connections[i].target
            problems.append(f"connection {i + 1} to {target} was never opened")
        if problems:
            raise ReplayError(f"{self.name} was not played to the end:\n  " + "\n  ".join(problems))

    def __repr__(self) -> str:
        return f'["{self.name}" {len(self.recording.connections)} connection(s)]'


T = TypeVar("T")


def _connect(player: Player) -> None:
    failure = player.connect_failure()
    if failure is not None:
        player.closed = True
        raise failure


def _outcome(result: object, error: BaseException | None) -> object:
    """What a caller would see of one candidate's answer, to compare candidates."""
    if error is not None:
        return (type(error), str(error))
    return ("returns", result)


class _Seat:
    """One replayed stream: the recorded connections it may still be, played in step.

    In order there is one. Out of order (`in_order=False`) every connection
    to the target that no other stream holds is a candidate, and each call
    (start_tls with its hostname, the bytes written as they come, reads) is
    played on all of them: those that disagree with the code drop out, and as
    long as the survivors answer alike they all stay. When their answers
    differ, the first one recorded wins. So two requests that share their
    first bytes (two POSTs to one URL, head then body) each find their own
    conversation, whichever comes first.
    """

    def __init__(self, cassette: _Cassette, what: str, players: list[Player]) -> None:
        self.cassette = cassette
        self.what = what
        self.players = players
        self.settled = False
        if len(players) == 1:
            self._settle_on(players[0])

    @property
    def player(self) -> Player:
        """The candidate that answers questions that do not decide (addresses, repr)."""
        return self.players[0]

    def _settle_on(self, player: Player) -> None:
        self.players = [player]
        self.settled = True
        self.cassette.claim(self)

    def settle(self) -> None:
        """Take the first candidate still free (for `check_played()` on an open stream)."""
        if not self.settled:
            players = [p for p in self.players if not self.cassette.taken(p, self)]
            if players:
                self._settle_on(players[0])

    def play(self, operation: Callable[[Player], T]) -> T:
        with self.cassette.lock:
            players = [p for p in self.players if not self.cassette.taken(p, self)]
            if not players:
                raise ReplayError(
                    f"{self.what}: every recorded connection this stream could be "
                    f"({', '.join(str(p.number) for p in self.players)}) is taken by another stream"
                )
            answers: list[tuple[Player, object, BaseException | None]] = []
            refused: list[ReplayError] = []
            for player in players:
                try:
                    answers.append((player, operation(player), None))
                except ReplayError as exc:
                    refused.append(exc)
                except netbase.NetworkError as exc:  # a recorded failure: an answer
                    answers.append((player, None, exc))
            if not answers:
                raise max(refused, key=lambda e: getattr(e, "offset", -1))
            first = _outcome(answers[0][1], answers[0][2])
            if any(_outcome(result, error) != first for _, result, error in answers[1:]):
                answers = answers[:1]
            if len(answers) == 1:
                self._settle_on(answers[0][0])
            else:
                self.players = [player for player, _, _ in answers]
            _, result, error = answers[0]
            if error is not None:
                raise error
            return result  # type: ignore[return-value]

    def close(self) -> None:
        with self.cassette.lock:
            players = [p for p in self.players if not self.cassette.taken(p, self)]
            for player in players:
                player.close()
            if players and not self.settled:
                # The conversation is over: the candidate that played all it recorded wins.
                self._settle_on(min(players, key=lambda p: (len(p.unplayed()), p.number)))
            elif not players:
                self.players[0].closed = True


class ReplayBackend(NetworkBackendInterface):
    """A sync backend that serves a recording or a cassette file, with no network.

    `cassette` is a [`Recording`][netbase_recording.Recording] or the path of a cassette file.
    Connections must come in the recorded order, to the recorded host and port;
    `match(connection, host, port, path) -> bool` replaces the target rule,
    and `in_order=False` lets any not yet played connection that matches
    serve (for concurrent code whose connection order varies): a stream is
    then played against every such connection at once, and the TLS hostname
    and the bytes it writes, as they come, narrow them down to the one it
    is (see the recording docs). `scrub` is the
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


def _extra(seat: _Seat, key: str) -> Any:
    if key == "is_readable":
        return seat.play(Player.is_readable)
    player = seat.player
    if key == "ssl_object":
        return player.tls
    if key == "client_addr":
        return player.client_addr
    if key == "server_addr":
        return player.server_addr
    return None


def _repr(kind: str, seat: _Seat) -> str:
    player = seat.player
    address = player.server_addr
    peer = player.connection.target
    if isinstance(address, tuple):
        peer = format_address(address[0], address[1])
    tls = " TLS" if player.tls is not None else ""
    closed = " CLOSED" if player.closed else ""
    return f'<{kind} ["{peer}"{tls}{closed}]>'


class ReplayStream(NetworkStreamInterface):
    """A replayed connection: reads give the recorded bytes, writes must match."""

    def __init__(self, seat: _Seat) -> None:
        self._seat = seat

    def read(self, max_bytes: int | None = None) -> bytes:
        """The next recorded bytes (or end of stream, or the recorded error)."""
        size = check_max_bytes(max_bytes)
        return self._seat.play(lambda player: player.read(size))

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Compare `data` with the tape ([`ReplayMismatch`][netbase_recording.ReplayMismatch])."""
        check_data(data)
        chunk = bytes(data)
        self._seat.play(lambda player: player.write(chunk))

    def start_tls(self, ctx: ssl.SSLContext | None = None, hostname: str | None = None) -> None:
        """Replay the recorded `start_tls` (no handshake: the bytes are plaintext)."""
        check_tls_args(ctx, hostname)
        self._seat.play(lambda player: player.start_tls(hostname))

    def get_extra_info(self, key: str) -> Any:
        """Recorded addresses, a stub `ssl_object`, the replayed `is_readable`."""
        return _extra(self._seat, key)

    def close(self) -> None:
        """Close (never raises; what went wrong shows in `check_played()`)."""
        self._seat.close()

    def __repr__(self) -> str:
        return _repr("ReplayStream", self._seat)


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

    def __init__(self, seat: _Seat) -> None:
        self._seat = seat

    async def read(self, max_bytes: int | None = None) -> bytes:
        """The next recorded bytes (or end of stream, or the recorded error)."""
        size = check_max_bytes(max_bytes)
        return self._seat.play(lambda player: player.read(size))

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Compare `data` with the tape ([`ReplayMismatch`][netbase_recording.ReplayMismatch])."""
        check_data(data)
        chunk = bytes(data)
        self._seat.play(lambda player: player.write(chunk))

    async def start_tls(
        self, ctx: ssl.SSLContext | None = None, hostname: str | None = None
    ) -> None:
        """Replay the recorded `start_tls` (no handshake: the bytes are plaintext)."""
        check_tls_args(ctx, hostname)
        self._seat.play(lambda player: player.start_tls(hostname))

    def get_extra_info(self, key: str) -> Any:
        """Recorded addresses, a stub `ssl_object`, the replayed `is_readable`."""
        return _extra(self._seat, key)

    async def close(self) -> None:
        """Close (never raises; what went wrong shows in `check_played()`)."""
        self._seat.close()

    def __repr__(self) -> str:
        return _repr("AsyncReplayStream", self._seat)
