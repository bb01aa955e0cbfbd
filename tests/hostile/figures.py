"""Figures the hostile tests gather (scenarios tried, connections held, cycles run).

Tests record what they did here; the conftest prints it in the terminal summary,
so a CI log shows how much hostility each runtime survived, not just "passed".
"""

from __future__ import annotations

import collections
import threading

_lock = threading.Lock()
# section -> runtime -> item -> count
_counts: dict[str, dict[str, collections.Counter[str]]] = collections.defaultdict(
    lambda: collections.defaultdict(collections.Counter)
)
_notes: dict[str, list[str]] = collections.defaultdict(list)


def count(section: str, runtime: str, item: str, n: int = 1) -> None:
    """Add ``n`` to ``item`` (a scenario, an example...) of ``section`` for ``runtime``."""
    with _lock:
        _counts[section][runtime][item] += n


def note(section: str, text: str) -> None:
    """A measured figure, printed as is (e.g. "asyncio: 1000 connections held at once")."""
    with _lock:
        _notes[section].append(text)


def summary() -> list[str]:
    """The lines of the terminal summary."""
    lines = []
    for section in sorted(set(_counts) | set(_notes)):
        lines.append(f"{section}:")
        for runtime, items in sorted(_counts.get(section, {}).items()):
            if len(items) <= 4:
                listed = ", ".join(f"{item}={n}" for item, n in sorted(items.items()))
                lines.append(f"  {runtime}: {listed}")
            else:
                lines.append(f"  {runtime}: {len(items)} tried, {sum(items.values())} runs")
        lines.extend(f"  {text}" for text in _notes.get(section, []))
    return lines
