"""The CIE (electronic identity card) beside the TS-CNS, issue 18.

The generated CIE PKI (testsuite/pki/ciepki.py: two roots with one DN and two keys, a sub-CA
under each, leaves of the CIE shape) through the real daemon:
- a good CIE logs in end to end through the OpenID Connect flow, over TLS 1.2 with an RSA
  PKCS#1 v1.5 client signature (openssl s_client limited to RSA+SHA256, as the CIE middleware
  is), and the ID token carries the fiscal_number from the CN and a CIE acr/amr;
- a CIE whose CF has a wrong check letter gets invalid_fiscal_code, on a page that speaks of
  the CIE; a TS-CNS still logs in beside it; with [profile] cie = false a CIE gets
  not_cns_certificate;
- a service registered for the TS-CNS only (card_kinds), or asking for the CIE's acr
  (acr_values), refuses the other card with card_kind_not_allowed;
- a TLS 1.3-only login listener: check-config and the log warn, the pages say a CIE cannot log
  in, and a PKCS#1-only signer indeed cannot (no certificate reaches the gateway);
- the real CIE CA certificates (../shared/data/cie, skipped with a printed reason when absent)
  load side by side, both roots, and inspect-cert reads a leaf under a copy of each sub-CA's
  name as a CIE.
"""

import json
import os
import re
import shutil
import subprocess
import urllib.parse

import pytest

import harness
from harness import curl, gateway_binary, require_program, whoami
from oidc_helpers import CLIENT_ID, basic_auth, hash_secret, http_call, oidc_config, pkce_pair, verify_jws

STRINGS_DIR = os.path.join(harness.REPO, "Sources", "Pages", "Resources")
REAL_CIE = harness.real_data("cie")
CIE_ACR = "urn:cns-gateway:acr:cie"
CNS_ACR = "urn:cns-gateway:acr:ts-cns"
CNS_ONLY_CLIENT = "anagrafe"


def strings(language):
    with open(os.path.join(STRINGS_DIR, "strings.%s.json" % language), encoding="utf-8") as handle:
        return json.load(handle)


IT = strings("it")
EN = strings("en")


def install_cie_trust(gateway):
    """The CNS test CAs and the generated CIE ones, with the CRLs of both (the CIE sub-CAs')."""
    manifest = gateway.pki.manifest
    gateway.install_trust(bundle_cas=manifest["trusted_cas"] + manifest["cie_cas"],
                          crl_cas=manifest["trusted_cas"] + ["intermediate"] + manifest["cie_crl_cas"])


def start_cie_gateway(gateways, rp, name):
    """Both cards accepted, a second client that takes TS-CNS cards only; the login listener
    speaks TLS 1.2 only, as a CIE needs."""
    gateway = gateways.new(name)
    install_cie_trust(gateway)
    public_port, login_port = harness.free_port(), harness.free_port()
    config = oidc_config(gateway, public_port, login_port, rp.redirect_uri, extra_clients=[{
        "id": CNS_ONLY_CLIENT, "name": "Anagrafe (TS-CNS only)", "secret_hash": hash_secret("anagrafe-secret-" + "y" * 16),
        "redirect_uris": [rp.redirect_uri], "card_kinds": ["cns"],
    }])
    config["listener"][1]["tls_versions"] = ["1.2"]
    gateway.start(config)
    gateway.issuer = "https://localhost:%d" % public_port
    return gateway


@pytest.fixture(scope="module")
def gw(gateways, rp):
    return start_cie_gateway(gateways, rp, "cie")


