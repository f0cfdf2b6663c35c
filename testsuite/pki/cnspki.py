#!/usr/bin/env python3
"""CNS-shaped test PKI, generated per run and never checked in.

Library:  pki = cnspki.generate(out_dir, citizens=4); pki.citizen("ok1")["cert"]
          pki.make_crl("root1", revoked=["ok2", "revoked"], path=...)
CLI:      python3 testsuite/pki/cnspki.py --out DIR [--citizens N] [--filler 400]

Writes the files below DIR and DIR/manifest.json (paths relative to DIR). Shapes follow
/work/shared/CNS.md. Works with cryptography 38 (Debian 12) up to 48: SHA-1 signatures are
produced by our own DER assembly because newer cryptography refuses to sign with SHA-1.
"""

import argparse
import datetime
import hashlib
import base64
import json
import os
import random
import secrets
import sys

from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID, AuthorityInformationAccessOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa, ec, padding
from cryptography.hazmat.primitives.serialization import pkcs12

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import codicefiscale  # noqa: E402
import ciepki  # noqa: E402

CNS_AUTH_POLICY = "1.3.76.16.2.1"
QC_SIGNATURE_POLICY = "0.4.0.194112.1.2"  # ETSI QCP-n-qscd, as on qualified signature certs
PKCS12_PASSWORD = "test"

DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)
YEAR = datetime.timedelta(days=365)

# sha256WithRSAEncryption and sha1WithRSAEncryption AlgorithmIdentifiers: same length, so a
# TBS built for SHA-256 can be re-labelled for SHA-1 without touching any outer length.
_ALG_SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
_ALG_SHA1_RSA = bytes.fromhex("300d06092a864886f70d0101050500")

# Trusted roots and where each one lands. "der" marks the DER member of the cas/ directory.
_CA_SPECS = {
    # name: (subject, key bits or "ec", sha1 self-signature, pathlen, parent, in bundle, der in cas/)
    "root1": ([("C", "IT"), ("O", "ArubaPEC S.p.A."), ("OU", "Servizi di Certificazione"),
               ("CN", "Regione Demo - CA Cittadini")], 4096, False, 0, None, True, False),
    # Same subject DN as root1, different key (CNS.md 2: several CAs share a DN).
    "root1b": ([("C", "IT"), ("O", "ArubaPEC S.p.A."), ("OU", "Servizi di Certificazione"),
                ("CN", "Regione Demo - CA Cittadini")], 2048, False, 0, None, True, True),
    "legacy": ([("C", "IT"), ("O", "Actalis S.p.A."), ("OU", "Servizi di Certificazione"),
                ("CN", "Regione Legacy - CA Cittadini - 2013")], 2048, True, 0, None, True, False),
    "root2": ([("C", "IT"), ("O", "Poste Italiane S.p.A."), ("OU", "Servizi di Certificazione"),
               ("CN", "Regione Seconda - Root CA")], 2048, False, 1, None, True, True),
    "intermediate": ([("C", "IT"), ("O", "Poste Italiane S.p.A."), ("OU", "Servizi di Certificazione"),
                      ("CN", "Regione Seconda - CA Cittadini")], 2048, False, 0, "root2", False, False),
    "unknown": ([("C", "IT"), ("O", "Ignota S.p.A."), ("OU", "Servizi di Certificazione"),
                 ("CN", "Regione Ignota - CA Cittadini")], 2048, False, 0, None, False, False),
}

_NAME_OIDS = {
    "C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "CN": NameOID.COMMON_NAME,
    "GN": NameOID.GIVEN_NAME, "SN": NameOID.SURNAME, "serialNumber": NameOID.SERIAL_NUMBER,
    "dnQualifier": NameOID.DN_QUALIFIER,
}

# Regional identity per issuing CA: (O of the leaf, OU of the leaf, card id prefix).
_REGION = {
    "root1": ("ArubaPEC S.p.A.", "REGIONE DEMO", "6120016"),
    "root1b": ("ArubaPEC S.p.A.", "REGIONE DEMO", "6120017"),
    "legacy": ("Actalis S.p.A.", "REGIONE LEGACY", "8039002"),
    "intermediate": ("Poste Italiane S.p.A.", "REGIONE SECONDA", "8380001"),
    "unknown": ("Ignota S.p.A.", "REGIONE IGNOTA", "9990001"),
}

