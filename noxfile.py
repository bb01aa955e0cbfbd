"""Sessions: the test matrix, lint, typecheck, builds.

Every session installs from the workspace with ``uv sync --frozen``, so our
``netbase`` always comes from ``packages/`` (PyPI holds an unrelated project of
that name) and each runtime's tests run with only that runtime installed.

    uvx nox                       # the whole matrix (what CI runs)
    uvx nox -s tests              # every runtime on every Python
    uvx nox -s "tests-3.12(runtime='trio')"
"""

from __future__ import annotations

import glob
import os

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

# pyenv installs each Python under ~/.pyenv/versions/X.Y.Z/bin; its shims only
# answer for the selected version, so put every install on PATH ourselves. uv
# must not download interpreters (this network only reaches package indexes).
for _bin in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin")), reverse=True):
    os.environ["PATH"] = _bin + os.pathsep + os.environ["PATH"]
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")

# runtime -> (workspace packages, extra dependency groups)
RUNTIMES: dict[str, tuple[list[str], list[str]]] = {
    "threaded": (["netbase-threaded"], []),
    "asyncio": (["netbase-asyncio"], []),
    "uvloop": (["netbase-asyncio"], ["uvloop"]),
    "trio": (["netbase-trio"], []),
    "recording-threaded": (["netbase-recording", "netbase-threaded"], []),
    "recording-asyncio": (["netbase-recording", "netbase-asyncio"], []),
    "recording-trio": (["netbase-recording", "netbase-trio"], []),
}


def uv_sync(
    session: nox.Session, packages: list[str], groups: list[str], *, all_packages: bool = False
) -> None:
    """Install exactly these workspace packages (and groups) into the session's venv."""
    args = ["uv", "sync", "--frozen", "--no-default-groups"]
    if all_packages:
        args.append("--all-packages")
    for package in packages:
        args += ["--package", package]
    for group in groups:
        args += ["--group", group]
    session.run_install(
        *args,
        "--python",
        session.virtualenv.location,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


@nox.session(python=PYTHONS)
@nox.parametrize("runtime", list(RUNTIMES))
def tests(session: nox.Session, runtime: str) -> None:
    """The conformance suite (and the core tests) on one runtime, with only it installed."""
    packages, groups = RUNTIMES[runtime]
    uv_sync(session, packages, ["test", *groups])
    session.run("pytest", "--runtime", runtime, *session.posargs)


@nox.session(python="3.12", default=False)
@nox.parametrize("runtime", [name for name in RUNTIMES if not name.startswith("recording-")])
def soak(session: nox.Session, runtime: str) -> None:
    """Long soak on one runtime: 100,000 connect/close cycles, 10,000 TLS ones, 4 GiB on one stream.

    Checks that descriptors and memory do not grow. Not in the default run (it
    takes minutes); the `tests` session runs a shortened version of the same tests.
    """
    packages, groups = RUNTIMES[runtime]
    uv_sync(session, packages, ["test", *groups])
    session.run(
        "pytest",
        "--runtime",
        runtime,
        "tests/hostile/test_hostile_load.py",
        "-k",
        "soak",
        *session.posargs,
        env={"NETBASE_SOAK": "1"},
    )


@nox.session(python="3.12")
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    uv_sync(session, [], ["lint"])
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.12")
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package."""
    uv_sync(session, [], ["typecheck"], all_packages=True)
    session.run("mypy", "packages")


@nox.session(python="3.12")
def build(session: nox.Session) -> None:
    """Every distribution builds a wheel and an sdist that name only their own dependencies."""
    uv_sync(session, [], [])
    out = os.path.join(session.create_tmp(), "dist")
    session.run("uv", "build", "--all-packages", "--out-dir", out, external=True)
    session.run("python", "scripts/check_dists.py", out)


# The benchmarks run on one Python (the anchors' 3.11) with every runtime and
# the other candidates (the "bench" group) installed; see benchmarks/README.md.
BENCH_PACKAGES = ["netbase-threaded", "netbase-asyncio", "netbase-trio"]


@nox.session(python="3.11", default=False)
def bench(session: nox.Session) -> None:
    """The full benchmark (~20 min on a quiet machine): rewrites results.md and the charts."""
    uv_sync(session, BENCH_PACKAGES, ["bench"])
    session.run("python", "-m", "benchmarks.run", *session.posargs)


@nox.session(python="3.11")
def bench_quick(session: nox.Session) -> None:
    """Tiny sizes, one round: every candidate runs every workload and every byte arrives."""
    uv_sync(session, BENCH_PACKAGES, ["bench"])
    session.run("python", "-m", "benchmarks.run", "--quick", *session.posargs)


# -- the documentation -----------------------------------------------------------

DOCS_RUNTIMES = ["threaded", "asyncio", "trio"]


@nox.session(python="3.12")
def docs(session: nox.Session) -> None:
    """mkdocs build --strict."""
    uv_sync(session, [], ["docs"], all_packages=True)
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", os.path.join(session.create_tmp(), "site")
    )


@nox.session(python=PYTHONS)
def docs_tests(session: nox.Session) -> None:
    """Every docs example on every runtime (all must be installed), and the pool's tests."""
    uv_sync(session, [], ["docs"], all_packages=True)
    runtimes = [f"--runtime={name}" for name in DOCS_RUNTIMES]
    session.run("pytest", "tests/docs", *runtimes, *session.posargs)
    # The asyncio examples again, on uvloop's event loop.
    session.run(
        "pytest", "tests/docs", "--runtime=uvloop", "-k", "asyncio or uvloop", *session.posargs
    )


@nox.session(python="3.12")
def examples(session: nox.Session) -> None:
    """The main job: every docs example, live against the local servers, with what it prints."""
    uv_sync(session, [], ["docs"], all_packages=True)
    session.run("python", "scripts/docs_examples.py", *session.posargs)


@nox.session(python="3.12")
def browser(session: nox.Session) -> None:
    """The built site in headless chromium: pages render, tabs switch, links resolve."""
    uv_sync(session, [], ["docs"], all_packages=True)
    site = os.path.join(session.create_tmp(), "site")
    session.run("mkdocs", "build", "--strict", "--site-dir", site)
    session.run("python", "scripts/docs_browser.py", site)
