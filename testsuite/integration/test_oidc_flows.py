"""Issue 4's "done when" list against the real daemon: a second, independent client (authlib)
running the code flow with PKCE and validating the ID token itself; every negative path with its
own assertion and its own audit record; key rotation with overlap; prompt=login / max_age making
the card sign a new handshake; and no audit record lost to a SIGKILL right after the redirect."""

import json
import subprocess
import time
import urllib.parse
import warnings

import pytest

import harness
from harness import curl
from oidc_helpers import (CLIENT_ID, CLIENT_SECRET, basic_auth, http_call, oidc_config, pkce_pair, tamper,
                          tls_context, verify_jws)

SCOPE = "openid profile fiscal_number cns"


def start_gateway(factory, rp, name, **oidc):
    gateway = factory.new(name)
    public_port, login_port = harness.free_port(), harness.free_port()
    config = oidc_config(gateway, public_port, login_port, rp.redirect_uri)
    config["oidc"].update(oidc)
    gateway.start(config)
    gateway.issuer = "https://localhost:%d" % public_port
    gateway.login_base = "https://localhost:%d" % login_port
    return gateway


@pytest.fixture(scope="module")
def gw(gateways, rp):
    # The shortest lifetimes the configuration allows, so expiry is tested by waiting it out.
    return start_gateway(gateways, rp, "oidc-flows", code_lifetime=10, access_token_lifetime=30)


def resolve(gw):
    return ["--resolve", "localhost:%d:127.0.0.1" % gw.port("public"), "--resolve", "localhost:%d:127.0.0.1" % gw.port("login")]


def authorize_url(gw, rp, challenge, base=None, **extra):
    params = {"client_id": CLIENT_ID, "redirect_uri": rp.redirect_uri, "response_type": "code", "scope": SCOPE,
              "state": "st", "nonce": "nn", "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(extra)
    return (base or gw.issuer) + "/authorize?" + urllib.parse.urlencode(params)


def browse(pki, gw, rp, url, citizen="ok1", jar=None):
    """The browser from `url` to the service's callback; (curl result, callback params or None)."""
    before = len(rp.requests)
    args = ["-L", "--max-redirs", "5"] + resolve(gw)
    if jar:
        args += ["-b", jar, "-c", jar]
    result = curl(pki, url, citizen, args)
    return result, (rp.last_query() if len(rp.requests) > before else None)


def login(pki, gw, rp, citizen="ok1", jar=None, **extra):
    verifier, challenge = pkce_pair()
    result, params = browse(pki, gw, rp, authorize_url(gw, rp, challenge, **extra), citizen, jar)
    assert params and "code" in params, "no code at the callback: %r\n%s" % (result, gw.log_tail(20))
    return params["code"], verifier


def redeem(pki, gw, rp, code, verifier, auth=None):
    status, _, body = http_call(pki, gw.issuer + "/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri, "code_verifier": verifier,
    }, auth or basic_auth())
    return status, json.loads(body)


def tokens_for(pki, gw, rp, citizen="ok1", jar=None, **extra):
    code, verifier = login(pki, gw, rp, citizen, jar, **extra)
    status, tokens = redeem(pki, gw, rp, code, verifier)
    assert status == 200, tokens
    return tokens


def introspect(pki, gw, token, auth=None):
    status, _, body = http_call(pki, gw.issuer + "/introspect", {"token": token}, auth or basic_auth())
    assert status == 200, body
    return json.loads(body)


def jwks(pki, gw):
    status, _, body = http_call(pki, gw.issuer + "/jwks")
    assert status == 200, body
    return json.loads(body)


