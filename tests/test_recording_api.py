"""netbase-recording: defaults, reprs, delegation, bad input, replayed failures."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from test_recording_roundtrip import facade, recorder, replayer

import netbase
from netbase_recording import (
    AsyncRecordingBackend,
    AsyncReplayBackend,
    Recording,
    RecordingBackend,
    ReplayBackend,
    ReplayError,
)


async def test_reprs_say_what_they_wrap(runtime, echo_server, tmp_path):
    rec = recorder(runtime)
    inner = repr(rec.backend)
    kind = "RecordingBackend" if runtime.flavour == "sync" else "AsyncRecordingBackend"
    assert repr(rec) == f"<{kind} around {inner}>"
    address = f"127.0.0.1:{echo_server.port}"
    async with await facade(runtime, rec).connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"x")
        await stream.read()
        text = repr(stream)
        assert text.startswith(f"<{kind.replace('Backend', 'Stream')} around <NetworkStream")
        assert address in text
    rec.save(tmp_path / "c")
    replay = replayer(runtime, tmp_path / "c")
    prefix = "" if runtime.flavour == "sync" else "Async"
    assert repr(replay) == f'<{prefix}ReplayBackend ["{tmp_path / "c"}" 1 connection(s)]>'
    async with await facade(runtime, replay).connect(echo_server.host, echo_server.port) as stream:
        assert repr(stream).endswith(f'ReplayStream ["{address}"]>')
        await stream.write(b"x")
        await stream.read()
    assert repr(stream).endswith(f'ReplayStream ["{address}" CLOSED]>')


async def test_pool_primitives_come_from_the_wrapped_backend(runtime):
    rec = recorder(runtime)
    assert type(rec.create_lock()) is type(rec.backend.create_lock())
    assert type(rec.create_event()) is type(rec.backend.create_event())
    assert type(rec.create_semaphore(2)) is type(rec.backend.create_semaphore(2))
    await facade(runtime, rec).sleep(0)


async def test_connect_unix_passes_through(runtime, unix_echo_server, tmp_path):
    rec = recorder(runtime)
    path = unix_echo_server.address
    async with await facade(runtime, rec).connect_unix(path) as stream:
        await stream.write(b"unix")
        assert await stream.read() == b"unix"
    [connection] = rec.recording.connections
    assert connection.path == path
    rec.save(tmp_path / "u")
    replay = replayer(runtime, tmp_path / "u")
    async with await facade(runtime, replay).connect_unix(path) as stream:
        await stream.write(b"unix")
        assert await stream.read() == b"unix"
    replay.check_played()


async def test_reset_and_failed_handshake_are_replayed(
    runtime, reset_server, handshake_close_server, client_context, tmp_path
):
    rec = recorder(runtime)
    net = facade(runtime, rec)
    async with await net.connect(reset_server.host, reset_server.port) as stream:
        await stream.write(b"12345")
        with pytest.raises(netbase.ReadError) as reset:
            while await stream.read():
                pass
    stream = await net.connect(handshake_close_server.host, handshake_close_server.port)
    with pytest.raises(netbase.ConnectError) as handshake:
        await stream.start_tls(client_context, hostname="localhost")
    await stream.close()
    rec.save(tmp_path / "f")

    rnet = facade(runtime, replayer(runtime, tmp_path / "f"))
    async with await rnet.connect(reset_server.host, reset_server.port) as stream:
        await stream.write(b"12345")
        with pytest.raises(type(reset.value), match="^" + str(reset.value)[:20]):
            while await stream.read():
                pass
        with pytest.raises(netbase.ReadError, match="is closed"):
            await stream.read()
    stream = await rnet.connect(handshake_close_server.host, handshake_close_server.port)
    with pytest.raises(type(handshake.value)):
        await stream.start_tls(client_context, hostname="localhost")
    with pytest.raises(netbase.WriteError, match="is closed"):
        await stream.write(b"x")
    await stream.close()


async def test_bad_input_fails_before_anything(runtime, tmp_path):
    replay = replayer(runtime, Recording())
    net = facade(runtime, replay)
    with pytest.raises(TypeError):
        await net.connect(b"127.0.0.1", 80)
    with pytest.raises(ValueError, match="port"):
        await net.connect("127.0.0.1", 70000)
    with pytest.raises(ReplayError, match="no more connections"):
        await net.connect("127.0.0.1", 80)
    with pytest.raises(TypeError, match="Recording or a cassette path"):
        replayer(runtime, 42)
    with pytest.raises(TypeError, match="scrub"):
        replayer(runtime, Recording(), scrub="yes")
    with pytest.raises(TypeError, match="wraps a netbase"):
        RecordingBackend("backend")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wraps a netbase"):
        AsyncRecordingBackend(object())  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="no such cassette"):
        ReplayBackend(tmp_path / "missing.cassette")
    with pytest.raises(FileNotFoundError, match="no such cassette"):
        AsyncReplayBackend(tmp_path / "missing.cassette")


def test_missing_runtime_names_the_distribution(monkeypatch):
    monkeypatch.setitem(sys.modules, "netbase_threaded", None)
    with pytest.raises(RuntimeError, match="pip install netbase-threaded"):
        RecordingBackend()


@pytest.mark.async_only
async def test_default_async_backend_is_the_running_loops(runtime, echo_server, monkeypatch):
    rec = AsyncRecordingBackend()
    assert repr(rec) == "<AsyncRecordingBackend around the running loop's backend>"
    async with await rec.connect(echo_server.host, echo_server.port) as stream:
        await stream.write(b"x")
        assert await stream.read() == b"x"
    assert repr(rec) == f"<AsyncRecordingBackend around {runtime.module.NetworkBackend()!r}>"
    module = runtime.module.__name__
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(RuntimeError, match=f"pip install {module.replace('_', '-')}"):
        await AsyncRecordingBackend().connect(echo_server.host, echo_server.port)


def test_recorded_events_are_plain_data():
    from netbase_recording import Failed

    failed = Failed(0.0, "read", "ReadTimeout", "timed out")
    exc: Any = failed.exception()
    assert isinstance(exc, netbase.ReadTimeout)
    assert str(exc) == "timed out"
