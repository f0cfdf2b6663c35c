"""Real reverse proxies (nginx, HAProxy in http mode, Apache httpd) in front of a gateway
whose login listener takes the card from their headers (client_certificate = "forwarded").

Each proxy runs the configuration snippet shipped in docs/reverse-proxy/, with only the
site-specific values (addresses, file paths, names) replaced; every replacement must match,
so the documentation and the tested configuration cannot drift apart."""

import datetime
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import harness

DOCS = os.path.join(harness.REPO, "docs", "reverse-proxy")
APACHE_MODULES = "/usr/lib/apache2/modules"


def require_file(path, package):
    if not os.path.exists(path):
        raise AssertionError("%s missing: install it (apt-get install %s)" % (path, package))
    return path


def world_readable_directory(prefix):
    """Apache's and nginx's workers run as nobody: pytest's private temporary directories are
    not theirs to enter."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    return path


class ProxyIdentity:
    """The certificate a proxy authenticates to the gateway with (self-signed: the gateway
    pins it by SHA-256, it is never checked against a CA)."""

    def __init__(self, directory, name):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cns reverse proxy %s" % name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(key, hashes.SHA256()))
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        self.cert = os.path.join(directory, "%s.pem" % name)
        self.key = os.path.join(directory, "%s.key" % name)
        self.combined = os.path.join(directory, "%s-combined.pem" % name)
        for path, data in ((self.cert, cert_pem), (self.key, key_pem), (self.combined, cert_pem + key_pem)):
            with open(path, "wb") as handle:
                handle.write(data)
            os.chmod(path, 0o644)
        self.sha256 = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def substitute(text, replacements, source):
    for old, new in replacements:
        assert old in text, "%s no longer contains %r: update the test with the documentation" % (source, old)
        text = text.replace(old, new)
    return text


def read_doc(name):
    with open(os.path.join(DOCS, name)) as handle:
        return handle.read()


class Proxy:
    """A proxy process in the foreground, its files in a directory of its own."""
    kind = None
    fmt = None

    def __init__(self, pki, gateway_port, identity, directory, port=None):
        self.pki = pki
        self.gateway_port = gateway_port
        self.identity = identity
        self.dir = directory
        self.port = port or harness.free_port()
        self.proc = None
        # Further (old, new) replacements in the documented snippet, for a test's variant.
        self.variant = []
        # The proxy's own TLS certificate for browsers (the test server's: curl trusts its CA).
        self.front_cert = self._copy(pki.path(pki.manifest["server"]["cert"]), "front.pem")
        self.front_key = self._copy(pki.path(pki.manifest["server"]["key"]), "front.key")
        self.gateway_ca = self._copy(pki.path(pki.manifest["server"]["ca"]), "gateway-ca.pem")
        self.cns_bundle = self._copy(pki.path(pki.manifest["ca_bundle"]), "cns-ca-bundle.pem")

    def _copy(self, source, name):
        target = os.path.join(self.dir, name)
        shutil.copy(source, target)
        os.chmod(target, 0o644)
        return target

    @property
    def base_url(self):
        return "https://localhost:%d" % self.port

    def url(self, path):
        return self.base_url + path

    def curl(self, path, citizen=None, extra=(), source="127.0.0.2"):
        """A browser at `source` asking the proxy for `path`, with `citizen`'s card."""
        args = ["--resolve", "localhost:%d:127.0.0.1" % self.port]
        if source:
            args += ["--interface", source]
        return harness.curl(self.pki, self.url(path), citizen, args + list(extra))

    def _start(self, args, log):
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
        try:
            harness.wait_port("127.0.0.1", self.port, timeout=10)
        except AssertionError:
            raise AssertionError("%s did not start: %s" % (self.kind, self.log()))
        return self

    def log(self):
        text = ""
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name), errors="replace") as handle:
                    text += "== %s\n%s" % (name, handle.read()[-3000:])
        return text

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


