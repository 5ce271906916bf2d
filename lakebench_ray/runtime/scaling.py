"""How many generator actors a run wants: the pool's scaling policy, apart from its bookkeeping.

The pool (``runtime/pool.py``) knows which actors exist, which are starting and what each one is
running; this module only turns those counts, the work left and the cluster's free CPUs into
decisions: how many actors to aim for, how many to start now, what to ask an autoscaler for,
how many calls to queue on one actor and when to stop trying to start actors at all. It imports
no Ray, so every rule here is tested with plain numbers.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

#: Actors that fail to start in a row, with none ever started, before the run gives up: a
#: cluster whose workers cannot import this package (another environment) fails every one.
MAX_START_FAILURES = 3

#: Calls queued on one actor: the one it runs and the next, so it starts its next file as soon
#: as it finishes one instead of idling for a round trip through the driver. (Ray runs an
#: actor's calls one at a time, in order.) More would only make the run's last files wait behind
#: busy actors while others idle.
CALLS_PER_ACTOR = 2

#: Work "left" in sustained mode, where ``more()`` hands out ids until a deadline: grow to
#: whatever the cluster offers.
UNBOUNDED = 1 << 30

#: An autoscaler is never asked for more actors than this at once.
MAX_DEMAND = 10_000


@dataclasses.dataclass(frozen=True)
class ScalingPolicy:
    #: Fixed number of actors, or None to follow the cluster's free CPUs.
    num_actors: Optional[int]
    max_actors: Optional[int]
    cpus_per_actor: float
    #: Seconds between two looks at the cluster (each costs a call to the GCS).
    grow_interval_s: float = 2.0
    max_start_failures: int = MAX_START_FAILURES
    calls_per_actor: int = CALLS_PER_ACTOR

    @property
    def follows_cluster(self) -> bool:
        """Whether the actor count follows the cluster's free CPUs (and an autoscaler's)."""
        return self.num_actors is None

    def work_left(self, pending: int, in_flight: int, sustained: bool) -> int:
        """Files the pool should size itself for (at least 1, so a run always starts one actor)."""
        return max(1, pending + in_flight + (UNBOUNDED if sustained else 0))

    def target(self, remaining: int, actors: int, free_cpus: float) -> int:
        """Actors to have for ``remaining`` files, given ``actors`` already there (started or
        starting) and the cluster's ``free_cpus`` (unused with a fixed ``num_actors``)."""
        if self.num_actors is not None:
            target = self.num_actors
        else:
            # Actors not yet placed count as using the CPUs they will take, so we do not overshoot.
            target = max(1, actors + int(free_cpus // self.cpus_per_actor))
        if self.max_actors is not None:
            target = min(target, self.max_actors)
        return max(0, min(target, remaining))

    def to_start(self, remaining: int, actors: int, starting: int, free_cpus: Callable[[], float]) -> int:
        """Actors to start now. ``free_cpus`` is asked only when the count follows the cluster.

        Following the cluster, nothing starts while an actor still waits for a place: pending
        actors already ask for CPUs, and the free CPUs do not yet show what they will take."""
        if self.follows_cluster:
            if starting:
                return 0
            return max(0, self.target(remaining, actors, free_cpus()) - actors)
        return max(0, self.target(remaining, actors, 0.0) - actors)

    def demand(self, planned: int, live: int) -> Optional[int]:
        """Actors to ask an autoscaler room for: the planned work or the running actors, whichever
        is more, capped; None with a fixed ``num_actors`` (nothing to ask)."""
        if not self.follows_cluster:
            return None
        wanted = max(planned, live)
        if self.max_actors is not None:
            wanted = min(wanted, self.max_actors)
        return min(wanted, MAX_DEMAND)

    def grow_due(self, now: float, last: float, force: bool = False) -> bool:
        return force or now - last >= self.grow_interval_s

    def gives_up(self, started_ever: bool, start_failures: int) -> bool:
        """Whether actors failing to start mean none ever will (no actor has started so far)."""
        return not started_ever and start_failures >= self.max_start_failures

    def queue_more(self, calls: int) -> bool:
        """Whether an actor running ``calls`` calls takes another."""
        return calls < self.calls_per_actor
