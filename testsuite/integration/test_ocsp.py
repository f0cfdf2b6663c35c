"""OCSP at login ([trust] ocsp): real `openssl ocsp` responders (the CA signing its answers, and
a delegated responder certificate), a responder that is down or hung, and answers a verifier
must refuse (an unrelated key, stale, another serial) from a Python responder. Cards are made
for this module under root1, their Authority Information Access naming the responder; root1's
CRL (loaded by every gateway) does not list them, so whatever refuses them here is OCSP."""

import time
import urllib.parse

import pytest

from harness import free_port, request, tls_connect, whoami
from ocsp_helpers import OpenSSLResponder, PythonResponder
from ops_helpers import fetch_metrics, metric_sum, new_gateway, parse_metrics

TIMEOUT = 2.0


def verdict(pki, gateway, card):
    started = time.monotonic()
    body = whoami(pki, gateway, card)
    return body["verdict"], time.monotonic() - started


@pytest.fixture(scope="module")
def world(pki, tmp_path_factory):
    """The responders and the cards that name them; stopped at module teardown."""
    workdir = tmp_path_factory.mktemp("ocsp")
    closed = free_port()  # nothing listens here: a responder that is down
    ca_port, delegated_port = free_port(), free_port()
    cards = {
        "good": pki.make_card("ocsp_good", ocsp_url="http://127.0.0.1:%d/" % ca_port),
        "cached": pki.make_card("ocsp_cached", ocsp_url="http://127.0.0.1:%d/" % ca_port),
        "revoked": pki.make_card("ocsp_revoked", ocsp_url="http://127.0.0.1:%d/" % ca_port),
        "unknown": pki.make_card("ocsp_unknown", ocsp_url="http://127.0.0.1:%d/" % ca_port),
        "delegated_good": pki.make_card("ocsp_delegated_good", ocsp_url="http://127.0.0.1:%d/" % delegated_port),
        "delegated_revoked": pki.make_card("ocsp_delegated_revoked", ocsp_url="http://127.0.0.1:%d/" % delegated_port),
        "down": pki.make_card("ocsp_down", ocsp_url="http://127.0.0.1:%d/" % closed),
        "no_aia": pki.make_card("ocsp_no_aia"),
    }
    index = [(cards["good"], "V"), (cards["cached"], "V"), (cards["revoked"], "R"),
             (cards["delegated_good"], "V"), (cards["delegated_revoked"], "R")]
    ca_signed = OpenSSLResponder(pki, workdir, cards=index, port=ca_port).start()
    delegated = OpenSSLResponder(pki, workdir, cards=index, port=delegated_port,
                                 signer=pki.make_ocsp_responder("root1", "root1 OCSP responder")).start()
    yield {"cards": cards, "ca_signed": ca_signed, "delegated": delegated}
    ca_signed.stop()
    delegated.stop()


def start(factory, name, mode, extra_toml="", trust=None):
    gateway = new_gateway(factory, name)
    gateway.install_trust()
    config = gateway.make_config(trust=dict({"ocsp": mode, "ocsp_timeout": TIMEOUT}, **(trust or {})))
    config["admin"] = {"address": "127.0.0.1:0"}
    return gateway.start(config, extra_toml=extra_toml)


@pytest.fixture(scope="module")
def require(gateways):
    return start(gateways, "ocsp-require", "require")


@pytest.fixture(scope="module")
def prefer(gateways):
    return start(gateways, "ocsp-prefer", "prefer")


def test_a_good_card_is_ok_by_ocsp_then_from_the_cache_without_a_request(pki, world, require):
    card = world["cards"]["cached"]
    responder = world["ca_signed"]
    before = responder.count()
    first, _ = verdict(pki, require, card)
    assert first["reason"] == "ok" and first["revocation_source"] == "ocsp", first
    assert responder.settled_count(before + 1) == before + 1
    # A second login of the same card, on a new connection, within the answer's lifetime.
    second, _ = verdict(pki, require, card)
    assert second["reason"] == "ok" and second["revocation_source"] == "cache", second
    assert responder.settled_count(before + 1) == before + 1, "the cached answer was asked for again"
    samples = parse_metrics(fetch_metrics(require))
    assert metric_sum(samples, "cns_ocsp_queries_total", responder=responder.url) >= 1
    assert metric_sum(samples, "cns_ocsp_responses_total", responder=responder.url, status="good") >= 1
    assert metric_sum(samples, "cns_ocsp_cache_hits_total") >= 1
    assert metric_sum(samples, "cns_ocsp_latency_seconds_count", responder=responder.url) >= 1
    require.wait_event(lambda e: e.get("event") == "certificate_verdict" and e.get("serial") == card["serial_hex"]
                       and e.get("revocation") == "cache")
    logged = [e for e in require.find_events("certificate_verdict") if e.get("serial") == card["serial_hex"]]
    assert [e.get("revocation") for e in logged] == ["ocsp", "cache"], logged


