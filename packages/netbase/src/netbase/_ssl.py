"""The default TLS context: the system's trust, loaded once, followed when it changes.

On macOS and Windows, ``truststore.SSLContext`` hands every certificate chain
to the operating system's verifier; that is the system's trust there, and it is
used as it is.

On Linux (and the other platforms where truststore defers to OpenSSL) the
system's trust is a CA bundle file and a hashed CA directory, and
``truststore.SSLContext`` loads them into the context again on *every*
``wrap_bio`` / ``wrap_socket``: it calls ``ssl.get_default_verify_paths()``,
may list the CA directory, and calls ``set_default_verify_paths()``, which
parses the whole bundle (tens of milliseconds of CPU per connection, on the
event loop's thread for asyncio and trio). On OpenSSL 3.0 to 3.3 each call
also appends another directory lookup to the context's store, so verification
slows down with the uptime of the process (truststore issue 212, CPython issue
95031). The per-handshake verification truststore adds on Linux is a no-op:
OpenSSL's own ``CERT_REQUIRED`` check is the verification.

So here the context is a plain ``ssl.SSLContext`` that truststore configures
once, with truststore's own choice of locations (``SSL_CERT_FILE`` /
``SSL_CERT_DIR``, OpenSSL's defaults, then the distributions' usual bundle
files). A handshake then costs what it costs with a stdlib context holding the
same trust. Every ``CHECK_INTERVAL`` seconds at most, a ``wrap_*`` call
compares the trust's files (their ``stat``: a few microseconds) with what was
loaded; when they changed, a short-lived thread loads them again, so the
connection that notices never waits for it and an event loop never stalls.
Only when the program itself points ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``
elsewhere (compared on every wrap: two dictionary lookups) does the next wrap
load the new files itself, as truststore did, so that a program that sets them
and then connects is heard at once.
"""

from __future__ import annotations

import os
import platform
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import truststore

__all__ = ["CHECK_INTERVAL", "default_ssl_context"]

#: How often, at most, a default context looks at the system's trust files for a change.
CHECK_INTERVAL = 5.0

_configure: Callable[[ssl.SSLContext], Any] | None
_CANDIDATES: tuple[str, ...]
if platform.system() in ("Darwin", "Windows"):
    _configure = None  # the operating system verifies: truststore as it is
    _CANDIDATES = ()
else:
    try:
        # truststore's Linux back end: which locations make the system's trust.
        from truststore._openssl import _CA_FILE_CANDIDATES
        from truststore._openssl import _configure_context as _configure
    except ImportError:  # pragma: no cover - a truststore that moved it: stay correct, if slow
        _configure = None
        _CANDIDATES = ()
    else:
        _CANDIDATES = tuple(_CA_FILE_CANDIDATES)


def default_ssl_context() -> ssl.SSLContext:
    """A new client context that verifies against the system's trust store.

    Built on `truststore`. On macOS and Windows the operating system's own
    verifier checks every certificate chain. On Linux the context holds the
    system's CA bundle (or the one `SSL_CERT_FILE` / `SSL_CERT_DIR` name),
    loaded once when the context is made, so that a handshake costs what it
    costs with `ssl.create_default_context()`; making the context costs what
    that does (tens of milliseconds), so make one and keep it, or pass
    `ctx=None` to `start_tls`, which shares one.

    When the system's CA bundle changes (a package update rewrites it, a CA
    file is added to the directory), the context notices within 5 seconds,
    on its next handshake after that, and loads the bundle again in a
    background thread: new CAs become trusted. When the program sets
    `SSL_CERT_FILE` or `SSL_CERT_DIR` to other files, the next handshake
    loads them. OpenSSL can add to a context's store but not take out of it,
    so a CA removed from the bundle stays trusted by the contexts made
    before; `start_tls(ctx=None)` switches to a newly made context, so it
    drops the removed CA too.

    The context requires a valid certificate and a matching hostname, and TLS
    1.2 or newer. Each call returns a fresh context that the caller may change
    (for example `set_alpn_protocols`).
    """
    ctx: ssl.SSLContext
    if _configure is None:
        ctx = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    else:
        ctx = _SystemTrustContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


# -- the system's trust on OpenSSL platforms ------------------------------------------


def _trust_signature() -> tuple[object, ...]:
    """What the system's trust is made of now: the locations and their files' ``stat``.

    Everything truststore's choice depends on: OpenSSL's default locations (which
    read `SSL_CERT_FILE` / `SSL_CERT_DIR`) and the distributions' bundle files. A
    directory's ``stat`` changes when certificates are added to it or taken out
    (what `update-ca-certificates` does); a file's changes when it is rewritten.
    """
    paths = ssl.get_default_verify_paths()
    parts: list[object] = [paths.cafile, paths.capath]
    for path in (paths.cafile, paths.capath, *_CANDIDATES):
        if not path:  # None when the location does not exist
            continue
        try:
            st = os.stat(path)
        except OSError:
            parts.append(None)
        else:
            parts.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(parts)


def _environment() -> tuple[str | None, str | None]:
    """The variables that make OpenSSL look elsewhere (a few hundred nanoseconds to read)."""
    return _getenv("SSL_CERT_FILE"), _getenv("SSL_CERT_DIR")


_getenv = os.environ.get


