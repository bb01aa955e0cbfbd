"""Call into a runtime from plain synchronous code (Hypothesis rules).

Hypothesis drives a state machine with ordinary method calls, but the streams
under test live on an event loop. A :class:`Portal` runs the runtime's loop in
one thread, through the runtime's own driver (so the asyncio driver still fails
on tasks left pending), and ``portal.call(fn)`` runs the coroutine function
``fn`` there and returns its result or raises its exception. The stream keeps
one loop for its whole life, as it would in a real program. For the threaded
runtime there is no loop: ``call`` steps the facade's coroutine in place.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from drivers import Driver, step

Job = tuple[Callable[[], Coroutine[Any, Any, Any]], concurrent.futures.Future[Any]]


class Portal:
    """``with Portal(driver) as portal: portal.call(fn)``."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def __enter__(self) -> Portal:
        if self.driver.flavour == "async":
            self._thread = threading.Thread(target=self._run, name="test-portal", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._thread is None:
            return
        self._jobs.put(None)
        self._thread.join(30)
        if self._failure is not None:
            raise self._failure

    def call(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        if self._thread is None:
            return step(fn())
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future.result(timeout=60)

    def _run(self) -> None:
        try:
            self.driver.run(self._serve)
        except BaseException as exc:
            self._failure = exc

    async def _serve(self) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                # Polling keeps this runtime-neutral (no loop-specific wakeup);
                # half a millisecond is nothing next to the network's own waits.
                await self.driver.sleep(0.0005)
                continue
            if job is None:
                return
            fn, future = job
            try:
                result = await fn()
            except Exception as exc:
                future.set_exception(exc)
            except BaseException as exc:  # cancellation: report it, then let it end the loop
                future.set_exception(exc)
                raise
            else:
                future.set_result(result)
