"""OCSP responders for the tests, on loopback: OpenSSL's own (`openssl ocsp`, the real thing,
CA-signed or with a delegated responder certificate) and a small Python one built on
`cryptography` that can also answer wrongly (an unrelated key, a stale answer, another serial,
garbage), which no real responder does on purpose. Both count the requests they answer."""

import base64
import datetime
import http.server
import os
import subprocess
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from harness import free_port, require_program


def _even_hex(serial):
    """A serial as `openssl ca` writes it in index.txt: uppercase hex, whole bytes."""
    text = "%X" % serial
    return text if len(text) % 2 == 0 else "0" + text


def _asn1_time(moment):
    return moment.strftime("%y%m%d%H%M%SZ")


class OpenSSLResponder:
    """`openssl ocsp` as a server over an index.txt of `(card, "V" | "R")` for one CA.

    `signer` is (cert, key) of a delegated responder; default: the CA signs itself."""

    def __init__(self, pki, workdir, ca="root1", cards=(), signer=None, port=None):
        require_program("openssl")
        self.pki = pki
        self.dir = os.path.join(str(workdir), "ocsp-%s-%d" % (ca, id(self)))
        os.makedirs(self.dir, exist_ok=True)
        self.ca = pki.ca(ca)
        self.signer = signer or (self.ca["cert_pem"], self.ca["key"])
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d/" % self.port
        self.responses = 0
        self.output = []
        self._lock = threading.Lock()
        self.proc = None
        self.write_index(cards)

    def write_index(self, cards):
        """cards: [(manifest entry, "V" or "R")]; a card not listed is `unknown`."""
        now = datetime.datetime.now(datetime.timezone.utc)
        lines = []
        for card, status in cards:
            expiry = datetime.datetime.strptime(card["not_after"], "%Y-%m-%dT%H:%M:%SZ")
            revoked = _asn1_time(now - datetime.timedelta(hours=1)) + ",keyCompromise" if status == "R" else ""
            subject = "/" + card["subject"].replace(", ", "/")
            lines.append("\t".join([status, _asn1_time(expiry), revoked, _even_hex(card["serial"]), "unknown", subject]))
        with open(os.path.join(self.dir, "index.txt"), "w") as handle:
            handle.write("\n".join(lines) + "\n")
        with open(os.path.join(self.dir, "index.txt.attr"), "w") as handle:
            handle.write("unique_subject = no\n")

    def start(self):
        cert, key = self.signer
        # -resp_text prints every response it sends: that is how the requests are counted.
        self.proc = subprocess.Popen(
            ["openssl", "ocsp", "-index", os.path.join(self.dir, "index.txt"), "-port", str(self.port),
             "-CA", self.ca["cert_pem"], "-rsigner", cert, "-rkey", key, "-nmin", "60", "-resp_text", "-ignore_err"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._count, daemon=True).start()
        # Not a test connection to the port: the responder serves one connection at a time and
        # would wait for a request on it.
        deadline = time.monotonic() + 10
        while not any("waiting for OCSP client connections" in line for line in list(self.output)):
            assert self.proc.poll() is None, "openssl ocsp exited: %s" % "".join(self.output)
            assert time.monotonic() < deadline, "openssl ocsp did not start: %s" % "".join(self.output)
            time.sleep(0.05)
        return self

    def _count(self):
        for line in self.proc.stdout:
            self.output.append(line)
            if "OCSP Response Data:" in line:
                with self._lock:
                    self.responses += 1

    def count(self):
        with self._lock:
            return self.responses

    def settled_count(self, expected, timeout=3.0):
        """The count once `expected` responses were seen (or the time ran out), after a moment
        for a late one: the response's text is printed after it is sent."""
        deadline = time.monotonic() + timeout
        while self.count() < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        return self.count()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class PythonResponder:
    """An HTTP OCSP responder whose answers the test chooses (`mode`):

    good, revoked, unknown: correct answers signed by the CA;
    unrelated: a good answer signed by a key and certificate the CA never issued;
    stale: a good answer whose nextUpdate passed two hours ago;
    other_serial: a good answer about another certificate of the same CA;
    try_later: the `tryLater` error status; garbage: bytes that are no OCSP response;
    silent: accepts and never answers (a hung responder)."""

    def __init__(self, pki, ca="root1", mode="good"):
        self.pki = pki
        self.ca_name = ca
        self.mode = mode
        self.requests = []  # ("GET" | "POST", request DER)
        ca_obj = pki.cas[ca]
        self.issuer_cert, self.issuer_key = ca_obj.cert, ca_obj.key
        self._unrelated = None
        responder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                segment = urllib.parse.unquote(self.path.rsplit("/", 1)[-1])
                self._answer("GET", base64.b64decode(segment))

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                self._answer("POST", self.rfile.read(length))

            def _answer(self, method, der):
                responder.requests.append((method, der))
                if responder.mode == "silent":
                    time.sleep(30)
                    return
                body = responder.respond(der)
                self.send_response(200)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/ocsp" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _cert_by_serial(self, serial):
        for entry in self.pki.manifest["citizens"].values():
            if entry["serial"] == serial and entry["issuer"] == self.ca_name:
                with open(self.pki.path(entry["cert"]), "rb") as handle:
                    return x509.load_pem_x509_certificates(handle.read())[0]
        raise KeyError(serial)

    def _other_cert(self, serial):
        for entry in self.pki.manifest["citizens"].values():
            if entry["serial"] != serial and entry["issuer"] == self.ca_name:
                with open(self.pki.path(entry["cert"]), "rb") as handle:
                    return x509.load_pem_x509_certificates(handle.read())[0]
        raise KeyError(serial)

    def unrelated_signer(self):
        if self._unrelated is None:
            key = rsa.generate_private_key(65537, 2048)
            name = self.issuer_cert.subject  # the CA's very name, another key
            now = datetime.datetime.now(datetime.timezone.utc)
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                    .not_valid_after(now + datetime.timedelta(days=30))
                    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                    .sign(key, hashes.SHA256()))
            self._unrelated = (cert, key)
        return self._unrelated

    def respond(self, der):
        if self.mode == "try_later":
            return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(
                serialization.Encoding.DER)
        if self.mode == "garbage":
            return b"<html>responder busy</html>"
        request = ocsp.load_der_ocsp_request(der)
        serial = request.serial_number
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = self._other_cert(serial) if self.mode == "other_serial" else self._cert_by_serial(serial)
        status = {"revoked": ocsp.OCSPCertStatus.REVOKED, "unknown": ocsp.OCSPCertStatus.UNKNOWN}.get(
            self.mode, ocsp.OCSPCertStatus.GOOD)
        this_update, next_update = now - datetime.timedelta(minutes=1), now + datetime.timedelta(hours=1)
        if self.mode == "stale":
            this_update, next_update = now - datetime.timedelta(days=1), now - datetime.timedelta(hours=2)
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=cert, issuer=self.issuer_cert, algorithm=hashes.SHA1(), cert_status=status,
            this_update=this_update, next_update=next_update,
            revocation_time=now - datetime.timedelta(hours=1) if status == ocsp.OCSPCertStatus.REVOKED else None,
            revocation_reason=x509.ReasonFlags.key_compromise if status == ocsp.OCSPCertStatus.REVOKED else None)
        signer_cert, signer_key = (self.unrelated_signer() if self.mode == "unrelated"
                                   else (self.issuer_cert, self.issuer_key))
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, signer_cert)
        if self.mode == "unrelated":
            builder = builder.certificates([signer_cert])
        return builder.sign(signer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
