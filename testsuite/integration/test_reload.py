"""SIGHUP reload: new CRL and CA bundle take effect for new connections, open keep-alive
connections keep working, a broken reload keeps the old trust and is visible in /healthz."""

import time

import pytest

from harness import curl, request, tls_connect, whoami


def _health(pki, gateway):
    result = curl(pki, gateway.url("/healthz"))
    assert result.status == 200, result
    return result.json()


@pytest.fixture
def gw(fresh_gateways):
    gateway = fresh_gateways.new("reload")
    # Start without root1b in the bundle, so the reload visibly adds a CA.
    # root1b's CRL is left out as well: this daemon refuses a CRL that no bundle CA signed.
    gateway.install_trust(bundle_cas=["root1", "legacy", "root2"], crl_cas=["root1", "legacy", "root2", "intermediate"])
    return gateway.start()


def test_reload_new_crl_and_bundle(pki, gw):
    assert whoami(pki, gw, "ok2")["verdict"]["reason"] == "ok"
    assert whoami(pki, gw, "ok_same_dn")["verdict"]["reason"] == "unknown_issuer"
    before = _health(pki, gw)
    assert before["trust"]["ca_certificates"] == 3, before

    keep_alive = tls_connect(pki, gw.port(), "ok2")
    try:
        first = request(keep_alive, "/whoami")
        assert first.status == 200 and first.json()["verdict"]["reason"] == "ok"

        pki.make_crl("root1", ["revoked", "ok2"], path=gw.dir + "/crls/root1.crl.pem")
        gw.write_file("ca-bundle.pem", pki.bundle_pem(["root1", "root1b", "legacy", "root2"]))
        gw.write_file("crls/root1b.crl.pem", open(pki.ca("root1b")["crl_pem"], "rb").read())
        event = gw.reload()
        assert event.get("result") == "ok", event

        assert whoami(pki, gw, "ok2")["verdict"]["reason"] == "revoked"
        assert whoami(pki, gw, "ok_same_dn")["verdict"]["reason"] == "ok"
        assert whoami(pki, gw, "ok1")["verdict"]["reason"] == "ok"
        after = _health(pki, gw)
        assert after["trust"]["generation"] > before["trust"]["generation"], after
        assert after["trust"]["ca_certificates"] == 4, after
        assert after["last_reload"]["ok"] is True, after

        # The connection opened before the reload still gets answers.
        second = request(keep_alive, "/whoami")
        assert second.status == 200, second
        assert second.json()["client_certificate"] is not None
        third = request(keep_alive, "/healthz")
        assert third.status == 200 and third.json()["trust"]["generation"] == after["trust"]["generation"]
    finally:
        keep_alive.close()


