"""The run's checkpoint in Ray: opened by the driver before any file is written, then appended
to by a single writer, the checkpoint actor, that every generator result goes through.

The format and its rules (the log of segments, the head, compaction, confirmation against one
listing) are in :mod:`lakebench_ray.control.checkpoint`; here is only what Ray adds: the actor,
and its acknowledgements. Completions arrive in numbered batches; every answer of the actor
names the batches that are saved now (only batches this incarnation of the actor received: a
restarted one never vouches for what its predecessor held), so the driver keeps only the
batches not yet saved (to send again to a restarted actor), never every file of the run.
"""

from __future__ import annotations

import logging
import secrets
import sys

from ..control.checkpoint import CheckpointLog, Opened, open_for_run
from ..control.receipts import Listing
from ..errors import CheckpointMismatchError, LeaseLost, SinkError, StorageUnavailable
from ..control.lease import Fence
from ..planning import RunPlan, with_recorded_sizes
from ..sinks import Store

log = logging.getLogger(__name__)


def start(store: Store, prefix: str, plan: RunPlan, config, say, fence=None,
          listing: Listing | None = None) -> tuple[RunPlan, Opened]:
    """Open a run's checkpoint, before any file is written; returns the run's plan and the
    opened checkpoint (what it confirmed, i.e. what to skip, and where segments go).

    With ``config.resume`` the plan takes the sizes the dataset recorded (so a library that
    would measure other sizes does not turn the checkpoint into "another configuration"); then
    the checkpoint is opened (see :func:`~lakebench_ray.control.checkpoint.open_for_run`):
    recorded files outside this plan (a bigger run's) are never kept. ``listing``: the driver's
    one listing of the prefix."""
    if config.resume:
        measured, plan = plan, with_recorded_sizes(plan, config, store, prefix)
        if plan.files.rows_per_file != measured.files.rows_per_file:
            say(f"{plan.files.rows_per_file:,} rows per file as recorded in {plan.recorded_in} "
                f"(measured here: {measured.files.rows_per_file:,})")
    where = (store, prefix, plan.file_ids, plan.partition_count, plan.partition_index, plan.fingerprint,
             plan.sizing(config))
    try:
        opened = open_for_run(*where, config.resume, fence=fence, listing=listing)
    except CheckpointMismatchError as exc:
        # A Kubernetes Job cannot pass resume=false: refusing would fail every restart of the pod.
        if config.resume_mismatch != "restart":
            if config.timestamp_order == "by_file":  # the likeliest difference, and not a visible one
                exc.args = (f"{exc} (with timestamp_order=by_file each file holds 1/num_files of the dates: this "
                            f"run's {config.planned_files} files differ from a dataset started with another "
                            "num_files or scale; resume with the num_files it was started with)",)
            raise
        print(f"lakebench-ray: warning: checkpoint {exc.where} is of another configuration "
              f"(fingerprint {exc.found}, this run {plan.fingerprint}): this partition starts over, "
              "overwriting its files as they are generated again", file=sys.stderr, flush=True)
        opened = open_for_run(*where, False, fence=fence)
    if opened.confirmed is not None and opened.confirmed.dropped:
        say(opened.confirmed.message())
    return plan, opened


class CheckpointActor:
    """A thin Ray actor shell around :class:`~lakebench_ray.control.checkpoint.CheckpointLog`
    (created with ``num_cpus=0``).

    Every call answers with the actor's incarnation, a token its constructor draws (a restarted
    actor answers with a new one, and has lost what it had not saved), and the numbers of the
    batches it received that are saved since its last answer."""

    def __init__(self, store_spec: dict, folder: str, generation: str, every_files: int, every_seconds: float,
                 fence: Fence | None = None):
        from ..sinks import open_store

        self.incarnation = secrets.token_hex(4)
        store = open_store(**store_spec)
        self._log = CheckpointLog(store, folder, generation, every_files=every_files, every_seconds=every_seconds,
                                  fence=None if fence is None else (lambda: fence.confirm(store)))
        self._lost: LeaseLost | None = None
        self._waiting: list[int] = []  # batches received, not yet (completely) saved

    def _record(self, file_id, receipt) -> bool:
        try:
            return self._log.record(int(file_id), receipt)
        except LeaseLost as exc:
            self._lost = exc
            raise
        except SinkError as exc:  # a periodic save; the file is kept and the next save retries
            # An outage is reported once by the driver; other failures deserve a warning here.
            level = logging.INFO if isinstance(exc, StorageUnavailable) else logging.WARNING
            log.log(level, "checkpoint save failed, retried with the next one: %s", exc)
            return False

    def record_batch(self, batch: int, files: dict) -> tuple[str, list]:
        """Completions (file id -> receipt) of batch number ``batch``; saved every N files or T s."""
        if self._lost is not None:  # never record again once the lease is gone
            raise self._lost
        saved: list[int] = []
        for file_id, receipt in files.items():
            if self._record(file_id, receipt):  # a save: every batch received before this one is in it
                saved, self._waiting = saved + self._waiting, []
        self._waiting.append(batch)
        if self._log.unsaved == 0:
            saved, self._waiting = saved + self._waiting, []
        return self.incarnation, saved

    def record_many(self, batches: dict) -> tuple[str, list]:
        """After a restart: every batch the driver has not seen saved, then one save."""
        if self._lost is not None:
            raise self._lost
        for batch in sorted(batches):
            for file_id, receipt in batches[batch].items():
                self._log.hold(file_id, receipt)
            self._waiting.append(int(batch))
        return self.flush()[:2]

    def flush(self) -> tuple[str, list, int]:
        """Save what is pending; (incarnation, the batches saved since the last answer, receipts
        saved by this actor). A failed save raises (the driver says so)."""
        if self._lost is not None:
            raise self._lost
        try:
            self._log.flush()
        except LeaseLost as exc:
            self._lost = exc
            raise
        saved, self._waiting = self._waiting, []
        return self.incarnation, saved, self._log.saved
