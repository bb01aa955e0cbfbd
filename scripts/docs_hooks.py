"""mkdocs hooks for the netbase site.

The Performance page includes ``benchmarks/results.md``, which the benchmarks
write (``uvx nox -s bench``) to be read on its own as well: its title is the
page's, and its chart link is relative to ``benchmarks/``. The include line
(``--8<-- "benchmarks/results.md"``, pymdownx.snippets' syntax) is expanded
here instead, before Markdown sees it, so that the results sit under the
page's own title and the chart resolves from ``docs/``. Until the benchmarks
have run, the page says so instead of failing the build.

The Recording page includes ``benchmarks/cassette-results.md`` the same way
(``python -m benchmarks.cassette_speed --out benchmarks/cassette-results.md``
writes it): figures only from a run, and nothing at all until there is one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = "benchmarks/results.md"
CASSETTE_RESULTS = "benchmarks/cassette-results.md"
CHART = "img/bench-ratios.png"
# A link, not an image, to a relative path that is neither the chart nor an anchor.
_LOCAL_LINK = re.compile(r"(?<!!)\[([^\]]*)\]\((?![a-z][a-z0-9+.-]*:|#|img/|/)([^)\s]+)\)")
_INCLUDE = re.compile(r'^-{1,}8<-{1,} +"([^"]+)"[ \t]*$', re.MULTILINE)


def results_markdown(root: Path = ROOT) -> str:
    """The benchmark results as the Performance page shows them."""
    path = root / RESULTS
    if not path.is_file():
        return (
            '!!! note "No results yet"\n\n'
            "    The benchmarks have not been run in this checkout: "
            "`uvx nox -s bench` writes the table and the chart shown here.\n"
        )
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]  # the page has its own title
    text = "\n".join(lines)
    # The chart, linked from benchmarks/ in the file, lives in docs/img.
    text = re.sub(r"\]\((?:\.\./)?docs/img/", "](img/", text)
    # Other files of benchmarks/ are not part of the site: name them instead.
    text = _LOCAL_LINK.sub(lambda m: f"{m.group(1)} (`benchmarks/{m.group(2)}`)", text)
    if CHART not in text and (root / "docs" / CHART).is_file():
        text += f"\n\n![Cost of each candidate relative to its runtime's raw baseline]({CHART})\n"
    return text + "\n"


def cassette_markdown(root: Path = ROOT) -> str:
    """The cassette speed figures of the last run written to the file; none before one."""
    path = root / CASSETTE_RESULTS
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Expand the results includes of the Performance and Recording pages."""
    includes = {RESULTS: results_markdown, CASSETTE_RESULTS: cassette_markdown}

    def expand(match: re.Match[str]) -> str:
        include = includes.get(match.group(1))
        return match.group(0) if include is None else include()

    return _INCLUDE.sub(expand, markdown)