_PEOPLE = [  # surname, name, birth, female, Belfiore code
    ("ROSSI", "MARIO", datetime.date(1980, 1, 1), False, "H501"),
    ("BIANCHI", "LAURA", datetime.date(1985, 12, 1), True, "F205"),
    ("VERDI", "GIUSEPPE", datetime.date(1970, 7, 10), False, "L219"),
    ("D'AMICO", "NICOLÒ", datetime.date(1992, 3, 15), False, "D969"),
]
_SURNAMES = ["ESPOSITO", "ROMANO", "COLOMBO", "RICCI", "MARINO", "GRECO", "BRUNO", "GALLO",
             "CONTI", "DE LUCA", "MANCINI", "COSTA", "GIORDANO", "RIZZO", "LOMBARDI", "MORETTI"]
_NAMES_M = ["FRANCESCO", "ALESSANDRO", "LORENZO", "MATTEO", "ANDREA", "GABRIELE", "LUCA", "PIETRO"]
_NAMES_F = ["SOFIA", "GIULIA", "AURORA", "ALICE", "GINEVRA", "EMMA", "GIORGIA", "BEATRICE"]
_BELFIORE = ["H501", "F205", "L219", "D969", "F839", "G273", "A944", "B354", "L736", "Z404"]


def _name(pairs):
    return x509.Name([x509.NameAttribute(_NAME_OIDS[k], v) for k, v in pairs])


def _now():
    # Whole seconds: ASN.1 times have no fractions, and tests compare them.
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def der_length(n):
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def der_tlv(tag, body):
    """One DER TLV with a one-byte tag (bigcrl.py builds its CRLs with it too)."""
    return bytes([tag]) + der_length(len(body)) + body


def _assemble_certificate(tbs, algorithm_identifier, signature):
    bit_string = der_tlv(0x03, b"\x00" + signature)
    return der_tlv(0x30, tbs + algorithm_identifier + bit_string)


def _sign_sha1(builder, key):
    """Certificate signed with sha1WithRSAEncryption, whatever cryptography allows."""
    draft = builder.sign(key, hashes.SHA256())
    tbs = draft.tbs_certificate_bytes
    at = tbs.find(_ALG_SHA256_RSA)
    if at < 0:
        raise RuntimeError("signature AlgorithmIdentifier not found in TBS")
    tbs = tbs[:at] + _ALG_SHA1_RSA + tbs[at + len(_ALG_SHA256_RSA):]
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    return x509.load_der_x509_certificate(_assemble_certificate(tbs, _ALG_SHA1_RSA, signature))


def _corrupt_signature(cert):
    """Same certificate with one bit of the signature flipped (issuer still found by AKI)."""
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    der[-10] ^= 0x01
    return x509.load_der_x509_certificate(bytes(der))


def _fingerprint(cert):
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _serial():
    # 64-bit positive serials like many regional CAs; high bit set keeps the length fixed.
    return secrets.randbits(63) | (1 << 62)


def card_hash(seed):
    """28-char Base64 of 20 bytes containing both '/' and '+' (the CN parser must cope)."""
    counter = 0
    while True:
        digest = hashlib.sha1(("%s:%d" % (seed, counter)).encode()).digest()
        text = base64.b64encode(digest).decode()
        if "/" in text and "+" in text:
            return text
        counter += 1


class CA:
    def __init__(self, name, cert, key, parent=None):
        self.name = name
        self.cert = cert
        self.key = key
        self.parent = parent
        self.crl_number = 0


