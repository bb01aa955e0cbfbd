"""Refuse to start on top of a `netbase` that is not this project's core.

PyPI holds an unrelated project called `netbase`. Our requirement on the core
(epoch 1, `netbase>=1!0.1`) keeps installers from choosing it, but it can still
be present (installed first, or on `sys.path`). Importing it would run its
code and then fail on a missing name; this check looks first, without importing
it, and says what is installed and how to fix it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

PACKAGE = "netbase-threaded"


def check_core() -> None:
    """Raise `ImportError` with the fix if the `netbase` found is a foreign one."""
    spec = importlib.util.find_spec("netbase")
    if spec is None or spec.origin is None:
        return  # not installed at all: the import that follows says so
    try:
        dist = importlib.metadata.distribution("netbase")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    # Ours is versioned in epoch 1 and ships `_interfaces.py` beside `__init__.py`.
    ours_by_files = Path(spec.origin).with_name("_interfaces.py").is_file()
    ours_by_version = dist is None or dist.version.startswith("1!")
    if ours_by_files and ours_by_version:
        return
    what = (
        f"netbase {dist.version} ({dist.metadata['Summary'] or 'no summary'})"
        if dist is not None
        else "a package called netbase"
    )
    raise ImportError(
        f"{PACKAGE} needs netbase, its core (version 1!0.1 or later), but the netbase "
        f"found at {Path(spec.origin).parent} is {what}: an unrelated project that "
        "shares the name on PyPI. Remove it and install the core from this project, "
        "e.g. from a clone: python -m pip uninstall -y netbase && "
        f"python -m pip install ./packages/netbase ./packages/{PACKAGE}"
    )
