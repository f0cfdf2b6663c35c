"""Client-certificate verdicts (/whoami) for every card variant, legacy issuers, revocation modes,
`require` mode at the TLS layer, and both TLS versions."""

import os
import shutil

import pytest

from harness import curl, normalize_hex, s_client, whoami

VARIANTS = ["ok1", "ok2", "ok3", "ok4", "ok_intermediate", "ok_same_dn", "ok_no_gn_sn", "legacy",
            "legacy_1024_sha256", "weak_not_legacy", "expired", "not_yet_valid", "revoked",
            "unknown_issuer", "signature", "bad_signature"]


@pytest.fixture(scope="module")
def gw(gateways):
    return gateways.new("optional").start()


@pytest.fixture(scope="module")
def gw_legacy_path(gateways, pki):
    gateway = gateways.new("legacy-path")
    gateway.install_trust()
    shutil.copy(pki.ca("legacy")["cert_pem"], os.path.join(gateway.dir, "legacy-root.pem"))
    # Relative path form, resolved against the config's directory.
    return gateway.start(gateway.make_config(trust={"legacy_issuers": ["legacy-root.pem"]}))


@pytest.fixture(scope="module")
def gw_legacy_fingerprint(gateways, pki):
    gateway = gateways.new("legacy-fp")
    fingerprint = pki.manifest["cas"]["legacy"]["sha256"]  # AB:CD:... with colons
    assert ":" in fingerprint
    return gateway.start(gateway.make_config(trust={"legacy_issuers": [fingerprint]}))


def _check(pki, gateway, name, expected):
    card = pki.citizen(name)
    body = whoami(pki, gateway, card)
    verdict = body.get("verdict") or {}
    allowed = {expected}
    assert verdict.get("reason") in allowed, "%s: got %r, expected %r\nbody: %r" % (name, verdict, allowed, body)
    presented = body.get("client_certificate")
    assert presented, "%s: client_certificate missing although a card was sent: %r" % (name, body)
    assert normalize_hex(presented.get("sha256")) == normalize_hex(card["sha256"]), presented
    if verdict["reason"] == "ok":
        subject = presented.get("subject", "").replace("\\", "")
        assert card["cf"] in subject and card["card_id"] in subject, subject
        if card["variant"] != "signature":
            assert card["cn"] in subject, subject
        assert normalize_hex(presented.get("serial")).lstrip("0") == card["serial_hex"].lstrip("0")
        assert verdict.get("openssl_code") in (0, None) or card["variant"] == "signature"
    return body


@pytest.mark.parametrize("name", VARIANTS)
def test_variant_verdict(pki, gw, name):
    _check(pki, gw, name, pki.citizen(name)["expected_reason"])


def test_no_certificate_completes_handshake(pki, gw):
    body = whoami(pki, gw, None)
    assert body["verdict"]["reason"] == "no_certificate"
    assert body["client_certificate"] is None
    assert body["listener"] == "login"
    assert body["client_address"].startswith("127.0.0.1:")


@pytest.mark.parametrize("name", ["legacy", "legacy_1024_sha256", "weak_not_legacy", "ok1", "revoked"])
def test_legacy_issuer_by_path(pki, gw_legacy_path, name):
    _check(pki, gw_legacy_path, name, pki.citizen(name)["expected_reason_legacy_trusted"])


@pytest.mark.parametrize("name", ["legacy", "legacy_1024_sha256", "weak_not_legacy", "ok1"])
def test_legacy_issuer_by_fingerprint(pki, gw_legacy_fingerprint, name):
    _check(pki, gw_legacy_fingerprint, name, pki.citizen(name)["expected_reason_legacy_trusted"])


def test_weak_key_still_refused_under_non_legacy_root(pki, gw_legacy_path):
    # Listing the legacy root must not relax anything for root1's cards.
    _check(pki, gw_legacy_path, "weak_not_legacy", "weak_legacy_key")


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_tls_versions(pki, gw, tls):
    extra = ["--tlsv1.2", "--tls-max", "1.2"] if tls == "1.2" else ["--tlsv1.3"]
    for name in ("ok1", "revoked", "legacy"):
        body = whoami(pki, gw, name, extra)
        assert body["tls_version"] == "TLSv" + tls, body
        assert body["verdict"]["reason"] == pki.citizen(name)["expected_reason"], (name, body)
    assert whoami(pki, gw, None, extra)["verdict"]["reason"] == "no_certificate"


