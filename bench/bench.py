#!/usr/bin/env python3
"""cns-gateway against nginx, same PKI, same CPU, same run. See bench/README.md.

Server on CPU 0, load generator (bench/loadgen.c) on CPU 1. Alternating rounds, each with a
freshly started server: idle-connection RSS, full handshakes, keep-alive requests, and (ours
only) the complete OpenID Connect login, with the SQLite store and then, against a second gateway,
with a PostgreSQL store (a private cluster on CPU 1, its own CPU not counted). Server CPU comes from /proc/PID/stat utime+stime
(every thread; nginx: master + worker).
"""

import argparse
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(REPO, "testsuite", "pki"))

TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")
CLIENT_ID = "bench"
CLIENT_SECRET = "bench-secret-" + "y" * 24

FULL = dict(rounds=5, citizens=500, hs=3000, hs_workers=8, ka=60000, ka_workers=4, idle=1000, login=500,
            login_workers=6, warmup=50, login_warmup=5,
            bigcrl_entries=1_000_000, bigcrl_warmup=20, bigcrl_cold=200, bigcrl_reloads=5)
SMOKE = dict(rounds=1, citizens=30, hs=150, hs_workers=4, ka=1500, ka_workers=2, idle=50, login=15,
             login_workers=2, warmup=10, login_warmup=2,
             bigcrl_entries=20_000, bigcrl_warmup=5, bigcrl_cold=10, bigcrl_reloads=2)


def log(message):
    print(message, flush=True)


