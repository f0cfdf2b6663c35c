"""Helpers for the smart card tests: a private pcscd with the vpcd reader, the virtual CNS
card (cns-virtual-card) plugged into it, and the cns-card tool.

Everything fails loudly: a missing program is a test failure naming the Debian package.
"""

import errno
import os
import signal
import socket
import subprocess
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
VPCD_ADDRESS = "127.0.0.1:35963"  # slot 0 of the shipped /etc/reader.conf.d/vpcd
READER = "Virtual PCD 00 00"
PCSCD_PIDFILE = "/run/pcscd/pcscd.pid"
PCSCD_SOCKET = "/run/pcscd/pcscd.comm"

PACKAGES = {
    "pcscd": "pcscd",
    "pkcs15-tool": "opensc",
    "opensc-tool": "opensc",
    "openssl": "openssl",
}


def require_program(name):
    for directory in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/sbin"]:
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    pytest.fail("%s not found: install it (apt-get install %s)" % (name, PACKAGES.get(name, name)), pytrace=False)


def require_vpcd():
    if not os.path.exists(VPCD_DRIVER):
        pytest.fail("the vpcd reader driver %s is missing: install it (apt-get install vsmartcard-vpcd)"
                    % VPCD_DRIVER, pytrace=False)


def binary(name):
    """cns-card / cns-virtual-card from $CNS_CARD_BIN_DIR or the package's .build/debug."""
    directory = os.environ.get("CNS_CARD_BIN_DIR", os.path.join(REPO, ".build", "debug"))
    path = os.path.join(directory, name)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("%s missing: run `swift build` in %s or set CNS_CARD_BIN_DIR" % (path, REPO), pytrace=False)
    return path


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is gone for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split(") ")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_stale_pcscd():
    """A pcscd left over from an earlier run holds the socket and the vpcd ports: stop it
    by the pid it wrote, and wait until it is gone."""
    try:
        with open(PCSCD_PIDFILE) as handle:
            pid = int(handle.read().strip() or "0")
    except (OSError, ValueError):
        pid = 0
    if pid > 0 and _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


# vpcd listens on 0x8C7B (35963) and the next port for its two readers: both lie in Linux's
# ephemeral range, so a test's own outgoing connection (or one still in TIME_WAIT) can hold
# one, and pcscd then drops the vpcd driver. As root the ports are reserved (the kernel stops
# handing them out); in any case pcscd starts only once both are free.
VPCD_PORTS = (35963, 35964)
RESERVED_PORTS = "/proc/sys/net/ipv4/ip_local_reserved_ports"


def reserve_vpcd_ports():
    if os.geteuid() != 0:
        return
    try:
        with open(RESERVED_PORTS) as handle:
            current = handle.read().strip()
        wanted = "%d-%d" % (VPCD_PORTS[0], VPCD_PORTS[-1])
        if wanted not in current.split(","):
            with open(RESERVED_PORTS, "w") as handle:
                handle.write(",".join([p for p in current.split(",") if p] + [wanted]))
    except OSError:
        pass  # a container without a writable /proc/sys: the wait below still applies


def wait_for_free_vpcd_ports(timeout=75.0):
    """TIME_WAIT lasts 60 s on Linux; give it that and a little more."""
    deadline = time.monotonic() + timeout
    busy = []
    while time.monotonic() < deadline:
        busy = []
        for port in VPCD_PORTS:
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                probe.bind(("0.0.0.0", port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
                busy.append(port)
            finally:
                probe.close()
        if not busy:
            return
        time.sleep(0.5)
    raise AssertionError("the vpcd ports %s stayed in use for %.0f s (`ss -tanp | grep 3596` shows by what)"
                         % (busy, timeout))


def run(args, stdin=None, timeout=60, env=None, check=None):
    """Run a command, return CompletedProcess with text output."""
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout, env=env)
    if check is not None and proc.returncode != check:
        raise AssertionError("%s exited %d (expected %d)\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(args), proc.returncode, check, proc.stdout, proc.stderr))
    return proc


class PCSC:
    """A pcscd of our own in the foreground, logging every APDU (`pcscd -f -d --apdu`)."""

    def __init__(self, workdir):
        self.log_path = os.path.join(str(workdir), "pcscd.log")
        self.proc = None

    def start(self):
        require_vpcd()
        pcscd = require_program("pcscd")
        stop_stale_pcscd()
        reserve_vpcd_ports()
        wait_for_free_vpcd_ports()
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([pcscd, "-f", "-d", "--apdu"], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("pcscd exited with %s:\n%s" % (self.proc.returncode, self.log_tail()))
            if os.path.exists(PCSCD_SOCKET) and READER in run([binary("cns-card"), "readers"]).stdout:
                return self
            time.sleep(0.2)
        raise AssertionError("pcscd did not show the reader %r within 15 s:\n%s" % (READER, self.log_tail()))

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as handle:
                return b"\n".join(handle.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        terminate(self.proc)
        if getattr(self, "log", None):
            self.log.close()


def terminate(proc):
    """SIGTERM, then SIGKILL after 10 s; True if the process was still running."""
    if proc is None or proc.poll() is not None:
        return False
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    return True


class VirtualCard:
    """One cns-virtual-card process plugged into vpcd slot 0."""

    def __init__(self, citizen, workdir, pin="12345", puk="12345678", extra=()):
        self.citizen = citizen
        self.pin = pin
        self.puk = puk
        self.extra = list(extra)
        self.log_path = os.path.join(str(workdir), "virtual-card.log")
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "wb")
        args = [binary("cns-virtual-card"), "--certificate", self.citizen["cert"], "--key", self.citizen["key"],
                "--pin", self.pin, "--puk", self.puk, "--vpcd", VPCD_ADDRESS, "--verbose"] + self.extra
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_reader(lambda out: "%s: CNS" % READER in out, "the card to appear")
        return self

    def _wait_reader(self, predicate, what, timeout=15):
        deadline = time.monotonic() + timeout
        out = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None and "appear" in what:
                raise AssertionError("cns-virtual-card exited with %s:\n%s" % (self.proc.returncode, self.log_text()))
            out = run([binary("cns-card"), "readers"]).stdout
            if predicate(out):
                return
            time.sleep(0.2)
        raise AssertionError("timed out waiting for %s; readers:\n%s\ncard log:\n%s" % (what, out, self.log_text()))

    def log_text(self):
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if terminate(self.proc):
            # The next card must not be mistaken for this one: wait for the reader to be empty.
            self._wait_reader(lambda out: "%s: no card" % READER in out, "the card to be removed")
        if getattr(self, "log", None):
            self.log.close()


def cns_card(*args, stdin=None, check=None, timeout=60):
    return run([binary("cns-card")] + list(args), stdin=stdin, check=check, timeout=timeout)


def pem_to_der(pem_text):
    proc = subprocess.run([require_program("openssl"), "x509", "-outform", "DER"], input=pem_text.encode(),
                          capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout
