"""A griffe extension for the API reference: no private base class on the page.

`CachingResolver` and `AsyncCachingResolver` share their options and their cache
through a private base class. The reference shows what a user may rely on: the
public members that class defines (`ttl`, `max_size`, `clear()`) appear on each
subclass as its own, and the private base is left out of "Bases".
"""

from __future__ import annotations

import copy
from typing import Any

import griffe


class PublicBases(griffe.Extension):
    """Fold the public members of private base classes into their subclasses."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite every class of the package once it is loaded."""
        for cls in classes(pkg):
            private = [base for base in cls.resolved_bases if base.name.startswith("_")]
            if not private:
                continue
            for base in private:
                for name, member in base.members.items():
                    if name.startswith("_") or name in cls.members:
                        continue
                    own = copy.copy(member)
                    cls.set_member(name, own)
            cls.bases = [b for b in cls.bases if not str(b).split(".")[-1].startswith("_")]


def classes(module: griffe.Module) -> list[griffe.Class]:
    """Every class defined in the module and its submodules (not aliases)."""
    found: list[griffe.Class] = []
    for member in module.members.values():
        if member.is_alias:
            continue
        if isinstance(member, griffe.Module):
            found += classes(member)
        elif isinstance(member, griffe.Class):
            found.append(member)
    return found
