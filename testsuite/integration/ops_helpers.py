"""Helpers for the operations tests: a test sd_notify socket, a gateway started with an
extra environment and extra TOML, the admin /metrics page, and a loopback CRL server."""

import datetime
import functools
import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request

import harness


class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, directory, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            # "@name" in $NOTIFY_SOCKET is the Linux abstract namespace (leading NUL).
            name = "cns-notify-%d-%d" % (os.getpid(), id(self))
            self.sock.bind("\0" + name)
            self.path = "@" + name
        else:
            self.path = os.path.join(str(directory), "notify.sock")
            if os.path.exists(self.path):
                os.unlink(self.path)
            self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []  # (monotonic arrival, {key: value}, raw text)
        self._cond = threading.Condition()
        self._stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            text = data.decode("utf-8", "replace")
            fields = {}
            for line in text.split("\n"):
                key, sep, value = line.partition("=")
                if sep:
                    fields[key] = value
            with self._cond:
                self.messages.append((time.monotonic(), fields, text))
                self._cond.notify_all()

    def mark(self):
        with self._cond:
            return len(self.messages)

    def wait(self, predicate, timeout=10.0, start=0):
        """The first message from index `start` on for which predicate(fields) holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index in range(start, len(self.messages)):
                    if predicate(self.messages[index][1]):
                        return index, self.messages[index][1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("no matching sd_notify message in %.1fs; got %r"
                                         % (timeout, [m[2] for m in self.messages[start:]][-20:]))
                self._cond.wait(min(remaining, 0.2))

    def close(self):
        self._stop = True
        self.sock.close()
        if not self.path.startswith("@") and os.path.exists(self.path):
            os.unlink(self.path)


class OpsGateway(harness.Gateway):
    """harness.Gateway with an extra environment and raw TOML appended to the config
    (for sub-tables like [trust.crl_sources] the dict-to-TOML writer does not make)."""

    def start(self, config=None, timeout=15.0, env=None, extra_toml=""):
        binary = harness.gateway_binary()
        if not os.path.exists(os.path.join(self.dir, "ca-bundle.pem")):
            self.install_trust()
        self.config = config or self.make_config()
        with open(self.config_path, "w") as handle:
            handle.write(harness.to_toml(self.config) + "\n" + extra_toml)
        self.events, self.stderr, self._stdout_eof = [], [], False
        environment = dict(os.environ)
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"):
            environment.pop(key, None)
        environment.update(env or {})
        self.proc = subprocess.Popen([binary, "serve", "--config", self.config_path], cwd=self.dir, env=environment,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True).start()
        self.wait_event(lambda e: e.get("event") == "ready", timeout=timeout, start=0)
        for event in self.events:
            if event.get("event") == "listening":
                self.listeners[event["listener"]] = harness.split_address(event["address"])
        return self


def new_gateway(factory, name):
    gateway = OpsGateway(factory.pki, factory.tmp, name)
    factory.started.append(gateway)
    return gateway


# ---- /metrics ---------------------------------------------------------------------------------

def fetch_metrics(gateway):
    host, port = gateway.listeners["admin"]
    with urllib.request.urlopen("http://%s:%d/metrics" % (host, port), timeout=5) as response:
        assert response.status == 200
        return response.read().decode("utf-8")


def parse_metrics(text):
    """{sample name: [(labels dict, value)]} via prometheus_client's own text parser."""
    from prometheus_client.parser import text_string_to_metric_families
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def metric_sum(samples, name, **labels):
    return sum(value for sample_labels, value in samples.get(name, [])
               if all(sample_labels.get(k) == v for k, v in labels.items()))


# ---- a loopback HTTP server for CRLs ----------------------------------------------------------

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


class CRLServer:
    """Serves a directory over plain HTTP on 127.0.0.1 (port chosen by the kernel)."""

    def __init__(self, directory):
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        handler = functools.partial(QuietHandler, directory=self.dir)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name):
        return "http://127.0.0.1:%d/%s" % (self.port, name)

    def publish(self, name, source):
        """Atomically replace the served file with a copy of `source`."""
        tmp = os.path.join(self.dir, "." + name + ".tmp")
        shutil.copy(source, tmp)
        os.replace(tmp, os.path.join(self.dir, name))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def recent_last_update(minutes=5):
    """A thisUpdate later than the session PKI's CRLs (made an hour before their start)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=minutes)


# ---- systemd unit files -----------------------------------------------------------------------

def units_for_binary(target_dir, binary):
    """Copies of systemd/* with /usr/bin/cns-gateway replaced by the built binary."""
    source = os.path.join(harness.REPO, "systemd")
    os.makedirs(target_dir, exist_ok=True)
    paths = {}
    for name in os.listdir(source):
        with open(os.path.join(source, name)) as handle:
            text = handle.read().replace("/usr/bin/cns-gateway", binary)
        path = os.path.join(target_dir, name)
        with open(path, "w") as handle:
            handle.write(text)
        paths[name] = path
    return paths
