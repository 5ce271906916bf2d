"""The checkpoint: which files a run completed and what they were when written, kept as an
append-only log beside the data so that recording a file costs the same at the 20th file as at
the 2,000,000th.

A partition's checkpoint is a folder in the control directory (:func:`layout.checkpoint_dir`)::

    checkpoint/head.json                      fingerprint, sizes, generation (small, rewritten by a start)
    checkpoint/g-<generation>/<writer>-<first>-<last>.jsonl   segments: one receipt a line

* A **segment** is immutable: one flush of one writer (``[file id, size, crc32, tag]`` lines),
  written with one atomic PUT and never changed. A writer is named by its start time and a random
  token, so listing returns each writer's segments in the order it wrote them.
* A writer **compacts** its own small segments: once it holds ``COMPACT_SEGMENTS`` of them (or
  ``COMPACT_RECEIPTS`` receipts), it writes them again as one segment and then deletes them. Every
  receipt is written at most twice, so the bytes and CPU per file are the same at any size, and a
  resume reads about one object per ``COMPACT_RECEIPTS`` files.
* The **head** names the configuration (fingerprint), the sizes it was made with and the
  *generation* whose segments count. A resume of the same configuration keeps the generation;
  a run that starts over draws a new one (old segments are deleted afterwards, and ignored if
  they are not). Segments of any other generation are never read.

Failure cases, and why they are harmless:

* a segment written twice (a PUT retried after a timeout, a batch sent again to a restarted
  writer): its receipts are recorded twice; every receipt is a fact about one version of a file,
  so duplicates change nothing (:class:`~.receipts.ReceiptTable`);
* a compaction interrupted: the merged segment is written before its inputs are deleted, so the
  receipts are there once or twice, never lost;
* two writers (a run that lost its lease and still writes, or a restarted checkpoint actor):
  writer names never collide; a writer of a generation that is no longer the head's is ignored;
  one of the same configuration only adds true receipts, and a resume trusts a file only when a
  receipt matches the size and version tag of one listing of the data prefix.

The single-document checkpoint of earlier releases (``checkpoint.json``) is still read: a resume
over it takes its receipts (format 2; format 1 ids only, which count as unrecorded), writes the
confirmed ones as the first segment of a new generation and removes the old document.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import secrets
import time
from typing import Callable, Iterable, Optional

from .. import layout
from ..errors import CheckpointMismatchError, SinkError
from ..sinks import Store
from .receipts import Confirmed, Listing, ReceiptTable

log = logging.getLogger(__name__)

#: 3: the log (head and segments); 2: one document with receipts; 1: one document with ids only.
CHECKPOINT_FORMAT = 3
#: A writer merges its small segments once it holds this many, or this many receipts.
COMPACT_SEGMENTS = 64
COMPACT_RECEIPTS = 1024


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_token() -> str:
    """A generation or writer name: its start time first, so names sort in the order they began."""
    return f"{int(time.time()):010x}{secrets.token_hex(4)}"


@dataclasses.dataclass(frozen=True)
class Head:
    """The small object a checkpoint starts with: what configuration its segments belong to."""

    fingerprint: str
    generation: str
    plan: Optional[dict] = None  # the sizes the run measured (RunPlan.sizing)

    def to_bytes(self) -> bytes:
        doc = {"format": CHECKPOINT_FORMAT, "fingerprint": self.fingerprint, "generation": self.generation,
               "updated_at": _now()}
        if self.plan is not None:
            doc["plan"] = self.plan
        return json.dumps(doc, separators=(",", ":")).encode()


def _unreadable(store: Store, key: str, exc) -> SinkError:
    return SinkError(f"checkpoint {store.describe(key)} is unreadable ({exc}): delete it or run with resume=false")


def parse_head(store: Store, key: str, raw: bytes) -> Head:
    try:
        doc = json.loads(raw)
        return Head(str(doc["fingerprint"]), str(doc["generation"]), doc.get("plan"))
    except (ValueError, KeyError, TypeError) as exc:
        raise _unreadable(store, key, exc) from None


def parse_legacy(store: Store, key: str, raw: bytes) -> dict:
    """A single-document checkpoint of an earlier release (the one rule for its validity)."""
    try:
        doc = json.loads(raw)
        str(doc["fingerprint"])
        {int(i) for i in doc["completed"]}
        if not isinstance(doc.get("files") or {}, dict):
            raise TypeError("files is not a mapping")
    except (ValueError, KeyError, TypeError) as exc:
        raise _unreadable(store, key, exc) from None
    return doc


def legacy_receipts(doc: dict, table: Optional[ReceiptTable] = None) -> ReceiptTable:
    table = table if table is not None else ReceiptTable()
    files = doc.get("files") or {}
    for i in doc["completed"]:
        table.add_receipt(int(i), files.get(str(i)))
    return table


def encode(receipts: Iterable[tuple[int, dict]]) -> bytes:
    """Segment lines: ``[file id, size, crc32, tag]``."""
    return b"".join(
        json.dumps([int(i), int(r["size"]), str(r["crc32"]), str(r["tag"])], separators=(",", ":")).encode() + b"\n"
        for i, r in receipts
    )


def decode(store: Store, key: str, raw: bytes) -> list:
    """A segment's rows (one JSON parse for the whole segment)."""
    body = raw.strip()
    if not body:
        return []
    try:
        rows = json.loads(b"[" + body.replace(b"\n", b",") + b"]")
        for row in rows:
            if len(row) != 4:
                raise ValueError(f"a line holds {len(row)} values, not 4")
        return rows
    except (ValueError, TypeError) as exc:
        raise _unreadable(store, key, exc) from None