def authorize_target(rp, client=CLIENT_ID, extra=None):
    verifier, challenge = pkce_pair()
    params = {"client_id": client, "redirect_uri": rp.redirect_uri, "response_type": "code",
              "scope": "openid profile fiscal_number", "state": "st-cie", "nonce": "nn-cie",
              "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(extra or {})
    return "/authorize?" + urllib.parse.urlencode(params), verifier


def s_client_request(pki, port, card, target, tls="-tls1_2", sigalgs="RSA+SHA256", timeout=20):
    """One request from openssl s_client, the card signing with `sigalgs` only (RSA+SHA256 is
    rsa_pkcs1_sha256: what the CIE middleware can do). Returns (status, headers, body, raw output)."""
    require_program("openssl")
    entry = pki.citizen(card) if isinstance(card, str) else card
    request = ("GET %s HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n\r\n" % (target, port)).encode()
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost", tls,
            "-CAfile", pki.path(pki.manifest["server"]["ca"]), "-verify_return_error", "-ign_eof", "-quiet",
            "-cert", entry["cert"], "-key", entry["key"], "-client_sigalgs", sigalgs]
    proc = subprocess.run(args, input=request, capture_output=True, timeout=timeout)
    out = proc.stdout.decode("utf-8", "replace")
    match = re.search(r"HTTP/1\.1 (\d{3}) [^\r\n]*\r\n(.*?)\r\n\r\n(.*)", out, flags=re.S)
    if not match:
        return None, {}, "", out + proc.stderr.decode("utf-8", "replace")
    headers = {}
    for line in match.group(2).split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(match.group(1)), headers, match.group(3), out


def redeem(pki, gw, rp, code, verifier, auth=None):
    return http_call(pki, gw.issuer + "/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri, "code_verifier": verifier,
    }, auth or basic_auth())


