"""The pool's pause for a storage outage: when a failed file means the storage is away (not a bad
file), how the pool stops handing out work, probes with backoff and resumes or gives up.

Kept apart from the pool's actor bookkeeping; it needs no Ray, only the gate's two callables.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional

from ..errors import StorageOutage


@dataclasses.dataclass
class OutageGate:
    """How the pool tells a storage outage from a bad file, and waits one out.

    ``is_outage(exc)`` says whether an error may be the storage being away; ``probe()`` returns
    None when the storage answers, else the reason. A failure counts against a file only when the
    storage answered the probe: while it does not, the pool pauses (no new work, files requeued
    without spending an attempt) and probes with backoff, for at most ``budget_s`` seconds."""

    is_outage: Callable[[BaseException], bool]
    probe: Callable[[], Optional[str]]
    budget_s: float
    describe: str = "the storage"
    first_probe_s: float = 1.0
    max_probe_s: float = 10.0
    #: Monotonic seconds (a test passes a fake clock).
    clock: Callable[[], float] = time.monotonic


class OutagePause:
    """Whether the pool is paused for an outage of the gate's storage, and the waiting."""

    def __init__(self, gate: Optional[OutageGate], note: Callable[[str], None]):
        self._gate = gate
        self._note = note
        self._since: Optional[float] = None
        self._cause = ""
        self._next_probe = 0.0
        self._probe_every = 0.0
        #: Outages seen (pauses begun) in this run.
        self.count = 0

    @property
    def active(self) -> bool:
        return self._since is not None

    def storage_away(self, exc: BaseException) -> bool:
        """Whether ``exc`` is part of a storage outage: an outage-like error and the storage does
        not answer a probe now (then the pool pauses). One that answers means a bad file."""
        gate = self._gate
        if gate is None or not gate.is_outage(exc):
            return False
        if self._since is not None:
            return True
        reason = gate.probe()
        if reason is None:
            return False
        self.count += 1
        self._since = self._gate.clock()
        self._cause = reason
        self._probe_every = gate.first_probe_s
        self._next_probe = min(self._since + self._probe_every, self._since + gate.budget_s)
        self._note(f"{gate.describe} does not answer ({reason}): pausing, probing it until it is back "
                   f"(at most {gate.budget_s:g}s, outage_budget_s)")
        return True

    def wait_out(self, remaining: int) -> None:
        """Probe with backoff while paused; resume when the storage answers, give up after the
        budget (``remaining``: files of the run left, for the message)."""
        gate, since = self._gate, self._since
        assert gate is not None and since is not None
        now = self._gate.clock()
        if now < self._next_probe:
            return
        reason = gate.probe()
        if reason is None:
            self._note(f"{gate.describe} answers again after {self._gate.clock() - since:.0f}s: resuming")
            self._since = None
            return
        self._cause = reason
        if self._gate.clock() - since >= gate.budget_s:
            raise StorageOutage(
                f"{gate.describe} did not answer for {self._gate.clock() - since:.0f}s ({reason}); "
                f"{remaining} file(s) of this run remain: run again with resume=true once it is back "
                f"(outage_budget_s={gate.budget_s:g} sets how long to wait)"
            )
        self._probe_every = min(gate.max_probe_s, self._probe_every * 2)
        # Never past the budget: the last probe is at its end, not a backoff step beyond it.
        self._next_probe = min(self._gate.clock() + self._probe_every, since + gate.budget_s)
