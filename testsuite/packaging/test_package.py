"""The Debian packages (issue 17), with the real tools:

- scripts/package builds them twice, a "previous" and a "current" version of this tree,
  and lintian finds neither an error nor a warning;
- the packages hold the units, fragments, conffile and a manual page for every command
  and subcommand the binaries' argument parsers know;
- piuparts installs them in a fresh Debian 12 chroot, upgrades from the previous build
  and purges them;
- in a booted Debian 12 container (debootstrap + systemd-nspawn): install (enabled, not
  started: the shipped configuration does not pass check-config), README's configuration
  steps (then the unedited example passes check-config), the demo configuration,
  `systemctl start`, /healthz and a card login, the manual pages, an upgrade the new
  binary's check-config refuses (the old daemon keeps serving), upgrades that restart,
  one of a stopped service, remove and purge.

Needs root and deb.debian.org (CNS_DEBIAN_MIRROR to use another mirror). Slow: marked
`slow`. scripts/package-check runs this file alone. CNS_PACKAGE_REUSE=DIR re-runs the
checks on the packages an earlier run left in DIR instead of building them.
"""

import glob
import gzip
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "testsuite", "pki"))
MIRROR = os.environ.get("CNS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
TOOLS = {
    "dpkg-buildpackage": "dpkg-dev", "dpkg-scanpackages": "dpkg-dev", "dpkg-deb": "dpkg",
    "dh": "debhelper", "lintian": "lintian", "piuparts": "piuparts", "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container", "nsenter": "util-linux", "pgrep": "procps", "readelf": "binutils",
}
PACKAGES = ("cns-gateway", "cns-card")
CONFIG = "/etc/cns-gateway/cns-gateway.toml"
EXPLAINED_INFO_TAGS = {"hardening-no-fortify-functions", "package-supports-alternative-init-but-no-init.d-script",
                       "spelling-error-in-binary"}

pytestmark = pytest.mark.slow


def run(args, timeout, check=True, **kwargs):
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        pytest.fail("%s exited %d:\n%s" % (" ".join(map(str, args)), proc.returncode, proc.stdout[-6000:]),
                    pytrace=False)
    return proc


class Build:
    def __init__(self, directory, version):
        self.dir = directory
        self.version = version
        self.arch = subprocess.check_output(["dpkg", "--print-architecture"], text=True).strip()

    def deb(self, package):
        return os.path.join(self.dir, f"{package}_{self.version}_{self.arch}.deb")

    def debs(self):
        return [self.deb(p) for p in PACKAGES]

    @property
    def changes(self):
        return os.path.join(self.dir, f"cns-gateway_{self.version}_{self.arch}.changes")


@pytest.fixture(scope="module")
def builds(tmp_path_factory, timings):
    """The packages of this tree under two versions, built by scripts/package."""
    if os.geteuid() != 0:
        pytest.fail("the packaging checks need root (piuparts, debootstrap, systemd-nspawn)", pytrace=False)
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: install it (apt-get install {package}, or scripts/install-deps --package)",
                        pytrace=False)
    base = run(["dpkg-parsechangelog", "-SVersion"], 60, cwd=REPO).stdout.strip()
    versions = (("previous", base + "+test1"), ("current", base + "+test2"))
    reuse = os.environ.get("CNS_PACKAGE_REUSE")
    if reuse:
        # The packages an earlier run built (its dist directory), to re-run the checks only.
        return {name: Build(reuse, version) for name, version in versions}
    dist = str(tmp_path_factory.mktemp("dist"))
    env = dict(os.environ)
    # Reuse the suite's SwiftPM build (scripts/test built the release daemon there): only
    # the link step and cns-card are new.
    env.setdefault("CNS_BUILD_PATH", os.path.join(REPO, ".build"))
    env["CNS_DIST_DIR"] = dist
    made = {}
    for name, version in versions:
        start = time.monotonic()
        run([os.path.join(REPO, "scripts", "package")], 3600, cwd=REPO,
            env=dict(env, CNS_PACKAGE_VERSION=version))
        timings.append((f"scripts/package {version}", time.monotonic() - start))
        made[name] = Build(dist, version)
        for deb in made[name].debs():
            assert os.path.isfile(deb), deb
    return made


