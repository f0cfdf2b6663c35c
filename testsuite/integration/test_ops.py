"""Operations (issue 5): sd_notify and the unit files, check-config, /metrics, the demo,
scheduled CRL refresh, and the JSON log lines. Every test runs the real daemon."""

import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time

import pytest

import harness
import ops_helpers
from ops_helpers import CRLServer, NotifySocket, new_gateway


# ---- 1. systemd: sd_notify, watchdog, unit files ---------------------------------------------

def test_sd_notify_ready_reload_stopping(fresh_gateways, tmp_path):
    notify = NotifySocket(tmp_path)
    try:
        gw = new_gateway(fresh_gateways, "notify")
        gw.start(env={"NOTIFY_SOCKET": notify.path})
        ready_at, ready = notify.wait(lambda m: m.get("READY") == "1")
        assert "STATUS" in ready and "serving" in ready["STATUS"]

        mark = notify.mark()
        before = time.monotonic_ns() // 1000
        gw.proc.send_signal(signal.SIGHUP)
        reloading_at, reloading = notify.wait(lambda m: m.get("RELOADING") == "1", start=mark)
        # MONOTONIC_USEC travels in the same datagram (systemd 253 needs both at once).
        usec = int(reloading["MONOTONIC_USEC"])
        assert before <= usec <= time.monotonic_ns() // 1000
        notify.wait(lambda m: m.get("READY") == "1", start=reloading_at + 1)
        assert gw.wait_event(lambda e: e.get("event") == "reload")["result"] == "ok"

        mark = notify.mark()
        assert gw.stop() == 0
        notify.wait(lambda m: m.get("STOPPING") == "1", start=mark, timeout=5)
    finally:
        notify.close()


