"""The generated trusted lists are what xmlsec1 itself verifies, and carry what the tests need."""

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cnspki  # noqa: E402
import tslgen  # noqa: E402

TSL = "{http://uri.etsi.org/02231/v2#}"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    if shutil.which("xmlsec1") is None:
        pytest.fail("xmlsec1 not found on PATH: install it (apt-get install xmlsec1)", pytrace=False)
    directory = str(tmp_path_factory.mktemp("tslgen"))
    pki = cnspki.generate(os.path.join(directory, "pki"), citizens=1, filler=0)
    signer = tslgen.make_signer(directory, "Generator signer")
    path = tslgen.write_list(os.path.join(directory, "list.xml"), tslgen.standard_services(pki), signer, sequence=42)
    return path, signer


def _xmlsec_verify(path, cert):
    return subprocess.run(["xmlsec1", "--verify", "--enabled-reference-uris", "empty,same-doc",
                           "--id-attr:Id", "SignedProperties", "--pubkey-cert-pem", cert, path],
                          capture_output=True, text=True)


def test_xmlsec1_verifies_the_generated_list(made):
    path, signer = made
    proc = _xmlsec_verify(path, signer.cert_path)
    assert proc.returncode == 0 and "SignedInfo References (ok/all): 2/2" in proc.stderr, proc.stderr


def test_a_changed_byte_fails_xmlsec1_too(made, tmp_path):
    path, signer = made
    with open(path, "rb") as handle:
        data = handle.read()
    changed = str(tmp_path / "changed.xml")
    with open(changed, "wb") as handle:
        handle.write(data.replace(b"QTSA 3<", b"QTSA 4<", 1))
    assert _xmlsec_verify(changed, signer.cert_path).returncode != 0


def test_shape(made):
    path, _ = made
    root = ET.parse(path).getroot()
    assert root.tag == TSL + "TrustServiceStatusList"
    assert root.findtext("%sSchemeInformation/%sTSLSequenceNumber" % (TSL, TSL)) == "42"
    services = root.findall(".//%sTSPService" % TSL)
    assert len(services) >= 40
    types = {s.findtext("%sServiceInformation/%sServiceTypeIdentifier" % (TSL, TSL)) for s in services}
    assert tslgen.IDV in types and tslgen.CA_QC in types and len(types) >= 5
    assert root[-1].tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"
