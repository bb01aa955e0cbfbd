"""netbase-recording: the cassette format (no network needed)."""

from __future__ import annotations

import gzip
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netbase_recording import (
    Close,
    Connected,
    Connection,
    EndOfStream,
    Failed,
    Read,
    Readable,
    Recording,
    StartTLS,
    TLSInfo,
    Write,
    dumps,
    load,
    loads,
    save,
)
from netbase_recording._echo import Echo
from netbase_recording._escape import escape, unescape


def recording_of(*events, host="www.example.com", port=443) -> Recording:
    return Recording([Connection(host, port, started=0.0, events=list(events))])


@given(st.binary(max_size=2000))
def test_escape_round_trips_any_bytes(data):
    assert unescape(escape(data)) == data
    assert "\n" not in escape(data)
    assert "\r" not in escape(data)


@given(st.lists(st.binary(max_size=300), max_size=6))
def test_any_bytes_survive_a_cassette(chunks):
    events = [Connected(0.0, ("127.0.0.1", 5000), ("127.0.0.1", 443))]
    for i, chunk in enumerate(chunks):
        events.append(Write(0.001 * i, chunk) if i % 2 else Read(0.001 * i, chunk or b"x"))
    recording = recording_of(*events)
    assert loads(dumps(recording)) == recording


def test_every_event_kind_round_trips(tmp_path):
    cert = {"subject": ((("commonName", "localhost"),),), "subjectAltName": (("DNS", "localhost"),)}
    recording = Recording(
        [
            Connection(
                "::1",
                8443,
                started=0.25,
                events=[
                    Connected(0.001, ("::1", 50000), ("::1", 8443)),
                    StartTLS(
                        0.002,
                        "localhost",
                        TLSInfo("TLSv1.3", ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 256), "h2", cert),
                    ),
                    StartTLS(0.003, None, TLSInfo()),
                    Write(0.004, b"hello \\ world \t\r\n"),
                    Readable(0.005, False),
                    Read(0.006, "héllo wörld ✓\n".encode()),
                    Failed(0.007, "read", "ReadTimeout", "timed out reading from [::1]:8443"),
                    EndOfStream(0.008),
                    Close(0.009),
                ],
            ),
            Connection(
                "www.example.com",
                80,
                started=1.0,
                events=[
                    Failed(0.5, "connect", "ConnectError", "www.example.com:80: refused ✗"),
                ],
            ),
            Connection(
                path="/tmp/a b.sock", started=2.0, events=[Connected(0.0, "", "/tmp/a b.sock")]
            ),
        ]
    )
    path = tmp_path / "all.cassette"
    save(recording, path)
    assert load(path) == recording
    assert dumps(load(path)) == path.read_text()  # stable: no diff when saved again


def test_text_is_readable_and_binary_is_base64():
    body = gzip.compress(b"hello " * 100, mtime=0)
    response = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTrailing: sp \r\n\r\n" + body
    text = dumps(recording_of(Read(0.0, response)))
    lines = text.splitlines()
    assert "    | HTTP/1.1 200 OK\\r\\n" in lines
    assert "    | Trailing: sp\\x20\\r\\n" not in lines  # not at the end of the line
    assert "    | Trailing: sp \\r\\n" in lines
    data_lines = [line for line in lines if line.startswith("    : ")]
    assert data_lines, text
    assert all(len(line) <= 6 + 64 for line in data_lines)
    assert loads(text).connections[0].received == response


def test_trailing_space_is_made_visible():
    text = dumps(recording_of(Write(0.0, b"abc ")))
    assert "    | abc\\x20" in text.splitlines()
    assert loads(text).connections[0].written == b"abc "


def test_echo_format():
    out = io.StringIO()
    echo = Echo(out)
    echo.written(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    echo.read(b"\x1f\x8b\x08bin\nlast")
    assert out.getvalue() == (
        ">>> GET / HTTP/1.1\n>>> Host: a\n>>> \n<<< \\x1f\\x8b\\x08bin\n<<< last\n"
    )
    with pytest.raises(TypeError, match="text stream"):
        Echo(42)  # type: ignore[arg-type]


# -- errors name the file and the line ------------------------------------------

GOOD = dumps(recording_of(Write(0.001, b"GET /\r\n"), Read(0.002, b"OK\r\n"), Close(0.003)))


def write(tmp_path, text: str):
    path = tmp_path / "bad.cassette"
    path.write_text(text)
    return path


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such cassette") as info:
        load(tmp_path / "nope.cassette")
    assert info.value.filename == str(tmp_path / "nope.cassette")


def test_unknown_version(tmp_path):
    path = write(tmp_path, GOOD.replace("cassette v1", "cassette v7"))
    with pytest.raises(ValueError, match=rf"^{path}:1: unknown cassette version '7'"):
        load(path)


def test_not_a_cassette(tmp_path):
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'bad.cassette'}:1: not a netbase"):
        load(write(tmp_path, "interactions:\n- request: {}\n"))
    with pytest.raises(ValueError, match=r":1: empty file"):
        load(write(tmp_path, ""))


def test_truncated_file(tmp_path):
    lines = GOOD.splitlines()
    cut = lines.index("end")
    path = write(tmp_path, "\n".join(lines[:cut]) + "\n")
    with pytest.raises(
        ValueError, match=rf"^{path}:{cut + 1}: the cassette ends without its 'end'"
    ):
        load(path)
    # Cut inside a data block: the byte count catches it, at the event's line.
    write_line = next(i for i, line in enumerate(lines, 1) if " write " in line)
    path = write(tmp_path, "\n".join(lines[:write_line]) + "\n")
    with pytest.raises(ValueError, match=rf":{write_line}: write says 7 bytes but its data"):
        load(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("  0.001 write 7", "  0.001 write 9"), "write says 9 bytes"),
        (lambda t: t.replace("  0.002 read", "  0.002 reed"), "unknown or malformed event"),
        (lambda t: t.replace("  0.003 close", "  soon close"), "expected a time in seconds"),
        (lambda t: t.replace("| GET /", "| GET \\q/"), "unknown escape"),
        (lambda t: t.replace("connection 1 ", "connexion 1 "), "expected 'connection ...'"),
        (lambda t: t.replace("www.example.com:443", "www.example.com"), "expected HOST:PORT"),
        (lambda t: t.replace("\nend\n", "\nend\nmore\n"), "text after the 'end' line"),
    ],
)
def test_hand_edited_into_invalid_shape(tmp_path, edit, message):
    text = edit(GOOD)
    assert text != GOOD
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=rf"^{path}:\d+: .*{message}") as info:
        load(path)
    line = info.value.line  # type: ignore[attr-defined]
    wrong = text.splitlines()[line - 1]
    assert wrong not in GOOD.splitlines()


def test_hand_edited_data_is_fine_when_consistent(tmp_path):
    text = GOOD.replace("| OK\\r\\n", "| NO\\r\\n")
    assert loads(text).connections[0].received == b"NO\r\n"
