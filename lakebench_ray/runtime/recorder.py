"""The driver's side of the checkpoint: a checkpoint actor that may be lost, and the way back.

The checkpoint actor is started with ``max_restarts``; a restarted actor runs its constructor
again, so it knows only the files done before this run. The driver knows every file this run
completed, so when a call fails because the actor was lost, it sends them all again. When the
actor is gone for good (restarts spent), the driver keeps the checkpoint itself through the same
store. Either way the run goes on and ends with a complete checkpoint and report.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional

import ray
from ray.exceptions import RayActorError, RayError, RayTaskError

from ..errors import LeaseLost
from .checkpoint import Checkpoint

log = logging.getLogger(__name__)

#: Resends to a lost actor before the driver takes over the checkpoint.
MAX_RESYNCS = 5
#: Completions sent to the actor in one call (at the latest after BATCH_SECONDS): one Ray call
#: per file would cost the driver more than the rest of a file's handling together.
BATCH_FILES = 32
BATCH_SECONDS = 1.0


class CheckpointRecorder:
    def __init__(self, actor: Any, local: Callable[[], Checkpoint], batch_files: int = BATCH_FILES):
        """``batch_files``: completions per call to the actor (no more than the checkpoint saves
        at a time, ``checkpoint.every_files``, so a save is never later than configured)."""
        self._actor = actor
        self._batch_files = max(1, min(batch_files, BATCH_FILES))
        self._make_local = local
        self._local: Optional[Checkpoint] = None
        self._known: dict[int, dict] = {}  # file id -> receipt, of this run
        self._refs: list[Any] = []
        self._unsent: dict[int, dict] = {}
        self._sent_at = time.monotonic()
        self._incarnation: Optional[str] = None  # the actor's, as last heard
        self.resyncs = 0

    @property
    def actor_lost_for_good(self) -> bool:
        return self._local is not None

    def record(self, file_id: int, receipt: dict | None = None) -> None:
        self._known[file_id] = dict(receipt or {})
        if self._local is not None:
            self._local.record(file_id, receipt)
            return
        self._unsent[file_id] = self._known[file_id]
        if len(self._unsent) >= self._batch_files or time.monotonic() - self._sent_at >= BATCH_SECONDS:
            self._send()

    def _send(self) -> None:
        if self._unsent and self._local is None:
            self._refs.append(self._actor.record_batch.remote(self._unsent))
            self._unsent = {}
        self._sent_at = time.monotonic()
        self._collect(timeout=0)

    def _restarted(self, incarnation: str) -> bool:
        """Whether the actor answering with ``incarnation`` is a restarted one."""
        if self._incarnation is None:
            self._incarnation = incarnation
            return False
        return incarnation != self._incarnation

    def _collect(self, timeout: float) -> None:
        """Check finished calls; resend everything after a lost or restarted actor."""
        if not self._refs:
            return
        done, self._refs = ray.wait(self._refs, num_returns=len(self._refs), timeout=timeout)
        lost: Optional[BaseException] = None
        for ref in done:
            try:
                incarnation = ray.get(ref)
            except RayActorError as exc:
                lost = exc
            except RayTaskError as exc:  # a periodic save failed (e.g. storage away): the next one retries
                if isinstance(getattr(exc, "cause", None), LeaseLost):
                    raise exc.cause from None  # another run holds the lease: stop, record nothing more
                log.warning("checkpoint save failed, retried with the next one: %s", str(exc).splitlines()[-1])
            else:
                if self._restarted(incarnation):
                    lost = lost or RuntimeError("restarted")
        if lost is not None:
            self._resync(lost)

    def _resync(self, cause: BaseException) -> None:
        self.resyncs += 1
        if self.resyncs > MAX_RESYNCS:
            self._take_over(cause)
            return
        log.warning("the checkpoint actor was lost (%s): sending it the %d files of this run again",
                    type(cause).__name__, len(self._known))
        self._unsent = {}
        self._incarnation = None  # the next answer comes from the actor now running
        self._refs = [self._actor.record_many.remote(dict(self._known))]

    def _take_over(self, cause: BaseException) -> None:
        log.warning("the checkpoint actor is gone (%s): the driver keeps the checkpoint from now on", type(cause).__name__)
        self._refs = []
        self._unsent = {}
        self._local = self._make_local()
        self._local.files.update(self._known)

    def flush(self, timeout: float = 60.0) -> int:
        """Everything recorded so far, persisted; returns the checkpoint's count. Raises the
        store's error (a :class:`~lakebench_ray.errors.SinkError`) when the save itself fails."""
        for _ in range(MAX_RESYNCS + 2):
            if self._local is not None:
                self._local.flush()
                return len(self._local.files)
            self._send()
            self._collect(timeout=timeout)
            try:
                incarnation, count = ray.get(self._actor.flush.remote(), timeout=timeout)
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
            if not self._refs:
                return count
        self._take_over(RuntimeError("checkpoint actor does not settle"))
        self._local.flush()
        return len(self._local.files)