def test_listener_limited_to_tls13_refuses_tls12(pki, gateways):
    gateway = gateways.new("tls13only")
    gateway.start(gateway.make_config(listeners=[gateway.listener(tls_versions=["1.3"])]))
    result = curl(pki, gateway.url(), "ok1", ["--tlsv1.2", "--tls-max", "1.2"])
    assert result.rc != 0 and result.status == 0, result
    assert whoami(pki, gateway, "ok1", ["--tlsv1.3"])["tls_version"] == "TLSv1.3"


# ---- revocation modes -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gw_missing_crl(gateways):
    """root1b's CRL absent, two listeners' worth of config: require and best-effort gateways."""
    pair = {}
    for mode in ("require", "best-effort"):
        gateway = gateways.new("missing-crl-" + mode)
        gateway.install_trust(crl_cas=["root1", "legacy", "root2", "intermediate"])
        pair[mode] = gateway.start(gateway.make_config(trust={"revocation": mode}))
    return pair


@pytest.fixture(scope="module")
def gw_stale_crl(gateways, pki):
    pair = {}
    for mode in ("require", "best-effort"):
        gateway = gateways.new("stale-crl-" + mode)
        gateway.install_trust(crl_cas=["root1b", "legacy", "root2", "intermediate"],
                              crl_files=[pki.path(pki.manifest["crls"]["root1_stale"])])
        pair[mode] = gateway.start(gateway.make_config(trust={"revocation": mode}))
    return pair


def test_require_revocation_without_crl(pki, gw_missing_crl):
    _check(pki, gw_missing_crl["require"], "ok_same_dn", "revocation_unavailable")
    _check(pki, gw_missing_crl["require"], "ok1", "ok")  # root1's CRL is there
    _check(pki, gw_missing_crl["require"], "ok_intermediate", "ok")  # root2 + intermediate CRLs
    _check(pki, gw_missing_crl["require"], "revoked", "revoked")


def test_best_effort_without_crl(pki, gw_missing_crl):
    _check(pki, gw_missing_crl["best-effort"], "ok_same_dn", "ok")
    _check(pki, gw_missing_crl["best-effort"], "revoked", "revoked")


def test_require_revocation_with_stale_crl(pki, gw_stale_crl):
    _check(pki, gw_stale_crl["require"], "ok1", "revocation_unavailable")
    _check(pki, gw_stale_crl["require"], "ok_same_dn", "ok")  # root1b's CRL is current


def test_best_effort_with_stale_crl(pki, gw_stale_crl):
    _check(pki, gw_stale_crl["best-effort"], "ok1", "ok")
    # A stale CRL still proves that a listed card was revoked.
    _check(pki, gw_stale_crl["best-effort"], "revoked", "revoked")


def test_crls_as_der_files_and_bundle_as_directory(pki, gateways):
    gateway = gateways.new("dir-forms")
    gateway.install_trust()
    cas_dir = os.path.join(gateway.dir, "cas")
    shutil.copytree(pki.path("cas"), cas_dir)
    crl_files = [pki.ca(n)["crl_der"] for n in ("root1", "root1b", "legacy", "root2", "intermediate")]
    gateway.start(gateway.make_config(trust={"ca_bundle": "cas", "crls": crl_files, "revocation": "require"}))
    for name in ("ok1", "ok_same_dn", "ok_intermediate", "revoked", "unknown_issuer"):
        _check(pki, gateway, name, pki.citizen(name)["expected_reason"])
    health = curl(pki, gateway.url("/healthz")).json()
    assert health["trust"]["ca_certificates"] == 4, health
    assert health["trust"]["crls"] == 5, health


# ---- client_certificate = "require" ------------------------------------------------------------

@pytest.fixture(scope="module")
def gw_require(gateways):
    gateway = gateways.new("require")
    return gateway.start(gateway.make_config(listeners=[gateway.listener(client_certificate="require")]))


@pytest.mark.parametrize("tls", ["-tls1_2", "-tls1_3"])
def test_require_mode_refuses_expired_card_in_handshake(pki, gw_require, tls):
    rc, out = s_client(pki, gw_require.port(), "expired", [tls])
    assert "HTTP/1.1 200" not in out, out
    assert "alert" in out.lower() or "handshake failure" in out.lower(), out
    if tls == "-tls1_2":
        assert rc != 0, out


@pytest.mark.parametrize("tls", ["-tls1_2", "-tls1_3"])
def test_require_mode_refuses_missing_card(pki, gw_require, tls):
    rc, out = s_client(pki, gw_require.port(), None, [tls])
    assert "HTTP/1.1 200" not in out, out
    assert "alert" in out.lower(), out


