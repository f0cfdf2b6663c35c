"""AgID's real trusted list (../shared/data/tsl, never copied into the repository): verified with its
signer pinned, imported, loaded by the trust store, and the CertificateRequest it makes measured."""

import base64
import collections
import datetime
import hashlib
import os
import re
import subprocess
import warnings
import xml.etree.ElementTree as ET

import pytest
from cryptography import x509

import harness
from harness import require_program
from trust_list_helpers import REAL_DATA, change_one_byte, cli, directory_fingerprints, manifest, tsl_config, write_config

LIST = os.path.join(REAL_DATA, "TSL_IT.xml")
SIGNER = os.path.join(REAL_DATA, "TSL_IT.signer.pem")
CIE = harness.real_data("cie")

if not os.path.isfile(LIST):
    print("test_trust_list_real: skipped, %s is absent (the real list lives beside the clone, in ../shared)" % LIST)
    pytest.skip("the real trusted list %s is absent" % LIST, allow_module_level=True)

# cryptography warns about the names longer than X.520's bounds, which are the point here.
pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length")

TSL = "{http://uri.etsi.org/02231/v2#}"
IDV = "http://uri.etsi.org/TrstSvc/Svctype/IdV"
STATUSES = ("http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/recognisedatnationallevel",
            "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted")
NAME_BOUNDS = {"CN": 64, "O": 64, "OU": 64, "L": 128, "ST": 128}


def _der_of(pem_path):
    return subprocess.run(["openssl", "x509", "-in", pem_path, "-outform", "DER"], capture_output=True, check=True).stdout


def _usable_ca(cert):
    """What OpenSSL requires of an issuer: basicConstraints cA and, with keyUsage, keyCertSign."""
    try:
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
    except x509.ExtensionNotFound:
        return False
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        return True


@pytest.fixture(scope="module")
def expected():
    """The selection computed independently of the gateway (ElementTree + cryptography)."""
    root = ET.parse(LIST).getroot()
    services = root.findall(".//%sTSPService" % TSL)
    infos = [s.find(TSL + "ServiceInformation") for s in services]
    idv = [i for i in infos if i.findtext(TSL + "ServiceTypeIdentifier") == IDV]
    wanted, unusable = {}, {}
    for info in idv:
        if info.findtext(TSL + "ServiceStatus") not in STATUSES:
            continue
        for element in info.iter(TSL + "X509Certificate"):
            der = base64.b64decode(element.text)
            cert = x509.load_der_x509_certificate(der)
            target = wanted if _usable_ca(cert) else unusable
            target[hashlib.sha256(der).hexdigest()] = cert
    next_update = datetime.datetime.strptime(root.findtext("%sSchemeInformation/%sNextUpdate/%sdateTime" % (TSL, TSL, TSL)),
                                             "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return {"services": len(services), "idv": len(idv), "wanted": wanted, "unusable": unusable,
            "next_update": next_update, "statuses": collections.Counter(i.findtext(TSL + "ServiceStatus").rsplit("/", 1)[1]
                                                                          for i in idv)}


def _grace(expected):
    """The list's NextUpdate is fixed (2027-01-27); past it, a grace keeps this test about the data."""
    late = (datetime.datetime.now(datetime.timezone.utc) - expected["next_update"]).total_seconds()
    if late <= 0:
        return 0
    if late + 86400 > 365 * 86400:
        pytest.skip("the real list's NextUpdate is more than a year past; refresh ../shared/data/tsl")
    print("the real list is past its NextUpdate by %d s: next_update_grace covers it" % late)
    return int(late + 86400)


@pytest.fixture(scope="module")
def gw(pki, gateways, expected):
    gateway = gateways.new("real-tsl")
    gateway.install_trust()
    listener = gateway.listener(send_ca_names=True)
    config = tsl_config(gateway, [SIGNER], source=LIST, listeners=[listener],
                        extra={"next_update_grace": _grace(expected)})
    config["trust"]["crls"] = []
    write_config(gateway, config)
    gateway.import_result = cli("import", "--config", gateway.config_path, "--json")  # source from the config
    assert gateway.import_result.rc == 0, gateway.import_result
    gateway.start(config)
    return gateway


