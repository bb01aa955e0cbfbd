"""Open the built documentation in a real browser and check it works.

Serves the built site (``mkdocs build``) on loopback and drives Debian's
chromium through Playwright: every page renders with its title and no
console error, every resource it loads is found, every internal link leads
to a page that exists, and the runtime tabs switch (content tabs are linked:
choosing "trio" shows the trio code of every tab set on the page). The text
shown must be rendered Markdown: no reStructuredText left raw (a `:class:` role,
a `::` literal-block marker), no cross-reference left unresolved, no private
name (`_Base`) on an API page, and no title repeated by the heading under it.

    python scripts/docs_browser.py SITE_DIR
"""

from __future__ import annotations

import functools
import http.server
import re
import sys
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "docs"))
import docs_sandbox

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RUNTIME_TABS = ("threaded", "asyncio", "trio")

# Markup that means a docstring or a page was written for another renderer.
RAW_MARKUP = {
    "a Sphinx role": re.compile(r":(?:py:)?(?:func|class|meth|attr|exc|mod|data|obj|const|ref):`?"),
    "a reStructuredText literal-block marker": re.compile(r"\w::\s*$", re.MULTILINE),
    "an unresolved cross-reference": re.compile(r"\]\[[\w.]+\]"),
    "reStructuredText double backticks": re.compile(r"``\w"),
}
# On API pages: a name starting with one underscore (but not a dunder) is private.
PRIVATE_NAME = re.compile(r"(?<![\w.])_[A-Za-z]\w*(?<!_)\b")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site without logging every request."""

    def log_message(self, format: str, *args: object) -> None:
        """Say nothing."""
        pass


def pages(site: Path) -> list[str]:
    """Every page of the site, as a path under it ("", "backends/", ...)."""
    found = []
    for index in sorted(site.rglob("index.html")):
        relative = index.parent.relative_to(site).as_posix()
        found.append("" if relative == "." else relative + "/")
    return found


def main(site_dir: str) -> int:
    """Check every page of the site; 1 if anything is wrong."""
    site = Path(site_dir).resolve()
    # The browser runs in the docs' private network: whatever a page tried to
    # fetch from elsewhere would fail (and be reported), never leave the machine.
    docs_sandbox.enter()
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    problems: list[str] = []
    checked_tabs = 0
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            current = {"url": ""}
            page.on(
                "console",
                lambda m: (
                    m.type == "error"
                    and problems.append(f"{current['url']}: console error: {m.text}")
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"{current['url']}: page error: {e}"))
            page.on(
                "response",
                lambda r: (
                    r.status >= 400
                    and r.url.startswith(base)
                    and problems.append(f"{current['url']}: {r.status} for {r.url}")
                ),
            )
            known = set(pages(site))
            for path in sorted(known):
                url = base + path
                current["url"] = "/" + path
                page.goto(url, wait_until="load")
                title = page.locator("article h1").first
                if not title.count() or not title.inner_text().strip():
                    problems.append(f"/{path}: no title rendered")
                problems += raw_markup(page, path)
                for href in page.eval_on_selector_all(
                    "a[href]", "links => links.map(a => a.getAttribute('href'))"
                ):
                    target = urldefrag(urljoin(url, href)).url
                    if not target.startswith(base):
                        continue
                    relative = urlparse(target).path[1:]
                    if relative not in known and not (site / relative).is_file():
                        problems.append(f"/{path}: broken link {href!r}")
                checked_tabs += check_tabs(page, path, problems)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    if checked_tabs == 0:
        problems.append("no page has runtime tabs to switch")
    for problem in problems:
        print("FAIL", problem)
    print(
        f"browser: {len(known)} pages, {checked_tabs} tab switches checked, "
        f"{len(problems)} problems"
    )
    return 1 if problems else 0


def raw_markup(page: object, path: str) -> list[str]:
    """What the page shows that is markup for another renderer, or private, or repeated."""
    found = []
    # Prose only: code blocks may show anything (a Sphinx role in a string is fine).
    text = page.evaluate(  # type: ignore[attr-defined]
        """() => {
            const article = document.querySelector("article").cloneNode(true);
            article.querySelectorAll("pre, .highlight").forEach(e => e.remove());
            return article.innerText;
        }"""
    )
    for what, pattern in RAW_MARKUP.items():
        for match in pattern.finditer(text):
            line = text[: match.end()].rsplit("\n", 1)[-1][-60:]
            found.append(f"/{path}: {what}: {line!r}")
    if path.startswith("reference/"):
        for match in sorted(set(PRIVATE_NAME.findall(text))):
            found.append(f"/{path}: a private name is shown: {match!r}")
    headings = page.locator("article h1, article h2").all_inner_texts()  # type: ignore[attr-defined]
    names = [h.strip().rstrip("¶").strip() for h in headings[:2]]
    if len(names) == 2 and names[0] == names[1]:
        found.append(f"/{path}: the title {names[0]!r} is repeated by the heading under it")
    return found


def check_tabs(page: object, path: str, problems: list[str]) -> int:
    """Click each runtime tab of the page's first tab set; its code must show."""
    sets = page.locator(".tabbed-set")  # type: ignore[attr-defined]
    if not sets.count():
        return 0
    first = sets.first
    labels = [t.strip() for t in first.locator(".tabbed-labels > label").all_inner_texts()]
    if not set(RUNTIME_TABS) <= set(labels):
        return 0
    switched = 0
    for runtime in RUNTIME_TABS:
        first.locator(".tabbed-labels > label", has_text=runtime).first.click()
        shown = first.locator(".tabbed-block").nth(labels.index(runtime))
        hidden = [
            first.locator(".tabbed-block").nth(labels.index(r))
            for r in RUNTIME_TABS
            if r != runtime
        ]
        if not shown.is_visible() or any(h.is_visible() for h in hidden):
            problems.append(f"/{path}: the {runtime!r} tab did not switch")
            continue
        # Linked tabs: every other tab set of the page follows.
        for other in sets.all()[1:]:
            other_labels = [
                t.strip() for t in other.locator(".tabbed-labels > label").all_inner_texts()
            ]
            if (
                runtime in other_labels
                and not other.locator(".tabbed-block").nth(other_labels.index(runtime)).is_visible()
            ):
                problems.append(f"/{path}: a linked {runtime!r} tab did not follow")
                break
        switched += 1
    return switched


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
