"""The kit as a user meets it: a fresh project, outside this repository, checks its own backend.

A temporary folder gets a new virtual environment with `netbase[testing]` and
the three runtimes installed from this workspace's `packages/` (by path: no
index is asked for netbase; trustme, pytest and trio come from uv's cache or
the package index). The project holds a backend module (the custom backends of
`kit_backends.py`) and a few lines of pytest; its pytest run must pass the good
backend on threaded, asyncio and trio, and see each broken one fail with the
clause it breaks named.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from drivers import Driver

ROOT = Path(__file__).resolve().parents[1]

PROJECT_CONFTEST = 'pytest_plugins = ["netbase.testing.pytest_plugin"]\n'

PROJECT_TESTS = """
import pytest
from netbase.testing import ConformanceError, check_backend

from my_backends import backends

RUNTIMES = ["threaded", "asyncio", "trio"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_logging_backend_keeps_the_contract(runtime):
    check_backend(backends(runtime)["logging"], runtime=runtime)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_swallowing_read_errors_is_caught(runtime):
    factory = backends(runtime)["swallows_read_errors"]
    with pytest.raises(ConformanceError, match=r"\\[read\\] read_reset: expected ReadError"):
        check_backend(factory, runtime=runtime, clauses=["read"])


def test_the_kits_servers_as_fixtures(netbase_tls_echo_server, netbase_certificates):
    net = backends("threaded")["logging"]()
    with net.connect(netbase_tls_echo_server.host, netbase_tls_echo_server.port) as stream:
        stream.start_tls(netbase_certificates.client_context(), "localhost")
        stream.write(b"ping")
        assert stream.read() == b"ping"
    assert net.log[0].startswith("connect 127.0.0.1:")


def test_ignoring_the_deadline_is_caught():
    factory = backends("threaded")["ignores_deadline"]
    with pytest.raises(ConformanceError) as info:
        check_backend(factory, runtime="threaded", clauses=["timeouts"])
    print(info.value)
    assert "[timeouts] read_timeout: expected ReadTimeout within 0.2 s" in str(info.value)
"""


def _run(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.runtimes("threaded")
def test_fresh_project_checks_its_backend_with_the_kit(
    runtime: Driver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed to build the fresh project's environment (it builds nox's too)")
    project = tmp_path_factory.mktemp("fresh-project")
    assert ROOT not in project.parents
    shutil.copy(ROOT / "tests" / "kit_backends.py", project / "my_backends.py")
    (project / "test_my_backends.py").write_text(textwrap.dedent(PROJECT_TESTS))
    (project / "conftest.py").write_text(PROJECT_CONFTEST)
    python = project / ".venv" / "bin" / "python"
    made = _run([uv, "venv", "--python", sys.executable, str(project / ".venv")], project, 120)
    assert made.returncode == 0, made.stderr
    packages = ROOT / "packages"
    installed = _run(
        [
            uv,
            "pip",
            "install",
            "--python",
            str(python),
            f"netbase[testing] @ {(packages / 'netbase').as_uri()}",
            str(packages / "netbase-threaded"),
            str(packages / "netbase-asyncio"),
            str(packages / "netbase-trio"),
        ],
        project,
        600,
    )
    assert installed.returncode == 0, installed.stderr
    # The core came from the workspace, in epoch 1, not PyPI's namesake.
    version = _run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('netbase'))"],
        project,
        60,
    )
    assert version.stdout.strip() == "1!0.1.0", version
    result = _run(
        [str(python), "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-W", "error"],
        project,
        900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 passed" in result.stdout, result.stdout
    # What the broken backend's failure said, as the user reads it.
    assert "[timeouts] read_timeout: expected ReadTimeout within 0.2 s; got returned b''" in (
        result.stdout
    )
