"""Run every example of the documentation live, and print what each prints.

This is the README's main job (``uvx nox -s examples``). Each page is run once
per runtime it shows code for, against local servers standing in for
www.example.com and the other sites, in a private network namespace (nothing
leaves the machine; see tests/docs/docs_sandbox.py). Output is grouped by page
and runtime: each `>>>` statement with what it printed, each block with its
output (or "ok: printed nothing"). A failing example is shown with the
difference and makes the run fail. The last line counts what ran: pages, the
page-and-runtime runs, and the examples, which are code blocks (each run whole)
and `>>>` statements (each checked against the output the page shows).

    python scripts/docs_examples.py                  # every runtime; all must be installed
    python scripts/docs_examples.py --runtime trio   # one runtime
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import sys
import textwrap
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "docs"))

import docs_lanes  # noqa: E402
from docs_sites import running_sites  # noqa: E402
from sybil.example import SybilFailure  # noqa: E402


def main() -> int:
    """Run the pages; 1 if an example failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", action="append", choices=docs_lanes.RUNTIMES)
    parser.add_argument("pages", nargs="*", help="pages to run (default: every page)")
    args = parser.parse_args()
    runtimes = args.runtime or list(docs_lanes.RUNTIMES)
    pages = [Path(p).resolve() for p in args.pages] or sorted(docs_lanes.DOCS.rglob("*.md"))
    docs_lanes.Lane.required = frozenset(runtimes)
    passed = failed = 0
    kinds = {"block": 0, "statement": 0}
    pages_run: set[Path] = set()
    runs = 0
    with running_sites() as sites:
        docs_lanes.Lane.busy_servers = staticmethod(sites.wait_idle)
        for page in pages:
            for sybil in docs_lanes.lane_sybils():
                if sybil.name not in runtimes or not sybil.should_parse(page):
                    continue
                document = sybil.parse(page)
                examples = list(document.examples())
                if not examples:
                    continue
                print(f"\n==== {page.relative_to(ROOT)} [{sybil.name}] ====")
                pages_run.add(page)
                runs += 1
                for example in examples:
                    ok = run_one(example)
                    kinds[kind(example)] += 1
                    passed += ok
                    failed += not ok
                    if not ok and example.namespace[docs_lanes.LANE_KEY].executor is None:
                        # The runtime is missing: the page's other examples cannot run either.
                        failed += len(examples) - examples.index(example) - 1
                        print(f"FAILED: the other {sybil.name} examples of this page too")
                        break
                docs_lanes.teardown_lane(document.namespace)
    print(
        f"\nexamples: {len(pages_run)} pages, {runs} page runs (one per runtime shown), "
        f"{kinds['block']} code blocks and {kinds['statement']} >>> statements: "
        f"{passed} passed, {failed} failed"
    )
    return 1 if failed else 0


def kind(example: object) -> str:
    """Whether the example is a `>>>` "statement" or a code "block" run whole."""
    evaluator = example.region.evaluator  # type: ignore[attr-defined]
    return "statement" if isinstance(evaluator, docs_lanes.SessionEvaluator) else "block"


def run_one(example: object) -> bool:
    """Evaluate one example; print its source and what it printed."""
    parsed = example.parsed  # type: ignore[attr-defined]
    out = io.StringIO()
    failure = None
    # As in the test suite, a resource left unclosed is an error, not a warning.
    unraisable: list[str] = []
    saved_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: unraisable.append(f"{u.exc_value!r} in {u.object!r}")
    try:
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            try:
                example.evaluate()  # type: ignore[attr-defined]
            except SybilFailure as exc:
                failure = exc.result
            except docs_lanes.LaneUnavailable as exc:
                failure = str(exc)
            gc.collect()
    finally:
        sys.unraisablehook = saved_hook
    if unraisable and not failure:
        failure = "left unclosed: " + "; ".join(unraisable)
    evaluator = example.region.evaluator  # type: ignore[attr-defined]
    if isinstance(evaluator, docs_lanes.SessionEvaluator):
        lines = parsed.source.rstrip("\n").splitlines()
        print("\n".join([">>> " + lines[0]] + ["... " + line for line in lines[1:]]))
        shown = evaluator.outputs.get(example.line, "")  # type: ignore[attr-defined]
        if shown:
            print(shown, end="" if shown.endswith("\n") else "\n")
    else:
        block = evaluator.block
        first = next((line for line in block.code.splitlines() if line.strip()), "")
        where = f"{Path(block.included).relative_to(ROOT)}" if block.included else first
        print(f"--- block at line {example.line}: {where}")  # type: ignore[attr-defined]
        if out.getvalue():
            print(out.getvalue(), end="")
        elif not failure:
            print("ok: printed nothing")
    if failure:
        print("FAILED:\n" + textwrap.indent(failure.rstrip("\n"), "    "))
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
