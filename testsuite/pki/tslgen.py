#!/usr/bin/env python3
"""ETSI TS 119 612 trusted lists for tests, signed by Debian's `xmlsec1` (an independent signer).

Library:  signer = tslgen.make_signer(dir, "AgID test signer")
          services = tslgen.standard_services(pki, dir)          # 49 services, several types/statuses
          tslgen.write_list(path, services, signer, sequence=10)  # signed with xmlsec1 --sign
CLI:      python3 testsuite/pki/tslgen.py --pki PKI_DIR --out list.xml [--sequence N]

The list has the shape AgID's has: the document element TrustServiceStatusList, one
enveloped ds:Signature as its last child with two references (URI="" with the
enveloped-signature transform, and the XAdES SignedProperties), exclusive c14n, rsa-sha256,
the signer certificate in KeyInfo. Only the XML template is written here; xmlsec1 computes
the digests and the signature.
"""

import argparse
import base64
import datetime
import hashlib
import os
import shutil
import subprocess
import sys
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

IDV = "http://uri.etsi.org/TrstSvc/Svctype/IdV"
CA_QC = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
TSA_QTST = "http://uri.etsi.org/TrstSvc/Svctype/TSA/QTST"
TSS_QC = "http://uri.etsi.org/TrstSvc/Svctype/TSA/TSS-QC"
EDS_Q = "http://uri.etsi.org/TrstSvc/Svctype/EDS/Q"
QES_VALIDATION = "http://uri.etsi.org/TrstSvc/Svctype/QESValidation/Q"
REMOTE_QSIGCD = "http://uri.etsi.org/TrstSvc/Svctype/RemoteQSigCDManagement/Q"

_STATUS = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/"
RECOGNISED = _STATUS + "recognisedatnationallevel"
DEPRECATED = _STATUS + "deprecatedatnationallevel"
GRANTED = _STATUS + "granted"
WITHDRAWN = _STATUS + "withdrawn"

TSL_NS = "http://uri.etsi.org/02231/v2#"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"

DAY = datetime.timedelta(days=1)