def test_watchdog_pings_when_watchdog_usec_is_set(fresh_gateways, tmp_path):
    notify = NotifySocket(tmp_path)
    try:
        gw = new_gateway(fresh_gateways, "watchdog")
        gw.start(env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"})
        first, _ = notify.wait(lambda m: m.get("WATCHDOG") == "1", timeout=5)
        notify.wait(lambda m: m.get("WATCHDOG") == "1", start=first + 1, timeout=2)
        gw.stop()
    finally:
        notify.close()


def test_sd_notify_abstract_socket(fresh_gateways, tmp_path):
    notify = NotifySocket(tmp_path, abstract=True)
    try:
        gw = new_gateway(fresh_gateways, "notify-abstract")
        gw.start(env={"NOTIFY_SOCKET": notify.path})
        notify.wait(lambda m: m.get("READY") == "1")
        mark = notify.mark()
        assert gw.stop() == 0
        notify.wait(lambda m: m.get("STOPPING") == "1", start=mark, timeout=5)
    finally:
        notify.close()


def test_no_watchdog_pings_without_watchdog_usec(fresh_gateways, tmp_path):
    notify = NotifySocket(tmp_path)
    try:
        gw = new_gateway(fresh_gateways, "nowatchdog")
        gw.start(env={"NOTIFY_SOCKET": notify.path})
        notify.wait(lambda m: m.get("READY") == "1")
        time.sleep(1.5)
        assert not [m for _, m, _ in notify.messages if "WATCHDOG" in m]
        gw.stop()
    finally:
        notify.close()


def test_socket_activation_uses_the_inherited_socket(fresh_gateways, pki):
    """LISTEN_FDS/LISTEN_PID: the gateway serves on fd 3 instead of binding (the test still
    holds the port, so a bind of its own would fail with EADDRINUSE)."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    listening.listen(64)
    port = listening.getsockname()[1]
    try:
        gw = new_gateway(fresh_gateways, "activated")
        config = gw.make_config(listeners=[gw.listener(address="127.0.0.1:%d" % port)])
        fd = listening.fileno()

        def as_fd_3():
            os.dup2(fd, 3)
            os.set_inheritable(3, True)

        # `exec` keeps the shell's pid, so LISTEN_PID=$$ names the gateway itself.
        binary = harness.gateway_binary()
        gw.install_trust()
        with open(gw.config_path, "w") as handle:
            handle.write(harness.to_toml(config))
        env = dict(os.environ, LISTEN_FDS="1", CNS_BIN=binary, CNS_CONFIG=gw.config_path)
        env.pop("NOTIFY_SOCKET", None)
        gw.config = config
        gw.proc = subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$CNS_BIN" serve --config "$CNS_CONFIG"'],
                                   env=env, cwd=gw.dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, preexec_fn=as_fd_3, close_fds=False)
        threading.Thread(target=gw._read_stdout, args=(gw.proc.stdout,), daemon=True).start()
        threading.Thread(target=gw._read_stderr, args=(gw.proc.stderr,), daemon=True).start()
        gw.wait_event(lambda e: e.get("event") == "ready", timeout=15)
        listening_event = gw.find_events("listening")[0]
        assert listening_event["address"] == "127.0.0.1:%d" % port
        assert not gw.find_events("socket_unused")
        gw.listeners["login"] = ("127.0.0.1", port)
        assert harness.whoami(pki, gw, "ok1")["verdict"]["reason"] == "ok"
        assert gw.stop() == 0
    finally:
        listening.close()


def _systemd_analyze():
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.fail("systemd-analyze not found: install systemd", pytrace=False)
    return path


def test_unit_files_verify(tmp_path):
    units = ops_helpers.units_for_binary(str(tmp_path / "units"), harness.gateway_binary())
    proc = subprocess.run([_systemd_analyze(), "verify", "--man=no", units["cns-gateway.service"],
                           units["cns-gateway.socket"]], capture_output=True, text=True, timeout=60)
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if "cns-gateway" in line]
    assert proc.returncode == 0 and not ours, proc.stdout + proc.stderr


def test_unit_files_verify_catches_a_broken_unit(tmp_path):
    units = ops_helpers.units_for_binary(str(tmp_path / "units"), harness.gateway_binary())
    with open(units["cns-gateway.service"]) as handle:
        text = handle.read().replace(harness.gateway_binary() + " serve", "/nonexistent/cns-gateway serve")
    with open(units["cns-gateway.service"], "w") as handle:
        handle.write(text)
    proc = subprocess.run([_systemd_analyze(), "verify", "--man=no", units["cns-gateway.service"]],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 or "nonexistent" in proc.stderr


def test_unit_security_exposure_at_most_2(tmp_path):
    units = ops_helpers.units_for_binary(str(tmp_path / "units"), harness.gateway_binary())
    proc = subprocess.run([_systemd_analyze(), "security", "--offline=true", units["cns-gateway.service"]],
                          capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for cns-gateway\.service:\s*([0-9.]+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    level = float(match.group(1))
    assert level <= 2.0, proc.stdout
    with open(os.path.join(harness.REPO, "README.md")) as handle:
        readme = handle.read()
    assert "%.1f" % level in readme, "README should state the exposure level %.1f" % level


# ---- 2. check-config --------------------------------------------------------------------------

def _check_config(path):
    proc = subprocess.run([harness.gateway_binary(), "check-config", "--config", path],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def _private_key_copy(directory, source, mode):
    path = os.path.join(str(directory), "server-%o.key" % mode)
    shutil.copy(source, path)
    os.chmod(path, mode)
    return path


def _good_config(gw, tmp_path, **listener_overrides):
    key = _private_key_copy(tmp_path, gw.pki.path(gw.pki.manifest["server"]["key"]), 0o600)
    config = gw.make_config(listeners=[gw.listener(private_key=key, **listener_overrides)])
    gw.install_trust()
    return config


def _write_config(gw, config, extra=""):
    with open(gw.config_path, "w") as handle:
        handle.write(harness.to_toml(config) + extra)
    return gw.config_path


def test_check_config_accepts_a_good_config(fresh_gateways, tmp_path):
    gw = new_gateway(fresh_gateways, "check-good")
    rc, output = _check_config(_write_config(gw, _good_config(gw, tmp_path)))
    assert rc == 0, output
    assert output.strip().endswith(": ok")


def test_check_config_reports_five_mistakes_in_one_run(fresh_gateways, tmp_path):
    gw = new_gateway(fresh_gateways, "check-five")
    config = _good_config(gw, tmp_path)
    world_readable = _private_key_copy(tmp_path, gw.pki.path(gw.pki.manifest["server"]["key"]), 0o644)
    config["server"]["colour"] = "blue"                      # 1. unknown key
    config["limits"]["max_connections"] = "many"             # 2. wrong type
    config["trust"]["ca_bundle"] = "no-such-bundle.pem"      # 3. missing file
    config["listener"][0]["address"] = "localhost"           # 4. not an address
    config["listener"][0]["private_key"] = world_readable    # 5. key readable by others
    rc, output = _check_config(_write_config(gw, config))
    assert rc != 0
    expected = ["server.colour", "limits.max_connections", "trust.ca_bundle", "listener[0].address",
                "listener[0].private_key"]
    for key_path in expected:
        assert key_path in output, "%s not reported:\n%s" % (key_path, output)
    assert gw.config_path in output
    assert "644" in output and "group or others" in output
    problem_lines = [line for line in output.splitlines() if line.startswith(gw.config_path)]
    assert len(problem_lines) >= 5, output


def test_check_config_warns_about_a_ca_nothing_can_tell_revoked_cards_of(fresh_gateways, tmp_path):
    gw = new_gateway(fresh_gateways, "check-unsourced")
    config = _good_config(gw, tmp_path)
    gw.install_trust(crl_cas=["root1", "root1b", "legacy", "intermediate"])  # root2 has no CRL
    root2 = gw.pki.manifest["cas"]["root2"]
    rc, output = _check_config(_write_config(gw, config))
    assert rc == 0, output  # a warning: the service still starts
    warnings = [line for line in output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, output
    assert "no revocation source" in warnings[0] and root2["subject"] in warnings[0], output
    assert "best-effort" in warnings[0] and "without any revocation check" in warnings[0], output
    assert output.strip().endswith("(with 1 warning)"), output

    config["trust"]["revocation"] = "require"
    rc, output = _check_config(_write_config(gw, config))
    assert rc == 0 and "is refused" in output, output

    # A CRL the refresher downloads, or OCSP, is a source.
    os.makedirs(os.path.join(gw.dir, "state"), exist_ok=True)
    refreshed = dict(config, server=dict(config["server"], state_dir="state"),
                     trust=dict(config["trust"], crl_refresh=True))
    extra = '\n[trust.crl_sources]\n"%s" = "http://127.0.0.1:1/root2.crl"\n' % root2["sha256"]
    rc, output = _check_config(_write_config(gw, refreshed, extra))
    assert rc == 0 and "warning" not in output, output
    config["trust"]["ocsp"] = "prefer"
    rc, output = _check_config(_write_config(gw, config))
    assert rc == 0 and "warning" not in output, output
    # A responder for a CA the bundle does not have is named (it may come with a list import).
    extra = '\n[trust.ocsp_responders]\n"%s" = "http://127.0.0.1:1/ocsp"\n' % ("AB" * 32)
    rc, output = _check_config(_write_config(gw, config, extra))
    assert rc == 0 and "trust.ocsp_responders" in output and "no CA" in output, output
    # And a responder that is not http:// is a mistake.
    extra = '\n[trust.ocsp_responders]\n"%s" = "https://ocsp.invalid/"\n' % root2["sha256"]
    rc, output = _check_config(_write_config(gw, config, extra))
    assert rc != 0 and "trust.ocsp_responders" in output and "http://" in output, output

    # The gateway says so when it starts.
    config["trust"]["ocsp"] = "off"
    _write_config(gw, config)
    gw.start(config)
    event = gw.wait_event(lambda e: e.get("event") == "revocation_source_missing")
    assert event["count"] == 1 and root2["subject"] in event["detail"], event


def test_check_config_refuses_a_group_readable_key(fresh_gateways, tmp_path):
    gw = new_gateway(fresh_gateways, "check-group")
    config = _good_config(gw, tmp_path)
    config["listener"][0]["private_key"] = _private_key_copy(
        tmp_path, gw.pki.path(gw.pki.manifest["server"]["key"]), 0o640)
    rc, output = _check_config(_write_config(gw, config))
    assert rc != 0 and "listener[0].private_key" in output and "640" in output, output


def test_check_config_reports_a_key_that_does_not_match(fresh_gateways, tmp_path):
    gw = new_gateway(fresh_gateways, "check-mismatch")
    config = _good_config(gw, tmp_path)
    other = os.path.join(str(tmp_path), "other.key")
    shutil.copy(gw.pki.citizen("ok1")["key"], other)
    os.chmod(other, 0o600)
    config["listener"][0]["private_key"] = other
    rc, output = _check_config(_write_config(gw, config))
    assert rc != 0
    assert "listener[0].private_key" in output and "does not match" in output, output


def test_check_config_reports_an_unknown_crl_source(fresh_gateways, tmp_path):
    gw = new_gateway(fresh_gateways, "check-crlsrc")
    config = _good_config(gw, tmp_path)
    os.makedirs(os.path.join(gw.dir, "state"), exist_ok=True)
    config["server"]["state_dir"] = "state"
    config["trust"]["crl_refresh"] = True
    extra = '\n[trust.crl_sources]\n"%s" = "http://127.0.0.1:1/x.crl"\n"%s" = "https://tls.invalid/y.crl"\n' % (
        "AB" * 32, gw.pki.manifest["cas"]["root1"]["sha256"])
    rc, output = _check_config(_write_config(gw, config, extra))
    assert rc != 0
    assert "trust.crl_sources" in output and "not an http:// URL" in output, output

    # Well-formed, but the fingerprint names no CA of the bundle.
    extra = '\n[trust.crl_sources]\n"%s" = "http://127.0.0.1:1/x.crl"\n' % ("AB" * 32)
    rc, output = _check_config(_write_config(gw, config, extra))
    assert rc != 0 and "no CA of trust.ca_bundle" in output, output


# ---- 3. /metrics ------------------------------------------------------------------------------

def test_metrics_parse_and_count_exactly_our_logins(fresh_gateways, pki):
    gw = new_gateway(fresh_gateways, "metrics")
    config = gw.make_config()
    config["admin"] = {"address": "127.0.0.1:0"}
    gw.start(config)
    before = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(gw))

    made = {"ok": 0, "revoked": 0, "unknown_issuer": 0}
    for citizen, reason in (("ok1", "ok"), ("ok3", "ok"), ("revoked", "revoked"), ("unknown_issuer", "unknown_issuer")):
        assert harness.whoami(pki, gw, citizen)["verdict"]["reason"] == reason
        made[reason] += 1

    after = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(gw))
    for reason, count in made.items():
        delta = (ops_helpers.metric_sum(after, "cns_logins_total", reason=reason)
                 - ops_helpers.metric_sum(before, "cns_logins_total", reason=reason))
        assert delta == count, "cns_logins_total{reason=%s} moved by %s, expected %d" % (reason, delta, count)
    handshakes = (ops_helpers.metric_sum(after, "cns_tls_handshakes_total", listener="login", outcome="ok")
                  - ops_helpers.metric_sum(before, "cns_tls_handshakes_total", listener="login", outcome="ok"))
    assert handshakes == sum(made.values())

    # One set of CRL gauges per issuer of the loaded CRLs.
    issuers = {labels["issuer"] for labels, _ in after.get("cns_crl_next_update_timestamp_seconds", [])}
    for name in ("root1", "legacy", "root2", "intermediate"):
        cn = pki.manifest["cas"][name]["subject"].split("CN=")[-1]
        assert any(cn in issuer for issuer in issuers), "no CRL gauge for %s in %r" % (cn, issuers)
    for gauge in ("cns_crl_age_seconds", "cns_crl_entries", "cns_crl_last_update_timestamp_seconds"):
        assert {labels["issuer"] for labels, _ in after.get(gauge, [])} == issuers, gauge
    gw.stop()


# ---- JSON log lines ---------------------------------------------------------------------------

def test_json_log_lines_have_fields_and_no_secrets(fresh_gateways, pki):
    gw = new_gateway(fresh_gateways, "jsonlog")
    gw.start()
    secrets = ["SECRET-BEARER-7f3a", "SECRET-COOKIE-91bc", "PIN-48151623", "SECRET-PASSWORD-x1"]
    result = harness.curl(pki, gw.url("/whoami?pin=%s" % secrets[2]), "ok1",
                          extra=["-H", "Authorization: Bearer %s" % secrets[0],
                                 "-H", "Cookie: session=%s" % secrets[1],
                                 "-u", "user:%s" % secrets[3]])
    assert result.rc == 0, result
    gw.wait_event(lambda e: e.get("event") == "request" and e.get("path", "").startswith("/whoami"))
    assert gw.stop() == 0
    assert not [e for e in gw.events if "raw" in e], "non-JSON stdout lines: %r" % [e for e in gw.events if "raw" in e]
    for event in gw.events:
        for field in ("level", "time", "event"):
            assert field in event, "%s missing in %r" % (field, event)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", event["time"]), event
    requests = [e for e in gw.events if e["event"] == "request"]
    assert requests
    for event in requests:
        for field in ("request_id", "client", "listener"):
            assert event.get(field), "%s missing in %r" % (field, event)
    text = "\n".join(json.dumps(e) for e in gw.events) + "\n".join(gw.stderr)
    for secret in secrets:
        assert secret not in text, "%s leaked into the log" % secret
    assert "Bearer" not in text and "Authorization" not in text


# ---- 4. the demo ------------------------------------------------------------------------------

def _in_group(pid, group):
    try:
        return os.getpgid(pid) == group
    except OSError:
        return False


def test_demo_reaches_ready_and_its_curl_lines_work(tmp_path):
    state = tmp_path / "demo"
    port = harness.free_port()
    scratch = os.environ.get("CNS_DEMO_BUILD_PATH") or os.path.dirname(os.path.dirname(harness.gateway_binary()))
    env = dict(os.environ, CNS_DEMO_DIR=str(state), CNS_DEMO_PORT=str(port), CNS_BUILD_PATH=scratch)
    proc = subprocess.Popen([os.path.join(harness.REPO, "scripts", "demo")], cwd=harness.REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    lines = []
    try:
        deadline = time.monotonic() + 1800  # a first release build takes minutes
        buffer = b""
        ready = False
        while time.monotonic() < deadline and not ready:
            readable, _, _ = select.select([proc.stdout], [], [], 5)
            if not readable:
                assert proc.poll() is None, "demo exited %s:\n%s" % (proc.returncode, "\n".join(lines[-40:]))
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                line = raw.decode("utf-8", "replace")
                lines.append(line)
                if re.search(r"\bready\b", line) and not line.lstrip().startswith("curl"):
                    ready = True
        assert ready, "demo never logged ready:\n" + "\n".join(lines[-40:])

        commands = [line.strip() for line in lines if line.strip().startswith("curl ")]
        assert len(commands) == 3, commands
        manifest = json.load(open(state / "pki" / "manifest.json"))
        outputs = []
        for command in commands:
            args = shlex.split(command)
            assert args[0] == "curl"
            run = subprocess.run(["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}"] + args[1:],
                                 capture_output=True, text=True, timeout=20)
            assert run.returncode == 0, (command, run.stderr)
            body, _, status = run.stdout.rpartition("\n")
            outputs.append((int(status), body))
        status, body = outputs[0]
        identity = json.loads(body)
        assert status == 200 and identity["verdict"]["reason"] == "ok"
        assert manifest["citizens"]["ok1"]["cf"] in identity["client_certificate"]["subject"]
        status, body = outputs[1]
        assert json.loads(body)["verdict"]["reason"] == "revoked"
        status, body = outputs[2]
        assert status == 200 and json.loads(body)["status"] == "serving"
        # The demo service's whole login, as the demo tells the newcomer to run it.
        assert any("scripts/demo-login" in line for line in lines), lines[-20:]
        login = subprocess.run([os.path.join(harness.REPO, "scripts", "demo-login")], cwd=harness.REPO, env=env,
                               capture_output=True, text=True, timeout=60)
        assert login.returncode == 0, login.stdout + login.stderr
        claims = json.loads(login.stdout.split("ID token claims:", 1)[1])
        cf = manifest["citizens"]["ok1"]["cf"]
        assert claims["fiscal_number"] == "TINIT-" + cf and claims["aud"] == "demo-service", claims

        # The production build maps no Swift runtime, Foundation, ICU or libpq libraries:
        # the runtime is linked in, Foundation is not used, libpq loads only for PostgreSQL.
        gateways = [pid for pid in os.listdir("/proc") if pid.isdigit() and _in_group(int(pid), proc.pid)
                    and os.path.basename(os.readlink("/proc/%s/exe" % pid)) == "cns-gateway"]
        assert len(gateways) == 1, gateways
        mapped = {os.path.basename(line.split()[-1]) for line in open("/proc/%s/maps" % gateways[0]) if "/" in line}
        unwanted = [name for name in mapped if re.match(r"lib(swiftCore|Foundation|FoundationInternationalization|_FoundationICU|pq)\.so", name)]
        assert not unwanted, unwanted
        # Nor is Foundation linked in statically: one call that resolves to Foundation's
        # String API (say `text.contains("x")` with Foundation visible through TOMLKit) links
        # libFoundation and its ICU, 30 MB of the binary and 6 MB of resident memory.
        executable = os.readlink("/proc/%s/exe" % gateways[0])
        symbols = subprocess.run(["nm", "--defined-only", executable], capture_output=True, text=True, check=True).stdout
        linked = sorted({match for match in re.findall(r" (icudt\d+_dat|\$s10Foundation8NSStringC\w*)$", symbols, re.M)})[:5]
        assert not linked, "Foundation or ICU linked into %s: %s" % (executable, linked)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


# ---- 5. CRL refresh ---------------------------------------------------------------------------

def _refresh_gateway(factory, pki, tmp_path, name, trust=None):
    server = CRLServer(tmp_path / ("served-" + name))
    root1 = pki.ca("root1")
    server.publish("root1.crl", root1["crl_der"])  # what the gateway already has
    gw = new_gateway(factory, name)
    os.makedirs(os.path.join(gw.dir, "state"), exist_ok=True)
    config = gw.make_config(server={"state_dir": "state"},
                            trust=dict({"crl_refresh": True, "crl_refresh_interval": 1, "crl_fetch_timeout": 5}, **(trust or {})))
    config["admin"] = {"address": "127.0.0.1:0"}
    extra = '[trust.crl_sources]\n"%s" = "%s"\n' % (root1["sha256"], server.url("root1.crl"))
    gw.start(config, extra_toml=extra)
    fingerprint = root1["sha256"].replace(":", "").lower()
    stored = os.path.join(gw.dir, "state", "crls", fingerprint + ".crl")
    return gw, server, stored


def _refresh_event(gw, start, result, timeout=20):
    return gw.wait_event(lambda e: e.get("event") == "crl_refresh" and e.get("result") == result,
                         timeout=timeout, start=start)


def test_crl_refresh_replaces_the_crl_and_revokes_without_restart(fresh_gateways, pki, tmp_path):
    gw, server, stored = _refresh_gateway(fresh_gateways, pki, tmp_path, "refresh")
    try:
        pid = gw.proc.pid
        assert harness.whoami(pki, gw, "ok2")["verdict"]["reason"] == "ok"
        assert harness.whoami(pki, gw, "revoked")["verdict"]["reason"] == "revoked"

        mark = gw.mark()
        newer = pki.make_crl("root1", ["revoked", "ok2"], path=str(tmp_path / "root1-new.der"), der=True,
                             last_update=ops_helpers.recent_last_update())
        server.publish("root1.crl", newer)
        updated = _refresh_event(gw, mark, "updated")
        assert updated["url"] == server.url("root1.crl") and updated["file"] == stored
        reload = gw.wait_event(lambda e: e.get("event") == "reload", start=mark, timeout=10)
        assert reload["result"] == "ok", reload
        with open(stored, "rb") as handle, open(newer, "rb") as expected:
            assert handle.read() == expected.read()
        assert stat.S_IMODE(os.stat(stored).st_mode) & 0o077 == 0

        assert harness.whoami(pki, gw, "ok2")["verdict"]["reason"] == "revoked"
        assert harness.whoami(pki, gw, "ok1")["verdict"]["reason"] == "ok"
        assert gw.proc.pid == pid and gw.alive()
        metrics = ops_helpers.parse_metrics(ops_helpers.fetch_metrics(gw))
        assert ops_helpers.metric_sum(metrics, "cns_crl_refresh_total", result="updated") == 1
        fingerprint = os.path.basename(stored)[:-len(".crl")]
        assert ops_helpers.metric_sum(metrics, "cns_crl_refresh_last_success_timestamp_seconds",
                                      ca_sha256=fingerprint) > time.time() - 60

        # The same CRL again: nothing replaced, no reload.
        mark = gw.mark()
        time.sleep(3)
        assert not gw.find_events("reload", start=mark)
        assert not [e for e in gw.find_events("crl_refresh", start=mark) if e.get("result") == "updated"]
    finally:
        server.close()


def test_crl_refresh_refuses_a_wrong_key_and_an_older_crl(fresh_gateways, pki, tmp_path):
    gw, server, stored = _refresh_gateway(fresh_gateways, pki, tmp_path, "refresh-bad")
    try:
        mark = gw.mark()
        newer = pki.make_crl("root1", ["revoked", "ok2"], path=str(tmp_path / "root1-good.der"), der=True,
                             last_update=ops_helpers.recent_last_update())
        server.publish("root1.crl", newer)
        _refresh_event(gw, mark, "updated")
        gw.wait_event(lambda e: e.get("event") == "reload" and e.get("result") == "ok", start=mark)
        with open(stored, "rb") as handle:
            good = handle.read()

        # root1b has root1's name but another key: a forged CRL that un-revokes ok2.
        mark = gw.mark()
        forged = pki.make_crl("root1b", [], path=str(tmp_path / "root1-forged.der"), der=True,
                              last_update=ops_helpers.recent_last_update(1))
        server.publish("root1.crl", forged)
        rejected = _refresh_event(gw, mark, "rejected")
        assert rejected["reason"] == "bad_signature", rejected
        assert rejected["level"] == "error" and "stays" in rejected.get("detail", "")
        with open(stored, "rb") as handle:
            assert handle.read() == good
        assert not gw.find_events("reload", start=mark)
        assert harness.whoami(pki, gw, "ok2")["verdict"]["reason"] == "revoked"

        # The CRL of the start (lower CRL number) must not roll revocations back.
        mark = gw.mark()
        server.publish("root1.crl", pki.ca("root1")["crl_der"])
        rejected = _refresh_event(gw, mark, "rejected")
        assert rejected["reason"] == "older" and rejected["level"] == "warning", rejected
        with open(stored, "rb") as handle:
            assert handle.read() == good

        # Not a CRL at all.
        mark = gw.mark()
        junk = tmp_path / "junk.crl"
        junk.write_bytes(b"<html>maintenance</html>")
        server.publish("root1.crl", str(junk))
        assert _refresh_event(gw, mark, "rejected")["reason"] == "unparsable"

        # The server gone: a failed fetch, the CRL in use stays.
        mark = gw.mark()
        server.close()
        failed = _refresh_event(gw, mark, "failed")
        assert "127.0.0.1" in failed.get("url", "")
        assert harness.whoami(pki, gw, "ok2")["verdict"]["reason"] == "revoked"
        assert gw.alive()
    finally:
        try:
            server.close()
        except Exception:
            pass


def test_crl_refresh_refuses_a_download_past_crl_max_size_and_keeps_the_crl_in_use(fresh_gateways, pki, tmp_path):
    # A CRL of 400 entries (about 17 KB) fits in 64 KB; one of
    # 2,000 entries does not.
    gw, server, stored = _refresh_gateway(fresh_gateways, pki, tmp_path, "refresh-size", trust={"crl_max_size": 65536})
    try:
        mark = gw.mark()
        fits = pki.make_crl("root1", ["revoked", "ok2"], path=str(tmp_path / "root1-fits.der"), der=True,
                            last_update=ops_helpers.recent_last_update(), filler=400)
        assert 10000 < os.path.getsize(fits) < 65536
        server.publish("root1.crl", fits)
        updated = _refresh_event(gw, mark, "updated")
        assert updated["bytes"] == os.path.getsize(fits), updated
        gw.wait_event(lambda e: e.get("event") == "reload" and e.get("result") == "ok", start=mark)

        mark = gw.mark()
        large = pki.make_crl("root1", ["revoked"], path=str(tmp_path / "root1-large.der"), der=True,
                             last_update=ops_helpers.recent_last_update(1), filler=2000)
        assert os.path.getsize(large) > 65536
        server.publish("root1.crl", large)
        failed = _refresh_event(gw, mark, "failed")
        assert "65536" in failed["error"] or "large" in failed["error"].lower(), failed
        with open(stored, "rb") as handle, open(fits, "rb") as expected:
            assert handle.read() == expected.read(), "the CRL in use was replaced"
        # Nothing half-written is left beside it, and ok2 stays revoked.
        assert os.listdir(os.path.dirname(stored)) == [os.path.basename(stored)]
        assert harness.whoami(pki, gw, "ok2")["verdict"]["reason"] == "revoked"
    finally:
        server.close()


def _ca_with_distribution_point(url):
    """A self-signed CA whose CRL distribution point names its own CRL at `url`."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Regione CDP - CA Cittadini")])
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier("ldap://ldap.invalid/cn=crl"), x509.UniformResourceIdentifier(url)],
                None, None, None)]), critical=False)
            .sign(key, hashes.SHA256()))
    crl = (x509.CertificateRevocationListBuilder().issuer_name(name)
           .last_update(now - datetime.timedelta(minutes=5)).next_update(now + datetime.timedelta(days=7))
           .add_extension(x509.CRLNumber(1), critical=False)
           .sign(key, hashes.SHA256()))
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.PEM), crl.public_bytes(serialization.Encoding.DER)


