"""The default TLS context on Linux: the system's trust, loaded once, followed when it changes.

Handshakes here run in memory (two ``SSLObject``s joined by ``MemoryBIO``s), so
what is tested is the context itself, with no socket and no runtime. The
"system's trust" is a bundle that ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` point at,
made of trustme CAs, exactly as OpenSSL and truststore read it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

import netbase
import netbase._ssl

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the OpenSSL trust store of Linux"
)


def handshake(client_ctx: ssl.SSLContext, server_ctx: ssl.SSLContext, hostname: str) -> None:
    """One full TLS handshake in memory; raises what the client's verification raises."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client_done = server_done = False
    for _ in range(20):
        if not client_done:
            try:
                client.do_handshake()
                client_done = True
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        if not server_done:
            try:
                server.do_handshake()
                server_done = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                pass  # the client gave up (its alert says why, on the client's side)
        c_in.write(s_out.read())
        if client_done and server_done:
            return
    raise AssertionError("the handshake did not finish")


def server_for(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(ctx)
    return ctx


def write_bundle(path: Path, *cas: trustme.CA) -> None:
    """Replace ``path`` the way package managers do: a new file renamed over the old one."""
    tmp = path.with_suffix(".new")
    tmp.write_bytes(b"".join(ca.cert_pem.bytes() for ca in cas))
    os.replace(tmp, path)


@pytest.fixture
def system_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[trustme.CA, Path]:
    """A CA that is the whole of the system's trust: ``SSL_CERT_FILE`` names its bundle."""
    ca = trustme.CA()
    bundle = tmp_path / "bundle.pem"
    write_bundle(bundle, ca)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))
    return ca, bundle


def test_trust_is_the_bundle(system_ca: tuple[trustme.CA, Path]) -> None:
    ca, _ = system_ca
    ctx = netbase.default_ssl_context()
    handshake(ctx, server_for(ca, "localhost"), "localhost")
    # Another CA's certificate, and a name the certificate does not carry, fail.
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(ctx, server_for(trustme.CA(), "localhost"), "localhost")
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake(ctx, server_for(ca, "localhost"), "example.test")
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


def test_ssl_cert_dir_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hashed CA directory alone (no bundle file) is the system's trust."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command names the CA directory's files (openssl rehash)")
    ca = trustme.CA()
    certs = tmp_path / "certs"
    certs.mkdir()
    ca.cert_pem.write_to_path(str(certs / "test-ca.pem"))
    subprocess.run(["openssl", "rehash", str(certs)], check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-file.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(certs))
    ctx = netbase.default_ssl_context()
    handshake(ctx, server_for(ca, "localhost"), "localhost")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(ctx, server_for(trustme.CA(), "localhost"), "localhost")


def _bytes_read() -> int:
    """Bytes this process has read through ``read()`` system calls, files included."""
    with open("/proc/self/io") as io:
        fields = dict(line.split(": ") for line in io.read().splitlines())
    return int(fields["rchar"])


def test_handshakes_do_not_load_the_trust_again(
    system_ca: tuple[trustme.CA, Path], tmp_path: Path
) -> None:
    """The bundle is read when the context is made, not on every connection.

    Reading it per connection is what made a handshake cost tens of
    milliseconds, and on OpenSSL 3.0 to 3.3 it also made the context's store
    grow with every connection, so handshakes slowed down with uptime.
    """
    ca, bundle = system_ca
    # A bundle the size of a real system's: 150 CAs.
    write_bundle(bundle, ca, *(trustme.CA() for _ in range(149)))
    size = bundle.stat().st_size
    ctx = netbase.default_ssl_context()
    server = server_for(ca, "localhost")
    handshake(ctx, server, "localhost")
    before = _bytes_read()
    for _ in range(50):
        handshake(ctx, server, "localhost")
    read = _bytes_read() - before
    assert read < size, f"50 handshakes read {read} bytes: the {size}-byte bundle again"
    stats = ctx.cert_store_stats()
    assert stats["x509_ca"] == 150
    for _ in range(50):
        handshake(ctx, server, "localhost")
    assert ctx.cert_store_stats() == stats


