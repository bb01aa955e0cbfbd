"""The former name of `netbase_asyncio._deadline`, which `_transports.py` still imports.

Remove once `_transports.py` imports `_deadline` (its TLS engine is being
rewritten separately).
"""

from netbase_asyncio._deadline import Deadline, Expired, run_until

__all__ = ["Deadline", "Expired", "run_until"]