@pytest.mark.parametrize("gateway_name", ["require", "prefer"])
def test_a_card_the_responder_says_is_revoked_is_refused_though_the_crl_does_not_list_it(pki, world, gateway_name, request):
    gateway = request.getfixturevalue(gateway_name)
    for name in ("revoked", "delegated_revoked"):
        answer, _ = verdict(pki, gateway, world["cards"][name])
        assert answer["reason"] == "revoked", (name, answer)
        assert answer["revocation_source"] in ("ocsp", "cache"), answer


def test_a_delegated_responder_the_ca_authorised_is_believed(pki, world, require):
    before = world["delegated"].count()
    answer, _ = verdict(pki, require, world["cards"]["delegated_good"])
    assert answer["reason"] == "ok" and answer["revocation_source"] == "ocsp", answer
    assert world["delegated"].settled_count(before + 1) == before + 1


def test_unknown_or_no_responder_refuses_under_require_and_falls_back_to_the_crl_under_prefer(pki, world, require, prefer):
    for name in ("unknown", "no_aia"):
        card = world["cards"][name]
        strict, _ = verdict(pki, require, card)
        assert strict["reason"] == "revocation_unavailable" and strict["revocation_source"] == "ocsp", strict
        assert strict.get("ocsp_failure"), strict
        lenient, _ = verdict(pki, prefer, card)
        assert lenient["reason"] == "ok" and lenient["revocation_source"] == "crl", lenient


def test_a_responder_that_is_down_gives_revocation_unavailable_or_the_crl(pki, world, require, prefer):
    card = world["cards"]["down"]
    strict, elapsed = verdict(pki, require, card)
    assert strict["reason"] == "revocation_unavailable", strict
    assert "connect" in strict["ocsp_failure"] or "refused" in strict["ocsp_failure"].lower(), strict
    assert elapsed < TIMEOUT + 1
    lenient, elapsed = verdict(pki, prefer, card)
    assert lenient["reason"] == "ok" and lenient["revocation_source"] == "crl", lenient
    assert elapsed < TIMEOUT + 1


def _root1_override(responder, pki):
    fingerprint = pki.manifest["cas"]["root1"]["sha256"]
    return '[trust.ocsp_responders]\n"%s" = "%s"\n' % (fingerprint, responder.url)


def test_a_hung_responder_costs_at_most_ocsp_timeout(pki, gateways, world):
    hung = PythonResponder(pki, mode="silent")
    try:
        for mode, reason, source in (("require", "revocation_unavailable", "ocsp"), ("prefer", "ok", "crl")):
            gateway = start(gateways, "ocsp-hung-" + mode, mode, extra_toml=_root1_override(hung, pki))
            answer, elapsed = verdict(pki, gateway, world["cards"]["no_aia"])
            assert answer["reason"] == reason and answer["revocation_source"] == source, answer
            assert "timeout" in answer["ocsp_failure"].lower() or "time" in answer["ocsp_failure"].lower(), answer
            assert TIMEOUT - 0.2 < elapsed < TIMEOUT + 1, elapsed
            samples = parse_metrics(fetch_metrics(gateway))
            assert metric_sum(samples, "cns_ocsp_errors_total", responder=hung.url, error="timeout") == 1
            # The gateway kept serving while the query waited (it ran off the loop threads).
            gateway.stop()
        assert len(hung.requests) == 2
    finally:
        hung.stop()


