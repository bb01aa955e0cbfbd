"""The harness that runs the pages' examples: it must fail when a page is wrong.

Each test writes a small page, collects it as the suite does (one Sybil per
runtime) and evaluates its examples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docs_lanes
import pytest
from sybil.example import SybilFailure

PAGE = """# A page

```python
import math
shared = math.inf
```

=== "threaded"

    ```pycon
    >>> import netbase_threaded as netbase
    >>> netbase.NetworkBackend()
    <NetworkBackend [threaded]>
    ```

=== "asyncio and trio"

    ```python
    async def twice(x):
        return 2 * x
    ```

```pycon
>>> await twice(21)
42
```
"""


def lanes_of(tmp_path: Path, text: str) -> dict[str, list[Any]]:
    page = tmp_path / "page.md"
    page.write_text(text)
    found = {}
    for sybil in docs_lanes.lane_sybils():
        sybil.path = tmp_path
        document = sybil.parse(page)
        found[sybil.name] = list(document.examples())
    return found


def run(examples: list[Any]) -> None:
    try:
        for example in examples:
            example.evaluate()
    finally:
        docs_lanes.teardown_lane(examples[0].namespace)


def test_blocks_go_to_the_runtimes_their_tabs_name(tmp_path: Path) -> None:
    lanes = lanes_of(tmp_path, PAGE)
    lines = {name: [e.line for e in examples] for name, examples in lanes.items()}
    # The untabbed sync block runs in every lane; the threaded session only in
    # its own; the async definitions and the untabbed await in both async lanes.
    assert lines["threaded"] == [3, 11, 12]
    assert lines["asyncio"] == [3, 18, 24]
    assert lines["trio"] == [3, 18, 24]


def test_a_page_runs_and_its_output_is_checked(tmp_path: Path) -> None:
    run(lanes_of(tmp_path, PAGE)["threaded"])
    wrong = PAGE.replace("<NetworkBackend [threaded]>", "<NetworkBackend [asyncio]>")
    with pytest.raises(SybilFailure, match=r"Expected:\s+<NetworkBackend \[asyncio\]>"):
        run(lanes_of(tmp_path, wrong)["threaded"])


def test_an_exception_must_be_the_one_shown(tmp_path: Path) -> None:
    page = '```pycon\n>>> int("x")\nTraceback (most recent call last):\n  ...\nKeyError: 1\n```\n'
    with pytest.raises(SybilFailure, match="ValueError: invalid literal"):
        run(lanes_of(tmp_path, page)["threaded"])


def test_await_in_a_threaded_tab_is_an_error(tmp_path: Path) -> None:
    page = (
        '=== "threaded"\n\n    ```python\n    import asyncio\n    await asyncio.sleep(0)\n    ```\n'
    )
    with pytest.raises(SybilFailure, match="SyntaxError"):
        run(lanes_of(tmp_path, page)["threaded"])


def test_a_page_that_leaves_a_connection_open_fails(tmp_path: Path, docs_sites: Any) -> None:
    page = (
        "```python\nimport netbase_threaded as netbase\n"
        'stream = netbase.NetworkBackend().connect("www.example.com", 80)\n'
        "kept = [stream]\n```\n"
    )
    examples = lanes_of(tmp_path, page)["threaded"]
    with pytest.raises(SybilFailure, match=r"connections left open to \['www.example.com:80'\]"):
        run(examples)
    examples[0].namespace["stream"].close()


def test_a_required_runtime_that_is_missing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(docs_lanes.MODULES, "trio", "netbase_no_such_runtime")
    monkeypatch.setattr(docs_lanes.Lane, "required", frozenset({"trio"}))
    examples = lanes_of(tmp_path, PAGE)["trio"]
    with pytest.raises(docs_lanes.LaneUnavailable, match="netbase_no_such_runtime"):
        run(examples)


def test_snippets_are_included_as_on_the_built_page(tmp_path: Path) -> None:
    code, whole = docs_lanes.expand_snippets("--8<--\ndocs/examples/http_pool.py\n--8<--\n")
    path = docs_lanes.DOCS / "examples" / "http_pool.py"
    assert code == path.read_text()
    assert whole == str(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.py"):
        docs_lanes.expand_snippets('--8<-- "docs/missing.py"\n')
