"""Bad values at every public entry point: refused before any I/O, on every runtime.

The values are the ones real programs produce by mistake: a mistyped IP
address, a port read from a string, a size computed too large, a deadline in
the wrong unit, a resolver that returns a string, a server's TLS context on
the client side. Each must raise ``TypeError`` or ``ValueError`` at once and
touch nothing: the loopback server's accept count shows that no connection
was made, and a stream refused a bad argument still echoes exactly what is
written to it afterwards (so not one byte went out, a ClientHello included).
"""

from __future__ import annotations

import math
import socket
import ssl
from fractions import Fraction

import pytest
from test_options_support import answering_resolver

import netbase
from helpers import read_exactly

HOST = "bad-values.test"  # only ever given to stub resolvers


# -- connect(host, port) --------------------------------------------------------

BAD_HOSTS = [
    (b"127.0.0.1", TypeError),
    (None, TypeError),
    (127, TypeError),
    (("127.0.0.1", 80), TypeError),
    ("", ValueError),
    ("local\x00host", ValueError),
    ("exa mple.test", ValueError),
    ("tab\there.test", ValueError),
    ("a" * 300, ValueError),
    ("a" * 64 + ".test", ValueError),
    ("192.168..1", ValueError),
    ("1" * 64, ValueError),
    ("127.0.0." + "1" * 64, ValueError),
    (".127.0.0.1", ValueError),
    ("127.0.0.1..", ValueError),
    ("..", ValueError),
    ("f" * 64 + "::1", ValueError),
    ("xn--a.test", ValueError),  # punycode that decodes to nothing valid
    ("\u00e9" * 64 + ".test", ValueError),  # an IDNA label over 63 characters
]

BAD_PORTS = [
    ("80", TypeError),
    (80.0, TypeError),
    (None, TypeError),
    (True, TypeError),
    (-1, ValueError),
    (65536, ValueError),
    (2**64, ValueError),
]


@pytest.mark.parametrize(("host", "error"), BAD_HOSTS, ids=repr)
async def test_connect_refuses_a_bad_host(runtime, net, echo_server, host, error):
    accepted = echo_server.accepted
    with pytest.raises(error) as info:
        await net.connect(host, echo_server.port)
    assert not isinstance(info.value, UnicodeError)  # ours, not the IDNA codec's
    assert echo_server.accepted == accepted


@pytest.mark.parametrize(("port", "error"), BAD_PORTS, ids=repr)
async def test_connect_refuses_a_bad_port(runtime, net, echo_server, port, error):
    accepted = echo_server.accepted
    with pytest.raises(error):
        await net.connect("127.0.0.1", port)
    assert echo_server.accepted == accepted


# -- resolver answers -----------------------------------------------------------


BAD_ANSWERS = [
    ("127.0.0.1", TypeError),
    ("0", TypeError),
    (b"127.0.0.1", TypeError),
    ([""], ValueError),
    (["0"], ValueError),
    (["localhost"], ValueError),
    (["127.0.0.1:80"], ValueError),
    (["127.0.0.1\x00"], ValueError),
    (["::1%"], ValueError),
    ([b"127.0.0.1"], TypeError),
    ([("127.0.0.1", 80)], TypeError),
    ([None], TypeError),
    (None, TypeError),
    (42, TypeError),
    ({"127.0.0.1"}, TypeError),
    (iter(["127.0.0.1"]), TypeError),
]


@pytest.mark.parametrize(("answer", "error"), BAD_ANSWERS, ids=repr)
async def test_a_bad_resolver_answer_connects_nowhere(runtime, echo_server, answer, error):
    """Named in the error, with what it returned; and no connection, to anything."""
    resolver = answering_resolver(runtime, answer)
    net = runtime.backend(resolver=resolver)
    accepted = echo_server.accepted
    with pytest.raises(error, match=type(resolver).__name__):
        await net.connect(HOST, echo_server.port)
    assert echo_server.accepted == accepted


# -- backend options ----------------------------------------------------------------

BAD_OPTIONS = [
    ({"resolver": object()}, TypeError),
    ({"resolver": "8.8.8.8"}, TypeError),
    ({"local_address": 1}, TypeError),
    ({"local_address": "not an address"}, ValueError),
    ({"local_address": "localhost"}, ValueError),
    ({"socket_options": "SO_KEEPALIVE"}, TypeError),
    ({"socket_options": [(1, 2)]}, TypeError),
    ({"socket_options": [("1", 2, 3)]}, TypeError),
    ({"happy_eyeballs_delay": -1}, ValueError),
    ({"happy_eyeballs_delay": math.nan}, ValueError),
    ({"happy_eyeballs_delay": "0.25"}, TypeError),
    ({"happy_eyeballs_delay": True}, TypeError),
]


@pytest.mark.parametrize(("options", "error"), BAD_OPTIONS, ids=repr)
async def test_a_backend_refuses_bad_options(runtime, echo_server, options, error):
    accepted = echo_server.accepted
    with pytest.raises(error):
        runtime.backend(**options)
    assert echo_server.accepted == accepted


BAD_PATHS = [
    (42, TypeError),
    (None, TypeError),
    ("", ValueError),
    ("dir\x00/sock", ValueError),
    ("/tmp/" + "s" * 200, ValueError),
]


