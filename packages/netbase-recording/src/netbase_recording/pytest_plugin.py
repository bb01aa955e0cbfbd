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
(vcrpy's "once" mode). `--netbase-record=none` never records (a missing
cassette is an error, as CI wants); `--netbase-record=all` records again.

Cassettes go to `cassettes/<test module>/<test name>.cassette` next to the
test file (ini option `netbase_cassette_dir` changes `cassettes`). Override
the `netbase_scrub` fixture to redact secrets (see `scrub_headers`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netbase import AsyncNetworkBackendInterface, NetworkBackendInterface
from netbase_recording._async import AsyncRecordingBackend
from netbase_recording._replay import AsyncReplayBackend, ReplayBackend
from netbase_recording._sync import RecordingBackend

__all__ = ["NetbaseCassette"]

_MODES = ("once", "none", "all")
_report_key = pytest.StashKey[pytest.TestReport]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--netbase-record` and the `netbase_cassette_dir` ini option."""
    group = parser.getgroup("netbase-recording")
    group.addoption(
        "--netbase-record",
        choices=_MODES,
        default="once",
        help="once: record missing cassettes, replay the others (default); "
        "none: replay only; all: record every cassette again",
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


class NetbaseCassette:
    """What the `netbase_cassette` fixture gives: a backend that records or replays."""

    def __init__(self, path: Path, record: bool, scrub: Callable[[bytes], bytes] | None) -> None:
        self.path = path
        self.mode = "record" if record else "replay"
        self.scrub = scrub
        self._backend: Any = None

    def backend(self, inner: NetworkBackendInterface | None = None) -> NetworkBackendInterface:
        """A sync backend: recording around `inner` (default threaded), or the replay."""
        if self._backend is None:
            if self.mode == "record":
                self._backend = RecordingBackend(inner)
            else:
                self._backend = ReplayBackend(self.path, scrub=self.scrub)
        elif not isinstance(self._backend, (RecordingBackend, ReplayBackend)):
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
            else:
                self._backend = AsyncReplayBackend(self.path, scrub=self.scrub)
        elif not isinstance(self._backend, (AsyncRecordingBackend, AsyncReplayBackend)):
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
    name = re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
    path = request.path.parent / directory / request.path.stem / f"{name}.cassette"
    if mode == "none" and not path.exists():
        pytest.fail(f"no cassette {path} and --netbase-record=none", pytrace=False)
    cassette = NetbaseCassette(path, mode == "all" or not path.exists(), netbase_scrub)
    yield cassette
    report = request.node.stash.get(_report_key, None)
    cassette.finish(report is not None and report.passed)
