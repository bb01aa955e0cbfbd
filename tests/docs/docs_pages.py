"""Collects the examples of every page under ``docs/``, once per runtime.

``conftest.py`` turns this file into a :class:`DocPages` collector: its
children are Sybil's own file collectors, one per page, with one Sybil per
runtime (see ``docs_lanes.py``). The pages live outside ``tests/``, which is
why they are reached from here rather than by pytest walking ``docs/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from docs_lanes import DOCS, lane_sybils
from sybil.integration.pytest import SybilFile

SYBILS = lane_sybils()


class DocPages(pytest.File):
    """Every page of ``docs/`` that has examples."""

    def collect(self) -> Iterator[Any]:
        for path in sorted(DOCS.rglob("*.md")):
            active = [s for s in SYBILS if s.should_parse(path)]
            if active:
                yield SybilFile.from_parent(self, path=path, sybils=active)
