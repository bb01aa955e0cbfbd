"""A foreign `netbase` (PyPI's unrelated namesake) is refused at import, before it runs.

Each runtime package and `netbase_recording` checks which `netbase` it is about
to import. Here a stand-in for the other project (its version scheme, its
summary, an `__init__` that must never run) sits first on `sys.path`, as it would
if pip had installed it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = [
    name
    for name in ("netbase_threaded", "netbase_asyncio", "netbase_trio", "netbase_recording")
    if importlib.util.find_spec(name) is not None
]


@pytest.fixture
def foreign_netbase(tmp_path: Path) -> Path:
    package = tmp_path / "netbase"
    package.mkdir()
    (package / "__init__.py").write_text("print('FOREIGN NETBASE RAN')\n")
    info = tmp_path / "netbase-0.1.239.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: netbase\nVersion: 0.1.239\nSummary: Wikidata World Graph\n"
    )
    return tmp_path


def run_import(module: str, path: Path | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = str(path)
    return subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("module", PACKAGES)
def test_foreign_core_refused_before_it_runs(module: str, foreign_netbase: Path) -> None:
    result = run_import(module, foreign_netbase)
    assert result.returncode != 0
    assert "FOREIGN NETBASE RAN" not in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    distribution = module.replace("_", "-")
    assert last.startswith(f"ImportError: {distribution} needs netbase, its core"), last
    assert "is netbase 0.1.239 (Wikidata World Graph)" in last
    assert str(foreign_netbase / "netbase") in last
    assert "python -m pip uninstall -y netbase" in last


@pytest.mark.parametrize("module", PACKAGES)
def test_our_core_accepted(module: str) -> None:
    result = run_import(module, None)
    assert result.returncode == 0, result.stderr
