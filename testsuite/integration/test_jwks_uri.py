"""A client registered with `jwks_uri`: the gateway fetches the JWK Set itself over HTTPS (its
own client on OpenSSL, no libcurl), verifying the server's certificate against the system trust
store, which `SSL_CERT_FILE` replaces here with a CA made for this module.

The JWKS servers are Python `ssl` servers on 127.0.0.1: one with a certificate from the trusted
CA, one from a CA the gateway does not trust, one trusted but naming another address. The client
keys are P-256; private_key_jwt assertions (RFC 7523) are signed here with `cryptography`."""

import datetime
import http.server
import ipaddress
import json
import os
import ssl
import threading
import time
import urllib.parse
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import harness
from harness import curl
from oidc_helpers import CallbackServer, b64url, http_call, oidc_config, pkce_pair

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


# ---- a test PKI for the JWKS servers -------------------------------------------------------------

class LocalCA:
    def __init__(self, directory, name):
        now = datetime.datetime.now(datetime.timezone.utc)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (x509.CertificateBuilder()
                     .subject_name(self.name).issuer_name(self.name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.directory = directory
        self.pem_path = os.path.join(directory, name.replace(" ", "-") + ".pem")
        with open(self.pem_path, "wb") as handle:
            handle.write(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, label, san):
        """(certificate path, key path) for a TLS server named by `san` (x509 GeneralNames)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)]))
                .issuer_name(self.name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(san), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        cert_path = os.path.join(self.directory, label + ".pem")
        key_path = os.path.join(self.directory, label + ".key")
        with open(cert_path, "wb") as handle:
            handle.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as handle:
            handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        return cert_path, key_path


LOOPBACK_SAN = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]


class JWKSServer:
    """HTTPS on 127.0.0.1:0 serving one JWK Set at /jwks.json; records each request's path and headers."""

    def __init__(self, cert_path, key_path, jwk_set):
        self.requests = []
        body = json.dumps(jwk_set).encode()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers)))
                found = self.path == "/jwks.json"
                payload = body if found else b"not found\n"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json" if found else "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)
                self.close_connection = True

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A failed handshake (the gateway refusing our certificate) must not stop the server.
        self.server.handle_error = lambda request, address: None
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def uri(self):
        return "https://127.0.0.1:%d/jwks.json" % self.port

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---- client keys and assertions -------------------------------------------------------------------

def public_jwk(key, kid):
    numbers = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))}


def client_assertion(key, kid, client_id, audience):
    header = {"alg": "ES256", "kid": kid, "typ": "JWT"}
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": str(uuid.uuid4()), "iat": now, "exp": now + 60}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


# ---- the world: three JWKS servers, one gateway ----------------------------------------------------

class World:
    pass


@pytest.fixture(scope="module")
def world(gateways, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("jwks-pki"))
    trusted, untrusted = LocalCA(directory, "jwks trusted CA"), LocalCA(directory, "jwks untrusted CA")
    w = World()
    w.key, w.other_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    keys = {"keys": [public_jwk(w.key, "k1")]}
    w.trusted = JWKSServer(*trusted.issue("jwks-trusted", LOOPBACK_SAN), keys)
    w.untrusted = JWKSServer(*untrusted.issue("jwks-untrusted", LOOPBACK_SAN), keys)
    # Trusted, but the certificate names another address and host: the address check must refuse it.
    w.misnamed = JWKSServer(*trusted.issue("jwks-misnamed", [x509.DNSName("jwks.invalid"),
                                                              x509.IPAddress(ipaddress.ip_address("127.0.0.2"))]), keys)
    w.rp = CallbackServer()

    gateway = gateways.new("jwks-uri")
    public_port, login_port = harness.free_port(), harness.free_port()
    clients = [{"id": client_id, "name": client_id, "jwks_uri": server.uri, "redirect_uris": [w.rp.redirect_uri]}
               for client_id, server in (("jwt-trusted", w.trusted), ("jwt-untrusted", w.untrusted),
                                         ("jwt-misnamed", w.misnamed))]
    config = oidc_config(gateway, public_port, login_port, w.rp.redirect_uri, extra_clients=clients)
    with pytest.MonkeyPatch.context() as env:
        # The gateway's whole system trust store becomes this one CA (OpenSSL reads the variables).
        env.setenv("SSL_CERT_FILE", trusted.pem_path)
        env.setenv("SSL_CERT_DIR", directory + "/no-such-dir")
        gateway.start(config)
    gateway.issuer = "https://localhost:%d" % public_port
    w.gw = gateway
    yield w
    for server in (w.trusted, w.untrusted, w.misnamed, w.rp):
        server.close()


