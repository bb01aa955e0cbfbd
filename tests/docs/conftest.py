"""The documentation's examples, run as the reader sees them, and the pool example's tests.

Every ``python`` block of ``docs/*.md`` is collected (by ``docs_pages.py``) once
per runtime it is shown for; see ``docs_lanes.py``. The examples reach
``www.example.com`` and the other sites through a private network namespace
that this conftest enters as soon as it is loaded, before any thread starts
(``docs_sandbox.py``), with local servers on ports 80 and 443 of the sites'
addresses (``docs_sites.py``).

Runtimes: ``--runtime NAME`` (or ``NETBASE_RUNTIMES``), as for the conformance
suite. A runtime named there must run: if it is not installed its examples
fail. Otherwise a runtime that is not installed has its examples skipped with
the reason. Under ``--runtime uvloop`` the asyncio examples run on uvloop.
"""

from __future__ import annotations

import atexit
import gc
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docs_sandbox
import pytest

HERE = Path(__file__).resolve().parent

# The docs group (``uv sync --group docs``; ``nox -s docs_tests``) brings what
# these tests need. Without it, as in the conformance sessions, they are not
# collected, and the summary says so.
MISSING = [m for m in ("sybil", "h11") if importlib.util.find_spec(m) is None]
if MISSING:
    collect_ignore_glob = ["*.py"]
SANDBOX_ERROR: str | None = None
_SCRATCH = ""
if not MISSING:
    try:
        _SCRATCH = tempfile.mkdtemp(prefix="netbase-docs-")
        atexit.register(shutil.rmtree, _SCRATCH, True)
        docs_sandbox.enter(_SCRATCH)
    except docs_sandbox.SandboxError as exc:
        SANDBOX_ERROR = str(exc)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MISSING:
        terminalreporter.write_line(
            f"tests/docs not collected: {', '.join(MISSING)} missing (uvx nox -s docs_tests)"
        )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Any:
    if file_path == HERE / "docs_pages.py":
        from docs_pages import DocPages

        return DocPages.from_parent(parent, path=file_path)
    return None


def pytest_configure(config: pytest.Config) -> None:
    if MISSING:
        return
    import docs_lanes

    names: list[str] = list(config.getoption("--runtime", default=None) or [])
    if not names and os.environ.get("NETBASE_RUNTIMES"):
        names = [n.strip() for n in os.environ["NETBASE_RUNTIMES"].split(",") if n.strip()]
    required = {"asyncio" if n == "uvloop" else n for n in names}
    docs_lanes.Lane.required = frozenset(required)
    docs_lanes.Lane.use_uvloop = "uvloop" in names
    docs_lanes.Lane.skip = staticmethod(lambda reason: pytest.skip(reason))


@pytest.fixture(scope="session")
def docs_sites() -> Iterator[Any]:
    """Every site's HTTP and HTTPS server, in the private network."""
    if SANDBOX_ERROR is not None:
        pytest.fail(f"cannot run the docs examples: {SANDBOX_ERROR}", pytrace=False)
    import docs_lanes
    from docs_sites import Sites

    sites = Sites(_SCRATCH)
    sites.trust()
    docs_lanes.Lane.busy_servers = staticmethod(sites.wait_idle)
    yield sites
    sites.close()
    errors = sites.errors()
    if errors:
        pytest.fail(f"the sites' servers failed: {errors!r}", pytrace=False)


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest, docs_sites: Any) -> Iterator[None]:
    """Replaces the conformance suite's check here.

    Page examples span several items (a stream opened by one block is closed by
    a later one), so each page checks for leaks after its last example
    (docs_lanes.Lane.finish). A plain test must leave no connection and no
    file descriptor behind.
    """
    from docs_lanes import open_fds

    if not isinstance(request.node, pytest.Function):
        yield
        return
    gc.collect()
    before = open_fds()
    yield
    problems = []
    busy = docs_sites.wait_idle(5.0)
    if busy:
        problems.append(f"connections left open to {busy}")
    gc.collect()
    leaked = open_fds() - before
    if leaked:
        problems.append(f"file descriptors leaked: {sorted(leaked)}")
    errors = docs_sites.errors()
    if errors:
        problems.append(f"servers failed: {errors!r}")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
