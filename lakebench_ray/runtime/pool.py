"""A pool of generator actors fed file ids, that survives actor and node loss and grows.

``ray.util.ActorPool`` cannot say which value a failed call carried, and in Ray 2.60 it keeps a
dead actor as idle when node loss surfaces as ``ActorUnavailableError``. This pool tracks the
file id of every in-flight call, requeues it on any ``RayActorError``, evicts the actor, and
starts replacements (and new actors on new capacity) as the cluster allows.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import re
import time
from typing import Any, Callable, Iterable, Optional

import ray
from ray.exceptions import RayActorError, RayError, RayTaskError

from ..errors import ClusterError, StorageOutage

log = logging.getLogger(__name__)

#: Actors that fail to start in a row, with none ever started, before the run gives up: a
#: cluster whose workers cannot import this package (another environment) fails every one.
MAX_START_FAILURES = 3


class StopRequested(Exception):
    """Raised out of :meth:`FilePool.run` when ``should_stop`` says so (a signal arrived)."""


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


@dataclasses.dataclass
class PoolSettings:
    #: Fixed number of actors, or None to follow the cluster's free CPUs.
    num_actors: Optional[int]
    max_actors: Optional[int]
    cpus_per_actor: float
    max_attempts: int
    #: Seconds without any live actor (while work remains) before the run gives up.
    startup_timeout_s: float = 600.0
    grow_interval_s: float = 2.0
    poll_s: float = 0.5
    #: Said (logged) every ``waiting_note_s`` while no actor runs, e.g. "waiting for the autoscaler".
    waiting_for: Optional[str] = None
    waiting_note_s: float = 30.0


@dataclasses.dataclass
class FailedFile:
    file_id: int
    attempts: int
    cause: str


@dataclasses.dataclass
class _Actor:
    handle: Any
    ready_ref: Any
    node_id: Optional[str] = None
    busy_with: Optional[int] = None


def _cause(exc: BaseException) -> str:
    if isinstance(exc, RayTaskError):
        inner = exc.cause if getattr(exc, "cause", None) is not None else exc
        text = str(inner).strip().splitlines()
        return f"{type(inner).__name__}: {text[-1] if text else ''}".strip()
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _start_cause(exc: BaseException) -> str:
    """Why an actor did not start: for an error in its constructor, the traceback's last line
    (e.g. ``ImportError: No module named ...``), which Ray puts after a long first line."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
    if len(lines) > 1 and "creation task" in lines[0]:
        return lines[-1]
    return _cause(exc)


