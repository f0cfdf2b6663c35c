"""The packaging checks (issue 17) run on their own: they need no gateway build of the
integration suite, only the packages scripts/package makes."""

import os

import pytest

# (step, seconds) of the slow steps, printed at the end of the run.
TIMINGS = []


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: builds packages and Debian 12 systems (CNS_SKIP_SLOW=1 skips)")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("CNS_SKIP_SLOW") != "1":
        return
    skip = pytest.mark.skip(reason="CNS_SKIP_SLOW=1")
    for item in items:
        if "slow" in item.keywords and "packaging" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def timings():
    return TIMINGS


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.section("packaging: time per step")
        for step, seconds in TIMINGS:
            terminalreporter.write_line(f"{step}: {seconds:.0f} s")
