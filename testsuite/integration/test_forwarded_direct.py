"""A forwarded listener spoken to directly (issue 16): who may send the card header, the
proxy's own certificate, and malformed headers from a trusted proxy. The trusted proxy is
played by a Python TLS client on 127.0.0.1 with the pinned certificate; strangers come from
127.0.0.2."""

import base64
import socket
import ssl

import pytest

import harness
from forwarded_helpers import NginxProxy, ProxyIdentity, der_of, forwarded_listener, world_readable_directory
from ops_helpers import fetch_metrics, metric_sum, parse_metrics


@pytest.fixture(scope="module")
def world(pki, gateways):
    directory = world_readable_directory("cns-forwarded-")
    good = ProxyIdentity(directory, "proxy")
    wrong = ProxyIdentity(directory, "stranger")
    gateway = gateways.new("forwarded-direct")
    config = gateway.make_config(listeners=[
        forwarded_listener(gateway, "pinned", "rfc9440", [good.sha256]),
        # A proxy on this host, plain HTTP, by the named waiver.
        {"name": "loopback", "address": "127.0.0.1:0", "client_certificate": "forwarded",
         "forwarded_certificate_format": "rfc9440", "trusted_proxies": ["127.0.0.1/32"],
         "allow_unauthenticated_loopback_proxy": True},
    ], limits={"max_header_bytes": 1048576})
    config["admin"] = {"address": "127.0.0.1:0"}
    gateway.start(config)
    yield gateway, good, wrong, directory
    import shutil
    shutil.rmtree(directory, ignore_errors=True)


def client_cert(pki, name):
    return "Client-Cert: :%s:" % base64.b64encode(der_of(pki.citizen(name)["cert"])).decode()


def proxy_connection(pki, gateway, identity, source="127.0.0.1"):
    context = ssl.create_default_context(cafile=pki.path(pki.manifest["server"]["ca"]))
    context.load_cert_chain(identity.cert, identity.key)
    raw = socket.create_connection(("127.0.0.1", gateway.port("pinned")), timeout=10, source_address=(source, 0))
    return context.wrap_socket(raw, server_hostname="localhost")


def plain_connection(gateway, source):
    return socket.create_connection(("127.0.0.1", gateway.port("loopback")), timeout=10, source_address=(source, 0))


def get(sock, path="/whoami", headers=(), keep_alive=True):
    return harness.request(sock, path, headers=[tuple(h.split(": ", 1)) for h in headers], keep_alive=keep_alive)


def refused_count(gateway, reason):
    return metric_sum(parse_metrics(fetch_metrics(gateway)), "cns_forwarded_refused_total", reason=reason)


def test_a_header_from_an_untrusted_address_is_refused(pki, world):
    gateway, good, _, _ = world
    before = refused_count(gateway, "untrusted_peer")
    start = gateway.mark()
    with plain_connection(gateway, "127.0.0.2") as sock:
        response = get(sock, headers=[client_cert(pki, "ok1")])
    assert response.status == 400, response
    event = gateway.wait_event(lambda e: e.get("event") == "forwarded_refused", start=start)
    assert event["reason"] == "untrusted_peer" and event["peer"].startswith("127.0.0.2:"), event
    # Also over TLS with the proxy's own certificate: the address decides too.
    with proxy_connection(pki, gateway, good, source="127.0.0.2") as sock:
        assert get(sock, headers=[client_cert(pki, "ok1")]).status == 400
    assert refused_count(gateway, "untrusted_peer") == before + 2
    # Without the header the stranger is served, without a card, and its own X-Forwarded-For
    # is not believed.
    with plain_connection(gateway, "127.0.0.2") as sock:
        body = get(sock, headers=["X-Forwarded-For: 203.0.113.5"]).json()
    assert body["verdict"]["reason"] == "no_certificate"
    assert body["client_address"].startswith("127.0.0.2:"), body
    # The same header from the trusted address is the card.
    with plain_connection(gateway, "127.0.0.1") as sock:
        body = get(sock, headers=[client_cert(pki, "ok1"), "X-Forwarded-For: 203.0.113.5"]).json()
    assert body["verdict"]["reason"] == "ok" and body["certificate_source"] == "forwarded"
    assert body["client_address"] == "203.0.113.5:0", body
    assert gateway.alive()


