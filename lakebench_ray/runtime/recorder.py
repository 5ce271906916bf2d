"""The driver's side of the checkpoint: a checkpoint actor that may be lost, and the way back.

Completions go to the actor in numbered batches; each answer names the batches the actor has
saved (of those it received itself), and the driver keeps the batches not yet saved, no more (so its memory
does not grow with the run). The actor is started with ``max_restarts``; a restarted actor has
lost what it had not saved, so when a call fails because the actor was lost, or an answer comes
from a new incarnation, the driver sends it every batch not yet saved. When the actor is gone for
good (restarts spent), the driver appends to the checkpoint itself, through the same store.
Either way the run goes on and ends with a complete checkpoint and report.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional

import ray
from ray.exceptions import RayActorError, RayError, RayTaskError

from ..control.checkpoint import CheckpointLog
from ..errors import LeaseLost

log = logging.getLogger(__name__)

#: Resends to a lost actor before the driver takes over the checkpoint.
MAX_RESYNCS = 5
#: Completions sent to the actor in one call (at the latest after BATCH_SECONDS): one Ray call
#: per file would cost the driver more than the rest of a file's handling together.
BATCH_FILES = 32
BATCH_SECONDS = 1.0


class CheckpointRecorder:
    def __init__(self, actor: Any, local: Callable[[], CheckpointLog], batch_files: int = BATCH_FILES):
        """``batch_files``: completions per call to the actor (no more than the checkpoint saves
        at a time, ``checkpoint.every_files``, so a save is never later than configured)."""
        self._actor = actor
        self._batch_files = max(1, min(batch_files, BATCH_FILES))
        self._make_local = local
        self._local: Optional[CheckpointLog] = None
        self._batches: dict[int, dict] = {}  # batch number -> files, sent and not yet saved
        self._next_batch = 0
        self._refs: list[Any] = []
        self._unsent: dict[int, dict] = {}
        self._sent_at = time.monotonic()
        self._incarnation: Optional[str] = None  # the actor's, as last heard
        self.resyncs = 0
        self.recorded = 0  # completions recorded by this run

    @property
    def actor_lost_for_good(self) -> bool:
        return self._local is not None

    @property
    def held(self) -> int:
        """Completions the driver holds (sent, not yet saved; or not yet sent)."""
        return sum(len(b) for b in self._batches.values()) + len(self._unsent)

    def record(self, file_id: int, receipt: dict | None = None) -> None:
        self.recorded += 1
        if self._local is not None:
            self._local.record(file_id, dict(receipt or {}))
            return
        self._unsent[file_id] = dict(receipt or {})
        if len(self._unsent) >= self._batch_files or time.monotonic() - self._sent_at >= BATCH_SECONDS:
            self._send()

    def _send(self) -> None:
        if self._unsent and self._local is None:
            number, self._next_batch = self._next_batch, self._next_batch + 1
            self._batches[number] = self._unsent
            self._refs.append(self._actor.record_batch.remote(number, self._unsent))
            self._unsent = {}
        self._sent_at = time.monotonic()
        self._collect(timeout=0)

    def _restarted(self, incarnation: str) -> bool:
        """Whether the actor answering with ``incarnation`` is a restarted one."""
        if self._incarnation is None:
            self._incarnation = incarnation
            return False
        return incarnation != self._incarnation

    def _saved(self, numbers) -> None:
        for number in numbers:
            self._batches.pop(number, None)

    def _collect(self, timeout: float) -> None:
        """Check finished calls: forget the batches saved; after a lost or restarted actor,
        send it every batch not yet saved."""
        if not self._refs:
            return
        done, self._refs = ray.wait(self._refs, num_returns=len(self._refs), timeout=timeout)
        lost: Optional[BaseException] = None
        saved: list[int] = []
        for ref in done:
            try:
                incarnation, numbers = ray.get(ref)
            except RayActorError as exc:
                lost = exc
            except RayTaskError as exc:  # a save failed (e.g. storage away): the next one retries
                if isinstance(getattr(exc, "cause", None), LeaseLost):
                    raise exc.cause from None  # another run holds the lease: stop, record nothing more
                log.warning("checkpoint save failed, retried with the next one: %s", str(exc).splitlines()[-1])
            else:
                if self._restarted(incarnation):
                    lost = lost or RuntimeError("restarted")
                saved += numbers
        if lost is not None:  # an answer of a new incarnation says nothing of the batches it never saw
            self._resync(lost)
        else:
            self._saved(saved)

    def _resync(self, cause: BaseException) -> None:
        self.resyncs += 1
        if self.resyncs > MAX_RESYNCS:
            self._take_over(cause)
            return
        if self._unsent:
            number, self._next_batch = self._next_batch, self._next_batch + 1
            self._batches[number], self._unsent = self._unsent, {}
        log.warning("the checkpoint actor was lost (%s): sending it the %d files of this run not yet saved",
                    type(cause).__name__, self.held)
        self._incarnation = None  # the next answer comes from the actor now running
        self._refs = [self._actor.record_many.remote(dict(self._batches))]

    def _take_over(self, cause: BaseException) -> None:
        log.warning("the checkpoint actor is gone (%s): the driver keeps the checkpoint from now on", type(cause).__name__)
        self._refs = []
        self._local = self._make_local()
        for number in sorted(self._batches):
            for file_id, receipt in self._batches[number].items():
                self._local.hold(file_id, receipt)
        for file_id, receipt in self._unsent.items():
            self._local.hold(file_id, receipt)
        self._batches, self._unsent = {}, {}

    def flush(self, timeout: float = 60.0) -> int:
        """Everything recorded so far, persisted; returns how many completions this run
        recorded. Raises the store's error (a :class:`~lakebench_ray.errors.SinkError`) when the
        save itself fails."""
        for _ in range(MAX_RESYNCS + 2):
            if self._local is not None:
                self._local.flush()
                return self.recorded
            self._send()
            self._collect(timeout=timeout)
            try:
                incarnation, numbers, _ = ray.get(self._actor.flush.remote(), timeout=timeout)
            except RayActorError as exc:
                self._resync(exc)
                continue
            except RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                raise cause from None
            except RayError as exc:  # e.g. GetTimeoutError: the actor does not answer
                self._take_over(exc)
                continue
            if self._restarted(incarnation):  # it restarted since the last answer: what it saved lacks this run
                self._resync(RuntimeError("restarted"))
                continue
            self._saved(numbers)
            if not self._refs and not self._batches:
                return self.recorded
        self._take_over(RuntimeError("checkpoint actor does not settle"))
        self._local.flush()
        return self.recorded
