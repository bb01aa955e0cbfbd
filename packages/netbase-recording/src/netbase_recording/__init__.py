"""netbase_recording: see every byte, record a conversation, replay it offline.

Wrap any backend to watch its traffic and keep it:

```python
import sys
import netbase_threaded
from netbase_recording import RecordingBackend, ReplayBackend

net = RecordingBackend(netbase_threaded.NetworkBackend(), echo=sys.stdout)
...                                  # use net as any backend
net.save("tests/cassettes/example.cassette")

replay = ReplayBackend("tests/cassettes/example.cassette")
...                                  # the same code, with no network
replay.check_played()
```

The async twins are [`AsyncRecordingBackend`][netbase_recording.AsyncRecordingBackend] and
[`AsyncReplayBackend`][netbase_recording.AsyncReplayBackend] (asyncio and trio). The pytest plugin
offers the `netbase_cassette` fixture.
"""

# Before anything imports `netbase`: make sure it is ours, not PyPI's namesake.
from netbase_recording._corecheck import check_core

check_core()

from netbase_recording._async import AsyncRecordingBackend, AsyncRecordingStream
from netbase_recording._cassette import VERSION, CassetteError, dumps, load, loads, save
from netbase_recording._events import (
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
from netbase_recording._player import ReplayError, ReplayMismatch
from netbase_recording._replay import (
    AsyncReplayBackend,
    AsyncReplayStream,
    Match,
    ReplayBackend,
    ReplayStream,
    same_target,
)
from netbase_recording._scrub import Scrub, scrub_headers
from netbase_recording._sync import RecordingBackend, RecordingStream
from netbase_recording._tls import RecordedSSLObject

__version__ = "0.1.0"

__all__ = [
    "VERSION",
    "AsyncRecordingBackend",
    "AsyncRecordingStream",
    "AsyncReplayBackend",
    "AsyncReplayStream",
    "CassetteError",
    "Close",
    "Connected",
    "Connection",
    "EndOfStream",
    "Event",
    "Failed",
    "Match",
    "Read",
    "Readable",
    "RecordedSSLObject",
    "Recording",
    "RecordingBackend",
    "RecordingStream",
    "ReplayBackend",
    "ReplayError",
    "ReplayMismatch",
    "ReplayStream",
    "Scrub",
    "StartTLS",
    "TLSInfo",
    "Write",
    "dumps",
    "load",
    "loads",
    "same_target",
    "save",
    "scrub_headers",
]