def audit(gw, *extra):
    proc = subprocess.run([gateway_binary(), "audit", "--config", gw.config_path, "--json", *extra],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def visible(markup):
    from test_pages import visible_text
    return visible_text(markup)


# ---- 1. a CIE logs in end to end, over TLS 1.2 with a PKCS#1 v1.5 signature --------------------

def test_a_cie_logs_in_through_the_oidc_flow_over_tls12_with_pkcs1(pki, gw, rp):
    card = pki.citizen("cie_ok")
    target, verifier = authorize_target(rp)
    status, headers, body, raw = s_client_request(pki, gw.port("login"), card, target)
    assert status == 302, "no redirect: %s\n%s" % (raw[-2000:], gw.log_tail(20))
    location = urllib.parse.urlsplit(headers["location"])
    assert location.geturl().startswith(rp.redirect_uri)
    params = dict(urllib.parse.parse_qsl(location.query))
    assert params["state"] == "st-cie" and params["iss"] == gw.issuer
    status, _, body = redeem(pki, gw, rp, params["code"], verifier)
    assert status == 200, body
    tokens = json.loads(body)
    _, jwks_headers, jwks = http_call(pki, gw.issuer + "/jwks")
    _, claims = verify_jws(tokens["id_token"], json.loads(jwks))
    assert claims["sub"] == card["cf"]
    assert claims["fiscal_number"] == "TINIT-" + card["cf"]
    assert claims["https://attributes.eid.gov.it/fiscal_number"] == "TINIT-" + card["cf"]
    assert card["cf"] == card["cn"].split("/")[0], "the CF comes from the CN, not from serialNumber"
    assert claims["given_name"] == card["given_name"] and claims["family_name"] == card["surname"]
    assert claims["acr"] == CIE_ACR
    assert claims["amr"] == ["sc", "pin", "hwk", "cie"]
    assert "cns_card_id" not in claims

    # The same client settings: the gateway saw TLS 1.2 and a PKCS#1 v1.5 CertificateVerify.
    status, _, body, raw = s_client_request(pki, gw.port("login"), card, "/whoami")
    assert status == 200, raw[-2000:]
    seen = json.loads(body)
    assert seen["tls_version"] == "TLSv1.2"
    assert seen["client_signature"] == "rsa_pkcs1_sha256"
    assert seen["verdict"]["reason"] == "ok" and seen["verdict"]["card_kind"] == "cie"
    assert seen["identity"]["kind"] == "cie" and seen["identity"]["document_number"] == card["document_number"]
    assert seen["identity"]["cn_number"] == card["cn_number"]

    records = [r for r in audit(gw) if r.get("cf") == card["cf"] and r["event"] == "login"]
    assert records and records[-1]["reason"] == "ok" and records[-1]["card_kind"] == "cie", records
    event = gw.wait_event(lambda e: e.get("event") == "certificate_verdict" and e.get("card_kind") == "cie"
                          and e.get("reason") == "ok")
    assert event["serial"] == card["serial_hex"]


def test_discovery_advertises_both_acrs(pki, gw):
    status, _, body = http_call(pki, gw.issuer + "/.well-known/openid-configuration")
    assert status == 200
    assert json.loads(body)["acr_values_supported"] == [CNS_ACR, CIE_ACR]


@pytest.mark.parametrize("name", ["cie_ok_2024", "cie_ok_subca002"])
def test_cies_of_both_roots_and_every_sub_ca_are_accepted(pki, gw, name):
    """cie_ok_2024 chains to the 2024 root, whose DN is the 2016 root's; it also carries clientAuth
    and a CRL pointer, which the other CIE leaves lack: the gateway takes both shapes."""
    card = pki.citizen(name)
    seen = whoami(pki, gw, card)
    assert seen["verdict"]["reason"] == "ok", seen
    assert seen["identity"]["kind"] == "cie" and seen["identity"]["fiscal_code"] == card["cf"]


def test_a_cie_with_a_bad_check_letter_gets_invalid_fiscal_code(pki, gw, rp):
    card = pki.citizen("cie_bad_cf")
    seen = whoami(pki, gw, card)
    assert seen["verdict"]["reason"] == "invalid_fiscal_code", seen
    assert seen["verdict"]["chain_reason"] == "ok" and seen["verdict"]["card_kind"] == "cie"
    assert seen["identity"] is None
    # Through the login: the refusal page speaks of the CIE, and the attempt is audited as one.
    target, _ = authorize_target(rp)
    status, _, body, raw = s_client_request(pki, gw.port("login"), card, target)
    assert status == 403, raw[-2000:]
    text = visible(body)
    assert IT["reasons_cie"]["invalid_fiscal_code"]["title"] in text, text[:1500]
    assert "invalid_fiscal_code" in text
    records = [r for r in audit(gw, "--reason", "invalid_fiscal_code") if r.get("card_kind") == "cie"]
    assert records, audit(gw)


def test_a_revoked_cie_is_refused_with_the_cie_wording(pki, gw):
    from test_pages import get
    card = pki.citizen("cie_revoked")
    page = get(pki, gw, "/verifica?lang=en", card)
    assert EN["reasons_cie"]["revoked"]["title"] in page.text, page
    assert card["document_number"] in page.text


def test_a_cns_card_still_logs_in_beside_the_cie(pki, gw, rp):
    card = pki.citizen("ok1")
    target, verifier = authorize_target(rp)
    before = len(rp.requests)
    result = curl(pki, "https://localhost:%d%s" % (gw.port("login"), target), card,
                  ["-L", "--max-redirs", "3", "--resolve", "localhost:%d:127.0.0.1" % gw.port("login")])
    assert len(rp.requests) > before, "no callback: %r\n%s" % (result, gw.log_tail(20))
    params = rp.last_query()
    status, _, body = redeem(pki, gw, rp, params["code"], verifier)
    assert status == 200, body
    _, _, jwks = http_call(pki, gw.issuer + "/jwks")
    _, claims = verify_jws(json.loads(body)["id_token"], json.loads(jwks))
    assert claims["fiscal_number"] == "TINIT-" + card["cf"]
    assert claims["acr"] == CNS_ACR and claims["amr"] == ["sc", "pin", "hwk", "cns"]
    assert whoami(pki, gw, card)["verdict"]["card_kind"] == "cns"


# ---- 2. a service takes one card only --------------------------------------------------------

def test_a_service_registered_for_the_ts_cns_refuses_a_cie(pki, gw, rp):
    card = pki.citizen("cie_ok")
    target, _ = authorize_target(rp, client=CNS_ONLY_CLIENT)
    status, _, body, raw = s_client_request(pki, gw.port("login"), card, target)
    assert status == 403, raw[-2000:]
    text = visible(body)
    assert IT["reasons_cie"]["card_kind_not_allowed"]["title"] in text, text[:1500]
    assert IT["common"]["kind_cns"] in text, "the page names the card the service takes"
    assert "error=unmet_authentication_requirements" in body
    records = [r for r in audit(gw, "--reason", "card_kind_not_allowed") if r["client_id"] == CNS_ONLY_CLIENT]
    assert records and records[-1]["card_kind"] == "cie" and records[-1]["cf"] == card["cf"]


def test_acr_values_asking_for_the_cie_refuses_a_ts_cns_and_takes_a_cie(pki, gw, rp):
    target, _ = authorize_target(rp, extra={"acr_values": CIE_ACR})
    result = curl(pki, "https://localhost:%d%s" % (gw.port("login"), target), "ok1",
                  ["--resolve", "localhost:%d:127.0.0.1" % gw.port("login")])
    assert result.status == 403, result
    assert IT["reasons_cns"]["card_kind_not_allowed"]["title"] in visible(result.body)
    status, headers, _, raw = s_client_request(pki, gw.port("login"), "cie_ok", target)
    assert status == 302 and "code=" in headers["location"], raw[-2000:]


# ---- 3. the CIE switched off -----------------------------------------------------------------

@pytest.fixture(scope="module")
def gw_cie_off(gateways):
    gateway = gateways.new("cie-off")
    install_cie_trust(gateway)
    config = gateway.make_config()
    config["profile"] = {"cie": False}
    return gateway.start(config)


def test_with_cie_off_a_cie_gets_not_cns_certificate(pki, gw_cie_off):
    from test_pages import get
    seen = whoami(pki, gw_cie_off, "cie_ok")
    assert seen["verdict"]["reason"] == "not_cns_certificate", seen
    assert seen["verdict"]["chain_reason"] == "ok" and seen["verdict"]["card_kind"] == "cie"
    assert "cie is off" in seen["profile"]["detail"]
    page = get(pki, gw_cie_off, "/verifica", "cie_ok")
    assert IT["reasons_cie"]["not_cns_certificate"]["title"] in page.text, page
    # The TS-CNS is unaffected, and the landing page offers it alone.
    assert whoami(pki, gw_cie_off, "ok1")["verdict"]["reason"] == "ok"
    landing = get(pki, gw_cie_off, "/")
    assert IT["landing"]["heading"] in landing.text and IT["landing"]["cie_heading"] not in landing.text


# ---- 4. a TLS 1.3-only login listener ----------------------------------------------------------

@pytest.fixture(scope="module")
def gw_tls13(gateways):
    gateway = gateways.new("cie-tls13")
    install_cie_trust(gateway)
    # check-config refuses a key others can read: the listener gets a 0600 copy.
    key = os.path.join(gateway.dir, "server.key")
    shutil.copy(gateway.pki.path(gateway.pki.manifest["server"]["key"]), key)
    os.chmod(key, 0o600)
    return gateway.start(gateway.make_config(listeners=[gateway.listener(tls_versions=["1.3"], private_key=key)]))


def test_tls13_only_is_warned_about_and_the_pages_say_a_cie_cannot_log_in(pki, gw_tls13):
    from test_pages import get
    proc = subprocess.run([gateway_binary(), "check-config", "--config", gw_tls13.config_path],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # (The real CIE roots of the session's bundle have no CRL here: warned about too.)
    warnings = [line for line in proc.stdout.splitlines()
                if line.startswith("warning: ") and "no revocation source" not in line]
    assert len(warnings) == 1 and "listener[0].tls_versions" in warnings[0] and "CIE" in warnings[0], proc.stdout
    assert gw_tls13.find_events("config_warning"), gw_tls13.log_tail()
    for path, table in (("/", IT), ("/cie", IT), ("/?lang=en", EN)):
        page = get(pki, gw_tls13, path)
        assert table["common"]["cie_tls_heading"] in page.text, (path, page)


def test_a_pkcs1_only_signer_cannot_present_its_card_over_tls13(pki, gw_tls13):
    """TLS 1.3 allows RSA-PSS only in a CertificateVerify (RFC 8446 4.2.3): a client that can sign
    PKCS#1 v1.5 only (the CIE middleware) has no way to use its card, and no certificate reaches the
    gateway. The same card with RSA-PSS allowed is accepted: the listener itself is fine."""
    status, _, body, raw = s_client_request(pki, gw_tls13.port(), "cie_ok", "/whoami", tls="-tls1_3")
    assert status == 200, raw[-2000:]
    seen = json.loads(body)
    # OpenSSL's client, finding no signature scheme it may use, sends an empty Certificate.
    assert seen["tls_version"] == "TLSv1.3" and seen["client_certificate"] is None and seen["client_signature"] is None
    assert seen["verdict"]["reason"] == "no_certificate", seen
    status, _, body, raw = s_client_request(pki, gw_tls13.port(), "cie_ok", "/whoami", tls="-tls1_3",
                                            sigalgs="rsa_pss_rsae_sha256")
    assert status == 200, raw[-2000:]
    seen = json.loads(body)
    assert seen["verdict"]["reason"] == "ok" and seen["client_signature"] == "rsa_pss_sha256", seen


# ---- 5. the real CIE CA certificates -----------------------------------------------------------

def _real_cie_or_skip():
    if not os.path.isdir(REAL_CIE):
        print("test_cie: real-CA tests skipped, %s is absent (the real CIE CAs live beside the clone, in ../shared)"
              % REAL_CIE)
        pytest.skip("the real CIE CA folder %s is absent" % REAL_CIE)
    return sorted(f for f in os.listdir(REAL_CIE) if f.endswith(".pem"))


@pytest.fixture(scope="module")
def gw_real(gateways):
    files = _real_cie_or_skip()
    gateway = gateways.new("cie-real")
    bundle = b""
    for name in files:
        with open(os.path.join(REAL_CIE, name), "rb") as handle:
            bundle += handle.read()
    gateway.write_file("ca-bundle.pem", bundle)  # the gateway's own scratch folder, not the repository
    os.makedirs(os.path.join(gateway.dir, "crls"), exist_ok=True)
    gateway.real_files = files
    return gateway.start()


def inspect(gateway, path):
    proc = subprocess.run([gateway_binary(), "inspect-cert", "--json", "--config", gateway.config_path, path],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 3), proc.stderr
    return json.loads(proc.stdout)


def test_the_real_cie_cas_load_side_by_side_both_roots(gw_real):
    assert len(gw_real.real_files) == 5
    assert gw_real.find_events("ready")[0]["ca_certificates"] == 5
    status, _, body = http_call(gw_real.pki, gw_real.url("/healthz"))
    assert status == 200 and json.loads(body)["trust"]["ca_certificates"] == 5
    # SUBCA1 is signed by the 2016 key, SUBCA003 by the 2024 key: both roots are in use.
    for name in ("cie-ca-subca1.pem", "cie-ca-subca002.pem", "cie-ca-subca003.pem"):
        report = inspect(gw_real, os.path.join(REAL_CIE, name))
        assert report["chain"]["reason"] == "ok", (name, report["chain"])


@pytest.mark.parametrize("name, subca", [("cie_ok", "SUBCA1"), ("cie_ok_subca002", "SUBCA002"), ("cie_ok_2024", "SUBCA003")])
def test_inspect_cert_reads_a_leaf_under_each_sub_ca_name_as_a_cie(pki, gw, gw_real, name, subca):
    card = pki.citizen(name)
    assert card["subject"] and subca in pki.manifest["cas"][card["issuer"]]["subject"]
    # Against the real CAs: read as a CIE; the chain fails, since the generated copy's key is not
    # the real sub-CA's (the AKID names another key), whatever the name.
    real = inspect(gw_real, card["cert"])
    assert real["card_kind"] == "cie" and real["identity"]["kind"] == "cie", real
    assert real["identity"]["fiscal_code"] == card["cf"] and real["identity"]["document_number"] == card["document_number"]
    assert real["chain"]["reason"] == "unknown_issuer" and real["accepted"] is False, real["chain"]
    # Against the generated CAs: accepted.
    generated = inspect(gw, card["cert"])
    assert generated["reason"] == "ok" and generated["card_kind"] == "cie", generated
    human = subprocess.run([gateway_binary(), "inspect-cert", card["cert"]], capture_output=True, text=True, timeout=60)
    assert human.returncode == 0 and "card:      cie" in human.stdout and card["document_number"] in human.stdout
