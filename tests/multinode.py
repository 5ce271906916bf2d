"""Helpers for tests on multi-node clusters from ``ray.cluster_utils`` (on this one machine)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

from .rayhead import live_processes

#: Shorter failure detection: a lost node is declared dead in ~3 s instead of ~30 s.
FAST_FAILURE = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 1000,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 3,
}


class Background:
    """Runs ``lakebench_ray.generate`` in a thread so a test can change the cluster meanwhile."""

    def __init__(self, config):
        import lakebench_ray

        self.report = None
        self.error: BaseException | None = None

        def target():
            try:
                self.report = lakebench_ray.generate(config)
            except BaseException as exc:  # surfaced by result()
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def result(self, timeout: float = 240):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the run did not finish in time"
        if self.error is not None:
            raise self.error
        return self.report


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def checkpoint_count(root: Path, prefix: str = "customer/interactions") -> int:
    """Files the checkpoint under the output directory ``root`` records so far."""
    from .helpers import local_receipts

    try:
        return len(local_receipts(root, prefix))
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def actor_pids(nodes, title: str = "ray::GeneratorActor") -> list[int]:
    """Pids of the worker processes running an actor of Ray's process title ``title`` on these
    ``ray.cluster_utils`` nodes: children of each node's raylet (Ray names an actor's process
    ``ray::Class`` or ``ray::Class.method`` while it runs one)."""
    from ray._private import ray_constants

    raylets = {node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid for node in nodes}
    return [pid for pid, ppid, _, name in live_processes()
            if ppid in raylets and (name == title or name.startswith(title + "."))]


@contextlib.contextmanager
def held(pids):
    """Holds these processes still (SIGSTOP) for the block, then lets them go on (SIGCONT): a run
    whose actors are held makes no progress meanwhile, so what the test does then lands mid-run
    whatever the machine's speed."""
    stopped = []
    try:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            except ProcessLookupError:
                pass
        yield stopped
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def part_count(root: Path, prefix: str = "customer/interactions") -> int:
    """Data files complete under the output directory ``root`` (visible only once whole)."""
    try:
        return sum(1 for name in os.listdir(root / prefix) if name.startswith("part-"))
    except FileNotFoundError:
        return 0