@pytest.mark.parametrize("mode, failure", [
    ("unrelated", "not signed by"),
    ("stale", "nextupdate"),
    ("other_serial", "does not name serial"),
    ("try_later", "trylater"),
    ("garbage", "not a der ocspresponse"),
])
def test_answers_that_fail_a_check_are_refused(pki, gateways, world, mode, failure):
    responder = PythonResponder(pki, mode=mode)
    try:
        gateway = start(gateways, "ocsp-" + mode.replace("_", "-"), "require", extra_toml=_root1_override(responder, pki))
        answer, _ = verdict(pki, gateway, world["cards"]["no_aia"])
        assert answer["reason"] == "revocation_unavailable", answer
        assert failure in answer["ocsp_failure"].lower(), answer
        assert len(responder.requests) == 1
        # The same responder answering correctly is believed: what was refused was the answer
        # (and a refused answer was not kept: the card is asked about again).
        responder.mode = "good"
        good, _ = verdict(pki, gateway, world["cards"]["no_aia"])
        assert good["reason"] == "ok" and good["revocation_source"] == "ocsp", good
        assert len(responder.requests) == 2
        gateway.stop()
    finally:
        responder.stop()


def test_the_configured_responder_replaces_the_certificates_and_small_requests_use_get(pki, gateways, world):
    responder = PythonResponder(pki, mode="revoked")
    try:
        gateway = start(gateways, "ocsp-override", "prefer", extra_toml=_root1_override(responder, pki))
        # The card names a responder that is down; the configured one answers instead.
        answer, _ = verdict(pki, gateway, world["cards"]["down"])
        assert answer["reason"] == "revoked" and answer["revocation_source"] == "ocsp", answer
        assert [method for method, _ in responder.requests] == ["GET"]
        gateway.stop()
    finally:
        responder.stop()


def test_a_login_on_a_card_the_responder_revoked_gets_no_code(pki, world, fresh_gateways):
    from oidc_helpers import CLIENT_ID, CallbackServer, oidc_config, pkce_pair
    import harness
    rp = CallbackServer()
    gateway = new_gateway(fresh_gateways, "ocsp-login")
    try:
        public_port, login_port = harness.free_port(), harness.free_port()
        config = oidc_config(gateway, public_port, login_port, rp.redirect_uri)
        config["trust"].update({"ocsp": "require", "ocsp_timeout": TIMEOUT})
        gateway.start(config)
        _, challenge = pkce_pair()
        path = "/authorize?" + urllib.parse.urlencode({
            "client_id": CLIENT_ID, "redirect_uri": rp.redirect_uri, "response_type": "code", "scope": "openid",
            "state": "st", "code_challenge": challenge, "code_challenge_method": "S256"})
        for name, granted in (("good", True), ("revoked", False)):
            sock = tls_connect(pki, login_port, world["cards"][name])
            try:
                response = request(sock, path)
            finally:
                sock.close()
            if granted:
                assert response.status == 302 and "code=" in response.headers["location"], response
            else:
                assert response.status == 403 and "location" not in response.headers, response
        for reason in ("ok", "revoked"):
            gateway.wait_event(lambda e: e.get("event") == "certificate_verdict" and e.get("listener") == "login"
                               and e.get("reason") == reason and e.get("revocation") == "ocsp")
        gateway.wait_event(lambda e: e.get("event") == "request" and e.get("path", "").startswith("/authorize")
                           and e.get("reason") == "revoked")
    finally:
        rp.close()


def test_inspect_cert_asks_the_responder_as_a_login_would(pki, world, require):
    import json
    import subprocess
    from harness import gateway_binary
    for name, reason, source in (("good", "ok", "ocsp"), ("revoked", "revoked", "ocsp"),
                                 ("unknown", "revocation_unavailable", "ocsp")):
        proc = subprocess.run([gateway_binary(), "inspect-cert", "--json", "--config", require.config_path,
                               world["cards"][name]["cert"]], capture_output=True, text=True, timeout=30)
        report = json.loads(proc.stdout)
        assert report["reason"] == reason and report["chain"]["revocation_source"] == source, (name, report)
        assert proc.returncode == (0 if reason == "ok" else 3), proc
        if reason == "revocation_unavailable":
            assert "does not know" in report["ocsp_failure"], report
