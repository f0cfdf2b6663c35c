"""Test harness: the gateway process, its TOML config, and the clients (curl, openssl, Python TLS).

Everything here fails loudly: a missing program is a test failure naming the package to install.
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def real_data(name):
    """The folder of real published data `name` (tsl, cie), never copied into the repository:
    $CNS_SHARED_DATA/NAME, else <clone>/../shared/data/NAME, else /work/shared/data/NAME (where
    the project's machines keep it when the clone lives elsewhere). The first candidate when
    none exists, so that a skip names where it looked."""
    candidates = []
    if os.environ.get("CNS_SHARED_DATA"):
        candidates.append(os.path.join(os.environ["CNS_SHARED_DATA"], name))
    candidates.append(os.path.abspath(os.path.join(REPO, "..", "shared", "data", name)))
    candidates.append(os.path.join("/work", "shared", "data", name))
    for candidate in candidates:
        if os.path.isdir(candidate):
            return candidate
    return candidates[0]
DEFAULT_BIN = os.path.join(REPO, ".build", "debug", "cns-gateway")

PACKAGES = {"curl": "curl", "openssl": "openssl", "haproxy": "haproxy", "chromium": "chromium", "xmlsec1": "xmlsec1",
            "certutil": "libnss3-tools", "pk12util": "libnss3-tools", "nginx": "nginx-light", "apache2": "apache2"}


def require_program(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail("%s not found on PATH: install it (apt-get install %s)" % (name, PACKAGES.get(name, name)),
                    pytrace=False)
    return path


def gateway_binary():
    path = os.path.abspath(os.environ.get("CNS_GATEWAY_BIN", DEFAULT_BIN))
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("gateway binary %s missing: run `swift build` in %s or set CNS_GATEWAY_BIN" % (path, REPO),
                    pytrace=False)
    return path


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (only for programs that cannot bind port 0 themselves)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listening on %s:%d after %.1fs" % (host, port, timeout))


def split_address(text):
    """'127.0.0.1:443' or '[::1]:443' -> (host, port)."""
    match = re.fullmatch(r"\[(.*)\]:(\d+)|([^:]+):(\d+)", text)
    if not match:
        raise ValueError("not an address: %r" % text)
    if match.group(1) is not None:
        return match.group(1), int(match.group(2))
    return match.group(3), int(match.group(4))


# ---- TOML --------------------------------------------------------------------------------------

def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError("no TOML form for %r" % (value,))


def to_toml(config):
    """config: {"server": {...}, "listener": [{...}, ...], ...}; lists of dicts become [[arrays]]."""
    lines = []
    for section, body in config.items():
        tables = body if isinstance(body, list) else [body]
        for table in tables:
            lines.append("[[%s]]" % section if isinstance(body, list) else "[%s]" % section)
            for key, value in table.items():
                if value is not None:
                    lines.append("%s = %s" % (key, _toml_value(value)))
            lines.append("")
    return "\n".join(lines)


# ---- the gateway process ----------------------------------------------------------------------

class Gateway:
    """One cns-gateway process with its own directory (config, trust material copies, log)."""

    def __init__(self, pki, workdir, name="gw"):
        self.pki = pki
        self.dir = os.path.join(str(workdir), name)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.events = []  # parsed JSON log lines (raw text lines become {"raw": ...})
        self.stderr = []
        self._cond = threading.Condition()
        self.listeners = {}  # name -> (host, port)
        self._stdout_eof = False
        self.config = None
        self.config_path = os.path.join(self.dir, "gateway.toml")

    # -- trust material copies, so a test can change them without touching the session PKI

    def install_trust(self, bundle_cas=None, crl_cas=None, crl_files=()):
        """Write ca-bundle.pem (named CAs, default: all trusted) and crls/ (named CAs' CRLs)."""
        manifest = self.pki.manifest
        bundle_cas = manifest["trusted_cas"] if bundle_cas is None else bundle_cas
        self.write_file("ca-bundle.pem", self.pki.bundle_pem(bundle_cas))
        crl_dir = os.path.join(self.dir, "crls")
        shutil.rmtree(crl_dir, ignore_errors=True)
        os.makedirs(crl_dir)
        crl_cas = [c for c in manifest["trusted_cas"]] + ["intermediate"] if crl_cas is None else crl_cas
        for ca in crl_cas:
            source = self.pki.path(manifest["cas"][ca]["crl_pem"])
            shutil.copy(source, os.path.join(crl_dir, os.path.basename(source)))
        for path in crl_files:
            shutil.copy(path, os.path.join(crl_dir, os.path.basename(path)))

    def write_file(self, rel, data):
        """Atomic replace (rename), as an operator's deploy tool would do."""
        full = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        tmp = full + ".tmp-%d" % os.getpid()
        with open(tmp, "wb") as handle:
            handle.write(data if isinstance(data, bytes) else data.encode())
        os.replace(tmp, full)
        return full

    def listener(self, name="login", **overrides):
        server = self.pki.manifest["server"]
        entry = {
            "name": name,
            "address": "127.0.0.1:0",
            "certificate": self.pki.path(server["cert"]),  # absolute path
            "private_key": self.pki.path(server["key"]),
            "client_certificate": "optional",
            "tls_versions": ["1.2", "1.3"],
            "proxy_protocol": False,
            "trusted_proxies": [],
            "send_ca_names": True,
        }
        entry.update(overrides)
        return entry

    def make_config(self, listeners=None, trust=None, limits=None, server=None):
        config = {
            "server": {"loop_threads": 2, "drain_timeout": 2.0},
            "logging": {"level": "info", "format": "json"},
            "listener": listeners or [self.listener()],
            "trust": {
                "ca_bundle": "ca-bundle.pem",  # relative: resolved against the config's directory
                "crls": ["crls"],
                "revocation": "best-effort",
                "legacy_issuers": [],
            },
            "limits": {
                "handshake_timeout": 5.0,
                "header_timeout": 5.0,
                "idle_timeout": 30.0,
                "max_connections": 10000,
                "max_connections_per_client": 256,
                "max_header_bytes": 16384,
                "max_body_bytes": 1048576,
            },
        }
        config["trust"].update(trust or {})
        config["limits"].update(limits or {})
        config["server"].update(server or {})
        return config

    def start(self, config=None, timeout=15.0):
        binary = gateway_binary()
        if not os.path.exists(os.path.join(self.dir, "ca-bundle.pem")):
            self.install_trust()
        self.config = config or self.make_config()
        with open(self.config_path, "w") as handle:
            handle.write(to_toml(self.config))
        self.events, self.stderr, self._stdout_eof = [], [], False
        self.proc = subprocess.Popen([binary, "serve", "--config", self.config_path], cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True).start()
        ready = self.wait_event(lambda e: e.get("event") == "ready", timeout=timeout, start=0)
        assert ready is not None
        for event in self.events:
            if event.get("event") == "listening":
                self.listeners[event["listener"]] = split_address(event["address"])
        names = [l["name"] for l in self.config["listener"]]
        missing = [n for n in names if n not in self.listeners]
        assert not missing, "no `listening` event for %s; log:\n%s" % (missing, self.log_tail())
        return self

    def _read_stdout(self, pipe):
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                event = json.loads(line)
                if not isinstance(event, dict):
                    event = {"raw": line}
            except ValueError:
                event = {"raw": line}
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._stdout_eof = True
            self._cond.notify_all()

    def _read_stderr(self, pipe):
        for raw in iter(pipe.readline, b""):
            with self._cond:
                self.stderr.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def log_tail(self, n=30):
        lines = [json.dumps(e) if "raw" not in e else e["raw"] for e in self.events[-n:]]
        return "stdout:\n  " + "\n  ".join(lines) + "\nstderr:\n  " + "\n  ".join(self.stderr[-n:])

    def mark(self):
        """Index to pass as `start` to wait_event, so only later log lines count."""
        with self._cond:
            return len(self.events)

    def wait_event(self, predicate, timeout=10.0, start=0, fail=True):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[start:]:
                    if predicate(event):
                        return event
                if self._stdout_eof:
                    if fail:
                        raise AssertionError("gateway exited with %s before the awaited log event;\n%s"
                                             % (self.proc.returncode, self.log_tail()))
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if fail:
                        raise AssertionError("awaited log event not seen in %.1fs;\n%s" % (timeout, self.log_tail()))
                    return None
                self._cond.wait(min(remaining, 0.2))

    def find_events(self, name, start=0):
        with self._cond:
            return [e for e in self.events[start:] if e.get("event") == name]

    def port(self, name="login"):
        return self.listeners[name][1]

    def url(self, path="/whoami", name="login"):
        host, port = self.listeners[name]
        host = "[%s]" % host if ":" in host else host
        return "https://%s:%d%s" % (host, port, path)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def reload(self, timeout=10.0):
        """SIGHUP and return the `reload` event that follows."""
        start = self.mark()
        self.proc.send_signal(signal.SIGHUP)
        return self.wait_event(lambda e: e.get("event") == "reload", timeout=timeout, start=start)

    def rss_kib(self, field="VmRSS"):
        """A memory figure of /proc/PID/status in KiB: VmRSS now, VmHWM the peak so far."""
        with open("/proc/%d/status" % self.proc.pid) as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise AssertionError("no %s for pid %d" % (field, self.proc.pid))

    def stop(self, timeout=10.0):
        """SIGTERM, wait for exit; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("gateway did not exit within %.0fs of SIGTERM;\n%s" % (timeout, self.log_tail()))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


# ---- clients -----------------------------------------------------------------------------------

class CurlResult:
    def __init__(self, proc, status, body, time_total):
        self.rc = proc.returncode
        self.stderr = proc.stderr
        self.status = status
        self.body = body
        self.time_total = time_total

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError("not JSON (curl rc %s, status %s): %r\n%s" % (self.rc, self.status, self.body, self.stderr))

    def __repr__(self):
        return "<curl rc=%s status=%s body=%r stderr=%r>" % (self.rc, self.status, self.body[:300], self.stderr[-300:])


def curl(pki, url, citizen=None, extra=(), timeout=10):
    """curl with the citizen's card (manifest entry or name) and the test server CA."""
    require_program("curl")
    marker = "\n__CURL__%{http_code} %{time_total}"
    env = None
    args = ["curl", "-sS", "--max-time", str(timeout), "--cacert", pki.path(pki.manifest["server"]["ca"]),
            "-w", marker]
    if citizen is not None:
        entry = pki.citizen(citizen) if isinstance(citizen, str) else citizen
        args += ["--cert", entry["cert"], "--key", entry["key"]]
        if entry["key_bits"] < 2048 or entry["signature"] == "sha1":
            # The client's own OpenSSL refuses to load an RSA-1024 card at security level 2
            # (curl applies --ciphers only after loading the card): lower it for this client only.
            env = dict(os.environ, OPENSSL_CONF=legacy_client_conf(pki))
    args += list(extra) + [url]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 5, env=env)
    body, _, tail = proc.stdout.rpartition("\n__CURL__")
    status, time_total = (tail.split() + ["0", "0"])[:2]
    return CurlResult(proc, int(status) if status.isdigit() else 0, body, float(time_total or 0))


def legacy_client_conf(pki):
    path = pki.path("openssl-client-seclevel0.cnf")
    if not os.path.exists(path):
        with open(path, "w") as handle:
            handle.write("openssl_conf = conf\n[conf]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n"
                         "[sys]\nCipherString = DEFAULT:@SECLEVEL=0\n")
    return path


def whoami(pki, gateway, citizen=None, extra=(), listener="login"):
    result = curl(pki, gateway.url("/whoami", listener), citizen, extra)
    assert result.rc == 0 and result.status == 200, "whoami failed: %r\n%s" % (result, gateway.log_tail(10))
    return result.json()


def s_client(pki, port, citizen=None, extra=(), request=b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
             timeout=10):
    """openssl s_client sending one request; returns (rc, combined output)."""
    require_program("openssl")
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
            "-CAfile", pki.path(pki.manifest["server"]["ca"]), "-verify_return_error", "-ign_eof"]
    if citizen is not None:
        entry = pki.citizen(citizen) if isinstance(citizen, str) else citizen
        args += ["-cert", entry["cert"], "-key", entry["key"]]
    args += list(extra)
    proc = subprocess.run(args, input=request, capture_output=True, timeout=timeout)
    return proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace")


