"""A private network for the documentation examples.

The examples connect to ``www.example.com``, ``www.encode.io`` and
``dev.encode.io`` on ports 80 and 443, as a reader would. The harness runs them
inside a fresh network namespace (and mount namespace) of its own:

- the namespace has only a loopback interface, so no packet and no DNS query
  can leave the machine;
- the sites' public addresses are added to that loopback interface, and a
  hosts file naming them is bind-mounted over ``/etc/hosts``, so the system
  resolver answers as it would on the internet and the reprs in the pages show
  the real addresses;
- local servers listen on those addresses, ports 80 and 443, with certificates
  from a throwaway CA that ``SSL_CERT_FILE`` makes the system trust store (and
  so ``truststore``) accept.

Nothing of this shows in the pages. It needs root, or unprivileged user
namespaces, and must run before the process starts threads (namespaces belong
to threads on Linux; threads started later inherit them).
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import shutil
import subprocess
import tempfile

# name -> IPv4 address the examples show (the sites' public addresses).
SITES: dict[str, str] = {
    "www.example.com": "93.184.215.14",
    "www.encode.io": "185.199.108.153",
    "dev.encode.io": "185.199.109.153",
}

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000

_MARKER = "NETBASE_DOCS_SANDBOX"


class SandboxError(RuntimeError):
    """The private network could not be set up."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise SandboxError(f"{what} failed: {os.strerror(errno)} (errno {errno})")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def hosts_text() -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{address}\t{name}" for name, address in SITES.items()]
    return "\n".join(lines) + "\n"


def enter(workdir: str | None = None) -> str:
    """Move this process into the private network; returns its scratch directory.

    Idempotent within a process. Raises :class:`SandboxError` with the reason
    when it cannot be done (not root and no user namespaces, no ``ip``).
    """
    if os.environ.get(_MARKER) == str(os.getpid()):
        return os.environ[_MARKER + "_DIR"]
    if not os.path.exists("/proc/self/ns/net"):
        raise SandboxError("the docs examples need Linux network namespaces")
    ip = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip") if os.path.exists(p)), None
    )
    if ip is None:
        raise SandboxError("the docs examples need iproute2's `ip` command (apt install iproute2)")
    libc = _libc()
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        _check(libc.unshare(_CLONE_NEWNET | _CLONE_NEWNS), "unshare(CLONE_NEWNET|CLONE_NEWNS)")
    else:
        # Unprivileged: become root of a new user namespace first.
        _check(
            libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWNS),
            "unshare(CLONE_NEWUSER|CLONE_NEWNET|CLONE_NEWNS) (are user namespaces enabled?)",
        )
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    # Our bind mounts must not propagate back to the host's mount namespace.
    _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate /")
    commands = [[ip, "link", "set", "lo", "up"]]
    commands += [[ip, "addr", "add", f"{a}/32", "dev", "lo"] for a in SITES.values()]
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SandboxError(f"{' '.join(command)} failed: {done.stderr.strip()}")
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix="netbase-docs-")
        atexit.register(shutil.rmtree, workdir, True)
    directory = workdir
    hosts = os.path.join(directory, "hosts")
    _write(hosts, hosts_text())
    _check(libc.mount(hosts.encode(), b"/etc/hosts", None, _MS_BIND, None), "bind-mount /etc/hosts")
    os.environ[_MARKER] = str(os.getpid())
    os.environ[_MARKER + "_DIR"] = directory
    return directory