def require_xmlsec1():
    path = shutil.which("xmlsec1")
    if path is None:
        raise RuntimeError("xmlsec1 not found on PATH: install it (apt-get install xmlsec1)")
    return path


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _time(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


class Signer:
    def __init__(self, key_path, cert_path, cert):
        self.key_path = key_path
        self.cert_path = cert_path
        self.cert = cert
        self.sha256 = hashlib.sha256(_der(cert)).hexdigest()


def make_signer(directory, common_name, not_before=None, not_after=None):
    """An RSA-2048 key and self-signed certificate for signing lists (as AgID's signer: no CA)."""
    os.makedirs(directory, exist_ok=True)
    now = _now()
    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cns-gateway tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - DAY).not_valid_after(not_after or now + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, True, False, False, False, False, False, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    stem = os.path.join(directory, common_name.replace(" ", "-").lower())
    with open(stem + ".key", "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    with open(stem + ".pem", "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    return Signer(stem + ".key", stem + ".pem", cert)


def filler_ca(common_name, ca=True):
    """A self-signed EC certificate standing in for a TSP's CA (or, ca=False, an end entity)."""
    now = _now()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Filler TSP S.p.A."),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - 365 * DAY).not_valid_after(now + 3650 * DAY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True))
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    return builder.sign(key, hashes.SHA256())


class Service:
    """One TSPService. `cert` is a cryptography certificate or None (X509SubjectName only)."""

    def __init__(self, provider, name, service_type, status, cert, note=""):
        self.provider = provider
        self.name = name
        self.type = service_type
        self.status = status
        self.cert = cert
        self.note = note

    @property
    def sha256(self):
        return hashlib.sha256(_der(self.cert)).hexdigest() if self.cert is not None else None


def _pki_cert(pki, name):
    with open(pki.ca(name)["cert_pem"], "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def standard_services(pki):
    """49 services of several types and statuses. Taken under the default selection (IdV,
    recognised or granted): exactly the test PKI's CNS CAs root1, root1b (same name as root1,
    another key) and root2. The PKI's `unknown` CA is listed only as a qualified-signature CA."""
    services = [
        Service("Regione Demo", "CNS - Regione Demo - CA Cittadini", IDV, RECOGNISED, _pki_cert(pki, "root1"), "cns"),
        Service("Regione Demo", "CNS - Regione Demo - CA Cittadini (renewed key)", IDV, RECOGNISED,
                _pki_cert(pki, "root1b"), "cns"),
        Service("Poste Italiane S.p.A.", "CNS - Regione Seconda - Root CA", IDV, GRANTED, _pki_cert(pki, "root2"), "cns"),
        Service("Ignota S.p.A.", "Ignota - CA firma qualificata", CA_QC, GRANTED, _pki_cert(pki, "unknown"),
                "signature CA only"),
    ]
    for i in range(3):
        services.append(Service("Filler TSP S.p.A.", "CNS - deprecated %d" % i, IDV, DEPRECATED,
                                filler_ca("Deprecated CNS CA %d" % i)))
    for i in range(2):
        services.append(Service("Filler TSP S.p.A.", "CNS - withdrawn %d" % i, IDV, WITHDRAWN,
                                filler_ca("Withdrawn CNS CA %d" % i)))
    services.append(Service("Filler TSP S.p.A.", "CNS - end entity by mistake", IDV, RECOGNISED,
                            filler_ca("Not a CA", ca=False)))
    services.append(Service("Filler TSP S.p.A.", "CNS - listed by name only", IDV, RECOGNISED, None))
    for i in range(15):
        services.append(Service("Qualified TSP %d S.p.A." % (i % 4), "Qualified CA %d" % i, CA_QC, GRANTED,
                                filler_ca("Qualified Signature CA %d" % i)))
    for i in range(5):
        services.append(Service("Qualified TSP %d S.p.A." % (i % 4), "Old qualified CA %d" % i, CA_QC, WITHDRAWN,
                                filler_ca("Old Qualified CA %d" % i)))
    for i in range(8):
        services.append(Service("Time TSP S.p.A.", "QTSA %d" % i, TSA_QTST, GRANTED, filler_ca("QTSA %d" % i)))
    for i in range(4):
        services.append(Service("Time TSP S.p.A.", "TSS %d" % i, TSS_QC, RECOGNISED, filler_ca("TSS %d" % i)))
    for i in range(2):
        services.append(Service("Delivery TSP S.p.A.", "QERDS %d" % i, EDS_Q, GRANTED, filler_ca("QERDS %d" % i)))
    services.append(Service("Validation TSP S.p.A.", "QES validation", QES_VALIDATION, GRANTED, filler_ca("Validator")))
    for i in range(3):
        services.append(Service("Remote TSP S.p.A.", "Remote QSCD %d" % i, REMOTE_QSIGCD, GRANTED,
                                filler_ca("Remote QSCD %d" % i)))
    return services


def _service_xml(service):
    if service.cert is not None:
        identity = "<DigitalId><X509Certificate>%s</X509Certificate></DigitalId>" % base64.b64encode(
            _der(service.cert)).decode()
    else:
        identity = "<DigitalId><X509SubjectName>CN=%s</X509SubjectName></DigitalId>" % escape(service.name)
    return """
                <TSPService>
                    <ServiceInformation>
                        <ServiceTypeIdentifier>%s</ServiceTypeIdentifier>
                        <ServiceName><Name xml:lang="en">%s</Name></ServiceName>
                        <ServiceDigitalIdentity>%s</ServiceDigitalIdentity>
                        <ServiceStatus>%s</ServiceStatus>
                        <StatusStartingTime>2020-01-01T00:00:00Z</StatusStartingTime>
                    </ServiceInformation>
                </TSPService>""" % (service.type, escape(service.name), identity, service.status)


def list_template(services, signer, sequence, issued, next_update):
    """The unsigned list with the signature template xmlsec1 fills in."""
    providers = []
    for service in services:
        if not providers or providers[-1][0] != service.provider:
            providers.append((service.provider, []))
        providers[-1][1].append(service)
    provider_xml = "".join("""
        <TrustServiceProvider>
            <TSPInformation><TSPName><Name xml:lang="en">%s</Name></TSPName></TSPInformation>
            <TSPServices>%s
            </TSPServices>
        </TrustServiceProvider>""" % (escape(name), "".join(_service_xml(s) for s in items)) for name, items in providers)
    next_update_xml = "<dateTime>%s</dateTime>" % _time(next_update) if next_update is not None else ""
    cert_digest = base64.b64encode(hashlib.sha256(_der(signer.cert)).digest()).decode()
    return """<?xml version="1.0" encoding="UTF-8"?>
<TrustServiceStatusList xmlns="%(tsl)s" xmlns:ds="%(ds)s" xmlns:xades="%(xades)s" Id="tsl" TSLTag="http://uri.etsi.org/19612/TSLTag">
    <SchemeInformation>
        <TSLVersionIdentifier>6</TSLVersionIdentifier>
        <TSLSequenceNumber>%(sequence)d</TSLSequenceNumber>
        <TSLType>http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUgeneric</TSLType>
        <SchemeOperatorName><Name xml:lang="en">cns-gateway test scheme operator</Name></SchemeOperatorName>
        <SchemeTerritory>IT</SchemeTerritory>
        <ListIssueDateTime>%(issued)s</ListIssueDateTime>
        <NextUpdate>%(next_update)s</NextUpdate>
    </SchemeInformation>
    <TrustServiceProviderList>%(providers)s
    </TrustServiceProviderList>
<ds:Signature Id="sig"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference Id="ref-list" URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference><ds:Reference Type="http://uri.etsi.org/01903#SignedProperties" URI="#xades-sig"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo><ds:Object><xades:QualifyingProperties Target="#sig"><xades:SignedProperties Id="xades-sig"><xades:SignedSignatureProperties><xades:SigningTime>%(issued)s</xades:SigningTime><xades:SigningCertificateV2><xades:Cert><xades:CertDigest><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>%(cert_digest)s</ds:DigestValue></xades:CertDigest></xades:Cert></xades:SigningCertificateV2></xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties></ds:Object></ds:Signature></TrustServiceStatusList>
""" % {"tsl": TSL_NS, "ds": DS_NS, "xades": XADES_NS, "sequence": sequence, "issued": _time(issued),
       "next_update": next_update_xml, "providers": provider_xml, "cert_digest": cert_digest}


def sign(template_path, out_path, signer, key_path=None):
    """xmlsec1 --sign: digests, signature value and the KeyInfo certificate. `key_path`
    signs with another key under the signer's certificate (xmlsec1 does not check they match)."""
    xmlsec1 = require_xmlsec1()
    proc = subprocess.run([xmlsec1, "--sign", "--privkey-pem", "%s,%s" % (key_path or signer.key_path, signer.cert_path),
                           "--id-attr:Id", "SignedProperties", "--enabled-reference-uris", "empty,same-doc",
                           "--output", out_path, template_path], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("xmlsec1 --sign failed: %s" % proc.stderr)
    return out_path


def write_list(path, services, signer, sequence=10, issued=None, next_update="default", key_path=None):
    """Writes the signed list to `path` (the template beside it, .tmpl). next_update=None: a closed list."""
    issued = issued or (_now() - DAY)
    if next_update == "default":
        next_update = _now() + 180 * DAY
    template = path + ".tmpl"
    with open(template, "w") as handle:
        handle.write(list_template(services, signer, sequence, issued, next_update))
    return sign(template, path, signer, key_path)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write a signed ETSI TS 119 612 test list.")
    parser.add_argument("--pki", required=True, help="directory of a PKI made by cnspki.py")
    parser.add_argument("--out", required=True, help="the signed list (the signer goes beside it)")
    parser.add_argument("--sequence", type=int, default=10)
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cnspki  # noqa: E402
    import json
    pki = cnspki.PKI(args.pki)
    with open(pki.path("manifest.json")) as handle:
        pki.manifest = json.load(handle)
    signer = make_signer(os.path.dirname(os.path.abspath(args.out)), "Test list signer")
    write_list(args.out, standard_services(pki), signer, sequence=args.sequence)
    print(args.out)
    print("signer: %s (SHA-256 %s)" % (signer.cert_path, signer.sha256))
    return 0


if __name__ == "__main__":
    sys.exit(main())
