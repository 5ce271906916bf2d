"""Storage outages seen from the driver: what counts as one, and how a step waits one out.

An outage (no connection, timeouts, 5xx: :class:`~lakebench_ray.errors.StorageUnavailable`,
also when it arrives wrapped from an actor) is confirmed with one quick probe of the store
before the run pauses; the pool waits it out through an :class:`~.pause.OutageGate`, the driver's
own storage steps (clean-up, checkpoint, report) through :func:`storage_step`. Both give up
after ``outage_budget_s`` with one line.
"""

from __future__ import annotations

import logging
import time

from ..errors import StorageOutage, StorageUnavailable
from ..sinks import Store
from .pause import OutageGate

log = logging.getLogger(__name__)


def is_storage_outage(exc: BaseException) -> bool:
    """A storage error that may pass, also when it arrives wrapped from an actor."""
    return isinstance(exc, StorageUnavailable) or isinstance(getattr(exc, "cause", None), StorageUnavailable)


def storage_step(store: Store, budget_s: float, what: str, step, stop=lambda: None):
    """Run one storage step of the driver (clean-up, checkpoint, report); while the storage does
    not answer, wait (probing with backoff) for at most ``budget_s`` seconds, or until ``stop()``
    raises (a signal: waiting out an outage must not outlast Kubernetes' grace period)."""
    since, delay = None, 1.0
    while True:
        stop()
        try:
            return step()
        except Exception as exc:  # noqa: BLE001 - re-raised unless it is an outage
            reason = store.probe() if is_storage_outage(exc) else None
            if reason is None:
                raise
        now = time.monotonic()
        since = since or now
        if now - since >= budget_s:
            raise StorageOutage(
                f"{store.describe('')} did not answer for {now - since:.0f}s while {what} ({reason}): "
                "run again with resume=true once it is back (outage_budget_s sets how long to wait)"
            ) from None
        delay = min(delay, max(0.1, budget_s - (now - since)))  # never sleep past the budget
        log.warning("storage does not answer while %s (%s): retrying in %.0fs", what, reason, delay)
        for _ in range(max(1, int(delay / 0.1))):  # in small steps, so a signal is seen at once
            stop()
            time.sleep(0.1)
        delay = min(10.0, delay * 2)


def outage_gate(store: Store, prefix: str, budget_s: float, before_resuming=lambda: None) -> OutageGate:
    """The pool's gate for ``store``; ``before_resuming()`` runs once the storage answers again,
    before any work is handed out (the driver confirms its lease there)."""

    def probe():
        reason = store.probe()
        if reason is None:
            try:
                before_resuming()
            except StorageUnavailable as exc:  # gone again meanwhile: still paused
                return str(exc)
        return reason

    return OutageGate(is_outage=is_storage_outage, probe=probe, budget_s=budget_s,
                      describe=f"the storage at {store.describe(prefix)}")
