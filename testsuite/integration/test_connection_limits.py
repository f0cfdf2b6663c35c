"""Issue 15, item 8: limits that scale.

- Per-client connection limits count an IPv6 client by its /64 (the PROXY header names the
  client, so the test can speak for IPv6 clients over loopback).
- A handshake flood (full handshakes, no request, from 200 loopback source addresses, by
  bench/loadgen.c's `flood` mode) is accepted at `[limits] accept_rate` a second per loop
  thread, after a burst of `accept_burst`; meanwhile a kept-alive connection's /healthz keeps
  its latency. A normal crowd (a burst below `accept_burst`) is taken at once.

Every address involved is on loopback (127.0.0.0/8; the IPv6 ones exist only inside PROXY
headers)."""

import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

import harness
import ops_helpers
from harness import client_context, read_response

PER_CLIENT = 4
RATE = 100            # accept_rate of the flood gateway (one loop thread)
BURST = 50            # accept_burst
FLOOD_SECONDS = 5.0
PROBE_EVERY = 0.02    # seconds between /healthz probes on the kept-alive connection
LATENCY_P99 = 0.05    # seconds: the probe's bound during the flood (~1 ms unloaded, 50-100 ms unbounded)


# ---- IPv6 clients by their /64 -----------------------------------------------------------------

@pytest.fixture(scope="module")
def proxied(gateways):
    gateway = gateways.new("percap6")
    return gateway.start(gateway.make_config(listeners=[
        gateway.listener("public", client_certificate="none", proxy_protocol=True, trusted_proxies=["127.0.0.0/8"]),
    ], limits={"max_connections_per_client": PER_CLIENT, "handshake_timeout": 10.0}))


def proxy_connection(gw, client):
    """A connection whose PROXY v1 header says it comes from `client` (an IPv6 address)."""
    sock = socket.create_connection(("127.0.0.1", gw.port("public")), timeout=5)
    sock.sendall(("PROXY TCP6 %s 2001:db8::443 40000 443\r\n" % client).encode())
    return sock


def admitted(pki, sock):
    """True when the gateway goes on to the handshake; False when it closed the connection."""
    try:
        tls = client_context(pki).wrap_socket(sock, server_hostname="localhost")
    except (ssl.SSLError, OSError):
        return False
    tls.close()
    return True


def test_an_ipv6_client_is_counted_by_its_64(pki, proxied):
    held = [proxy_connection(proxied, "2001:db8:1:2::%x" % (i + 1)) for i in range(PER_CLIENT)]
    try:
        time.sleep(0.5)  # the gateway has read every header
        start = proxied.mark()
        # Another address of the same /64: one client, over its limit.
        assert not admitted(pki, proxy_connection(proxied, "2001:db8:1:2:ffff:eeee:dddd:cccc")), \
            "a fifth connection from the same /64 was admitted"
        refused = proxied.wait_event(lambda e: e.get("event") == "connection_refused", start=start, timeout=5)
        assert refused["reason"] == "max_connections_per_client", refused
        # The next /64 is someone else.
        assert admitted(pki, proxy_connection(proxied, "2001:db8:1:3::1"))
    finally:
        for sock in held:
            sock.close()
    # Once they have gone, the /64 has its allowance back.
    time.sleep(0.5)
    assert admitted(pki, proxy_connection(proxied, "2001:db8:1:2::99"))


# ---- a handshake flood -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def loadgen(tmp_path_factory):
    harness.require_program("cc")
    binary = str(tmp_path_factory.mktemp("loadgen") / "loadgen")
    source = os.path.join(harness.REPO, "bench", "loadgen.c")
    subprocess.run(["cc", "-O2", "-Wall", "-o", binary, source, "-lssl", "-lcrypto"], check=True, timeout=120)
    return binary


def flood_config(gateway, accept_bound=True):
    limits = {"handshake_timeout": 5.0}
    if accept_bound:
        limits.update({"accept_rate": RATE, "accept_burst": BURST})
    config = gateway.make_config(listeners=[gateway.listener("public", client_certificate="none")],
                                 limits=limits, server={"loop_threads": 1})
    config["admin"] = {"address": "127.0.0.1:0"}
    return config