class FilePool:
    """Runs ``actor.generate(file_id)`` for every id on a changing set of actors."""

    def __init__(
        self,
        make_actor: Callable[[], Any],
        settings: PoolSettings,
        *,
        on_result: Callable[[dict], None],
        on_retry: Callable[[int, str], None] = lambda file_id, cause: None,
        on_actors: Callable[[int], None] = lambda n: None,
        want_actors: Callable[[int], None] = lambda n: None,
        should_stop: Callable[[], bool] = lambda: False,
        outage: Optional[OutageGate] = None,
        on_note: Callable[[str], None] = lambda text: log.warning("%s", text),
    ):
        self._make_actor = make_actor
        self.settings = settings
        self._on_result = on_result
        self._on_retry = on_retry
        self._on_actors = on_actors
        self._want_actors = want_actors
        # Bookkeeping kept per event in O(1), whatever the number of actors: all actors, the live
        # count, the live idle ones (a queue), the starting ones by their ready ref.
        self._actors: list[_Actor] = []
        self._live_n = 0
        self._idle: collections.deque[_Actor] = collections.deque()
        self._starting_by_ref: dict[Any, _Actor] = {}
        self._in_flight: dict[Any, _Actor] = {}
        self._attempts: collections.Counter[int] = collections.Counter()
        self._last_grow = 0.0
        self._should_stop = should_stop
        self._note = on_note
        self._outage = outage
        self._outage_since: Optional[float] = None
        self._outage_cause = ""
        self._next_probe = 0.0
        self._probe_every = 0.0
        self._started_ever = False
        self._start_failures = 0
        self.evicted = 0
        self.outages = 0

    # -- actor management -------------------------------------------------------------------
    def _start_actor(self) -> None:
        handle = self._make_actor()
        actor = _Actor(handle=handle, ready_ref=handle.ready.remote())
        self._actors.append(actor)
        self._starting_by_ref[actor.ready_ref] = actor

    def _forget(self, actor: _Actor) -> None:
        """Drop ``actor`` from the bookkeeping (rare: eviction, release, shutdown)."""
        self._actors.remove(actor)
        if actor.node_id is None:
            self._starting_by_ref.pop(actor.ready_ref, None)
        else:
            self._live_n -= 1
            if actor.busy_with is None:
                try:
                    self._idle.remove(actor)
                except ValueError:
                    pass

    def _evict(self, actor: _Actor, why: str) -> None:
        if actor in self._actors:
            self._forget(actor)
            self.evicted += 1
            log.warning("evicting generator actor on node %s: %s", actor.node_id, why)
            try:
                ray.kill(actor.handle, no_restart=True)
            except Exception:  # already gone
                pass
            self._on_actors(self._live_n)

    def _target(self, remaining: int) -> int:
        s = self.settings
        if s.num_actors is not None:
            target = s.num_actors
        else:
            free = ray.available_resources().get("CPU", 0.0)
            # Count actors not yet placed as using CPUs they will take, so we do not overshoot.
            target = len(self._actors) + int(free // s.cpus_per_actor)
            target = max(target, 1)
        if s.max_actors is not None:
            target = min(target, s.max_actors)
        return max(0, min(target, remaining))

    def _maybe_grow(self, remaining: int, force: bool = False, demand: int | None = None) -> None:
        """Start actors up to the target for ``remaining`` files; ask an autoscaler for room for
        ``demand`` actors (default ``remaining``)."""
        now = time.monotonic()
        if not force and now - self._last_grow < self.settings.grow_interval_s:
            return
        self._last_grow = now
        if self.settings.num_actors is None:
            wanted = remaining if demand is None else demand
            if self.settings.max_actors is not None:
                wanted = min(wanted, self.settings.max_actors)
            self._want_actors(wanted)
        # Only add actors when none is still waiting for a place: pending ones already ask for CPUs.
        if self._starting_by_ref and self.settings.num_actors is None:
            return
        for _ in range(self._target(remaining) - len(self._actors)):
            self._start_actor()

    def _check_started(self) -> None:
        starting = self._starting_by_ref
        if not starting:
            return
        ready, _ = ray.wait(list(starting), num_returns=len(starting), timeout=0)
        for ref in ready:
            actor = starting[ref]
            try:
                node_id = ray.get(ref)
            except RayError as exc:  # any failure to start (RaySystemError too: "Actor creation cancelled")
                self._evict(actor, _cause(exc))
                self._start_failures += 1
                if not self._started_ever and self._start_failures >= MAX_START_FAILURES:
                    raise ClusterError(
                        f"no generator actor could start on this Ray ({_start_cause(exc)}): are its workers running "
                        "this environment (same Python, Ray and lakebench-ray)? Otherwise set ray.address=local "
                        "to start a private Ray"
                    ) from None
                continue
            del starting[ref]
            actor.node_id = node_id
            self._live_n += 1
            self._idle.append(actor)
            self._started_ever = True
            self._on_actors(self._live_n)

    # -- the loop --------------------------------------------------------------------------
    def run(self, file_ids: Iterable[int], more: Callable[[], Optional[int]] | None = None) -> list[FailedFile]:
        """Generate every id (and, while ``more()`` returns ids, those too); returns the files
        that failed ``max_attempts`` times. Every other id has been passed to ``on_result``."""
        pending = collections.deque(file_ids)
        failed: list[FailedFile] = []
        last_alive = time.monotonic()
        last_note = last_alive
        self._maybe_grow(max(1, len(pending)), force=True)
        while True:
            if self._should_stop():
                raise StopRequested()
            self._check_started()
            if self._outage_since is not None:
                self._wait_out_outage(len(pending) + len(self._in_flight))
            # Sustained mode has unbounded work: grow to whatever the cluster offers.
            # (The autoscaler is asked only for what planned work and running actors need.)
            known = len(pending) + len(self._in_flight)
            unbounded = 1 << 30 if more is not None else 0
            self._maybe_grow(max(1, known + unbounded), demand=max(known, self._live_n))
            while self._idle and self._outage_since is None:  # hand work to idle actors
                if not pending and more is not None:
                    extra = more()
                    if extra is None:
                        more = None
                    else:
                        pending.append(extra)
                if not pending:
                    break
                file_id = pending.popleft()
                actor = self._idle.popleft()
                actor.busy_with = file_id
                self._attempts[file_id] += 1
                self._in_flight[actor.handle.generate.remote(file_id)] = actor
            if not self._in_flight and not pending and more is None:
                return failed
            if not pending and more is None:
                self._release_idle()
            now = time.monotonic()
            if self._live_n:
                last_alive = last_note = now
            elif now - last_alive > self.settings.startup_timeout_s:
                raise ClusterError(
                    f"no generator actor could start for {self.settings.startup_timeout_s:.0f}s: the cluster has no "
                    f"free {self.settings.cpus_per_actor:g} CPU for an actor (ray.cpus_per_actor): add nodes or lower it"
                )
            elif now - last_note >= self.settings.waiting_note_s:
                last_note = now
                what = self.settings.waiting_for or f"waiting for {self.settings.cpus_per_actor:g} free CPUs for a generator actor"
                self._note(f"{what} ({now - last_alive:.0f}s so far)")
            if not self._in_flight:
                time.sleep(0.1)
                continue
            refs = list(self._in_flight)
            done, rest = ray.wait(refs, num_returns=1, timeout=self.settings.poll_s)
            if done and rest:  # collect everything else that has finished as well
                done += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
            for ref in done:
                actor = self._in_flight.pop(ref)
                file_id, actor.busy_with = actor.busy_with, None
                self._idle.append(actor)  # (an actor that died is evicted just below)
                try:
                    result = ray.get(ref)
                except RayActorError as exc:
                    self._evict(actor, _cause(exc))
                    self._retry_or_fail(file_id, _cause(exc), pending, failed)
                except RayTaskError as exc:
                    if self._storage_away(exc):
                        self._attempts[file_id] -= 1  # the storage was away: not the file's fault
                        pending.appendleft(file_id)
                    else:
                        self._retry_or_fail(file_id, _cause(exc), pending, failed)
                else:
                    self._on_result(result)

    # -- storage outages -------------------------------------------------------------------
    def _storage_away(self, exc: BaseException) -> bool:
        """Whether ``exc`` is part of a storage outage: an outage-like error and the storage does
        not answer a probe now (then the pool pauses). One that answers means a bad file."""
        gate = self._outage
        if gate is None or not gate.is_outage(exc):
            return False
        if self._outage_since is not None:
            return True
        reason = gate.probe()
        if reason is None:
            return False
        self.outages += 1
        self._outage_since = time.monotonic()
        self._outage_cause = reason
        self._probe_every = gate.first_probe_s
        self._next_probe = self._outage_since + self._probe_every
        self._note(f"{gate.describe} does not answer ({reason}): pausing, probing it until it is back "
                   f"(at most {gate.budget_s:g}s, outage_budget_s)")
        return True

    def _wait_out_outage(self, remaining: int) -> None:
        """Probe with backoff while paused; resume when the storage answers, give up after the budget."""
        gate, since = self._outage, self._outage_since
        assert gate is not None and since is not None
        now = time.monotonic()
        if now < self._next_probe:
            return
        reason = gate.probe()
        if reason is None:
            self._note(f"{gate.describe} answers again after {time.monotonic() - since:.0f}s: resuming")
            self._outage_since = None
            return
        self._outage_cause = reason
        if time.monotonic() - since >= gate.budget_s:
            raise StorageOutage(
                f"{gate.describe} did not answer for {time.monotonic() - since:.0f}s ({reason}); "
                f"{remaining} file(s) of this run remain: run again with resume=true once it is back "
                f"(outage_budget_s={gate.budget_s:g} sets how long to wait)"
            )
        self._probe_every = min(gate.max_probe_s, self._probe_every * 2)
        self._next_probe = time.monotonic() + self._probe_every

    @property
    def paused(self) -> bool:
        return self._outage_since is not None

    def _release_idle(self) -> None:
        """No work is left for idle actors: free their CPUs so an autoscaler can shrink.
        (Not reported as a change in actors: the run's last files are still being written.)"""
        for actor in [*self._idle, *self._starting_by_ref.values()]:
            self._forget(actor)
            try:
                ray.kill(actor.handle, no_restart=True)
            except Exception:
                pass

    def _retry_or_fail(self, file_id: int, cause: str, pending: collections.deque, failed: list[FailedFile]) -> None:
        attempts = self._attempts[file_id]
        if attempts >= self.settings.max_attempts:
            failed.append(FailedFile(file_id, attempts, cause))
            log.error("file %d failed after %d attempts: %s", file_id, attempts, cause)
            return
        self._on_retry(file_id, cause)
        pending.appendleft(file_id)

    def abort(self, grace_s: float) -> None:
        """Stop now: kill every actor and wait (at most ``grace_s``) until the calls in flight
        have ended, so no writer of this pool can still add a part or rename a temp file when
        the caller cleans up after them."""
        refs = list(self._in_flight)
        self.shutdown()
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=grace_s)
        self._in_flight.clear()

    def shutdown(self) -> None:
        for actor in self._actors:
            try:
                ray.kill(actor.handle, no_restart=True)
            except Exception:
                pass
        self._actors.clear()
        self._idle.clear()
        self._starting_by_ref.clear()
        self._live_n = 0
        self._want_actors(0)