def client_context(pki, citizen=None, tls_max=None):
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=pki.path(pki.manifest["server"]["ca"]))
    if citizen is not None:
        entry = pki.citizen(citizen) if isinstance(citizen, str) else citizen
        context.load_cert_chain(entry["cert"], entry["key"])
    if tls_max == "1.2":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def tls_connect(pki, port, citizen=None, host="127.0.0.1", timeout=5.0, tls_max=None):
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        return client_context(pki, citizen, tls_max).wrap_socket(raw, server_hostname="localhost")
    except Exception:
        raw.close()
        raise


class Response:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<HTTP %s %s %r>" % (self.status, self.reason, self.body[:200])


def read_response(sock, timeout=5.0):
    """Read one HTTP/1.1 response (Content-Length or close-delimited). None if closed before a byte."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            if not data:
                return None
            raise AssertionError("connection closed inside a response head: %r" % data)
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("connection closed inside a body")
            body += chunk
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        raise AssertionError("chunked responses are not expected from the gateway")
    elif status not in (204, 304) and headers.get("connection", "").lower() == "close":
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return Response(status, parts[2] if len(parts) > 2 else "", headers, body.decode("utf-8", "replace"))


def request(sock, path="/whoami", method="GET", headers=(), keep_alive=True):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost"]
    lines += ["%s: %s" % kv for kv in headers]
    if not keep_alive:
        lines.append("Connection: close")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    response = read_response(sock)
    assert response is not None, "connection closed instead of a response to %s %s" % (method, path)
    return response


def head_then_get(pki, port, path, citizen="ok1"):
    """HEAD then GET of `path` on one kept-alive connection, read byte-exactly. Fails when the
    HEAD response carries any byte after its head. Returns (HEAD status line, HEAD headers with
    lowercase names, the GET Response)."""
    sock = tls_connect(pki, port, citizen)
    try:
        sock.sendall(("HEAD %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode())
        sock.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, "closed before the HEAD response head"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        # Nothing may follow the head: give stray body bytes a moment to arrive.
        sock.settimeout(0.5)
        try:
            rest += sock.recv(65536)
        except (socket.timeout, TimeoutError):
            pass
        assert rest == b"", "HEAD %s carried %d body bytes: %r" % (path, len(rest), rest[:80])
        sock.settimeout(5)
        get = request(sock, path, keep_alive=False)
    finally:
        sock.close()
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, get


def normalize_hex(text):
    return re.sub(r"[^0-9A-Fa-f]", "", text or "").upper()