class NginxProxy(Proxy):
    kind = "nginx"
    fmt = "nginx"

    def start(self):
        binary = harness.require_program("nginx")
        site = substitute(read_doc("nginx.conf"), [
            ("server 10.0.0.11:8443;", "server 127.0.0.1:%d;" % self.gateway_port),
            ("listen 443 ssl;", "listen 127.0.0.1:%d ssl;" % self.port),
            ("/etc/nginx/tls/login.pem", self.front_cert),
            ("/etc/nginx/tls/login.key", self.front_key),
            ("/etc/nginx/tls/proxy-client.pem", self.identity.cert),
            ("/etc/nginx/tls/proxy-client.key", self.identity.key),
            ("/etc/nginx/tls/gateway-ca.pem", self.gateway_ca),
            ("proxy_ssl_name gateway.internal;", "proxy_ssl_name localhost;"),
        ] + self.variant, "docs/reverse-proxy/nginx.conf")
        temp = os.path.join(self.dir, "temp")
        os.makedirs(temp)
        os.chmod(temp, 0o777)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as handle:
            handle.write("""daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{site}
}}
""".format(dir=self.dir, temp=temp, site=site))
        check = subprocess.run([binary, "-t", "-c", conf, "-p", self.dir], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        return self._start([binary, "-c", conf, "-p", self.dir], os.path.join(self.dir, "stderr.log"))


class HAProxyProxy(Proxy):
    kind = "haproxy"
    fmt = "rfc9440"

    def start(self):
        binary = harness.require_program("haproxy")
        front = os.path.join(self.dir, "front-combined.pem")
        with open(front, "wb") as out:
            for path in (self.front_cert, self.front_key):
                with open(path, "rb") as handle:
                    out.write(handle.read())
        site = substitute(read_doc("haproxy.cfg"), [
            ("bind :443 ssl crt /etc/haproxy/tls/login.pem", "bind 127.0.0.1:%d ssl crt %s" % (self.port, front)),
            ("/etc/haproxy/tls/cns-ca-bundle.pem", self.cns_bundle),
            ("server gw1 10.0.0.11:8443", "server gw1 127.0.0.1:%d" % self.gateway_port),
            ("/etc/haproxy/tls/gateway-ca.pem", self.gateway_ca),
            ("/etc/haproxy/tls/proxy-client.pem", self.identity.combined),
            ("sni str(gateway.internal)", "sni str(localhost)"),
        ] + self.variant, "docs/reverse-proxy/haproxy.cfg")
        conf = os.path.join(self.dir, "haproxy.cfg")
        with open(conf, "w") as handle:
            handle.write("global\n    maxconn 256\n\ndefaults\n    timeout connect 5s\n    timeout client 30s\n"
                         "    timeout server 30s\n\n" + site)
        check = subprocess.run([binary, "-c", "-f", conf], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        return self._start([binary, "-db", "-f", conf], os.path.join(self.dir, "haproxy.log"))


class ApacheProxy(Proxy):
    kind = "apache"
    fmt = "apache"

    def start(self):
        binary = harness.require_program("apache2")
        for module in ("mod_ssl.so", "mod_headers.so", "mod_proxy.so", "mod_proxy_http.so"):
            require_file(os.path.join(APACHE_MODULES, module), "apache2")
        site = substitute(read_doc("apache.conf"), [
            ("<VirtualHost *:443>", "<VirtualHost 127.0.0.1:%d>" % self.port),
            ("/etc/apache2/tls/login.pem", self.front_cert),
            ("/etc/apache2/tls/login.key", self.front_key),
            ("/etc/apache2/tls/proxy-client.pem", self.identity.combined),
            ("/etc/apache2/tls/gateway-ca.pem", self.gateway_ca),
            ("https://gateway.internal:8443/", "https://localhost:%d/" % self.gateway_port),
        ] + self.variant, "docs/reverse-proxy/apache.conf")
        conf = os.path.join(self.dir, "httpd.conf")
        modules = ["mpm_event", "authz_core", "socache_shmcb", "ssl", "headers", "proxy", "proxy_http"]
        with open(conf, "w") as handle:
            handle.write("ServerName 127.0.0.1\nListen 127.0.0.1:%d\nPidFile %s/httpd.pid\nErrorLog %s/error.log\n"
                         "LogLevel warn ssl:info\nDefaultRuntimeDir %s\nMutex file:%s default\nUser nobody\nGroup nogroup\n"
                         % (self.port, self.dir, self.dir, self.dir, self.dir))
            for module in modules:
                handle.write("LoadModule %s_module %s/mod_%s.so\n" % (module, APACHE_MODULES, module))
            handle.write(site)
        check = subprocess.run([binary, "-t", "-f", conf], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        return self._start([binary, "-f", conf, "-DFOREGROUND"], os.path.join(self.dir, "stderr.log"))


PROXIES = {"nginx": NginxProxy, "haproxy": HAProxyProxy, "apache": ApacheProxy}


def forwarded_listener(gateway, name, fmt, pins, **extra):
    """A login listener that takes the card from a proxy on 127.0.0.1 authenticated by `pins`."""
    entry = gateway.listener(name, client_certificate="forwarded", trusted_proxies=["127.0.0.1/32"],
                             proxy_certificates=list(pins), forwarded_certificate_format=fmt)
    entry.update(extra)
    return entry


def escaped_pem(path):
    """What nginx's $ssl_client_escaped_cert holds for the certificate in `path`."""
    with open(path, "rb") as handle:
        pem = handle.read()
    first = pem[:pem.index(b"-----END CERTIFICATE-----") + len(b"-----END CERTIFICATE-----\n")]
    return urllib.parse.quote(first.decode(), safe="")


def der_of(path):
    with open(path, "rb") as handle:
        pem = handle.read()
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()
