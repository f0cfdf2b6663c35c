"""Slowloris-style clients (slow group): 1,000 silent TCP connections, 200 pre-handshake
tricklers and 50 post-handshake header tricklers. The gateway keeps serving, closes them within
its timeouts, and gives the memory back."""

import errno
import select
import socket
import ssl
import time

import pytest

from harness import client_context, curl

pytestmark = pytest.mark.slow

TIMEOUT = 2.0            # handshake_timeout and header_timeout of this gateway
SLACK = 3.0              # scheduling, timer granularity, 1,250 closes in one batch
SILENT = 1000
TRICKLE_PLAIN = 200
TRICKLE_HEADERS = 50
SOURCES = ["127.0.1.%d" % i for i in range(1, 11)]  # spread over sources: stays under the per-client cap
RSS_MARGIN_KIB = 32 * 1024   # after a cycle, RSS within baseline + 32 MiB
RSS_LEAK_KIB = 8 * 1024      # a second identical cycle must not grow it by more than 8 MiB


@pytest.fixture(scope="module")
def gw(gateways):
    gateway = gateways.new("slow")
    return gateway.start(gateway.make_config(limits={
        "handshake_timeout": TIMEOUT, "header_timeout": TIMEOUT, "idle_timeout": 30.0,
        "max_connections": 10000, "max_connections_per_client": 256}))


class Held:
    def __init__(self, sock, kind):
        self.sock, self.kind = sock, kind
        self.opened = time.monotonic()
        self.closed = None


def _connect(port, index):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((SOURCES[index % len(SOURCES)], 0))
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def _open_all(pki, gw):
    port = gw.port()
    held = []
    for i in range(SILENT):
        held.append(Held(_connect(port, i), "silent"))
    for i in range(TRICKLE_PLAIN):
        held.append(Held(_connect(port, i), "trickle-plain"))
    context = client_context(pki, "ok1")
    for i in range(TRICKLE_HEADERS):
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        tls = context.wrap_socket(raw, server_hostname="localhost")  # handshake completes, then nothing
        tls.setblocking(False)
        item = Held(tls, "trickle-headers")
        item.opened = time.monotonic()  # header_timeout starts after the handshake
        held.append(item)
    return held


def _mark_closed(item, now):
    if item.closed is None:
        item.closed = now
        try:
            item.sock.close()
        except OSError:
            pass


def _pump(held, until):
    """Trickle one byte per second into the tricklers; note when the server closes each one."""
    payload = {"trickle-plain": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 10,
               "trickle-headers": b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 100}
    offset = {}
    next_trickle = time.monotonic()
    while time.monotonic() < until:
        open_items = [h for h in held if h.closed is None]
        if not open_items:
            return
        now = time.monotonic()
        if now >= next_trickle:
            next_trickle = now + 1.0
            for item in open_items:
                if item.kind == "silent":
                    continue
                at = offset.get(id(item), 0)
                try:
                    item.sock.send(payload[item.kind][at:at + 1])
                    offset[id(item)] = at + 1
                except (ssl.SSLWantWriteError, BlockingIOError):
                    pass
                except (OSError, ssl.SSLError):
                    _mark_closed(item, time.monotonic())
        readable = _poll([h.sock for h in open_items])
        by_sock = {h.sock: h for h in open_items}
        for sock in readable:
            item = by_sock[sock]
            try:
                data = sock.recv(4096)
                if not data:
                    _mark_closed(item, time.monotonic())
                # Bytes (a TLS alert, an HTTP 408) are fine; the close follows.
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            except (OSError, ssl.SSLError) as error:
                if getattr(error, "errno", None) not in (errno.EAGAIN,):
                    _mark_closed(item, time.monotonic())


def _poll(socks):
    poller = select.poll()
    fds = {}
    for sock in socks:
        poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
        fds[sock.fileno()] = sock
    return [fds[fd] for fd, _ in poller.poll(50)]


def _cycle(pki, gw):
    held = _open_all(pki, gw)
    try:
        # While all of them are held, a normal client is served promptly.
        for _ in range(3):
            result = curl(pki, gw.url("/healthz"), None, timeout=5)
            assert result.status == 200, result
            assert result.time_total < 1.0, "healthz took %.3fs with %d slow clients held" % (result.time_total, len(held))
        _pump(held, time.monotonic() + TIMEOUT + SLACK + 2)
        late = [h for h in held if h.closed is None or h.closed - h.opened > TIMEOUT + SLACK]
        kinds = {}
        for h in late:
            kinds[h.kind] = kinds.get(h.kind, 0) + 1
        assert not late, "%d connections not closed within %.1fs (+%.1fs slack): %r" % (len(late), TIMEOUT, SLACK, kinds)
    finally:
        for h in held:
            try:
                h.sock.close()
            except OSError:
                pass


def test_slow_clients_are_cut_and_memory_returns(pki, gw):
    for _ in range(3):  # warm up allocator and TLS contexts before the baseline
        assert curl(pki, gw.url("/whoami"), "ok1").status == 200
    time.sleep(0.5)
    baseline = gw.rss_kib()

    _cycle(pki, gw)
    time.sleep(1.0)
    after_first = gw.rss_kib()
    assert gw.alive()
    assert after_first - baseline < RSS_MARGIN_KIB, \
        "VmRSS %d KiB after the slow clients left, baseline %d KiB (margin %d KiB)" % (after_first, baseline, RSS_MARGIN_KIB)

    _cycle(pki, gw)
    time.sleep(1.0)
    after_second = gw.rss_kib()
    print("VmRSS KiB: baseline %d, after cycle 1 %d, after cycle 2 %d" % (baseline, after_first, after_second))
    assert after_second - after_first < RSS_LEAK_KIB, \
        "VmRSS grew from %d to %d KiB over a second identical cycle: leak?" % (after_first, after_second)
    assert curl(pki, gw.url("/whoami"), "ok1").json()["verdict"]["reason"] == "ok"


def test_connection_cap_per_client(pki, fresh_gateways):
    gw = fresh_gateways.new("percap")
    gw.start(gw.make_config(limits={"max_connections_per_client": 20, "handshake_timeout": 5.0}))
    held = [socket.create_connection(("127.0.0.1", gw.port())) for _ in range(20)]
    try:
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", gw.port()), timeout=5)
        extra.settimeout(3)
        try:
            assert extra.recv(1) == b"", "the 21st connection from one address was not closed"
        except ConnectionResetError:
            pass
        finally:
            extra.close()
        # Another source address is not affected by this one's cap.
        other = socket.socket()
        other.bind(("127.0.0.3", 0))
        other.connect(("127.0.0.1", gw.port()))
        tls = client_context(pki, "ok1").wrap_socket(other, server_hostname="localhost")
        tls.close()
    finally:
        for sock in held:
            sock.close()
