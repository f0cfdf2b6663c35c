"""A private PostgreSQL cluster for the tests (initdb/pg_ctl in a temporary folder, run as an
unprivileged user because initdb refuses root), plus HAProxy in front of several gateways.

A missing program fails the test with the Debian package to install."""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import pytest

import harness


def pg_bin_dir():
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0)
    for directory in reversed(candidates):
        if os.access(os.path.join(directory, "initdb"), os.X_OK):
            return directory
    pytest.fail("PostgreSQL server programs (initdb, pg_ctl) not found: install them (apt-get install postgresql)",
                pytrace=False)


class PostgresCluster:
    """One cluster on 127.0.0.1:port with a trust-authenticated user `cns` and database `cns`."""

    USER = "cns"
    DATABASE = "cns"

    def __init__(self):
        self.bin = pg_bin_dir()
        self.runas = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("nobody")
            except KeyError:
                pytest.fail("running as root and there is no user `nobody` to run initdb as", pytrace=False)
            self.runas = "nobody"
        self.dir = tempfile.mkdtemp(prefix="cns-pg-")
        os.chmod(self.dir, 0o755)
        if self.runas:
            shutil.chown(self.dir, user=self.runas)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "pg.log")
        self.port = harness.free_port()

    def _run(self, *args, check=True, timeout=60):
        command = [os.path.join(self.bin, args[0])] + list(args[1:])
        if self.runas:
            command = ["su", "-s", "/bin/sh", self.runas, "-c", " ".join(_quote(a) for a in command)]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if check and proc.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s%s" % (args[0], proc.returncode, proc.stdout, proc.stderr))
        return proc

    def init(self):
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", self.USER, "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as handle:
            # Enough backends for two gateways' pools, the probes and the test's psql.
            handle.write("\nmax_connections = 100\nfsync = on\n")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER, self.DATABASE)
        return self

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-w", "-t", "30", "-o",
                  "-p %d -k %s -c listen_addresses=127.0.0.1" % (self.port, self.dir), "-l", self.log, "start")

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", self.data, "-w", "-t", "30", "stop", "-m", mode, check=False)

    def url(self, **params):
        query = "&".join("%s=%s" % kv for kv in sorted(params.items()))
        return "postgres://%s@127.0.0.1:%d/%s%s" % (self.USER, self.port, self.DATABASE, "?" + query if query else "")

    def psql(self, sql):
        """Rows of a query as lists of strings (unaligned, tab-separated)."""
        proc = self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER, "-d", self.DATABASE,
                         "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql)
        return [line.split("\t") for line in proc.stdout.splitlines() if line]

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


class HAProxy:
    """mode tcp, round robin, PROXY v2: one frontend per entry of `frontends`
    ({name: (port, [gateway port, ...])})."""

    def __init__(self, directory, frontends):
        self.binary = harness.require_program("haproxy")
        self.ports = {name: port for name, (port, _) in frontends.items()}
        lines = ["global", "  maxconn 4096", "", "defaults", "  mode tcp", "  timeout connect 5s",
                 "  timeout client 30s", "  timeout server 30s", ""]
        for name, (port, backends) in frontends.items():
            lines += ["frontend fe_%s" % name, "  bind 127.0.0.1:%d" % port, "  default_backend be_%s" % name, "",
                      "backend be_%s" % name, "  balance roundrobin"]
            lines += ["  server gw%d 127.0.0.1:%d send-proxy-v2" % (i, p) for i, p in enumerate(backends)]
            lines.append("")
        self.config = os.path.join(str(directory), "haproxy.cfg")
        with open(self.config, "w") as handle:
            handle.write("\n".join(lines))
        check = subprocess.run([self.binary, "-c", "-f", self.config], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.proc = subprocess.Popen([self.binary, "-db", "-f", self.config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in self.ports.values():
            harness.wait_port("127.0.0.1", port)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
