"""The Install page's claims, checked against the distributions' metadata.

The page names one distribution per runtime and says that nothing else comes
along: each runtime distribution requires the core (and trio, for trio's), and
the core requires truststore (and the `ExceptionGroup` backport on 3.10).
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

from docs_lanes import DOCS
from packaging.requirements import Requirement

# What the page says each distribution brings, besides itself.
BRINGS = {
    "netbase-threaded": {"netbase"},
    "netbase-asyncio": {"netbase"},
    "netbase-trio": {"netbase", "trio"},
    "netbase-recording": {"netbase"},
    "netbase": {"truststore"} | ({"exceptiongroup"} if sys.version_info < (3, 11) else set()),
}


def requirement_names(distribution: str) -> set[str]:
    """What installing the distribution brings on this Python (no extras)."""
    names = set()
    for line in metadata.requires(distribution) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.add(requirement.name.lower())
    return names


def test_the_page_names_every_distribution_and_its_module() -> None:
    page = (DOCS / "install.md").read_text()
    rows = re.findall(r"\| `(netbase-\w+)` \| `(\w+)` \|", page)
    assert {name for name, _ in rows} == set(BRINGS) - {"netbase"}
    for name, module in rows:
        assert module == name.replace("-", "_")
        assert metadata.distribution(name).metadata["Name"] == name


def test_the_page_installs_the_core_from_the_clone() -> None:
    """Each clone command names the core beside the runtime: PyPI's `netbase` is another project."""
    page = (DOCS / "install.md").read_text()
    commands = re.findall(r"python -m pip install (\./packages/\S+(?: \./packages/\S+)*)", page)
    runtimes = {"netbase-threaded", "netbase-asyncio", "netbase-trio", "netbase-recording"}
    named = set()
    for command in commands:
        paths = command.split()
        if len(paths) == 1:
            continue  # the page's example of what fails without the core
        assert paths[0] == "./packages/netbase", command
        named |= {p.rsplit("/", 1)[-1].rstrip("`.") for p in paths[1:]}
    assert named == runtimes


def test_nothing_else_comes_along() -> None:
    for distribution, brings in BRINGS.items():
        assert requirement_names(distribution) == brings, distribution
