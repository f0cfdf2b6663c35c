"""Issue 15, item 3, against the real daemon, on SQLite and on a private PostgreSQL: a flood
of failures nobody authenticated for leaves a handful of audit records (the rest are counted
into a summary), logins and token issuance stay one record each, and `[audit] retention_days`
is applied by the purge."""

import json
import os
import sqlite3
import subprocess
import time
import urllib.parse

import pytest

import harness
from harness import curl
from oidc_helpers import CLIENT_ID, basic_auth, http_call, oidc_config, pkce_pair
from pg_helpers import PostgresCluster

PER_MINUTE = 5
RETENTION_DAYS = 30
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def cluster():
    pg = PostgresCluster().init()
    yield pg
    pg.destroy()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gw(request, gateways, rp):
    gateway = gateways.new("audit-" + request.param)
    public_port, login_port = harness.free_port(), harness.free_port()
    config = oidc_config(gateway, public_port, login_port, rp.redirect_uri)
    config["audit"] = {"retention_days": RETENTION_DAYS, "unauthenticated_failures_per_minute": PER_MINUTE}
    gateway.store = request.param
    if request.param == "postgres":
        pg = request.getfixturevalue("cluster")
        kek = gateway.write_file("kek.hex", os.urandom(32).hex() + "\n")
        os.chmod(kek, 0o600)
        config["store"] = {"url": pg.url(), "key_encryption_key_file": kek}
        gateway.cluster = pg
    gateway.start(config)
    gateway.issuer = "https://localhost:%d" % public_port
    gateway.login_base = "https://localhost:%d" % login_port
    return gateway


def audit(gw):
    proc = subprocess.run([harness.gateway_binary(), "audit", "--config", gw.config_path, "--json"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def count(records, event, reason):
    """(records written one by one, attempts counted into summaries)."""
    mine = [r for r in records if r["event"] == event and r["reason"] == reason]
    return len([r for r in mine if "repeated" not in r]), sum(r.get("repeated", 0) for r in mine)


def test_a_flood_of_unauthenticated_failures_leaves_a_few_records(pki, gw, rp):
    resolve = ["--resolve", "localhost:%d:127.0.0.1" % gw.port("public")]
    query = urllib.parse.urlencode({"client_id": "nobody", "redirect_uri": rp.redirect_uri, "response_type": "code", "scope": "openid"})
    # One curl process, one kept-alive connection, 150 requests: a cheap flood.
    args = ["curl", "-sS", "-w", "%{http_code}\n", "--cacert", pki.path(pki.manifest["server"]["ca"])] + resolve
    for _ in range(150):
        args += ["-o", "/dev/null", gw.issuer + "/authorize?" + query]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["400"] * 150, proc.stdout[-200:] + proc.stderr
    written, counted = count(audit(gw), "login", "unknown_client")
    assert written == PER_MINUTE, (written, counted)


def test_logins_and_tokens_stay_one_record_each(pki, gw, rp):
    before = audit(gw)
    logins = 8  # more than PER_MINUTE
    for _ in range(logins):
        verifier, challenge = pkce_pair()
        url = gw.login_base + "/authorize?" + urllib.parse.urlencode({
            "client_id": CLIENT_ID, "redirect_uri": rp.redirect_uri, "response_type": "code", "scope": "openid",
            "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})
        result = curl(pki, url, "ok1", ["-D", "-", "--resolve", "localhost:%d:127.0.0.1" % gw.port("login")])
        location = [l for l in result.body.splitlines() if l.lower().startswith("location:")]
        assert location, result
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location[0].split(":", 1)[1].strip()).query))["code"]
        status, _, body = http_call(pki, gw.issuer + "/token", {
            "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri, "code_verifier": verifier}, basic_auth())
        assert status == 200, body
    after = audit(gw)
    for event in ("login", "token"):
        assert count(after, event, "ok")[0] - count(before, event, "ok")[0] == logins, event


def test_retention_days_is_applied_by_the_purge(pki, gw):
    now = int(time.time() * 1000)
    old, recent = now - (RETENTION_DAYS + 5) * DAY_MS, now - (RETENTION_DAYS - 5) * DAY_MS
    gw.stop()
    rows = [(old, "retention-old"), (old + 1, "retention-old"), (recent, "retention-recent")]
    if gw.store == "sqlite":
        db = sqlite3.connect(os.path.join(gw.dir, "state", "cns-gateway.sqlite"))
        with db:
            db.executemany("INSERT INTO audit (time_ms, event, client_address, client_id, reason) VALUES (?, 'login', ?, 'fse', 'ok')",
                           rows)
        db.close()
    else:
        values = ", ".join("(%d, 'login', '%s', 'fse', 'ok')" % row for row in rows)
        gw.cluster.psql("INSERT INTO audit (time_ms, event, client_address, client_id, reason) VALUES " + values)
    gw.start(gw.config)
    # The first OIDC request of a process runs the purge.
    status, _, _ = http_call(pki, gw.issuer + "/jwks")
    assert status == 200
    addresses = [r["client_address"] for r in audit(gw)]
    assert "retention-old" not in addresses, "records older than retention_days are still there"
    assert addresses.count("retention-recent") == 1
