"""Completed files and what they were when written, persisted in the control directory so that a
new cluster can resume a run, and check what it finds before trusting it.

:class:`Checkpoint` holds the logic over a :class:`~lakebench_ray.sinks.Store`; the Ray actor
around it (:class:`CheckpointActor`) only makes it a single writer that every driver retry and
every generator result goes through.

Per completed file the checkpoint keeps its receipt: size, CRC32 of its bytes (computed while
they streamed out) and the store's version tag (S3 ETag; local mtime and inode). A resume lists
the prefix once and keeps only the files whose size and tag still match (:func:`confirm`); the
rest is generated again. A run writes its checkpoint (config fingerprint, and what it confirmed)
*before* it writes any file, so files of one configuration are never recorded under another's.

The checkpoint also records the run's sizes (rows per file and per row group, measured with the
pyarrow of the run that started the dataset, see :meth:`~lakebench_ray.planning.RunPlan.sizing`):
a resumed run takes them from here rather than measuring them again (:func:`start`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import sys
import time

from .. import layout
from ..errors import CheckpointMismatchError, LeaseLost, SinkError, StorageUnavailable
from ..lease import Fence
from ..planning import RunPlan, with_recorded_sizes
from ..sinks import Store
from ..sinks.base import ObjectStat

#: 2: per-file receipts under ``files``; 1 (ids only) still loads, its files count as unrecorded.
CHECKPOINT_FORMAT = 2

# Kept for callers of the old names; the layout module is the one home of these locations.
checkpoint_key = layout.checkpoint_key
metadata_dir = layout.control_dir


def _receipt_ok(receipt: dict) -> bool:
    return isinstance(receipt, dict) and {"size", "crc32", "tag"} <= set(receipt)


def load_document(store: Store, key: str) -> dict | None:
    """The checkpoint document at ``key`` (None when absent); unreadable ones are refused."""
    raw = store.get_bytes(key)
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        doc["fingerprint"]
        {int(i) for i in doc["completed"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise SinkError(
            f"checkpoint {store.describe(key)} is unreadable ({exc}): delete it or run with resume=false"
        ) from None
    return doc


def recorded_files(doc: dict) -> dict[int, dict]:
    """file id -> receipt ({} when the checkpoint predates receipts)."""
    files = doc.get("files") or {}
    return {int(i): dict(files.get(str(i)) or {}) for i in doc["completed"]}


def confirm(recorded: dict[int, dict], listing: dict[str, ObjectStat], prefix: str) -> tuple[dict[int, dict], dict[int, str]]:
    """Split recorded files into those still there as written (same size and version tag) and
    the rest, with the reason each one is not trusted."""
    kept: dict[int, dict] = {}
    dropped: dict[int, str] = {}
    for file_id, receipt in sorted(recorded.items()):
        stat = listing.get(layout.file_key(prefix, file_id))
        if stat is None:
            dropped[file_id] = "missing"
        elif not _receipt_ok(receipt):
            dropped[file_id] = "no digest recorded"
        elif stat.size != receipt["size"]:
            dropped[file_id] = f"size {stat.size}, recorded {receipt['size']}"
        elif stat.tag != receipt["tag"]:
            dropped[file_id] = "changed since it was written"
        else:
            kept[file_id] = receipt
    return kept, dropped


class Checkpoint:
    """The completed files of one configuration, flushed in batches with atomic PUTs."""

    def __init__(self, store: Store, key: str, fingerprint: str, *, every_files: int = 16, every_seconds: float = 10.0,
                 sizing: dict | None = None, fence=None):
        """``fence``: called right before each save; raises :class:`~lakebench_ray.errors.LeaseLost`
        when the run no longer holds its lease, so a run that lost it never records a file."""
        self.store = store
        self.fence = fence
        self.key = key
        self.fingerprint = fingerprint
        self.sizing = sizing
        self.every_files = every_files
        self.every_seconds = every_seconds
        self.files: dict[int, dict] = {}
        self._unsaved = 0
        self._last_flush = time.monotonic()

    def load(self, resume: bool) -> dict[int, dict]:
        """With ``resume``, the files (id -> receipt) a previous run of the same configuration
        completed, as it recorded them (still to be confirmed against the store).

        A checkpoint of another configuration is refused rather than mixed; without ``resume`` a
        run starts from nothing (and its first flush, before any file, replaces the old one).
        """
        if not resume:
            self.files = {}
            return {}
        doc = load_document(self.store, self.key)
        if doc is None:
            self.files = {}
            return {}
        found = doc["fingerprint"]
        if found != self.fingerprint:
            raise CheckpointMismatchError(
                f"checkpoint {self.store.describe(self.key)} was written by another configuration "
                f"(fingerprint {found}, this run {self.fingerprint}): use the same settings to resume, "
                "or set resume=false (or another output) to start over"
            )
        self.files = recorded_files(doc)
        return dict(self.files)

    def record(self, file_id: int, receipt: dict | None = None) -> None:
        """Note a file that is completely written; flushes every N files or T seconds."""
        self.files[file_id] = dict(receipt or {})
        self._unsaved += 1
        if self._unsaved >= self.every_files or (
            self._unsaved and time.monotonic() - self._last_flush >= self.every_seconds
        ):
            self.flush()

    def flush(self) -> None:
        ids = sorted(self.files)
        doc = {
            "format": CHECKPOINT_FORMAT,
            "fingerprint": self.fingerprint,
            "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "count": len(ids),
            "completed": ids,
            "files": {str(i): self.files[i] for i in ids},
        }
        if self.sizing is not None:
            doc["plan"] = self.sizing
        if self.fence is not None:
            self.fence()
        self.store.put_bytes(self.key, json.dumps(doc, separators=(",", ":")).encode())
        self._unsaved = 0
        self._last_flush = time.monotonic()


def start(store: Store, prefix: str, key: str, plan: RunPlan, config, say, fence=None,
          listing: dict[str, ObjectStat] | None = None) -> tuple[RunPlan, dict[int, dict]]:
    """Start a run's checkpoint, before any file is written; returns the run's plan and the
    files to skip.

    With ``config.resume`` the plan takes the sizes the dataset recorded (so a library that
    would measure other sizes does not turn the checkpoint into "another configuration"); then
    the checkpoint is loaded (refusing another configuration's), only the recorded files still
    there as written are kept (one listing: size and version tag), and that is saved with this
    run's fingerprint and sizes. Recorded files outside this plan (a bigger run's) are not this
    run's: never kept nor recorded again. ``listing``: the driver's one listing of the prefix."""
    if config.resume:
        measured, plan = plan, with_recorded_sizes(plan, config, store, prefix)
        if plan.files.rows_per_file != measured.files.rows_per_file:
            say(f"{plan.files.rows_per_file:,} rows per file as recorded in {plan.recorded_in} "
                f"(measured here: {measured.files.rows_per_file:,})")
    checkpoint = Checkpoint(store, key, plan.fingerprint, sizing=plan.sizing(config), fence=fence)
    planned = set(plan.file_ids)
    try:
        recorded = {i: r for i, r in checkpoint.load(config.resume).items() if i in planned}
    except CheckpointMismatchError:
        # A Kubernetes Job cannot pass resume=false: refusing would fail every restart of the pod.
        if config.resume_mismatch != "restart":
            raise
        found = (load_document(store, key) or {}).get("fingerprint")
        print(f"lakebench-ray: warning: checkpoint {store.describe(key)} is of another configuration "
              f"(fingerprint {found}, this run {plan.fingerprint}): this partition starts over, "
              "overwriting its files as they are generated again", file=sys.stderr, flush=True)
        recorded = {}
    if recorded and listing is None:
        listing = store.stat_all(prefix)
    kept, dropped = confirm(recorded, listing, prefix) if recorded else ({}, {})
    if dropped:
        shown = ", ".join(f"{layout.file_name(i)} ({why})" for i, why in list(dropped.items())[:5])
        more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
        say(f"{len(dropped)} of {len(recorded)} recorded files are not as written and will be generated again: {shown}{more}")
    checkpoint.files = dict(kept)
    checkpoint.flush()
    return plan, kept


class CheckpointActor:
    """A thin Ray actor shell around :class:`Checkpoint` (created with ``num_cpus=0``).

    Every call answers with the actor's incarnation, a token its constructor draws: a restarted
    actor (its constructor ran again and knows only the files done before this run) answers
    with a new one, so the driver knows to send it this run's files again, even when no call
    of its failed."""

    def __init__(self, store_spec: dict, key: str, fingerprint: str, every_files: int, every_seconds: float,
                 files: dict, sizing: dict | None = None, fence: Fence | None = None):
        from ..sinks import open_store

        self.incarnation = secrets.token_hex(4)
        store = open_store(**store_spec)
        self._checkpoint = Checkpoint(
            store, key, fingerprint, every_files=every_files, every_seconds=every_seconds,
            sizing=sizing, fence=None if fence is None else (lambda: fence.confirm(store)),
        )
        self._lost: LeaseLost | None = None
        # The driver loaded, confirmed and saved the previous checkpoint; this actor continues it.
        self._checkpoint.files = {int(i): dict(r) for i, r in files.items()}

    def record_batch(self, files: dict) -> str:
        """Completions (file id -> receipt), in batches; saved every N files or T seconds."""
        if self._lost is not None:  # never record again once the lease is gone
            raise self._lost
        for file_id, receipt in files.items():
            try:
                self._checkpoint.record(int(file_id), receipt)
            except LeaseLost as exc:
                self._lost = exc
                raise
            except SinkError as exc:  # a periodic save; the file is kept and the next save retries
                # An outage is reported once by the driver; other failures deserve a warning here.
                level = logging.INFO if isinstance(exc, StorageUnavailable) else logging.WARNING
                logging.getLogger(__name__).log(level, "checkpoint save failed, retried with the next one: %s", exc)
        return self.incarnation

    def record_many(self, files: dict) -> str:
        """After a restart: everything this run completed (file id -> receipt), without a save."""
        self._checkpoint.files.update({int(i): dict(r) for i, r in files.items()})
        return self.incarnation

    def flush(self) -> tuple[str, int]:
        if self._lost is not None:
            raise self._lost
        self._checkpoint.flush()
        return self.incarnation, len(self._checkpoint.files)
