"""Check the built distributions: one wheel and one sdist each, naming only their own dependencies.

Installing one runtime package must not pull in another runtime, so each
wheel's `Requires-Dist` is compared with what that distribution may need. The
core is versioned in epoch 1, and every requirement on it must name that epoch
in both bounds, so that PyPI's unrelated `netbase` (epoch 0) can never satisfy it.
"""

from __future__ import annotations

import email
import re
import sys
import zipfile
from pathlib import Path

EXPECTED = {
    "netbase": {"truststore", "exceptiongroup"},  # exceptiongroup: Python 3.10 only
    "netbase_threaded": {"netbase"},
    "netbase_asyncio": {"netbase"},
    "netbase_trio": {"netbase", "trio"},
    "netbase_recording": {"netbase"},
}


def requirement_name(requirement: str) -> str:
    return re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0].lower().replace("-", "_")


def main(dist_dir: str) -> int:
    out = Path(dist_dir)
    problems = []
    for name, expected in EXPECTED.items():
        wheels = list(out.glob(f"{name}-*.whl"))
        sdists = list(out.glob(f"{name}-*.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            problems.append(f"{name}: expected one wheel and one sdist, found {wheels + sdists}")
            continue
        with zipfile.ZipFile(wheels[0]) as wheel:
            meta_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = email.message_from_bytes(wheel.read(meta_name))
            if not any(n.endswith("py.typed") for n in wheel.namelist()):
                problems.append(f"{name}: the wheel has no py.typed")
        for requirement in metadata.get_all("Requires-Dist") or []:
            if requirement_name(requirement) == "netbase":
                bounds = re.findall(r"(>=|<|==|~=|>|<=)\s*([^,;\s]+)", requirement)
                if not bounds or any(not version.startswith("1!") for _, version in bounds):
                    problems.append(
                        f"{name}: {requirement!r} does not pin the core's epoch "
                        "(netbase>=1!X,<1!Y): PyPI's unrelated netbase could satisfy it"
                    )
        requires = {
            requirement_name(r)
            for r in metadata.get_all("Requires-Dist") or []
            if "extra ==" not in r
        }
        expected_names = {e.replace("-", "_") for e in expected}
        if requires != expected_names:
            problems.append(
                f"{name}: requires {sorted(requires)}, expected {sorted(expected_names)}"
            )
        else:
            print(f"{name}: {wheels[0].name}, {sdists[0].name}; requires {sorted(requires)}")
    for problem in problems:
        print("FAIL", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