def test_lintian_reports_no_error_and_no_warning(builds):
    proc = run(["lintian", "--pedantic", "--display-info", builds["current"].changes], 600, check=False)
    tags = [line for line in proc.stdout.splitlines() if line[:3] in ("E: ", "W: ")]
    assert not tags, "lintian:\n" + "\n".join(tags)
    # The informational tags that remain are the ones README ("Install from the Debian
    # package") explains; a new one needs explaining there too.
    info = {line.split()[2] for line in proc.stdout.splitlines() if line.startswith("I: ")}
    assert info <= EXPLAINED_INFO_TAGS, sorted(info - EXPLAINED_INFO_TAGS)


def _extract(deb, into):
    os.makedirs(into)
    run(["dpkg-deb", "-x", deb, into], 120)
    run(["dpkg-deb", "-e", deb, os.path.join(into, "DEBIAN")], 120)
    return into


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _commands(tool):
    """Every command path the binary's argument parser knows: ["cns-gateway", "cns-gateway.serve", ...]."""
    info = json.loads(run([tool, "--experimental-dump-help"], 60).stdout)

    def walk(command, prefix):
        name = f"{prefix}.{command['commandName']}" if prefix else command["commandName"]
        yield name
        for sub in command.get("subcommands") or []:
            yield from walk(sub, name)

    return list(walk(info["command"], ""))


