"""Completed file ids, persisted beside the data so that a new cluster can resume a run.

:class:`Checkpoint` holds the logic over a :class:`~lakebench_ray.sinks.Store`; the Ray actor
around it (:class:`CheckpointActor`) only makes it a single writer that every driver retry and
every generator result goes through.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

from ..errors import CheckpointMismatchError, SinkError, StorageUnavailable
from ..sinks import Store

CHECKPOINT_FORMAT = 1


def metadata_dir(prefix: str) -> str:
    """Hidden folder beside the data (Spark and Trino skip ``_``-prefixed paths)."""
    prefix = prefix.strip("/")
    return f"{prefix}/_lakebench" if prefix else "_lakebench"


def checkpoint_key(prefix: str, partition_count: int = 1, partition_index: int = 0) -> str:
    name = "checkpoint.json" if partition_count == 1 else f"checkpoint-{partition_index:04d}-of-{partition_count:04d}.json"
    return f"{metadata_dir(prefix)}/{name}"


class Checkpoint:
    """The set of completed file ids of one configuration, flushed in batches with atomic PUTs."""

    def __init__(self, store: Store, key: str, fingerprint: str, *, every_files: int = 16, every_seconds: float = 10.0):
        self.store = store
        self.key = key
        self.fingerprint = fingerprint
        self.every_files = every_files
        self.every_seconds = every_seconds
        self.completed: set[int] = set()
        self._unsaved = 0
        self._last_flush = time.monotonic()

    def load(self, resume: bool) -> set[int]:
        """With ``resume``, the ids a previous run of the same configuration completed.

        A checkpoint of another configuration is refused rather than mixed; without ``resume`` a
        run starts from nothing (and its first flush replaces the old checkpoint).
        """
        if not resume:
            self.completed = set()
            return set()
        raw = self.store.get_bytes(self.key)
        if raw is None:
            self.completed = set()
            return set()
        try:
            doc = json.loads(raw)
            found = doc["fingerprint"]
            ids = {int(i) for i in doc["completed"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise SinkError(
                f"checkpoint {self.store.describe(self.key)} is unreadable ({exc}): delete it or run with resume=false"
            ) from None
        if found != self.fingerprint:
            raise CheckpointMismatchError(
                f"checkpoint {self.store.describe(self.key)} was written by another configuration "
                f"(fingerprint {found}, this run {self.fingerprint}): use the same settings to resume, "
                "or set resume=false (or another output) to start over"
            )
        self.completed = ids
        return set(ids)

    def record(self, file_id: int) -> None:
        """Note a file that is completely written; flushes every N files or T seconds."""
        if file_id not in self.completed:
            self.completed.add(file_id)
            self._unsaved += 1
        if self._unsaved >= self.every_files or (
            self._unsaved and time.monotonic() - self._last_flush >= self.every_seconds
        ):
            self.flush()

    def flush(self) -> None:
        doc = {
            "format": CHECKPOINT_FORMAT,
            "fingerprint": self.fingerprint,
            "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "count": len(self.completed),
            "completed": sorted(self.completed),
        }
        self.store.put_bytes(self.key, json.dumps(doc, separators=(",", ":")).encode())
        self._unsaved = 0
        self._last_flush = time.monotonic()


class CheckpointActor:
    """A thin Ray actor shell around :class:`Checkpoint` (created with ``num_cpus=0``)."""

    def __init__(self, store_spec: dict, key: str, fingerprint: str, every_files: int, every_seconds: float,
                 completed: list[int]):
        from ..sinks import open_store

        self._checkpoint = Checkpoint(
            open_store(**store_spec), key, fingerprint, every_files=every_files, every_seconds=every_seconds
        )
        # The driver loaded (and checked) the previous checkpoint; this actor continues it.
        self._checkpoint.completed = set(completed)

    def record(self, file_id: int) -> None:
        try:
            self._checkpoint.record(file_id)
        except SinkError as exc:  # a periodic save; the id is kept and the next save retries
            # An outage is reported once by the driver; other failures deserve a warning here.
            level = logging.INFO if isinstance(exc, StorageUnavailable) else logging.WARNING
            logging.getLogger(__name__).log(level, "checkpoint save failed, retried with the next one: %s", exc)

    def record_many(self, file_ids: list[int]) -> int:
        """After a restart (the constructor ran again): the driver sends what this run completed."""
        self._checkpoint.completed.update(file_ids)
        return len(self._checkpoint.completed)

    def flush(self) -> int:
        self._checkpoint.flush()
        return len(self._checkpoint.completed)

    def completed(self) -> list[int]:
        return sorted(self._checkpoint.completed)
