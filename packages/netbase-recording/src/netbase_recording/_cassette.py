r"""Cassettes: a recording as a text file that reads well and diffs well.

The format (version 1) is line oriented:

```text
netbase-recording cassette v1

connection 1 www.example.com:443 at 0.000
  0.012 connected 127.0.0.1:50412 93.184.215.14:443
  0.030 start_tls www.example.com
    tls version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 protocol=TLSv1.3 bits=256 alpn=http/1.1
    peercert {"subject": ...}
  0.031 write 40
    | GET / HTTP/1.1\r\n
    | Host: www.example.com\r\n
    | \r\n
  0.052 read 1024
    | HTTP/1.1 200 OK\r\n
    | Content-Encoding: gzip\r\n
    | \r\n
    : H4sIAAAAAAAAA+3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIA...
  0.060 eof
  0.061 close

end
```

Each event line is `TIME KIND ...` (seconds since the connection started).
Data lines are `| ` text, one line of the payload per line, with `\r`,
`\n`, `\t`, `\\` and `\xHH` escapes, or `: ` base64 for binary
runs (a gzip body, an image; the `: ` lines of a run are one base64 text).
Text lines of HTTP stay text; binary survives byte for byte. Lines starting
with `#` are comments. The `end` line makes a truncated file detectable;
the byte counts catch a truncated or mis-edited data block. Errors name the
file and the line.

Both ways stream: `save` writes as it goes (to a temporary file renamed
into place, so a failed save leaves the previous cassette as it was) and
`load` reads block by block, decoding runs of data lines in bulk, so a
large cassette costs little more memory than the bytes it holds.
"""

from __future__ import annotations

import binascii
import codecs
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from netbase.lowlevel import format_address
from netbase_recording._escape import escape, unescape
from netbase_recording._events import (
    ERRORS,
    Close,
    Connected,
    Connection,
    EndOfStream,
    Event,
    Failed,
    Read,
    Readable,
    Recording,
    StartTLS,
    TLSInfo,
    Write,
)
from netbase_recording._scrub import Scrub, check_scrub, scrub_connection

__all__ = ["VERSION", "CassetteError", "dumps", "load", "loads", "save"]

VERSION = 1
_MAGIC = "netbase-recording cassette"
_HEADER = f"{_MAGIC} v{VERSION}"


class CassetteError(ValueError):
    """A cassette file that cannot be read: names the file and the line."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


# -- writing ------------------------------------------------------------------

# Data is looked at in segments: a text segment is cut after a line end, a
# binary one at a multiple of 57 and of 3072 bytes (76 or 4096 base64 characters).
_SEGMENT = 57 * 1024  # a multiple of 57 and of 3072
_LONG = 1 << 16  # events from this size on get long base64 lines
_BATCH = 1 << 18  # characters handed to the file at once
_TEXT_OR_HIGH = bytes(range(0x20, 0x7F)) + b"\t\r\n" + bytes(range(0x80, 0x100))
_LINE_ENDS = {9: None, 10: None, 13: None}
_CLEAN_ASCII = bytes(range(0x20, 0x7F)) + b"\t\r\n"
_Piece = bytes | memoryview  # what the writer hands the file: no copy to cut a piece short


def _address(address: Any) -> str:
    if address is None:
        return "-"
    if isinstance(address, tuple):
        return format_address(str(address[0]), int(address[1]))
    if isinstance(address, bytes):
        address = os.fsdecode(address)
    # Fields are separated by spaces: a space in a path is escaped.
    text = escape(str(address).encode("utf-8", "surrogateescape"))
    return "unix:" + text.replace(" ", "\\x20")


def _mostly_text(data: bytes) -> bool:
    r"""Whether at most 1 byte in 16 of `data` would be written `\xHH` (C calls only)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Not UTF-8 (binary fails at once): judge by a sample from the first bad byte.
        sample = data[exc.start : exc.start + 4096]
        bad = sample.decode("utf-8", "replace").count("\ufffd")
        controls = len(sample.translate(None, _TEXT_OR_HIGH))
        return (bad + controls) * 16 <= len(sample)
    return len(data.translate(None, _TEXT_OR_HIGH)) * 16 <= len(data)


