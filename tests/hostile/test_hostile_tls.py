"""TLS security: what the default context demands, bad certificates, SNI, bad hostnames."""

from __future__ import annotations

import datetime
import ssl
import warnings

import figures
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faultpeer import FaultPeer, Scenario
from hostile_util import assert_chained, is_closed

import netbase
import servers
from helpers import read_exactly

NOW = datetime.datetime.now(datetime.timezone.utc)


def tried(runtime, what: str) -> None:
    figures.count("TLS security (cases tried)", runtime.name, what)


@pytest.fixture
def tls_server():
    """Start TLS echo servers with a given server context; closed when the test ends."""
    started: list[servers.Server] = []

    def start(ctx: ssl.SSLContext, family: int = servers.socket.AF_INET) -> servers.Server:
        server = servers.Server(servers.echo, tls=ctx, family=family, name="tls-security")
        started.append(server)
        return server

    yield start
    for server in started:
        assert server.wait_idle(5.0), "a client left a connection open"
        server.close()
        assert not server.errors, server.errors


def server_context_with(configure) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    configure(ctx)
    return ctx


def self_signed(ctx: ssl.SSLContext, tmp_path) -> None:
    """A certificate for localhost that signs itself: no CA vouches for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file = tmp_path / "self-signed.pem"
    key_file = tmp_path / "self-signed.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx.load_cert_chain(cert_file, key_file)


def find_cause(exc: BaseException, cls: type[BaseException]) -> BaseException | None:
    seen = 0
    cause: BaseException | None = exc.__cause__
    while cause is not None and seen < 10:
        if isinstance(cause, cls):
            return cause
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


# -- the default context -----------------------------------------------------------


def test_default_context_demands_certificates_hostnames_and_tls12():
    ctx = netbase.default_ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.protocol == ssl.PROTOCOL_TLS_CLIENT
    # Each call is a fresh context: changing one does not weaken the next.
    ctx.check_hostname = False
    assert netbase.default_ssl_context().check_hostname is True


def tls11_only_context(ca: trustme.CA) -> ssl.SSLContext | None:
    """A server context that speaks TLS 1.1 only, if this OpenSSL can still make one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1_1 itself
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ssl.SSLError, ValueError):
            return None
        ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
        # Prove it: a client that allows TLS 1.1 must get TLS 1.1 from it.
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.set_ciphers("DEFAULT:@SECLEVEL=0")
        client.minimum_version = ssl.TLSVersion.TLSv1_1
        ca.configure_trust(client)
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    cobj = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    sobj = ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for obj, out, peer_in in ((cobj, c_out, s_in), (sobj, s_out, c_in)):
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                return None
            peer_in.write(out.read())
        try:
            if cobj.version() == "TLSv1.1" and sobj.version() == "TLSv1.1":
                return ctx
        except ssl.SSLError:
            return None
    return None


async def test_default_context_refuses_a_tls11_only_server(runtime, net, ca, tls_server):
    server_ctx = tls11_only_context(ca)
    client_ctx = netbase.default_ssl_context()
    ca.configure_trust(client_ctx)
    if server_ctx is None:
        # This OpenSSL cannot speak TLS 1.1 at all, so no server can offer it;
        # what is left to check is the floor the context sets.
        assert client_ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
        tried(runtime, "tls1.1-server (context floor only)")
        return
    server = tls_server(server_ctx)
    stream = await net.connect(server.host, server.port)
    with pytest.raises(netbase.ConnectError) as info:
        async with netbase.timeout(3.0):
            await stream.start_tls(client_ctx, hostname="localhost")
    assert not isinstance(info.value, netbase.ConnectTimeout)
    assert find_cause(info.value, ssl.SSLError) is not None
    assert is_closed(stream)
    tried(runtime, "tls1.1-server")


# -- certificates that must be refused -------------------------------------------------


