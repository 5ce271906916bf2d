"""The driver's side of the checkpoint: a checkpoint actor that may be lost, and the way back.

The checkpoint actor is started with ``max_restarts``; a restarted actor runs its constructor
again, so it knows only the files done before this run. The driver knows every file this run
completed, so when a call fails because the actor was lost, it sends them all again. When the
actor is gone for good (restarts spent), the driver keeps the checkpoint itself through the same
store. Either way the run goes on and ends with a complete checkpoint and report.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import ray
from ray.exceptions import RayActorError, RayError, RayTaskError

from .checkpoint import Checkpoint

log = logging.getLogger(__name__)

#: Resends to a lost actor before the driver takes over the checkpoint.
MAX_RESYNCS = 5


class CheckpointRecorder:
    def __init__(self, actor: Any, local: Callable[[], Checkpoint]):
        self._actor = actor
        self._make_local = local
        self._local: Optional[Checkpoint] = None
        self._known: dict[int, dict] = {}  # file id -> receipt, of this run
        self._refs: list[Any] = []
        self.resyncs = 0

    @property
    def actor_lost_for_good(self) -> bool:
        return self._local is not None

    def record(self, file_id: int, receipt: dict | None = None) -> None:
        self._known[file_id] = dict(receipt or {})
        if self._local is not None:
            self._local.record(file_id, receipt)
            return
        self._refs.append(self._actor.record.remote(file_id, receipt))
        self._collect(timeout=0)

    def _collect(self, timeout: float) -> None:
        """Check finished calls; resend everything after a lost actor."""
        if not self._refs:
            return
        done, self._refs = ray.wait(self._refs, num_returns=len(self._refs), timeout=timeout)
        lost = None
        for ref in done:
            try:
                ray.get(ref)
            except RayActorError as exc:
                lost = exc
            except RayTaskError as exc:  # a periodic save failed (e.g. storage away): the next one retries
                log.warning("checkpoint save failed, retried with the next one: %s", str(exc).splitlines()[-1])
        if lost is not None:
            self._resync(lost)

    def _resync(self, cause: BaseException) -> None:
        self.resyncs += 1
        if self.resyncs > MAX_RESYNCS:
            self._take_over(cause)
            return
        log.warning("the checkpoint actor was lost (%s): sending it the %d files of this run again",
                    type(cause).__name__, len(self._known))
        self._refs = [self._actor.record_many.remote(dict(self._known))]

    def _take_over(self, cause: BaseException) -> None:
        log.warning("the checkpoint actor is gone (%s): the driver keeps the checkpoint from now on", type(cause).__name__)
        self._refs = []
        self._local = self._make_local()
        self._local.files.update(self._known)

    def flush(self, timeout: float = 60.0) -> int:
        """Everything recorded so far, persisted; returns the checkpoint's count. Raises the
        store's error (a :class:`~lakebench_ray.errors.SinkError`) when the save itself fails."""
        for _ in range(MAX_RESYNCS + 2):
            if self._local is not None:
                self._local.flush()
                return len(self._local.completed)
            self._collect(timeout=timeout)
            try:
                return ray.get(self._actor.flush.remote(), timeout=timeout)
            except RayActorError as exc:
                self._resync(exc)
            except RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                raise cause from None
            except RayError as exc:  # e.g. GetTimeoutError: the actor does not answer
                self._take_over(exc)
        self._take_over(RuntimeError("checkpoint actor does not settle"))
        self._local.flush()
        return len(self._local.completed)
