"""OpenID Connect provider, end to end: discovery, JWKS, the citizen's path through
/authorize (public listener -> login listener with the card -> the service's callback),
the token endpoint, single-use codes, userinfo, introspection, revocation, logout, the
audit trail and its CLI, key rotation with SIGHUP.

The service is played by a small HTTP server on loopback; the browser by curl with the
card's certificate, following redirects."""

import json
import os
import stat
import subprocess
import urllib.parse

import pytest

import harness
from harness import curl
from oidc_helpers import (CLIENT_ID, CLIENT_SECRET, assert_invalid, basic_auth, http_call, oidc_config,
                          pkce_pair, tamper, verify_jws)


@pytest.fixture(scope="module")
def gw(gateways, rp):
    gateway = gateways.new("oidc")
    public_port, login_port = harness.free_port(), harness.free_port()
    gateway.start(oidc_config(gateway, public_port, login_port, rp.redirect_uri))
    gateway.issuer = "https://localhost:%d" % public_port
    return gateway


def discovery(pki, gw):
    status, _, body = http_call(pki, gw.issuer + "/.well-known/openid-configuration")
    assert status == 200, body
    return json.loads(body)


def jwks(pki, gw):
    status, headers, body = http_call(pki, gw.issuer + "/jwks")
    assert status == 200, body
    return json.loads(body)


def authorize_url(gw, rp, challenge, state="st", nonce="nn", extra=None):
    params = {"client_id": CLIENT_ID, "redirect_uri": rp.redirect_uri, "response_type": "code",
              "scope": "openid profile fiscal_number cns", "state": state, "nonce": nonce,
              "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(extra or {})
    return gw.issuer + "/authorize?" + urllib.parse.urlencode(params)


def login(pki, gw, rp, citizen="ok1", extra=None, cookie_jar=None):
    """The browser: start at the public /authorize, follow to the login listener with the
    card, end at the service's callback. Returns (curl result, callback params, verifier)."""
    verifier, challenge = pkce_pair()
    before = len(rp.requests)
    args = ["-L", "--max-redirs", "5", "--resolve", "localhost:%d:127.0.0.1" % gw.port("public"),
            "--resolve", "localhost:%d:127.0.0.1" % gw.port("login")]
    if cookie_jar:
        args += ["-b", cookie_jar, "-c", cookie_jar]
    result = curl(pki, authorize_url(gw, rp, challenge, extra=extra), citizen, args)
    params = rp.last_query() if len(rp.requests) > before else None
    return result, params, verifier


def redeem(pki, gw, rp, code, verifier):
    return http_call(pki, gw.issuer + "/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri, "code_verifier": verifier,
    }, basic_auth())