def read_segments(store: Store, keys: Iterable[str], table: Optional[ReceiptTable] = None) -> ReceiptTable:
    """The receipts of the segments ``keys`` (read one at a time: memory holds one segment's
    bytes besides the table). A segment deleted meanwhile (compacted by a live writer) is
    skipped: its receipts are in the merged segment, which a listing taken after it shows."""
    table = table if table is not None else ReceiptTable()
    for key in keys:
        raw = store.get_bytes(key)
        if raw is not None:
            table.add_rows(decode(store, key, raw))
    return table


def segment_keys(store: Store, folder: str, generation: str) -> list[str]:
    """The segments of one generation, in listing order (a key per ~1,000 files at most)."""
    where = layout.generation_dir(folder, generation)
    return [key for key, _ in store.iter_stats(where)
            if key.startswith(where + "/") and key.endswith(layout.SEGMENT_SUFFIX)]


@dataclasses.dataclass
class Recorded:
    """What a checkpoint holds: its head (None for a legacy document, see ``legacy``) and receipts."""

    fingerprint: str
    plan: Optional[dict]
    generation: Optional[str]
    receipts: ReceiptTable
    legacy: Optional[dict] = None  # the whole legacy document (small by construction)


def load(store: Store, folder: str, legacy_key: str) -> Optional[Recorded]:
    """The checkpoint at ``folder`` (or, with no head there, the legacy document at
    ``legacy_key``); None when neither exists. Unreadable ones are refused in one line."""
    head_key = layout.checkpoint_head_key(folder)
    raw = store.get_bytes(head_key)
    if raw is not None:
        head = parse_head(store, head_key, raw)
        table = read_segments(store, segment_keys(store, folder, head.generation))
        return Recorded(head.fingerprint, head.plan, head.generation, table)
    raw = store.get_bytes(legacy_key)
    if raw is None:
        return None
    doc = parse_legacy(store, legacy_key, raw)
    return Recorded(str(doc["fingerprint"]), doc.get("plan"), None, legacy_receipts(doc), legacy=doc)


def refuse_other(store: Store, where: str, found: str, fingerprint: str) -> CheckpointMismatchError:
    error = CheckpointMismatchError(
        f"checkpoint {store.describe(where)} was written by another configuration "
        f"(fingerprint {found}, this run {fingerprint}): use the same settings to resume, "
        "or set resume=false (or another output) to start over"
    )
    error.where, error.found = store.describe(where), found  # for a caller that starts over instead
    return error