def test_package_contents(builds, tmp_path):
    gw = _extract(builds["current"].deb("cns-gateway"), str(tmp_path / "gw"))
    card = _extract(builds["current"].deb("cns-card"), str(tmp_path / "card"))

    # The units and fragments are the repository's files, hardening and all.
    for installed, source in (("lib/systemd/system/cns-gateway.service", "systemd/cns-gateway.service"),
                              ("lib/systemd/system/cns-gateway.socket", "systemd/cns-gateway.socket"),
                              ("usr/lib/sysusers.d/cns-gateway.conf", "systemd/cns-gateway.sysusers.conf"),
                              ("usr/lib/tmpfiles.d/cns-gateway.conf", "systemd/cns-gateway.tmpfiles.conf"),
                              ("etc/cns-gateway/cns-gateway.toml", "config/cns-gateway.example.toml")):
        assert _read(os.path.join(gw, installed)) == _read(os.path.join(REPO, source)), installed
    conffiles = _read(os.path.join(gw, "DEBIAN", "conffiles")).decode().split()
    assert conffiles == [CONFIG]
    control = _read(os.path.join(card, "DEBIAN", "control")).decode()
    depends = next(line for line in control.splitlines() if line.startswith("Depends:"))
    assert "pcscd" in depends.split(":", 1)[1].replace(",", " ").split()

    # No Swift runtime needed on the server; full RELRO.
    for binary in (os.path.join(gw, "usr/bin/cns-gateway"), os.path.join(card, "usr/bin/cns-card")):
        dynamic = run(["readelf", "-d", binary], 60).stdout
        needed = [line.split("[", 1)[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line]
        assert needed and not [n for n in needed if "swift" in n.lower() or "foundation" in n.lower()], needed
        assert "BIND_NOW" in dynamic and "GNU_RELRO" in run(["readelf", "-l", binary], 60).stdout

    # A manual page for every command and subcommand, in the right section, and the
    # configuration's page.
    for root, binary, section in ((gw, "usr/bin/cns-gateway", 8), (card, "usr/bin/cns-card", 1)):
        commands = _commands(os.path.join(root, binary))
        assert len(commands) > 3, commands
        for command in commands:
            page = os.path.join(root, f"usr/share/man/man{section}/{command}.{section}.gz")
            assert os.path.isfile(page), page
            text = gzip.decompress(_read(page)).decode()
            assert text.startswith('.\\" "Generated by swift-argument-parser"') and f".Nm {command}" in text, page
    toml_page = gzip.decompress(_read(os.path.join(gw, "usr/share/man/man5/cns-gateway.toml.5.gz"))).decode()
    for key in ("ca_bundle", "client_certificate", "crl_refresh_interval", "max_connections_per_client"):
        assert f"\\fB{key}\\fR" in toml_page, key


def test_piuparts_installs_upgrades_from_previous_build_and_purges(builds, tmp_path, timings):
    # piuparts' upgrade test installs the packages with apt-get first, then upgrades to the
    # .deb files: the previous build is served to it from a local repository.
    repo = tmp_path / "previous"
    repo.mkdir()
    for deb in builds["previous"].debs():
        shutil.copy(deb, repo)
    index = subprocess.run(["dpkg-scanpackages", "."], cwd=str(repo), stdout=subprocess.PIPE, text=True,
                           timeout=120, check=True).stdout
    (repo / "Packages").write_text(index)
    log = str(tmp_path / "piuparts.log")
    start = time.monotonic()
    scripts = os.path.join(os.path.dirname(__file__), "piuparts-scripts")  # systemd in the reference system
    proc = run(["piuparts", "--distribution", SUITE, "--mirror", MIRROR, "--scriptsdir", scripts,
                "--bindmount", str(repo),
                "--extra-repo", f"deb [trusted=yes] file://{repo} ./", "--log-file", log]
               + builds["current"].debs(), 3600, check=False)
    timings.append(("piuparts", time.monotonic() - start))
    text = _read(log).decode(errors="replace")
    assert proc.returncode == 0, text[-8000:]
    assert "PASS: Installation and purging test." in text, text[-4000:]
    assert "PASS: Installation, upgrade and purging tests." in text, text[-4000:]
    # The upgrade really went from the previous build to this one.
    for package in PACKAGES:
        assert f"Unpacking {package} ({builds['current'].version}) over ({builds['previous'].version})" in text, package


# ---- a booted Debian 12 container ---------------------------------------------------------


class Container:
    """Debian 12 booted with systemd-nspawn; commands run in it through nsenter (no
    systemd-machined on the host to ask)."""

    def __init__(self, root, log_path):
        self.root = root
        self.log_path = log_path
        self.proc = None
        self.leader = None

    def boot(self):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--boot", "--console=passive",
             f"--machine=cnspkg{os.getpid()}", "--directory", self.root],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while self.leader is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("systemd-nspawn did not boot the container:\n" + _read(self.log_path).decode()[-4000:],
                            pytrace=False)
            children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], stdout=subprocess.PIPE, text=True).stdout.split()
            for child in children:
                try:
                    comm = _read(f"/proc/{child}/comm").decode().strip()
                except OSError:
                    continue  # nspawn's intermediate child, gone once it has started the container
                if comm == "systemd":
                    self.leader = child
            time.sleep(0.2)
        # PID 1 exists before its bus does: until then systemctl cannot connect at all.
        while True:
            state = self.sh("systemctl is-system-running --wait", check=False, timeout=180).stdout.strip()
            if state in ("running", "degraded"):
                break
            if "Failed to connect to bus" not in state or time.monotonic() > deadline:
                pytest.fail(f"the container's systemd is {state!r}:\n" + _read(self.log_path).decode()[-4000:],
                            pytrace=False)
            time.sleep(0.5)

    def sh(self, script, check=True, timeout=600):
        env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8", "TERM=dumb",
               "DEBIAN_FRONTEND=noninteractive"]
        return run(["nsenter", "--target", self.leader, "--all", "--", "/usr/bin/env", "-i", *env,
                    "/bin/sh", "-ec", script], timeout, check=check)

    def path(self, inside):
        return os.path.join(self.root, inside.lstrip("/"))

    def shutdown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nspawn asks the container's systemd to power off
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()