BAD_CERTS = {
    "expired": (
        lambda ca, tmp: (
            ca.issue_cert(
                "localhost",
                not_before=NOW - datetime.timedelta(days=10),
                not_after=NOW - datetime.timedelta(days=1),
            ).configure_cert
        ),
        "localhost",
        "expired",
    ),
    "not-yet-valid": (
        lambda ca, tmp: (
            ca.issue_cert(
                "localhost",
                not_before=NOW + datetime.timedelta(days=1),
                not_after=NOW + datetime.timedelta(days=10),
            ).configure_cert
        ),
        "localhost",
        "not yet valid",
    ),
    "self-signed": (
        lambda ca, tmp: lambda ctx: self_signed(ctx, tmp),
        "localhost",
        "self-signed",
    ),
    "other-host": (
        lambda ca, tmp: ca.issue_cert("other.test").configure_cert,
        "localhost",
        "Hostname mismatch",
    ),
    "ip-cert-for-a-name": (
        lambda ca, tmp: ca.issue_cert("127.0.0.1").configure_cert,
        "localhost",
        "Hostname mismatch",
    ),
    "name-cert-for-an-ip": (
        lambda ca, tmp: ca.issue_cert("localhost").configure_cert,
        "127.0.0.1",
        "IP address mismatch",
    ),
    "untrusted-ca": (
        lambda ca, tmp: trustme.CA().issue_cert("localhost").configure_cert,
        "localhost",
        "unable to get local issuer certificate",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CERTS))
async def test_bad_certificate_is_connect_error(
    runtime, net, ca, client_context, tls_server, tmp_path, case
):
    make, hostname, message = BAD_CERTS[case]
    server = tls_server(server_context_with(make(ca, tmp_path)))
    stream = await net.connect(server.host, server.port)
    with pytest.raises(netbase.ConnectError) as info:
        async with netbase.timeout(3.0):
            await stream.start_tls(client_context, hostname=hostname)
    assert not isinstance(info.value, netbase.ConnectTimeout)
    assert_chained(info.value)
    verification = find_cause(info.value, ssl.SSLCertVerificationError)
    assert verification is not None, f"no certificate verification error under {info.value!r}"
    assert message.replace("-", " ") in str(verification).replace("-", " ")
    assert is_closed(stream)
    tried(runtime, f"cert:{case}")


async def test_good_certificate_is_accepted(runtime, net, ca, client_context, tls_server):
    """The control: the same path with a valid certificate works."""
    server = tls_server(server_context_with(ca.issue_cert("localhost").configure_cert))
    async with await net.connect(server.host, server.port) as stream, netbase.timeout(3.0):
        await stream.start_tls(client_context, hostname="localhost")
        await stream.write(b"trusted")
        assert await read_exactly(stream, 7) == b"trusted"
    tried(runtime, "cert:good")


@pytest.mark.parametrize("case", ["good", "expired"])
async def test_default_context_with_ssl_cert_file(
    runtime, net, ca, tls_server, tmp_path, monkeypatch, case
):
    """default_ssl_context() as users get it: trust from SSL_CERT_FILE, no extra setup."""
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    if case == "good":
        configure = ca.issue_cert("localhost").configure_cert
    else:
        configure = BAD_CERTS["expired"][0](ca, tmp_path)
    server = tls_server(server_context_with(configure))
    ctx = netbase.default_ssl_context()
    stream = await net.connect(server.host, server.port)
    if case == "good":
        async with netbase.timeout(3.0):
            await stream.start_tls(ctx, hostname="localhost")
        await stream.close()
    else:
        with pytest.raises(netbase.ConnectError) as info:
            async with netbase.timeout(3.0):
                await stream.start_tls(ctx, hostname="localhost")
        assert find_cause(info.value, ssl.SSLCertVerificationError) is not None
        assert is_closed(stream)
    tried(runtime, f"ssl_cert_file:{case}")


# -- SNI -------------------------------------------------------------------------------


