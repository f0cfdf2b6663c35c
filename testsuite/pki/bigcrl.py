"""A CRL at the size of a large real issuer's (a million entries, tens of megabytes), written
in seconds: the DER is assembled directly (a TBSCertList is a long run of tiny identical-shape
entries), and only the signature goes through `cryptography`. The `cryptography` CRL builder
takes many minutes for a million entries.

    python3 testsuite/pki/bigcrl.py --ca-cert CA.pem --ca-key CA.key --entries 1000000 --out big.crl [--pem] [--revoke SERIAL ...]
"""

import argparse
import datetime
import hashlib
import random
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from cnspki import der_tlv as _tlv


def _integer(value):
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=False)
    if body[0] & 0x80:
        body = b"\x00" + body
    return _tlv(0x02, body)


def _time(moment):
    moment = moment.astimezone(datetime.timezone.utc)
    if 1950 <= moment.year < 2050:
        return _tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())
    return _tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())


SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
SHA256_ECDSA = bytes.fromhex("300a06082a8648ce3d040302")


def build(ca_cert, ca_key, entries, revoke=(), this_update=None, next_update=None, crl_number=1, seed=1, akid=True):
    """The DER of a CRL by `ca_cert` with `entries` random serials plus `revoke`."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    this_update = this_update or now - datetime.timedelta(hours=1)
    next_update = next_update or now + datetime.timedelta(days=7)
    algorithm = SHA256_ECDSA if isinstance(ca_key, ec.EllipticCurvePrivateKey) else SHA256_RSA
    rng = random.Random(seed)
    serials = set(int(s) for s in revoke)
    while len(serials) < entries + len(revoke):
        serials.add(rng.getrandbits(63) | (1 << 62))
    # Sorted, as issuers usually publish them (and as OpenSSL would sort them anyway).
    revoked_time = _time(this_update - datetime.timedelta(minutes=5))
    parts = []
    for serial in sorted(serials):
        body = _integer(serial) + revoked_time
        parts.append(_tlv(0x30, body))
    revoked = _tlv(0x30, b"".join(parts))
    extensions = [_tlv(0x30, bytes.fromhex("0603551d14") + _tlv(0x04, _integer(crl_number)))]
    if akid:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        akid_value = _tlv(0x30, _tlv(0x80, ski))
        extensions.append(_tlv(0x30, bytes.fromhex("0603551d23") + _tlv(0x04, akid_value)))
    crl_extensions = _tlv(0xA0, _tlv(0x30, b"".join(extensions)))
    issuer = ca_cert.subject.public_bytes()
    tbs = _tlv(0x30, _integer(1) + algorithm + issuer + _time(this_update) + _time(next_update) + revoked + crl_extensions)
    if isinstance(ca_key, rsa.RSAPrivateKey):
        signature = ca_key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = ca_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))


def to_pem(der):
    import base64
    text = base64.encodebytes(der).decode().replace("\n", "")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return ("-----BEGIN X509 CRL-----\n" + "\n".join(lines) + "\n-----END X509 CRL-----\n").encode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ca-cert", required=True)
    parser.add_argument("--ca-key", required=True)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--revoke", type=int, nargs="*", default=[])
    parser.add_argument("--out", required=True)
    parser.add_argument("--pem", action="store_true")
    parser.add_argument("--no-akid", action="store_true")
    args = parser.parse_args()
    with open(args.ca_cert, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    with open(args.ca_key, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    der = build(cert, key, args.entries, args.revoke, akid=not args.no_akid)
    with open(args.out, "wb") as handle:
        handle.write(to_pem(der) if args.pem else der)


if __name__ == "__main__":
    main()
