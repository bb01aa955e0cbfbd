"""Running the documentation's examples as the reader sees them, on every runtime.

A page is run once per runtime it shows code for: a *lane* is one page on one
runtime (``threaded``, ``asyncio`` or ``trio``), with its own namespace, run
from top to bottom. Which blocks belong to which lane is read from the page
itself, never from markup the reader cannot see:

- a block inside a content tab (``=== "asyncio"``) belongs to the runtimes the
  tab's label names (``=== "asyncio and trio"`` names two);
- a block outside tabs that uses ``await``, ``async with``, ``async for`` or
  ``async def`` belongs to both async runtimes;
- any other block outside tabs belongs to every lane of the page (the
  threaded lane if the page has no tabs).

Blocks are Markdown ``python`` (or ``pycon``) fences. A block that starts with
``>>>`` is a session: each statement's output, exceptions included, is checked
against the text shown (doctest rules, ``...`` matches anything). Other blocks
are executed. ``--8<-- "file"`` lines (pymdownx.snippets) are replaced by the
file, as on the built page.

Async lanes run every block inside one event loop kept for the whole page:
asyncio blocks in one loop in the calling thread, trio blocks as tasks of one
``trio.run`` in a thread of its own, so that a stream opened by one block can
be used by the next. Blocks compile with ``PyCF_ALLOW_TOP_LEVEL_AWAIT``, like
``python -m asyncio`` and ``python -m trio``; threaded blocks compile without
it, so an ``await`` in a threaded tab is an error.

When its last block has run, a lane closes its loop and checks that the page
left nothing open: no file descriptor, no connection to the sites, no pending
task.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import doctest
import gc
import importlib
import io
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from sybil import Document, Example, Region, Sybil
from sybil.evaluators.doctest import OutputChecker
from sybil.parsers.abstract.doctest import DocTestStringParser
from sybil.parsers.markdown.lexers import RawFencedCodeBlockLexer

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# The pages' longer programs live in docs/examples/ and are imported by name
# (`from http_pool import ConnectionPool`), as a reader who saved them would.
sys.path.insert(0, str(DOCS / "examples"))
RUNTIMES = ("threaded", "asyncio", "trio")
MODULES = {"threaded": "netbase_threaded", "asyncio": "netbase_asyncio", "trio": "netbase_trio"}
ASYNC_RUNTIMES = ("asyncio", "trio")
LANGUAGES = ("python", "pycon", "py")
DOCTEST_FLAGS = doctest.ELLIPSIS
TOP_LEVEL_AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT

_TAB = re.compile(r'^(?P<indent>[ \t]*)===[+!]? +"(?P<label>[^"]*)"')
_SNIPPET_FENCE = re.compile(r"^[ \t]*-{1,}8<-{1,}[ \t]*$")
_SNIPPET = re.compile(r'^(?P<indent>[ \t]*)-{1,}8<-{1,} +"(?P<path>[^"]+)"[ \t]*$')
_INFO = re.compile(r"(?P<language>[\w+-]*)(?P<attributes>[^\n]*)$\n", re.MULTILINE)
LANE_KEY = "__netbase_docs_lane__"


# -- reading a page -------------------------------------------------------------


def runtimes_in_label(label: str) -> tuple[str, ...]:
    """The runtimes a content tab's label names (``"asyncio and trio"``)."""
    words = set(re.findall(r"[a-z]+", label.lower()))
    return tuple(r for r in RUNTIMES if r in words)


