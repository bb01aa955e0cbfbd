r"""Bytes as readable text, and back: shared by the echo and the cassette format.

Text is shown as it is; `\`, `\r`, `\n`, `\t` are escaped, and every
byte that is not printable UTF-8 text is written `\xHH`. So the rendering
never loses a byte (vcrpy #784 decoded binary as UTF-8 "ignore" and lost
data) and `unescape()` gives back exactly what went in.
"""

from __future__ import annotations

__all__ = ["escape", "escaped_bytes", "split_lines", "unescape"]

_SIMPLE = {"\\": "\\\\", "\r": "\\r", "\n": "\\n", "\t": "\\t"}
_UNSIMPLE = {"\\": "\\", "r": "\r", "n": "\n", "t": "\t"}


def escape(data: bytes) -> str:
    """Render `data` as one line of text (no raw control characters)."""
    out: list[str] = []
    for ch in data.decode("utf-8", "surrogateescape"):
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


def escaped_bytes(data: bytes) -> int:
    r"""How many bytes of `data` `escape()` writes as `\xHH` (not text)."""
    count = 0
    for ch in data.decode("utf-8", "surrogateescape"):
        if ch in _SIMPLE:
            continue
        if "\udc80" <= ch <= "\udcff":
            count += 1
        elif not ch.isprintable():
            count += len(ch.encode("utf-8"))
    return count


def unescape(text: str) -> bytes:
    """The bytes `escape()` rendered as `text`; `ValueError` on a bad escape."""
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "\\":
            j = text.find("\\", i)
            j = n if j < 0 else j
            out += text[i:j].encode("utf-8")
            i = j
            continue
        code = text[i + 1 : i + 2]
        if code in _UNSIMPLE:
            out += _UNSIMPLE[code].encode()
            i += 2
        elif code == "x":
            digits = text[i + 2 : i + 4]
            try:
                if len(digits) != 2:
                    raise ValueError
                out.append(int(digits, 16))
            except ValueError:
                raise ValueError(
                    f"bad escape {text[i : i + 4]!r} (\\xHH wants 2 hex digits)"
                ) from None
            i += 4
        else:
            raise ValueError(f"unknown escape {text[i : i + 2]!r} (known: \\\\ \\r \\n \\t \\xHH)")
    return bytes(out)


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