@pytest.mark.parametrize(("path", "error"), BAD_PATHS, ids=repr)
async def test_connect_unix_refuses_a_bad_path(runtime, net, path, error):
    with pytest.raises(error):
        await net.connect_unix(path)


# -- deadlines ----------------------------------------------------------------------

BAD_DEADLINES = [
    (-1, ValueError),
    (-0.001, ValueError),
    (-(10**400), ValueError),
    (-math.inf, ValueError),
    (math.nan, ValueError),
    ("1", TypeError),
    (None, TypeError),
    (True, TypeError),
    (1j, TypeError),
    (b"1", TypeError),
]


@pytest.mark.parametrize(("seconds", "error"), BAD_DEADLINES, ids=repr)
async def test_timeout_refuses_a_bad_deadline(runtime, net, echo_server, seconds, error):
    accepted = echo_server.accepted
    with pytest.raises(error):
        async with netbase.timeout(seconds):
            await net.connect("127.0.0.1", echo_server.port)
    assert echo_server.accepted == accepted


@pytest.mark.parametrize("seconds", [10**400, 1e308, math.inf, Fraction(10**400, 3)], ids=repr)
async def test_a_deadline_too_far_away_is_accepted_as_no_limit(runtime, net, echo_server, seconds):
    async with netbase.timeout(seconds) as t:
        assert t.deadline == math.inf
        async with await net.connect("127.0.0.1", echo_server.port) as stream:
            await stream.write(b"far")
            assert await read_exactly(stream, 3) == b"far"


@pytest.mark.parametrize(
    ("options", "error"),
    [({"ttl": -(10**400)}, ValueError), ({"ttl": math.nan}, ValueError), ({"ttl": "1"}, TypeError)],
    ids=repr,
)
def test_caching_resolvers_refuse_bad_options(runtime, options, error):
    cls = netbase.CachingResolver if runtime.flavour == "sync" else netbase.AsyncCachingResolver
    with pytest.raises(error):
        cls(answering_resolver(runtime, ["127.0.0.1"]), **options)


# -- streams: sizes, data, TLS arguments --------------------------------------------


async def _nothing_went_out(stream):
    """The stream is open and the peer got nothing: an echo returns exactly what follows."""
    assert "CLOSED" not in repr(stream)
    await stream.write(b"ping")
    assert await read_exactly(stream, 4) == b"ping"
    assert stream.get_extra_info("is_readable") is False


BAD_SIZES = [
    (0, ValueError),
    (-1, ValueError),
    (-(2**63), ValueError),
    (1.5, TypeError),
    (65536.0, TypeError),
    ("10", TypeError),
    (True, TypeError),
    (b"", TypeError),
]


@pytest.mark.parametrize(("max_bytes", "error"), BAD_SIZES, ids=repr)
async def test_read_refuses_a_bad_size(runtime, net, echo_server, max_bytes, error):
    async with await net.connect("127.0.0.1", echo_server.port) as stream:
        with pytest.raises(error):
            await stream.read(max_bytes)
        await _nothing_went_out(stream)


BAD_DATA = [
    ("text", TypeError),
    (None, TypeError),
    (42, TypeError),
    ([112, 105], TypeError),
    (iter([b"x"]), TypeError),
    (1.5, TypeError),
]


@pytest.mark.parametrize(("data", "error"), BAD_DATA, ids=repr)
async def test_write_refuses_bad_data(runtime, net, echo_server, data, error):
    async with await net.connect("127.0.0.1", echo_server.port) as stream:
        with pytest.raises(error):
            await stream.write(data)
        await _nothing_went_out(stream)


def _server_side_context():
    return ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)


BAD_TLS = [
    ("a context", None, TypeError),
    (object(), None, TypeError),
    (_server_side_context, None, ValueError),
    (None, b"localhost", TypeError),
    (None, 42, TypeError),
    (None, "", ValueError),
    (None, "local\x00host", ValueError),
    (None, "a" * 254, ValueError),
    (None, "bad..example", ValueError),
    (None, "1" * 64, ValueError),
    (None, "exa mple.com", ValueError),
]


@pytest.mark.parametrize(("ctx", "hostname", "error"), BAD_TLS, ids=repr)
async def test_start_tls_refuses_bad_arguments(runtime, net, echo_server, ctx, hostname, error):
    """A plain echo peer: had a ClientHello gone out, it would come back before "ping"."""
    if callable(ctx):
        ctx = ctx()
    async with await net.connect("127.0.0.1", echo_server.port) as stream:
        with pytest.raises(error):
            await stream.start_tls(ctx, hostname=hostname)
        assert "TLS" not in repr(stream)
        await _nothing_went_out(stream)


# -- streams around a socket ------------------------------------------------------


async def test_wrapping_refuses_what_is_not_a_connected_stream_socket(runtime, echo_server):
    accepted = echo_server.accepted
    with pytest.raises(TypeError):
        await runtime.wrap_socket("not a socket")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(ValueError):
        await runtime.wrap_socket(udp)
    with socket.socket() as unconnected, pytest.raises(ValueError):
        await runtime.wrap_socket(unconnected)
    assert echo_server.accepted == accepted
