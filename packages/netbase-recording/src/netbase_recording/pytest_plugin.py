"""The pytest plugin: the `netbase_cassette` fixture (registered as `pytest11`).

A test asks the fixture for a backend:

```python
def test_home_page(netbase_cassette):
    net = netbase_cassette.backend()          # or: await-able async_backend()
    ...
```

The first run, when the cassette file is missing, records through the real
backend and saves the cassette when the test passes. Later runs replay it with
no network and fail the test if the recording was not played to the end
(vcrpy's "once" mode). The record modes are those of vcrpy and
pytest-recording: `--netbase-record=once` (the default), `none` (never
record: a missing cassette is an error, as CI wants), `all` (record every
cassette again) and `new_episodes` (replay the connections a cassette has,
record the ones it has not, and save them all).

Cassettes go to `cassettes/<test module>/<test name>.cassette` next to the
test file (ini option `netbase_cassette_dir` changes `cassettes`). A name
that is not plain (parametrized ids, test classes) is made safe for any file
system and gets a short hash of the test's id, so distinct tests never share
a cassette and each keeps its name from run to run; two tests that would
still share one are an error. Override the `netbase_scrub` fixture to
redact secrets (see `scrub_headers`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netbase import (
    AsyncNetworkBackendInterface,
    AsyncNetworkStreamInterface,
    NetworkBackendInterface,
    NetworkStreamInterface,
)
from netbase_recording._async import AsyncRecordingBackend
from netbase_recording._cassette import save
from netbase_recording._events import Recording
from netbase_recording._player import ReplayError
from netbase_recording._replay import AsyncReplayBackend, ReplayBackend
from netbase_recording._sync import RecordingBackend

__all__ = ["NetbaseCassette"]

_MODES = ("once", "none", "all", "new_episodes")
_report_key = pytest.StashKey[pytest.TestReport]()
_paths_key = pytest.StashKey[dict[str, str]]()
_PLAIN = re.compile(r"[A-Za-z0-9_.]{1,100}")


def cassette_name(item: pytest.Item) -> str:
    """The cassette file name of a test: readable, unique per test, the same every run.

    `test_get` stays `test_get`; a class method is `TestApi.test_get`.
    Anything else (parametrized ids hold `/`, `?`, spaces, any character)
    is cut down to safe characters and gets 10 hex digits of the SHA-256 of
    the test's id, so `test_get[/users a]` and `test_get[/users/a]` differ.
    """
    module = item.nodeid.split("::", 1)[0]
    name = item.nodeid[len(module) + 2 :].replace("::", ".") or item.name
    if _PLAIN.fullmatch(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.")[:80]
    return f"{safe}-{digest}"


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--netbase-record` and the `netbase_cassette_dir` ini option."""
    group = parser.getgroup("netbase-recording")
    group.addoption(
        "--netbase-record",
        choices=_MODES,
        default="once",
        help="once: record missing cassettes, replay the others (default); "
        "none: replay only; all: record every cassette again; "
        "new_episodes: replay what a cassette has, record new connections and add them",
    )
    parser.addini(
        "netbase_cassette_dir",
        "directory for cassettes, relative to each test file",
        default="cassettes",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep the outcome of the test call, so the fixture saves only passing recordings."""
    report = yield
    if report.when == "call":
        item.stash[_report_key] = report
    return report


class _NewEpisodes(NetworkBackendInterface):
    """Replays the connections a cassette has; records the others through the network."""

    def __init__(self, replay: ReplayBackend, recorder: RecordingBackend) -> None:
        self.replay = replay
        self.recorder = recorder

    def connect(self, host: str, port: int) -> NetworkStreamInterface:
        try:
            return self.replay.connect(host, port)
        except ReplayError:
            return self.recorder.connect(host, port)


class _AsyncNewEpisodes(AsyncNetworkBackendInterface):
    """The async twin of `_NewEpisodes`."""

    def __init__(self, replay: AsyncReplayBackend, recorder: AsyncRecordingBackend) -> None:
        self.replay = replay
        self.recorder = recorder

    async def connect(self, host: str, port: int) -> AsyncNetworkStreamInterface:
        try:
            return await self.replay.connect(host, port)
        except ReplayError:
            return await self.recorder.connect(host, port)


class NetbaseCassette:
    """What the `netbase_cassette` fixture gives: a backend that records or replays.

    `mode` is `"record"`, `"replay"` or `"new_episodes"` (replay, and record
    the connections the cassette does not have).
    """

    def __init__(self, path: Path, mode: str, scrub: Callable[[bytes], bytes] | None) -> None:
        if mode not in ("record", "replay", "new_episodes"):
            raise ValueError(f"mode is 'record', 'replay' or 'new_episodes', not {mode!r}")
        self.path = path
        self.mode = mode
        self.scrub = scrub
        self._backend: Any = None

    def backend(self, inner: NetworkBackendInterface | None = None) -> NetworkBackendInterface:
        """A sync backend: recording around `inner` (default threaded), or the replay."""
        if self._backend is None:
            if self.mode == "record":
                self._backend = RecordingBackend(inner)
            elif self.mode == "replay":
                self._backend = ReplayBackend(self.path, scrub=self.scrub)
            else:
                self._backend = _NewEpisodes(
                    ReplayBackend(self.path, scrub=self.scrub, in_order=False),
                    RecordingBackend(inner),
                )
        elif not isinstance(self._backend, (RecordingBackend, ReplayBackend, _NewEpisodes)):
            raise RuntimeError("this test already asked for the async backend")
        backend: NetworkBackendInterface = self._backend
        return backend

    def async_backend(
        self, inner: AsyncNetworkBackendInterface | None = None
    ) -> AsyncNetworkBackendInterface:
        """An async backend: recording around `inner` (default: the loop's own), or the replay."""
        if self._backend is None:
            if self.mode == "record":
                self._backend = AsyncRecordingBackend(inner)
            elif self.mode == "replay":
                self._backend = AsyncReplayBackend(self.path, scrub=self.scrub)
            else:
                self._backend = _AsyncNewEpisodes(
                    AsyncReplayBackend(self.path, scrub=self.scrub, in_order=False),
                    AsyncRecordingBackend(inner),
                )
        elif not isinstance(
            self._backend, (AsyncRecordingBackend, AsyncReplayBackend, _AsyncNewEpisodes)
        ):
            raise RuntimeError("this test already asked for the sync backend")
        backend: AsyncNetworkBackendInterface = self._backend
        return backend

    def finish(self, passed: bool) -> None:
        """Save what was recorded, or check that the replay was played to the end."""
        backend = self._backend
        if backend is None or not passed:
            return
        if isinstance(backend, (RecordingBackend, AsyncRecordingBackend)):
            backend.save(self.path, scrub=self.scrub)
        elif isinstance(backend, (_NewEpisodes, _AsyncNewEpisodes)):
            backend.replay.check_played()
            new = backend.recorder.recording.connections
            if new:
                everything = Recording([*backend.replay.recording.connections, *new])
                save(everything, self.path, scrub=self.scrub)
        else:
            backend.check_played()

    def __repr__(self) -> str:
        return f"<netbase_cassette {self.mode} {str(self.path)!r}>"


@pytest.fixture
def netbase_scrub() -> Callable[[bytes], bytes] | None:
    """Override to redact secrets from cassettes, e.g. `scrub_headers("Authorization")`."""
    return None


@pytest.fixture
def netbase_cassette(
    request: pytest.FixtureRequest, netbase_scrub: Callable[[bytes], bytes] | None
) -> Iterator[NetbaseCassette]:
    """Records the test's traffic to its cassette on the first run, replays it afterwards."""
    mode = request.config.getoption("--netbase-record")
    directory = request.config.getini("netbase_cassette_dir")
    name = cassette_name(request.node)
    path = request.path.parent / directory / request.path.stem / f"{name}.cassette"
    # Case-insensitive file systems (macOS, Windows) would merge names that differ in case.
    owners = request.config.stash.setdefault(_paths_key, {})
    owner = owners.setdefault(str(path).casefold(), request.node.nodeid)
    if owner != request.node.nodeid:
        pytest.fail(
            f"{request.node.nodeid} and {owner} would share the cassette {path}: "
            "rename one of them",
            pytrace=False,
        )
    if mode == "none" and not path.exists():
        pytest.fail(f"no cassette {path} and --netbase-record=none", pytrace=False)
    if mode == "all" or not path.exists():
        cassette = NetbaseCassette(path, "record", netbase_scrub)
    else:
        cassette = NetbaseCassette(
            path, "new_episodes" if mode == "new_episodes" else "replay", netbase_scrub
        )
    yield cassette
    report = request.node.stash.get(_report_key, None)
    cassette.finish(report is not None and report.passed)