@dataclasses.dataclass(frozen=True)
class Opened:
    """A checkpoint ready for this run: where its segments go, and what a resume may skip."""

    folder: str
    generation: str
    confirmed: Optional[Confirmed]  # None: nothing recorded before (or resume=false)


def open_for_run(store: Store, prefix: str, planned: range, count: int, index: int, fingerprint: str,
                 plan: Optional[dict], resume: bool, fence: Optional[Callable[[], object]] = None,
                 listing: Optional[Listing] = None) -> Opened:
    """Open a partition's checkpoint for a run, before any file is written.

    With ``resume``: a checkpoint of another configuration is refused; the recorded files of
    the ``planned`` ids are confirmed against one listing of the data prefix (``listing`` when the
    caller took it already); the head is written again (same
    generation). Without (or with nothing recorded): a new generation whose head names this
    run's configuration, written before any file; the old segments are then deleted.
    ``fence`` is called right before anything is written (it raises when the run no longer
    holds its lease)."""
    folder = layout.checkpoint_dir(prefix, count, index)
    legacy_key = layout.checkpoint_key(prefix, count, index)
    recorded = load(store, folder, legacy_key) if resume else None
    if recorded is not None and recorded.fingerprint != fingerprint:
        where = legacy_key if recorded.generation is None else layout.checkpoint_head_key(folder)
        raise refuse_other(store, where, recorded.fingerprint, fingerprint)
    if recorded is not None and listing is None:
        listing = Listing(store.iter_stats(layout.data_prefix(prefix)), prefix)
    confirmed = recorded.receipts.confirm(listing, planned) if recorded else None
    if fence is not None:
        fence()
    if recorded is not None and recorded.generation is not None and recorded.receipts.beyond(planned):
        # A resume never keeps nor records files past its plan: the kept receipts alone go on, in
        # a new generation (copied segment by segment: memory holds one segment).
        generation = new_token()
        _copy_kept(store, folder, recorded.generation, generation, confirmed.kept)
        store.put_bytes(layout.checkpoint_head_key(folder), Head(fingerprint, generation, plan).to_bytes())
        _remove_other_generations(store, folder, generation)
        return Opened(folder, generation, confirmed)
    if recorded is not None and recorded.generation is not None:
        store.put_bytes(layout.checkpoint_head_key(folder), Head(fingerprint, recorded.generation, plan).to_bytes())
        store.delete(legacy_key)  # a conversion that stopped after its head was written
        return Opened(folder, recorded.generation, confirmed)
    # A new generation: a fresh start, or the conversion of a legacy document (its confirmed
    # receipts become the generation's first segment, written before the head names it).
    generation = new_token()
    head_key = layout.checkpoint_head_key(folder)
    if recorded is not None and len(confirmed.kept):
        files = recorded.legacy.get("files") or {}
        kept = ((i, files[str(i)]) for i in confirmed.kept.tolist())
        store.put_bytes(layout.segment_key(folder, generation, new_token(), 0, 0), encode(kept))
    store.put_bytes(head_key, Head(fingerprint, generation, plan).to_bytes())
    _remove_other_generations(store, folder, generation)
    store.delete(legacy_key)
    return Opened(folder, generation, confirmed)


def _copy_kept(store: Store, folder: str, old: str, new: str, kept) -> None:
    """The receipts of the ``kept`` ids, from the segments of generation ``old`` into ``new``."""
    import numpy as np

    writer = new_token()
    for seq, key in enumerate(segment_keys(store, folder, old)):
        raw = store.get_bytes(key)
        rows = decode(store, key, raw) if raw is not None else []
        ids = np.array([row[0] for row in rows], dtype=np.int64)
        keep = np.isin(ids, kept) if len(ids) else ids.astype(bool)
        chosen = [(int(r[0]), {"size": r[1], "crc32": r[2], "tag": r[3]}) for r, k in zip(rows, keep) if k]
        if chosen:
            store.put_bytes(layout.segment_key(folder, new, writer, seq, seq), encode(chosen))


