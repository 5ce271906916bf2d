"""A step run while signals are answered (``StopSignals.run``): a stop goes ahead at once, or,
with a grace, after the step has finished what it began (the storage probe removing its keys)."""

from __future__ import annotations

import signal
import threading

import pytest

from lakebench_ray.errors import Interrupted
from lakebench_ray.runtime.signals import StopSignals

pytestmark = pytest.mark.unit  # no Ray, servers or processes (guarded in conftest)


def _step(started: threading.Event, proceed: threading.Event, cleaned: threading.Event):
    def step():
        started.set()
        proceed.wait(30)
        cleaned.set()  # what the probe does last: remove its keys
        return "done"
    return step


@pytest.mark.parametrize("grace_s, finishes", [(0.0, False), (30.0, True)])
def test_a_stop_waits_for_the_step_only_with_a_grace(grace_s, finishes):
    stop = StopSignals()
    started, proceed, cleaned = threading.Event(), threading.Event(), threading.Event()

    def signal_then_release():
        started.wait(30)
        stop.signum = signal.SIGTERM  # as the handler sets it
        if finishes:
            proceed.set()

    helper = threading.Thread(target=signal_then_release)
    helper.start()
    with pytest.raises(Interrupted, match="stopped by SIGTERM while checking"):
        stop.run(_step(started, proceed, cleaned), "checking the store", poll_s=0.01, grace_s=grace_s)
    helper.join()
    assert cleaned.is_set() is finishes
    proceed.set()  # let the abandoned step of the no-grace case end
