#!/usr/bin/env python3
"""CIE-shaped test PKI (electronic identity card), made beside the CNS one by cnspki.generate().

The real CIE 3.0 hierarchy (../shared/data/cie/README.md): two roots with one DN, "National root
CA for the Italian Electronic Identity Card" (the 2016 key and the 2024 key); issuing sub-CAs
SUBCA1 and SUBCA002 under the 2016 root, SUBCA003 under the 2024 root only. Every CA here carries
the real CA's name and extensions' shape (subject and authority key identifiers, the roots'
AKID naming their own key, pathlen 0 on the sub-CAs, the CIE policies) with a key made per run:
a leaf names its issuer by DN and AKID, which is how a verifier picks between the two roots.

The leaves have the shape of issue 18: C=IT, SN, GN, CN=<Codice Fiscale>/<12 digits>,
serialNumber=IDCIT-<document number>, no O or OU, policy 1.3.76.47.4, RSA 2048, and neither
extendedKeyUsage nor CRL distribution points nor AIA (not known for the real card), except one
leaf that carries clientAuth and a CRL pointer, so the gateway is seen to accept both.

Library: cnspki.generate() calls extend(pki, now); the CIE cards are pki.citizen("cie_ok") etc.
(manifest "cie_citizens"), their CAs manifest "cie_cas", the bundle manifest "cie_ca_bundle".
"""

import datetime
import os
import warnings

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

import codicefiscale

CIE_AUTH_POLICY = "1.3.76.47.4"
CIE_ROOT_POLICY = "1.3.76.47.1"
CIE_SUBCA_POLICY = "1.3.76.47.2"

_SUFFIX = [("OU", "Direz. Centr. per i Servizi Demografici - CNSD"), ("O", "Ministero dell'Interno"), ("C", "IT")]
ROOT_CN = "National root CA for the Italian Electronic Identity Card"
SUBCA_CN = "Issuing sub CA for the Italian Electronic Identity Card - %s"

# name: (CN, parent, the real certificate's file in ../shared/data/cie, its CRL's file name)
CAS = {
    "cie_root2016": (ROOT_CN, None, "cie-ca-root2016.pem", "cierootca"),
    "cie_root2024": (ROOT_CN, None, "cie-ca-root2024.pem", "cierootca"),
    "cie_subca1": (SUBCA_CN % "SUBCA1", "cie_root2016", "cie-ca-subca1.pem", "ciesubca1"),
    "cie_subca002": (SUBCA_CN % "SUBCA002", "cie_root2016", "cie-ca-subca002.pem", "cierootca"),
    "cie_subca003": (SUBCA_CN % "SUBCA003", "cie_root2024", "cie-ca-subca003.pem", "cierootca"),
}

_PEOPLE = [  # surname, name, birth, female, Belfiore code
    ("ESPOSITO", "CHIARA", datetime.date(1990, 4, 23), True, "F839"),
    ("RUSSO", "ANTONIO", datetime.date(1975, 11, 2), False, "A944"),
    ("FERRARI", "MARTA", datetime.date(2001, 6, 30), True, "L736"),
    ("GALLI", "PAOLO", datetime.date(1968, 2, 14), False, "G273"),
    ("FONTANA", "ELISA", datetime.date(1983, 9, 9), True, "B354"),
]


def _name(cn):
    from cnspki import _NAME_OIDS
    # "... - SUBCA002" and "... - SUBCA003" are 66 characters, past X.520's 64 for a CN: the real
    # certificates carry them anyway, so the copies do too.
    return x509.Name([x509.NameAttribute(_NAME_OIDS[k], v, _validate=False) for k, v in [("CN", cn)] + _SUFFIX])


def _ca_extensions(builder, key, issuer_key, policy, pathlen, crl):
    return (builder
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=pathlen), critical=True)
            # The real roots carry an AKID naming their own key, the sub-CAs their root's.
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
            .add_extension(x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(policy), None)]),
                           critical=False)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier("http://cie.invalid/%s.crl" % crl)], None, None, None)]), critical=False)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
                critical=True))


def _make_ca(pki, name, now):
    from cnspki import CA, YEAR, _der, _fingerprint, _key_pem, _pem, _serial
    cn, parent_name, real, crl = CAS[name]
    key = rsa.generate_private_key(65537, 2048)
    parent = pki.cas[parent_name] if parent_name else None
    issuer_key = parent.key if parent else key
    builder = (x509.CertificateBuilder()
               .subject_name(_name(cn))
               .issuer_name(parent.cert.subject if parent else _name(cn))
               .public_key(key.public_key()).serial_number(_serial())
               .not_valid_before(now - YEAR).not_valid_after(now + 10 * YEAR))
    builder = _ca_extensions(builder, key, issuer_key, CIE_SUBCA_POLICY if parent else CIE_ROOT_POLICY,
                             0 if parent else None, crl)
    cert = builder.sign(issuer_key, hashes.SHA256())
    pki.cas[name] = CA(name, cert, key, parent)
    pki.manifest["cas"][name] = {
        "subject": ", ".join("%s=%s" % kv for kv in [("CN", cn)] + _SUFFIX),
        "cert_pem": pki._write("ca/%s.pem" % name, _pem(cert)),
        "cert_der": pki._write("ca/%s.der" % name, _der(cert)),
        "key": pki._write("private/%s.key" % name, _key_pem(key)),
        "sha256": _fingerprint(cert),
        "in_bundle": False,
        "parent": parent_name,
        "key_bits": 2048,
        "signature": "sha256",
        "serial_hex": "%X" % cert.serial_number,
        "real_certificate": real,
        "kind": "cie",
    }


