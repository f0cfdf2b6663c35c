"""Issue 15, item 2 (the pools): a flood of wrong client secrets at the back channel does not
hold up citizens' logins.

Client ids are public, so anyone can send /token a wrong secret for a registered client whose
secret a person chose: each such attempt costs a PBKDF2 of 600,000 rounds until the client's
failure allowance runs out (`client_auth_failures_per_client`, 30 by default, from all sources
together), and the per-source allowance only caps what one address can add. Twenty addresses,
four connections each, flooding five such clients keep 80 requests waiting for their slow
checks (150 of them before the allowances run out: about 40 s of CPU here; every request past
them is a cheap 429 that still takes its turn in a pool). With one shared pool a login queues
behind all of it (8 to 18 s each when tried); with the login pool of its own it is answered at
once.

The flood's sources are loopback addresses (127.0.4.N): nothing leaves the machine."""

import base64
import socket
import threading
import time
import urllib.parse

import pytest

import harness
from harness import read_response
from oidc_helpers import CLIENT_ID, oidc_config, pkce_pair

SOURCES = ["127.0.4.%d" % i for i in range(1, 21)]
CONNECTIONS_PER_SOURCE = 4
FLOODED_CLIENTS = ["rp-%d" % i for i in range(1, 5)] + [CLIENT_ID]  # secrets a person chose: PBKDF2
PER_CONNECTION_RATE = 5.0   # requests per second on each connection, at most
LOGINS = 12
LOGIN_EVERY = 0.6        # seconds
LOGIN_BOUND = 1.0        # seconds from connect to the 302 with the code


@pytest.fixture(scope="module")
def gw(gateways, rp):
    gateway = gateways.new("bcflood")
    public_port, login_port = harness.free_port(), harness.free_port()
    config = oidc_config(gateway, public_port, login_port, rp.redirect_uri)
    slow_hash = config["client"][0]["secret_hash"]  # a PBKDF2 hash (oidc_helpers checks the form)
    config["client"] += [{"id": name, "secret_hash": slow_hash, "redirect_uris": [rp.redirect_uri + "/" + name]}
                         for name in FLOODED_CLIENTS if name != CLIENT_ID]
    gateway.start(config)
    return gateway


class Flood:
    """Kept-alive TLS connections from each source address, each sending /token a wrong secret
    for the flooded clients in turn (the next request when the answer has come, at most
    PER_CONNECTION_RATE a second), until stopped."""

    def __init__(self, pki, gw):
        self.pki, self.port = pki, gw.port("public")
        self.stop = threading.Event()
        self.statuses = {}
        self.lock = threading.Lock()
        self.open = set()
        self.threads = [threading.Thread(target=self._run, args=(source, i), daemon=True)
                        for i, source in enumerate(SOURCES * CONNECTIONS_PER_SOURCE)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        with self.lock:
            waiting = list(self.open)
        for sock in waiting:  # connections still waiting for a slow check: no need to hear it
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self.threads:
            thread.join(15)

    def _connect(self, source):
        raw = socket.socket()
        raw.settimeout(60)
        raw.bind((source, 0))
        raw.connect(("127.0.0.1", self.port))
        sock = harness.client_context(self.pki).wrap_socket(raw, server_hostname="localhost")
        with self.lock:
            self.open.add(sock)
        return sock

    def _close(self, sock):
        with self.lock:
            self.open.discard(sock)
        sock.close()

    def _run(self, source, index):
        sock = None
        n = index
        while not self.stop.is_set():
            started = time.monotonic()
            client = FLOODED_CLIENTS[n % len(FLOODED_CLIENTS)]
            n += 1
            auth = base64.b64encode(("%s:wrong-%d" % (client, n)).encode()).decode()
            body = "grant_type=authorization_code&code=nothing&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb"
            try:
                if sock is None:
                    sock = self._connect(source)
                sock.sendall(("POST /token HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic %s\r\n"
                              "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
                              % (auth, len(body), body)).encode())
                response = read_response(sock, timeout=60)
                status = response.status if response else "closed"
                if response is None or response.headers.get("connection", "").lower() == "close":
                    self._close(sock)
                    sock = None
            except (OSError, AssertionError) as error:
                status = type(error).__name__
                if sock is not None:
                    self._close(sock)
                sock = None
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
            self.stop.wait(max(0.0, 1.0 / PER_CONNECTION_RATE - (time.monotonic() - started)))
        if sock is not None:
            self._close(sock)


def timed_login(pki, gw, rp):
    """The browser at the login listener's /authorize with the card: seconds to the redirect
    carrying the code, and the response."""
    _, challenge = pkce_pair()
    query = urllib.parse.urlencode({"client_id": CLIENT_ID, "redirect_uri": rp.redirect_uri, "response_type": "code",
                                    "scope": "openid", "state": "st", "nonce": "nn", "code_challenge": challenge,
                                    "code_challenge_method": "S256"})
    started = time.monotonic()
    sock = harness.tls_connect(pki, gw.port("login"), "ok1", timeout=60)
    try:
        sock.sendall(("GET /authorize?%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % query).encode())
        response = read_response(sock, timeout=60)  # long enough to measure a login held up, not cut it
    finally:
        sock.close()
    assert response is not None, "the login listener closed without answering"
    return time.monotonic() - started, response


def test_logins_complete_within_a_second_during_a_flood_of_wrong_secrets(pki, gw, rp):
    baseline, response = timed_login(pki, gw, rp)
    assert response.status == 302 and "code=" in response.headers["location"], response

    timings = []
    with Flood(pki, gw) as flood:
        time.sleep(1.0)  # the slow checks are queued by now
        for _ in range(LOGINS):
            started = time.monotonic()
            elapsed, response = timed_login(pki, gw, rp)
            assert response.status == 302 and "code=" in response.headers["location"], response
            timings.append(elapsed)
            time.sleep(max(0.0, LOGIN_EVERY - (time.monotonic() - started)))
        statuses = dict(flood.statuses)

    print("login before the flood %.3f s; during it: %s; flood answers: %r"
          % (baseline, " ".join("%.3f" % t for t in timings), statuses))
    # The flood was the real thing: slow checks answered (401 after a PBKDF2 each) while 80
    # more waited their turn on the back channel all along.
    assert statuses.get(401, 0) >= 20, statuses
    slow = [t for t in timings if t > LOGIN_BOUND]
    assert not slow, "%d of %d logins took over %.1f s during the flood: %s" % (
        len(slow), len(timings), LOGIN_BOUND, " ".join("%.2f" % t for t in timings))
    assert gw.alive()
