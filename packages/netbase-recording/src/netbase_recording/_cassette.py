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
runs (a gzip body, an image). Text lines of HTTP stay text; binary survives
byte for byte. Lines starting with `#` are comments. The `end` line makes
a truncated file detectable; the byte counts catch a truncated or mis-edited
data block. Errors name the file and the line.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from netbase.lowlevel import format_address
from netbase_recording._escape import escape, escaped_bytes, split_lines, unescape
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
from netbase_recording._scrub import Scrub, scrub_connection

__all__ = ["VERSION", "CassetteError", "dumps", "load", "loads", "save"]

VERSION = 1
_MAGIC = "netbase-recording cassette"
_HEADER = f"{_MAGIC} v{VERSION}"
_B64_LINE = 48  # bytes per base64 line (64 characters)


class CassetteError(ValueError):
    """A cassette file that cannot be read: names the file and the line."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


# -- writing ------------------------------------------------------------------


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


def _text_line(line: bytes) -> str:
    text = escape(line)
    if text.endswith(" "):  # editors strip trailing spaces: make it visible
        text = text[:-1] + "\\x20"
    return "    | " + text


def _data_lines(data: bytes) -> Iterator[str]:
    lines = split_lines(data)
    clean = 0
    while clean < len(lines) and escaped_bytes(lines[clean]) == 0:
        clean += 1
    for line in lines[:clean]:
        yield _text_line(line)
    rest = b"".join(lines[clean:])
    if not rest:
        return
    if escaped_bytes(rest) * 16 <= len(rest):  # mostly text: keep it readable
        for line in lines[clean:]:
            yield _text_line(line)
        return
    for i in range(0, len(rest), _B64_LINE):
        yield "    : " + base64.b64encode(rest[i : i + _B64_LINE]).decode("ascii")


def _event_lines(event: Event) -> Iterator[str]:
    t = f"  {event.time:.3f}"
    if isinstance(event, Connected):
        yield f"{t} connected {_address(event.client_addr)} {_address(event.server_addr)}"
    elif isinstance(event, (Write, Read)):
        kind = "write" if isinstance(event, Write) else "read"
        yield f"{t} {kind} {len(event.data)}"
        yield from _data_lines(event.data)
    elif isinstance(event, EndOfStream):
        yield f"{t} eof"
    elif isinstance(event, StartTLS):
        yield f"{t} start_tls {event.hostname or '-'}"
        if event.tls is not None:
            info = event.tls
            name, protocol, bits = info.cipher or ("-", "-", 0)
            yield (
                f"    tls version={info.version or '-'} cipher={name} protocol={protocol} "
                f"bits={bits} alpn={info.alpn or '-'}"
            )
            if info.peercert:
                yield "    peercert " + json.dumps(info.peercert, sort_keys=True)
    elif isinstance(event, Readable):
        yield f"{t} readable {'yes' if event.value else 'no'}"
    elif isinstance(event, Failed):
        yield f"{t} error {event.operation} {event.error} {escape(event.message.encode())}"
    elif isinstance(event, Close):
        yield f"{t} close"
    else:  # pragma: no cover - the Event union is closed
        raise TypeError(f"not an event: {event!r}")


def dumps(recording: Recording, *, scrub: Scrub | None = None) -> str:
    """The cassette text of `recording`; `scrub` redacts the bytes first."""
    if scrub is not None and not callable(scrub):
        raise TypeError("scrub must be a function taking and returning bytes")
    out = [
        _HEADER,
        "# Recorded by netbase-recording. Data lines: '| ' text with \\r \\n \\t \\\\ \\xHH",
        "# escapes, ': ' base64. Times are seconds since the connection started.",
    ]
    for number, connection in enumerate(list(recording.connections), 1):
        if scrub is not None:
            connection = scrub_connection(connection, scrub)
        target = connection.target if connection.path is None else _address(connection.path)
        out.append("")
        out.append(f"connection {number} {target} at {connection.started:.3f}")
        for event in connection.events:
            out.extend(_event_lines(event))
    out.append("")
    out.append("end")
    return "\n".join(out) + "\n"


def save(recording: Recording, path: str | os.PathLike[str], *, scrub: Scrub | None = None) -> None:
    """Write `recording` to the cassette file at `path` (directories are created)."""
    text = dumps(recording, scrub=scrub)
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as file:
        file.write(text)


# -- reading ------------------------------------------------------------------


def load(path: str | os.PathLike[str]) -> Recording:
    """Read the cassette at `path`.

    `FileNotFoundError` names a missing file; [`CassetteError`][netbase_recording.CassetteError]
    names the file and line of anything else wrong (truncated, unknown version, invalid).
    """
    name = os.fspath(path)
    try:
        with open(path, encoding="utf-8", newline="\n") as file:
            text = file.read()
    except FileNotFoundError as exc:
        raise FileNotFoundError(exc.errno, "no such cassette", name) from None
    except UnicodeDecodeError as exc:
        line = text_line_of(path, exc.start)
        raise CassetteError(name, line, f"not UTF-8 text ({exc.reason})") from None
    return loads(text, path=name)


def text_line_of(path: str | os.PathLike[str], offset: int) -> int:
    """The line number of byte `offset` in the file."""
    with open(path, "rb") as file:
        return file.read(offset).count(b"\n") + 1


_TIME = re.compile(r"^\d+(\.\d+)?$")


def _tuples(value: Any) -> Any:
    """JSON arrays back to the tuples `ssl.getpeercert()` uses."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.lines = text.split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.connections: list[Connection] = []
        self.pending: tuple[int, str, float, int] | None = None  # line, kind, time, size
        self.data: list[bytes] = []
        self.b64: list[str] = []
        self.tls_line: int | None = None

    def fail(self, line: int, message: str) -> CassetteError:
        return CassetteError(self.path, line, message)

    def parse(self) -> Recording:
        if not self.lines:
            raise self.fail(1, f"empty file, not a netbase-recording cassette ({_HEADER!r})")
        first = self.lines[0].strip()
        if first != _HEADER:
            match = re.fullmatch(re.escape(_MAGIC) + r" v(\S+)", first)
            if match:
                raise self.fail(
                    1,
                    f"unknown cassette version {match.group(1)!r}: this netbase-recording "
                    f"reads version {VERSION}; upgrade netbase-recording or re-record",
                )
            raise self.fail(1, f"not a netbase-recording cassette (expected {_HEADER!r})")
        ended = False
        for number, raw in enumerate(self.lines[1:], 2):
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if ended:
                raise self.fail(number, "text after the 'end' line")
            if raw.startswith("    "):
                self.detail(number, stripped)
                continue
            self.finish_data(number)
            if raw.startswith("  "):
                self.event(number, stripped)
            elif stripped == "end":
                ended = True
            elif stripped.startswith("connection "):
                self.connection(number, stripped)
            else:
                raise self.fail(number, f"expected 'connection ...' or 'end', found {stripped!r}")
        if not ended:
            self.finish_data(len(self.lines) + 1)
            raise self.fail(
                len(self.lines) + 1, "the cassette ends without its 'end' line: truncated?"
            )
        return Recording(self.connections)

    def connection(self, number: int, line: str) -> None:
        parts = line.split(" ")
        if len(parts) != 5 or parts[3] != "at" or not parts[1].isdigit():
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
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise self.fail(number, f"expected HOST:PORT, found {text!r}")
        return host, int(port)

    def address(self, number: int, text: str) -> Any:
        if text == "-":
            return None
        if text.startswith("unix:"):
            return self.unescape(number, text[5:]).decode("utf-8", "surrogateescape")
        return self.host_port(number, text)

    def time(self, number: int, text: str) -> float:
        if not _TIME.match(text):
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
            if not args.isdigit():
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
            self.tls_line = number
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
        if self.pending is not None and (line == "|" or line.startswith(("| ", ": "))):
            if line.startswith(":"):
                self.b64.append(line[2:])
                return
            self.flush_b64(number)
            self.data.append(self.unescape(number, line[2:]))
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
                cert = json.loads(line[9:])
            except ValueError as exc:
                raise self.fail(number, f"peercert is not valid JSON: {exc}") from None
            info = TLSInfo(info.version, info.cipher, info.alpn, _tuples(cert))
        else:
            fields = dict(f.partition("=")[::2] for f in line[4:].split(" "))
            if set(fields) != {"version", "cipher", "protocol", "bits", "alpn"}:
                raise self.fail(
                    number, "expected 'tls version=... cipher=... protocol=... bits=N alpn=...'"
                )
            if not fields["bits"].isdigit():
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

    def flush_b64(self, number: int) -> None:
        if self.b64:
            try:
                self.data.append(base64.b64decode("".join(self.b64), validate=True))
            except (binascii.Error, ValueError) as exc:
                raise self.fail(number - 1, f"bad base64 data: {exc}") from None
            self.b64 = []

    def finish_data(self, number: int) -> None:
        if self.pending is None:
            return
        self.flush_b64(number)
        line, kind, t, size = self.pending
        data = b"".join(self.data)
        self.pending, self.data = None, []
        if len(data) != size:
            raise self.fail(
                line,
                f"{kind} says {size} bytes but its data lines hold {len(data)} "
                "(truncated or edited? fix the count)",
            )
        self.add(Write(t, data) if kind == "write" else Read(t, data))


def loads(text: str, *, path: str = "<string>") -> Recording:
    """Parse cassette `text`; errors name `path` and the line."""
    return _Parser(text, path).parse()