def _make_card(pki, name, variant, issuer_name, person, now, expected, *, bad_cf=False, eku_and_crl=False, note=""):
    from cnspki import YEAR, _fingerprint, _key_pem, _pem, _serial, _name as name_of
    surname, given, birth, female, belfiore = person
    cf = codicefiscale.codice_fiscale(surname, given, birth, female, belfiore)
    if bad_cf:
        # Same 15 characters, another check letter: the CF no longer validates.
        cf = cf[:15] + ("A" if cf[15] != "A" else "B")
    number = "".join(str(pki._rng.randint(0, 9)) for _ in range(12))
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    document = "CA%05d%s%s" % (pki._rng.randint(0, 99999), pki._rng.choice(letters), pki._rng.choice(letters))
    cn = "%s/%s" % (cf, number)
    pairs = [("C", "IT"), ("SN", surname), ("GN", given), ("CN", cn), ("serialNumber", "IDCIT-" + document)]
    issuer = pki.cas[issuer_name]
    key = pki._pooled_key(len(pki.manifest["citizens"]) + len(pki.manifest["cie_citizens"]))
    not_before = now - YEAR
    not_after = not_before + 10 * YEAR
    builder = (x509.CertificateBuilder()
               .subject_name(name_of(pairs)).issuer_name(issuer.cert.subject)
               .public_key(key.public_key()).serial_number(_serial())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
               .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
                   x509.ObjectIdentifier(CIE_AUTH_POLICY), None)]), critical=False))
    if eku_and_crl:
        builder = (builder
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                   .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                       [x509.UniformResourceIdentifier("http://cie.invalid/%s.crl" % issuer_name)], None, None, None)]),
                       critical=False))
    cert = builder.sign(issuer.key, hashes.SHA256())
    entry = {
        "name": name,
        "kind": "cie",
        "variant": variant,
        "issuer": issuer_name,
        # The leaf alone: the sub-CAs are in the gateway's trust store, as the trusted list has them.
        "cert": pki._write("cie/%s.pem" % name, _pem(cert)),
        "cert_leaf": None,
        "key": pki._write("cie/%s.key" % name, _key_pem(key)),
        "cf": cf,
        "cn": cn,
        "cn_number": number,
        "document_number": document,
        "card_id": None,
        "given_name": given,
        "surname": surname,
        "subject": ", ".join("%s=%s" % kv for kv in pairs),
        "serial": cert.serial_number,
        "serial_hex": "%X" % cert.serial_number,
        "sha256": _fingerprint(cert),
        "not_before": not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "key_bits": key.key_size,
        "signature": "sha256",
        "expected_reason": expected,
        "expected_reason_legacy_trusted": expected,
        "profile_reason": "invalid_fiscal_code" if bad_cf else None,
        "note": note,
    }
    pki.manifest["cie_citizens"][name] = entry
    return cert


def extend(pki, now):
    """Add the CIE CAs, cards, CRLs and bundle to `pki` (before its manifest is written)."""
    with warnings.catch_warnings():
        # cryptography warns about the 66-character sub-CA names, which the real CAs carry.
        warnings.filterwarnings("ignore", message="Attribute's length")
        _extend(pki, now)


def _extend(pki, now):
    pki.manifest["cie_citizens"] = {}
    for name in CAS:
        _make_ca(pki, name, now)
    _make_card(pki, "cie_ok", "ok", "cie_subca1", _PEOPLE[0], now, "ok",
               note="under SUBCA1 and the 2016 root; no EKU, CRLDP or AIA")
    _make_card(pki, "cie_ok_2024", "ok", "cie_subca003", _PEOPLE[1], now, "ok", eku_and_crl=True,
               note="under SUBCA003 and the 2024 root (same DN as the 2016 one); with clientAuth and a CRL pointer")
    _make_card(pki, "cie_ok_subca002", "ok", "cie_subca002", _PEOPLE[2], now, "ok", note="under SUBCA002")
    _make_card(pki, "cie_bad_cf", "invalid_fiscal_code", "cie_subca1", _PEOPLE[3], now, "invalid_fiscal_code",
               bad_cf=True, note="the CF in the CN has a wrong check letter; good chain")
    _make_card(pki, "cie_revoked", "revoked", "cie_subca1", _PEOPLE[4], now, "revoked", note="listed in SUBCA1's CRL")
    # CRLs of the sub-CAs (distinct names). The two roots share one name; which of their CRLs
    # a verifier picks is the trust store's business and not exercised here.
    for name in ("cie_subca1", "cie_subca002", "cie_subca003"):
        revoked = [pki.manifest["cie_citizens"]["cie_revoked"]["serial"]] if name == "cie_subca1" else []
        path = pki.make_crl(name, revoked, path="crl/%s.crl.pem" % name)
        pki.manifest["cas"][name]["crl_pem"] = os.path.relpath(path, pki.out)
    pki.manifest["cie_cas"] = list(CAS)
    pki.manifest["cie_crl_cas"] = ["cie_subca1", "cie_subca002", "cie_subca003"]
    pki.manifest["cie_ca_bundle"] = pki._write("ca-bundle-cie.pem", pki.bundle_pem(list(CAS)))
