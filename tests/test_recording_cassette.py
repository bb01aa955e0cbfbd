"""netbase-recording: the cassette format (no network needed)."""

from __future__ import annotations

import gzip
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netbase_recording import (
    CassetteError,
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
from netbase_recording._cassette import _encoded, _Parser
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


CERT = {"subject": ((("commonName", "localhost"),),), "subjectAltName": (("DNS", "localhost"),)}
EVERY_KIND = Recording(
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
                    TLSInfo("TLSv1.3", ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 256), "h2", CERT),
                ),
                StartTLS(0.003, None, TLSInfo()),
                Write(0.004, b"hello \\ world \t\r\n"),
                Readable(0.005, False),
                Read(0.006, "héllo wörld ✓\n".encode()),
                Read(0.006, b"HTTP/1.1 200 OK\r\n\r\n" + gzip.compress(b"x" * 300, mtime=0)),
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
        Connection(path="/tmp/a b.sock", started=2.0, events=[Connected(0.0, "", "/tmp/a b.sock")]),
    ]
)


def test_every_event_kind_round_trips(tmp_path):
    recording = EVERY_KIND
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
    assert all(len(line) <= 6 + 76 for line in data_lines)
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


# -- every parser error names the file and the line where the problem is ---------

BINARY = dumps(recording_of(Write(0.001, b"GET /\r\n"), Read(0.002, bytes(range(256)) * 2)))


@pytest.mark.parametrize(
    ("edit", "wrong", "message"),
    [
        # Unicode digits pass str.isdigit() but int() refuses them.
        (lambda t: t.replace("  0.001 write 7", "  0.001 write 7²"), "write 7²", "BYTE_COUNT"),
        (lambda t: t.replace("example.com:443 at", "example.com:44³ at"), ":44³", "HOST:PORT"),
        (lambda t: t.replace(" write 7", " write \u0667"), "write \u0667", "BYTE_COUNT"),
        (lambda t: t.replace("connection 1 ", "connection ¹ "), "connection ¹", "connection N"),
        (lambda t: t.replace("  0.003 close", "  0.00³ close"), "0.00³", "a time in seconds"),
        (lambda t: t.replace("  0.001 write 7", "  0.001 write " + "9" * 5000), "write 999", ""),
    ],
)
def test_unicode_digits_and_huge_numbers_name_the_line(tmp_path, edit, wrong, message):
    text = edit(GOOD)
    path = write(tmp_path, text)
    with pytest.raises(CassetteError, match=rf"^{path}:\d+: .*{message}") as info:
        load(path)
    assert wrong in text.splitlines()[info.value.line - 1]


@pytest.mark.parametrize("which", [0, 3, -1])
def test_bad_base64_line_is_named(tmp_path, which):
    lines = BINARY.splitlines()
    data = [i for i, line in enumerate(lines) if line.startswith("    : ")]
    assert len(data) > 4
    bad = data[which]
    lines[bad] = lines[bad][:10] + "!" + lines[bad][11:]
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(CassetteError, match="bad base64") as info:
        load(path)
    assert info.value.line == bad + 1


def test_base64_padding_in_the_middle_is_named(tmp_path):
    lines = BINARY.splitlines()
    data = [i for i, line in enumerate(lines) if line.startswith("    : ")]
    lines[data[1]] = lines[data[1]][:-2] + "=="
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(CassetteError, match="bad base64") as info:
        load(path)
    assert info.value.line in (data[1] + 1, data[2] + 1)  # the padding, or what follows it


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "bad.cassette"
    path.write_bytes(GOOD.encode().replace(b"GET /", b"GET \xff/"))
    with pytest.raises(CassetteError, match="not UTF-8") as info:
        load(path)
    assert "GET" in GOOD.splitlines()[info.value.line - 1]


