"""A pool of generator actors fed file ids, that survives actor and node loss and grows.

``ray.util.ActorPool`` cannot say which value a failed call carried, and in Ray 2.60 it keeps a
dead actor as idle when node loss surfaces as ``ActorUnavailableError``. This pool tracks the
file id of every call in flight, requeues it on any ``RayActorError``, evicts the actor, and
starts replacements (and new actors on new capacity) as the cluster allows.

This module keeps the books (which actors exist, what each one runs, what is left); how many
actors to want and start is decided by :class:`~.scaling.ScalingPolicy`, which knows no Ray.
Each actor has up to ``calls_per_actor`` calls queued, so it starts its next file without
waiting for the driver; when it is lost, every file queued on it goes back to the queue.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import queue
import time
from typing import Any, Callable, Iterable, Optional

import ray
from ray.exceptions import RayActorError, RayError, RayTaskError

from ..errors import ClusterError
from .causes import call_cause, start_cause
from .pause import OutageGate, OutagePause
from .results import FileResult
from .scaling import MAX_START_FAILURES, ScalingPolicy

log = logging.getLogger(__name__)

__all__ = ["FailedFile", "FilePool", "MAX_START_FAILURES", "OutageGate", "PoolSettings", "StopRequested"]


class StopRequested(Exception):
    """Raised out of :meth:`FilePool.run` when ``should_stop`` says so (a signal arrived)."""


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

    def policy(self) -> ScalingPolicy:
        return ScalingPolicy(num_actors=self.num_actors, max_actors=self.max_actors,
                             cpus_per_actor=self.cpus_per_actor, grow_interval_s=self.grow_interval_s)


@dataclasses.dataclass
class FailedFile:
    file_id: int
    attempts: int
    cause: str


@dataclasses.dataclass(eq=False)
class _Call:
    ref: Any
    file_id: int
    actor: "_Actor"
    seq: int  # submission order: an actor runs its calls in this order
    future: Any = None  # the ref's concurrent future: its value or the error that ended the call


@dataclasses.dataclass(eq=False)
class _Actor:
    handle: Any
    ready_ref: Any  # kept with the actor, so Ray keeps its answer for the future below
    ready: Any = None  # the future of ``ready_ref``
    node_id: Optional[str] = None
    #: Calls sent and not yet settled, oldest (the one running) first.
    calls: collections.deque = dataclasses.field(default_factory=collections.deque)
    #: Bumped whenever ``calls`` changes: an entry in a free queue from another epoch is stale.
    epoch: int = 0
    gone: bool = False


class FilePool:
    """Runs ``actor.generate(file_id)`` for every id on a changing set of actors."""

    def __init__(
        self,
        make_actor: Callable[[], Any],
        settings: PoolSettings,
        *,
        on_result: Callable[[FileResult], None],
        on_retry: Callable[[int, str], None] = lambda file_id, cause: None,
        on_actors: Callable[[int], None] = lambda n: None,
        want_actors: Callable[[int], None] = lambda n: None,
        should_stop: Callable[[], bool] = lambda: False,
        outage: Optional[OutageGate] = None,
        on_note: Callable[[str], None] = lambda text: log.warning("%s", text),
    ):
        self._make_actor = make_actor
        self.settings = settings
        self.policy = settings.policy()
        self._on_result = on_result
        self._on_retry = on_retry
        self._on_actors = on_actors
        self._want_actors = want_actors
        # Bookkeeping kept per event in O(1), whatever the number of actors: all actors, the live
        # count, the starting ones, the calls in flight by ref, and per number
        # of calls queued a queue of live actors that take another (entries checked when taken).
        self._actors: list[_Actor] = []
        self._live_n = 0
        self._free: list[collections.deque] = [collections.deque() for _ in range(self.policy.calls_per_actor)]
        self._starting: set[_Actor] = set()
        self._in_flight: dict[Any, _Call] = {}
        # Calls that settled, put by Ray's thread as each ends: the loop takes them in O(1)
        # instead of asking ``ray.wait`` about every call in flight on each turn (which costs
        # per call in flight, so per actor, on every completion).
        self._settled: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._ready: queue.SimpleQueue[_Actor] = queue.SimpleQueue()  # started (or failed to), likewise
        self._seq = itertools.count()
        self._attempts: collections.Counter[int] = collections.Counter()
        self._last_grow = 0.0
        self._should_stop = should_stop
        self._note = on_note
        self._pause = OutagePause(outage, on_note)
        self._started_ever = False
        self._start_failures = 0
        self.evicted = 0
        #: Files handed out again without spending an attempt: queued behind a file on an actor
        #: that was lost, or failed while the storage was away.
        self.requeued = 0

    # -- actor management -------------------------------------------------------------------
    def _start_actor(self) -> None:
        handle = self._make_actor()
        actor = _Actor(handle=handle, ready_ref=handle.ready.remote())
        actor.ready = actor.ready_ref.future()  # settles when the actor is up (or failed to start)
        actor.ready.add_done_callback(lambda _future, actor=actor: self._ready.put(actor))
        self._actors.append(actor)
        self._starting.add(actor)

    def _offer(self, actor: _Actor) -> None:
        """After ``actor.calls`` changed: queue the actor as free if it takes another call."""
        actor.epoch += 1
        n = len(actor.calls)
        if not actor.gone and actor.node_id is not None and self.policy.queue_more(n):
            self._free[n].append((actor, actor.epoch))

    def _take_free(self) -> Optional[_Actor]:
        """A live actor that takes another call, the least loaded first."""
        for free in self._free:
            while free:
                actor, epoch = free.popleft()
                if epoch == actor.epoch and not actor.gone:
                    return actor
        return None

    def _put_back(self, actor: _Actor) -> None:
        self._free[len(actor.calls)].appendleft((actor, actor.epoch))

    def _forget(self, actor: _Actor) -> None:
        """Drop ``actor`` from the bookkeeping (rare: eviction, release, shutdown)."""
        actor.gone = True
        self._actors.remove(actor)
        if actor.node_id is None:
            self._starting.discard(actor)
        else:
            self._live_n -= 1

    def _evict(self, actor: _Actor, why: str) -> None:
        if not actor.gone:
            self._forget(actor)
            self.evicted += 1
            log.warning("evicting generator actor on node %s: %s", actor.node_id, why)
            try:
                ray.kill(actor.handle, no_restart=True)
            except Exception:  # already gone
                pass
            self._on_actors(self._live_n)

    def _maybe_grow(self, remaining: int, planned: int, force: bool = False) -> None:
        """Start actors up to the policy's target for ``remaining`` files; ask an autoscaler for
        room for the ``planned`` files (or the running actors, whichever is more)."""
        now = time.monotonic()
        if not self.policy.grow_due(now, self._last_grow, force):
            return
        self._last_grow = now
        wanted = self.policy.demand(planned, self._live_n)
        if wanted is not None:
            self._want_actors(wanted)
        start = self.policy.to_start(remaining, len(self._actors), len(self._starting),
                                     lambda: ray.available_resources().get("CPU", 0.0))
        for _ in range(start):
            self._start_actor()

    def _check_started(self) -> None:
        while True:
            try:
                actor = self._ready.get_nowait()
            except queue.Empty:
                return
            if actor not in self._starting:  # released or evicted meanwhile
                continue
            exc = actor.ready.exception()
            if exc is not None:
                if not isinstance(exc, RayError):
                    raise exc
                # any failure to start (RaySystemError too: "Actor creation cancelled")
                self._evict(actor, call_cause(exc))
                self._start_failures += 1
                if self.policy.gives_up(self._started_ever, self._start_failures):
                    raise ClusterError(
                        f"no generator actor could start on this Ray ({start_cause(exc)}): are its workers running "
                        "this environment (same Python, Ray and lakebench-ray)? Otherwise set ray.address=local "
                        "to start a private Ray"
                    ) from None
                continue
            node_id = actor.ready.result()
            self._starting.remove(actor)
            actor.node_id = node_id
            self._live_n += 1
            self._offer(actor)
            self._started_ever = True
            self._on_actors(self._live_n)

    def _submit(self, actor: _Actor, file_id: int) -> None:
        self._attempts[file_id] += 1
        ref = actor.handle.generate.remote(file_id)
        call = _Call(ref, file_id, actor, next(self._seq), ref.future())
        call.future.add_done_callback(lambda _future, call=call: self._settled.put(call))
        actor.calls.append(call)
        self._in_flight[ref] = call
        self._offer(actor)

    # -- the loop --------------------------------------------------------------------------
    def run(self, file_ids: Iterable[int], more: Callable[[], Optional[int]] | None = None) -> list[FailedFile]:
        """Generate every id (and, while ``more()`` returns ids, those too); returns the files
        that failed ``max_attempts`` times. Every other id has been passed to ``on_result``.

        Ids from ``more()`` (sustained mode, until a deadline) go only to an actor with nothing
        queued, so the run still ends at most one file after ``more()`` stops."""
        pending = collections.deque(file_ids)
        failed: list[FailedFile] = []
        last_alive = time.monotonic()
        last_note = last_alive
        self._maybe_grow(max(1, len(pending)), max(1, len(pending)), force=True)
        while True:
            if self._should_stop():
                raise StopRequested()
            self._check_started()
            if self._pause.active:
                self._pause.wait_out(len(pending) + len(self._in_flight))
            known = len(pending) + len(self._in_flight)
            self._maybe_grow(self.policy.work_left(len(pending), len(self._in_flight), more is not None), known)
            while not self._pause.active:  # hand work to actors that take more
                actor = self._take_free()
                if actor is None:
                    break
                if not pending and more is not None and not actor.calls:
                    extra = more()
                    if extra is None:
                        more = None
                    else:
                        pending.append(extra)
                if not pending:
                    self._put_back(actor)
                    break
                self._submit(actor, pending.popleft())
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
            try:
                done = [self._settled.get(timeout=self.settings.poll_s)]
            except queue.Empty:
                continue
            while True:  # everything else that has settled as well
                try:
                    done.append(self._settled.get_nowait())
                except queue.Empty:
                    break
            # An actor's calls settle in the order it ran them: a result it returned before it
            # was lost is recorded, not requeued with the calls behind it.
            done.sort(key=lambda call: call.seq)
            for call in done:
                if self._in_flight.pop(call.ref, None) is not None:  # (else: requeued already, with
                    self._settle(call, pending, failed)              # the rest of a lost actor's calls)

    def _settle(self, call: _Call, pending: collections.deque, failed: list[FailedFile]) -> None:
        actor = call.actor
        actor.calls.remove(call)
        self._offer(actor)  # (an actor that died is evicted just below)
        exc = call.future.exception()
        if exc is None:
            self._on_result(call.future.result())
        elif isinstance(exc, RayActorError):
            self._lose(actor, call, call_cause(exc), pending, failed)
        elif isinstance(exc, RayTaskError):
            if self._pause.storage_away(exc):
                self._attempts[call.file_id] -= 1  # the storage was away: not the file's fault
                self.requeued += 1
                pending.appendleft(call.file_id)
            else:
                self._retry_or_fail(call.file_id, call_cause(exc), pending, failed)
        else:
            raise exc

    def _lose(self, actor: _Actor, call: _Call, cause: str, pending: collections.deque,
              failed: list[FailedFile]) -> None:
        """``actor`` is gone: evict it and requeue ``call`` with every call still queued on it.
        The oldest of them was running (or about to) and spends its attempt; those behind it
        never started and get theirs back."""
        lost = sorted([call, *actor.calls], key=lambda c: c.seq)
        actor.calls.clear()
        for other in lost:
            self._in_flight.pop(other.ref, None)
        self._evict(actor, cause)
        for behind in reversed(lost[1:]):
            self._attempts[behind.file_id] -= 1
            self.requeued += 1
            pending.appendleft(behind.file_id)
        self._retry_or_fail(lost[0].file_id, cause, pending, failed)

    @property
    def paused(self) -> bool:
        return self._pause.active

    @property
    def outages(self) -> int:
        return self._pause.count

    def _release_idle(self) -> None:
        """No work is left for idle actors: free their CPUs so an autoscaler can shrink.
        (Not reported as a change in actors: the run's last files are still being written.)"""
        idle = []
        while (actor := self._take_free()) is not None and not actor.calls:
            idle.append(actor)
        if actor is not None:  # busy: stays
            self._put_back(actor)
        for actor in [*idle, *self._starting]:
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
            actor.gone = True
            try:
                ray.kill(actor.handle, no_restart=True)
            except Exception:
                pass
        self._actors.clear()
        for free in self._free:
            free.clear()
        self._starting.clear()
        self._live_n = 0
        self._want_actors(0)
