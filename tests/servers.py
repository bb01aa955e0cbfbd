"""Loopback servers for the conformance suite: the public kit's, under their old names.

They live in `netbase.testing` (the `testing` extra), so that anyone's backend
is judged by the same peers as ours; this module keeps `import servers` (and
`from servers import echo`, `servers.Server`...) working for the suite.
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

import netbase.testing as _kit
from netbase.testing import *  # noqa: F403

__all__ = [
    *_kit.__all__,
    "contextlib",
    "os",
    "socket",
    "ssl",
    "struct",
    "threading",
    "time",
]
