"""The connection pool of docs/pool.md, tested beyond the page.

Reuse, dropped-connection detection, the connection limit and deadlines, for
the sync pool on threads and the async pool on asyncio and on trio, against
the sites' local servers.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import netbase

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
URL = "https://www.example.com/"


def load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def server(docs_sites: Any) -> Any:
    server = docs_sites.servers["www.example.com", 443]
    server.reset_counts()
    return server


@pytest.fixture(params=["http", "https"])
def site(request: pytest.FixtureRequest, docs_sites: Any) -> tuple[str, Any]:
    """A URL of www.example.com over plain HTTP or TLS, and the server behind it."""
    port = 443 if request.param == "https" else 80
    server = docs_sites.servers["www.example.com", port]
    server.reset_counts()
    return f"{request.param}://www.example.com/", server


# -- the sync pool, on threads ---------------------------------------------------


@pytest.mark.sync_only
def test_sync_pool_reuses_and_detects_dropped_connections(
    runtime: Any, site: tuple[str, Any]
) -> None:
    url, server = site
    pool_module = load("http_pool")
    with pool_module.ConnectionPool(runtime.module.NetworkBackend()) as pool:
        for _ in range(3):
            assert pool.request("GET", url).status == 200
        assert server.accepted == 1
        assert server.close_idle() == 1
        assert server.wait_idle(2.0)  # the server's side is closed: the FIN is on its way
        assert pool.request("GET", url).status == 200  # not a failure: a new connection
        assert server.accepted == 2


@pytest.mark.sync_only
def test_sync_pool_limit_and_deadlines(runtime: Any, server: Any) -> None:
    pool_module = load("http_pool")
    with pool_module.ConnectionPool(runtime.module.NetworkBackend(), max_connections=2) as pool:
        results: list[int] = []
        threads = [
            threading.Thread(
                target=lambda: results.append(pool.request("GET", URL + "slow").status)
            )
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        while server.requests < 2:  # two requests hold both slots (each answered after 1 s)
            time.sleep(0.01)
        # A third waits for a slot, then gives up at its deadline.
        started = time.monotonic()
        with pytest.raises(netbase.TimeoutError):
            pool.request("GET", URL, timeout=0.2)
        assert time.monotonic() - started < 1.0
        for thread in threads:
            thread.join()
        assert results == [200] * 4
        assert server.most_open <= 2
        with pytest.raises(netbase.ReadTimeout):
            pool.request("GET", URL + "slow", timeout=0.3)


# -- the async pool, on asyncio and trio ----------------------------------------------


@pytest.mark.runtimes("asyncio", "uvloop", "trio")
async def test_async_pool_reuses_and_detects_dropped_connections(
    runtime: Any, site: tuple[str, Any]
) -> None:
    url, server = site
    pool_module = load("async_http_pool")
    async with pool_module.AsyncConnectionPool(runtime.module.NetworkBackend()) as pool:
        for _ in range(3):
            assert (await pool.request("GET", url)).status == 200
        assert server.accepted == 1
        assert server.close_idle() == 1
        assert server.wait_idle(2.0)
        await runtime.sleep(0.05)  # as between two requests of a program: the loop runs
        assert (await pool.request("GET", url)).status == 200
        assert server.accepted == 2


@pytest.mark.runtimes("asyncio", "uvloop", "trio")
async def test_async_pool_limit_and_deadlines(runtime: Any, server: Any) -> None:
    pool_module = load("async_http_pool")
    backend = runtime.module.NetworkBackend()
    async with pool_module.AsyncConnectionPool(backend, max_connections=2) as pool:

        async def slow() -> int:
            return (await pool.request("GET", URL + "slow")).status

        async def impatient() -> str:
            while server.requests < 2:  # two requests hold both slots (each answered after 1 s)
                await runtime.sleep(0.01)
            started = time.monotonic()
            with pytest.raises(netbase.TimeoutError):
                await pool.request("GET", URL, timeout=0.2)
            assert time.monotonic() - started < 1.0
            return "timed out"

        results = await runtime.gather(slow, slow, slow, slow, impatient)
        assert results == [200] * 4 + ["timed out"]
        assert server.most_open <= 2
        with pytest.raises(netbase.ReadTimeout):
            await pool.request("GET", URL + "slow", timeout=0.3)