@pytest.fixture(scope="module")
def flooded(gateways):
    gateway = gateways.new("flood")
    return gateway.start(flood_config(gateway))


def probe_latencies(pki, gw, stop):
    """/healthz on one kept-alive connection every PROBE_EVERY s until `stop`; the latencies."""
    sock = harness.tls_connect(pki, gw.port("public"))
    latencies = []
    try:
        while not stop.is_set():
            started = time.monotonic()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            response = read_response(sock, timeout=10)
            assert response is not None and response.status == 200, response
            latencies.append(time.monotonic() - started)
            stop.wait(max(0.0, PROBE_EVERY - (time.monotonic() - started)))
    finally:
        sock.close()
    return latencies


def run_flood(pki, gw, loadgen):
    """The flood for FLOOD_SECONDS with the probe running; (probe latencies, loadgen RESULT fields)."""
    stop = threading.Event()
    result = {}
    prober = threading.Thread(target=lambda: result.setdefault("latencies", probe_latencies(pki, gw, stop)), daemon=True)
    prober.start()
    time.sleep(0.3)
    proc = subprocess.run([loadgen, "-m", "flood", "-p", str(gw.port("public")), "-S", "200", "-w", "4",
                           "-n", "1000000", "-T", str(FLOOD_SECONDS)],
                          capture_output=True, text=True, timeout=FLOOD_SECONDS + 60)
    stop.set()
    prober.join(30)
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    fields = dict(item.split("=", 1) for item in line.split()[1:])
    return result["latencies"], fields


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def test_a_handshake_flood_is_accepted_at_the_bound_and_the_loop_keeps_serving(pki, flooded, loadgen):
    before = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(flooded))
    latencies, flood = run_flood(pki, flooded, loadgen)
    after = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(flooded))
    handshakes = int(flood["ok"])
    elapsed = float(flood["elapsed"])
    p50, p99, worst = percentile(latencies, 0.5), percentile(latencies, 0.99), max(latencies)
    print("flood: %d handshakes in %.1f s (%.0f/s; bound %d/s after a burst of %d), %s failed or cut; "
          "/healthz on a kept-alive connection: %d probes, p50 %.1f ms, p99 %.1f ms, max %.1f ms"
          % (handshakes, elapsed, handshakes / elapsed, RATE, BURST, flood["errors"], len(latencies),
             p50 * 1000, p99 * 1000, worst * 1000))
    # The gateway took no more than its allowance (+ the probe's own connection, + slack for
    # the loadgen's clock starting before the first accept).
    assert handshakes <= BURST + RATE * (elapsed + 0.5) + 5, "%d handshakes in %.1f s" % (handshakes, elapsed)
    assert handshakes >= RATE * (elapsed - 1) * 0.8, "the flood got far less than the bound: %d in %.1f s" % (handshakes, elapsed)
    paused = (ops_helpers.metric_sum(after, "cns_accept_paused_total", listener="public")
              - ops_helpers.metric_sum(before, "cns_accept_paused_total", listener="public"))
    assert paused > 0
    assert len(latencies) >= FLOOD_SECONDS / PROBE_EVERY / 4, "the probe stalled: %d probes" % len(latencies)
    assert p99 < LATENCY_P99, "/healthz p99 %.0f ms during the flood" % (p99 * 1000)
    assert flooded.alive()


def test_a_crowd_within_the_burst_is_taken_at_once(pki, flooded):
    time.sleep(BURST / RATE + 0.5)  # the allowance is full again after the flood
    results = []

    def connect():
        started = time.monotonic()
        sock = harness.tls_connect(pki, flooded.port("public"), timeout=10)
        results.append(time.monotonic() - started)
        sock.close()

    threads = [threading.Thread(target=connect) for _ in range(BURST - 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(results) == BURST - 10
    assert max(results) < 1.0, "a handshake of the crowd took %.2f s" % max(results)
