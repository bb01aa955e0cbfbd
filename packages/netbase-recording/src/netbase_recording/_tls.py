"""TLS facts: captured from a live `ssl_object`, served back by a stub on replay."""

from __future__ import annotations

from typing import Any

from netbase_recording._events import TLSInfo

__all__ = ["RecordedSSLObject", "capture_tls"]


def capture_tls(ssl_object: Any) -> TLSInfo:
    """What a replay needs to answer like `ssl_object` did (None-safe)."""
    if ssl_object is None:
        return TLSInfo()
    cipher = ssl_object.cipher()
    try:
        peercert = ssl_object.getpeercert()
    except ValueError:  # handshake not done (cannot happen after start_tls)
        peercert = None
    return TLSInfo(
        version=ssl_object.version(),
        cipher=(cipher[0], cipher[1], int(cipher[2])) if cipher else None,
        alpn=ssl_object.selected_alpn_protocol(),
        peercert=peercert or None,
    )


class RecordedSSLObject:
    """Stands in for `ssl.SSLObject` on a replayed TLS stream.

    Answers what the recorded handshake settled: `version()`,
    `cipher()`, `selected_alpn_protocol()` and `getpeercert()`.
    """

    def __init__(self, info: TLSInfo, server_hostname: str | None) -> None:
        self._info = info
        self.server_hostname = server_hostname

    def version(self) -> str | None:
        """The TLS version, e.g. `"TLSv1.3"`."""
        return self._info.version

    def cipher(self) -> tuple[str, str, int] | None:
        """`(name, protocol, secret bits)`."""
        return self._info.cipher

    def selected_alpn_protocol(self) -> str | None:
        """The ALPN protocol agreed, e.g. `"h2"`."""
        return self._info.alpn

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer certificate as a dict (the binary form is not recorded: `None`)."""
        if binary_form:
            return None
        return self._info.peercert or {}

    def __repr__(self) -> str:
        return f"<RecordedSSLObject {self._info.version} alpn={self._info.alpn!r}>"
