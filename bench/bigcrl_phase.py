"""The large-CRL phase of bench.py: both servers with one CA's CRL at the size of a large real
issuer's (a million entries by default), in the same run.

For each server: the time from start to the first served handshake, RSS after the load, CPU
per cold handshake (every card new to the server) by a card of that CA, then five reloads,
each with a CRL of new content (two variants alternate, so every reload parses and verifies
again): the time from SIGHUP until the new trust serves, the longest /healthz latency seen on
a kept-alive connection during each reload, and RSS after the reloads.

The CRLs are generated once per run (testsuite/pki/bigcrl.py assembles the DER directly, in
seconds) and kept in bench/out for both servers; they are re-signed when the PKI is new.
"""

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(REPO, "testsuite", "pki"))


def log(message):
    print(message, flush=True)


def make_big_crls(out, pki_dir, entries):
    """Two variants of root1's CRL (the `revoked` card listed in both, `entries` filler serials),
    each as its own PEM file and as one file with every other CA's CRL appended (nginx's
    ssl_crl takes a single file). Cached: regenerated only when root1 or the size changes."""
    import bigcrl
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    with open(os.path.join(pki_dir, "manifest.json")) as handle:
        manifest = json.load(handle)
    root1 = manifest["cas"]["root1"]
    tag = "%s-%d" % (root1["sha256"][:16], entries)
    with open(os.path.join(pki_dir, root1["cert_pem"]), "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    with open(os.path.join(pki_dir, root1["key"]), "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    revoked = int(manifest["citizens"]["revoked"]["serial"])
    others = b""
    for name in ("root1b", "legacy", "root2", "intermediate"):
        with open(os.path.join(pki_dir, manifest["cas"][name]["crl_pem"]), "rb") as handle:
            others += handle.read()
    variants = []
    started = time.monotonic()
    for index, variant in enumerate(("a", "b")):
        path = os.path.join(out, "bigcrl-%s-%s.pem" % (tag, variant))
        if not os.path.exists(path):
            der = bigcrl.build(cert, key, entries, revoke=[revoked], crl_number=100 + index, seed=17 + index)
            with open(path + ".tmp", "wb") as handle:
                handle.write(bigcrl.to_pem(der))
            os.replace(path + ".tmp", path)
        with open(path, "rb") as handle:
            combined = handle.read() + others
        combined_path = os.path.join(out, "bigcrl-%s-%s-all.pem" % (tag, variant))
        with open(combined_path, "wb") as handle:
            handle.write(combined)
        variants.append(dict(root1=path, all=combined_path))
    log("large CRL: 2 variants of root1's CRL with %d entries (%.1f MB PEM) ready in %.1fs"
        % (entries, os.path.getsize(variants[0]["root1"]) / 1e6, time.monotonic() - started))
    return variants, others


def client_context(material, card):
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=material["server_ca"])
    context.check_hostname = False
    context.load_cert_chain(card[0], card[1])
    return context


def get(sock, path="/healthz"):
    sock.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), body[:length]


