"""Issue 15, item 1: no client-chosen name becomes a metric label.

Every connection below presents a chain whose names the client made up, to the running gateway,
and reads its verdict through /whoami (which judges the card and counts it in
cns_logins_total). The main shape is the one the review suspected: a forged intermediate
claiming a real root of the bundle. Its signature is RSA like the root's key and its
authorityKeyIdentifier is the root's, so OpenSSL takes the root as its issuer, builds the chain
and finds the signature wrong: `bad_signature`, and the leaf's issuer is whatever the forger
named his intermediate. (Signed with another key type, or naming another key, it never gets
that far: `unknown_issuer`; the other shapes are here too.)

What must hold: the `issuer` label of cns_logins_total names a CA of the bundle, `none` or
`other`, whatever came in; and the number of series on /metrics stays bounded."""

import concurrent.futures
import datetime
import os
import secrets
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import ops_helpers
from harness import read_response, tls_connect

FORGED = 1000      # the suspected shape: forged intermediate claiming root2
OTHERS = 60        # of each other shape
SERIES_GROWTH = 150  # /whoami's request and latency series, a few verdicts and handshakes: far below one per chain

NOW = datetime.datetime.now(datetime.timezone.utc)
CNS_AUTH_POLICY = "1.3.76.16.2.1"


def random_name(tag):
    word = secrets.token_hex(6)
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Attacker %s %s" % (tag, word)),
        x509.NameAttribute(NameOID.COMMON_NAME, "Chosen %s %s" % (tag, word)),
    ])


def ca_builder(subject, issuer, public_key, akid=None):
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))
    if akid is not None:
        builder = builder.add_extension(akid, critical=False)
    return builder


def leaf(issuer_name, issuer_key, public_key, subject=None, akid_key=None):
    subject = subject or x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "REGIONE DEMO"),
        x509.NameAttribute(NameOID.COMMON_NAME, "RSSMRA80A01H501U/1234567890123456.%s" % secrets.token_hex(8)),
    ])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=30))
               .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(CNS_AUTH_POLICY), None)]),
                              critical=False))
    if akid_key is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(akid_key), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


class Chains:
    """Chains of each shape written as PEM files (leaf first), all with one client key."""

    def __init__(self, pki, directory):
        self.dir = str(directory)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.key_path = os.path.join(self.dir, "client.key")
        with open(self.key_path, "wb") as handle:
            handle.write(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                                serialization.NoEncryption()))
        # The forger's keys: RSA for the intermediate's signature (the root's key type), EC for his CA.
        self.rsa = rsa.generate_private_key(65537, 2048)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        with open(pki.ca("root2")["cert_pem"], "rb") as handle:
            self.root2 = x509.load_pem_x509_certificate(handle.read())
        with open(pki.ca("root1")["cert_pem"], "rb") as handle:
            self.root1 = x509.load_pem_x509_certificate(handle.read())
        self.files = []  # (shape, path)

    def _write(self, shape, *certs):
        path = os.path.join(self.dir, "%s-%d.pem" % (shape, len(self.files)))
        with open(path, "wb") as handle:
            handle.write(pem(*certs))
        self.files.append((shape, path))

    def forged_intermediate(self, shape):
        """An intermediate with a name of the forger's, claiming root2 (whose key never signed it)."""
        name = random_name(shape)
        root_ski = self.root2.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        akid = {
            "forged_akid_of_root": x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            "forged_no_akid": None,
            "forged_ecdsa": x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
        }[shape]
        signer = self.ca_key if shape == "forged_ecdsa" else self.rsa
        intermediate = ca_builder(name, self.root2.subject, self.ca_key.public_key(), akid).sign(signer, hashes.SHA256())
        self._write(shape, leaf(name, self.ca_key, self.key.public_key(), akid_key=self.ca_key.public_key()), intermediate)

    def self_signed(self):
        name = random_name("self")
        self._write("self_signed", leaf(name, self.key, self.key.public_key(), subject=name))

    def orphan(self):
        """A leaf naming an issuer nobody sends."""
        self._write("orphan", leaf(random_name("orphan"), self.ca_key, self.key.public_key()))

    def unknown_intermediate(self):
        """A whole chain of the forger's: his root (not sent), his intermediate."""
        root_name, name = random_name("root"), random_name("intermediate")
        intermediate = ca_builder(name, root_name, self.ca_key.public_key()).sign(self.ca_key, hashes.SHA256())
        self._write("unknown_intermediate", leaf(name, self.ca_key, self.key.public_key()), intermediate)

    def claims_real_ca(self):
        """A leaf naming root1 as its issuer, signed by the forger: a bundle CA's name, bad signature."""
        self._write("claims_real_ca", leaf(self.root1.subject, self.rsa, self.key.public_key()))


