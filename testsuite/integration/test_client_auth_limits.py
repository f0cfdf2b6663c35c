"""Issue 15, item 2 (the OIDC part), against the real daemon: generated client secrets get a
fast keyed hash, and failed client authentications at /token, /introspect and /revoke are
limited per source address and per client id (429 + Retry-After, no PBKDF2 past the limit).

Several sources come from loopback addresses (curl --interface 127.0.0.N): every 127/8 address
is local on Linux, so no traffic leaves the machine."""

import re
import subprocess
import time

import pytest

import harness
from harness import curl
from oidc_helpers import CLIENT_ID, CLIENT_SECRET, oidc_config

PER_SOURCE = 3
PER_CLIENT = 6
WINDOW = 60


def generate_secret():
    proc = subprocess.run([harness.gateway_binary(), "hash-secret", "--generate"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    secret, phc = proc.stdout.strip().splitlines()
    return secret, phc


@pytest.fixture(scope="module")
def fast_secret():
    return generate_secret()


@pytest.fixture(scope="module")
def flooded_secret():
    return generate_secret()


@pytest.fixture(scope="module")
def gw(gateways, rp, fast_secret, flooded_secret):
    gateway = gateways.new("authlimits")
    public_port, login_port = harness.free_port(), harness.free_port()
    config = oidc_config(gateway, public_port, login_port, rp.redirect_uri, extra_clients=[
        {"id": "fast", "secret_hash": fast_secret[1], "redirect_uris": [rp.redirect_uri + "/fast"]},
        {"id": "flooded", "secret_hash": flooded_secret[1], "redirect_uris": [rp.redirect_uri + "/flooded"]}])
    config["oidc"].update({"client_auth_failures_per_source": PER_SOURCE, "client_auth_failures_per_client": PER_CLIENT,
                           "client_auth_failure_window": WINDOW})
    gateway.start(config)
    gateway.issuer = "https://localhost:%d" % public_port
    return gateway


def cpu_seconds(gateway):
    """utime + stime of the gateway process, all threads (fields 14 and 15 of /proc/PID/stat)."""
    with open("/proc/%d/stat" % gateway.proc.pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(harness.os.sysconf("SC_CLK_TCK"))


def revoke(pki, gw, client_id, secret, source="127.0.0.1", endpoint="/revoke"):
    """POST with client_secret_basic from `source`; returns (status, headers dict, body)."""
    port = gw.port("public")
    result = curl(pki, gw.issuer + endpoint, None, [
        "--interface", source, "--resolve", "localhost:%d:127.0.0.1" % port, "-D", "-",
        "-u", "%s:%s" % (client_id, secret), "--data", "token=not-a-token"])
    # harness.curl reads text, so CRLF arrives as LF.
    head, _, body = result.body.partition("\n\n")
    headers = {}
    for line in head.split("\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return result.status, headers, body


def test_generated_secrets_get_a_fast_keyed_hash(pki, gw, fast_secret):
    secret, phc = fast_secret
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret), secret
    assert phc.startswith("$hmac-sha256$"), phc
    # A secret a person types keeps PBKDF2 (oidc_helpers.hash_secret checks that form).
    assert revoke(pki, gw, "fast", secret, source="127.0.0.40")[0] == 200
    assert revoke(pki, gw, "fast", secret + "x", source="127.0.0.41")[0] == 401
    # Nothing of the secret reaches the log.
    log = "\n".join(str(e) for e in gw.events) + "\n".join(gw.stderr)
    assert secret not in log and CLIENT_SECRET not in log


def test_wrong_secrets_from_one_source_are_answered_429_without_the_slow_hash(pki, gw):
    source = "127.0.0.2"
    cpu = cpu_seconds(gw)
    for _ in range(PER_SOURCE):
        assert revoke(pki, gw, CLIENT_ID, "wrong", source)[0] == 401
    hashed = cpu_seconds(gw) - cpu  # three PBKDF2 runs of 600,000 rounds, plus three TLS connections

    cpu = cpu_seconds(gw)
    started = time.monotonic()
    for endpoint in ["/revoke"] * 10 + ["/introspect"] * 10 + ["/token"] * 10:
        status, headers, body = revoke(pki, gw, CLIENT_ID, "wrong", source, endpoint)
        assert status == 429, (endpoint, status, body)
        assert "retry-after" in headers, (endpoint, headers, body)
        assert 1 <= int(headers["retry-after"]) <= WINDOW, headers
        assert '"temporarily_unavailable"' in body
    limited = cpu_seconds(gw) - cpu
    print("3 failures hashed: %.2f s CPU; 30 answers past the limit: %.2f s CPU, %.2f s wall"
          % (hashed, limited, time.monotonic() - started))
    assert limited < hashed, "30 limited requests cost %.2f s CPU, 3 hashed ones %.2f s: the hash still runs" % (limited, hashed)

    # Another source is not affected (fse has failures left: 3 of 6).
    assert revoke(pki, gw, CLIENT_ID, CLIENT_SECRET, "127.0.0.3")[0] == 200


def test_a_flooded_client_id_is_limited_from_every_source_but_its_right_secret_works(pki, gw, flooded_secret):
    secret, _ = flooded_secret
    # Attackers at many addresses (each under its own limit) guessing the client's secret.
    for i in range(PER_CLIENT):
        assert revoke(pki, gw, "flooded", "guess-%d" % i, "127.0.1.%d" % (i + 1))[0] == 401
    status, headers, _ = revoke(pki, gw, "flooded", "guess", "127.0.1.100")
    assert status == 429 and int(headers["retry-after"]) >= 1
    # The service itself, with its generated secret (cheap to check), keeps working.
    assert revoke(pki, gw, "flooded", secret, "127.0.1.200")[0] == 200


def test_unknown_client_ids_count_against_the_source(pki, gw):
    source = "127.0.0.5"
    for i in range(PER_SOURCE):
        assert revoke(pki, gw, "nobody-%d" % i, "x", source)[0] == 401
    assert revoke(pki, gw, "nobody-x", "x", source)[0] == 429
    assert gw.alive()
