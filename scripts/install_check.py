"""Check an install: one exchange over loopback with the runtime you installed.

    python scripts/install_check.py threaded     # or asyncio, trio, recording

Run it with the Python you installed netbase into. It starts an echo server on
127.0.0.1 (nothing leaves the machine), connects to it with the runtime's
`NetworkBackend` under a deadline, writes and reads back, and says which
versions did it. `recording` records the same exchange over the threaded backend
(install `netbase-threaded` beside it).
"""

from __future__ import annotations

import importlib.metadata
import socket
import sys
import threading

RUNTIMES = ("threaded", "asyncio", "trio", "recording")
MESSAGE = b"hello, netbase"


def echo_server() -> tuple[str, int]:
    """A one-connection echo server on loopback; its address."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener, listener.accept()[0] as conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[:2]


def run_sync(netbase: object, net: object, host: str, port: int) -> bytes:
    with netbase.timeout(10.0), net.connect(host, port) as stream:  # type: ignore[attr-defined]
        stream.write(MESSAGE)
        return bytes(stream.read())


async def run_async(netbase: object, host: str, port: int) -> bytes:
    net = netbase.NetworkBackend()  # type: ignore[attr-defined]
    async with netbase.timeout(10.0):  # type: ignore[attr-defined]
        stream = await net.connect(host, port)
        async with stream:
            await stream.write(MESSAGE)
            return bytes(await stream.read())


def main(runtime: str) -> int:
    host, port = echo_server()
    if runtime == "threaded":
        import netbase_threaded as netbase

        answer = run_sync(netbase, netbase.NetworkBackend(), host, port)
    elif runtime == "asyncio":
        import asyncio

        import netbase_asyncio as netbase

        answer = asyncio.run(run_async(netbase, host, port))
    elif runtime == "trio":
        import trio

        import netbase_trio as netbase

        answer = trio.run(run_async, netbase, host, port)
    else:
        import netbase_threaded as netbase
        from netbase_recording import RecordingBackend

        net = RecordingBackend(netbase.NetworkBackend())
        answer = run_sync(netbase, net, host, port)
        events = sum(len(c.events) for c in net.recording.connections)
        print(f"recorded {len(net.recording.connections)} connection, {events} events")
    distribution = f"netbase-{runtime}"
    versions = (
        f"{distribution} {importlib.metadata.version(distribution)} on "
        f"netbase {importlib.metadata.version('netbase')}"
    )
    if answer != MESSAGE:
        print(f"{versions}: sent {MESSAGE!r}, read back {answer!r}")
        return 1
    print(f"{versions}: {len(answer)} bytes echoed over {host}:{port}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in RUNTIMES:
        sys.exit(f"usage: python {sys.argv[0]} {{{','.join(RUNTIMES)}}}")
    sys.exit(main(sys.argv[1]))