def fetch_failures(gw):
    return {e.get("client_id"): e.get("error", "") for e in gw.find_events("oidc_jwks_fetch_failed")}


def authorization_code(pki, w, client_id):
    """The browser (curl with the card) through /authorize to the callback; (code, PKCE verifier)."""
    verifier, challenge = pkce_pair()
    query = urllib.parse.urlencode({"client_id": client_id, "redirect_uri": w.rp.redirect_uri, "response_type": "code",
                                    "scope": "openid", "state": "st", "nonce": "nn",
                                    "code_challenge": challenge, "code_challenge_method": "S256"})
    before = len(w.rp.requests)
    resolve = []
    for name in ("public", "login"):
        resolve += ["--resolve", "localhost:%d:127.0.0.1" % w.gw.port(name)]
    result = curl(pki, w.gw.issuer + "/authorize?" + query, "ok1", ["-L", "--max-redirs", "5"] + resolve)
    params = w.rp.last_query() if len(w.rp.requests) > before else {}
    assert "code" in params, "no code at the callback: %r\n%s" % (result, w.gw.log_tail(20))
    return params["code"], verifier


def token_request(pki, w, client_id, code, verifier, key, kid="k1"):
    """POST /token authenticated with private_key_jwt, sent to 127.0.0.1; (status, JSON body)."""
    assertion = client_assertion(key, kid, client_id, w.gw.issuer + "/token")
    status, _, body = http_call(pki, "https://127.0.0.1:%d/token" % w.gw.port("public"), {
        "grant_type": "authorization_code", "code": code, "redirect_uri": w.rp.redirect_uri, "code_verifier": verifier,
        "client_id": client_id, "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion,
    })
    return status, json.loads(body), assertion


# ---- tests ------------------------------------------------------------------------------------------

def test_jwks_is_fetched_with_one_strict_get(world):
    assert "jwt-trusted" not in fetch_failures(world.gw), world.gw.log_tail(20)
    assert len(world.trusted.requests) == 1
    path, headers = world.trusted.requests[0]
    assert path == "/jwks.json"
    assert headers["Host"] == "127.0.0.1:%d" % world.trusted.port
    assert headers["Accept"] == "application/json"
    assert headers["Connection"] == "close"
    assert headers["User-Agent"].startswith("cns-gateway")


def test_assertion_signed_with_the_fetched_key_is_accepted(pki, world):
    code, verifier = authorization_code(pki, world, "jwt-trusted")
    status, body, assertion = token_request(pki, world, "jwt-trusted", code, verifier, world.key)
    assert status == 200, body
    assert body["token_type"].lower() == "bearer" and body["id_token"] and body["access_token"]
    # No key material, assertion or token reaches the log.
    log = json.dumps(world.gw.events) + "\n".join(world.gw.stderr)
    for secret in (assertion, body["access_token"], body["id_token"], public_jwk(world.key, "k1")["x"]):
        assert secret not in log


def test_assertion_signed_with_another_key_is_refused(pki, world):
    code, verifier = authorization_code(pki, world, "jwt-trusted")
    status, body, _ = token_request(pki, world, "jwt-trusted", code, verifier, world.other_key)
    assert status == 401 and body["error"] == "invalid_client", body
    # The refused request did not use the code up: the right key still redeems it.
    status, body, _ = token_request(pki, world, "jwt-trusted", code, verifier, world.key)
    assert status == 200, body


def test_untrusted_jwks_server_leaves_the_client_without_keys(pki, world):
    failures = fetch_failures(world.gw)
    assert "certificate verify failed" in failures.get("jwt-untrusted", ""), world.gw.log_tail(20)
    assert "127.0.0.1:%d" % world.untrusted.port in failures["jwt-untrusted"]
    assert world.untrusted.requests == []  # nothing was sent over the refused connection
    # The gateway serves; only this client cannot authenticate, even with the right key.
    assert world.gw.alive()
    code, verifier = authorization_code(pki, world, "jwt-untrusted")
    status, body, _ = token_request(pki, world, "jwt-untrusted", code, verifier, world.key)
    assert status == 401 and body["error"] == "invalid_client", body


def test_certificate_for_another_address_is_refused(pki, world):
    failures = fetch_failures(world.gw)
    assert "certificate verify failed" in failures.get("jwt-misnamed", ""), world.gw.log_tail(20)
    assert "mismatch" in failures["jwt-misnamed"].lower()
    assert world.misnamed.requests == []
    status, body, _ = token_request(pki, world, "jwt-misnamed", "no-such-code", "v" * 43, world.key)
    assert status == 401 and body["error"] == "invalid_client", body
