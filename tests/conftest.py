"""Shared fixtures: a real local Ray runtime (and the S3 test server, see conftest_s3)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # quiet local test clusters
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# Every Ray node of the tests binds and advertises 127.0.0.1 (loopback only): with "cluster" IP
# detection off, Ray falls back to the localhost address for every node it starts.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# Never join a Ray the tests did not start: not a user's cluster named by RAY_ADDRESS, nor the
# head recorded in RAY_TMPDIR/ray/ray_current_cluster (perhaps long dead). Commands the tests run
# without ray.address start a private Ray; tests that want a cluster pass its address.
os.environ["RAY_ADDRESS"] = "local"

try:  # the S3 fixtures live beside this file
    from .conftest_s3 import *  # noqa: F401,F403
except ImportError as exc:  # pragma: no cover - only when the module is missing
    print(f"S3 fixtures unavailable: {exc}")


#: The modules that take longest (measured: ``--durations``), started first. Files go to the two
#: workers one at a time (``--dist loadfile``), so one long file started last would keep one worker
#: busy while the other idles; a name missing here costs only balance, never a result.
LONGEST_FIRST = ("test_multihost.py", "test_outage.py", "test_stores.py", "test_chaos.py", "test_multinode.py",
                 "test_runtime_s3.py", "test_lakebench_job.py", "test_lakebench_template.py")


def pytest_collection_modifyitems(config, items):
    """Long files first: the longest listed above, then every other file with a slow test, then
    the rest, each file's tests kept together in their order (xdist hands out files in this order:
    ``--no-loadscope-reorder``)."""
    def rank(item):
        name = item.path.name
        if name in LONGEST_FIRST:
            return LONGEST_FIRST.index(name)
        return len(LONGEST_FIRST) + (0 if slow_files.get(name) else 1)

    slow_files: dict[str, bool] = {}
    for item in items:
        slow_files[item.path.name] = slow_files.get(item.path.name, False) or item.get_closest_marker("slow") is not None
    items[:] = [item for _, item in sorted(enumerate(items), key=lambda pair: (rank(pair[1]), pair[0]))]


@pytest.fixture(autouse=True)
def _unit_guard(request, monkeypatch):
    """A test marked ``unit`` runs no Ray, starts no process and opens no connection: the unit
    tier (``pytest -m unit``) is then fast and immune to a busy machine. Anything else it tries
    fails the test, so the mark cannot lie. (``LAKEBENCH_GUARD_ALL=1`` applies the guard to every
    test collected, to find which ones qualify.)"""
    if request.node.get_closest_marker("unit") is None and not os.environ.get("LAKEBENCH_GUARD_ALL"):
        yield
        return
    import socket
    import subprocess

    def refuse(what):
        def refused(*args, **kwargs):
            raise AssertionError(f"a unit test may not {what}: mark it otherwise")
        return refused

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("start a process"))
    monkeypatch.setattr(os, "fork", refuse("fork"))
    monkeypatch.setattr(socket.socket, "connect", refuse("open a connection"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("open a connection"))
    yield


@pytest.fixture
def ray_local():
    """A local Ray with 2 CPUs, started once and shared (tests that need their own cluster shut it
    down; the next user starts it again)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING", configure_logging=False)
    yield ray
