"""`Server`: `NetworkBackend.serve()`, a handler per connection on a bounded set of threads."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

from netbase import NetworkError
from netbase.lowlevel import ServerBase
from netbase_threaded._listener import NetworkListener
from netbase_threaded._stream import NetworkStream

__all__ = ["Server"]

Handler = Callable[[NetworkStream], object]


class Server(ServerBase):
    """Runs `handler(stream)` in a thread of its own for each connection.

    Made by `NetworkBackend.serve()`; `with server:` accepts (in a
    background thread) until the block is left. At most `max_handlers`
    handlers run at once, the other clients waiting in the listen backlog.
    Each stream is closed when its handler returns; a handler that raises is
    logged to the `"netbase.server"` logger and the server goes on. Leaving
    stops accepting, shuts the open streams' sockets down (waking their
    handlers, which then close them) and
    waits up to `shutdown_timeout` seconds for the handlers: a thread cannot
    be cancelled, so one still running then is logged and left to finish.
    """

    listener: NetworkListener

    def __init__(
        self,
        listener: NetworkListener,
        handler: Handler,
        *,
        max_handlers: int,
        shutdown_timeout: float,
    ) -> None:
        super().__init__(listener, handler, shutdown_timeout)
        self._slots = threading.Semaphore(max_handlers)
        self._lock = threading.Lock()
        self._streams: set[NetworkStream] = set()
        self._threads: set[threading.Thread] = set()
        self._accepter = threading.Thread(
            target=self._accept_loop, name=f"netbase-serve {listener!r}", daemon=True
        )

    def __enter__(self) -> Server:
        self._accepter.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while True:
            self._slots.acquire()
            if self._stopping():
                return
            try:
                stream = self.listener.accept()
            except NetworkError as exc:
                self._slots.release()
                if self._stopping():
                    return
                self._report_accept(exc)
                time.sleep(0.1)
                continue
            with self._lock:
                if self._stopping():
                    stream.close()
                    return
                thread = threading.Thread(
                    target=self._run,
                    args=(stream,),
                    name=f"netbase-handler {stream!r}",
                    daemon=True,
                )
                self._streams.add(stream)
                self._threads.add(thread)
            thread.start()

    def _run(self, stream: NetworkStream) -> None:
        try:
            self._handler(stream)
        except Exception as exc:
            self._report(stream, exc)
        finally:
            stream.close()
            with self._lock:
                self._streams.discard(stream)
                self._threads.discard(threading.current_thread())
            self._slots.release()

    def close(self) -> None:
        """Stop accepting, close the open streams, wait (bounded) for the handlers."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self.listener.close()
        self._slots.release()  # wakes the accept loop if it waits for a slot
        if self._accepter.ident is not None:
            self._accepter.join()
        with self._lock:
            streams = list(self._streams)
            threads = list(self._threads)
        for stream in streams:
            _wake(stream)
        deadline = time.monotonic() + self._shutdown_timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [thread.name for thread in threads if thread.is_alive()]
        if stuck:
            self._report_stuck(len(stuck), self._shutdown_timeout, ", ".join(stuck))


def _wake(stream: NetworkStream) -> None:
    """Wake the handler of `stream` wherever it waits; its own thread then closes it.

    Not `stream.close()` from this thread: the handler may be in the middle
    of a TLS handshake, and an SSL object must never be used by two threads at
    once. A shutdown of the socket is a plain system call that touches no TLS
    state, and turns any wait on the socket into an end of stream or an error.
    (The base class's method: `SSLSocket.shutdown()` also drops its SSL object.)
    """
    sock = stream.get_extra_info("socket")
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed, or not connected any more