def _remove_other_generations(store: Store, folder: str, generation: str) -> None:
    """Best effort: segments of generations the head no longer names are never read anyway."""
    keep = layout.generation_dir(folder, generation) + "/"
    try:
        stale = [key for key, _ in store.iter_stats(folder)
                 if key.startswith(folder + "/") and key.endswith(layout.SEGMENT_SUFFIX) and not key.startswith(keep)]
        for key in stale:
            store.delete(key)
    except SinkError as exc:
        log.info("old checkpoint segments left in %s (never read again): %s", store.describe(folder), exc)


class CheckpointLog:
    """One writer of a checkpoint: receipts in, segments out (every N files or T seconds), its
    own small segments compacted as it goes. Holds no more than one compaction's receipts."""

    def __init__(self, store: Store, folder: str, generation: str, *, every_files: int = 16,
                 every_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 fence: Optional[Callable[[], object]] = None):
        """``fence``: called right before each save; raises :class:`~lakebench_ray.errors.LeaseLost`
        when the run no longer holds its lease, so a run that lost it never records a file."""
        self.store = store
        self.fence = fence
        self.folder, self.generation = folder, generation
        self.every_files, self.every_seconds = every_files, every_seconds
        self.writer = new_token()
        self._clock = clock
        self._pending: list[tuple[int, dict]] = []
        self._last_flush = clock()
        self._seq = 0  # the next flush's number
        self._small: list[tuple[str, int, bytes]] = []  # this writer's uncompacted segments: key, seq, lines
        self.saved = 0  # receipts saved by this writer
        self.bytes_written = 0

    @property
    def unsaved(self) -> int:
        return len(self._pending)

    def hold(self, file_id: int, receipt: dict) -> None:
        """Note a completed file for the next save, without saving."""
        self._pending.append((int(file_id), dict(receipt)))

    def record(self, file_id: int, receipt: dict) -> bool:
        """Note a completed file; saves every N files or T seconds. Whether it saved."""
        self.hold(file_id, receipt)
        if len(self._pending) >= self.every_files or self._clock() - self._last_flush >= self.every_seconds:
            self.flush()
            return True
        return False

    def _put(self, key: str, data: bytes) -> None:
        if self.fence is not None:
            self.fence()
        self.store.put_bytes(key, data)
        self.bytes_written += len(data)

    def flush(self) -> None:
        """Save what is pending as one segment (nothing when nothing is). A failed save keeps
        it pending under the same name: the next save writes it again, with what came since."""
        self._last_flush = self._clock()
        if not self._pending:
            return
        data = encode(self._pending)
        key = layout.segment_key(self.folder, self.generation, self.writer, self._seq, self._seq)
        self._put(key, data)
        self._small.append((key, self._seq, data))
        self.saved += len(self._pending)
        self._pending = []
        self._seq += 1
        if len(self._small) >= COMPACT_SEGMENTS or sum(d.count(b"\n") for _, _, d in self._small) >= COMPACT_RECEIPTS:
            self.compact()

    def compact(self) -> None:
        """Merge this writer's small segments into one: written first, then the small ones
        deleted (interrupted in between, the receipts are there twice, never lost)."""
        if len(self._small) < 2:
            self._small = []
            return
        first, last = self._small[0][1], self._small[-1][1]
        self._put(layout.segment_key(self.folder, self.generation, self.writer, first, last),
                  b"".join(d for _, _, d in self._small))
        small, self._small = self._small, []
        for key, _, _ in small:
            try:
                self.store.delete(key)
            except SinkError as exc:  # a duplicate of the merged segment: harmless
                log.info("compacted checkpoint segment %s not deleted: %s", key, exc)


def recorded_ids(store: Store, prefix: str, count: int = 1, index: int = 0) -> list[int]:
    """The file ids a partition's checkpoint records (sorted, each once): for tests and tools."""
    found = load(store, layout.checkpoint_dir(prefix, count, index), layout.checkpoint_key(prefix, count, index))
    return [] if found is None else found.receipts.ids().tolist()


__all__ = ["CHECKPOINT_FORMAT", "CheckpointLog", "Head", "Opened", "Recorded", "load", "open_for_run",
           "recorded_ids"]
