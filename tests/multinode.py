"""Helpers for tests on multi-node clusters from ``ray.cluster_utils`` (on this one machine)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

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