def test_counts_in_the_data(expected):
    # The data README's 311 counts ServiceTypeIdentifier elements, service history included;
    # the current services of type IdV are 174: 168 recognised at national level, 6 deprecated.
    print("services %d, IdV %d %s, usable CAs %d, not usable %d" % (
        expected["services"], expected["idv"], dict(expected["statuses"]), len(expected["wanted"]), len(expected["unusable"])))
    assert expected["services"] == 560 and expected["idv"] == 174
    assert expected["statuses"] == {"recognisedatnationallevel": 168, "deprecatedatnationallevel": 6}


def test_real_list_verifies_with_the_agid_signer_pinned(gw, expected):
    signer_sha256 = hashlib.sha256(_der_of(SIGNER)).hexdigest()
    result = cli("verify", LIST, "--config", gw.config_path, "--json")
    assert result.rc == 0, result
    report = result.json()
    assert report["accepted"] is True and report["sequence_number"] == 223
    assert report["signer"]["sha256"] == signer_sha256 and report["signer"]["pinned"] is True
    assert "CN=AgID" in report["signer"]["subject"]
    assert report["issue_date"] == "2026-07-27T09:33:49Z" and report["next_update"] == "2027-01-27T10:33:49Z"
    # Pinned by fingerprint alone, without the config, the same verdict.
    by_fingerprint = cli("verify", LIST, "--signer", signer_sha256, "--json")
    if by_fingerprint.json()["reason"] != "past_next_update":
        assert by_fingerprint.rc == 0, by_fingerprint


def test_real_list_is_refused_when_not_pinned():
    result = cli("verify", LIST, "--json")
    assert result.rc == 3 and result.json()["reason"] == "unpinned_signer", result


def test_import_takes_every_usable_recognised_idv_ca_and_nothing_else(gw, expected):
    taken = set(directory_fingerprints(gw))
    assert taken == set(expected["wanted"]), (taken ^ set(expected["wanted"]))
    recorded = manifest(gw)
    assert recorded["sequence_number"] == 223
    assert {e["service_type"] for e in recorded["certificates"]} == {IDV}
    assert {e["status"].rsplit("/", 1)[1] for e in recorded["certificates"]} == {"recognisedatnationallevel"}
    summary = gw.import_result.event("trust_list_import")
    assert summary["ca_certificates"] == len(expected["wanted"]) == 167
    # The one recognised IdV service not taken, and why.
    show = cli("show", LIST, "--config", gw.config_path, "--json").json()
    skipped_idv = [s for s in show["services"] if s["type"] == IDV and s["status"] in STATUSES and not s["taken"]]
    assert [s["certificate"]["sha256"] for s in skipped_idv] == sorted(expected["unusable"])
    assert all(s["reason"] == "not_ca_certificate" and "keyCertSign" in s["detail"] for s in skipped_idv), skipped_idv
    print("taken %d CAs; skipped: %s" % (len(taken), [(s["service"], s["detail"]) for s in skipped_idv]))
    others = [s for s in show["services"] if s["type"] != IDV]
    assert others and not any(s["taken"] for s in others)