@pytest.fixture(scope="module")
def container(builds, tmp_path_factory, timings):
    base = tmp_path_factory.mktemp("container")
    root = str(base / "root")
    start = time.monotonic()
    run(["debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv,dbus,man-db,curl,ca-certificates",
         SUITE, root, MIRROR], 1800)
    timings.append(("debootstrap of the container", time.monotonic() - start))
    with open(os.path.join(root, "etc", "hostname"), "w") as f:
        f.write("cnspkg\n")
    os.makedirs(os.path.join(root, "root", "debs"))
    for build in builds.values():
        for deb in build.debs():
            shutil.copy(deb, os.path.join(root, "root", "debs"))
    box = Container(root, str(base / "console.log"))
    start = time.monotonic()
    try:
        box.boot()
        box.sh("apt-get update -qq", timeout=600)
        yield box
    finally:
        box.shutdown()
        shutil.rmtree(root, ignore_errors=True)
        timings.append(("container: boot, checks, shutdown", time.monotonic() - start))


def _install(box, build, extra=""):
    debs = " ".join("/root/debs/" + os.path.basename(deb) for deb in build.debs())
    return box.sh(f"apt-get install -y -q {extra} {debs} 2>&1", timeout=900).stdout


def _unit(box, prop):
    return box.sh(f"systemctl show -P {prop} cns-gateway.service").stdout.strip()


def _stat(box, path):
    return box.sh(f"stat -c '%U %G %a' {path}").stdout.strip()


def _healthz(box, port):
    out = box.sh(f"curl -sS --max-time 10 -w '\\n%{{http_code}}' --cacert /etc/cns-gateway/pki/server/server-ca.pem "
                 f"https://localhost:{port}/healthz").stdout
    body, status = out.rsplit("\n", 1)
    assert status == "200", out
    return json.loads(body)


def _sha256(box, path):
    return hashlib.sha256(_read(box.path(path))).hexdigest()


STATE = {}


def test_install_enables_but_does_not_start_an_unconfigured_gateway(container, builds):
    box = container
    out = _install(box, builds["previous"])
    assert "the service is installed and enabled but NOT started" in out, out
    # check-config's own report is in the message (the shipped example names files that a
    # fresh host does not have).
    assert "/etc/cns-gateway/tls/server-chain.pem" in out or "/etc/cns-gateway/ca" in out, out
    assert box.sh("systemctl is-enabled cns-gateway.service").stdout.strip() == "enabled"
    assert box.sh("systemctl is-enabled cns-gateway.socket", check=False).stdout.strip() == "disabled"
    assert box.sh("systemctl is-active cns-gateway.service", check=False).stdout.strip() == "inactive"
    assert _stat(box, "/var/lib/cns-gateway") == "cns-gateway cns-gateway 700"
    assert _stat(box, "/etc/cns-gateway") == "root cns-gateway 750"
    account = box.sh("getent passwd cns-gateway").stdout.strip().split(":")
    assert account[5] == "/var/lib/cns-gateway" and account[6] in ("/usr/sbin/nologin", "/sbin/nologin"), account
    assert box.sh("dpkg-query -W -f='${Status}' pcscd").stdout == "install ok installed"
    assert _read(box.path("/lib/systemd/system/cns-gateway.service")) == _read(os.path.join(REPO, "systemd", "cns-gateway.service"))


@pytest.fixture(scope="module")
def material(container):
    """The demo PKI (what scripts/demo generates) in the container's /root/material."""
    import cnspki  # tests/pki

    cnspki.generate(container.path("/root/material"), citizens=2, filler=10)
    return "/root/material"


def test_readme_steps_make_the_shipped_configuration_pass_check_config(container, material):
    box = container
    # README, "Install from the Debian package": the files go where the shipped example
    # expects them, and the example itself, unedited, then passes check-config, also as the
    # service user (as postinst and the unit's ExecStartPre run it).
    box.sh(f"""cd {material}
install -d -m 0750 -g cns-gateway /etc/cns-gateway/tls /etc/cns-gateway/ca
install -m 0644 server/server-chain.pem /etc/cns-gateway/tls/
install -m 0600 -o cns-gateway server/server.key /etc/cns-gateway/tls/
install -m 0644 ca-bundle.pem /etc/cns-gateway/ca/
install -d -m 0700 -o cns-gateway -g cns-gateway /var/lib/cns-gateway/crls
install -m 0644 crls/* /var/lib/cns-gateway/crls/""")
    assert _read(box.path(CONFIG)) == _read(os.path.join(REPO, "config", "cns-gateway.example.toml"))
    box.sh(f"cns-gateway check-config --config {CONFIG}")
    box.sh(f"runuser -u cns-gateway -- cns-gateway check-config --config {CONFIG}")


