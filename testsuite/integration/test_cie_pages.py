"""Headless Chromium with a CIE-shaped card in its NSS store (issue 18): the CIE's pages in
Italian and English, and a whole CIE login through the OpenID Connect flow in the browser.

The card is the generated CIE PKI's (testsuite/pki/ciepki.py), imported into NSS as test_pages.py
does with the TS-CNS; Chromium presents it through the AutoSelectCertificateForUrls policy
(shared/RECIPES.md). Screenshots go to test-artifacts/ at the repository root (cie-*.png).
"""

import json
import os
import urllib.parse

import pytest

import harness
from oidc_helpers import CLIENT_ID, basic_auth, http_call, pkce_pair, verify_jws
from test_cie import EN, IT, start_cie_gateway
from test_pages import POLICY_DIR, Browser, card_p12, visible_text

CNS_ONLY_CLIENT = "anagrafe"


@pytest.fixture(scope="module")
def gw(gateways, rp):
    """test_cie's gateway (both cards, TLS 1.2 on the login listener), for Chromium."""
    for name in ("chromium", "certutil", "pk12util"):
        harness.require_program(name)
    return start_cie_gateway(gateways, rp, "cie-pages")


@pytest.fixture
def policy(gw):
    """Chromium picks the card for the login listener (by either name); removed at teardown."""
    port = gw.port("login")
    rules = [json.dumps({"pattern": "https://%s:%d" % (host, port), "filter": {}}) for host in ("127.0.0.1", "localhost")]
    os.makedirs(POLICY_DIR, exist_ok=True)
    path = os.path.join(POLICY_DIR, "cns-gateway-test-cie-pages-%d.json" % os.getpid())
    try:
        with open(path, "w") as handle:
            json.dump({"AutoSelectCertificateForUrls": rules}, handle)
    except OSError as error:
        pytest.fail("cannot write the Chromium policy %s (%s): run as root" % (path, error), pytrace=False)
    try:
        yield path
    finally:
        if os.path.exists(path):
            os.remove(path)


def browser_with(pki, tmp_path, card):
    p12, password = card_p12(pki, card, tmp_path)
    return Browser(pki, tmp_path, p12, password)


def authorize_url(gw, rp, client=CLIENT_ID, listener="login"):
    verifier, challenge = pkce_pair()
    params = {"client_id": client, "redirect_uri": rp.redirect_uri, "response_type": "code", "scope": "openid profile fiscal_number",
              "state": "st-browser", "nonce": "nn-browser", "code_challenge": challenge, "code_challenge_method": "S256"}
    base = "https://localhost:%d" % gw.port(listener)
    return base + "/authorize?" + urllib.parse.urlencode(params), verifier


def test_chromium_shows_the_cie_help_and_the_landing_page_in_both_languages(pki, gw, tmp_path):
    browser = Browser(pki, tmp_path)
    for language, table in (("it", IT), ("en", EN)):
        url = gw.url("/cie?lang=%s" % language)
        text = visible_text(browser.dump_dom(url))
        for key in ("heading", "pin_heading", "blocked_heading", "lost_heading"):
            assert table["cie"][key] in text, (language, key, text[:1500])
        assert table["cie"]["pin"][0] in text
        browser.screenshot(url, "cie-help-%s.png" % language, height=2200)
        landing = gw.url("/?lang=%s" % language)
        text = visible_text(browser.dump_dom(landing))
        assert table["landing"]["heading_both"] in text and table["landing"]["cie_heading"] in text, text[:1500]
        browser.screenshot(landing, "cie-landing-both-%s.png" % language, height=3000)
    browser.screenshot(gw.url("/cie?lang=it"), "cie-help-it-360px.png", width=360, height=3200)


def test_chromium_with_a_cie_sees_verifica_with_the_kind_and_the_document_number(pki, gw, policy, tmp_path):
    card = pki.citizen("cie_ok")
    browser = browser_with(pki, tmp_path, "cie_ok")
    for language, table in (("it", IT), ("en", EN)):
        url = gw.url("/verifica?lang=%s" % language)
        text = visible_text(browser.dump_dom(url))
        assert table["verifica"]["accepted_heading"] in text, text[:1500]
        assert table["common"]["kind_cie"] in text and card["document_number"] in text and card["cf"] in text, text[:1500]
        browser.screenshot(url, "cie-verifica-ok-%s.png" % language)
    whoami = json.loads(visible_text(browser.dump_dom(gw.url("/whoami"))))
    assert whoami["verdict"]["card_kind"] == "cie" and whoami["tls_version"] == "TLSv1.2"
    print("Chromium signed the TLS 1.2 handshake with %s" % whoami["client_signature"])
    assert whoami["client_signature"].startswith("rsa_")


def test_chromium_with_a_bad_cie_reaches_the_cie_failure_page(pki, gw, policy, tmp_path):
    browser = browser_with(pki, tmp_path, "cie_bad_cf")
    for language, table in (("it", IT), ("en", EN)):
        url = gw.url("/verifica?lang=%s" % language)
        text = visible_text(browser.dump_dom(url))
        assert table["reasons_cie"]["invalid_fiscal_code"]["title"] in text, text[:1500]
        assert table["verifica"]["refused_heading"] in text
        browser.screenshot(url, "cie-verifica-invalid-fiscal-code-%s.png" % language)


def test_chromium_logs_in_with_a_cie_end_to_end(pki, gw, rp, policy, tmp_path):
    """The browser follows the service's link to /authorize, presents the CIE, and lands on the
    service's callback with a code; the service redeems it for the holder's fiscal_number."""
    card = pki.citizen("cie_ok")
    browser = browser_with(pki, tmp_path, "cie_ok")
    url, verifier = authorize_url(gw, rp)
    before = len(rp.requests)
    text = visible_text(browser.dump_dom(url))
    assert "callback ok" in text, text[:1500]
    # Chromium also asks the service for /favicon.ico: the callback is the request to /cb.
    callbacks = [path for method, path, _ in rp.requests[before:] if method == "GET" and path.startswith("/cb?")]
    assert len(callbacks) == 1, rp.requests[before:]
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callbacks[0]).query))
    assert params["state"] == "st-browser" and "code" in params, params
    status, _, body = http_call(pki, gw.issuer + "/token", {
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": rp.redirect_uri, "code_verifier": verifier,
    }, basic_auth())
    assert status == 200, body
    _, _, jwks = http_call(pki, gw.issuer + "/jwks")
    _, claims = verify_jws(json.loads(body)["id_token"], json.loads(jwks))
    assert claims["fiscal_number"] == "TINIT-" + card["cf"]
    assert claims["acr"] == "urn:cns-gateway:acr:cie" and claims["amr"][-1] == "cie"


def test_chromium_with_a_cie_at_a_ts_cns_only_service_is_told_which_card_it_takes(pki, gw, rp, policy, tmp_path):
    browser = browser_with(pki, tmp_path, "cie_ok")
    for language, table in (("it", IT), ("en", EN)):
        url, _ = authorize_url(gw, rp, client=CNS_ONLY_CLIENT)
        url += "&ui_locales=%s&lang=%s" % (language, language)
        text = visible_text(browser.dump_dom(url))
        assert table["reasons_cie"]["card_kind_not_allowed"]["title"] in text, text[:1500]
        assert table["common"]["kind_cns"] in text
        browser.screenshot(url, "cie-card-kind-not-allowed-%s.png" % language)