class PKI:
    """The generated world. Paths in the manifest are relative to `out`; helpers give absolute ones."""

    def __init__(self, out):
        self.out = os.path.abspath(out)
        self.cas = {}
        self.manifest = {"version": 1, "cas": {}, "citizens": {}, "crls": {}}
        self._rng = random.Random(secrets.randbits(64))
        self._key_pool = []

    # ---- paths ---------------------------------------------------------------------------

    def path(self, rel):
        return os.path.join(self.out, rel)

    def _write(self, rel, data):
        full = self.path(rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as handle:
            handle.write(data)
        return rel

    def citizen(self, name):
        """Manifest entry of one citizen (a CNS card, or a CIE one: ciepki.py) with absolute paths."""
        entries = self.manifest["citizens"]
        if name not in entries:
            entries = self.manifest.get("cie_citizens", {})
        entry = dict(entries[name])
        for field in ("cert", "cert_leaf", "key", "p12"):
            if entry.get(field):
                entry[field] = self.path(entry[field])
        return entry

    def citizens(self, variant=None):
        """The CNS cards (the CIE ones: cie_citizens)."""
        return [self.citizen(n) for n, e in self.manifest["citizens"].items()
                if variant is None or e["variant"] == variant]

    def cie_citizens(self, variant=None):
        return [self.citizen(n) for n, e in self.manifest.get("cie_citizens", {}).items()
                if variant is None or e["variant"] == variant]

    def ca(self, name):
        entry = dict(self.manifest["cas"][name])
        for field in ("cert_pem", "cert_der", "key", "crl_pem", "crl_der"):
            if entry.get(field):
                entry[field] = self.path(entry[field])
        return entry

    # ---- keys ----------------------------------------------------------------------------

    def _pooled_key(self, index, pool_size=8):
        # Citizen keys come from a small pool: distinct certificates, cheap to make, and the
        # gateway has no reason to care that two cards share a modulus.
        while len(self._key_pool) < pool_size:
            self._key_pool.append(rsa.generate_private_key(65537, 2048))
        return self._key_pool[index % pool_size]

    # ---- CAs -----------------------------------------------------------------------------

    def _make_ca(self, name, now):
        subject, bits, sha1, pathlen, parent_name, in_bundle, der_in_dir = _CA_SPECS[name]
        key = rsa.generate_private_key(65537, bits)
        parent = self.cas[parent_name] if parent_name else None
        issuer_cert = parent.cert if parent else None
        issuer_key = parent.key if parent else key
        not_before = now - (10 * YEAR if sha1 else YEAR)
        builder = (x509.CertificateBuilder()
                   .subject_name(_name(subject))
                   .issuer_name(issuer_cert.subject if issuer_cert else _name(subject))
                   .public_key(key.public_key())
                   .serial_number(_serial())
                   .not_valid_before(not_before)
                   .not_valid_after(now + 10 * YEAR)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=pathlen), critical=True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=False, content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                  critical=False))
        if issuer_cert is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False)
        cert = _sign_sha1(builder, issuer_key) if sha1 else builder.sign(issuer_key, hashes.SHA256())
        ca = CA(name, cert, key, parent)
        self.cas[name] = ca
        entry = {
            "subject": ", ".join("%s=%s" % kv for kv in subject),
            "cert_pem": self._write("ca/%s.pem" % name, _pem(cert)),
            "cert_der": self._write("ca/%s.der" % name, _der(cert)),
            "key": self._write("private/%s.key" % name, _key_pem(key)),
            "sha256": _fingerprint(cert),
            "in_bundle": in_bundle,
            "parent": parent_name,
            "key_bits": bits,
            "signature": "sha1" if sha1 else "sha256",
            "serial_hex": "%X" % cert.serial_number,
        }
        if in_bundle:
            ext = "der" if der_in_dir else "pem"
            entry["cas_dir_file"] = self._write("cas/%s.%s" % (name, ext),
                                                _der(cert) if der_in_dir else _pem(cert))
        self.manifest["cas"][name] = entry
        return ca

    def _make_server(self, now):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name([("C", "IT"), ("O", "cns-gateway tests"), ("CN", "cns-gateway test server CA")])
        ca_cert = (x509.CertificateBuilder()
                   .subject_name(ca_name).issuer_name(ca_name)
                   .public_key(ca_key.public_key()).serial_number(_serial())
                   .not_valid_before(now - DAY).not_valid_after(now + 5 * YEAR)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                  critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
                   .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        import ipaddress
        cert = (x509.CertificateBuilder()
                .subject_name(_name([("C", "IT"), ("O", "cns-gateway tests"), ("CN", "localhost")]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(_serial())
                .not_valid_before(now - DAY).not_valid_after(now + 2 * YEAR)
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1"))]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                               critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        self.manifest["server"] = {
            "ca": self._write("server/server-ca.pem", _pem(ca_cert)),
            "cert": self._write("server/server.pem", _pem(cert)),
            "chain": self._write("server/server-chain.pem", _pem(cert) + _pem(ca_cert)),
            "key": self._write("server/server.key", _key_pem(key)),
            "names": ["localhost", "127.0.0.1", "::1"],
        }

    # ---- citizens ------------------------------------------------------------------------

    def _person(self, index):
        if index < len(_PEOPLE):
            return _PEOPLE[index]
        female = self._rng.random() < 0.5
        birth = datetime.date(self._rng.randint(1940, 2005), self._rng.randint(1, 12), self._rng.randint(1, 28))
        return (self._rng.choice(_SURNAMES), self._rng.choice(_NAMES_F if female else _NAMES_M),
                birth, female, self._rng.choice(_BELFIORE))

    def _make_citizen(self, name, variant, issuer_name, person, now, expected, *,
                      key=None, sha1=False, not_before=None, not_after=None, gn_sn=True,
                      organisation=True, ou=None, signature_cert=False, crl_dp=False,
                      omocode_level=0, corrupt=False, expected_legacy=None, profile_reason=None,
                      note="", ocsp_url=None):
        surname, given, birth, female, belfiore = person
        cf = codicefiscale.codice_fiscale(surname, given, birth, female, belfiore)
        if omocode_level:
            cf = codicefiscale.omocode(cf, omocode_level)
        org, region, prefix = _REGION[issuer_name]
        card_id = prefix + "".join(str(self._rng.randint(0, 9)) for _ in range(16 - len(prefix)))
        digest = card_hash("%s/%s/%s" % (cf, card_id, name))
        cn = "%s/%s.%s" % (cf, card_id, digest)
        pairs = [("C", "IT")]
        if organisation:
            pairs.append(("O", org))
        pairs.append(("OU", ou or region))
        if signature_cert:
            # Qualified signature certificates carry the CF in serialNumber (CNS.md 1).
            pairs += [("serialNumber", "TINIT-" + cf), ("SN", surname), ("GN", given),
                      ("CN", "%s %s" % (given, surname)), ("dnQualifier", card_id)]
        else:
            pairs.append(("CN", cn))
            if gn_sn:
                pairs += [("GN", given), ("SN", surname)]
        issuer = self.cas[issuer_name]
        if key is None:
            key = self._pooled_key(len(self.manifest["citizens"]))
        not_before = not_before or (now - YEAR)
        not_after = not_after or (not_before + 6 * YEAR)
        builder = (x509.CertificateBuilder()
                   .subject_name(_name(pairs)).issuer_name(issuer.cert.subject)
                   .public_key(key.public_key()).serial_number(_serial())
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                                  critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if signature_cert:
            builder = (builder
                       .add_extension(x509.KeyUsage(False, True, False, False, False, False, False, False, False),
                                      critical=True)
                       .add_extension(x509.CertificatePolicies([
                           x509.PolicyInformation(x509.ObjectIdentifier(QC_SIGNATURE_POLICY), None)]),
                           critical=False))
        else:
            builder = (builder
                       .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False),
                                      critical=True)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH,
                                                             ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                                      critical=False)
                       .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
                           x509.ObjectIdentifier(CNS_AUTH_POLICY),
                           ["https://ca.%s.invalid/cps" % issuer_name])]), critical=False))
        if crl_dp:
            builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier("http://crl.%s.invalid/%s.crl" % (issuer_name, issuer_name))],
                None, None, None)]), critical=False)
        if ocsp_url:
            builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
        cert = _sign_sha1(builder, issuer.key) if sha1 else builder.sign(issuer.key, hashes.SHA256())
        if corrupt:
            cert = _corrupt_signature(cert)

        chain = b""
        ca = issuer
        while ca.parent is not None:  # the client sends intermediates, never the root
            chain += _pem(ca.cert)
            ca = ca.parent
        entry = {
            "name": name,
            "kind": "cns",
            "variant": variant,
            "issuer": issuer_name,
            "cert": self._write("citizens/%s.pem" % name, _pem(cert) + chain),
            "cert_leaf": self._write("citizens/%s.leaf.pem" % name, _pem(cert)) if chain else None,
            "key": self._write("citizens/%s.key" % name, _key_pem(key)),
            "cf": cf,
            "card_id": card_id,
            "card_hash": digest,
            "cn": cn if not signature_cert else "%s %s" % (given, surname),
            "given_name": given if (gn_sn or signature_cert) else None,
            "surname": surname if (gn_sn or signature_cert) else None,
            "subject": ", ".join("%s=%s" % kv for kv in pairs),
            "serial": cert.serial_number,
            "serial_hex": "%X" % cert.serial_number,
            "sha256": _fingerprint(cert),
            "not_before": not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "key_bits": key.key_size,
            "signature": "sha1" if sha1 else "sha256",
            "expected_reason": expected,
            # Same gateway with the issuer listed in trust.legacy_issuers.
            "expected_reason_legacy_trusted": expected_legacy or expected,
            "profile_reason": profile_reason,
            "note": note,
        }
        self.manifest["citizens"][name] = entry
        return cert, key

    def make_card(self, name, issuer_name="root1", **options):
        """One more good card after generation (a test's own), with the next generated person.

        Options as `_make_citizen` (`ocsp_url=` puts an OCSP responder in its Authority
        Information Access). Returns the manifest entry with absolute paths."""
        now = _now()
        person = self._person(len(_PEOPLE) + 100 + len(self.manifest["citizens"]))
        self._make_citizen(name, "ok", issuer_name, person, now, "ok", **options)
        return self.citizen(name)

    def make_ocsp_responder(self, ca_name, name, ocsp_signing=True, days=30):
        """A delegated OCSP responder certificate issued by `ca_name` (with id-kp-OCSPSigning
        unless told otherwise); returns (cert path, key path)."""
        ca = self.cas[ca_name]
        now = _now()
        key = rsa.generate_private_key(65537, 2048)
        builder = (x509.CertificateBuilder()
                   .subject_name(_name([("C", "IT"), ("O", "cns-gateway tests"), ("CN", name)]))
                   .issuer_name(ca.cert.subject).public_key(key.public_key()).serial_number(_serial())
                   .not_valid_before(now - DAY).not_valid_after(now + days * DAY)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                                  critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                                  critical=False))
        if ocsp_signing:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        cert = builder.sign(ca.key, hashes.SHA256())
        return (self.path(self._write("ocsp/%s.pem" % name, _pem(cert))),
                self.path(self._write("ocsp/%s.key" % name, _key_pem(key))))

    # ---- CRLs ----------------------------------------------------------------------------

    def make_crl(self, ca_name, revoked=(), path=None, der=False, last_update=None,
                 next_update=None, filler=0, akid=True):
        """Write a CRL signed by `ca_name`; `revoked` holds citizen names or serial ints.

        The CRL number grows with every call, so a replacement CRL always supersedes the
        previous one. Returns the absolute path. `path` may be relative to the PKI dir.
        `akid=False` leaves out the authorityKeyIdentifier, as some real CAs do.
        """
        ca = self.cas[ca_name]
        ca.crl_number += 1
        now = _now()
        last_update = last_update or (now - datetime.timedelta(hours=1))
        next_update = next_update or (now + 7 * DAY)
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(ca.cert.subject)
                   .last_update(last_update).next_update(next_update)
                   .add_extension(x509.CRLNumber(ca.crl_number), critical=False))
        if akid:
            # AKI lets a verifier tell apart the CRLs of root1 and root1b (same DN).
            builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                                            critical=False)
        serials = []
        for item in revoked:
            serials.append(self.manifest["citizens"][item]["serial"] if isinstance(item, str) else int(item))
        rng = random.Random(ca.crl_number * 7919 + len(serials))
        serials += [rng.getrandbits(63) | (1 << 62) for _ in range(filler)]
        for index, serial in enumerate(serials):
            entry = (x509.RevokedCertificateBuilder()
                     .serial_number(serial)
                     .revocation_date(last_update - datetime.timedelta(minutes=1 + index % 600))
                     .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
                     .build())
            builder = builder.add_revoked_certificate(entry)
        crl = builder.sign(ca.key, hashes.SHA256())
        data = crl.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM)
        if path is None:
            path = "crl/%s-%d.%s" % (ca_name, ca.crl_number, "der" if der else "pem")
        full = path if os.path.isabs(path) else self.path(path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        tmp = full + ".tmp"
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, full)  # atomic: a reload never sees half a CRL
        return full

    def bundle_pem(self, names):
        """Concatenated PEM of the named CA certificates (for custom bundles in tests)."""
        return b"".join(_pem(self.cas[n].cert) for n in names)


