"""Quick side-by-side: netbase_trio against plain trio streams, loopback.

    python packages/netbase-trio/benchmarks/quick.py [rounds]

Bulk: the server sends 64 MiB, the client reads 64 KiB at a time until end of
stream. Ping-pong: 5,000 round trips of 64 bytes. Each with and without a
deadline (``netbase.timeout`` for netbase, ``trio.fail_after`` per operation
for trio). The server is a separate process; rounds alternate candidates and
the report gives medians and the ratio to plain trio streams. Not part of the
test suite; the real harness is issue 9's ``benchmarks/``.
"""

# ruff: noqa: D103 - a script, its functions are the candidates

from __future__ import annotations

import multiprocessing
import socket
import statistics
import sys
import time

import trio

import netbase
import netbase_trio

BULK = 64 * 1024 * 1024
PINGS = 5000
MSG = b"x" * 64


def serve(listener: socket.socket) -> None:
    chunk = b"\0" * (1024 * 1024)
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mode = conn.recv(1)
        if mode == b"B":
            for _ in range(BULK // len(chunk)):
                conn.sendall(chunk)
        elif mode == b"P":
            while data := conn.recv(65536):
                conn.sendall(data)
        else:
            conn.close()
            return
        conn.close()


async def trio_bulk(port: int, deadline: bool) -> float:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(b"B")
    got = 0
    start = time.perf_counter()
    while True:
        if deadline:
            with trio.fail_after(10):
                data = await stream.receive_some(65536)
        else:
            data = await stream.receive_some(65536)
        if not data:
            break
        got += len(data)
    elapsed = time.perf_counter() - start
    await stream.aclose()
    assert got == BULK, got
    return elapsed


async def trio_ping(port: int, deadline: bool) -> float:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(b"P")
    start = time.perf_counter()
    for _ in range(PINGS):
        if deadline:
            with trio.fail_after(10):
                await stream.send_all(MSG)
            got = 0
            while got < 64:
                with trio.fail_after(10):
                    got += len(await stream.receive_some(65536))
        else:
            await stream.send_all(MSG)
            got = 0
            while got < 64:
                got += len(await stream.receive_some(65536))
    elapsed = time.perf_counter() - start
    await stream.aclose()
    return elapsed


async def nb_bulk(port: int, deadline: bool) -> float:
    net = netbase_trio.NetworkBackend()
    stream = await net.connect("127.0.0.1", port)
    await stream.write(b"B")
    got = 0
    start = time.perf_counter()
    if deadline:
        async with netbase.timeout(60):
            while data := await stream.read(65536):
                got += len(data)
    else:
        while data := await stream.read(65536):
            got += len(data)
    elapsed = time.perf_counter() - start
    await stream.close()
    assert got == BULK, got
    return elapsed


async def nb_ping(port: int, deadline: bool) -> float:
    net = netbase_trio.NetworkBackend()
    stream = await net.connect("127.0.0.1", port)
    await stream.write(b"P")

    async def loop() -> None:
        for _ in range(PINGS):
            await stream.write(MSG)
            got = 0
            while got < 64:
                got += len(await stream.read(65536))

    start = time.perf_counter()
    if deadline:
        async with netbase.timeout(60):
            await loop()
    else:
        await loop()
    elapsed = time.perf_counter() - start
    await stream.close()
    return elapsed


CANDIDATES = {
    "trio bulk": (trio_bulk, False),
    "netbase bulk": (nb_bulk, False),
    "trio bulk fail_after": (trio_bulk, True),
    "netbase bulk deadline": (nb_bulk, True),
    "trio ping": (trio_ping, False),
    "netbase ping": (nb_ping, False),
    "trio ping fail_after": (trio_ping, True),
    "netbase ping deadline": (nb_ping, True),
}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    server = multiprocessing.Process(target=serve, args=(listener,), daemon=True)
    server.start()
    times: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    for _ in range(rounds):
        for name, (fn, deadline) in CANDIDATES.items():
            times[name].append(trio.run(fn, port, deadline))
    server.kill()
    med = {name: statistics.median(values) for name, values in times.items()}
    for name, value in med.items():
        unit = (
            f"{BULK / value / 1e6:8.0f} MB/s"
            if "bulk" in name
            else f"{value / PINGS * 1e6:8.1f} us/rt"
        )
        print(f"{name:24} {unit}")

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))

    print(f"bulk: netbase / trio           {ratio('netbase bulk', 'trio bulk'):.2f}")
    print(f"ping: netbase / trio           {ratio('netbase ping', 'trio ping'):.2f}")
    print(f"bulk: deadline / none          {ratio('netbase bulk deadline', 'netbase bulk'):.2f}")
    print(f"ping: deadline / none          {ratio('netbase ping deadline', 'netbase ping'):.2f}")
    print(f"trio ping: fail_after / none   {ratio('trio ping fail_after', 'trio ping'):.2f}")
    print(
        f"ping deadline: netbase / trio fail_after "
        f"{ratio('netbase ping deadline', 'trio ping fail_after'):.2f}"
    )


if __name__ == "__main__":
    main()
