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
    """The full benchmark (27-32 min on 2 CPUs in the last runs): rewrites results.md, charts."""
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
    """mkdocs build --strict, into site/ (open site/index.html; git ignores it)."""
    uv_sync(session, [], ["docs"], all_packages=True)
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


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


# -- installing as the Install page says -----------------------------------------

# distribution to check -> the page's clone command, after `pip install`
INSTALLS: dict[str, list[str]] = {
    "threaded": ["./packages/netbase", "./packages/netbase-threaded"],
    "asyncio": ["./packages/netbase", "./packages/netbase-asyncio"],
    "trio": ["./packages/netbase", "./packages/netbase-trio"],
    "recording": [
        "./packages/netbase",
        "./packages/netbase-threaded",
        "./packages/netbase-recording",
    ],
}
# What each install may bring besides our own distributions: the core's
# truststore, trio and its dependencies (exceptiongroup on Python 3.10).
THIRD_PARTY = {"pip", "setuptools", "truststore"}
TRIO_DEPENDENCIES = {"trio", "attrs", "idna", "outcome", "sniffio", "sortedcontainers"}
TRIO_DEPENDENCIES |= {"exceptiongroup"}


def _fresh_venv(session: nox.Session, path: str) -> str:
    """A new virtualenv made by the session's Python with venv and pip, as a user has."""
    session.run("python", "-m", "venv", "--clear", path, silent=True)
    return os.path.join(path, "bin", "python")


def _installed(session: nox.Session, python: str) -> dict[str, str]:
    """`pip list` of that virtualenv: normalized name -> version."""
    import json

    listing = session.run(python, "-m", "pip", "list", "--format=json", silent=True, external=True)
    return {
        entry["name"].lower().replace("_", "-"): entry["version"]
        for entry in json.loads(str(listing))
    }


def _check_installed(session: nox.Session, runtime: str, found: dict[str, str]) -> None:
    ours = {p.rsplit("/", 1)[-1] for p in INSTALLS[runtime]}
    allowed = ours | THIRD_PARTY | (TRIO_DEPENDENCIES if runtime == "trio" else set())
    extra = sorted(set(found) - allowed)
    if extra:
        session.error(f"{runtime}: pip list shows what should not be there: {extra}")
    missing = sorted(ours - set(found))
    if missing:
        session.error(f"{runtime}: not installed: {missing}")
    if not found["netbase"].startswith("1!"):
        session.error(f"{runtime}: the netbase installed is {found['netbase']}, not ours")


# Not in the default run: 16 fresh virtualenvs and 20 builds take minutes (7 on
# this two-core machine under load), and it needs the package registry.
@nox.session(python="3.12", default=False)
def install(session: nox.Session) -> None:
    """The Install page, run: fresh virtualenvs with pip, from the clone and from dist/ wheels.

    For each runtime and for recording: the page's commands install it and
    nothing else (`pip list`), its example runs, and the runtime distribution
    named alone (without the core) refuses to install rather than take PyPI's
    unrelated `netbase`. Needs the registry (trio, truststore, the build backend).
    """
    tmp = session.create_tmp()
    # The page's build command, as written (dist/ is the repository's, and ignored by git).
    session.run(
        "uv",
        "build",
        "--all-packages",
        "--wheel",
        "--clear",
        "--out-dir",
        "dist",
        external=True,
        silent=True,
    )
    for runtime, paths in INSTALLS.items():
        for source in ("clone", "wheels"):
            python = _fresh_venv(session, os.path.join(tmp, f"{runtime}-{source}"))
            if source == "clone":
                targets = paths
            else:
                targets = []
                for path in paths:
                    name = path.rsplit("/", 1)[-1].replace("-", "_")
                    prefix = "netbase-" if name == "netbase" else f"{name}-"
                    targets += glob.glob(os.path.join("dist", f"{prefix}*.whl"))
            session.log(f"{runtime} from the {source}: pip install {' '.join(targets)}")
            session.run(
                python, "-m", "pip", "install", "--quiet", *targets, external=True, silent=True
            )
            _check_installed(session, runtime, _installed(session, python))
            session.run(python, "scripts/install_check.py", runtime, external=True)
        # The runtime distribution alone: pip must find no core it accepts on PyPI.
        python = _fresh_venv(session, os.path.join(tmp, f"{runtime}-alone"))
        output = session.run(
            python, "-m", "pip", "install", paths[-1], external=True, silent=True, success_codes=[1]
        )
        if "netbase<1!0.2,>=1!0.1" not in str(output):
            session.error(f"{runtime}: pip install {paths[-1]} failed for another reason")
        found = _installed(session, python)
        if "netbase" in found:
            session.error(
                f"{runtime}: pip install {paths[-1]} installed netbase {found['netbase']}"
            )
        session.log(f"{runtime} alone: refused (no netbase on PyPI satisfies netbase>=1!0.1)")
