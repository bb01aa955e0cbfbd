"""Loopback servers for the conformance suite: the public kit's, under their old names.

They live in `netbase.testing` (the `testing` extra), so that anyone's backend
is judged by the same peers as ours; this module keeps `import servers` working
for the suite.
"""

from __future__ import annotations

# Modules the old file imported, which tests still reach through it (servers.socket.AF_INET).
import contextlib
import os
import socket
import ssl
import struct
import threading
import time

from netbase.testing import (
    Certificates,
    Handler,
    Server,
    abort,
    abort_after_handshake,
    close_mid_handshake,
    echo,
    full_backlog,
    garbage_hello,
    record_close,
    relay_to,
    reset_after,
    send_then_close,
    silent,
    silent_for,
    slow_reader,
    stall_until,
    unused_port,
)

__all__ = [
    "contextlib",
    "os",
    "socket",
    "ssl",
    "struct",
    "threading",
    "time",
    "Certificates",
    "Handler",
    "Server",
    "abort",
    "abort_after_handshake",
    "close_mid_handshake",
    "echo",
    "full_backlog",
    "garbage_hello",
    "record_close",
    "relay_to",
    "reset_after",
    "send_then_close",
    "silent",
    "silent_for",
    "slow_reader",
    "stall_until",
    "unused_port",
]
