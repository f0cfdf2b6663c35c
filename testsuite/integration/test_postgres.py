"""Several gateway instances behind one HAProxy (mode tcp, round robin, PROXY v2) sharing their
state in a real PostgreSQL (a private cluster the tests start): codes spent once across the
instances, sessions and logout, shared signing keys and their rotation, 200 concurrent
redemptions of one code, and the database going away in the middle of a stream of logins."""

import concurrent.futures
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

import harness
from harness import curl
from oidc_helpers import CLIENT_ID, basic_auth, http_call, oidc_config, pkce_pair, verify_jws
from pg_helpers import HAProxy, PostgresCluster

@pytest.fixture(scope="module")
def cluster():
    pg = PostgresCluster().init()
    yield pg
    pg.destroy()


class Farm:
    """Two gateways, one HAProxy. Frontends: `public` and `login` round robin over both
    instances; `public0`, `login0`, `public1`, `login1` pinned to one instance each, so a test
    can choose where a step happens."""

    def __init__(self, gateways, cluster, rp, directory):
        self.ports = {name: harness.free_port() for name in ("public", "login", "public0", "public1", "login0", "login1")}
        self.issuer = "https://localhost:%d" % self.ports["public"]
        kek = secrets.token_hex(32)
        self.gateways = []
        for index in range(2):
            gateway = gateways.new("pg%d" % index)
            config = oidc_config(gateway, 0, 0, rp.redirect_uri)
            for listener in config["listener"]:
                listener["proxy_protocol"] = True
                listener["trusted_proxies"] = ["127.0.0.1/32"]
            config["oidc"]["issuer"] = self.issuer
            config["oidc"]["login_base_url"] = "https://localhost:%d" % self.ports["login"]
            kek_file = gateway.write_file("kek.hex", kek + "\n")
            os.chmod(kek_file, 0o600)
            config["store"] = {"url": cluster.url(connect_timeout=2), "key_encryption_key_file": kek_file, "pool_size": 16}
            config["admin"] = {"address": "127.0.0.1:0"}
            gateway.start(config)
            self.gateways.append(gateway)
        public = [g.port("public") for g in self.gateways]
        login = [g.port("login") for g in self.gateways]
        self.haproxy = HAProxy(directory, {
            "public": (self.ports["public"], public), "login": (self.ports["login"], login),
            "public0": (self.ports["public0"], public[:1]), "public1": (self.ports["public1"], public[1:]),
            "login0": (self.ports["login0"], login[:1]), "login1": (self.ports["login1"], login[1:]),
        })

    def url(self, frontend, path):
        return "https://localhost:%d%s" % (self.ports[frontend], path)

    def resolve(self):
        args = []
        for port in self.ports.values():
            args += ["--resolve", "localhost:%d:127.0.0.1" % port]
        return args

    def ready(self, index):
        host, port = self.gateways[index].listeners["admin"]
        try:
            with urllib.request.urlopen("http://%s:%d/readyz" % (host, port), timeout=3) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    def close(self):
        self.haproxy.close()


@pytest.fixture(scope="module")
def farm(gateways, cluster, rp, tmp_path_factory):
    f = Farm(gateways, cluster, rp, tmp_path_factory.mktemp("haproxy"))
    yield f
    f.close()


def authorize_params(rp, challenge, extra=None):
    params = {"client_id": CLIENT_ID, "redirect_uri": rp.redirect_uri, "response_type": "code",
              "scope": "openid profile fiscal_number", "state": "st", "nonce": "nn",
              "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(extra or {})
    return params


def card_login(pki, farm, rp, frontend="login", citizen="ok1", extra=None, cookie_jar=None, language=None):
    """The browser at the login listener with the card, not following the redirect.
    Returns (curl result, redirect query or None, PKCE verifier)."""
    verifier, challenge = pkce_pair()
    args = ["-D", "-"] + farm.resolve()
    if cookie_jar:
        args += ["-b", cookie_jar, "-c", cookie_jar]
    if language:
        args += ["-H", "Accept-Language: " + language]
    url = farm.url(frontend, "/authorize?" + urllib.parse.urlencode(authorize_params(rp, challenge, extra)))
    result = curl(pki, url, citizen, args)
    match = re.search(r"(?im)^location:\s*(\S+)", result.body)
    query = None
    if match and match.group(1).startswith(rp.redirect_uri):
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(match.group(1)).query))
    return result, query, verifier


def redeem(pki, farm, rp, frontend, code, verifier):
    return http_call(pki, farm.url(frontend, "/token"), {
        "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri, "code_verifier": verifier,
    }, basic_auth())


def jwks(pki, farm, frontend):
    status, _, body = http_call(pki, farm.url(frontend, "/jwks"))
    assert status == 200, body
    return json.loads(body)


