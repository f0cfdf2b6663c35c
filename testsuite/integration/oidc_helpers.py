"""Helpers for the OpenID Connect tests: a gateway configured as provider, a relying party's
callback server, back-channel calls and JWS verification with the provider's JWKS.

Nothing here imports an OIDC library: the checks are written against the RFCs, so a wrong
gateway cannot be excused by a lenient client.
"""

import base64
import hashlib
import http.server
import json
import os
import secrets
import ssl
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import harness

CLIENT_ID = "fse"
CLIENT_SECRET = "integration-secret-" + "x" * 16


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_pair():
    verifier = b64url(secrets.token_bytes(32))
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def hash_secret(secret):
    """The PHC string from `cns-gateway hash-secret` (the secret goes in on stdin)."""
    proc = subprocess.run([harness.gateway_binary(), "hash-secret"], input=secret + "\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("$pbkdf2-sha256$i="), line
    return line


class CallbackServer:
    """The relying party's redirect_uri (plain http on loopback, as the gateway allows for tests)."""

    def __init__(self):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(("GET", self.path, None))
                self._ok()

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                outer.requests.append(("POST", self.path, self.rfile.read(length).decode()))
                self._ok()

            def _ok(self):
                body = b"callback ok\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def redirect_uri(self):
        return "http://127.0.0.1:%d/cb" % self.port

    def last_query(self):
        method, path, body = self.requests[-1]
        query = urllib.parse.urlsplit(path).query if method == "GET" else body
        return dict(urllib.parse.parse_qsl(query))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def oidc_config(gateway, public_port, login_port, redirect_uri, interstitial=False, extra_clients=()):
    """A gateway config with a public listener (no certificate asked) and a login listener."""
    state = os.path.join(gateway.dir, "state")
    os.makedirs(state, exist_ok=True)
    os.chmod(state, 0o700)
    config = gateway.make_config(listeners=[
        gateway.listener("public", address="127.0.0.1:%d" % public_port, client_certificate="none"),
        gateway.listener("login", address="127.0.0.1:%d" % login_port),
    ], server={"state_dir": state})
    config["oidc"] = {
        "issuer": "https://localhost:%d" % public_port,
        "login_base_url": "https://localhost:%d" % login_port,
        "interstitial": interstitial,
    }
    config["client"] = [{
        "id": CLIENT_ID,
        "name": "Fascicolo Sanitario (test)",
        "secret_hash": hash_secret(CLIENT_SECRET),
        "redirect_uris": [redirect_uri],
        "post_logout_redirect_uris": [redirect_uri + "/bye"],
    }] + list(extra_clients)
    return config


def tls_context(pki):
    return ssl.create_default_context(cafile=pki.path(pki.manifest["server"]["ca"]))


def http_call(pki, url, data=None, headers=None, method=None):
    """(status, headers, body bytes) for a back-channel call; errors are returned, not raised."""
    body = urllib.parse.urlencode(data).encode() if isinstance(data, (dict, list)) else data
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, context=tls_context(pki), timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def basic_auth(client_id=CLIENT_ID, secret=CLIENT_SECRET):
    raw = "%s:%s" % (urllib.parse.quote(client_id, safe=""), urllib.parse.quote(secret, safe=""))
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def verify_jws(token, jwks):
    """Verify a compact JWS against a JWKS; returns (header, claims). Raises on any failure."""
    head, payload, signature = token.split(".")
    header = json.loads(b64url_decode(head))
    claims = json.loads(b64url_decode(payload))
    signed = (head + "." + payload).encode()
    sig = b64url_decode(signature)
    keys = [k for k in jwks["keys"] if k.get("kid") == header.get("kid")]
    assert keys, "no JWKS key with kid %r" % header.get("kid")
    jwk = keys[0]
    alg = header["alg"]
    if alg == "ES256":
        assert jwk["kty"] == "EC" and jwk["crv"] == "P-256"
        public = ec.EllipticCurvePublicNumbers(int.from_bytes(b64url_decode(jwk["x"]), "big"),
                                               int.from_bytes(b64url_decode(jwk["y"]), "big"), ec.SECP256R1()).public_key()
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        public.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    elif alg == "RS256":
        public = rsa.RSAPublicNumbers(int.from_bytes(b64url_decode(jwk["e"]), "big"),
                                      int.from_bytes(b64url_decode(jwk["n"]), "big")).public_key()
        public.verify(sig, signed, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "EdDSA":
        ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"])).verify(sig, signed)
    else:
        raise AssertionError("unexpected alg %s" % alg)
    return header, claims


def tamper(token):
    head, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["sub"] = "RSSMRA80A01H501U"
    return head + "." + b64url(json.dumps(claims).encode()) + "." + signature


def assert_invalid(token, jwks):
    try:
        verify_jws(token, jwks)
    except (InvalidSignature, AssertionError):
        return
    raise AssertionError("a tampered token verified")