def _clean(line: bytes) -> bool:
    """Whether `line` is text with nothing to escape but line ends, tabs and backslashes."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return text.translate(_LINE_ENDS).isprintable()


def _text_line(text: str) -> str:
    if text.endswith(" "):  # editors strip trailing spaces: make it visible
        text = text[:-1] + "\\x20"
    return "    | " + text + "\n"


def _text_block(data: bytes) -> list[_Piece]:
    """`| ` lines for `data`, one per line of text."""
    if data.isascii() and not data.translate(None, _CLEAN_ASCII):
        # Printable ASCII, tabs and line ends (what HTTP and JSON are made of): all in C.
        cut = data.rfind(b"\n") + 1
        out: list[_Piece] = []
        if cut:
            head = data[:cut] if cut < len(data) else data
            escaped = head.replace(b"\\", b"\\\\").replace(b"\r", b"\\r").replace(b"\t", b"\\t")
            lines = escaped.replace(b"\n", b"\\n\n    | ")  # ends with a prefix too many
            out += (b"    | ", memoryview(lines)[:-6])
        if cut < len(data):
            out.append(_text_line(escape(data[cut:])).encode())
        return out
    pieces = data.split(b"\n")
    last = pieces.pop()  # what follows the last line end (often nothing)
    text = []
    if pieces:
        joined = b"\n".join(pieces).decode("utf-8", "surrogateescape")
        escaped_text = joined.replace("\\", "\\\\").replace("\r", "\\r").replace("\t", "\\t")
        if escaped_text.translate(_LINE_ENDS).isprintable():  # text, all in C
            text.append("    | " + escaped_text.replace("\n", "\\n\n    | ") + "\\n\n")
        else:
            text.extend(_text_line(escape(piece + b"\n")) for piece in pieces)
    if last:
        text.append(_text_line(escape(last)))
    return ["".join(text).encode("utf-8")]


def _base64_block(data: bytes, width: int) -> list[bytes]:
    """`: ` lines of `width` base64 characters."""
    if not data:
        return []
    encoded = binascii.b2a_base64(data, newline=False)
    size = len(encoded)
    # Slicing through map() keeps the per-line cost in C.
    lines = map(
        encoded.__getitem__, map(slice, range(0, size, width), range(width, size + width, width))
    )
    return [b"    : ", b"\n    : ".join(lines), b"\n"]


def _data_text(data: bytes) -> Iterator[_Piece]:
    """The data lines of `data`: text stays text, binary runs become base64."""
    i, n = 0, len(data)
    # Base64 lines of 76 characters, as in e-mail; a large body gets longer lines
    # (no one reads base64, and per-line work is what makes large cassettes slow).
    width = 76 if n < _LONG else 4096
    while i < n:
        end = min(i + _SEGMENT, n)
        segment = data[i:end]
        if _mostly_text(segment):  # mostly text: keep it readable
            if end < n:
                line_end = data.find(b"\n", end, end + _SEGMENT)
                if line_end >= 0:
                    end = line_end + 1
                    segment = data[i:end]
            yield from _text_block(segment)
        else:
            # Lines of clean text before the binary (an HTTP head before a gzip body) stay text.
            start = 0
            while (line_end := segment.find(b"\n", start)) >= 0:
                if not _clean(segment[start : line_end + 1]):
                    break
                start = line_end + 1
            if start:  # then go on from there, so base64 pieces stay whole groups of 3 bytes
                yield from _text_block(segment[:start])
                i += start
                continue
            yield from _base64_block(segment, width)
        i = end


def _event_text(event: Event) -> Iterator[_Piece]:
    t = f"  {event.time:.3f}"
    if isinstance(event, (Write, Read)):
        kind = "write" if isinstance(event, Write) else "read"
        yield f"{t} {kind} {len(event.data)}\n".encode()
        yield from _data_text(event.data)
    elif isinstance(event, Connected):
        addresses = f"{_address(event.client_addr)} {_address(event.server_addr)}"
        yield f"{t} connected {addresses}\n".encode()
    elif isinstance(event, EndOfStream):
        yield f"{t} eof\n".encode()
    elif isinstance(event, StartTLS):
        yield f"{t} start_tls {event.hostname or '-'}\n".encode()
        if event.tls is not None:
            info = event.tls
            name, protocol, bits = info.cipher or ("-", "-", 0)
            yield (
                f"    tls version={info.version or '-'} cipher={name} protocol={protocol} "
                f"bits={bits} alpn={info.alpn or '-'}\n"
            ).encode()
            if info.peercert:
                yield ("    peercert " + json.dumps(info.peercert, sort_keys=True) + "\n").encode()
    elif isinstance(event, Readable):
        yield f"{t} readable {'yes' if event.value else 'no'}\n".encode()
    elif isinstance(event, Failed):
        message = escape(event.message.encode())
        yield f"{t} error {event.operation} {event.error} {message}\n".encode()
    elif isinstance(event, Close):
        yield f"{t} close\n".encode()
    else:  # pragma: no cover - the Event union is closed
        raise TypeError(f"not an event: {event!r}")


def _cassette_pieces(recording: Recording, scrub: Scrub | None) -> Iterator[_Piece]:
    """The cassette as UTF-8, piece by piece (bytes or memoryviews of them)."""
    yield (
        f"{_HEADER}\n"
        "# Recorded by netbase-recording. Data lines: '| ' text with \\r \\n \\t \\\\ \\xHH\n"
        "# escapes, ': ' base64. Times are seconds since the connection started.\n"
    ).encode()
    for number, connection in enumerate(list(recording.connections), 1):
        if scrub is not None:
            connection = scrub_connection(connection, scrub)
        target = connection.target if connection.path is None else _address(connection.path)
        yield f"\nconnection {number} {target} at {connection.started:.3f}\n".encode()
        for event in connection.events:
            yield from _event_text(event)
    yield b"\nend\n"


def _batched(pieces: Iterable[_Piece]) -> Iterator[list[_Piece]]:
    """`pieces` in lists of about a megabyte, each handed to the file at once."""
    batch: list[_Piece] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= _BATCH:
            yield batch
            batch, size = [], 0
    yield batch


def dumps(recording: Recording, *, scrub: Scrub | None = None) -> str:
    """The cassette text of `recording`; `scrub` redacts the bytes first."""
    check_scrub(scrub)
    return b"".join(_cassette_pieces(recording, scrub)).decode("utf-8")


def save(recording: Recording, path: str | os.PathLike[str], *, scrub: Scrub | None = None) -> None:
    """Write `recording` to the cassette file at `path` (directories are created).

    The cassette is written to a temporary file in the same directory and
    renamed over `path` once complete, so a save that fails part-way (disk
    full, a size limit, a scrub hook that raises) leaves the previous
    cassette untouched and no partial file behind.
    """
    check_scrub(scrub)
    target = os.fspath(path)
    directory = os.path.dirname(target)
    if directory:
        os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(target)}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as file:
            for batch in _batched(_cassette_pieces(recording, scrub)):
                file.writelines(batch)
        if os.path.exists(target):
            shutil.copymode(target, temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# -- reading ------------------------------------------------------------------

_BLOCK = 1 << 18  # bytes read at once
# Runs of data lines are decoded in bulk, as bytes; these find where a run ends.
# Inside a run, the end of each line is marked with NUL, which the writer never
# leaves raw in a line (a run that holds one is read line by line instead).
_SEP = b"\x00"
# Whitespace at the end of a data line (the writer never leaves any: a trailing
# space is written `\x20`) but hand edits and CRLF checkouts do: the line by
# line path strips it, as it always has, so a run ending with some goes there.
_PAIR = b"\x01"  # stands for an escaped backslash while the other escapes are decoded
_HEX_ESCAPE = re.compile(rb"(\\x[0-9a-fA-F]{2})")
_HEX_BYTES = {
    b"\\x" + f"{hi}{lo}".encode(): bytes([int(hi + lo, 16)])
    for hi in "0123456789abcdefABCDEF"
    for lo in "0123456789abcdefABCDEF"
}


def _run_at(buf: bytes, pos: int, expected: int) -> tuple[int, int, bytes] | None:
    """The run of `: ` (base64) lines that starts at `pos`.

    Returns where it stops, how many lines it has and their contents joined
    by `_SEP`; `None` when no whole line is there yet. All in C calls: first
    over a window the size the event's byte count says the rest of its data
    lines take (`expected` bytes), then over the whole buffer.
    """
    return _lines_at(buf, pos, expected, b"\n" + buf[pos : pos + 6])


def _text_run_at(buf: bytes, pos: int, expected: int) -> tuple[int, int, bytes] | None:
    r"""The run of `| ` (text) lines that starts at `pos`, as `_run_at`.

    The run goes on while a line ends with the `\n` escape and the next is a
    `| ` line too (a line of text is written so); `_SEP` stands for such a
    line end, both the escape and the line end, so the run's bytes are its
    contents with `_SEP` made `\n` and the other escapes decoded.
    """
    joint = b"\\n\n" + buf[pos : pos + 6]
    line_end = buf.find(b"\n", pos)
    if line_end >= 0 and not buf.startswith(joint, line_end - 2):
        line = buf[pos + 6 : line_end]  # a line alone: no window to scan
        return None if _SEP in line else (line_end + 1, 1, line)
    return _lines_at(buf, pos, expected, joint)


def _lines_at(buf: bytes, pos: int, expected: int, joint: bytes) -> tuple[int, int, bytes] | None:
    """The lines from `pos` joined while `joint` joins them, as `_run_at` says."""
    last = buf.rfind(b"\n") + 1
    if last <= pos:
        return None
    # Base64 takes 4/3 of the bytes, plus 7 characters a line: 1.5 covers it.
    window = max(expected, 0) * 3 // 2 + 4096
    while True:
        cut = last if pos + window >= last else buf.rfind(b"\n", pos, pos + window) + 1
        if cut <= pos:  # one line longer than the window
            window *= 2
            continue
        piece = buf[pos:cut]
        if _SEP in piece:
            return None
        joined = piece.replace(joint, _SEP)
        end = joined.find(b"\n")
        if end < len(joined) - 1 or cut == last:
            if end == len(joined) - 1:  # the whole piece: count the joints by length
                joints = (len(piece) - len(joined)) // (len(joint) - 1)
            else:
                joints = joined.count(_SEP, 0, end)
            return pos + end + 1 + (len(joint) - 1) * joints, joints + 1, joined[6:end]
        window = len(buf)


def _unescape_text(content: bytes) -> bytes | None:
    r"""The bytes of a run of `| ` lines as `_text_run_at` gives it.

    `None` when something in it is unusual or wrong, for the line by line
    path to read (and to name the line). A few passes in C.
    """
    if content[-4:].decode("utf-8", "ignore")[-1:].isspace():  # what strip() would take
        return None
    data = content.replace(_SEP, b"\n")
    backslash = data.find(b"\\")
    if backslash < 0:
        return data
    # The last line apart: it ends with its own escape (`\n`, `\r\n`, a trailing `\x20`)
    # where the others were joined by a real line end.
    start = data.rfind(b"\n") + 1
    head: bytes | memoryview | None = memoryview(data)[:start]
    if backslash < start:
        head = _unescape(data[:start])
    tail: bytes | None = data[start:]
    if tail is not None and b"\\" in tail:
        tail = _unescape(tail)
    return None if head is None or tail is None else b"".join((head, tail))


def _unescape(data: bytes) -> bytes | None:
    """The bytes `data` (lines joined by real line ends) stands for; `None` if anything is off."""
    if data.count(b"\\") == data.count(b"\\r\n"):  # CRLF text, nothing else escaped
        return data.replace(b"\\r\n", b"\r\n")
    # An escaped backslash first, so that what follows it is not taken for an escape.
    # A line ending with an escaped backslash and an `n`, taken for the `\n` escape
    # when the lines were joined, leaves a backslash before a line end: None.
    pairs = b"\\\\" in data
    if pairs:
        if _PAIR in data:
            return None
        data = data.replace(b"\\\\", _PAIR)
    data = data.replace(b"\\n", b"\n").replace(b"\\r", b"\r").replace(b"\\t", b"\t")
    if b"\\x" in data:  # last, as a byte it gives may be anything (a backslash, _PAIR)
        pieces = _HEX_ESCAPE.split(data)
        literals = pieces[0::2]
        if b"\\" in b"".join(literals):
            return None
        if pairs:
            pieces[0::2] = [literal.replace(_PAIR, b"\\") for literal in literals]
        pieces[1::2] = [_HEX_BYTES[code] for code in pieces[1::2]]
        return b"".join(pieces)
    if b"\\" in data:
        return None
    return data.replace(_PAIR, b"\\") if pairs else data


_B64_CHARS = re.compile(r"[A-Za-z0-9+/=]*")
_B64_BYTES = re.compile(rb"[A-Za-z0-9+/=]*")
_STRICT_BASE64 = sys.version_info >= (3, 11)  # binascii's strict_mode checks the alphabet
_NUMBER = re.compile(r"[0-9]{1,18}")  # ASCII digits only: "5²".isdigit() is true
_TIME = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")


def load(path: str | os.PathLike[str]) -> Recording:
    """Read the cassette at `path`.

    `FileNotFoundError` names a missing file; [`CassetteError`][netbase_recording.CassetteError]
    names the file and line of anything else wrong (truncated, unknown version, invalid).
    """
    name = os.fspath(path)
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError as exc:
        raise FileNotFoundError(exc.errno, "no such cassette", name) from None
    with file:
        return _Parser(name).parse(_checked(file, name))


def _checked(file: io.BufferedReader, name: str) -> Iterator[bytes]:
    """The file's bytes, block by block, checked to be UTF-8; an error names its line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes read before this block
    while True:
        block = file.read(_BLOCK)
        pending = len(decoder.getstate()[0])
        if pending or not block.isascii():  # ASCII (most blocks) is UTF-8: no decoding
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                line = text_line_of(name, offset - pending + exc.start)
                raise CassetteError(name, line, f"not UTF-8 text ({exc.reason})") from None
        offset += len(block)
        if not block:
            return
        yield block