def test_failed_reload_keeps_old_trust_and_reports(pki, gw):
    good_bundle = pki.bundle_pem(["root1", "root1b", "legacy", "root2"])
    gw.write_file("ca-bundle.pem", good_bundle)
    gw.write_file("crls/root1b.crl.pem", open(pki.ca("root1b")["crl_pem"], "rb").read())
    assert gw.reload().get("result") == "ok"
    generation = _health(pki, gw)["trust"]["generation"]

    gw.write_file("ca-bundle.pem", b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    event = gw.reload()
    assert event.get("result") == "failed", event
    assert event.get("error"), event
    assert "ca-bundle.pem" in event["error"], event

    assert gw.alive()
    health = _health(pki, gw)
    assert health["status"] == "serving"
    assert health["last_reload"]["ok"] is False, health
    assert "ca-bundle.pem" in health["last_reload"]["error"], health
    assert health["trust"]["generation"] == generation, health
    # Old trust still in force: root1b (only in the good bundle) still accepted, root1 too.
    assert whoami(pki, gw, "ok_same_dn")["verdict"]["reason"] == "ok"
    assert whoami(pki, gw, "revoked")["verdict"]["reason"] == "revoked"

    gw.write_file("ca-bundle.pem", good_bundle)
    assert gw.reload().get("result") == "ok"
    health = _health(pki, gw)
    assert health["last_reload"]["ok"] is True and not health["last_reload"].get("error"), health
    assert health["trust"]["generation"] > generation


def test_corrupt_crl_fails_reload(pki, gw):
    gw.write_file("crls/root1.crl.pem", b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    event = gw.reload()
    assert event.get("result") == "failed", event
    assert "root1.crl.pem" in event.get("error", ""), event
    assert whoami(pki, gw, "revoked")["verdict"]["reason"] == "revoked"  # old CRL still loaded
    assert gw.alive()


def test_sigterm_exits_cleanly(pki, gw):
    assert whoami(pki, gw, "ok1")["verdict"]["reason"] == "ok"
    assert gw.stop() == 0
    names = [e.get("event") for e in gw.events]
    assert "stopping" in names and "stopped" in names, gw.log_tail()


def _authorize_path(rp, client_id):
    from oidc_helpers import pkce_pair
    import urllib.parse
    _, challenge = pkce_pair()
    return "/authorize?" + urllib.parse.urlencode({
        "client_id": client_id, "redirect_uri": rp.redirect_uri, "response_type": "code", "scope": "openid",
        "state": "st", "code_challenge": challenge, "code_challenge_method": "S256"})


def test_an_open_connection_gets_no_code_once_its_card_is_revoked(pki, fresh_gateways):
    """The card signed the handshake before the reload; the login asked for after it is judged
    under the new CRL, on the same kept-alive connection."""
    from oidc_helpers import CLIENT_ID, CallbackServer, oidc_config
    import harness
    rp = CallbackServer()
    gw = fresh_gateways.new("reload-login")
    try:
        public_port, login_port = harness.free_port(), harness.free_port()
        gw.start(oidc_config(gw, public_port, login_port, rp.redirect_uri))
        keep_alive = tls_connect(pki, login_port, "ok2")
        # A card whose issuing CA is not in the bundle: only the chain it sent in the handshake
        # links it to its root, so judging it again after the reload needs that chain.
        with_chain = tls_connect(pki, login_port, "ok_intermediate")
        try:
            first = request(keep_alive, _authorize_path(rp, CLIENT_ID))
            assert first.status == 302 and "code=" in first.headers["location"], first
            assert request(with_chain, _authorize_path(rp, CLIENT_ID)).status == 302
            pki.make_crl("root1", ["revoked", "ok2"], path=gw.dir + "/crls/root1.crl.pem")
            assert gw.reload().get("result") == "ok"
            second = request(keep_alive, _authorize_path(rp, CLIENT_ID))
            assert second.status == 403, second
            assert "location" not in second.headers
            assert "revoc" in second.body.lower(), second.body[:500]
            again = request(with_chain, _authorize_path(rp, CLIENT_ID))
            assert again.status == 302 and "code=" in again.headers["location"], again
            # Another card on a new connection is still fine.
            assert whoami(pki, gw, "ok1", listener="login")["verdict"]["reason"] == "ok"
        finally:
            keep_alive.close()
            with_chain.close()
        verdicts = [e for e in gw.find_events("certificate_verdict") if e.get("listener") == "login" and e.get("reason") == "revoked"]
        assert verdicts, "the re-judged card was not logged"
    finally:
        rp.close()


def test_a_card_connection_older_than_max_connection_age_is_closed_after_its_response(pki, fresh_gateways):
    gw = fresh_gateways.new("max-age")
    gw.install_trust()
    config = gw.make_config(limits={"max_connection_age": 1.5, "idle_timeout": 30})
    gw.start(config)
    keep_alive = tls_connect(pki, gw.port(), "ok1")
    try:
        first = request(keep_alive, "/healthz")
        assert first.status == 200 and first.headers.get("connection", "").lower() != "close", first.headers
        time.sleep(1.8)
        last = request(keep_alive, "/healthz")
        assert last.status == 200 and last.headers.get("connection", "").lower() == "close", last.headers
        keep_alive.settimeout(3)
        assert keep_alive.recv(1) == b"", "the connection stayed open past max_connection_age"
    finally:
        keep_alive.close()