def test_crl_refresh_finds_the_url_in_the_ca_distribution_point(fresh_gateways, pki, tmp_path):
    server = CRLServer(tmp_path / "served-cdp")
    try:
        ca_pem, crl_der = _ca_with_distribution_point(server.url("cdp-root.crl"))
        (tmp_path / "cdp.crl").write_bytes(crl_der)
        server.publish("cdp-root.crl", str(tmp_path / "cdp.crl"))
        gw = new_gateway(fresh_gateways, "refresh-cdp")
        gw.install_trust()
        gw.write_file("ca-bundle.pem", pki.bundle_pem(pki.manifest["trusted_cas"]) + ca_pem)
        os.makedirs(os.path.join(gw.dir, "state"), exist_ok=True)
        config = gw.make_config(server={"state_dir": "state"}, trust={"crl_refresh": True})
        gw.start(config)
        updated = _refresh_event(gw, 0, "updated")
        assert updated["url"] == server.url("cdp-root.crl") and "Regione CDP" in updated["ca"]
        reload = gw.wait_event(lambda e: e.get("event") == "reload", timeout=10)
        assert reload["result"] == "ok"
        health = harness.curl(pki, gw.url("/healthz")).json()
        ready = gw.find_events("ready")[0]
        assert health["trust"]["crls"] == int(ready["crls"]) + 1
        no_source = {e["ca_sha256"] for e in gw.find_events("crl_refresh_no_source")}
        assert pki.manifest["cas"]["root1"]["sha256"].replace(":", "").lower() in no_source
    finally:
        server.close()


def test_example_config_has_only_known_keys():
    rc, output = _check_config(os.path.join(harness.REPO, "config", "cns-gateway.example.toml"))
    problems = [line for line in output.splitlines() if line.strip()]
    # On a test machine only the absolute paths of a real installation are missing.
    assert all("no such file" in line for line in problems), output
