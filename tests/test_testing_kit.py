"""The conformance kit (`netbase.testing`) on our own backends, on custom ones, and on bad input.

Every built-in runtime must pass every clause of `check_backend`, so the kit
cannot drift from the suite; deliberately broken backends must fail with the
clause they break named; bad input must fail at once with a clear message.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest
from kit_backends import backends

import netbase
from drivers import Driver
from netbase.testing import CLAUSES, ConformanceError, check_backend

# driver name -> the kit's runtime for it
KIT_RUNTIME = {
    "threaded": "threaded",
    "asyncio": "asyncio",
    "uvloop": "uvloop",
    "trio": "trio",
    "recording-threaded": "threaded",
    "recording-asyncio": "asyncio",
    "recording-trio": "trio",
}


def _factory(runtime: Driver) -> Any:
    make = runtime.module.NetworkBackend
    if runtime.name.startswith("recording-"):
        import netbase_recording

        wrapper = (
            netbase_recording.RecordingBackend
            if runtime.flavour == "sync"
            else netbase_recording.AsyncRecordingBackend
        )
        return lambda: wrapper(make())
    return make


def test_builtin_backend_passes_every_clause(runtime: Driver) -> None:
    passed = check_backend(_factory(runtime), runtime=KIT_RUNTIME[runtime.name], clauses=CLAUSES)
    # Every check ran (none was left out quietly) and each clause had at least one.
    assert "connect_unix" in passed
    assert "tls_inside_tls" in passed
    assert len(passed) >= 22


@pytest.mark.runtimes("threaded", "asyncio", "trio")
def test_logging_backend_keeps_the_contract(runtime: Driver) -> None:
    passed = check_backend(backends(runtime.name)["logging"], runtime=runtime.name)
    assert "read_reset" in passed


@pytest.mark.runtimes("threaded", "asyncio", "trio")
def test_backend_swallowing_read_errors_fails_the_read_clause(runtime: Driver) -> None:
    factory = backends(runtime.name)["swallows_read_errors"]
    with pytest.raises(ConformanceError) as info:
        check_backend(factory, runtime=runtime.name, clauses=["read", "write"])
    assert info.value.clauses == ["read"]
    assert [f.check for f in info.value.failures] == ["read_reset"]
    message = str(info.value)
    assert "[read] read_reset: expected ReadError" in message
    assert "got returned b''" in message
    assert "passed" in message


@pytest.mark.runtimes("threaded", "asyncio", "trio")
def test_backend_ignoring_the_deadline_fails_the_timeouts_clause(
    runtime: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A backend that ignores the deadline waits for the peers' guard every
    # time: a shorter guard (still above the prompt margin) keeps this quick.
    monkeypatch.setattr(netbase.testing._check, "GUARD", 3.0)
    factory = backends(runtime.name)["ignores_deadline"]
    # What it does without deadlines is right: reads, writes and closes pass.
    passed = check_backend(factory, runtime=runtime.name, clauses=["read", "write", "close"])
    assert "read_reset" in passed
    with pytest.raises(ConformanceError) as info:
        check_backend(factory, runtime=runtime.name, clauses=["timeouts"], exclude=[])
    assert info.value.clauses == ["timeouts"]
    failed = {f.check: f for f in info.value.failures}
    assert "read_timeout" in failed
    assert failed["read_timeout"].expected == "ReadTimeout within 0.2 s"
    assert failed["read_timeout"].got.startswith("returned b'' after ")
    assert "[timeouts] read_timeout: expected ReadTimeout within 0.2 s" in str(info.value)


@pytest.mark.runtimes("threaded")
def test_unix_only_backend_is_checked_over_its_socket(runtime: Driver) -> None:
    import socket

    netbase_threaded = runtime.module

    class UnixSocketBackend(netbase.NetworkBackendInterface):
        def __init__(self, path: str) -> None:
            self._path = path

        def connect(self, host: str, port: int) -> Any:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self._path)
            except OSError as exc:
                sock.close()
                raise netbase.ConnectError(f"{self._path}: {exc}") from exc
            return netbase_threaded.NetworkStream(sock)

    passed = check_backend(UnixSocketBackend, unix=True)
    assert "read_end_of_stream" in passed
    assert "write_timeout" in passed
    assert "tls_roundtrip" in passed
    assert not any(name.startswith("connect") for name in passed)


# -- bad input ------------------------------------------------------------------


class _SyncBackend(netbase.NetworkBackendInterface):
    def connect(self, host: str, port: int) -> Any:
        raise AssertionError("never called")


class _AsyncBackend(netbase.AsyncNetworkBackendInterface):
    async def connect(self, host: str, port: int) -> Any:
        raise AssertionError("never called")


def test_factory_returning_something_else() -> None:
    with pytest.raises(TypeError, match=r"'a string', which is not a netbase backend"):
        check_backend(lambda: "a string")
    with pytest.raises(TypeError, match="factory must be a callable"):
        check_backend(_SyncBackend())  # type: ignore[arg-type]


def test_sync_backend_on_an_async_runtime() -> None:
    with pytest.raises(TypeError, match=r"connect is not a coroutine function.*runtime='threaded'"):
        check_backend(_SyncBackend, runtime="asyncio")
    with pytest.raises(TypeError, match=r"connect is a coroutine function.*'asyncio' or 'trio'"):
        check_backend(_AsyncBackend, runtime="threaded")


def test_bad_runtime_and_clauses() -> None:
    with pytest.raises(ValueError, match="unknown runtime 'curio'"):
        check_backend(_SyncBackend, runtime="curio")
    with pytest.raises(ValueError, match=r"unknown clause\(s\) \['reed'\]"):
        check_backend(_SyncBackend, clauses=["reed"])
    with pytest.raises(ValueError, match=r"unknown clause\(s\) \['tsl'\] in exclude"):
        check_backend(_SyncBackend, exclude=["tsl"])
    with pytest.raises(TypeError, match="not the string 'read'"):
        check_backend(_SyncBackend, clauses="read")
    with pytest.raises(ValueError, match=r"\['connect'\] need TCP"):
        check_backend(_SyncBackend, clauses=["connect"], unix=True)


def _run_without(module: str, code: str) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys; sys.modules[{module!r}] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("module", ["trustme", "pytest"])
def test_kit_without_its_extra_names_the_extra(module: str) -> None:
    result = _run_without(module, "import netbase.testing")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: netbase.testing needs " + module), last
    assert "netbase[testing]" in last


def test_trio_runtime_without_trio_says_what_to_install() -> None:
    result = _run_without(
        "trio",
        """
        import netbase
        from netbase.testing import check_backend

        class Backend(netbase.AsyncNetworkBackendInterface):
            async def connect(self, host, port):
                raise AssertionError

        check_backend(Backend, runtime="trio")
        """,
    )
    last = result.stderr.strip().splitlines()[-1]
    assert last == "ImportError: runtime='trio' needs trio: install it (`pip install trio`)", last
