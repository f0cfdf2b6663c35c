"""Checks the generated PKI against OpenSSL's own verifier, independently of the gateway.

Run: python3 -m pytest testsuite/pki
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cnspki  # noqa: E402
import codicefiscale  # noqa: E402

# What `openssl verify -auth_level 2 -crl_check_all -purpose sslclient` says per expected reason.
OPENSSL_ERROR = {
    "ok": None,
    "expired": 10,
    "not_yet_valid": 9,
    "revoked": 23,
    "unknown_issuer": 20,
    "bad_signature": 7,
    "weak_legacy_key": 66,
    "signature_certificate": 26,
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.fail("openssl not found: apt-get install openssl")
    return cnspki.generate(str(tmp_path_factory.mktemp("pki")), citizens=3, filler=50)


def _verify(pki, cert, *extra):
    proc = subprocess.run(
        ["openssl", "verify", "-CAfile", pki.path("ca-bundle.pem"),
         "-CRLfile", pki.path(pki.manifest["crls"]["all_pem"]), "-crl_check_all",
         "-untrusted", cert, *extra, cert],
        capture_output=True, text=True)
    match = re.search(r"error (\d+) at", proc.stdout + proc.stderr)
    return int(match.group(1)) if match else (None if proc.returncode == 0 else -1)


@pytest.mark.parametrize("level", [2])
def test_each_variant_gets_the_expected_openssl_verdict(pki, level):
    for entry in pki.citizens():
        expected = OPENSSL_ERROR[entry["expected_reason"]]
        if entry["profile_reason"] == "signature_certificate":
            # The chain is fine; only the sslclient purpose (keyUsage/EKU) rejects it.
            assert _verify(pki, entry["cert"]) is None, entry["name"]
            assert _verify(pki, entry["cert"], "-purpose", "sslclient") == 26, entry["name"]
            continue
        got = _verify(pki, entry["cert"], "-auth_level", str(level), "-purpose", "sslclient")
        assert got == expected, "%s: openssl error %s, expected %s" % (entry["name"], got, expected)


def test_legacy_cards_pass_only_with_relaxed_security_level(pki):
    for name in ("legacy", "legacy_1024_sha256"):
        entry = pki.citizen(name)
        assert _verify(pki, entry["cert"], "-auth_level", "0") is None
        assert _verify(pki, entry["cert"], "-auth_level", "2") == 66
    assert _verify(pki, pki.citizen("legacy")["cert"], "-auth_level", "1") == 68


def test_cns_subject_shape(pki):
    for entry in pki.citizens():
        assert codicefiscale.is_valid(entry["cf"]), entry
        if entry["variant"] == "signature":
            continue
        cf, rest = entry["cn"].split("/", 1)
        card_id, digest = rest.split(".", 1)
        assert cf == entry["cf"] and len(entry["cn"]) == 62
        assert re.fullmatch(r"\d{16}", card_id)
        assert len(digest) == 28 and "/" in digest and "+" in digest
    assert pki.citizen("ok1")["cf"] == "RSSMRA80A01H501U"
    assert pki.citizen("ok_no_gn_sn")["given_name"] is None


def test_stale_crl_and_missing_crl(pki):
    ok1 = pki.citizen("ok1")["cert"]
    stale = pki.path(pki.manifest["crls"]["root1_stale"])
    proc = subprocess.run(["openssl", "verify", "-CAfile", pki.path("ca-bundle.pem"), "-CRLfile", stale,
                           "-crl_check", ok1], capture_output=True, text=True)
    assert "error 12 " in proc.stdout + proc.stderr  # CRL has expired
    proc = subprocess.run(["openssl", "verify", "-CAfile", pki.path("ca-bundle.pem"), "-crl_check", ok1],
                          capture_output=True, text=True)
    assert "error 3 " in proc.stdout + proc.stderr  # unable to get certificate CRL


def test_new_crl_revokes_another_card(pki, tmp_path):
    path = pki.make_crl("root1", ["revoked", "ok2"], path=str(tmp_path / "root1.der"), der=True)
    proc = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", path, "-noout", "-text"],
                          capture_output=True, text=True, check=True)
    assert pki.citizen("ok2")["serial_hex"] in proc.stdout.replace(":", "").upper()
    filler = pki.path(pki.manifest["crls"]["root1_filler"])
    proc = subprocess.run(["openssl", "crl", "-in", filler, "-noout", "-text"],
                          capture_output=True, text=True, check=True)
    assert proc.stdout.count("Serial Number:") == 51


def test_bundle_directory_and_manifest(pki):
    manifest = json.load(open(pki.path("manifest.json")))
    bundle = open(pki.path(manifest["ca_bundle"])).read()
    assert bundle.count("BEGIN CERTIFICATE") == len(manifest["trusted_cas"]) == 4
    assert "unknown" not in manifest["trusted_cas"]
    files = sorted(os.listdir(pki.path("cas")))
    assert any(f.endswith(".der") for f in files) and any(f.endswith(".pem") for f in files)
    assert len(files) == 4
    for entry in manifest["citizens"].values():
        for field in ("cert", "key"):
            assert os.path.exists(pki.path(entry[field])), entry[field]
    proc = subprocess.run(["openssl", "pkcs12", "-in", pki.path(manifest["pkcs12"]["path"]),
                           "-passin", "pass:test", "-nokeys"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert pki.citizen("ok1")["cf"] in proc.stdout
