"""Each distribution uses only the public names of the others.

The runtime packages and `netbase_recording` depend on a range of versions of
`netbase`; what they import from it must be what the core promises to keep
(`netbase` and `netbase.lowlevel`), or a core release could break them while
staying in range. The same holds the other way: the core finds a runtime's
primitives through its public `NetworkBackend`, not its private modules.

This reads the source (every `import`, every `from ... import`, and every
module name given to `importlib.import_module`), so it needs nothing installed
and holds on every runtime.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parents[1] / "packages"


def distributions() -> dict[str, Path]:
    """Top-level import name -> its source directory, for every distribution."""
    found = {}
    for src in sorted(PACKAGES.glob("*/src")):
        for package in src.iterdir():
            if (package / "__init__.py").is_file():
                found[package.name] = package
    return found


DISTRIBUTIONS = distributions()


def private_part(dotted: str) -> str | None:
    """The first `_`-prefixed part of a dotted name (dunders aside), or None."""
    for part in dotted.split("."):
        if part.startswith("_") and not part.startswith("__"):
            return part
    return None


def module_name_given(call: ast.Call) -> str | None:
    """The module named by `importlib.import_module(...)`, f-string holes as `*`."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in ("import_module", "__import__") or not call.args:
        return None
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "*" for v in arg.values)
    return None


def foreign_private_imports(own: str, tree: ast.AST) -> list[str]:
    """Every import in `tree` of a private module or name of another distribution."""
    problems = []

    def foreign(module: str) -> bool:
        top = module.split(".")[0]
        # `netbase_*` written as an f-string hole names some runtime package.
        other = top in DISTRIBUTIONS or top.startswith("netbase")
        return other and top != own

    for node in ast.walk(tree):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if foreign(alias.name) and private_part(alias.name):
                    problems.append(f"{where}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not foreign(node.module):
                continue
            if private_part(node.module):
                problems.append(f"{where}: from {node.module} import ...")
            for alias in node.names:
                if private_part(alias.name):
                    problems.append(f"{where}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Call):
            module = module_name_given(node)
            if module is not None and foreign(module) and private_part(module):
                problems.append(f"{where}: import_module({module!r})")
    return problems


@pytest.mark.parametrize("own", sorted(DISTRIBUTIONS))
def test_no_distribution_imports_private_names_of_another(own: str) -> None:
    problems = []
    for path in sorted(DISTRIBUTIONS[own].rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        relative = path.relative_to(PACKAGES)
        problems += [f"{relative}: {p}" for p in foreign_private_imports(own, tree)]
    assert not problems, "private names imported across distributions:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("from netbase._timeout import remaining", True),
        ("from netbase import _threads", True),
        ("import netbase._ssl", True),
        ("importlib.import_module(f'netbase_{name}._primitives')", True),
        ("from netbase.lowlevel import format_address", False),
        ("from netbase import remaining", False),
        ("importlib.import_module(f'netbase_{name}')", False),
        ("from netbase_trio._deadline import wait", False),  # its own package
    ],
)
def test_the_scan_sees_each_form_of_import(source: str, caught: bool) -> None:
    assert bool(foreign_private_imports("netbase_trio", ast.parse(source))) is caught


def test_every_distribution_is_scanned() -> None:
    assert {"netbase", "netbase_threaded", "netbase_asyncio", "netbase_trio"} <= set(DISTRIBUTIONS)


def test_lowlevel_names_exist_and_are_documented() -> None:
    import netbase.lowlevel

    undocumented = [
        name
        for name in netbase.lowlevel.__all__
        if callable(obj := getattr(netbase.lowlevel, name))
        and not isinstance(obj, type(int | str))  # a type alias has no docstring of its own
        and not (obj.__doc__ or "").strip()
    ]
    assert not undocumented
    assert (netbase.lowlevel.__doc__ or "").strip()
