r"""Bytes as readable text, and back: shared by the echo and the cassette format.

Text is shown as it is; `\`, `\r`, `\n`, `\t` are escaped, and every
byte that is not printable UTF-8 text is written `\xHH`. So the rendering
never loses a byte (vcrpy #784 decoded binary as UTF-8 "ignore" and lost
data) and `unescape()` gives back exactly what went in.
"""

from __future__ import annotations

import re

__all__ = ["escape", "split_lines", "unescape"]

_SIMPLE = {"\\": "\\\\", "\r": "\\r", "\n": "\\n", "\t": "\\t"}
_UNSIMPLE = {"\\": "\\", "r": "\r", "n": "\n", "t": "\t"}


def escape(data: bytes) -> str:
    """Render `data` as one line of text (no raw control characters)."""
    text = data.decode("utf-8", "surrogateescape")
    # Fast paths in C for what HTTP is made of: printable text, maybe with \r\n or tabs.
    if text.isprintable() and "\\" not in text:
        return text
    escaped = (
        text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    )
    if escaped.isprintable():
        return escaped
    out: list[str] = []
    for ch in text:
        simple = _SIMPLE.get(ch)
        if simple is not None:
            out.append(simple)
        elif "\udc80" <= ch <= "\udcff":  # a byte that is not UTF-8
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        else:  # control, format or separator characters: show their bytes
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8"))
    return "".join(out)


# The character each escape stands for; bytes that are not ASCII become the
# surrogates of "surrogateescape", so one encode() at the end gives the bytes back.
_UNESCAPED = {"\\\\": "\\", "\\r": "\r", "\\n": "\n", "\\t": "\t"}
_HEX = "0123456789abcdefABCDEF"
for _hi in _HEX:
    for _lo in _HEX:
        _byte = int(_hi + _lo, 16)
        _UNESCAPED[f"\\x{_hi}{_lo}"] = chr(_byte) if _byte < 0x80 else chr(0xDC00 + _byte)
_ESCAPE = re.compile(r"(\\x[0-9a-fA-F]{2}|\\[\\rnt])")


def unescape(text: str, *, separator: str | None = None) -> bytes:
    """The bytes `escape` rendered as `text`; `ValueError` on a bad escape.

    With a `separator`, `text` is several rendered lines joined by it (line
    ends in the data are escapes, so the separators are dropped).
    """
    if separator is not None:
        if "\\" + separator in text:  # an escape cut by a line end, or a \\ at one
            raise ValueError("a line ends with a backslash")
        text = text.replace(separator, "")
    if "\\" not in text:
        return _encode(text)
    pieces = _ESCAPE.split(text)
    literals = pieces[0::2]
    if "\\" in "".join(literals):
        for literal in literals:
            i = literal.find("\\")
            if i < 0:
                continue
            if literal[i + 1 : i + 2] == "x":
                raise ValueError(f"bad escape {literal[i : i + 4]!r} (\\xHH wants 2 hex digits)")
            raise ValueError(
                f"unknown escape {literal[i : i + 2]!r} (known: \\\\ \\r \\n \\t \\xHH)"
            )
    pieces[1::2] = [_UNESCAPED[code] for code in pieces[1::2]]
    return _encode("".join(pieces))


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:  # a lone surrogate in a str given to loads()
        raise ValueError(f"not text: {exc.reason}") from None


def split_lines(data: bytes) -> list[bytes]:
    r"""`data` cut after every `\n` (the last piece may have none)."""
    lines = data.splitlines(keepends=True)
    # bytes.splitlines also cuts at a lone \r; glue those pieces back so only \n cuts.
    out: list[bytes] = []
    for line in lines:
        if out and not out[-1].endswith(b"\n"):
            out[-1] += line
        else:
            out.append(line)
    return out
