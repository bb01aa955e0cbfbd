"""The default TLS context, and the checks on `start_tls` arguments."""

from __future__ import annotations

import ssl

import truststore

__all__ = ["default_ssl_context"]


def default_ssl_context() -> ssl.SSLContext:
    """A new client context that verifies against the system trust store.

    Built on `truststore`: certificates are checked by the operating system's
    own verifier (and on Linux, OpenSSL with the system bundle, which
    `SSL_CERT_FILE` can point elsewhere). It requires a valid certificate and a
    matching hostname, and TLS 1.2 or newer. Each call returns a fresh context
    that the caller may change (for example `set_alpn_protocols`).
    """
    ctx = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


_shared: ssl.SSLContext | None = None


def shared_default_context() -> ssl.SSLContext:
    """The context backends use for `start_tls(ctx=None)`: built once, then shared.

    Loading the trust store costs milliseconds, so backends do not pay it per
    connection. Users who want to change a context build their own with
    [`default_ssl_context()`][netbase.default_ssl_context].
    """
    global _shared
    if _shared is None:
        _shared = default_ssl_context()
    return _shared
