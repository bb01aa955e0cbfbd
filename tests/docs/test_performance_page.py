"""The Performance and Recording pages' includes of benchmark results (scripts/docs_hooks.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def hooks() -> Any:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts" / "docs_hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_before_the_benchmarks_have_run_the_page_says_so(tmp_path: Path) -> None:
    assert "No results yet" in hooks().results_markdown(tmp_path)


def test_results_sit_under_the_page_title_with_the_chart_from_docs(tmp_path: Path) -> None:
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "results.md").write_text(
        "# netbase benchmarks: results\n\n![chart](../docs/img/bench-ratios.png)\n\n| a |\n"
        "More in [the profiles](profiles.md), and [elsewhere](https://example.org/).\n"
    )
    text = hooks().results_markdown(tmp_path)
    assert not text.lstrip().startswith("# ")
    assert "![chart](img/bench-ratios.png)" in text
    assert "| a |" in text
    assert "the profiles (`benchmarks/profiles.md`)" in text
    assert "[elsewhere](https://example.org/)" in text


def test_the_page_includes_the_results() -> None:
    page = (ROOT / "docs" / "performance.md").read_text()
    expanded = hooks().on_page_markdown(page, None, None, None)
    assert "--8<--" not in expanded
    assert expanded.count("# Performance") == 1


def test_the_recording_page_states_cassette_figures_only_from_a_run(tmp_path: Path) -> None:
    assert hooks().cassette_markdown(tmp_path) == ""
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "cassette-results.md").write_text("| text | load | 400 MB/s |\n")
    assert hooks().cassette_markdown(tmp_path) == "| text | load | 400 MB/s |\n"
    page = (ROOT / "docs" / "recording.md").read_text()
    assert '--8<-- "benchmarks/cassette-results.md"' in page
    expanded = hooks().on_page_markdown(page, None, None, None)
    assert "--8<--" not in expanded
    assert "MB/s" not in page  # no figure written by hand