@settings(deadline=None, max_examples=30)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 150_000)), max_size=4), st.randoms())
def test_large_mixed_payloads_round_trip(parts, rnd):
    """Text and binary runs across the writer's segment boundaries come back byte for byte."""
    data = b"".join(
        (b"line of text\r\n" * (n // 14 + 1))[:n] if text else rnd.randbytes(n) for text, n in parts
    )
    recording = recording_of(Read(0.0, data or b"x"), Write(0.0, data + b"\xff"))
    assert loads(dumps(recording)) == recording


# -- fuzz: mutations and truncations of real cassettes ---------------------------

FUZZ_BASE = [GOOD, BINARY, dumps(EVERY_KIND)]

_mutation = st.one_of(
    st.tuples(st.just("cut"), st.floats(0, 1)),
    st.tuples(st.just("byte"), st.floats(0, 1), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("drop"), st.floats(0, 1), st.integers(1, 40)),
    st.tuples(st.just("line"), st.floats(0, 1), st.floats(0, 1)),
    st.tuples(st.just("text"), st.floats(0, 1), st.text(max_size=8)),
)


def _mutate(data: bytes, mutation: tuple) -> bytes:
    kind, where = mutation[0], int(mutation[1] * len(data))
    if kind == "cut":
        return data[:where]
    if kind == "byte":
        return data[:where] + mutation[2] + data[where + len(mutation[2]) :]
    if kind == "drop":
        return data[:where] + data[where + mutation[2] :]
    if kind == "text":
        return data[:where] + mutation[2].encode("utf-8", "surrogatepass") + data[where:]
    lines = data.split(b"\n")  # duplicate or move a line
    i, j = int(mutation[1] * len(lines)) % len(lines), int(mutation[2] * len(lines)) % len(lines)
    lines.insert(j, lines[i])
    return b"\n".join(lines)


@settings(
    deadline=None, max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(FUZZ_BASE), st.lists(_mutation, min_size=1, max_size=3))
def test_fuzzed_cassettes_fail_only_with_file_and_line(tmp_path_factory, base, mutations):
    data = base.encode()
    for mutation in mutations:
        data = _mutate(data, mutation)
    path = tmp_path_factory.mktemp("fuzz") / "fuzzed.cassette"
    path.write_bytes(data)
    try:
        recording = load(path)
    except CassetteError as exc:
        error = exc
    else:
        assert isinstance(recording, Recording)
        assert load(path) == loads(data.decode(), path=str(path))  # both ways agree
        return
    assert error.path == str(path)
    assert 1 <= error.line <= data.count(b"\n") + 2
    assert str(error).startswith(f"{path}:{error.line}: ")


# Hand edits that the bulk decoding of data lines must notice (and leave to the line by
# line path) or decode exactly as it would: whitespace and backslashes at line ends,
# escapes cut by a line end, the bytes the bulk path uses as markers, lines moved.
_TRICKY = [b" ", b"\t", b"\r", b"\\", b"\\\\", b"\\n", b"\\\\n", b"\\x4", b"\\x41", b"\x00"]
_TRICKY += [b"\x01", b"\n    | ", b"\n    : ", b"=", b"\\r\\n", b"\xc3\xa9", b"\n"]
_TRICKY += [b"\\x01", b"\\x5c", b"\\x00", b"\\x5cn", b"\x0b", b"\x1f", "\u00a0".encode()]
TEXT_HEAVY = dumps(
    recording_of(
        Write(0.001, b"POST / HTTP/1.1\r\nHost: a\r\n\r\n" + b'{"q": "a\\"b"}\n' * 40),
        Read(0.002, b"line\twith tab \\ and \\n\n" * 30 + "é ✓\n".encode() * 5 + b"no end"),
        Read(0.003, b"x" * 70_000 + b"\n" + b"y\r\n" * 3000),
        # Escapes decoded to the bytes the bulk path uses as markers, beside escaped backslashes.
        Write(0.004, (b"\x01\\x01\\\\\x01 \\\x00 " + b"text " * 20 + b"\n") * 20),
    )
)


def _parsed(data: bytes, *, bulk: bool) -> Recording | tuple[int, str]:
    try:
        return _Parser("p", bulk=bulk).parse(_encoded(data.decode("utf-8", "replace"), "p"))
    except CassetteError as exc:
        return exc.line, exc.message


@settings(deadline=None, max_examples=400)
@given(
    st.sampled_from([*FUZZ_BASE, TEXT_HEAVY]),
    st.lists(
        st.tuples(st.floats(0, 1), st.sampled_from(_TRICKY)) | _mutation, min_size=1, max_size=3
    ),
)
def test_bulk_decoding_agrees_with_line_by_line(base, mutations):
    """Runs of data lines decoded at once give what reading them one by one gives."""
    data = base.encode()
    for mutation in mutations:
        if isinstance(mutation[0], float):  # a tricky edit, most often at a line end
            where = int(mutation[0] * len(data))
            line_end = data.find(b"\n", where)
            where = line_end if line_end >= 0 and mutation[0] < 0.9 else where
            data = data[:where] + mutation[1] + data[where:]
        else:
            data = _mutate(data, mutation)
    assert _parsed(data, bulk=True) == _parsed(data, bulk=False)


def test_text_heavy_cassette_round_trips():
    # The escapes of bytes the bulk path uses as markers, beside escaped backslashes, as text.
    assert any(line.startswith("    | \\x01\\\\x01") for line in TEXT_HEAVY.splitlines())
    recording = loads(TEXT_HEAVY)
    assert dumps(recording) == TEXT_HEAVY
    assert recording.connections[0].events[1].data.startswith(b"line\twith tab \\ and \\n\n")