@pytest.fixture(scope="module")
def gw(gateways):
    gateway = gateways.new("labels")
    config = gateway.make_config()
    config["admin"] = {"address": "127.0.0.1:0"}
    return gateway.start(config)


def verdict(pki, port, cert_path, key_path):
    """The gateway's reason for this chain (/whoami), or the TLS error that ended the handshake."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=pki.path(pki.manifest["server"]["ca"]))
    context.load_cert_chain(cert_path, key_path)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock = context.wrap_socket(raw, server_hostname="localhost")
    except (ssl.SSLError, OSError) as error:
        raw.close()
        return "tls_error:%s" % type(error).__name__
    try:
        sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        response = read_response(sock, timeout=10)
        return response.json()["verdict"]["reason"] if response and response.status == 200 else "http_%s" % response
    finally:
        sock.close()


def series(samples):
    return sum(len(values) for values in samples.values())


def test_client_chosen_issuer_names_never_become_labels(pki, gw, tmp_path):
    chains = Chains(pki, tmp_path)
    for _ in range(FORGED):
        chains.forged_intermediate("forged_akid_of_root")
    for _ in range(OTHERS):
        chains.forged_intermediate("forged_no_akid")
        chains.forged_intermediate("forged_ecdsa")
        chains.self_signed()
        chains.orphan()
        chains.unknown_intermediate()
        chains.claims_real_ca()

    before = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(gw))
    port = gw.port()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda item: (item[0], verdict(pki, port, item[1], chains.key_path)), chains.files))
    after = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(gw))

    by_shape = {}
    for shape, reason in outcomes:
        by_shape.setdefault(shape, {}).setdefault(reason, 0)
        by_shape[shape][reason] += 1
    print("verdicts by shape: %r" % by_shape)
    # Settles the review's question: the forged intermediate claiming a real root is judged
    # bad_signature (OpenSSL builds the chain to the root, then the signature fails).
    assert by_shape["forged_akid_of_root"] == {"bad_signature": FORGED}, by_shape
    assert all(not reason.startswith(("tls_error", "http_")) for reason in
               (r for shapes in by_shape.values() for r in shapes)), by_shape

    bundle = {labels["issuer"] for labels, _ in after["cns_ca_crl_missing"]}
    issuers = {labels["issuer"] for labels, _ in after["cns_logins_total"]}
    chosen = issuers - bundle - {"other", "none"}
    assert not chosen, "%d issuer labels name no CA of the bundle, e.g. %r" % (len(chosen), sorted(chosen)[:3])
    counted = ops_helpers.metric_sum(after, "cns_logins_total") - ops_helpers.metric_sum(before, "cns_logins_total")
    assert counted == len(chains.files), "cns_logins_total moved by %s for %d chains" % (counted, len(chains.files))
    # A forged chain reached root2 (its signature failed there): counted under root2's name.
    root2 = next(labels["issuer"] for labels, _ in after["cns_ca_crl_missing"] if "Regione Seconda - Root CA" in labels["issuer"])
    assert ops_helpers.metric_sum(after, "cns_logins_total", reason="bad_signature", issuer=root2) >= FORGED

    growth = series(after) - series(before)
    assert growth < SERIES_GROWTH, "/metrics grew by %d series for %d chains" % (growth, len(chains.files))
    assert gw.alive()


def test_a_good_card_is_counted_under_its_bundle_ca(pki, gw):
    before = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(gw))
    for citizen in ("ok1", "ok_intermediate"):
        sock = tls_connect(pki, gw.port(), citizen)
        try:
            sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            assert read_response(sock).json()["verdict"]["reason"] == "ok"
        finally:
            sock.close()
    after = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(gw))
    bundle = {labels["issuer"] for labels, _ in after["cns_ca_crl_missing"]}
    moved = {labels["issuer"] for labels, value in after["cns_logins_total"]
             if labels["reason"] == "ok" and value > ops_helpers.metric_sum(before, "cns_logins_total", **labels)}
    # ok1's issuer is root1 (in the bundle); ok_intermediate's is the intermediate the card
    # sends, which the bundle lacks: it counts under root2, the bundle CA its chain reached.
    assert len(moved) == 2 and moved <= bundle, moved
    assert any("Regione Demo - CA Cittadini" in name for name in moved), moved
    assert any("Regione Seconda - Root CA" in name for name in moved), moved