def served_by(farm, event, marks):
    """Which gateway logged `event` since `marks` (one index per gateway)."""
    return [i for i, g in enumerate(farm.gateways) if any(e.get("event") == event for e in g.events[marks[i]:])]


# ---- (1) two instances, one state -------------------------------------------------------------

def test_full_browser_flow_through_the_round_robin_frontends(pki, farm, rp):
    verifier, challenge = pkce_pair()
    before = len(rp.requests)
    url = farm.url("public", "/authorize?" + urllib.parse.urlencode(authorize_params(rp, challenge)))
    result = curl(pki, url, "ok1", ["-L", "--max-redirs", "5"] + farm.resolve())
    assert len(rp.requests) > before, "no callback: %r\n%s" % (result, farm.gateways[0].log_tail(10))
    params = rp.last_query()
    status, _, body = redeem(pki, farm, rp, "public", params["code"], verifier)
    assert status == 200, body
    _, claims = verify_jws(json.loads(body)["id_token"], jwks(pki, farm, "public"))
    assert claims["iss"] == farm.issuer and claims["sub"] == pki.citizen("ok1")["cf"]


def test_code_issued_by_one_instance_is_redeemed_at_the_other_once(pki, farm, rp):
    marks = [g.mark() for g in farm.gateways]
    result, params, verifier = card_login(pki, farm, rp, "login0")
    assert params and "code" in params, (result, farm.gateways[0].log_tail(10))
    assert served_by(farm, "oidc_login", marks) == [0]
    status, _, body = redeem(pki, farm, rp, "public1", params["code"], verifier)
    assert status == 200, body
    tokens = json.loads(body)
    # The ID token from instance 1 verifies with the keys instance 0 publishes, and the other way round.
    verify_jws(tokens["id_token"], jwks(pki, farm, "public0"))
    verify_jws(tokens["access_token"], jwks(pki, farm, "public1"))
    # A replay fails on both instances, and revokes what the first redemption issued.
    for frontend in ("public0", "public1"):
        status, _, body = redeem(pki, farm, rp, frontend, params["code"], verifier)
        assert status == 400 and json.loads(body)["error"] == "invalid_grant", (frontend, body)
    status, _, body = http_call(pki, farm.url("public0", "/userinfo"), headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert status == 401, body


def test_session_is_shared_and_logout_on_one_ends_it_on_the_other(pki, farm, rp, tmp_path):
    jar = str(tmp_path / "cookies.txt")
    _, params, verifier = card_login(pki, farm, rp, "login0", cookie_jar=jar)
    assert params and "code" in params
    tokens = json.loads(redeem(pki, farm, rp, "public0", params["code"], verifier)[2])
    # Single sign-on on the other instance: prompt=none works with the session instance 0 made.
    _, silent, _ = card_login(pki, farm, rp, "login1", extra={"prompt": "none"}, cookie_jar=jar)
    assert silent and "code" in silent, silent
    # Logout through instance 1 ...
    url = farm.url("public1", "/logout?" + urllib.parse.urlencode({
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": rp.redirect_uri + "/bye", "state": "out"}))
    result = curl(pki, url, None, ["-D", "-", "-b", jar, "-c", jar] + farm.resolve())
    assert result.status == 302, result
    # ... ends the session on both.
    for frontend in ("login0", "login1"):
        _, after, _ = card_login(pki, farm, rp, frontend, extra={"prompt": "none"}, cookie_jar=jar)
        assert after and after.get("error") == "login_required", (frontend, after)


def test_key_rotation_on_one_instance_reaches_both(pki, farm, rp):
    before = {k["kid"] for k in jwks(pki, farm, "public0")["keys"]}
    assert before == {k["kid"] for k in jwks(pki, farm, "public1")["keys"]}, "the instances publish different keys"
    _, params, verifier = card_login(pki, farm, rp, "login1")
    old_tokens = json.loads(redeem(pki, farm, rp, "public1", params["code"], verifier)[2])
    proc = subprocess.run([harness.gateway_binary(), "keys", "rotate", "--config", farm.gateways[0].config_path],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    deadline = time.monotonic() + 15
    while True:
        sets = [{k["kid"] for k in jwks(pki, farm, f)["keys"]} for f in ("public0", "public1")]
        if all(before < s and len(s) == len(before) + 1 for s in sets) and sets[0] == sets[1]:
            break
        assert time.monotonic() < deadline, "the new key is not published by both within 15 s: %r" % sets
        time.sleep(0.5)
    new_kid = (sets[0] - before).pop()
    # New tokens are signed with the new key on both instances and verify with either JWKS.
    for login_frontend, token_frontend in (("login0", "public0"), ("login1", "public1")):
        _, params, verifier = card_login(pki, farm, rp, login_frontend)
        tokens = json.loads(redeem(pki, farm, rp, token_frontend, params["code"], verifier)[2])
        for keys_from in ("public0", "public1"):
            header, _ = verify_jws(tokens["id_token"], jwks(pki, farm, keys_from))
            assert header["kid"] == new_kid
    # Tokens signed before the rotation still verify (the old key stays published).
    verify_jws(old_tokens["id_token"], jwks(pki, farm, "public0"))


# ---- (2) one code, 200 concurrent redemptions -------------------------------------------------

@pytest.mark.slow
def test_200_concurrent_redemptions_of_one_code(pki, farm, rp, cluster):
    _, params, verifier = card_login(pki, farm, rp, "login0")
    code = params["code"]
    barrier = threading.Barrier(200, timeout=60)

    def attempt(i):
        barrier.wait()
        status, _, body = redeem(pki, farm, rp, "public%d" % (i % 2), code, verifier)
        return status, body

    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        results = list(pool.map(attempt, range(200)))
    statuses = [s for s, _ in results]
    descriptions = [json.loads(b).get("error_description", "") if s != 200 else "" for s, b in results]
    # Exactly one request spends the code. It gets its tokens unless a replay was detected
    # before it stored them: then, as RFC 6749 section 4.1.2 asks, it is refused too.
    winners = [i for i, (s, d) in enumerate(zip(statuses, descriptions)) if s == 200 or d == "the code was replayed"]
    assert len(winners) == 1, (statuses.count(200), sorted(set(descriptions)))
    assert statuses.count(200) <= 1
    print("200 redemptions: %d got tokens, winner refused after a replay: %s" % (statuses.count(200), statuses.count(200) == 0))
    losers = [d for i, d in enumerate(descriptions) if i not in winners]
    assert all(s in (200, 400) for s in statuses), sorted(set(statuses))
    assert all("already used" in d for d in losers), sorted(set(losers))
    assert all(g.alive() for g in farm.gateways)


# ---- (3) the database goes away during a stream of logins ------------------------------------

UNAVAILABLE_IT = "Servizio momentaneamente non disponibile"
UNAVAILABLE_EN = "Service temporarily unavailable"


@pytest.mark.slow
def test_database_outage_during_a_stream_of_logins(pki, farm, rp, cluster):
    citizen = "ok3"
    cf = pki.citizen(citizen)["cf"]
    start_ms = int(time.time()) * 1000
    outcomes = []  # (monotonic time, status, completed, body)
    stop = threading.Event()

    def stream():
        while not stop.is_set():
            result, params, _ = card_login(pki, farm, rp, "login", citizen)
            outcomes.append((time.monotonic(), result.status, bool(params and "code" in params), result.body))
            time.sleep(0.02)

    workers = [threading.Thread(target=stream, daemon=True) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        time.sleep(2)
        assert any(done for _, _, done, _ in outcomes), "no login completed before the outage: %r" % outcomes[-3:]
        cluster.stop("fast")
        down_at = time.monotonic()
        deadline = down_at + 10
        while not all(farm.ready(i) == 503 for i in range(2)):
            assert time.monotonic() < deadline, "/readyz still %r 10 s after the database stopped" % [farm.ready(i) for i in range(2)]
            time.sleep(0.2)
        time.sleep(2)
        during = [o for o in outcomes if o[0] > down_at + 1]
        assert during and all(not done for _, _, done, _ in during[-5:]), "logins still complete without a database"
        unavailable = [o for o in during if o[1] == 503]
        assert unavailable, "no 503 while the database is down: %r" % sorted({o[1] for o in during})
        assert UNAVAILABLE_IT in unavailable[-1][3]
        result, _, _ = card_login(pki, farm, rp, "login", citizen, language="en")
        assert result.status == 503 and UNAVAILABLE_EN in result.body, result
        # The back channel says "try again" too (503 + Retry-After), not "broken" (500).
        status, headers, body = redeem(pki, farm, rp, "public", "no-such-code", "x" * 43)
        assert status == 503 and json.loads(body)["error"] == "server_error", (status, body)
        assert all(g.alive() for g in farm.gateways)

        cluster.start()
        up_at = time.monotonic()
        deadline = up_at + 10
        while not all(farm.ready(i) == 200 for i in range(2)):
            assert time.monotonic() < deadline, "/readyz not back 10 s after the database restarted"
            time.sleep(0.2)
        while not any(done and t > up_at for t, _, done, _ in outcomes):
            assert time.monotonic() < deadline, "no login completed 10 s after the database restarted"
            time.sleep(0.1)
        time.sleep(1)
    finally:
        stop.set()
        for w in workers:
            w.join(30)
        if not cluster_running(cluster):
            cluster.start()

    assert all(g.alive() for g in farm.gateways), "a gateway died"
    statuses = {o[1] for o in outcomes}
    assert statuses <= {302, 503}, "unexpected answers: %r" % statuses
    completed = sum(1 for o in outcomes if o[2])
    rows = cluster.psql("SELECT count(*), count(DISTINCT id) FROM audit WHERE event = 'login' AND reason = 'ok' "
                        "AND cf = '%s' AND time_ms >= %d" % (cf, start_ms))
    # Fail closed: every login that reached the service has its audit record, exactly once.
    print("stream: %d attempts, %d completed, %d answered 503" % (len(outcomes), completed, sum(1 for o in outcomes if o[1] == 503)))
    assert int(rows[0][0]) == completed, (rows, completed, len(outcomes))


def cluster_running(cluster):
    return os.path.exists(os.path.join(cluster.data, "postmaster.pid"))


def test_store_url_with_a_password_is_refused(fresh_gateways, pki, rp):
    gateway = fresh_gateways.new("pgbad")
    config = oidc_config(gateway, 0, 0, rp.redirect_uri)
    config["store"] = {"url": "postgres://cns:hunter2@127.0.0.1:5432/cns"}
    path = gateway.write_file("bad.toml", harness.to_toml(config))
    proc = subprocess.run([harness.gateway_binary(), "check-config", "--config", path], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "store.url" in output and "password" in output and "hunter2" not in output, output


@pytest.mark.parametrize("url, warned", [
    ("postgres://cns@db.example.it:5432/cns", True),
    ("postgres://cns@db.example.it:5432/cns?sslmode=require", True),
    ("postgres://cns@db.example.it:5432/cns?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt", False),
    ("postgres://cns@127.0.0.1:5432/cns?sslmode=disable", False),
    ("postgres://cns@%2Fvar%2Frun%2Fpostgresql/cns", False),
], ids=["no-sslmode", "require", "verify-full", "loopback", "unix-socket"])
def test_check_config_warns_about_a_store_without_verify_full(fresh_gateways, pki, rp, url, warned):
    """Issue 15, item 7: anyone who can write the shared database can mint logins, so a
    connection an on-path attacker could take over is warned about (not refused: the service
    still starts)."""
    gateway = fresh_gateways.new("pgwarn")
    gateway.install_trust()
    config = oidc_config(gateway, 0, 0, rp.redirect_uri)
    kek = gateway.write_file("kek.hex", secrets.token_hex(32) + "\n")
    os.chmod(kek, 0o600)
    config["store"] = {"url": url, "key_encryption_key_file": kek}
    # check-config refuses a private key others can read: give this config a 0600 copy.
    with open(pki.path(pki.manifest["server"]["key"]), "rb") as handle:
        key = gateway.write_file("server.key", handle.read())
    os.chmod(key, 0o600)
    for listener in config["listener"]:
        listener["private_key"] = key
    path = gateway.write_file("warn.toml", harness.to_toml(config))
    proc = subprocess.run([harness.gateway_binary(), "check-config", "--config", path], capture_output=True, text=True, timeout=30)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    warnings = [line for line in output.splitlines() if line.startswith("warning:")]
    if warned:
        assert len(warnings) == 1 and "store.url" in warnings[0] and "verify-full" in warnings[0], output
    else:
        assert warnings == [], output


def test_store_unit_suite_against_the_private_cluster(cluster):
    """The Swift Postgres* store suites need a server: they run here, against this cluster
    (`swift test` alone skips them without CNS_TEST_POSTGRES_URL)."""
    swift = shutil.which("swift") or "/opt/swift/usr/bin/swift"
    assert os.access(swift, os.X_OK), "swift not found: install the Swift 6 toolchain and put it on PATH"
    # A database of its own: the gateways of this module sealed theirs with other keys.
    database = "cns_unit_" + secrets.token_hex(4)
    cluster._run("createdb", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", cluster.USER, database)
    url = "postgres://%s@127.0.0.1:%d/%s" % (cluster.USER, cluster.port, database)
    env = dict(os.environ, CNS_TEST_POSTGRES_URL=url)
    run = subprocess.run([swift, "test", "--filter", "StoreTests.Postgres"], cwd=harness.REPO, env=env,
                         capture_output=True, text=True, timeout=1200)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    passed = re.search(r"Test run with (\d+) tests? in \d+ suites? passed", output)
    assert passed and int(passed.group(1)) >= 4, output[-4000:]
    assert "skipped" not in output.split("Test run with")[-1], output[-2000:]
