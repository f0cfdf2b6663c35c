"""`cns-gateway inspect-cert --json` says what a live handshake says (issue 3, item 4).

For every generated card: the verdict the running daemon gives in /whoami after a real TLS
handshake, and the verdict `inspect-cert --config` computes from the certificate file with
the same configuration, must agree on the reason code, OpenSSL's code and the identity."""

import json
import os
import shutil
import subprocess

import pytest

from harness import gateway_binary, normalize_hex, whoami
from test_verdicts import VARIANTS


@pytest.fixture(scope="module")
def gw(gateways, pki):
    gateway = gateways.new("inspect")
    gateway.install_trust()
    shutil.copy(pki.ca("legacy")["cert_pem"], os.path.join(gateway.dir, "legacy-root.pem"))
    return gateway.start(gateway.make_config(trust={"legacy_issuers": ["legacy-root.pem"]}))


def inspect(gateway, cert_path, *extra):
    proc = subprocess.run([gateway_binary(), "inspect-cert", "--json", "--config", gateway.config_path, *extra, cert_path],
                          capture_output=True, text=True, timeout=30)
    # 0 = would be accepted, 3 = would be refused; anything else is a failure of the tool.
    assert proc.returncode in (0, 3), "inspect-cert failed (%d): %s" % (proc.returncode, proc.stderr)
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.parametrize("name", VARIANTS)
def test_inspect_cert_matches_the_live_handshake(pki, gw, name):
    card = pki.citizen(name)
    live = whoami(pki, gw, card)
    rc, offline = inspect(gw, card["cert"])
    assert offline["reason"] == live["verdict"]["reason"], (name, offline, live)
    assert offline["chain"]["openssl_code"] == live["verdict"]["openssl_code"], (name, offline, live)
    assert offline["chain"]["reason"] == live["verdict"]["chain_reason"], (name, offline, live)
    assert rc == (0 if offline["reason"] == "ok" else 3)
    assert offline["accepted"] == (offline["reason"] == "ok")
    assert normalize_hex(offline["certificate"]["sha256"]) == normalize_hex(live["client_certificate"]["sha256"])
    if live["identity"] is None:
        assert offline["identity"] is None
    else:
        assert offline["identity"]["fiscal_code"] == live["identity"]["fiscal_code"] == card["cf"]
        assert offline["identity"].get("card_id") == live["identity"].get("card_id")


def test_inspect_cert_reads_der_and_works_without_a_config(pki, gw, tmp_path):
    card = pki.citizen("ok1")
    der = tmp_path / "card.der"
    subprocess.run(["openssl", "x509", "-in", card["cert"], "-outform", "DER", "-out", str(der)], check=True)
    proc = subprocess.run([gateway_binary(), "inspect-cert", "--json", str(der)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["identity"]["fiscal_code"] == card["cf"]
    assert report["chain"] is None  # no trust configuration given: only the profile is judged
    human = subprocess.run([gateway_binary(), "inspect-cert", str(der)], capture_output=True, text=True, timeout=30)
    assert human.returncode == 0 and card["cf"] in human.stdout and "would be accepted" in human.stdout


def test_inspect_cert_rejects_garbage(tmp_path, gw):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n")
    proc = subprocess.run([gateway_binary(), "inspect-cert", "--json", str(bad)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "bad.pem" in proc.stderr