def run(args, **kw):
    return subprocess.run(args, check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listening on %d" % port)


# ---- /proc ----------------------------------------------------------------------------------

def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of the whole line


def rss_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                pass
    return found


# ---- material -------------------------------------------------------------------------------

def build(out, skip_build, binary=None):
    if not skip_build and binary is None:
        log("building cns-gateway (release, --scratch-path .build-bench)")
        run(["swift", "build", "-c", "release", "--product", "cns-gateway", "--static-swift-stdlib", "--scratch-path", ".build-bench"],
            cwd=REPO, stdout=subprocess.DEVNULL)
    binary = os.path.abspath(binary) if binary else os.path.join(REPO, ".build-bench", "release", "cns-gateway")
    loadgen = os.path.join(out, "loadgen")
    run(["cc", "-O2", "-Wall", "-o", loadgen, os.path.join(BENCH, "loadgen.c"), "-lssl", "-lcrypto"])
    return binary, loadgen


def make_pki(out, citizens):
    import cnspki
    started = time.monotonic()
    pki_dir = os.path.join(out, "pki")
    shutil.rmtree(pki_dir, ignore_errors=True)
    pki = cnspki.generate(pki_dir, citizens=citizens, filler=400)
    log("PKI: %d citizen cards (RSA-2048, key pool of 8, distinct certificates) in %.1fs"
        % (citizens, time.monotonic() - started))
    m = pki.manifest
    # One CRL file for both servers: every trusted CA's CRL, root1's with 400 filler entries.
    crl = b""
    for name in ("root1", "root1b", "legacy", "root2", "intermediate"):
        path = m["crls"]["root1_filler"] if name == "root1" else m["cas"][name]["crl_pem"]
        with open(pki.path(path), "rb") as handle:
            crl += handle.read()
    crl_path = os.path.join(out, "crl-all.pem")
    with open(crl_path, "wb") as handle:
        handle.write(crl)
    cards = os.path.join(out, "cards.txt")
    with open(cards, "w") as handle:
        for i in range(citizens):
            entry = pki.citizen("ok%d" % (i + 1))
            handle.write("%s %s\n" % (entry["cert"], entry["key"]))
    return dict(ca_bundle=pki.path(m["ca_bundle"]), crl=crl_path, cards=cards,
                cert=pki.path(m["server"]["cert"]), key=pki.path(m["server"]["key"]),
                server_ca=pki.path(m["server"]["ca"]), pki_dir=pki_dir)


# ---- servers --------------------------------------------------------------------------------

class Server:
    name = ""
    proc = None

    def pids(self):
        return [self.proc.pid]

    def cpu_us(self):
        return sum(cpu_ticks(p) for p in self.pids()) * TICK_US

    def rss_kib(self, field="VmRSS"):
        return sum(rss_kib(p, field) for p in self.pids())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def toml(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(toml(v) for v in value) + "]"


class Gateway(Server):
    name = "ours"

    def __init__(self, binary, out, material, secret_hash, store=None, dirname="gateway"):
        self.binary, self.material = binary, material
        self.dir = os.path.join(out, dirname)
        self.port, self.public_port, self.login_port = free_port(), free_port(), free_port()
        state = os.path.join(self.dir, "state")
        os.makedirs(state, exist_ok=True)
        os.chmod(state, 0o700)
        listener = lambda name, port, mode: {
            "name": name, "address": "127.0.0.1:%d" % port, "certificate": material["cert"],
            "private_key": material["key"], "client_certificate": mode, "tls_versions": ["1.3"],
            "proxy_protocol": False, "trusted_proxies": [], "send_ca_names": True}
        tables = [
            ("server", {"loop_threads": 1, "drain_timeout": 1.0, "state_dir": state}),
            ("logging", {"level": "info", "format": "json", "access_log": False}),
            ("trust", {"ca_bundle": material["ca_bundle"], "crls": [material["crl"]],
                       "revocation": "best-effort", "legacy_issuers": []}),
            ("limits", {"handshake_timeout": 10.0, "header_timeout": 10.0, "idle_timeout": 600.0,
                        "max_connections": 20000, "max_connections_per_client": 20000,
                        "max_header_bytes": 16384, "max_body_bytes": 65536,
                        # The benchmark measures what a loop can do: no accept bound (nginx has none).
                        "accept_rate": 0}),
            ("oidc", {"issuer": "https://localhost:%d" % self.public_port,
                      "login_base_url": "https://localhost:%d" % self.login_port, "interstitial": False}),
        ]
        if store:
            tables.append(("store", store))
        lines = []
        for section, body in tables:
            lines.append("[%s]" % section)
            lines += ["%s = %s" % (k, toml(v)) for k, v in body.items()]
            lines.append("")
        for name, port, mode in (("card", self.port, "require"), ("public", self.public_port, "none"),
                                 ("login", self.login_port, "optional")):
            lines.append("[[listener]]")
            lines += ["%s = %s" % (k, toml(v)) for k, v in listener(name, port, mode).items()]
            lines.append("")
        lines += ["[[client]]", 'id = "%s"' % CLIENT_ID, 'name = "bench"', "secret_hash = %s" % toml(secret_hash),
                  'redirect_uris = ["http://127.0.0.1:9/cb"]', 'post_logout_redirect_uris = ["http://127.0.0.1:9/bye"]', ""]
        self.config = os.path.join(self.dir, "gateway.toml")
        with open(self.config, "w") as handle:
            handle.write("\n".join(lines))

    def start(self):
        self.logfile = open(os.path.join(self.dir, "gateway.log"), "ab")
        self.proc = subprocess.Popen(["taskset", "-c", "0", self.binary, "serve", "--config", self.config],
                                     cwd=self.dir, stdin=subprocess.DEVNULL, stdout=self.logfile,
                                     stderr=subprocess.STDOUT)
        for port in (self.port, self.public_port, self.login_port):
            wait_port(port, self.proc)


NGINX_CONF = """
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log error;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp;
    keepalive_timeout 600s;
    keepalive_requests 10000000;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.3;
        ssl_ecdh_curve X25519;
        ssl_session_tickets off;
        ssl_session_cache off;
        ssl_verify_client on;
        ssl_verify_depth 8;
        ssl_client_certificate {ca_bundle};
        ssl_crl {crl};
        location = /healthz {{ return 200 "ok"; }}
    }}
}}
"""


class Nginx(Server):
    name = "nginx"

    def __init__(self, out, material, dirname="nginx"):
        self.dir = os.path.join(out, dirname)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        self.port = free_port()
        self.config = os.path.join(self.dir, "nginx.conf")
        with open(self.config, "w") as handle:
            handle.write(NGINX_CONF.format(dir=self.dir, port=self.port, **material))

    def start(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen(["taskset", "-c", "0", nginx, "-p", self.dir, "-c", self.config],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr.log"), "ab"))
        wait_port(self.port, self.proc)
        deadline = time.monotonic() + 5
        while not children(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.workers = children(self.proc.pid)

    def pids(self):
        return [self.proc.pid] + self.workers

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: the master waits for its worker
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Postgres:
    """A private cluster (initdb/pg_ctl in a temporary folder, as `nobody` when root: initdb
    refuses root) on 127.0.0.1, pinned to CPU 1 like the load generator. Trust authentication,
    user and database `cns`. The same few lines as testsuite/integration/pg_helpers.py, without pytest."""

    USER = DATABASE = "cns"

    def __init__(self):
        candidates = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.access(os.path.join(d, "initdb"), os.X_OK)]
        candidates.sort(key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
        if not candidates:
            raise SystemExit("PostgreSQL server programs (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin: "
                             "install the Debian package `postgresql` (scripts/install-deps --test)")
        self.bin = candidates[-1]
        self.runas = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("nobody")
            except KeyError:
                raise SystemExit("running as root and there is no user `nobody` to run initdb as")
            self.runas = "nobody"
        self.dir = tempfile.mkdtemp(prefix="cns-bench-pg-")
        os.chmod(self.dir, 0o755)
        if self.runas:
            shutil.chown(self.dir, user=self.runas)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "pg.log")
        self.port = free_port()
        self.started = False

    def _run(self, *args, check=True):
        command = ["taskset", "-c", "1", os.path.join(self.bin, args[0])] + list(args[1:])
        if self.runas:
            command = ["su", "-s", "/bin/sh", self.runas, "-c", " ".join("'" + a.replace("'", "'\\''") + "'" for a in command)]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.dir)
        if check and proc.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s%s" % (args[0], proc.returncode, proc.stdout, proc.stderr))
        return proc

    def start(self):
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", self.USER, "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as handle:
            handle.write("\nmax_connections = 100\nfsync = on\n")  # fsync as in production
        self._run("pg_ctl", "-D", self.data, "-w", "-t", "30", "-o",
                  "-p %d -k %s -c listen_addresses=127.0.0.1" % (self.port, self.dir), "-l", self.log, "start")
        self.started = True
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER, self.DATABASE)
        with open(os.path.join(self.data, "postmaster.pid")) as handle:
            self.pid = int(handle.readline())
        log("PostgreSQL %s: private cluster on 127.0.0.1:%d (taskset -c 1)" % (self.bin.split("/")[-2], self.port))

    def url(self):
        return "postgres://%s@127.0.0.1:%d/%s?connect_timeout=5" % (self.USER, self.port, self.DATABASE)

    def cpu_us(self):
        """postmaster + live backends + reaped children (cutime, cstime), all of PostgreSQL."""
        with open("/proc/%d/stat" % self.pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        ticks = sum(int(f) for f in fields[11:15])
        for child in children(self.pid):
            try:
                ticks += cpu_ticks(child)
            except OSError:
                pass
        return ticks * TICK_US

    def stop(self):
        if self.started:
            self._run("pg_ctl", "-D", self.data, "-w", "-t", "30", "stop", "-m", "fast", check=False)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- measurements ---------------------------------------------------------------------------

def loadgen(binary, cards, args):
    proc = subprocess.run(["taskset", "-c", "1", binary, "-c", cards] + args, capture_output=True, text=True,
                          timeout=300)
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not line:
        raise RuntimeError("loadgen %s failed: %s %s" % (args, proc.stdout, proc.stderr))
    return dict(kv.split("=", 1) for kv in line[-1].split()[1:])


def measured(server, binary, cards, args):
    before = server.cpu_us()
    result = loadgen(binary, cards, args)
    cpu = server.cpu_us() - before
    ok = int(result["ok"])
    return dict(cpu_us=cpu / max(ok, 1), rate=float(result["rate"]), p50_us=int(result["p50_us"]),
                p99_us=int(result["p99_us"]), errors=int(result["errors"]), ok=ok)


def idle_rss(server, binary, cards, count):
    proc = subprocess.Popen(["taskset", "-c", "1", binary, "-c", cards, "-m", "idle", "-p", str(server.port),
                             "-n", str(count), "-w", "4"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        proc.kill()
        raise RuntimeError("idle loadgen: %r" % line)
    fields = dict(kv.split("=", 1) for kv in line.split()[1:])
    time.sleep(0.5)
    rss = server.rss_kib(), server.rss_kib("RssAnon")
    proc.stdin.close()
    proc.wait(timeout=60)
    return rss, int(fields["open"]), int(fields["errors"])


def login_args(gateway, count, workers, public_hop=False):
    return ["-m", "login", "-p", str(gateway.public_port), "-P", str(gateway.login_port),
            "-n", str(count), "-w", str(workers), "-i", CLIENT_ID, "-s", CLIENT_SECRET] + (["-H"] if public_hop else [])


def login_pg_round(gateway, pg, binary, cards, p):
    """The login phase alone against the gateway with the PostgreSQL store. Before it, as in
    the SQLite round, every card has made a handshake (the verified-chain cache is as warm)
    and the warm-up logins pay the PBKDF2 check and open the store's connections."""
    fig = {}
    gateway.start()
    try:
        loadgen(binary, cards, ["-m", "hs", "-p", str(gateway.port), "-n", str(p["citizens"]),
                                "-w", str(p["hs_workers"])])
        loadgen(binary, cards, login_args(gateway, p["login_warmup"], 1))
        pg_before = pg.cpu_us()
        login = measured(gateway, binary, cards, login_args(gateway, p["login"], p["login_workers"]))
        fig["login_pg_postgres_cpu_us"] = (pg.cpu_us() - pg_before) / max(login["ok"], 1)
        fig["login_pg_cpu_us"], fig["login_pg_rate"], fig["login_pg_errors"] = login["cpu_us"], login["rate"], login["errors"]
        fig["login_pg_p50_us"] = login["p50_us"]
    finally:
        gateway.stop()
    return fig


def round_for(server, binary, cards, p, gateway=None):
    fig = {}
    server.start()
    try:
        # Warm-up with the first cards, then every other card once: each of those is new
        # to the server (a verified-chain cache cannot answer), the worst case.
        loadgen(binary, cards, ["-m", "hs", "-p", str(server.port), "-n", str(p["warmup"]), "-w", "2"])
        cold = measured(server, binary, cards, ["-m", "hs", "-p", str(server.port), "-o", str(p["warmup"]),
                                                "-n", str(p["citizens"] - p["warmup"]), "-w", str(p["hs_workers"])])
        fig["handshake_cold_cpu_us"] = cold["cpu_us"]
        fig["handshake_cold_errors"] = cold["errors"]
        fig["rss_base_kib"] = server.rss_kib()
        fig["rss_base_anon_kib"] = server.rss_kib("RssAnon")
        rss, opened, errors = idle_rss(server, binary, cards, p["idle"])
        (fig["idle_rss_kib"], fig["idle_rss_anon_kib"]), fig["idle_open"], fig["idle_errors"] = rss, opened, errors
        hs = measured(server, binary, cards, ["-m", "hs", "-p", str(server.port), "-n", str(p["hs"]),
                                              "-w", str(p["hs_workers"])])
        ka = measured(server, binary, cards, ["-m", "ka", "-p", str(server.port), "-n", str(p["ka"]),
                                              "-w", str(p["ka_workers"])])
        for prefix, result in (("handshake", hs), ("keepalive", ka)):
            for key in ("cpu_us", "rate", "p50_us", "p99_us", "errors"):
                fig["%s_%s" % (prefix, key)] = result[key]
        if gateway is not None:
            # The first /token after start pays the client secret's PBKDF2 (600,000 rounds)
            # once; the gateway keeps the verified secret for its lifetime.
            loadgen(binary, cards, login_args(gateway, p["login_warmup"], 1))
            login = measured(server, binary, cards, login_args(gateway, p["login"], p["login_workers"]))
            fig["login_cpu_us"], fig["login_rate"], fig["login_errors"] = login["cpu_us"], login["rate"], login["errors"]
            fig["login_p50_us"] = login["p50_us"]
            # The same with the public hop first (a service configured with the public
            # /authorize, or the interstitial page): one more full handshake, without a card.
            hop = measured(server, binary, cards, login_args(gateway, p["login"], p["login_workers"], public_hop=True))
            fig["login_hop_cpu_us"], fig["login_hop_errors"] = hop["cpu_us"], hop["errors"]
    finally:
        server.stop()
    return fig


FIGURES = [  # name, unit, lower is better
    ("handshake_cpu_us", "µs CPU / full handshake (+1 tiny request), 500 cards round robin", True),
    ("handshake_cold_cpu_us", "µs CPU / full handshake, every card new to the server", True),
    ("handshake_rate", "handshakes/s (client-bound: RSA-2048 signing on 1 core)", False),
    ("handshake_p50_us", "µs p50 handshake latency", True),
    ("handshake_p99_us", "µs p99 handshake latency", True),
    ("handshake_errors", "handshake errors", True),
    ("keepalive_cpu_us", "µs CPU / keep-alive GET /healthz", True),
    ("keepalive_rate", "keep-alive requests/s", False),
    ("keepalive_p50_us", "µs p50 keep-alive latency", True),
    ("keepalive_p99_us", "µs p99 keep-alive latency", True),
    ("keepalive_errors", "keep-alive errors", True),
    ("idle_rss_kib", "KiB RSS with idle TLS connections open (nginx: master + worker)", True),
    ("rss_base_kib", "KiB RSS after warm-up, no connections", True),
    ("idle_rss_anon_kib", "KiB anonymous RSS (heap, stacks; no library pages) with the idle connections", True),
    ("rss_base_anon_kib", "KiB anonymous RSS after warm-up, no connections", True),
]


def spread(values):
    return "%s [%s–%s]" % (fmt(statistics.median(values)), fmt(min(values)), fmt(max(values)))


def fmt(v):
    if isinstance(v, float) and abs(v) < 10:
        return "%.3f" % v
    return "%.0f" % v if isinstance(v, float) else str(v)


def ratio(a, b):
    return a / b if b else float("nan") if a else 1.0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--smoke", action="store_true", help="a few seconds, small counts (CI)")
    ap.add_argument("--rounds", type=int, help="alternating rounds (default 5; smoke 1)")
    ap.add_argument("--out", default=os.path.join(BENCH, "out"))
    ap.add_argument("--no-build", action="store_true", help="use the existing .build-bench release binary")
    ap.add_argument("--only", choices=["ours", "nginx"], help="measure one server (profiling)")
    ap.add_argument("--binary", help="measure this cns-gateway binary instead of building one (A/B runs)")
    ap.add_argument("--bigcrl-entries", type=int, help="entries of the large CRL (default 1,000,000; smoke 20,000)")
    ap.add_argument("--no-bigcrl", action="store_true", help="skip the large-CRL phase")
    ap.add_argument("--only-bigcrl", action="store_true", help="run the large-CRL phase only")
    args = ap.parse_args()
    p = dict(SMOKE if args.smoke else FULL)
    if args.rounds:
        p["rounds"] = args.rounds
    if args.bigcrl_entries:
        p["bigcrl_entries"] = args.bigcrl_entries
    if args.only_bigcrl:
        p["rounds"] = 0
    started = time.monotonic()
    if os.cpu_count() < 2:
        log("warning: fewer than 2 CPUs: server and load generator share a core")
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    binary, lg = build(out, args.no_build, args.binary)
    material = make_pki(out, p["citizens"])
    secret_hash = subprocess.run([binary, "hash-secret"], input=CLIENT_SECRET + "\n", capture_output=True,
                                 text=True, check=True).stdout.strip().splitlines()[-1]
    ours, nginx = Gateway(binary, out, material, secret_hash), Nginx(out, material)

    pg = None
    if args.only != "nginx" and p["rounds"] > 0:
        pg = Postgres()
    try:
        rounds = {"ours": [], "nginx": [], "ours_pg": []}
        if pg:
            pg.start()
            kek = os.path.join(out, "kek.hex")
            with open(kek, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
            os.chmod(kek, 0o600)
            ours_pg = Gateway(binary, out, material, secret_hash, dirname="gateway-pg",
                              store={"url": pg.url(), "key_encryption_key_file": kek, "pool_size": 16})
        for r in range(p["rounds"]):
            for server in (ours, nginx):
                if args.only and server.name != args.only:
                    continue
                fig = round_for(server, lg, material["cards"], p, gateway=ours if server is ours else None)
                rounds[server.name].append(fig)
                log("round %d %-5s hs %.0fµs (cold %.0fµs) %.0f/s  ka %.1fµs %.0f/s  idle %d KiB%s"
                    % (r + 1, server.name, fig["handshake_cpu_us"], fig["handshake_cold_cpu_us"], fig["handshake_rate"], fig["keepalive_cpu_us"],
                       fig["keepalive_rate"], fig["idle_rss_kib"],
                       ("  login %.0fµs (with the public hop %.0fµs)" % (fig["login_cpu_us"], fig["login_hop_cpu_us"]))
                       if "login_cpu_us" in fig else ""))
            if pg:
                fig = login_pg_round(ours_pg, pg, lg, material["cards"], p)
                rounds["ours_pg"].append(fig)
                log("round %d ours with PostgreSQL  login %.0fµs (PostgreSQL itself %.0fµs) %.0f/s"
                    % (r + 1, fig["login_pg_cpu_us"], fig["login_pg_postgres_cpu_us"], fig["login_pg_rate"]))
    finally:
        if pg:
            pg.stop()

    big = {}
    if not args.no_bigcrl:
        big = bigcrl_phase(binary, lg, out, material, secret_hash, p, args.only)
        rounds["bigcrl"] = big
    with open(os.path.join(out, "rounds.json"), "w") as handle:
        json.dump(rounds, handle, indent=1)
    if args.only or p["rounds"] == 0:
        report_bigcrl(big, p, started)
        errors = sum(v for side in big.values() for k, v in side.items() if k.endswith("errors"))
        return 1 if errors else 0
    n = len(rounds["ours"])
    log("\n%d rounds, %d cards, %d handshakes / %d keep-alive requests / %d idle connections / %d logins per round"
        % (n, p["citizens"], p["hs"], p["ka"], p["idle"], p["login"]))
    log("%-22s %-26s %-26s %-22s %s" % ("figure", "ours median [min–max]", "nginx median [min–max]",
                                         "ratio ours/nginx", "unit"))
    summary = []
    for name, unit, _ in FIGURES:
        a = [f[name] for f in rounds["ours"]]
        b = [f[name] for f in rounds["nginx"]]
        ratios = [ratio(x, y) for x, y in zip(a, b)]
        log("%-22s %-26s %-26s %-22s %s" % (name, spread(a), spread(b), spread(ratios), unit))
        summary.append("BENCH figure=%s ours=%s nginx=%s ratio=%.3f ratio_min=%.3f ratio_max=%.3f rounds=%d"
                       % (name, fmt(statistics.median(a)), fmt(statistics.median(b)), statistics.median(ratios),
                          min(ratios), max(ratios), n))
    # The complete login against one nginx handshake of the same round.
    nginx_handshake = [f["handshake_cpu_us"] for f in rounds["nginx"]]
    for name, unit in (("login_cpu_us", "µs CPU / complete login vs µs / one nginx handshake"),
                       ("login_hop_cpu_us", "the same with the public /authorize hop first (one more handshake, no card)")):
        a = [f[name] for f in rounds["ours"]]
        ratios = [ratio(x, y) for x, y in zip(a, nginx_handshake)]
        log("%-22s %-26s %-26s %-22s %s" % (name, spread(a), spread(nginx_handshake), spread(ratios), unit))
        summary.append("BENCH figure=%s ours=%s nginx_handshake=%s ratio=%.3f ratio_min=%.3f ratio_max=%.3f rounds=%d"
                       % (name, fmt(statistics.median(a)), fmt(statistics.median(nginx_handshake)),
                          statistics.median(ratios), min(ratios), max(ratios), n))
    log("login: %s logins/s, p50 %s µs, errors %s" % (spread([f["login_rate"] for f in rounds["ours"]]),
                                                       spread([f["login_p50_us"] for f in rounds["ours"]]),
                                                       spread([f["login_errors"] for f in rounds["ours"]])))
    # The complete login with the PostgreSQL store against the SQLite login of the same round.
    a = [f["login_pg_cpu_us"] for f in rounds["ours_pg"]]
    b = [f["login_cpu_us"] for f in rounds["ours"]]
    ratios = [ratio(x, y) for x, y in zip(a, b)]
    log("%-22s %-26s %-26s %-22s %s" % ("login_pg_cpu_us", spread(a), spread(b), spread(ratios),
                                         "µs gateway CPU / complete login, PostgreSQL store vs SQLite store"))
    summary.append("BENCH figure=login_pg_cpu_us ours_pg=%s ours_sqlite=%s ratio=%.3f ratio_min=%.3f ratio_max=%.3f rounds=%d"
                   % (fmt(statistics.median(a)), fmt(statistics.median(b)), statistics.median(ratios),
                      min(ratios), max(ratios), n))
    log("login with PostgreSQL: %s logins/s, p50 %s µs, errors %s; PostgreSQL's own CPU (not counted above) %s µs / login"
        % (spread([f["login_pg_rate"] for f in rounds["ours_pg"]]), spread([f["login_pg_p50_us"] for f in rounds["ours_pg"]]),
           spread([f["login_pg_errors"] for f in rounds["ours_pg"]]),
           spread([f["login_pg_postgres_cpu_us"] for f in rounds["ours_pg"]])))
    log("")
    for line in summary:
        log(line)
    report_bigcrl(big, p, started)
    errors = sum(f[k] for name, side in rounds.items() if name != "bigcrl" for f in side for k in f if k.endswith("errors"))
    errors += sum(v for side in big.values() for k, v in side.items() if k.endswith("errors"))
    return 1 if errors else 0


def bigcrl_phase(binary, lg, out, material, secret_hash, p, only):
    """Both servers with root1's CRL at a large issuer's size (see bench/bigcrl_phase.py)."""
    import bigcrl_phase
    variants, others = bigcrl_phase.make_big_crls(out, material["pki_dir"], p["bigcrl_entries"])
    results = {}
    servers = (("ours", lambda: bigcrl_phase.OursBig(Gateway, binary, out, material, secret_hash, variants, others)),
               ("nginx", lambda: bigcrl_phase.NginxBig(Nginx, out, material, variants)))
    for name, make in servers:
        if only and only != name:
            continue
        results[name] = bigcrl_phase.run_phase(name, make(), material, variants, lg, material["cards"], p)
        f = results[name]
        log("large CRL %-5s start %.2fs  cold hs %.0fµs  reload max %.2fs  /healthz max %.1f ms  RSS %d -> %d KiB"
            % (name, f["bigcrl_start_s"], f["bigcrl_cold_cpu_us"], f["bigcrl_reload_s"], f["bigcrl_healthz_max_ms"],
               f["bigcrl_rss_load_kib"], f["bigcrl_rss_reloads_kib"]))
    return results


BIGCRL_FIGURES = [  # name, unit
    ("bigcrl_start_s", "s from start to the first served handshake"),
    ("bigcrl_cold_cpu_us", "µs CPU / full handshake, every card new to the server"),
    ("bigcrl_reload_s", "s from SIGHUP to the new trust serving (slowest of the reloads, each with a new CRL)"),
    ("bigcrl_reload_median_s", "s from SIGHUP to the new trust serving (median)"),
    ("bigcrl_healthz_max_ms", "ms longest GET /healthz on a kept-alive connection during the reloads"),
    ("bigcrl_rss_load_kib", "KiB RSS after the first load"),
    ("bigcrl_rss_served_kib", "KiB RSS after the first load and the cold handshakes"),
    ("bigcrl_rss_reloads_kib", "KiB RSS after the reloads"),
    ("bigcrl_rss_peak_kib", "KiB peak RSS (VmHWM, summed over processes) over the load and the reloads"),
]


def report_bigcrl(big, p, started):
    if big:
        log("\nlarge CRL: root1's CRL with %d entries; %d reloads, each with a CRL of new content"
            % (p["bigcrl_entries"], p["bigcrl_reloads"]))
        for name, unit in BIGCRL_FIGURES:
            ours = big.get("ours", {}).get(name)
            nginx = big.get("nginx", {}).get(name)
            line = "BENCH figure=%s ours=%s nginx=%s" % (name, fmt(ours) if ours is not None else "-",
                                                          fmt(nginx) if nginx is not None else "-")
            if ours is not None and nginx:
                line += " ratio=%.3f" % (ours / nginx)
            log("%s  (%s)" % (line, unit))
        if "ours" in big:
            growth = big["ours"]["bigcrl_rss_reloads_kib"] / big["ours"]["bigcrl_rss_load_kib"]
            log("BENCH figure=bigcrl_rss_growth ours=%.3f (RSS after the reloads / after the first load)" % growth)
            served = big["ours"]["bigcrl_rss_reloads_kib"] / big["ours"]["bigcrl_rss_served_kib"]
            log("BENCH figure=bigcrl_rss_reload_growth ours=%.3f (RSS after the reloads / after the first load and the cold handshakes)" % served)
            peak = big["ours"]["bigcrl_rss_peak_kib"] / big["ours"]["bigcrl_rss_load_kib"]
            log("BENCH figure=bigcrl_rss_peak_over_load ours=%.3f (peak RSS during load and reloads / after the first load)" % peak)
    log("BENCH total_seconds=%.0f" % (time.monotonic() - started))


if __name__ == "__main__":
    sys.exit(main())
