"""Fixtures for the gateway integration suite.

Run:  python3 -m pytest testsuite/integration            (binary: .build/debug/cns-gateway or $CNS_GATEWAY_BIN)
      CNS_SKIP_SLOW=1 python3 -m pytest testsuite/integration   (skips the `slow` group, nothing else)
"""

import os
import resource
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "pki"))

import cnspki  # noqa: E402
import harness  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: many connections or long timeouts (CNS_SKIP_SLOW=1 skips)")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("CNS_SKIP_SLOW") != "1":
        return
    skip = pytest.mark.skip(reason="CNS_SKIP_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def rp():
    """A relying party's redirect_uri on loopback, one per test module (oidc_helpers.CallbackServer)."""
    from oidc_helpers import CallbackServer
    server = CallbackServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """The CNS test PKI, generated once per session (~1 s)."""
    return cnspki.generate(str(tmp_path_factory.mktemp("pki")), citizens=4, filler=400)


@pytest.fixture(scope="session", autouse=True)
def programs():
    """Missing tools fail the run up front, naming the package, instead of skipping."""
    for name in ("curl", "openssl"):
        harness.require_program(name)
    harness.gateway_binary()


@pytest.fixture(scope="session", autouse=True)
def raise_nofile():
    # The slow-client test holds >1,200 sockets; children (the gateway) inherit the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield


class GatewayFactory:
    def __init__(self, pki, tmp):
        self.pki = pki
        self.tmp = tmp
        self.started = []

    def new(self, name="gw"):
        gateway = harness.Gateway(self.pki, self.tmp, name)
        self.started.append(gateway)
        return gateway

    def close(self):
        for gateway in self.started:
            gateway.kill()


@pytest.fixture(scope="module")
def gateways(pki, tmp_path_factory):
    """Make gateways for a module; every one is killed at module teardown, whatever happened."""
    factory = GatewayFactory(pki, tmp_path_factory.mktemp("gateways"))
    yield factory
    factory.close()


@pytest.fixture
def fresh_gateways(pki, tmp_path):
    factory = GatewayFactory(pki, tmp_path)
    yield factory
    factory.close()
