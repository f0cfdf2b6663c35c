"""docs/ARCHITECTURE.md's module table is Package.swift's: the same modules, each with the same
dependencies on the project's own targets and the same third-party packages."""

import json
import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def package_targets():
    swift = shutil.which("swift") or "/opt/swift/usr/bin/swift"
    if not os.path.exists(swift):
        pytest.fail("swift not found: install the Swift 6 toolchain and put it on PATH")
    dump = subprocess.run([swift, "package", "dump-package"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert dump.returncode == 0, dump.stderr
    targets = {}
    for target in json.loads(dump.stdout)["targets"]:
        if target["type"] == "test":
            continue
        own, packages = set(), set()
        for dependency in target.get("dependencies", []):
            if "byName" in dependency:
                own.add(dependency["byName"][0])
            elif "target" in dependency:
                own.add(dependency["target"][0])
            elif "product" in dependency:
                packages.add(dependency["product"][1])
        targets[target["name"]] = (own, packages)
    return targets


def documented_targets():
    text = open(os.path.join(REPO, "docs", "ARCHITECTURE.md"), encoding="utf-8").read()
    section = text.split("## Modules", 1)[1].split("\n## ", 1)[0]
    targets = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        name = cells[0].strip("`")
        imports = cells[2]
        packages = set(re.findall(r"\[([^\]]*)\]", imports))
        packages = {p.strip() for group in packages for p in group.split(",")}
        own = {part.strip() for part in re.sub(r"\[[^\]]*\]", "", imports).split(",")}
        own = {part for part in own if part and part != "—"}
        targets[name] = (own, packages)
    return targets


def test_module_table_matches_package_swift():
    package = package_targets()
    documented = documented_targets()
    assert set(documented) == set(package), (
        "modules only in Package.swift: %s; only in the document: %s"
        % (sorted(set(package) - set(documented)), sorted(set(documented) - set(package))))
    for name, (own, packages) in package.items():
        doc_own, doc_packages = documented[name]
        assert doc_own == own, "%s imports %s in Package.swift, the document says %s" % (name, sorted(own), sorted(doc_own))
        assert doc_packages == packages, "%s uses packages %s, the document says %s" % (name, sorted(packages), sorted(doc_packages))


def test_every_file_the_walk_names_exists():
    text = open(os.path.join(REPO, "docs", "ARCHITECTURE.md"), encoding="utf-8").read()
    for path in set(re.findall(r"`((?:[A-Za-z]+/)+[A-Za-z+]+\.(?:swift|c))`", text)):
        candidates = [os.path.join(REPO, "Sources", path), os.path.join(REPO, path)]
        assert any(os.path.exists(c) for c in candidates), "docs/ARCHITECTURE.md names %s, which does not exist" % path
