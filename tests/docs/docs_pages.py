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
from sybil.integration.pytest import SybilFile, SybilItem

SYBILS = lane_sybils()


class PageItem(SybilItem):  # type: ignore[misc]
    """One example; a failure raised around it (a warning turned error) reports normally."""

    def _traceback_filter(self, excinfo: Any) -> Any:
        try:
            return super()._traceback_filter(excinfo)
        except IndexError:  # the failure did not come through Sybil's evaluate()
            return excinfo.traceback


class PageFile(SybilFile):  # type: ignore[misc]
    """One page: Sybil's collector, with :class:`PageItem` items."""

    def collect(self) -> Iterator[Any]:
        for sybil in self.sybils:
            document = sybil.parse(self.path)
            self.documents.append(document)
            for example in document.examples():
                yield PageItem.from_parent(self, sybil=sybil, example=example)


class DocPages(pytest.File):
    """Every page of ``docs/`` that has examples."""

    def collect(self) -> Iterator[Any]:
        for path in sorted(DOCS.rglob("*.md")):
            active = [s for s in SYBILS if s.should_parse(path)]
            if active:
                yield PageFile.from_parent(self, path=path, sybils=active)