def test_import_keeps_long_names_same_names_sha1_and_expired(gw, expected):
    wanted = expected["wanted"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about exactly these names
        long_names = [h for h, c in wanted.items()
                      if any(len(a.value) > NAME_BOUNDS.get(a.rfc4514_attribute_name, 10_000) for a in c.subject)]
    by_name = collections.defaultdict(list)
    for h, c in wanted.items():
        by_name[c.subject.public_bytes()].append(h)
    same_name = [hs for hs in by_name.values() if len(hs) > 1]
    sha1 = [h for h, c in wanted.items() if c.signature_hash_algorithm is not None and c.signature_hash_algorithm.name == "sha1"]
    now = datetime.datetime.now(datetime.timezone.utc)
    expired = [h for h, c in wanted.items() if c.not_valid_after_utc < now]
    print("long names %d, same-name groups %d, SHA-1 %d, expired %d" % (len(long_names), len(same_name), len(sha1), len(expired)))
    assert long_names and same_name and sha1 and expired
    taken = set(directory_fingerprints(gw))
    assert set(long_names) <= taken and set(sha1) <= taken and set(expired) <= taken
    assert all(set(group) <= taken for group in same_name)
    ready = gw.find_events("ready")[0]
    assert ready["ca_certificates"] == len(wanted)  # the trust store loaded every one


@pytest.mark.skipif(not os.path.isdir(CIE), reason="../shared/data/cie is absent")
@pytest.mark.parametrize("name", ["cie-ca-subca1.pem", "cie-ca-subca003.pem"])
def test_both_keys_of_the_cie_root_verify(gw, name):
    """SUBCA1 chains to the 2016 root, SUBCA003 to the 2024 root: same name, two keys, both kept."""
    result = subprocess.run([gw_binary(), "inspect-cert", os.path.join(CIE, name), "--config", gw.config_path, "--json"],
                            capture_output=True, text=True, timeout=60)
    import json
    report = json.loads(result.stdout)
    assert report["chain"]["reason"] == "ok", report["chain"]


def gw_binary():
    from harness import gateway_binary
    return gateway_binary()


def test_one_byte_changed_in_the_real_list_is_refused(gw, tmp_path):
    with open(LIST, "rb") as handle:
        data = handle.read()
    path = str(tmp_path / "TSL_IT-changed.xml")
    with open(path, "wb") as handle:
        handle.write(change_one_byte(data, b"<Name xml:lang=\"en\">CN=Banca d'Ital"))
    result = cli("import", path, "--config", gw.config_path, "--json")
    assert result.rc == 3, result
    assert result.event("trust_list_import")["reason"] == "bad_signature"
    assert manifest(gw)["sequence_number"] == 223 and len(directory_fingerprints(gw)) == 167


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_certificate_request_size_with_the_idv_selection(pki, gw, expected, version):
    """The CA names of the 167 CAs in the CertificateRequest: measured, and within TLS's
    2^16-1 bytes for the certificate_authorities list."""
    require_program("openssl")
    flag = "-tls1_2" if version == "1.2" else "-tls1_3"
    proc = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % gw.port(), flag, "-msg",
                           "-servername", "localhost", "-CAfile", pki.path(pki.manifest["server"]["ca"])],
                          input=b"", capture_output=True, timeout=30)
    output = proc.stdout.decode("utf-8", "replace")
    match = re.search(r"<<< TLS 1\.[23], Handshake \[length ([0-9a-f]+)\], CertificateRequest", output)
    assert match, output[-3000:]
    length = int(match.group(1), 16)
    names = len({c.subject.public_bytes() for c in expected["wanted"].values()})
    print("TLS %s CertificateRequest: %d bytes (%d distinct CA names of %d CAs)" % (version, length, names, len(expected["wanted"])))
    assert 10_000 < length < 65_535


def test_chromium_accepts_the_certificate_request_and_offers_the_card(pki, gateways, gw, tmp_path):
    """The imported 167 CAs plus a hand-made bundle (the test PKI's root1, whose card Chromium
    holds) in one CertificateRequest: Chromium still completes the handshake with the card."""
    from test_pages import POLICY_DIR, Browser
    import json
    gateway = gateways.new("real-tsl-browser")
    gateway.install_trust(bundle_cas=["root1"])
    config = tsl_config(gateway, [SIGNER], extra={"directory": os.path.join(gw.dir, "state", "trust-list"),
                                                  "next_update_grace": gw.config["trust_list"]["next_update_grace"]})
    config["trust"]["ca_bundle"] = "ca-bundle.pem"
    gateway.start(config)
    assert gateway.find_events("ready")[0]["ca_certificates"] == 168
    host, port = gateway.listeners["login"]
    os.makedirs(POLICY_DIR, exist_ok=True)
    policy = os.path.join(POLICY_DIR, "cns-gateway-test-tsl-%d.json" % os.getpid())
    with open(policy, "w") as handle:
        json.dump({"AutoSelectCertificateForUrls": [json.dumps({"pattern": "https://%s:%d" % (host, port), "filter": {}})]}, handle)
    try:
        browser = Browser(pki, tmp_path, pki.path(pki.manifest["pkcs12"]["path"]), pki.manifest["pkcs12"]["password"])
        text = browser.dump_dom(gateway.url("/whoami"))
    finally:
        os.remove(policy)
    assert '"reason":"ok"' in text.replace(" ", "") or '"reason": "ok"' in text, text[:2000]
