"""netbase-recording: the pytest plugin records on the first run, replays afterwards."""

from __future__ import annotations

import pytest

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
