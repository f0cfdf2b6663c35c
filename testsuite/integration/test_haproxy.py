"""PROXY protocol v1/v2 behind a real HAProxy (mode tcp): the card and the original client
address reach /whoami; a PROXY header from an untrusted address is refused and logged."""

import os
import subprocess
import time

import pytest

from harness import curl, free_port, normalize_hex, require_program, wait_port


@pytest.fixture(scope="module")
def gw(gateways):
    gateway = gateways.new("proxied")
    listeners = [
        gateway.listener("proxied", proxy_protocol=True, trusted_proxies=["127.0.0.1/32"]),
        gateway.listener("untrusted", proxy_protocol=True, trusted_proxies=["127.0.0.9/32"]),
    ]
    return gateway.start(gateway.make_config(listeners=listeners))


@pytest.fixture(scope="module")
def haproxy(gw, tmp_path_factory):
    binary = require_program("haproxy")
    directory = tmp_path_factory.mktemp("haproxy")
    ports = {name: free_port() for name in ("v2", "v1", "v2_untrusted", "v1_untrusted")}
    targets = {"v2": ("proxied", "send-proxy-v2"), "v1": ("proxied", "send-proxy"),
               "v2_untrusted": ("untrusted", "send-proxy-v2"), "v1_untrusted": ("untrusted", "send-proxy")}
    lines = ["global", "  maxconn 256", "", "defaults", "  mode tcp", "  timeout connect 5s",
             "  timeout client 30s", "  timeout server 30s", ""]
    for name, port in ports.items():
        listener, option = targets[name]
        lines += ["frontend fe_%s" % name, "  bind 127.0.0.1:%d" % port, "  default_backend be_%s" % name, "",
                  "backend be_%s" % name, "  server gw 127.0.0.1:%d %s" % (gw.port(listener), option), ""]
    config = os.path.join(str(directory), "haproxy.cfg")
    with open(config, "w") as handle:
        handle.write("\n".join(lines))
    check = subprocess.run([binary, "-c", "-f", config], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    proc = subprocess.Popen([binary, "-db", "-f", config], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for port in ports.values():
            wait_port("127.0.0.1", port)
        yield ports
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_card_and_client_address_through_haproxy(pki, gw, haproxy, version):
    card = pki.citizen("ok1")
    url = "https://127.0.0.1:%d/whoami" % haproxy[version]
    result = curl(pki, url, card, ["--interface", "127.0.0.2"])
    assert result.rc == 0 and result.status == 200, (result, gw.log_tail(10))
    body = result.json()
    assert body["client_address"].startswith("127.0.0.2:"), body
    assert body["listener"] == "proxied"
    assert normalize_hex(body["client_certificate"]["sha256"]) == normalize_hex(card["sha256"])
    assert body["verdict"]["reason"] == "ok"
    revoked = curl(pki, url, "revoked", ["--interface", "127.0.0.2"]).json()
    assert revoked["verdict"]["reason"] == "revoked"


@pytest.mark.parametrize("version", ["v2_untrusted", "v1_untrusted"])
def test_proxy_header_from_untrusted_address_refused(pki, gw, haproxy, version):
    start = gw.mark()
    result = curl(pki, "https://127.0.0.1:%d/whoami" % haproxy[version], "ok1", ["--interface", "127.0.0.2"])
    assert result.rc != 0 and result.status == 0, result
    event = gw.wait_event(lambda e: e.get("event") == "proxy_refused", start=start, timeout=5)
    assert event.get("peer", "").startswith("127.0.0.1"), event  # HAProxy's address, not the client's
    assert gw.alive()


def test_direct_tls_without_proxy_header_refused(pki, gw):
    # The listener expects a PROXY header first; a bare ClientHello must not be served.
    start = time.monotonic()
    result = curl(pki, gw.url("/whoami", "proxied"), "ok1")
    assert result.rc != 0 and result.status == 0, result
    assert time.monotonic() - start < 8
    assert gw.alive()