@pytest.mark.parametrize("tls", ["-tls1_2", "-tls1_3"])
def test_require_mode_serves_good_card(pki, gw_require, tls):
    rc, out = s_client(pki, gw_require.port(), "ok1", [tls])
    assert "HTTP/1.1 200" in out, out
    assert '"reason":"ok"' in out.replace(" ", ""), out
    body = whoami(pki, gw_require, "ok2")
    assert body["verdict"]["reason"] == "ok"


def test_require_mode_log_names_the_failure(pki, gw_require):
    start = gw_require.mark()
    s_client(pki, gw_require.port(), "revoked", ["-tls1_2"])
    event = gw_require.wait_event(lambda e: e.get("event") == "tls_handshake_failed", start=start, timeout=5)
    assert "revoked" in str(event), event
    assert gw_require.alive()


# ---- a bound on staleness; same-name CAs ------------------------------------------------------

def test_crl_overdue_past_the_bound_refuses_its_cards_even_in_best_effort(pki, gateways):
    """root1's CRL is 3 days past nextUpdate, max_crl_overdue one day: its cards are refused in
    best-effort mode, and /healthz and /metrics name root1 as overdue."""
    import ops_helpers
    gateway = gateways.new("overdue-crl")
    gateway.install_trust(crl_cas=["root1b", "legacy", "root2", "intermediate"],
                          crl_files=[pki.path(pki.manifest["crls"]["root1_overdue"])])
    config = gateway.make_config(trust={"revocation": "best-effort", "max_crl_overdue": 86400})
    config["admin"] = {"address": "127.0.0.1:0"}
    gateway.start(config)
    _check(pki, gateway, "ok1", "revocation_unavailable")
    _check(pki, gateway, "revoked", "revoked")  # still listed: the most telling reason wins
    _check(pki, gateway, "ok_same_dn", "ok")  # root1b's CRL is current
    root1 = pki.manifest["cas"]["root1"]["subject"].split("CN=")[-1]
    health = curl(pki, gateway.url("/healthz")).json()
    overdue = health["trust"]["revocation"]["overdue"]
    assert any(root1 in name for name in overdue), health
    assert not any(root1 in name for name in health["trust"]["revocation"]["stale"]), health
    samples = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(gateway))
    flagged = [labels["issuer"] for labels, value in samples.get("cns_ca_crl_overdue", []) if value == 1]
    assert len(flagged) == 1 and root1 in flagged[0], samples.get("cns_ca_crl_overdue")


def test_crl_within_the_overdue_bound_is_still_used_in_best_effort(pki, gateways):
    gateway = gateways.new("overdue-within-bound")
    gateway.install_trust(crl_cas=["root1b", "legacy", "root2", "intermediate"],
                          crl_files=[pki.path(pki.manifest["crls"]["root1_overdue"])])
    gateway.start(gateway.make_config(trust={"revocation": "best-effort", "max_crl_overdue": 4 * 86400}))
    _check(pki, gateway, "ok1", "ok")
    health = curl(pki, gateway.url("/healthz")).json()
    root1 = pki.manifest["cas"]["root1"]["subject"].split("CN=")[-1]
    assert any(root1 in name for name in health["trust"]["revocation"]["stale"]), health
    assert health["trust"]["revocation"]["overdue"] == [], health


def test_same_name_cas_with_crls_without_key_identifier(pki, gateways):
    """root1 and root1b share a DN; their CRLs carry no authorityKeyIdentifier. Each CA's cards
    are checked against that CA's own CRL."""
    gateway = gateways.new("same-name-no-akid")
    gateway.install_trust(crl_cas=["legacy", "root2", "intermediate"],
                          crl_files=[pki.path(pki.manifest["crls"]["root1_no_akid"]),
                                     pki.path(pki.manifest["crls"]["root1b_no_akid"])])
    gateway.start(gateway.make_config(trust={"revocation": "require"}))
    _check(pki, gateway, "ok1", "ok")
    _check(pki, gateway, "ok_same_dn", "ok")
    _check(pki, gateway, "revoked", "revoked")
    # root1b revokes its card in a new CRL, still without authorityKeyIdentifier.
    pki.make_crl("root1b", ["ok_same_dn"], path=gateway.dir + "/crls/root1b-no-akid.pem", akid=False)
    assert gateway.reload().get("result") == "ok"
    _check(pki, gateway, "ok_same_dn", "revoked")
    _check(pki, gateway, "ok1", "ok")