def loads(text: str, *, path: str = "<string>") -> Recording:
    """Parse cassette `text`; errors name `path` and the line."""
    return _Parser(path).parse(_encoded(text, path))


def _encoded(text: str, path: str) -> Iterator[bytes]:
    """`text` as UTF-8, block by block; a lone surrogate names its line."""
    for i in range(0, len(text), _BLOCK):
        try:
            yield text[i : i + _BLOCK].encode("utf-8")
        except UnicodeEncodeError as exc:
            line = text.count("\n", 0, i + exc.start) + 1
            raise CassetteError(path, line, f"not text ({exc.reason})") from None


def text_line_of(path: str | os.PathLike[str], offset: int) -> int:
    """The line number of byte `offset` in the file."""
    with open(path, "rb") as file:
        return file.read(offset).count(b"\n") + 1


def _tuples(value: Any) -> Any:
    """JSON arrays back to the tuples `ssl.getpeercert()` uses."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


class _Parser:
    def __init__(self, path: str, *, bulk: bool = True) -> None:
        self.path = path
        self.bulk = bulk  # runs of data lines decoded at once (False: line by line, as a check)
        self.connections: list[Connection] = []
        self.pending: tuple[int, str, float, int] | None = None  # line, kind, time, size
        self.data = io.BytesIO()
        self.b64_carry = b""  # base64 characters waiting for a complete group of 4
        self.b64_padded = False
        self.b64_line = 0  # the last base64 line of the run
        self.ended = False

    def fail(self, line: int, message: str) -> CassetteError:
        return CassetteError(self.path, line, message)

    def parse(self, chunks: Iterable[bytes]) -> Recording:
        source = iter(chunks)
        buf, pos, number, more = b"", 0, 0, True
        while True:
            data_line = self.bulk and buf.startswith((b"    : ", b"    | "), pos)
            if data_line and self.pending is not None:
                # A run of data lines: decoded in one go (line by line if it is wrong).
                kind = buf[pos + 4 : pos + 5].decode()
                run_at = _run_at if kind == ":" else _text_run_at
                run = run_at(buf, pos, self.pending[3] - self.data.tell())
                if run is not None:
                    pos, lines, content = run
                    self.data_run(number + 1, lines, kind, content)
                    number += lines
                    continue
            end = buf.find(b"\n", pos)
            if end < 0:
                if more:
                    chunk = next(source, None)
                    if chunk is None:
                        more = False
                    else:
                        buf, pos = buf[pos:] + chunk, 0
                    continue
                if pos >= len(buf):
                    break
                end = len(buf)  # the last line has no line end
            number += 1
            self.line(number, buf[pos:end].decode("utf-8"))
            pos = end + 1
        if number == 0:
            raise self.fail(1, f"empty file, not a netbase-recording cassette ({_HEADER!r})")
        if not self.ended:
            self.finish_data()
            raise self.fail(number + 1, "the cassette ends without its 'end' line: truncated?")
        return Recording(self.connections)

    def header(self, line: str) -> None:
        first = line.strip()
        if first != _HEADER:
            match = re.fullmatch(re.escape(_MAGIC) + r" v(\S+)", first)
            if match:
                raise self.fail(
                    1,
                    f"unknown cassette version {match.group(1)!r}: this netbase-recording "
                    f"reads version {VERSION}; upgrade netbase-recording or re-record",
                )
            raise self.fail(1, f"not a netbase-recording cassette (expected {_HEADER!r})")

    def line(self, number: int, raw: str) -> None:
        if number == 1:
            self.header(raw)
            return
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            return
        if self.ended:
            raise self.fail(number, "text after the 'end' line")
        if raw.startswith("    "):
            self.detail(number, stripped)
            return
        self.finish_data()
        if raw.startswith("  "):
            self.event(number, stripped)
        elif stripped == "end":
            self.ended = True
        elif stripped.startswith("connection "):
            self.connection(number, stripped)
        else:
            raise self.fail(number, f"expected 'connection ...' or 'end', found {stripped!r}")

    def data_run(self, first: int, lines: int, kind: str, content: bytes) -> None:
        """`lines` data lines (`content`: theirs, joined by `_SEP`) from line `first`."""
        if kind == ":":
            state = (self.b64_carry, self.b64_padded, self.b64_line)
            try:
                self.b64_feed(content.replace(_SEP, b"") if lines > 1 else content)
                self.b64_line = first + lines - 1
                return
            except ValueError:
                self.b64_carry, self.b64_padded, self.b64_line = state
        else:
            data = _unescape_text(content)
            if data is not None:
                self.flush_b64()
                self.data.write(data)
                return
            content = content.replace(_SEP, b"\\n" + _SEP)  # the lines as they were
        # Something in the run is unusual or wrong: line by line, to name the line.
        for number, line in enumerate(content.split(_SEP), first):
            self.detail(number, (kind + " " + line.decode("utf-8")).strip())

    def connection(self, number: int, line: str) -> None:
        parts = line.split(" ")
        if len(parts) != 5 or parts[3] != "at" or not _NUMBER.fullmatch(parts[1]):
            raise self.fail(number, f"expected 'connection N HOST:PORT at TIME', found {line!r}")
        target, started = parts[2], self.time(number, parts[4])
        if target.startswith("unix:"):
            path = self.unescape(number, target[5:]).decode("utf-8", "surrogateescape")
            self.connections.append(Connection(path=path, started=started))
            return
        host, port = self.host_port(number, target)
        self.connections.append(Connection(host, port, started=started))

    def host_port(self, number: int, text: str) -> tuple[str, int]:
        if text.startswith("["):
            host, sep, port = text[1:].partition("]:")
        else:
            host, sep, port = text.rpartition(":")
        if not sep or not host or not _NUMBER.fullmatch(port) or int(port) > 65535:
            raise self.fail(number, f"expected HOST:PORT (a port up to 65535), found {text!r}")
        return host, int(port)

    def address(self, number: int, text: str) -> Any:
        if text == "-":
            return None
        if text.startswith("unix:"):
            return self.unescape(number, text[5:]).decode("utf-8", "surrogateescape")
        return self.host_port(number, text)

    def time(self, number: int, text: str) -> float:
        if not _TIME.fullmatch(text):
            raise self.fail(number, f"expected a time in seconds, found {text!r}")
        return float(text)

    def unescape(self, number: int, text: str) -> bytes:
        try:
            return unescape(text)
        except ValueError as exc:
            raise self.fail(number, str(exc)) from None

    def add(self, event: Event) -> None:
        self.connections[-1].events.append(event)

    def event(self, number: int, line: str) -> None:
        if not self.connections:
            raise self.fail(number, "an event before the first 'connection' line")
        time_text, _, rest = line.partition(" ")
        t = self.time(number, time_text)
        kind, _, args = rest.partition(" ")
        if kind in ("write", "read"):
            if not _NUMBER.fullmatch(args):
                raise self.fail(number, f"expected '{kind} BYTE_COUNT', found {line!r}")
            self.pending = (number, kind, t, int(args))
        elif kind in ("eof", "close") and not args:
            self.add(EndOfStream(t) if kind == "eof" else Close(t))
        elif kind == "connected":
            addresses = args.split(" ")
            if len(addresses) != 2:
                raise self.fail(number, f"expected 'connected CLIENT SERVER', found {line!r}")
            self.add(
                Connected(t, self.address(number, addresses[0]), self.address(number, addresses[1]))
            )
        elif kind == "start_tls" and args and " " not in args:
            self.add(StartTLS(t, None if args == "-" else args))
        elif kind == "readable" and args in ("yes", "no"):
            self.add(Readable(t, args == "yes"))
        elif kind == "error":
            operation, _, rest = args.partition(" ")
            error, _, message = rest.partition(" ")
            if operation not in ("connect", "read", "write", "start_tls") or error not in ERRORS:
                raise self.fail(
                    number,
                    f"expected 'error OPERATION ERROR MESSAGE' (a netbase error), found {line!r}",
                )
            text = self.unescape(number, message).decode("utf-8", "replace")
            self.add(Failed(t, operation, error, text))
        else:
            raise self.fail(number, f"unknown or malformed event {line!r}")

    def detail(self, number: int, line: str) -> None:
        if self.pending is not None and (line in ("|", ":") or line.startswith(("| ", ": "))):
            if line.startswith(":"):
                if not _B64_CHARS.fullmatch(line[2:]):
                    raise self.fail(number, "bad base64 data: a character that is not base64")
                try:
                    self.b64_feed(line[2:].encode("ascii"))
                except ValueError as exc:
                    raise self.fail(number, f"bad base64 data: {exc}") from None
                self.b64_line = number
                return
            self.flush_b64()
            self.data.write(self.unescape(number, line[2:]))
            return
        events = self.connections[-1].events if self.connections else []
        if line.startswith(("tls ", "peercert ")) and events and isinstance(events[-1], StartTLS):
            self.tls_detail(number, line, events)
            return
        raise self.fail(number, f"unexpected line {line!r}")

    def tls_detail(self, number: int, line: str, events: list[Event]) -> None:
        event = events[-1]
        assert isinstance(event, StartTLS)
        info = event.tls or TLSInfo()
        if line.startswith("peercert "):
            try:
                cert = _tuples(json.loads(line[9:]))
            except (ValueError, RecursionError) as exc:
                raise self.fail(number, f"peercert is not valid JSON: {exc}") from None
            if not isinstance(cert, dict):
                raise self.fail(number, "peercert must be a JSON object")
            info = TLSInfo(info.version, info.cipher, info.alpn, cert)
        else:
            fields = dict(f.partition("=")[::2] for f in line[4:].split(" "))
            if set(fields) != {"version", "cipher", "protocol", "bits", "alpn"}:
                raise self.fail(
                    number, "expected 'tls version=... cipher=... protocol=... bits=N alpn=...'"
                )
            if not _NUMBER.fullmatch(fields["bits"]):
                raise self.fail(number, f"bits must be a number, found {fields['bits']!r}")
            cipher = None
            if fields["cipher"] != "-":
                cipher = (fields["cipher"], fields["protocol"], int(fields["bits"]))
            info = TLSInfo(
                None if fields["version"] == "-" else fields["version"],
                cipher,
                None if fields["alpn"] == "-" else fields["alpn"],
                info.peercert,
            )
        events[-1] = StartTLS(event.time, event.hostname, info)

    def b64_feed(self, text: bytes) -> None:
        """Decode whole groups of 4 base64 characters; keep the rest for the next line."""
        if self.b64_padded and text:
            raise ValueError("more data after the '=' padding that ends base64 data")
        if self.b64_carry:
            text = self.b64_carry + text
        whole = len(text) - len(text) % 4
        chunk, self.b64_carry = (text, b"") if whole == len(text) else (text[:whole], text[whole:])
        if not _B64_BYTES.fullmatch(self.b64_carry):  # what is decoded is checked below
            raise ValueError("a character that is not base64")
        padding = chunk.find(b"=")
        if padding >= 0:
            if padding < whole - 2 or chunk[padding:].strip(b"=") or self.b64_carry:
                raise ValueError("'=' padding in the middle of base64 data")
            self.b64_padded = True
        if _STRICT_BASE64:
            self.data.write(binascii.a2b_base64(chunk, strict_mode=True))  # type: ignore[call-arg,unused-ignore]
        elif _B64_BYTES.fullmatch(chunk):
            self.data.write(binascii.a2b_base64(chunk))
        else:
            raise ValueError("a character that is not base64")

    def flush_b64(self) -> None:
        """The base64 run is over: it must have ended on a whole group."""
        if self.b64_carry:
            raise self.fail(
                self.b64_line,
                f"bad base64 data: it ends with {len(self.b64_carry)} character(s) "
                "of an incomplete group of 4",
            )
        self.b64_padded = False

    def finish_data(self) -> None:
        if self.pending is None:
            return
        self.flush_b64()
        line, kind, t, size = self.pending
        data = self.data.getvalue()  # shares the buffer: no copy of a large body
        self.pending, self.data = None, io.BytesIO()
        if len(data) != size:
            raise self.fail(
                line,
                f"{kind} says {size} bytes but its data lines hold {len(data)} "
                "(truncated or edited? fix the count)",
            )
        self.add(Write(t, data) if kind == "write" else Read(t, data))
