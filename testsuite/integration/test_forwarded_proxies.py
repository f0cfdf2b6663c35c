"""Behind a real HTTP reverse proxy (issue 16): nginx (URL-escaped PEM), HAProxy in http
mode (RFC 9440 Client-Cert) and Apache httpd (mod_ssl + mod_headers PEM) terminate the
citizen's TLS and forward the card; each runs the snippet in docs/reverse-proxy/. The
gateway judges the forwarded card like a handshake's: /whoami, the OIDC login end to end,
the refusal pages, the audit trail; a header a client sends itself is replaced by the proxy."""

import base64
import json
import subprocess
import urllib.parse

import pytest

import harness
from forwarded_helpers import PROXIES, ProxyIdentity, der_of, escaped_pem, forwarded_listener, world_readable_directory
from oidc_helpers import CLIENT_ID, basic_auth, http_call, oidc_config, pkce_pair, verify_jws
from ops_helpers import fetch_metrics, metric_sum, parse_metrics


@pytest.fixture(scope="module", params=["nginx", "haproxy", "apache"])
def stack(request, gateways, rp):
    """A gateway (public listener direct, login listener behind the proxy) and the proxy."""
    kind = request.param
    directory = world_readable_directory("cns-%s-" % kind)
    identity = ProxyIdentity(directory, "proxy-client")
    gateway = gateways.new("fwd-%s" % kind)
    public_port, proxy_port = harness.free_port(), harness.free_port()
    config = oidc_config(gateway, public_port, harness.free_port(), rp.redirect_uri)
    pin = identity.cert if kind == "nginx" else identity.sha256  # a file and a fingerprint: both forms
    config["listener"][1] = forwarded_listener(gateway, "login", PROXIES[kind].fmt, [pin])
    config["oidc"]["login_base_url"] = "https://localhost:%d" % proxy_port
    config["admin"] = {"address": "127.0.0.1:0"}
    gateway.start(config)
    gateway.issuer = config["oidc"]["issuer"]
    proxy = PROXIES[kind](gateway.pki, gateway.port("login"), identity, directory, port=proxy_port)
    try:
        proxy.start()
        yield gateway, proxy
    finally:
        proxy.stop()


def whoami(stack, citizen=None, extra=()):
    gateway, proxy = stack
    result = proxy.curl("/whoami", citizen, extra)
    assert result.rc == 0 and result.status == 200, "%r\n%s\n%s" % (result, proxy.log(), gateway.log_tail(10))
    return result.json()


def test_whoami_shows_the_card_and_the_citizens_address(pki, stack):
    card = pki.citizen("ok1")
    body = whoami(stack, card)
    assert body["client_address"].startswith("127.0.0.2:"), body
    assert body["certificate_source"] == "forwarded"
    assert body["proxy_address"].startswith("127.0.0.1:"), body
    assert harness.normalize_hex(body["client_certificate"]["sha256"]) == harness.normalize_hex(card["sha256"])
    assert body["verdict"]["reason"] == "ok"
    assert body["identity"]["fiscal_code"] == card["cf"]
    # The same proxy connection may carry the next citizen: each request is judged on its own.
    assert whoami(stack, "revoked")["verdict"]["reason"] == "revoked"
    none = whoami(stack)
    assert none["verdict"]["reason"] == "no_certificate" and none["client_certificate"] is None
    assert none["client_address"].startswith("127.0.0.2:")


def login(pki, stack, rp, citizen):
    """The browser from 127.0.0.2: the public /authorize, then the login through the proxy."""
    gateway, proxy = stack
    verifier, challenge = pkce_pair()
    params = {"client_id": CLIENT_ID, "redirect_uri": rp.redirect_uri, "response_type": "code",
              "scope": "openid profile fiscal_number cns", "state": "st", "nonce": "nn",
              "code_challenge": challenge, "code_challenge_method": "S256"}
    before = len(rp.requests)
    args = ["-L", "--max-redirs", "5", "--resolve", "localhost:%d:127.0.0.1" % gateway.port("public"),
            "--resolve", "localhost:%d:127.0.0.1" % proxy.port, "--interface", "127.0.0.2"]
    result = harness.curl(pki, gateway.issuer + "/authorize?" + urllib.parse.urlencode(params), citizen, args)
    callback = rp.last_query() if len(rp.requests) > before else None
    return result, callback, verifier


