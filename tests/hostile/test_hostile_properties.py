"""Property-based: random interleavings of reads, writes, deadlines and close.

A Hypothesis state machine drives one stream to an echo server, plain or TLS,
and keeps a model of the byte stream: everything written comes back, so what
has been read must always be a prefix of what was written. Reads of random
sizes, writes small and large, deadlines that expire, are cancelled, nest or
are generous, and close, in any order: nothing may be lost, duplicated or
reordered, and every failure must be the one the contract names.

Examples are few by default (seconds per runtime); set
NETBASE_HYPOTHESIS_EXAMPLES / NETBASE_HYPOTHESIS_STEPS for a longer hunt.
"""

from __future__ import annotations

import random

import figures
import pytest
from hostile_util import is_closed
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from portal import Portal

import netbase

# Unread echo in flight is bounded so the echo server never blocks on a full
# socket while we are not reading (which would make a blocking write hang).
MAX_OUTSTANDING = 256 * 1024
SHORT = 0.02  # a deadline that may or may not expire before the echo comes back

DEADLINES = ["none", "generous", "cancelled", "nested", "short", "expired"]


def payloads() -> st.SearchStrategy[bytes]:
    small = st.binary(min_size=1, max_size=2048)
    # Large writes span many TCP segments and TLS records; random content from
    # a seeded generator keeps examples reproducible and cheap to shrink.
    large = st.tuples(st.integers(2049, 200_000), st.integers(0, 2**32)).map(
        lambda t: random.Random(t[1]).randbytes(t[0])
    )
    return st.one_of(small, large)


class StreamMachine(RuleBasedStateMachine):
    """One stream against the model "what was written comes back, in order"."""

    # Set by make_machine() for each runtime and transport.
    portal: Portal
    net: object
    address: tuple[str, int]
    tls_context: object = None
    label = ""

    def __init__(self) -> None:
        super().__init__()
        self.sent = bytearray()
        self.received = bytearray()
        self.closed = False
        self.steps = 0
        self.stream = self.portal.call(self._open)

    async def _open(self):
        stream = await self.net.connect(*self.address)
        if self.tls_context is not None:
            try:
                async with netbase.timeout(5.0):
                    await stream.start_tls(self.tls_context, hostname="localhost")
            except BaseException:
                await stream.close()
                raise
        return stream

    @property
    def outstanding(self) -> int:
        return len(self.sent) - len(self.received)

    # -- deadlines -----------------------------------------------------------------

    async def _under(self, mode: str, op):
        if mode == "none":
            return await op()
        if mode == "nested":  # a cancelled inner deadline leaves the outer one
            async with netbase.timeout(10.0), netbase.timeout(0.001) as inner:
                inner.cancel()
                return await op()
        seconds = {"generous": 10.0, "cancelled": 0.001, "short": SHORT, "expired": 0.0}[mode]
        async with netbase.timeout(seconds) as t:
            if mode == "cancelled":
                t.cancel()
            return await op()

    # -- rules ---------------------------------------------------------------------

    @precondition(lambda self: not self.closed and self.outstanding < MAX_OUTSTANDING)
    @rule(data=payloads(), mode=st.sampled_from(["none", "generous", "cancelled", "expired"]))
    def write(self, data: bytes, mode: str) -> None:
        self.steps += 1
        stream = self.stream
        if mode == "expired":
            with pytest.raises(netbase.WriteTimeout):
                self.portal.call(lambda: self._under(mode, lambda: stream.write(data)))
            # After a WriteTimeout the stream is closed (part may have gone).
            assert is_closed(stream)
            self.closed = True
            return
        self.portal.call(lambda: self._under(mode, lambda: stream.write(data)))
        self.sent += data

    @precondition(lambda self: not self.closed)
    @rule(max_bytes=st.integers(1, 100_000), mode=st.sampled_from(DEADLINES))
    def read(self, max_bytes: int, mode: str) -> None:
        self.steps += 1
        stream = self.stream
        if self.outstanding == 0 and mode not in ("short", "expired"):
            mode = "short"  # nothing can come: only a deadline ends the read
        try:
            data = self.portal.call(lambda: self._under(mode, lambda: stream.read(max_bytes)))
        except netbase.ReadTimeout:
            assert mode in ("short", "expired"), f"ReadTimeout under a {mode} deadline"
            assert not is_closed(stream), "a ReadTimeout must leave the stream open"
            return
        assert mode != "expired", "an expired deadline must fail before reading"
        assert 1 <= len(data) <= max_bytes, (len(data), max_bytes)
        expected = self.sent[len(self.received) : len(self.received) + len(data)]
        assert data == expected, "bytes lost, duplicated or reordered"
        self.received += data

    @precondition(lambda self: not self.closed)
    @rule()
    def check_readable(self) -> None:
        """is_readable never lies: when it says so, a read returns at once, the right bytes."""
        self.steps += 1
        stream = self.stream

        async def readable() -> bool:
            return bool(stream.get_extra_info("is_readable"))

        if not self.portal.call(readable):
            return  # the echo may still be in flight: nothing to conclude
        assert self.outstanding > 0, "is_readable, yet nothing can have arrived"
        data = self.portal.call(lambda: self._under("generous", stream.read))
        expected = self.sent[len(self.received) : len(self.received) + len(data)]
        assert data, "is_readable, yet the read found nothing"
        assert data == expected, "bytes lost, duplicated or reordered"
        self.received += data

    @rule()
    def close(self) -> None:
        self.steps += 1
        self.portal.call(self.stream.close)
        self.closed = True
        assert is_closed(self.stream)

    @precondition(lambda self: self.closed)
    @rule(what=st.sampled_from(["read", "write", "close"]))
    def use_after_close(self, what: str) -> None:
        self.steps += 1
        stream = self.stream
        if what == "close":
            self.portal.call(stream.close)  # idempotent
        elif what == "read":
            with pytest.raises(netbase.ReadError, match="closed"):
                self.portal.call(stream.read)
        else:
            with pytest.raises(netbase.WriteError, match="closed"):
                self.portal.call(lambda: stream.write(b"late"))

    @invariant()
    def received_is_a_prefix_of_sent(self) -> None:
        assert self.sent[: len(self.received)] == self.received

    def teardown(self) -> None:
        stream = self.stream
        try:
            if not self.closed:
                # Nothing lost: everything still owed comes back.
                async def drain():
                    async with netbase.timeout(10.0):
                        while self.outstanding:
                            chunk = await stream.read()
                            assert chunk, "end of stream while echo was still owed"
                            self.received += chunk

                self.portal.call(drain)
                assert self.received == self.sent
        finally:
            self.portal.call(stream.close)
        figures.count("property tests (examples / steps)", self.label, "examples")
        figures.count("property tests (examples / steps)", self.label, "steps", self.steps)


def run_machine(runtime, address, tls_context) -> None:
    kind = "tls" if tls_context is not None else "plain"
    with Portal(runtime) as portal:
        machine = type(
            f"StreamMachine_{runtime.name}_{kind}",
            (StreamMachine,),
            {
                "portal": portal,
                "net": runtime.backend(),
                "address": address,
                "tls_context": tls_context,
                "label": f"{runtime.name}/{kind}",
            },
        )
        run_state_machine_as_test(machine, settings=settings.get_profile("netbase"))


def test_plain_stream_model(runtime, echo_server):
    run_machine(runtime, (echo_server.host, echo_server.port), None)


def test_tls_stream_model(runtime, tls_echo_server, client_context):
    run_machine(runtime, (tls_echo_server.host, tls_echo_server.port), client_context)
