"""Trusted-list helpers: the CLI, a gateway whose CAs come from an imported list, list mutations."""

import json
import os
import subprocess
import sys

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pki"))
import tslgen  # noqa: E402

# The real list AgID published, kept outside the repository (harness.real_data).
REAL_DATA = harness.real_data("tsl")


def require_xmlsec1():
    return harness.require_program("xmlsec1")


class CLIResult:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise AssertionError("not JSON (rc %s): %r\nstderr: %s" % (self.rc, self.stdout[:2000], self.stderr))

    def events(self):
        """JSON log lines (import prints the daemon's log format)."""
        out = []
        for line in self.stdout.splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    def event(self, name):
        found = [e for e in self.events() if e.get("event") == name]
        assert found, "no %s event in:\n%s\nstderr: %s" % (name, self.stdout, self.stderr)
        return found[-1]

    def __repr__(self):
        return "<cli rc=%s stdout=%r stderr=%r>" % (self.rc, self.stdout[-1500:], self.stderr[-1500:])


def cli(*args, timeout=120):
    proc = subprocess.run([harness.gateway_binary(), "trust-list"] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout)
    return CLIResult(proc)


def tsl_config(gateway, signer_certificates, source=None, extra=None, listeners=None):
    """A gateway config whose CAs come only from the imported list (no ca_bundle)."""
    state = os.path.join(gateway.dir, "state")
    os.makedirs(state, exist_ok=True)
    config = gateway.make_config(listeners=listeners, trust={"ca_bundle": None}, server={"state_dir": state})
    table = {"signer_certificates": list(signer_certificates)}
    if source is not None:
        table["source"] = source
    table.update(extra or {})
    config["trust_list"] = table
    return config


def write_config(gateway, config):
    """Write the config where `Gateway.start` would, without starting (for the first import)."""
    gateway.config = config
    with open(gateway.config_path, "w") as handle:
        handle.write(harness.to_toml(config))
    return gateway.config_path


def trust_list_directory(gateway):
    return os.path.join(gateway.dir, "state", "trust-list")


def manifest(gateway):
    with open(os.path.join(trust_list_directory(gateway), "trust-list.json")) as handle:
        return json.load(handle)


def directory_fingerprints(gateway):
    directory = trust_list_directory(gateway)
    return sorted(name[:-4] for name in os.listdir(directory) if name.endswith(".pem"))


def fingerprint(pki, ca):
    return pki.ca(ca)["sha256"].replace(":", "").lower()


def change_one_byte(data, marker):
    """`data` with the byte after `marker` replaced by another letter: still well-formed XML."""
    at = data.index(marker) + len(marker)
    original = data[at:at + 1]
    replacement = b"X" if original != b"X" else b"Y"
    return data[:at] + replacement + data[at + 1:]