def test_demo_configuration_starts_and_serves_healthz(container, material):
    box = container
    # The container shares the host's network namespace (its apt reaches the mirror), so
    # the gateway listens on a loopback port that is free on the host.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box.sh(f"cp -a {material} /etc/cns-gateway/pki")
    box.sh("chown -R root:cns-gateway /etc/cns-gateway/pki && chmod -R g+rX,o-rwx /etc/cns-gateway/pki"
           " && chown cns-gateway /etc/cns-gateway/pki/server/server.key && chmod 600 /etc/cns-gateway/pki/server/server.key")
    secret, secret_hash = box.sh("cns-gateway hash-secret --generate").stdout.split()
    # The configuration scripts/demo writes, with the package's paths (state in
    # /var/lib/cns-gateway, the unit's StateDirectory).
    with open(box.path(CONFIG), "w") as f:
        f.write(f"""# Demo configuration (as scripts/demo writes it), installed package.
[server]
state_dir = "/var/lib/cns-gateway"

[oidc]
issuer = "https://localhost:{port}"
interstitial = false

[[client]]
id = "demo-service"
name = "Servizio dimostrativo"
secret_hash = "{secret_hash}"
redirect_uris = ["http://127.0.0.1:9/callback"]

[[listener]]
name = "login"
address = "127.0.0.1:{port}"
certificate = "pki/server/server-chain.pem"
private_key = "pki/server/server.key"
client_certificate = "optional"

[trust]
ca_bundle = "pki/ca-bundle.pem"
crls = ["pki/crls"]
revocation = "best-effort"
""")
    box.sh(f"cns-gateway check-config --config {CONFIG}")
    box.sh("systemctl start cns-gateway.service", timeout=120)
    health = _healthz(box, port)
    assert health["status"] == "serving", health
    assert _unit(box, "User") == "cns-gateway" and _unit(box, "ProtectSystem") == "strict"
    # A demo card's login: the identity the gateway read from it.
    whoami = json.loads(box.sh(
        f"curl -sS --max-time 10 --cacert /etc/cns-gateway/pki/server/server-ca.pem "
        f"--cert /etc/cns-gateway/pki/citizens/ok1.pem --key /etc/cns-gateway/pki/citizens/ok1.key "
        f"https://localhost:{port}/whoami").stdout)
    assert whoami["verdict"]["reason"] == "ok", whoami
    # The service's state directory is in use (signing keys, database).
    assert box.sh("ls -A /var/lib/cns-gateway").stdout.strip()
    STATE.update(port=port, secret=secret)


def test_manual_pages(container):
    box = container
    for page, expect in (("cns-gateway", "CNS-GATEWAY(8)"), ("cns-gateway.toml", "ca_bundle"),
                         ("cns-gateway.check-config", "--config"), ("cns-gateway.keys.rotate", "--overlap"),
                         ("cns-card", "CNS-CARD(1)"), ("cns-card.pin.unblock", "cns-card pin unblock")):
        text = box.sh(f"MANWIDTH=100 man -P cat {page} 2>&1").stdout
        assert "NAME" in text and expect in text, f"man {page}:\n{text[:2000]}"
    # Every page is in the whatis index (apropos finds subcommands by name).
    listed = box.sh("apropos cns-gateway").stdout
    for page in ("cns-gateway.check-config (8)", "cns-gateway.toml (5)", "cns-gateway.keys.rotate (8)"):
        assert page in listed, listed