def first_served(port, context, deadline):
    """Seconds until a handshake with the card and one GET succeed."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as sock:
                    if get(sock)[0] == 200:
                        return True
        except (OSError, ssl.SSLError, ConnectionError):
            time.sleep(0.005)
    return False


class LatencyWatch(threading.Thread):
    """GET /healthz on a kept-alive connection, back to back, recording the longest wait. A
    server that closes the connection (nginx's old worker does when a reload retires it) gets
    a new one; the new connection's handshake is not counted as request latency."""

    def __init__(self, port, context):
        super().__init__(daemon=True)
        self.port, self.context = port, context
        self.sock = self.connect()
        self.stop = threading.Event()
        self.longest = 0.0
        self.count = 0
        self.reconnects = 0
        self.error = None

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        # Without it the client's own Nagle/delayed-ACK interplay adds 40 ms stalls that are
        # neither server's doing.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.context.wrap_socket(raw, server_hostname="localhost")

    def run(self):
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    get(self.sock)
                except (ConnectionError, ssl.SSLError, OSError):
                    self.sock.close()
                    self.sock = self.connect()
                    self.reconnects += 1
                    continue
                self.longest = max(self.longest, time.monotonic() - started)
                self.count += 1
                time.sleep(0.002)
        except Exception as error:  # noqa: BLE001 (reported by the caller)
            self.error = error

    def finish(self):
        self.stop.set()
        self.join(timeout=10)
        self.sock.close()


def swap(target, source):
    tmp = target + ".swap"
    with open(source, "rb") as src, open(tmp, "wb") as dst:
        dst.write(src.read())
    os.replace(tmp, target)


def run_phase(kind, server, material, variants, loadgen, cards, p, public_health=None):
    """One server's figures. `server` has start(), stop(), pids(), cpu_us(), rss_kib(), port;
    `public_health` (ours) returns the trust generation the gateway serves."""
    from bench import loadgen as run_loadgen, measured  # noqa: E402 (bench imports this module)
    card = tuple(open(cards).readline().split())
    context = client_context(material, card)
    fig = {}
    started = time.monotonic()
    server.start()
    if not first_served(server.port, context, started + 120):
        raise RuntimeError("%s did not serve within 120 s" % kind)
    fig["bigcrl_start_s"] = time.monotonic() - started
    try:
        time.sleep(0.3)
        fig["bigcrl_rss_load_kib"] = server.rss_kib()
        run_loadgen(loadgen, cards, ["-m", "hs", "-p", str(server.port), "-n", str(p["bigcrl_warmup"]), "-w", "2"])
        cold = measured(server, loadgen, cards, ["-m", "hs", "-p", str(server.port), "-o", str(p["bigcrl_warmup"]),
                                                  "-n", str(p["bigcrl_cold"]), "-w", str(p["hs_workers"])])
        fig["bigcrl_cold_cpu_us"], fig["bigcrl_cold_errors"] = cold["cpu_us"], cold["errors"]
        # Serving grows a process by itself (worker and pool threads started, TLS buffers and
        # session caches filled), whatever the CRL: the reloads' growth is measured from here.
        time.sleep(0.3)
        fig["bigcrl_rss_served_kib"] = server.rss_kib()
        reload_times, latencies = [], []
        for index in range(p["bigcrl_reloads"]):
            variant = variants[(index + 1) % 2]
            server.replace_crl(variant)
            watch = LatencyWatch(server.port, context)
            watch.start()
            time.sleep(0.05)
            before = server.trust_marker()
            sent = time.monotonic()
            server.reload()
            deadline = sent + 120
            while server.trust_marker() == before and time.monotonic() < deadline:
                time.sleep(0.002)
            reload_times.append(time.monotonic() - sent)
            time.sleep(0.1)
            watch.finish()
            if watch.error is not None:
                raise RuntimeError("%s: /healthz during reload %d failed: %s" % (kind, index + 1, watch.error))
            latencies.append(watch.longest)
        # Let the last reload's predecessor go (nginx: old workers exit; ours: no connection
        # holds the old generation once the watcher's connection is closed).
        time.sleep(1.0)
        fig["bigcrl_reload_s"] = max(reload_times)
        fig["bigcrl_reload_median_s"] = sorted(reload_times)[len(reload_times) // 2]
        fig["bigcrl_healthz_max_ms"] = max(latencies) * 1000
        fig["bigcrl_rss_reloads_kib"] = server.rss_kib()
        # The high-water mark over the first load and every reload: what a reload costs in
        # memory while the old and the new trust both exist.
        fig["bigcrl_rss_peak_kib"] = server.rss_kib("VmHWM")
    finally:
        server.stop()
    return fig


class OursBig:
    """The gateway with root1's CRL in a file of its own beside the other CAs' CRLs."""

    def __init__(self, gateway_class, binary, out, material, secret_hash, variants, others):
        self.dir = os.path.join(out, "gateway-bigcrl")
        os.makedirs(os.path.join(self.dir, "crls"), exist_ok=True)
        self.root1 = os.path.join(self.dir, "crls", "root1.pem")
        swap(self.root1, variants[0]["root1"])
        with open(os.path.join(self.dir, "crls", "others.pem"), "wb") as handle:
            handle.write(others)
        big = dict(material, crl=os.path.join(self.dir, "crls"))
        self.gateway = gateway_class(binary, out, big, secret_hash, dirname="gateway-bigcrl")
        self.port = self.gateway.port

    def start(self):
        self.gateway.start()

    def stop(self):
        self.gateway.stop()

    def pids(self):
        return self.gateway.pids()

    def cpu_us(self):
        return self.gateway.cpu_us()

    def rss_kib(self, field="VmRSS"):
        return self.gateway.rss_kib(field)

    def replace_crl(self, variant):
        swap(self.root1, variant["root1"])

    def reload(self):
        self.gateway.proc.send_signal(signal.SIGHUP)

    def trust_marker(self):
        """The trust generation /healthz reports (on the listener without a card)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.gateway.material["server_ca"])
        context.check_hostname = False
        try:
            with socket.create_connection(("127.0.0.1", self.gateway.public_port), timeout=2) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as sock:
                    return json.loads(get(sock)[1])["trust"]["generation"]
        except (OSError, ssl.SSLError, ValueError, ConnectionError):
            return None


class NginxBig:
    """nginx with the combined CRL file; a reload is SIGHUP, done when a new worker runs."""

    def __init__(self, nginx_class, out, material, variants):
        self.crl = os.path.join(out, "nginx-bigcrl.pem")
        swap(self.crl, variants[0]["all"])
        self.nginx = nginx_class(out, dict(material, crl=self.crl), dirname="nginx-bigcrl")
        self.port = self.nginx.port

    def start(self):
        self.nginx.start()

    def stop(self):
        self.nginx.stop()

    def pids(self):
        from bench import children  # noqa: E402
        return [self.nginx.proc.pid] + children(self.nginx.proc.pid)

    def cpu_us(self):
        from bench import TICK_US, cpu_ticks  # noqa: E402
        return sum(cpu_ticks(p) for p in self.pids()) * TICK_US

    def rss_kib(self, field="VmRSS"):
        from bench import rss_kib  # noqa: E402
        return sum(rss_kib(p, field) for p in self.pids())

    def replace_crl(self, variant):
        swap(self.crl, variant["all"])

    def reload(self):
        self.nginx.proc.send_signal(signal.SIGHUP)

    def trust_marker(self):
        """The set of worker processes: a new worker means the master loaded the new CRL."""
        from bench import children  # noqa: E402
        return tuple(sorted(children(self.nginx.proc.pid)))