def audit(gateway):
    proc = subprocess.run([harness.gateway_binary(), "audit", "--config", gateway.config_path, "--json"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_a_good_card_logs_in_through_the_proxy(pki, stack, rp):
    gateway, proxy = stack
    card = pki.citizen("ok1")
    result, callback, verifier = login(pki, stack, rp, card)
    assert callback and "code" in callback, "no code: %r\n%s\n%s" % (result, proxy.log(), gateway.log_tail(20))
    assert callback["iss"] == gateway.issuer
    status, _, body = http_call(pki, gateway.issuer + "/token", {
        "grant_type": "authorization_code", "code": callback["code"], "redirect_uri": rp.redirect_uri,
        "code_verifier": verifier}, basic_auth())
    assert status == 200, body
    tokens = json.loads(body)
    status, _, jwks = http_call(pki, gateway.issuer + "/jwks")
    _, claims = verify_jws(tokens["id_token"], json.loads(jwks))
    assert claims["sub"] == card["cf"] and claims["fiscal_number"] == "TINIT-" + card["cf"]
    record = [r for r in audit(gateway) if r["event"] == "login"][-1]
    assert record["reason"] == "ok" and record["cf"] == card["cf"]
    assert record["via"] == "forwarded", record
    assert record["proxy_address"].startswith("127.0.0.1:"), record
    assert record["client_address"] == "127.0.0.2", record


@pytest.mark.parametrize("name", ["expired", "revoked", "unknown_issuer"])
def test_a_refused_card_gets_its_page(pki, stack, rp, name):
    gateway, proxy = stack
    result, callback, _ = login(pki, stack, rp, pki.citizen(name))
    if proxy.kind == "apache" and name == "expired":
        # mod_ssl's optional_no_ca still refuses an expired card in the handshake (see
        # docs/reverse-proxy/apache.conf): the gateway never hears of it.
        assert result.rc != 0 and "expired" in result.stderr, result
        return
    assert result.status == 403, "%r\n%s\n%s" % (result, proxy.log(), gateway.log_tail(20))
    assert "<code>%s</code>" % name in result.body, result.body[-2000:]
    assert callback is None
    record = [r for r in audit(gateway) if r["event"] == "login"][-1]
    assert record["reason"] == name and record["via"] == "forwarded"


def test_the_chain_the_proxy_forwards(pki, stack):
    """The card of a CA missing from the bundle, under an intermediate the browser sends: Apache
    forwards the chain; nginx and HAProxy send the leaf only, so the gateway cannot build it."""
    gateway, proxy = stack
    expected = "ok" if proxy.kind == "apache" else "unknown_issuer"
    assert whoami(stack, "ok_intermediate")["verdict"]["reason"] == expected


def test_a_header_the_client_sends_is_replaced(pki, stack):
    gateway, proxy = stack
    forged_for = pki.citizen("ok1")
    if proxy.kind == "haproxy":
        value = ":%s:" % base64.b64encode(der_of(forged_for["cert"])).decode()
        forged = ["-H", "Client-Cert: " + value, "-H", "Client-Cert-Chain: " + value]
    elif proxy.kind == "nginx":
        forged = ["-H", "X-SSL-Client-Cert: " + escaped_pem(forged_for["cert"])]
    else:
        with open(forged_for["cert"]) as handle:
            pem = " ".join(handle.read().split("\n")).strip()
        forged = ["-H", "X-SSL-Client-Cert: " + pem, "-H", "X-SSL-Client-Cert-Chain-0: " + pem]
    forged += ["-H", "X-Forwarded-For: 203.0.113.77"]
    # No card: the gateway sees none, not the forged one.
    body = whoami(stack, None, forged)
    assert body["verdict"]["reason"] == "no_certificate", body
    assert body["client_address"].startswith("127.0.0.2:"), body
    # Another card: the gateway sees that one.
    other = pki.citizen("ok2")
    body = whoami(stack, other, forged)
    assert harness.normalize_hex(body["client_certificate"]["sha256"]) == harness.normalize_hex(other["sha256"]), body
    assert body["verdict"]["reason"] == "ok"
    assert body["client_address"].startswith("127.0.0.2:")
    # The proxy is trusted, so none of this was refused.
    samples = parse_metrics(fetch_metrics(gateway))
    assert metric_sum(samples, "cns_forwarded_refused_total") == 0


def test_under_a_path_prefix(pki, gateways, rp):
    """nginx serving the gateway under /cns/: the pages live and link there, the issuer and
    the login are under it, nothing is built from the Host header (curl sends 'localhost')."""
    directory = world_readable_directory("cns-nginx-prefix-")
    identity = ProxyIdentity(directory, "proxy-client")
    gateway = gateways.new("fwd-prefix")
    public_port, proxy_port = harness.free_port(), harness.free_port()
    config = oidc_config(gateway, public_port, harness.free_port(), rp.redirect_uri)
    base = "https://localhost:%d/cns" % proxy_port
    config["listener"][1] = forwarded_listener(gateway, "login", "nginx", [identity.sha256], public_base_url=base)
    config["oidc"]["issuer"] = "https://localhost:%d/cns" % public_port
    config["oidc"]["login_base_url"] = base
    gateway.start(config)
    gateway.issuer = config["oidc"]["issuer"]
    proxy = PROXIES["nginx"](pki, gateway.port("login"), identity, directory, port=proxy_port)
    # The variant the snippet's comment describes.
    proxy.variant = [("    location / {", "    location /cns/ {")]
    try:
        proxy.start()
        page = proxy.curl("/cns/verifica?lang=en", "revoked", ["-H", "Host: attacker.example"])
        assert page.status == 200 and "<code>revoked</code>" in page.body, page
        assert 'href="/cns/?lang=en"' in page.body and 'href="/?lang' not in page.body
        assert "attacker.example" not in page.body
        assert proxy.curl("/verifica", "ok1").status == 404, "nginx forwards only /cns/"
        result, callback, verifier = login(pki, (gateway, proxy), rp, pki.citizen("ok1"))
        assert callback and "code" in callback, "%r\n%s\n%s" % (result, proxy.log(), gateway.log_tail(20))
        assert callback["iss"] == gateway.issuer
        status, _, body = http_call(pki, gateway.issuer + "/token", {
            "grant_type": "authorization_code", "code": callback["code"], "redirect_uri": rp.redirect_uri,
            "code_verifier": verifier}, basic_auth())
        assert status == 200, body
    finally:
        proxy.stop()