def enclosing_tab(text: str, start: int) -> str | None:
    """The label of the content tab a block starting at ``start`` sits in, if any."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", line_start)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    indent = len(line) - len(line.lstrip())
    for line in reversed(text[:line_start].splitlines()):
        if not line.strip():
            continue
        line_indent = len(line) - len(line.lstrip())
        if line_indent >= indent:
            continue
        match = _TAB.match(line)
        if match:
            return match.group("label")
        indent = line_indent  # an admonition or a list item: keep looking outwards
        if indent == 0:
            return None
    return None


def expand_snippets(source: str) -> tuple[str, str | None]:
    """Replace snippet includes by their files; returns the code and the file if whole.

    Both forms of pymdownx.snippets: one line, ``--8<-- "file"``, and a block
    of file names between two ``--8<--`` lines.
    """
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    included: list[str] = []
    in_block: str | None = None  # the block's indentation while inside one
    for line in lines:
        bare = line.rstrip("\n")
        if _SNIPPET_FENCE.match(bare):
            in_block = None if in_block is not None else bare[: len(bare) - len(bare.lstrip())]
            continue
        match = _SNIPPET.match(bare)
        if in_block is not None and bare.strip():
            indent, name = in_block, bare.strip()
        elif match:
            indent, name = match.group("indent"), match.group("path")
        else:
            out.append(line)
            continue
        path = resolve_snippet(name)
        included.append(str(path))
        out.extend(indent + part for part in path.read_text().splitlines(keepends=True))
    code = "".join(out)

    whole = included[0] if len(included) == 1 and code == Path(included[0]).read_text() else None

    return code, whole


def resolve_snippet(name: str) -> Path:
    """Where pymdownx.snippets finds a file: the repository root, then ``docs/``."""
    for base in (ROOT, DOCS):
        candidate = base / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"the page includes {name!r}, which does not exist")


def is_async_code(source: str) -> bool:
    """Whether code uses ``await``, ``async with/for`` or defines coroutines."""
    try:
        tree = compile(source, "<block>", "exec", ast.PyCF_ONLY_AST | TOP_LEVEL_AWAIT, True)
    except SyntaxError:
        return False  # let the lane that runs it report the error
    return any(
        isinstance(node, (ast.Await, ast.AsyncFunctionDef, ast.AsyncWith, ast.AsyncFor))
        for node in ast.walk(tree)
    )


class Block:
    """One Python fence of a page, as the reader sees it once built."""

    def __init__(self, region: Region, document: Document) -> None:
        source: str = region.lexemes["source"]
        self.start = region.start
        self.end = region.end
        self.text = document.text
        self.source_start = region.start + source.offset
        self.line_offset = document.text.count("\n", 0, region.start) + 1 + source.line_offset
        self.code, self.included = expand_snippets(str(source))
        self.tab = enclosing_tab(document.text, region.start)
        self.is_session = self.code.lstrip().startswith(">>>")
        if self.is_session:
            parsed = doctest.DocTestParser().get_examples(self.code)
            self.is_async = any(is_async_code(e.source) for e in parsed)
        else:
            self.is_async = is_async_code(self.code)

    def line_start(self, lineno: int) -> int:
        """Where line ``lineno`` (0-based) of the block's source starts in the page."""
        position = self.source_start
        for _ in range(lineno):
            position = self.text.index("\n", position) + 1
        return position

    def explicit_runtimes(self) -> tuple[str, ...] | None:
        if self.tab is not None:
            named = runtimes_in_label(self.tab)
            if named:
                return named
        if self.is_async:
            return ASYNC_RUNTIMES
        return None


def page_blocks(document: Document) -> list[Block]:
    lexer = RawFencedCodeBlockLexer(info_pattern=_INFO)
    blocks = []
    for region in lexer(document):
        if region.lexemes.get("language") in LANGUAGES:
            blocks.append(Block(region, document))
    return blocks


def page_lanes(blocks: Iterable[Block]) -> tuple[str, ...]:
    named = {r for b in blocks if (rs := b.explicit_runtimes()) for r in rs}
    return tuple(r for r in RUNTIMES if r in named) or ("threaded",)


def block_lanes(block: Block, lanes: tuple[str, ...]) -> tuple[str, ...]:
    return block.explicit_runtimes() or lanes


# -- running code on a runtime ----------------------------------------------------


class LaneUnavailable(Exception):
    """The runtime a lane needs is not installed."""


async def _step(code: Any, namespace: dict[str, Any]) -> None:
    """Run one compiled block inside the event loop: awaited if it awaits."""
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        await result


class SyncExecutor:
    """Threaded blocks: straight calls in this thread."""

    def run(self, code: Any, namespace: dict[str, Any]) -> None:
        eval(code, namespace)

    def settle(self) -> None:
        pass

    def close(self) -> list[str]:
        return []


class AsyncioExecutor:
    """One event loop for a page's asyncio blocks (uvloop's when asked)."""

    def __init__(self, use_uvloop: bool = False) -> None:
        if use_uvloop:
            import uvloop

            self.loop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()

    def run(self, code: Any, namespace: dict[str, Any]) -> None:
        self.loop.run_until_complete(_step(code, namespace))

    def settle(self) -> None:
        """Let callbacks scheduled by closing transports run (uvloop closes sockets there)."""
        for _ in range(3):
            self.loop.run_until_complete(asyncio.sleep(0))

    def close(self) -> list[str]:
        loop = self.loop
        problems = []
        try:
            loop.run_until_complete(asyncio.sleep(0))
            left = [t for t in asyncio.all_tasks(loop) if not t.done()]
            if left:
                problems.append(f"tasks left pending: {left}")
                for task in left:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
        return problems


