"""Which async library is running the current task (asyncio or trio).

A small stand-in for `sniffio` so that the core depends on nothing but
truststore: trio is looked at only if it has been imported.
"""

from __future__ import annotations

import asyncio
import sys


def current_async_runtime() -> str:
    """`"trio"` or `"asyncio"`; `RuntimeError` when neither is running here."""
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            return "trio"
    if asyncio._get_running_loop() is not None:
        return "asyncio"
    raise RuntimeError("no async library (asyncio or trio) is running in this thread")
