"""A stalled DNS server: lookups abandoned at their deadline must not pile threads up.

``getaddrinfo()`` cannot be cancelled, so under a deadline the threaded and
trio backends run it in worker threads and stop waiting when the deadline
passes. Here a real DNS server that never answers stalls every lookup, in a
private network namespace (nothing leaves the machine): 40 connects at once
under a short deadline must all raise ``ConnectTimeout`` promptly, with at
most a few resolver threads alive at any time, the lookups abandoned before
they started never sent, and no resolver thread left once the stalled ones
give up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

pytestmark = pytest.mark.runtimes("threaded", "trio", "recording-threaded", "recording-trio")

CALLS = 40
LIMIT = 8  # netbase._lookups.LIMIT

_SCRIPT = r"""
import socket, sys, threading, time

runtime = sys.argv[1]
dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dns.bind(("127.0.0.1", 53))
queried = set()

def stall():
    # Note every name asked for, answer none.
    while True:
        data, _ = dns.recvfrom(512)
        labels, i = [], 12
        while i < len(data) and data[i]:
            labels.append(data[i + 1 : i + 1 + data[i]].decode())
            i += 1 + data[i]
        queried.add(".".join(labels))

threading.Thread(target=stall, daemon=True).start()

import netbase

def resolver_threads():
    return sum(1 for t in threading.enumerate() if t.name == "netbase-resolver")

most = 0
stop = threading.Event()

def watch():
    global most
    while not stop.is_set():
        most = max(most, resolver_threads())
        time.sleep(0.001)

watcher = threading.Thread(target=watch)
watcher.start()
outcomes = []
if runtime == "threaded":
    import netbase_threaded
    net = netbase_threaded.NetworkBackend()

    def one(i):
        start = time.monotonic()
        try:
            with netbase.timeout(0.3):
                net.connect(f"stall-{i}.test", 80)
        except Exception as exc:
            outcomes.append((type(exc).__name__, time.monotonic() - start))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CALLS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
else:
    import trio, netbase_trio
    net = netbase_trio.NetworkBackend()

    async def one(i):
        start = time.monotonic()
        try:
            async with netbase.timeout(0.3):
                await net.connect(f"stall-{i}.test", 80)
        except Exception as exc:
            outcomes.append((type(exc).__name__, time.monotonic() - start))

    async def main():
        async with trio.open_nursery() as nursery:
            for i in range(CALLS):
                nursery.start_soon(one, i)

    trio.run(main)
# The stalled lookups give up after the resolver's own timeout (1 s here).
deadline = time.monotonic() + 10
while resolver_threads() and time.monotonic() < deadline:
    time.sleep(0.01)
stop.set()
watcher.join()
names = sorted({kind for kind, _ in outcomes})
slowest = max(seconds for _, seconds in outcomes)
sent = len({q for q in queried if q.startswith("stall-")})
print(len(outcomes), ",".join(names), round(slowest, 3), most, resolver_threads(), sent)
""".replace("CALLS", str(CALLS))


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "--net", "--mount", "true"], check=False).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare (network namespaces)")
def test_a_stalled_dns_server_does_not_pile_threads_up(runtime):
    base = runtime.name.removeprefix("recording-")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "resolv.conf")
        with open(path, "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        shell = 'ip link set lo up; mount --bind "$0" /etc/resolv.conf && exec "$@"'
        command = ["unshare", "--net", "--mount", "sh", "-c", shell, path, sys.executable]
        result = subprocess.run(
            [*command, "-c", _SCRIPT, base],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    calls, kinds, slowest, most, left, sent = result.stdout.split()
    assert int(calls) == CALLS
    assert kinds == "ConnectTimeout"
    assert float(slowest) < 0.3 + 0.5  # every call on time
    assert 1 <= int(most) <= LIMIT  # the threads are bounded...
    assert int(left) == 0  # ...and gone once the stalled lookups give up
    assert 1 <= int(sent) <= LIMIT  # lookups abandoned in the queue were never sent