class TrioExecutor:
    """One ``trio.run`` for a page's trio blocks, in a thread; blocks run as its tasks."""

    def __init__(self) -> None:
        import trio

        self._trio = trio
        self._ready = threading.Event()
        self._token: Any = None
        self._done: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="docs-trio", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        trio = self._trio

        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            self._done = trio.Event()
            self._ready.set()
            await self._done.wait()

        try:
            trio.run(main)
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    def run(self, code: Any, namespace: dict[str, Any]) -> None:
        self._trio.from_thread.run(_step, code, namespace, trio_token=self._token)

    def settle(self) -> None:
        for _ in range(3):
            self._trio.from_thread.run(self._trio.sleep, 0, trio_token=self._token)

    def close(self) -> list[str]:
        self._trio.from_thread.run_sync(self._done.set, trio_token=self._token)
        self._thread.join(10.0)
        problems = []
        if self._thread.is_alive():
            problems.append("trio.run() did not return: a task the page started is still running")
        if self._error is not None:
            problems.append(f"trio.run() failed: {self._error!r}")
        return problems


# -- a lane ------------------------------------------------------------------------------


def open_fds() -> set[int]:
    """This process's file descriptors, less ``/dev/null`` ones.

    libuv (under uvloop) opens ``/dev/null`` once, lazily, as a reserve for
    running out of descriptors: that is no leak of the page's.
    """
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == "/dev/null":
                continue
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
        found.add(int(name))
    return found


class Lane:
    """One page on one runtime: its namespace, its loop, its leak check."""

    #: Set by the harness: called with a timeout, returns what still holds a connection.
    busy_servers: Callable[[float], list[str]] = staticmethod(lambda timeout: [])
    use_uvloop = False
    #: Runtimes that must run: a missing one fails instead of skipping.
    required: frozenset[str] = frozenset()
    #: How to skip a lane whose runtime is missing and not required (pytest.skip).
    skip: Callable[[str], Any] | None = None

    def unavailable(self, reason: str) -> None:
        self.closed = True
        if self.runtime in self.required or self.skip is None:
            raise LaneUnavailable(f"the {self.runtime} examples cannot run: {reason}")
        self.skip(f"{self.runtime} examples not run: {reason}")
        raise LaneUnavailable(reason)

    def __init__(self, runtime: str, total: int) -> None:
        self.runtime = runtime
        self.total = total
        self.done = 0
        self.executor: SyncExecutor | AsyncioExecutor | TrioExecutor | None = None
        self.fds: set[int] = set()
        self.closed = False

    def start(self) -> None:
        module_name = MODULES[self.runtime]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            self.unavailable(f"{module_name} is not installed ({exc})")
        if not hasattr(module, "NetworkBackend"):
            self.unavailable(f"{module_name} is installed but has no NetworkBackend yet")
        gc.collect()
        if self.runtime == "threaded":
            self.executor = SyncExecutor()
        elif self.runtime == "asyncio":
            self.executor = AsyncioExecutor(self.use_uvloop)
        else:
            self.executor = TrioExecutor()
        self.fds = open_fds()

    @property
    def flags(self) -> int:
        return 0 if self.runtime == "threaded" else TOP_LEVEL_AWAIT

    def run(self, code: Any, namespace: dict[str, Any]) -> None:
        if self.executor is None:
            self.start()
        assert self.executor is not None
        self.executor.run(code, namespace)

    def finish(self, namespace: dict[str, Any]) -> list[str]:
        """Close the loop; what the page left open, if anything."""
        if self.closed or self.executor is None:
            self.closed = True
            return []
        self.closed = True
        problems = []
        # The namespace still holds what the examples bound: a stream they
        # forgot to close is still open, and counted, rather than collected.
        self.executor.settle()
        busy = self.busy_servers(5.0)
        if busy:
            problems.append(f"connections left open to {busy}")
        deadline = time.monotonic() + 2.0
        while (leaked := open_fds() - self.fds) and time.monotonic() < deadline:
            time.sleep(0.01)
        if leaked:
            problems.append(f"file descriptors left open: {sorted(leaked)}")
        problems += self.executor.close()
        return problems


# -- evaluating examples ---------------------------------------------------------------


def lane_of(example: Example, runtime: str) -> Lane:
    namespace = example.namespace
    lane = namespace.get(LANE_KEY)
    if lane is None:
        total = len(example.document.regions)
        lane = namespace[LANE_KEY] = Lane(runtime, total)
    return lane


def _after(lane: Lane, example: Example) -> str:
    """Count the example; after a lane's last one, close it and report what it left open."""
    lane.done += 1
    if lane.done != lane.total:
        return ""
    problems = lane.finish(example.namespace)
    if not problems:
        return ""
    return f"after the last {lane.runtime} example of this page: " + "; ".join(problems)


