"""netbase-recording: ``connect_tls`` is recorded and replayed as ``connect`` + ``start_tls``."""

from __future__ import annotations

from test_recording_roundtrip import facade, recorder, replayer

from helpers import read_exactly
from netbase_recording import StartTLS


async def test_connect_tls_records_connect_then_start_tls(
    runtime, tls_echo_server, client_context, tmp_path
):
    rec = recorder(runtime)
    net = facade(runtime, rec)
    port = tls_echo_server.port
    async with await net.connect_tls(
        "127.0.0.1", port, hostname="localhost", ctx=client_context
    ) as s:
        await s.write(b"recorded")
        assert await read_exactly(s, 8) == b"recorded"
    [connection] = rec.recording.connections
    assert (connection.host, connection.port) == ("127.0.0.1", port)
    assert connection.tls_hostnames == ["localhost"]
    kinds = [type(event).__name__ for event in connection.events]
    assert kinds[:2] == ["Connected", "StartTLS"]  # the handshake, then the bytes
    assert any(isinstance(event, StartTLS) and event.tls for event in connection.events)
    rec.save(tmp_path / "tls.cassette")

    # Replayed with no network: the same call finds the recorded conversation.
    accepted = tls_echo_server.accepted
    replay = replayer(runtime, tmp_path / "tls.cassette")
    rnet = facade(runtime, replay)
    async with await rnet.connect_tls(
        "127.0.0.1", port, hostname="localhost", ctx=client_context
    ) as stream:
        assert stream.get_extra_info("ssl_object").version().startswith("TLS")
        await stream.write(b"recorded")
        assert await read_exactly(stream, 8) == b"recorded"
    replay.check_played()
    assert tls_echo_server.accepted == accepted