class _TrustWatch:
    """Loads the system's trust into a context and notices when its files change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.environment = _environment()
        self._signature: tuple[object, ...] | None = None
        self._next_check = 0.0
        self._reloading = False
        #: Called instead of an in-place reload (the shared context is replaced).
        self.on_change: Callable[[], None] | None = None

    def load(self, ctx: ssl.SSLContext) -> None:
        """Load the trust now, remembering which files it came from."""
        assert _configure is not None
        environment = _environment()
        signature = _trust_signature()
        with _configure(ctx):
            pass
        with self._lock:
            self.environment = environment
            self._signature = signature
            self._next_check = time.monotonic() + CHECK_INTERVAL

    def poll(self, ctx: ssl.SSLContext) -> None:
        """Before a handshake: a float comparison, and a few ``stat`` calls when due."""
        if _environment() != self.environment:
            # The program pointed SSL_CERT_FILE / SSL_CERT_DIR elsewhere (at its
            # start, or a test's): the next handshake must see it, as it did
            # when truststore reloaded on every wrap. Rare, so loaded at once.
            self.load(ctx)
            return
        now = time.monotonic()
        if now < self._next_check:
            return
        with self._lock:
            if now < self._next_check or self._reloading:
                return
            self._next_check = now + CHECK_INTERVAL
            if _trust_signature() == self._signature:
                return
            self._reloading = True
        # Loading a bundle costs tens of milliseconds: never on the caller's
        # thread, which may run an event loop. The handshakes that start
        # meanwhile use the trust loaded so far.
        threading.Thread(
            target=self._reload, args=(ctx,), name="netbase-trust-reload", daemon=True
        ).start()

    def _reload(self, ctx: ssl.SSLContext) -> None:
        try:
            if self.on_change is not None:
                self.on_change()  # this context is retired: do not replace it again
                with self._lock:
                    self._signature = _trust_signature()
            else:
                self.load(ctx)
        except (OSError, ValueError):
            pass  # a bundle caught mid-rewrite: keep the trust we have, try again later
        finally:
            with self._lock:
                self._reloading = False


class _SystemTrustContext(ssl.SSLContext):
    """A stdlib context holding the system's trust; it reloads it when it changes."""

    _trust: _TrustWatch

    def __new__(cls, protocol: int = ssl.PROTOCOL_TLS_CLIENT) -> _SystemTrustContext:
        self = super().__new__(cls, protocol)
        self._trust = _TrustWatch()
        self._trust.load(self)
        return self

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """`ssl.SSLContext.wrap_bio`, after a cheap check that the system's trust is current."""
        self._trust.poll(self)
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        """`ssl.SSLContext.wrap_socket`, after a cheap check that the system's trust is current."""
        self._trust.poll(self)
        return super().wrap_socket(
            sock,
            server_side,
            do_handshake_on_connect,
            suppress_ragged_eofs,
            server_hostname,
            session,
        )


# -- the context start_tls(ctx=None) uses --------------------------------------------

_shared: ssl.SSLContext | None = None
_shared_lock = threading.Lock()


def shared_default_context() -> ssl.SSLContext:
    """The context backends use for `start_tls(ctx=None)`: built once, then shared.

    Loading the trust store costs milliseconds, so backends do not pay it per
    connection. When the system's trust files change, a new context replaces
    this one (built in the background thread that noticed), so a CA taken out
    of the bundle stops being trusted too; when `SSL_CERT_FILE` or
    `SSL_CERT_DIR` change, the next call builds a new one (async backends call
    `build_shared_in_thread` first, when not ready). Users who want to change
    a context build their own with `default_ssl_context`.
    """
    ctx = _shared
    if ctx is None or not _current(ctx):
        with _shared_lock:
            ctx = _shared
            if ctx is None or not _current(ctx):
                ctx = _build_shared()
    return ctx


def shared_default_context_ready() -> bool:
    """Whether `shared_default_context` returns at once (built, for this environment)."""
    ctx = _shared
    return ctx is not None and _current(ctx)


def _current(ctx: ssl.SSLContext) -> bool:
    """False when the environment now names other trust files than ``ctx`` loaded."""
    return not isinstance(ctx, _SystemTrustContext) or ctx._trust.environment == _environment()


_waiters: list[Callable[[], object]] | None = None  # callbacks of the build in progress


def build_shared_in_thread(on_done: Callable[[], object]) -> None:
    """Build the shared context in a short-lived thread; then call `on_done` there.

    For event loops: the first `start_tls(ctx=None)` of a process loads the
    system's trust (tens of milliseconds), and must not do it on the loop's
    thread. Callers that arrive while a build is under way wait for that one.
    `on_done` is called even if the build failed (the caller's own
    `shared_default_context` then raises the error), and what it raises
    (a loop closed meanwhile) is ignored.
    """
    global _waiters
    with _shared_lock:
        if _waiters is not None:  # a build is under way: wait for that one
            _waiters.append(on_done)
            return
        ready = shared_default_context_ready()
        if not ready:
            _waiters = [on_done]
    if ready:
        _call(on_done)
        return
    threading.Thread(target=_build_for_waiters, name="netbase-trust-load", daemon=True).start()


def _build_for_waiters() -> None:
    global _waiters
    try:
        shared_default_context()
    except (OSError, ValueError):
        pass
    finally:
        with _shared_lock:
            waiters, _waiters = _waiters or [], None
        for on_done in waiters:
            _call(on_done)


def _call(on_done: Callable[[], object]) -> None:
    try:
        on_done()
    except Exception:  # the waiting loop is gone: nobody to tell
        pass


def _build_shared() -> ssl.SSLContext:
    global _shared
    ctx = default_ssl_context()
    if isinstance(ctx, _SystemTrustContext):
        ctx._trust.on_change = _replace_shared
    _shared = ctx
    return ctx


def _replace_shared() -> None:
    with _shared_lock:
        _build_shared()