def test_upgrade_refused_by_new_binary_keeps_old_gateway_running(container, builds):
    box = container
    pid = _unit(box, "MainPID")
    config_hash = _sha256(box, CONFIG)
    # A configuration the new binary refuses (in real life a key a new version dropped or
    # renamed; here one no version knows). The running daemon read its configuration at
    # start and keeps serving with it.
    box.sh(f"sed -i 's/^\\[server\\]$/[server]\\nnot_a_key_yet = 1/' {CONFIG}")
    out = _install(box, builds["current"])
    assert "NOT restarted after the upgrade" in out and "not_a_key_yet" in out, out
    assert f"The previous version ({builds['previous'].version}) keeps running" in out, out
    assert _unit(box, "MainPID") == pid
    # Still the old binary, which dpkg has replaced on disk (MainPID is the container's PID).
    assert box.sh(f"readlink /proc/{pid}/exe").stdout.strip() == "/usr/bin/cns-gateway (deleted)"
    assert _healthz(box, STATE["port"])["status"] == "serving"
    assert box.sh("dpkg-query -W -f='${Version}' cns-gateway").stdout == builds["current"].version
    # Fixed, the operator restarts it by hand (what the message says).
    box.sh(f"sed -i '/^not_a_key_yet = 1$/d' {CONFIG}")
    assert _sha256(box, CONFIG) == config_hash
    box.sh("systemctl restart cns-gateway.service", timeout=120)
    assert _healthz(box, STATE["port"])["status"] == "serving"


def test_upgrade_restarts_running_gateway_and_keeps_the_conffile(container, builds):
    box = container
    config_hash = _sha256(box, CONFIG)
    # Back to the previous build, then the upgrade: each restarts the running gateway.
    for build, extra in ((builds["previous"], "--allow-downgrades"), (builds["current"], "")):
        pid = _unit(box, "MainPID")
        out = _install(box, build, extra)
        assert "NOT restarted" not in out, out
        assert box.sh("dpkg-query -W -f='${Version}' cns-gateway").stdout == build.version
        assert _unit(box, "ActiveState") == "active"
        assert _unit(box, "MainPID") not in (pid, "0")
        assert _healthz(box, STATE["port"])["status"] == "serving"
        assert _sha256(box, CONFIG) == config_hash  # the edited conffile is kept


def test_upgrade_leaves_a_stopped_gateway_stopped(container, builds):
    box = container
    box.sh("systemctl stop cns-gateway.service", timeout=120)
    out = _install(box, builds["current"], "--reinstall")
    assert "NOT started" not in out and "NOT restarted" not in out, out
    assert box.sh("systemctl is-active cns-gateway.service", check=False).stdout.strip() == "inactive"
    box.sh("systemctl start cns-gateway.service", timeout=120)


def test_remove_stops_and_purge_removes_state_and_user(container):
    box = container
    pid = _unit(box, "MainPID")
    assert pid != "0"
    box.sh("apt-get remove -y -q cns-gateway 2>&1", timeout=600)
    assert box.sh(f"test -e /proc/{pid}", check=False).returncode == 1  # the container's PID
    assert not os.path.exists(box.path("/lib/systemd/system/cns-gateway.service"))
    assert os.path.isdir(box.path("/var/lib/cns-gateway")) and os.path.isfile(box.path(CONFIG))
    assert box.sh("getent passwd cns-gateway", check=False).returncode == 0

    out = box.sh("apt-get purge -y -q cns-gateway cns-card 2>&1", timeout=600).stdout
    assert not os.path.exists(box.path("/var/lib/cns-gateway"))
    assert not os.path.exists(box.path(CONFIG))
    assert box.sh("getent passwd cns-gateway", check=False).returncode == 2
    assert box.sh("getent group cns-gateway", check=False).returncode == 2
    assert not glob.glob(box.path("/etc/systemd/system/*/cns-gateway.*"))
    # What the administrator put in /etc/cns-gateway (here the PKI) is theirs: dpkg leaves
    # the directory and says so.
    assert os.path.isfile(box.path("/etc/cns-gateway/pki/ca-bundle.pem"))
    assert "/etc/cns-gateway" in out and "not empty" in out, out
