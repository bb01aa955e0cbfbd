"""The exception tree, and what every runtime module re-exports."""

from __future__ import annotations

import builtins

import pytest

import netbase

TREE = {
    "NetworkError": (OSError,),
    "ConnectError": (netbase.NetworkError,),
    "ReadError": (netbase.NetworkError,),
    "WriteError": (netbase.NetworkError,),
    "TimeoutError": (netbase.NetworkError, builtins.TimeoutError),
    "ConnectTimeout": (netbase.TimeoutError, netbase.ConnectError),
    "ReadTimeout": (netbase.TimeoutError, netbase.ReadError),
    "WriteTimeout": (netbase.TimeoutError, netbase.WriteError),
}


@pytest.mark.parametrize(("name", "bases"), TREE.items())
def test_tree(name, bases):
    cls = getattr(netbase, name)
    for base in bases:
        assert issubclass(cls, base)
    exc = cls("message")
    assert str(exc) == "message"


def test_timeouts_are_not_the_other_errors():
    assert not issubclass(netbase.ReadTimeout, netbase.WriteError)
    assert not issubclass(netbase.ConnectError, netbase.TimeoutError)
    assert netbase.TimeoutError is not builtins.TimeoutError


def test_connect_error_may_name_host_and_port():
    from netbase._exceptions import connect_error

    exc = connect_error("::1", 443, "refused")
    assert str(exc) == "[::1]:443: refused"
    assert (exc.host, exc.port) == ("::1", 443)
    assert netbase.ConnectError("plain").host is None


SHARED = [*TREE, "timeout", "default_ssl_context"]


async def test_runtime_module_reexports(runtime):
    module = runtime.module
    for name in [*SHARED, "NetworkBackend", "NetworkStream"]:
        assert hasattr(module, name), name
    for name in SHARED:
        assert getattr(module, name) is getattr(netbase, name)
    if runtime.flavour == "sync":
        assert module.NetworkBackendInterface is netbase.NetworkBackendInterface
        assert module.NetworkStreamInterface is netbase.NetworkStreamInterface
    else:
        assert module.NetworkBackendInterface is netbase.AsyncNetworkBackendInterface
        assert module.NetworkStreamInterface is netbase.AsyncNetworkStreamInterface
    assert issubclass(module.NetworkBackend, module.NetworkBackendInterface)
    assert issubclass(module.NetworkStream, module.NetworkStreamInterface)