def test_discovery_and_jwks(pki, gw):
    doc = discovery(pki, gw)
    assert doc["issuer"] == gw.issuer
    for name in ("token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint",
                 "introspection_endpoint", "revocation_endpoint"):
        assert doc[name].startswith(gw.issuer + "/"), name
    # No interstitial page here: services send the browser straight to the listener that asks for the card.
    assert doc["authorization_endpoint"] == "https://localhost:%d/authorize" % gw.port("login")
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "ES256" in doc["id_token_signing_alg_values_supported"]
    keys = jwks(pki, gw)["keys"]
    assert keys and all("d" not in k for k in keys), "the JWKS must publish public keys only"
    key_file = os.path.join(gw.dir, "state", "oidc-keys.json")
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_code_flow_with_a_card(pki, gw, rp):
    card = pki.citizen("ok1")
    result, params, verifier = login(pki, gw, rp)
    assert params and "code" in params, "no code at the callback: %r\n%s" % (result, gw.log_tail(20))
    assert params["state"] == "st" and params["iss"] == gw.issuer
    status, headers, body = redeem(pki, gw, rp, params["code"], verifier)
    assert status == 200, body
    assert headers.get("Cache-Control") == "no-store"
    tokens = json.loads(body)
    keyset = jwks(pki, gw)
    _, claims = verify_jws(tokens["id_token"], keyset)
    assert claims["iss"] == gw.issuer and claims["aud"] == CLIENT_ID and claims["nonce"] == "nn"
    assert claims["sub"] == card["cf"]
    assert claims["fiscal_number"] == "TINIT-" + card["cf"]
    assert claims["https://attributes.eid.gov.it/fiscal_number"] == "TINIT-" + card["cf"]
    assert claims["cns_card_id"] == card["card_id"]
    assert claims["amr"] == ["sc", "pin", "hwk", "cns"]
    assert claims["acr"] == "urn:cns-gateway:acr:ts-cns"
    assert claims["gender"] in ("male", "female") and len(claims["birthdate"]) == 10
    header, access = verify_jws(tokens["access_token"], keyset)
    assert header["typ"] == "at+jwt"
    # fse's back end cannot present the citizen's card: its tokens are not bound to it (RFC 8705
    # binding is only for clients registered for it, see test_certificate_bound_tokens...).
    assert "cnf" not in access
    assert_invalid(tamper(tokens["id_token"]), keyset)

    status, _, body = http_call(pki, gw.issuer + "/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert status == 200, body
    assert json.loads(body)["sub"] == card["cf"]

    status, _, body = http_call(pki, gw.issuer + "/introspect", {"token": tokens["access_token"]}, basic_auth())
    assert status == 200 and json.loads(body)["active"] is True

    # The same code again: refused, and what the first use issued is revoked.
    status, _, body = redeem(pki, gw, rp, params["code"], verifier)
    assert status == 400 and json.loads(body)["error"] == "invalid_grant"
    status, _, _ = http_call(pki, gw.issuer + "/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert status == 401


def test_wrong_secret_and_wrong_verifier(pki, gw, rp):
    _, params, verifier = login(pki, gw, rp)
    status, headers, _ = http_call(pki, gw.issuer + "/token", {
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": rp.redirect_uri, "code_verifier": verifier,
    }, basic_auth(secret=CLIENT_SECRET + "x"))
    assert status == 401 and "Basic" in headers.get("WWW-Authenticate", "")
    _, params, verifier = login(pki, gw, rp)
    status, _, body = redeem(pki, gw, rp, params["code"], verifier[:-1] + ("A" if verifier[-1] != "A" else "B"))
    assert status == 400 and json.loads(body)["error"] == "invalid_grant"


def test_revocation(pki, gw, rp):
    _, params, verifier = login(pki, gw, rp)
    tokens = json.loads(redeem(pki, gw, rp, params["code"], verifier)[2])
    status, _, _ = http_call(pki, gw.issuer + "/revoke", {"token": tokens["access_token"]}, basic_auth())
    assert status == 200
    status, _, body = http_call(pki, gw.issuer + "/introspect", {"token": tokens["access_token"]}, basic_auth())
    assert json.loads(body) == {"active": False}


def test_refused_card_shows_the_reason_page_and_is_audited(pki, gw, rp):
    result, params, _ = login(pki, gw, rp, citizen="revoked")
    assert params is None, "a refused card must not reach the service with a code"
    assert result.status == 403, result
    assert "revoked" in result.body
    result, params, _ = login(pki, gw, rp, citizen=None)
    assert params is None and result.status == 403
    proc = subprocess.run([harness.gateway_binary(), "audit", "--config", gw.config_path, "--json"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    reasons = [r["reason"] for r in records]
    assert "ok" in reasons and "revoked" in reasons and "no_certificate" in reasons
    ok = next(r for r in records if r["reason"] == "ok")
    assert ok["cf"] == pki.citizen("ok1")["cf"] and ok["client_id"] == CLIENT_ID and ok["certificate_serial"]
    assert ok["client_address"].startswith("127.0.0.1")
    revoked = next(r for r in records if r["reason"] == "revoked")
    assert harness.normalize_hex(revoked["certificate_serial"]).lstrip("0") == pki.citizen("revoked")["serial_hex"].lstrip("0")
    filtered = subprocess.run([harness.gateway_binary(), "audit", "--config", gw.config_path, "--reason", "revoked"],
                              capture_output=True, text=True, timeout=30)
    assert filtered.returncode == 0 and filtered.stdout.count("\n") == reasons.count("revoked")


def test_unknown_client_or_redirect_is_a_page_not_a_redirect(pki, gw, rp):
    for params in ({"client_id": "nobody", "redirect_uri": rp.redirect_uri},
                   {"client_id": CLIENT_ID, "redirect_uri": "https://evil.example/cb"}):
        params.update({"response_type": "code", "scope": "openid"})
        result = curl(pki, gw.issuer + "/authorize?" + urllib.parse.urlencode(params), None,
                      ["-D", "-", "--resolve", "localhost:%d:127.0.0.1" % gw.port("public")])
        assert result.status == 400, result
        assert "location:" not in result.body.lower()


def test_secrets_never_reach_the_log(pki, gw, rp):
    _, params, verifier = login(pki, gw, rp)
    tokens = json.loads(redeem(pki, gw, rp, params["code"], verifier)[2])
    log = "\n".join(json.dumps(e) for e in gw.events) + "\n".join(gw.stderr)
    for secret in (params["code"], tokens["access_token"], tokens["id_token"], CLIENT_SECRET, verifier):
        assert secret not in log


def test_logout(pki, gw, rp, tmp_path):
    jar = str(tmp_path / "cookies.txt")
    _, params, verifier = login(pki, gw, rp, cookie_jar=jar)
    assert "__Host-cns_session" in open(jar).read()
    tokens = json.loads(redeem(pki, gw, rp, params["code"], verifier)[2])
    url = gw.issuer + "/logout?" + urllib.parse.urlencode({
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": rp.redirect_uri + "/bye", "state": "out"})
    result = curl(pki, url, None, ["-D", "-", "--resolve", "localhost:%d:127.0.0.1" % gw.port("public")])
    assert result.status == 302 and (rp.redirect_uri + "/bye?state=out") in result.body, result
    bad = gw.issuer + "/logout?" + urllib.parse.urlencode({"client_id": CLIENT_ID, "post_logout_redirect_uri": "https://evil.example/"})
    assert curl(pki, bad, None, ["--resolve", "localhost:%d:127.0.0.1" % gw.port("public")]).status == 400


def test_key_rotation_and_reload(pki, gw):
    before = {k["kid"] for k in jwks(pki, gw)["keys"]}
    proc = subprocess.run([harness.gateway_binary(), "keys", "rotate", "--config", gw.config_path],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    event = gw.reload()
    assert event.get("ok", True) is not False, event
    after = {k["kid"] for k in jwks(pki, gw)["keys"]}
    assert before < after and len(after) == len(before) + 1


def test_loose_key_file_mode_refuses_to_start(fresh_gateways, pki, rp):
    gateway = fresh_gateways.new("loose")
    public_port, login_port = harness.free_port(), harness.free_port()
    config = oidc_config(gateway, public_port, login_port, rp.redirect_uri)
    gateway.start(config)
    gateway.stop()
    os.chmod(os.path.join(gateway.dir, "state", "oidc-keys.json"), 0o644)
    with pytest.raises(AssertionError):
        gateway.start(config, timeout=10)
    assert any("too open" in line for line in gateway.stderr + [json.dumps(e) for e in gateway.events])


def test_interstitial_page_then_the_card(fresh_gateways, pki, rp):
    gateway = fresh_gateways.new("interstitial")
    public_port, login_port = harness.free_port(), harness.free_port()
    gateway.start(oidc_config(gateway, public_port, login_port, rp.redirect_uri, interstitial=True))
    gateway.issuer = "https://localhost:%d" % public_port
    # With the interstitial page, services send the browser to the public listener first.
    assert discovery(pki, gateway)["authorization_endpoint"] == gateway.issuer + "/authorize"
    verifier, challenge = pkce_pair()
    resolve = ["--resolve", "localhost:%d:127.0.0.1" % public_port, "--resolve", "localhost:%d:127.0.0.1" % login_port]
    page = curl(pki, authorize_url(gateway, rp, challenge), None, resolve)
    assert page.status == 200 and "<html" in page.body.lower(), page
    prefix = "https://localhost:%d/authorize?" % login_port
    start = page.body.find(prefix)
    assert start >= 0, "no continue link to the login listener in the page"
    link = page.body[start:page.body.find('"', start)].replace("&amp;", "&")
    before = len(rp.requests)
    result = curl(pki, link, "ok2", ["-L"] + resolve)
    assert len(rp.requests) == before + 1, result
    params = rp.last_query()
    status, _, body = redeem(pki, gateway, rp, params["code"], verifier)
    assert status == 200, body


def test_check_config_names_every_oidc_problem(fresh_gateways, pki, rp):
    gateway = fresh_gateways.new("badconfig")
    gateway.install_trust()
    config = oidc_config(gateway, harness.free_port(), harness.free_port(), rp.redirect_uri)
    config["oidc"]["issuer"] = "http://gateway.example.it"
    config["oidc"]["colour"] = "blue"
    config["client"].append({"id": "weak", "secret_hash": "$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43,
                             "redirect_uris": ["http://service.example.it/cb", "https://ok.example.it/cb#frag"]})
    config["client"].append({"id": CLIENT_ID, "redirect_uris": [rp.redirect_uri], "scopes": ["profile"]})
    with open(gateway.config_path, "w") as handle:
        handle.write(harness.to_toml(config))
    proc = subprocess.run([harness.gateway_binary(), "check-config", "--config", gateway.config_path],
                          capture_output=True, text=True, timeout=30)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    for fragment in ("oidc.issuer", "oidc.colour: unknown key", "client[1].secret_hash", "client[1].redirect_uris[0]",
                     "client[1].redirect_uris[1]", "client[2].id: duplicate", "client[2].scopes"):
        assert fragment in out, "%s not reported:\n%s" % (fragment, out)


def test_only_logins_move_the_login_counter(gateways, pki, rp):
    """cns_logins_total counts card verdicts where a login reads the card; the back channel
    (token, userinfo, JWKS, discovery on a connection without a card) never judges a card."""
    import ops_helpers
    gateway = gateways.new("oidc-metrics")
    public_port, login_port = harness.free_port(), harness.free_port()
    config = oidc_config(gateway, public_port, login_port, rp.redirect_uri)
    config["admin"] = {"address": "127.0.0.1:0"}
    gateway.start(config)
    gateway.issuer = "https://localhost:%d" % public_port
    try:
        before = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(gateway))
        result, params, verifier = login(pki, gateway, rp)
        assert params and "code" in params, result
        after_login = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(gateway))
        assert (ops_helpers.metric_sum(after_login, "cns_logins_total")
                - ops_helpers.metric_sum(before, "cns_logins_total")) == 1
        assert (ops_helpers.metric_sum(after_login, "cns_logins_total", reason="ok")
                - ops_helpers.metric_sum(before, "cns_logins_total", reason="ok")) == 1

        status, _, body = redeem(pki, gateway, rp, params["code"], verifier)
        assert status == 200, body
        access_token = json.loads(body)["access_token"]
        status, _, _ = redeem(pki, gateway, rp, params["code"], verifier)  # replayed: refused
        assert status == 400
        status, _, _ = http_call(pki, gateway.issuer + "/userinfo", headers={"Authorization": "Bearer " + access_token})
        assert status in (200, 401, 403)
        for path in ("/jwks", "/.well-known/openid-configuration"):
            assert http_call(pki, gateway.issuer + path)[0] == 200
        after = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(gateway))
        assert ops_helpers.metric_sum(after, "cns_logins_total") == ops_helpers.metric_sum(after_login, "cns_logins_total"), \
            "a back-channel request moved cns_logins_total: %r" % after.get("cns_logins_total")
    finally:
        gateway.stop()


@pytest.mark.parametrize("path", ["/jwks", "/.well-known/openid-configuration"])
def test_head_on_jwks_and_discovery_has_no_body(pki, gw, path):
    status_line, headers, get = harness.head_then_get(pki, gw.port("public"), path)
    assert status_line.startswith("HTTP/1.1 200"), status_line
    assert get.status == 200
    # The head a GET gets, Content-Length included.
    assert int(headers["content-length"]) == len(get.body.encode()), (headers, len(get.body))
    assert headers["content-type"] == get.headers["content-type"]


BOUND_CLIENT = "cup-web"


def test_certificate_bound_tokens_for_a_client_registered_for_them(fresh_gateways, pki, rp):
    """RFC 8705: a public client in the browser registered for bound tokens gets cnf.x5t#S256 of
    the card, and the token works at /userinfo only on a connection presenting that card."""
    import base64
    gateway = fresh_gateways.new("bound")
    public_port, login_port = harness.free_port(), harness.free_port()
    config = oidc_config(gateway, public_port, login_port, rp.redirect_uri, extra_clients=[{
        "id": BOUND_CLIENT, "name": "Prenotazioni (web)", "token_endpoint_auth_method": "none",
        "redirect_uris": [rp.redirect_uri + "/app"], "tls_client_certificate_bound_access_tokens": True}])
    gateway.start(config)
    gateway.issuer = "https://localhost:%d" % public_port
    login_base = "https://localhost:%d" % login_port

    doc = discovery(pki, gateway)
    assert doc["tls_client_certificate_bound_access_tokens"] is True
    assert doc["mtls_endpoint_aliases"]["userinfo_endpoint"] == login_base + "/userinfo"

    verifier, challenge = pkce_pair()
    url = gateway.issuer + "/authorize?" + urllib.parse.urlencode({
        "client_id": BOUND_CLIENT, "redirect_uri": rp.redirect_uri + "/app", "response_type": "code", "scope": "openid profile",
        "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})
    before = len(rp.requests)
    resolve = ["--resolve", "localhost:%d:127.0.0.1" % public_port, "--resolve", "localhost:%d:127.0.0.1" % login_port]
    result = curl(pki, url, "ok1", ["-L", "--max-redirs", "5"] + resolve)
    assert len(rp.requests) > before, (result, gateway.log_tail(20))
    code = rp.last_query()["code"]
    status, _, body = http_call(pki, gateway.issuer + "/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri + "/app", "code_verifier": verifier,
        "client_id": BOUND_CLIENT})
    assert status == 200, body
    access_token = json.loads(body)["access_token"]
    _, access = verify_jws(access_token, jwks(pki, gateway))
    card = pki.citizen("ok1")
    expected = base64.urlsafe_b64encode(bytes.fromhex(harness.normalize_hex(card["sha256"]))).rstrip(b"=").decode()
    assert access["cnf"]["x5t#S256"] == expected

    bearer = ["-H", "Authorization: Bearer " + access_token] + resolve
    # The browser, with the card, on the login listener: served.
    ok = curl(pki, login_base + "/userinfo", "ok1", bearer)
    assert ok.status == 200 and ok.json()["sub"] == card["cf"], ok
    # Another card, no card at all, or the public listener (which never asks for one): refused.
    for citizen, base in (("ok2", login_base), (None, login_base), ("ok1", gateway.issuer)):
        refused = curl(pki, base + "/userinfo", citizen, bearer)
        assert refused.status == 401, (citizen, base, refused)
        assert "sub" not in refused.body