def audit(gw):
    proc = subprocess.run([harness.gateway_binary(), "audit", "--config", gw.config_path, "--json"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


class AuditWatch:
    """The audit records a block of test code adds, as (event, reason) pairs."""

    def __init__(self, gw):
        self.gw = gw
        self.start = len(audit(gw))

    def records(self):
        return audit(self.gw)[self.start:]

    def pairs(self):
        return [(r["event"], r["reason"]) for r in self.records()]


def claims_of(token):
    from oidc_helpers import b64url_decode
    return json.loads(b64url_decode(token.split(".")[1]))


def kid_of(token):
    from oidc_helpers import b64url_decode
    return json.loads(b64url_decode(token.split(".")[0]))["kid"]


# ---- a second client: authlib ------------------------------------------------------------------

def authlib_validate(id_token, keyset, issuer, nonce, access_token):
    """authlib's own OIDC Core 3.1.3.7 checks: signature against the JWKS, iss, aud, exp, iat, nonce, at_hash."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # authlib.jose announces its move to joserfc
        from authlib.jose import JsonWebKey, jwt
        from authlib.oidc.core import CodeIDToken
    claims = jwt.decode(id_token, JsonWebKey.import_key_set(keyset), claims_cls=CodeIDToken,
                        claims_options={"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": CLIENT_ID}},
                        claims_params={"nonce": nonce, "client_id": CLIENT_ID, "access_token": access_token})
    claims.validate(leeway=5)
    return claims


def test_authlib_code_flow_with_pkce(pki, gw, rp):
    from authlib.common.security import generate_token
    from authlib.integrations.requests_client import OAuth2Session
    ca = pki.path(pki.manifest["server"]["ca"])
    session = OAuth2Session(CLIENT_ID, CLIENT_SECRET, scope=SCOPE, redirect_uri=rp.redirect_uri, code_challenge_method="S256",
                            token_endpoint_auth_method="client_secret_basic", leeway=0)
    session.verify = ca
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
    metadata = session.get(gw.issuer + "/.well-known/openid-configuration", withhold_token=True).json()
    assert metadata["issuer"] == gw.issuer
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = session.create_authorization_url(metadata["authorization_endpoint"], nonce=nonce, code_verifier=verifier)
    assert "code_challenge=" in url and "code_challenge_method=S256" in url

    watch = AuditWatch(gw)
    result, params = browse(pki, gw, rp, url)
    assert params and params["state"] == state and params["iss"] == gw.issuer, result
    callback = rp.redirect_uri + "?" + urllib.parse.urlencode(params)
    token = session.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    keyset = session.get(metadata["jwks_uri"], withhold_token=True).json()

    claims = authlib_validate(token["id_token"], keyset, gw.issuer, nonce, token["access_token"])
    card = pki.citizen("ok1")
    assert claims["sub"] == card["cf"] and claims["at_hash"]
    userinfo = session.get(metadata["userinfo_endpoint"]).json()
    assert userinfo["sub"] == card["cf"]

    # authlib itself refuses what is wrong: another nonce, another access token, a forged signature.
    # (authlib 1.6+ raises joserfc's errors from its jose layer; older ones its own.)
    from authlib.jose import errors
    invalid_claim, bad_signature = (errors.InvalidClaimError,), (errors.BadSignatureError,)
    try:
        import joserfc.errors
        invalid_claim += (joserfc.errors.InvalidClaimError,)
        bad_signature += (joserfc.errors.BadSignatureError,)
    except ImportError:
        pass
    with pytest.raises(invalid_claim, match="iss"):
        authlib_validate(token["id_token"], keyset, gw.issuer + "/other", nonce, token["access_token"])
    with pytest.raises(invalid_claim, match="nonce"):
        authlib_validate(token["id_token"], keyset, gw.issuer, nonce + "x", token["access_token"])
    with pytest.raises(invalid_claim, match="at_hash"):
        authlib_validate(token["id_token"], keyset, gw.issuer, nonce, token["access_token"] + "x")
    with pytest.raises(bad_signature):
        authlib_validate(tamper(token["id_token"]), keyset, gw.issuer, nonce, token["access_token"])
    assert watch.pairs() == [("login", "ok"), ("token", "ok"), ("userinfo", "ok")]


# ---- negative paths ----------------------------------------------------------------------------

def test_unregistered_redirect_uri_is_an_error_page(pki, gw, rp):
    watch = AuditWatch(gw)
    _, challenge = pkce_pair()
    for base in (gw.issuer, gw.login_base):
        url = authorize_url(gw, rp, challenge, base=base, redirect_uri="https://evil.example/cb")
        result = curl(pki, url, "ok1", ["-D", "-"] + resolve(gw))
        head = result.body.split("\r\n\r\n", 1)[0].lower()
        assert result.status == 400 and "\nlocation:" not in head, result
        assert "text/html" in head and "evil.example" not in result.body
    assert watch.pairs() == [("login", "invalid_redirect_uri")] * 2


def test_replayed_code_fails_and_revokes_the_first_tokens(pki, gw, rp):
    code, verifier = login(pki, gw, rp)
    status, tokens = redeem(pki, gw, rp, code, verifier)
    assert status == 200
    assert introspect(pki, gw, tokens["access_token"])["active"] is True
    watch = AuditWatch(gw)
    status, body = redeem(pki, gw, rp, code, verifier)
    assert status == 400 and body["error"] == "invalid_grant", body
    assert introspect(pki, gw, tokens["access_token"]) == {"active": False}
    assert watch.pairs() == [("token", "code_replayed"), ("introspect", "token_revoked")]


def test_wrong_pkce_verifier(pki, gw, rp):
    code, verifier = login(pki, gw, rp)
    watch = AuditWatch(gw)
    status, body = redeem(pki, gw, rp, code, pkce_pair()[0])
    assert status == 400 and body["error"] == "invalid_grant", body
    # The code is checked before it is spent: whoever holds a leaked code without the verifier
    # cannot burn it, and the client with the right verifier still gets its tokens.
    status, body = redeem(pki, gw, rp, code, verifier)
    assert status == 200, body
    assert watch.pairs() == [("token", "pkce_failed"), ("token", "ok")]


def test_wrong_client_secret(pki, gw, rp):
    code, verifier = login(pki, gw, rp)
    watch = AuditWatch(gw)
    status, _, body = http_call(pki, gw.issuer + "/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri, "code_verifier": verifier,
    }, basic_auth(secret=CLIENT_SECRET + "x"))
    assert status == 401 and json.loads(body)["error"] == "invalid_client"
    # The client was not authenticated, so the code was not touched.
    status, tokens = redeem(pki, gw, rp, code, verifier)
    assert status == 200, tokens
    assert watch.pairs() == [("token", "invalid_client"), ("token", "ok")]


def test_tampered_token_is_inactive(pki, gw, rp):
    tokens = tokens_for(pki, gw, rp)
    watch = AuditWatch(gw)
    assert introspect(pki, gw, tamper(tokens["access_token"])) == {"active": False}
    assert introspect(pki, gw, tokens["id_token"]) == {"active": False}, "an ID token is not an access token"
    status, _, body = http_call(pki, gw.issuer + "/introspect", {"token": tokens["access_token"]}, basic_auth(secret="nope"))
    assert status == 401 and json.loads(body)["error"] == "invalid_client"
    assert watch.pairs() == [("introspect", "token_invalid"), ("introspect", "token_invalid"), ("introspect", "invalid_client")]


@pytest.mark.slow
def test_expired_code_and_expired_token(pki, gw, rp):
    tokens = tokens_for(pki, gw, rp)
    code, verifier = login(pki, gw, rp)
    assert introspect(pki, gw, tokens["access_token"])["active"] is True
    time.sleep(31)  # access_token_lifetime = 30 s, code_lifetime = 10 s
    watch = AuditWatch(gw)
    status, body = redeem(pki, gw, rp, code, verifier)
    assert status == 400 and body["error"] == "invalid_grant", body
    assert introspect(pki, gw, tokens["access_token"]) == {"active": False}
    assert watch.pairs() == [("token", "code_expired"), ("introspect", "token_expired")]


def test_logout_ends_the_session(pki, gw, rp, tmp_path):
    jar = str(tmp_path / "jar.txt")
    first = claims_of(tokens_for(pki, gw, rp, jar=jar)["id_token"])
    time.sleep(1.1)
    again = tokens_for(pki, gw, rp, jar=jar)
    second = claims_of(again["id_token"])
    assert second["sid"] == first["sid"] and second["auth_time"] == first["auth_time"], "the SSO session was not kept"
    watch = AuditWatch(gw)
    url = gw.issuer + "/logout?" + urllib.parse.urlencode({"id_token_hint": again["id_token"]})
    result = curl(pki, url, None, ["-b", jar, "-c", jar] + resolve(gw))
    assert result.status == 200, result
    time.sleep(1.1)
    third = claims_of(tokens_for(pki, gw, rp, jar=jar)["id_token"])
    assert third["sid"] != first["sid"] and third["auth_time"] > first["auth_time"], "logout left the session alive"
    pairs = watch.pairs()
    assert pairs[0] == ("logout", "ok") and pairs[1:] == [("login", "ok"), ("token", "ok")], pairs
    assert watch.records()[0]["cf"] == pki.citizen("ok1")["cf"]


def test_another_card_never_gets_the_session_of_the_first(pki, gw, rp, tmp_path):
    jar = str(tmp_path / "jar.txt")
    a = claims_of(tokens_for(pki, gw, rp, "ok1", jar=jar)["id_token"])
    watch = AuditWatch(gw)
    b = claims_of(tokens_for(pki, gw, rp, "ok2", jar=jar)["id_token"])
    assert a["sub"] == pki.citizen("ok1")["cf"]
    assert b["sub"] == pki.citizen("ok2")["cf"] and b["sid"] != a["sid"]
    records = watch.records()
    assert [(r["event"], r["reason"], r.get("cf")) for r in records] == [
        ("login", "ok", pki.citizen("ok2")["cf"]), ("token", "ok", pki.citizen("ok2")["cf"])]


# ---- prompt=login / max_age: a new card signature ---------------------------------------------

def login_handshakes(gw, start):
    return [e for e in gw.find_events("certificate_verdict", start) if e.get("listener") == "login"]


def curl_many(pki, gw, urls, citizen="ok1", gap_per_minute=20):
    """One curl process for several URLs (one connection pool, so keep-alive connections are
    reused), `60 / gap_per_minute` seconds apart; returns the HTTP statuses."""
    entry = pki.citizen(citizen)
    args = ["curl", "-sS", "-w", "%{http_code}\n", "--max-time", "20", "-L", "--max-redirs", "5",
            "--cacert", pki.path(pki.manifest["server"]["ca"]), "--cert", entry["cert"], "--key", entry["key"],
            "--rate", "%d/m" % gap_per_minute] + resolve(gw)
    for url in urls:
        args += ["-o", "/dev/null", url]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.parametrize("extra, handshakes", [({}, 1), ({"prompt": "login"}, 2), ({"max_age": "1"}, 2)],
                         ids=["sso", "prompt-login", "max-age"])
def test_prompt_login_and_max_age_make_the_card_sign_again(pki, gw, rp, extra, handshakes):
    start = gw.mark()
    before = len(rp.requests)
    _, challenge = pkce_pair()
    urls = [authorize_url(gw, rp, challenge, base=gw.login_base),
            authorize_url(gw, rp, challenge, base=gw.login_base, **extra)]
    # 3 s apart: longer than max_age=1 and than the slack a connection's first request gets.
    assert curl_many(pki, gw, urls) == ["200", "200"]
    assert len(rp.requests) == before + 2 and all("code" in dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(p).query))
                                                   for _, p, _ in rp.requests[before:])
    seen = login_handshakes(gw, start)
    assert len(seen) == handshakes, "%d handshakes on the login listener:\n%s" % (len(seen), gw.log_tail(30))
    assert len([e for e in gw.find_events("oidc_reauthenticate", start)]) == handshakes - 1


def test_each_old_connection_is_closed_until_the_card_signs_a_new_one(pki, gw, rp):
    """A browser holding two idle old connections may follow the first reconnect redirect on the
    second one: that one is closed too, and the next, new connection gets the code."""
    _, challenge = pkce_pair()
    idle = [harness.tls_connect(pki, gw.port("login"), "ok1") for _ in range(2)]
    try:
        time.sleep(2.5)
        start = gw.mark()
        target = urllib.parse.urlsplit(authorize_url(gw, rp, challenge, base=gw.login_base, prompt="login"))
        markers = []
        for sock in idle:
            response = harness.request(sock, target.path + "?" + target.query)
            assert response.status == 302 and response.headers.get("connection") == "close", response
            assert sock.recv(1) == b"", "the connection must close after the reconnect redirect"
            target = urllib.parse.urlsplit(response.headers["location"])
            markers.append(dict(urllib.parse.parse_qsl(target.query))["cns_reauth"])
        assert [m.split(".")[1] for m in markers] == ["1", "2"], markers
        watch = AuditWatch(gw)
        fresh = harness.tls_connect(pki, gw.port("login"), "ok1")
        try:
            response = harness.request(fresh, target.path + "?" + target.query)
        finally:
            fresh.close()
        assert response.status == 302 and response.headers["location"].startswith(rp.redirect_uri + "?code="), response
        assert watch.pairs() == [("login", "ok")]
        assert len(login_handshakes(gw, start)) == 3
    finally:
        for sock in idle:
            sock.close()


# ---- key rotation ------------------------------------------------------------------------------

def test_key_rotation_keeps_old_tokens_valid_during_the_overlap(fresh_gateways, pki, rp):
    gateway = start_gateway(fresh_gateways, rp, "oidc-rotate")
    before = tokens_for(pki, gateway, rp)
    old_kid = kid_of(before["id_token"])
    assert kid_of(before["access_token"]) == old_kid
    proc = subprocess.run([harness.gateway_binary(), "keys", "rotate", "--config", gateway.config_path],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert gateway.reload().get("ok", True) is not False
    keyset = jwks(pki, gateway)
    kids = {k["kid"] for k in keyset["keys"]}
    assert old_kid in kids and len(kids) == 2, kids

    # Signed before the rotation: still verifies (our check and authlib's) and is still active.
    verify_jws(before["id_token"], keyset)
    authlib_validate(before["id_token"], keyset, gateway.issuer, "nn", before["access_token"])
    assert introspect(pki, gateway, before["access_token"])["active"] is True

    after = tokens_for(pki, gateway, rp)
    new_kid = kid_of(after["id_token"])
    assert new_kid != old_kid and new_kid in kids and kid_of(after["access_token"]) == new_kid
    authlib_validate(after["id_token"], keyset, gateway.issuer, "nn", after["access_token"])


# ---- the audit trail survives a crash ----------------------------------------------------------

def test_sigkill_right_after_the_redirect_loses_no_audit_record(fresh_gateways, pki, rp):
    gateway = start_gateway(fresh_gateways, rp, "oidc-crash")
    _, challenge = pkce_pair()
    target = urllib.parse.urlsplit(authorize_url(gateway, rp, challenge, base=gateway.login_base, state="crash"))
    sock = harness.tls_connect(pki, gateway.port("login"), "ok2")
    try:
        response = harness.request(sock, target.path + "?" + target.query)
        gateway.proc.kill()  # SIGKILL the moment the 302 is in
    finally:
        sock.close()
    assert response.status == 302 and "code=" in response.headers["location"], response
    gateway.proc.wait(5)
    gateway.start(gateway.config)
    records = [r for r in audit(gateway) if r["event"] == "login"]
    assert [(r["reason"], r["cf"]) for r in records] == [("ok", pki.citizen("ok2")["cf"])], records