def format_error(exc: BaseException) -> str:
    """The traceback of an example's exception, from the example's own frames on."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _join(*parts: str | None) -> str | None:
    text = "\n".join(p for p in parts if p)
    return text or None


class CodeEvaluator:
    """A plain block: executed on the lane's runtime."""

    def __init__(self, runtime: str, block: Block) -> None:
        self.runtime = runtime
        self.block = block

    def __call__(self, example: Example) -> str | None:
        lane = lane_of(example, self.runtime)
        failure = None
        try:
            if self.block.included:
                filename, source = self.block.included, self.block.code
            else:
                filename = example.path
                source = "\n" * (self.block.line_offset - 1) + self.block.code
            code = compile(source, filename, "exec", lane.flags, True)
            lane.run(code, example.namespace)
        except LaneUnavailable:
            raise
        except Exception as exc:
            failure = format_error(exc)
        finally:
            example.namespace.pop("__builtins__", None)
        return _join(failure, _after(lane, example))


class SessionEvaluator:
    """One ``>>>`` statement: run on the lane's runtime, its output checked."""

    checker = OutputChecker()

    def __init__(self, runtime: str, block: Block) -> None:
        self.runtime = runtime
        self.block = block
        #: What each statement printed, by line: the examples runner shows it.
        self.outputs: dict[int, str] = {}

    def __call__(self, example: Example) -> str | None:
        lane = lane_of(example, self.runtime)
        try:
            failure = self._check(example, lane)
        finally:
            example.namespace.pop("__builtins__", None)
        return _join(failure, _after(lane, example))

    def _check(self, example: Example, lane: Lane) -> str | None:
        test: doctest.Example = example.parsed
        flags = DOCTEST_FLAGS
        for flag, on in test.options.items():
            flags = flags | flag if on else flags & ~flag
        source = "\n" * (example.line - 1) + test.source
        code = compile(source, example.path, "single", lane.flags, True)
        out = io.StringIO()
        exception: BaseException | None = None
        with redirect_output(out):
            try:
                lane.run(code, example.namespace)
            except LaneUnavailable:
                raise
            except Exception as exc:
                exception = exc
        got = out.getvalue()
        if exception is not None:
            shown_error = traceback.format_exception_only(type(exception), exception)[-1]
            self.outputs[example.line] = (
                got + "Traceback (most recent call last):\n  ...\n" + shown_error
            )
        else:
            self.outputs[example.line] = got
        if exception is None:
            if test.exc_msg is not None:
                return f"expected an exception, got none; output:\n{got}"
            if self.checker.check_output(test.want, got, flags):
                return None
            return self.checker.output_difference(test, got, flags)
        shown = traceback.format_exception_only(type(exception), exception)[-1]
        if test.exc_msg is None:
            return f"{got}unexpected exception:\n{format_error(exception)}"
        if self.checker.check_output(test.exc_msg, shown, flags):
            return None
        return f"expected:\n    {test.exc_msg}got:\n    {shown}"


@contextlib.contextmanager
def redirect_output(out: io.StringIO) -> Iterator[None]:
    """Capture what a statement prints (also from the trio thread) and what it displays."""
    import sys

    saved = sys.stdout
    sys.stdout = out
    try:
        yield
    finally:
        sys.stdout = saved


# -- the Sybil per runtime ----------------------------------------------------------


class LaneParser:
    """Yields the regions of a page that belong to one runtime, with their evaluators."""

    def __init__(self, runtime: str) -> None:
        self.runtime = runtime

    def __call__(self, document: Document) -> Iterator[Region]:
        blocks = page_blocks(document)
        lanes = page_lanes(blocks)
        if self.runtime not in lanes:
            return
        for block in blocks:
            if self.runtime not in block_lanes(block, lanes):
                continue
            if block.is_session:
                evaluator = SessionEvaluator(self.runtime, block)
                parser = DocTestStringParser(evaluator)  # type: ignore[arg-type]
                for region in parser(block.code, document.path):
                    # One item per statement, placed on its line of the page.
                    region.start = block.line_start(region.parsed.lineno)
                    region.end = region.start + 1
                    yield region
            else:
                yield Region(block.start, block.end, None, CodeEvaluator(self.runtime, block))


def teardown_lane(namespace: dict[str, Any]) -> None:
    """Sybil teardown: close a lane whose last example did not run (deselected, failed)."""
    lane = namespace.get(LANE_KEY)
    if lane is not None:
        lane.finish(namespace)


def lane_sybils(patterns: Iterable[str] = ("*.md",)) -> list[Sybil]:
    return [
        Sybil(
            parsers=[LaneParser(runtime)],
            path=str(DOCS),
            patterns=list(patterns),
            teardown=teardown_lane,
            fixtures=["docs_sites"],
            name=runtime,
        )
        for runtime in RUNTIMES
    ]
