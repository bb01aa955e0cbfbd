"""netbase-recording: the pytest plugin records on the first run, replays afterwards."""

from __future__ import annotations

import pytest

from netbase_recording import load

pytest_plugins = ["pytester"]

SYNC = """
def test_talk(netbase_cassette):
    net = netbase_cassette.backend()
    with net.connect({host!r}, {port}) as stream:
        stream.write({payload!r})
        assert stream.read() == {payload!r}
"""

ASYNC = """
import {runner}

def test_talk(netbase_cassette):
    async def main():
        net = netbase_cassette.async_backend()
        async with await net.connect({host!r}, {port}) as stream:
            await stream.write({payload!r})
            assert await stream.read() == {payload!r}
    {runner}.run(main())
"""


def make_test(runtime, pytester, echo_server, payload: bytes) -> None:
    if runtime.flavour == "sync":
        source = SYNC
    else:
        source = ASYNC.replace(
            "{runner}.run(main())",
            "trio.run(main)" if runtime.name.endswith("trio") else "asyncio.run(main())",
        )
        source = source.replace(
            "import {runner}", "import trio" if runtime.name.endswith("trio") else "import asyncio"
        )
    pytester.makepyfile(
        test_talk=source.format(host=echo_server.host, port=echo_server.port, payload=payload)
    )


@pytest.mark.runtimes(
    "threaded", "asyncio", "trio", "recording-threaded", "recording-asyncio", "recording-trio"
)
def test_records_once_then_replays(runtime, pytester, echo_server):
    make_test(runtime, pytester, echo_server, b"hello")
    cassette = pytester.path / "cassettes" / "test_talk" / "test_talk.cassette"

    accepted = echo_server.accepted
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    assert echo_server.accepted == accepted + 1  # recorded through the network
    assert cassette.exists()
    assert "    | hello" in cassette.read_text()

    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    assert echo_server.accepted == accepted + 1  # replayed: no connection

    # The code changes: the replay fails and says how.
    make_test(runtime, pytester, echo_server, b"howdy")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ReplayMismatch*differ from the recording at byte 1*"])
    assert echo_server.accepted == accepted + 1

    # --netbase-record=all records it again.
    pytester.runpytest_subprocess("--netbase-record=all").assert_outcomes(passed=1)
    assert echo_server.accepted == accepted + 2
    assert "    | howdy" in cassette.read_text()


@pytest.mark.runtimes("threaded", "recording-threaded")
def test_unplayed_recording_fails_the_test(runtime, pytester, echo_server):
    make_test(runtime, pytester, echo_server, b"hello")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    pytester.makepyfile(
        test_talk="def test_talk(netbase_cassette):\n    netbase_cassette.backend()\n"
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*ReplayError*was not played to the end:", "*connection 1 to 127.0.0.1:* was never opened"]
    )


@pytest.mark.runtimes("threaded", "recording-threaded")
def test_record_none_and_failing_tests_save_nothing(runtime, pytester, echo_server):
    make_test(runtime, pytester, echo_server, b"hello")
    result = pytester.runpytest_subprocess("--netbase-record=none")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no cassette*test_talk.cassette and --netbase-record=none*"])

    pytester.makepyfile(
        test_talk=SYNC.format(host=echo_server.host, port=echo_server.port, payload=b"x")
        + "    assert False, 'the test fails'\n"
    )
    pytester.runpytest_subprocess().assert_outcomes(failed=1)
    assert not (pytester.path / "cassettes").exists()


PARAMETRIZED = """
import pytest

@pytest.mark.parametrize("path", ["/users a", "/users/a", "/users?a"])
def test_get(netbase_cassette, path):
    net = netbase_cassette.backend()
    with net.connect({host!r}, {port}) as stream:
        stream.write(path.encode())
        assert stream.read() == path.encode()
"""

ASYNC_PARAMETRIZED = """
import pytest
import {runner}

@pytest.mark.parametrize("path", ["/users a", "/users/a", "/users?a"])
def test_get(netbase_cassette, path):
    async def main():
        net = netbase_cassette.async_backend()
        async with await net.connect({host!r}, {port}) as stream:
            await stream.write(path.encode())
            assert await stream.read() == path.encode()
    {run}
"""


@pytest.mark.runtimes(
    "threaded", "asyncio", "trio", "recording-threaded", "recording-asyncio", "recording-trio"
)
def test_parametrized_tests_get_their_own_cassettes(runtime, pytester, echo_server):
    if runtime.flavour == "sync":
        source = PARAMETRIZED.format(host=echo_server.host, port=echo_server.port)
    else:
        trio = runtime.name.endswith("trio")
        source = ASYNC_PARAMETRIZED.format(
            host=echo_server.host,
            port=echo_server.port,
            runner="trio" if trio else "asyncio",
            run="trio.run(main)" if trio else "asyncio.run(main())",
        )
    pytester.makepyfile(test_users=source)
    accepted = echo_server.accepted
    pytester.runpytest_subprocess().assert_outcomes(passed=3)
    assert echo_server.accepted == accepted + 3  # each recorded its own
    cassettes = sorted((pytester.path / "cassettes" / "test_users").iterdir())
    assert len(cassettes) == 3
    held = sorted(load(c).connections[0].written for c in cassettes)
    assert held == [b"/users a", b"/users/a", b"/users?a"]
    names = [c.name for c in cassettes]
    assert all(n.startswith("test_get_users_a-") and n.endswith(".cassette") for n in names)

    pytester.runpytest_subprocess().assert_outcomes(passed=3)  # replayed, names stable
    assert echo_server.accepted == accepted + 3
    assert [c.name for c in sorted((pytester.path / "cassettes" / "test_users").iterdir())] == names


@pytest.mark.runtimes("threaded", "recording-threaded")
def test_tests_that_would_share_a_cassette_are_an_error(runtime, pytester, echo_server):
    body = SYNC.format(host=echo_server.host, port=echo_server.port, payload=b"x")
    # Two names that one case-insensitive file system (macOS, Windows) makes one file.
    pytester.makepyfile(
        test_case=body.replace("test_talk", "test_Talk")
        + body.replace("def test_talk", "\n\ndef test_talk")
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*test_talk and *test_Talk would share the cassette*"])


@pytest.mark.runtimes("threaded", "recording-threaded")
def test_record_mode_new_episodes_adds_new_connections(runtime, pytester, echo_server):
    make_test(runtime, pytester, echo_server, b"hello")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    cassette = pytester.path / "cassettes" / "test_talk" / "test_talk.cassette"
    accepted = echo_server.accepted

    # The test grows a second connection: new_episodes replays the first, records the second.
    pytester.makepyfile(
        test_talk=SYNC.format(host=echo_server.host, port=echo_server.port, payload=b"hello")
        + f"    with net.connect({echo_server.host!r}, {echo_server.port}) as again:\n"
        + "        again.write(b'more')\n        assert again.read() == b'more'\n"
    )
    pytester.runpytest_subprocess().assert_outcomes(failed=1)  # once: the cassette lacks it
    pytester.runpytest_subprocess("--netbase-record=new_episodes").assert_outcomes(passed=1)
    assert echo_server.accepted == accepted + 1  # only the new connection went out
    assert [c.written for c in load(cassette).connections] == [b"hello", b"more"]
    pytester.runpytest_subprocess("--netbase-record=none").assert_outcomes(passed=1)
    assert echo_server.accepted == accepted + 1