def generate(out, citizens=4, filler=400):
    """Build the whole PKI in `out` (created if needed) and return the PKI object."""
    pki = PKI(out)
    os.makedirs(pki.out, exist_ok=True)
    now = _now()
    pki.manifest["generated"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in ("root1", "root1b", "legacy", "root2", "intermediate", "unknown"):
        pki._make_ca(name, now)
    pki._make_server(now)

    for i in range(max(citizens, 1)):
        pki._make_citizen("ok%d" % (i + 1), "ok", "root1", pki._person(i), now, "ok",
                          crl_dp=(i % 2 == 1), omocode_level=(1 if i == 3 else 0),
                          note="omocode CF" if i == 3 else "")
    people = [pki._person(len(_PEOPLE) + i) for i in range(12)]
    pki._make_citizen("ok_intermediate", "ok", "intermediate", people[0], now, "ok",
                      note="cert file holds leaf + intermediate; cert_leaf holds the leaf only")
    pki._make_citizen("ok_same_dn", "ok", "root1b", people[1], now, "ok",
                      note="issuer has the same DN as root1, different key")
    pki._make_citizen("ok_no_gn_sn", "ok", "root1", people[2], now, "ok", gn_sn=False,
                      organisation=False, ou="Universita' della Demo")
    pki._make_citizen("legacy", "legacy", "legacy", people[3], now, "weak_legacy_key",
                      key=rsa.generate_private_key(65537, 1024), sha1=True,
                      not_before=now - 3 * YEAR, expected_legacy="ok",
                      note="RSA-1024 + sha1 leaf (CNS 1.0 card)")
    pki._make_citizen("legacy_1024_sha256", "legacy", "legacy", people[4], now, "weak_legacy_key",
                      key=rsa.generate_private_key(65537, 1024), not_before=now - 2 * YEAR,
                      expected_legacy="ok", note="RSA-1024 + sha256 leaf")
    pki._make_citizen("weak_not_legacy", "weak", "root1", people[5], now, "weak_legacy_key",
                      key=rsa.generate_private_key(65537, 1024), sha1=True,
                      note="RSA-1024 + sha1 under a root NOT listed as legacy: never relaxed")
    pki._make_citizen("expired", "expired", "root1", people[6], now, "expired",
                      not_before=now - 7 * YEAR, not_after=now - 30 * DAY)
    pki._make_citizen("not_yet_valid", "not_yet_valid", "root1", people[7], now, "not_yet_valid",
                      not_before=now + 30 * DAY)
    pki._make_citizen("revoked", "revoked", "root1", people[8], now, "revoked",
                      note="listed in root1's CRL")
    pki._make_citizen("unknown_issuer", "unknown_issuer", "unknown", people[9], now, "unknown_issuer")
    pki._make_citizen("signature", "signature", "root1", people[10], now, "signature_certificate",
                      signature_cert=True, profile_reason="signature_certificate",
                      note="keyUsage nonRepudiation only, no EKU: chain ok, profile check refuses")
    pki._make_citizen("bad_signature", "bad_signature", "root1", people[11], now, "bad_signature", corrupt=True,
                      note="valid shape, one bit of the CA signature flipped")

    # PKCS#12 of the first good card, for browsers (certutil / pk12util / Chromium).
    ok1 = pki.manifest["citizens"]["ok1"]
    with open(pki.path(ok1["cert"]), "rb") as handle:
        ok1_cert = x509.load_pem_x509_certificate(handle.read())
    with open(pki.path(ok1["key"]), "rb") as handle:
        ok1_key = serialization.load_pem_private_key(handle.read(), None)
    p12 = pkcs12.serialize_key_and_certificates(
        ok1["cn"].encode(), ok1_key, ok1_cert, [pki.cas["root1"].cert],
        serialization.BestAvailableEncryption(PKCS12_PASSWORD.encode()))
    ok1["p12"] = pki._write("citizens/ok1.p12", p12)
    pki.manifest["pkcs12"] = {"path": ok1["p12"], "password": PKCS12_PASSWORD, "citizen": "ok1"}

    # CRLs: one per CA in PEM and DER, the crls/ directory with one per trusted CA (mixed).
    for name in ("root1", "root1b", "legacy", "root2", "intermediate", "unknown"):
        revoked = ["revoked"] if name == "root1" else []
        pem_path = pki.make_crl(name, revoked, path="crl/%s.crl.pem" % name)
        pki.cas[name].crl_number -= 1  # the DER twin is the same CRL
        der_path = pki.make_crl(name, revoked, path="crl/%s.crl.der" % name, der=True)
        entry = pki.manifest["cas"][name]
        entry["crl_pem"] = os.path.relpath(pem_path, pki.out)
        entry["crl_der"] = os.path.relpath(der_path, pki.out)
        entry["crl_number"] = pki.cas[name].crl_number
        if name != "unknown":
            der = name in ("root1b", "root2")
            src = der_path if der else pem_path
            with open(src, "rb") as handle:
                entry["crls_dir_file"] = pki._write("crls/%s.%s" % (name, "der" if der else "pem"),
                                                    handle.read())
    crls = pki.manifest["crls"]
    crls["dir"] = "crls"
    crls["root1_stale"] = os.path.relpath(pki.make_crl(
        "root1", ["revoked"], path="crl-extra/root1-stale.pem",
        last_update=now - 30 * DAY, next_update=now - 12 * HOUR), pki.out)
    # Past nextUpdate by more than max_crl_overdue allows by default (one day).
    crls["root1_overdue"] = os.path.relpath(pki.make_crl(
        "root1", ["revoked"], path="crl-extra/root1-overdue.pem",
        last_update=now - 30 * DAY, next_update=now - 3 * DAY), pki.out)
    # The same-name roots' CRLs without authorityKeyIdentifier.
    for name in ("root1", "root1b"):
        crls[name + "_no_akid"] = os.path.relpath(pki.make_crl(
            name, ["revoked"] if name == "root1" else [], path="crl-extra/%s-no-akid.pem" % name, akid=False), pki.out)
    if filler:
        crls["root1_filler"] = os.path.relpath(pki.make_crl(
            "root1", ["revoked"], path="crl-extra/root1-filler%d.pem" % filler, filler=filler), pki.out)
        crls["filler_entries"] = filler
    all_pem = b""
    for name in ("root1", "root1b", "legacy", "root2", "intermediate"):
        with open(pki.path(pki.manifest["cas"][name]["crl_pem"]), "rb") as handle:
            all_pem += handle.read()
    crls["all_pem"] = pki._write("crl-extra/all-trusted.pem", all_pem)  # for nginx ssl_crl

    # The CIE's CAs, cards and CRLs (ciepki.py): outside the CNS bundle, in their own.
    ciepki.extend(pki, now)

    trusted = [n for n, e in pki.manifest["cas"].items() if e["in_bundle"]]
    pki.manifest["ca_bundle"] = pki._write("ca-bundle.pem", pki.bundle_pem(trusted))
    pki.manifest["cas_dir"] = "cas"
    pki.manifest["trusted_cas"] = trusted
    pki.write_manifest()
    return pki


def _write_manifest(self):
    with open(self.path("manifest.json"), "w") as handle:
        json.dump(self.manifest, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")


PKI.write_manifest = _write_manifest


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate a CNS-shaped test PKI.")
    parser.add_argument("--out", required=True, help="output directory (created)")
    parser.add_argument("--citizens", type=int, default=4, help="number of plain 'ok' cards (default 4)")
    parser.add_argument("--filler", type=int, default=400,
                        help="filler entries in the benchmark CRL crl-extra/root1-fillerN.pem (0 = none)")
    args = parser.parse_args(argv)
    pki = generate(args.out, citizens=args.citizens, filler=args.filler)
    print(os.path.join(pki.out, "manifest.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