@pytest.fixture
def sni_server(ca, tls_server):
    """A TLS echo server that records the SNI name of every handshake (None: none sent)."""
    seen: list[str | None] = []

    def record(sslobj, name, ctx):
        seen.append(name)

    def start(family=servers.socket.AF_INET):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(ctx)
        ctx.sni_callback = record
        return tls_server(ctx, family=family), seen

    return start


@pytest.mark.parametrize(
    ("connect_host", "hostname", "expected_sni"),
    [
        ("127.0.0.1", "localhost", "localhost"),
        ("localhost", None, "localhost"),  # the connect host is the default hostname
        ("127.0.0.1", "127.0.0.1", None),  # no SNI for an IP literal (RFC 6066)
        ("::1", "::1", None),
    ],
)
async def test_sni_is_sent_for_names_and_not_for_ip_literals(
    runtime, net, sni_server, client_context, connect_host, hostname, expected_sni
):
    family = servers.socket.AF_INET6 if ":" in connect_host else servers.socket.AF_INET
    server, seen = sni_server(family)
    async with await net.connect(connect_host, server.port) as stream, netbase.timeout(3.0):
        await stream.start_tls(client_context, hostname=hostname)
        await stream.write(b"sni")
        assert await read_exactly(stream, 3) == b"sni"
    assert seen == [expected_sni]
    tried(runtime, f"sni:{connect_host}/{hostname}")


# -- hostnames that are not hostnames ----------------------------------------------------


BAD_NAMES = {
    "nul": "local\x00host",
    "nul-suffix": "example.com\x00.evil.test",
    "empty-label": "a..b",
    "idna-prohibited": "\ufffd.test",
    "idna-bidi": "\u05d0a.test",
    "lone-surrogate": "a\udcff.test",
    "label-64": "a" * 64 + ".test",
    "name-254": ".".join(["a" * 63] * 4)[:254],
}


class RecordingResolver:
    """A resolver that records being asked: it must never be, for a bad name."""

    def __init__(self, flavour: str) -> None:
        self.calls: list[str] = []
        self.flavour = flavour

    def resolve(self, host, port):
        self.calls.append(host)
        if self.flavour == "sync":
            return ["127.0.0.1"]

        async def answer():
            return ["127.0.0.1"]

        return answer()


@pytest.mark.parametrize("case", list(BAD_NAMES))
async def test_bad_hostname_for_connect_is_value_error_before_any_io(runtime, fault_peer, case):
    peer: FaultPeer = fault_peer(Scenario("count-accepts"))
    resolver = RecordingResolver(runtime.flavour)
    net = runtime.backend(resolver=resolver)
    with pytest.raises(ValueError, match="host"):
        await net.connect(BAD_NAMES[case], peer.port)
    assert resolver.calls == []  # not even resolved
    assert peer.accepted == 0
    tried(runtime, f"bad-name:connect:{case}")


@pytest.mark.parametrize("case", list(BAD_NAMES))
async def test_bad_hostname_for_start_tls_is_value_error_before_any_io(
    runtime, net, fault_peer, client_context, case
):
    """Nothing leaves: the peer receives no ClientHello and the stream is untouched."""
    peer: FaultPeer = fault_peer(Scenario("count-bytes"))
    async with await net.connect(peer.host, peer.port) as stream:
        with pytest.raises(ValueError, match="hostname"):
            await stream.start_tls(client_context, hostname=BAD_NAMES[case])
        assert not is_closed(stream)
        # Still a plain stream: the echo comes back unencrypted, and it is all
        # the peer ever received.
        async with netbase.timeout(3.0):
            await stream.write(b"plain")
            assert await read_exactly(stream, 5) == b"plain"
        assert peer.received == 5
        assert stream.get_extra_info("ssl_object") is None
    assert peer.accepted == 1
    tried(runtime, f"bad-name:start_tls:{case}")