def _poll(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _verifies(ctx: ssl.SSLContext, ca: trustme.CA) -> bool:
    try:
        handshake(ctx, server_for(ca, "localhost"), "localhost")
    except ssl.SSLCertVerificationError:
        return False
    return True


@pytest.fixture
def fast_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Look at the trust files every 50 ms instead of every few seconds."""
    monkeypatch.setattr(netbase._ssl, "CHECK_INTERVAL", 0.05)


def test_checks_are_rationed(
    system_ca: tuple[trustme.CA, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the check interval, a handshake does not even look at the files."""
    assert netbase._ssl.CHECK_INTERVAL == 5.0  # what the docs promise
    monkeypatch.setattr(netbase._ssl, "CHECK_INTERVAL", 60.0)  # a loaded machine is slow
    ca, bundle = system_ca
    ctx = netbase.default_ssl_context()
    new_ca = trustme.CA()
    write_bundle(bundle, ca, new_ca)
    assert not _verifies(ctx, new_ca)


def test_a_new_ca_reaches_a_held_context(
    fast_checks: None, system_ca: tuple[trustme.CA, Path]
) -> None:
    ca, bundle = system_ca
    ctx = netbase.default_ssl_context()
    new_ca = trustme.CA()
    assert not _verifies(ctx, new_ca)
    write_bundle(bundle, ca, new_ca)
    assert _poll(lambda: _verifies(ctx, new_ca)), "the new CA never became trusted"
    assert _verifies(ctx, ca)


def test_a_new_ssl_cert_file_is_used_at_once(
    system_ca: tuple[trustme.CA, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program that points ``SSL_CERT_FILE`` elsewhere is heard on the next handshake."""
    monkeypatch.setattr(netbase._ssl, "_shared", None)  # restored afterwards
    ca, _ = system_ca
    held = netbase.default_ssl_context()
    shared = netbase._ssl.shared_default_context()
    assert netbase._ssl.shared_default_context_ready()
    other_ca = trustme.CA()
    other = tmp_path / "other.pem"
    write_bundle(other, other_ca)
    assert not _verifies(held, other_ca)
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    assert not netbase._ssl.shared_default_context_ready()
    assert _verifies(held, other_ca)
    new_shared = netbase._ssl.shared_default_context()
    assert new_shared is not shared
    assert _verifies(new_shared, other_ca)
    assert not _verifies(new_shared, ca)


def test_the_shared_context_drops_a_removed_ca(
    fast_checks: None, system_ca: tuple[trustme.CA, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``start_tls(ctx=None)`` follows removals too: its context is replaced."""
    monkeypatch.setattr(netbase._ssl, "_shared", None)  # restored afterwards
    old_ca, bundle = system_ca
    shared = netbase._ssl.shared_default_context()
    assert shared is netbase._ssl.shared_default_context()
    assert _verifies(shared, old_ca)
    new_ca = trustme.CA()
    write_bundle(bundle, new_ca)

    def switched() -> bool:
        current = netbase._ssl.shared_default_context()
        return _verifies(current, new_ca) and not _verifies(current, old_ca)

    assert _poll(switched), "start_tls(ctx=None) kept the old trust"
    # The context already handed out keeps what it loaded: OpenSSL only adds.
    assert _verifies(shared, old_ca)


# -- on an event loop --------------------------------------------------------------------


@pytest.mark.runtimes("asyncio", "uvloop", "trio")
async def test_first_default_context_is_loaded_off_the_loop(
    runtime, net, ca, tls_echo_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process's first ``start_tls(ctx=None)`` loads the trust in another thread.

    Loading a large bundle costs far more CPU than a handshake; the loop's
    thread must spend only the handshake's share of it. The load is made
    to cost 200 ms of CPU here (the real one, then a busy wait), so that
    the answer does not depend on the size of this machine's bundle.
    """
    real = netbase._ssl._configure
    assert real is not None
    loaded_in: list[int] = []

    @contextlib.contextmanager
    def slow_configure(ctx: ssl.SSLContext) -> Iterator[None]:
        loaded_in.append(threading.get_ident())
        with real(ctx):
            end = time.thread_time() + 0.2
            while time.thread_time() < end:
                pass
            yield

    bundle = tmp_path / "bundle.pem"  # the test servers' CA is the system's trust
    bundle.write_bytes(ca.cert_pem.bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setattr(netbase._ssl, "_configure", slow_configure)
    monkeypatch.setattr(netbase._ssl, "_shared", None)  # restored afterwards

    stream = await net.connect(tls_echo_server.host, tls_echo_server.port)
    try:
        start = time.thread_time()
        async with netbase.timeout(10.0):
            await stream.start_tls(hostname="localhost")
        loop_cpu = time.thread_time() - start
        await stream.write(b"ok")
        assert await stream.read() == b"ok"
    finally:
        await stream.close()
    assert loaded_in, "the trust was never loaded"
    assert threading.get_ident() not in loaded_in, "loaded on the loop's thread"
    assert loop_cpu < 0.1, (
        f"the loop's thread spent {loop_cpu * 1000:.1f} ms on the first start_tls; "
        "loading the trust costs 200 ms"
    )