@pytest.mark.parametrize("presented", ["stranger", "citizen", "none"])
def test_a_trusted_address_with_the_wrong_proxy_certificate_is_refused(pki, world, presented):
    gateway, good, wrong, _ = world
    before = refused_count(gateway, "proxy_certificate")
    start = gateway.mark()
    extra = ["--interface", "127.0.0.1", "-H", client_cert(pki, "ok1")]
    if presented == "stranger":
        extra += ["--cert", wrong.cert, "--key", wrong.key]
    citizen = pki.citizen("ok1") if presented == "citizen" else None  # a good card is no proxy certificate
    result = harness.curl(pki, gateway.url("/whoami", "pinned"), citizen, extra)
    assert result.rc != 0 and result.status == 0, result
    event = gateway.wait_event(lambda e: e.get("event") == "forwarded_refused", start=start)
    assert event["reason"] == "proxy_certificate" and event["peer"].startswith("127.0.0.1:"), event
    if presented == "stranger":
        assert wrong.sha256 in event["detail"]
    assert refused_count(gateway, "proxy_certificate") == before + 1
    # The pinned certificate opens it.
    with proxy_connection(pki, gateway, good) as sock:
        assert get(sock, headers=[client_cert(pki, "ok1")]).json()["verdict"]["reason"] == "ok"


def test_the_documented_nginx_with_the_wrong_certificate_gets_nothing(pki, world):
    gateway, _, wrong, directory = world
    proxy = NginxProxy(pki, gateway.port("pinned"), wrong, world_readable_directory("cns-nginx-wrong-"))
    start = gateway.mark()
    try:
        proxy.start()
        result = proxy.curl("/whoami", "ok1")
        assert result.status == 502, result
    finally:
        proxy.stop()
    event = gateway.wait_event(lambda e: e.get("event") == "forwarded_refused", start=start)
    assert event["reason"] == "proxy_certificate"


def test_malformed_headers_are_answered_and_the_next_request_is_served(pki, world):
    gateway, good, _, _ = world
    card = der_of(pki.citizen("ok1")["cert"])
    good_header = client_cert(pki, "ok1")
    cases = {
        "bad_base64": ["Client-Cert: :not!base64:"],
        "not_x509_der": ["Client-Cert: :%s:" % base64.b64encode(card[:len(card) // 2]).decode()],
        "chain_too_long": [good_header, "Client-Cert-Chain: " + ", ".join([":%s:" % base64.b64encode(card).decode()] * 100)],
        "not_byte_sequence": ["Client-Cert: " + base64.b64encode(card).decode()],
    }
    with proxy_connection(pki, gateway, good) as sock:
        for detail, headers in cases.items():
            body = get(sock, headers=headers).json()
            assert body["verdict"]["reason"] == "malformed_certificate", (detail, body)
            assert body["verdict"]["detail"] == detail
            # The same connection goes on.
            assert get(sock, headers=[good_header]).json()["verdict"]["reason"] == "ok"
        # The citizen's page says so (not "no card").
        page = get(sock, "/verifica", headers=["Client-Cert: :not!base64:"])
        assert page.status == 200 and "<code>malformed_certificate</code>" in page.body
    # Two Client-Cert fields: which one the proxy wrote cannot be told.
    with proxy_connection(pki, gateway, good) as sock:
        response = get(sock, headers=[good_header, good_header])
        assert response.status == 400, response
    # 1 MB of header: larger than the head may be.
    with proxy_connection(pki, gateway, good) as sock:
        response = get(sock, headers=["Client-Cert: :%s:" % ("A" * 1048576)])
        assert response.status == 431, response
    with proxy_connection(pki, gateway, good) as sock:
        assert get(sock, headers=[good_header]).json()["verdict"]["reason"] == "ok"
    assert gateway.alive()
    # No log line holds a certificate, or a piece of one.
    body = base64.b64encode(card).decode()
    for event in gateway.events:
        text = str(event)
        assert "BEGIN CERTIFICATE" not in text and body[:40] not in text and body[-40:] not in text, event


def test_the_example_forwarded_listener_has_only_known_keys(tmp_path):
    """The commented forwarded listener of config/cns-gateway.example.toml, uncommented, is a
    listener the strict parser knows every key of (only the installation's files are missing)."""
    import os
    import subprocess
    with open(os.path.join(harness.REPO, "config", "cns-gateway.example.toml")) as handle:
        text = handle.read()
    begin, end = "# --- forwarded listener (begin) ---\n", "# --- forwarded listener (end) ---\n"
    block = text[text.index(begin) + len(begin):text.index(end)]
    uncommented = "\n".join(line[2:] if line.startswith("# ") else line for line in block.splitlines())
    assert "client_certificate = \"forwarded\"" in uncommented
    path = tmp_path / "example.toml"
    path.write_text(text.replace(block, uncommented + "\n"))
    proc = subprocess.run([harness.gateway_binary(), "check-config", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert problems and all("no such file" in line for line in problems), "\n".join(problems)
    assert any("listener[1].proxy_certificates[0]" in line for line in problems), "\n".join(problems)
