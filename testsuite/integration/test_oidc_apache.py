"""Interop: Apache mod_auth_openidc (a stock OIDC client) logs a citizen in through the
gateway with the card, from discovery to the protected page and the claims it received."""

import json
import os
import urllib.parse

import pytest

import harness
from harness import curl
from oidc_apache import ApacheRP
from oidc_helpers import CLIENT_ID, CLIENT_SECRET, oidc_config


@pytest.fixture(scope="module")
def setup(gateways, pki, tmp_path_factory):
    gateway = gateways.new("oidc-apache")
    public_port, login_port, apache_port = harness.free_port(), harness.free_port(), harness.free_port()
    issuer = "https://localhost:%d" % public_port
    apache = ApacheRP(ApacheRP.make_directory(), apache_port, issuer, pki.path(pki.manifest["server"]["ca"]),
                      CLIENT_ID, CLIENT_SECRET)
    try:
        gateway.start(oidc_config(gateway, public_port, login_port, apache.redirect_uri))
        apache.start()
        yield gateway, apache, (public_port, login_port)
    finally:
        apache.stop()


def test_mod_auth_openidc_login_with_the_card(pki, setup, tmp_path):
    gateway, apache, ports = setup
    jar = str(tmp_path / "jar.txt")
    resolve = []
    for port in ports:
        resolve += ["--resolve", "localhost:%d:127.0.0.1" % port]
    result = curl(pki, "http://127.0.0.1:%d/protected/" % apache.port, "ok1",
                  ["-L", "--max-redirs", "8", "-b", jar, "-c", jar] + resolve, timeout=20)
    assert result.status == 200 and "protected content" in result.body, \
        "%r\napache:\n%s\ngateway:\n%s" % (result, apache.log(), gateway.log_tail(20))
    info = curl(pki, "http://127.0.0.1:%d/protected/cb?info=json" % apache.port, None, ["-b", jar])
    assert info.status == 200, info
    session = info.json()
    card = pki.citizen("ok1")
    assert session["id_token"]["sub"] == card["cf"]
    assert session["id_token"]["fiscal_number"] == "TINIT-" + card["cf"]
    assert session["userinfo"]["https://attributes.eid.gov.it/fiscal_number"] == "TINIT-" + card["cf"]


def test_mod_auth_openidc_refused_card_never_reaches_the_page(pki, setup, tmp_path):
    gateway, apache, ports = setup
    jar = str(tmp_path / "jar.txt")
    resolve = []
    for port in ports:
        resolve += ["--resolve", "localhost:%d:127.0.0.1" % port]
    result = curl(pki, "http://127.0.0.1:%d/protected/" % apache.port, "expired",
                  ["-L", "--max-redirs", "8", "-b", jar, "-c", jar] + resolve, timeout=20)
    assert result.status == 403 and "protected content" not in result.body, result
