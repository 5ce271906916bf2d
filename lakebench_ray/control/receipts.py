"""Receipts held compactly: what a resume or ``verify`` keeps of every recorded file.

A receipt says what a file was when it was written: size, CRC32 of its bytes and the store's
version tag (see :class:`~lakebench_ray.sinks.base.Receipt`). Held as Python dicts a receipt
costs about 600 bytes, so 2,000,000 of them would take over a gigabyte; here they are four
columns of fixed-width numbers (28 bytes a file), with the version tag kept as a 64-bit hash,
which is all a comparison with a listing needs.

A file may have several receipts (a file written again after a resume found it changed, or a
segment written twice): each one is a fact about one version of the file, so a file is
confirmed when *any* of its receipts matches what the listing shows now, and whichever receipt
came last is the one quoted when none does.
"""

from __future__ import annotations

import array
import dataclasses
from typing import Iterable, Iterator, Optional

import numpy as np

from .. import layout
from ..sinks.base import ObjectStat

#: Files named in a message about dropped receipts.
SHOWN = 5


def tag_hash(tag: str) -> int:
    """A version tag as a 64-bit number (compared within one process only)."""
    return hash(str(tag)) & 0xFFFF_FFFF_FFFF_FFFF


def receipt_ok(receipt) -> bool:
    return isinstance(receipt, dict) and {"size", "crc32", "tag"} <= set(receipt)


class ReceiptTable:
    """Receipts appended in log order, then (on first lookup) sorted by file id."""

    def __init__(self) -> None:
        self._ids = array.array("q")
        self._sizes = array.array("q")
        self._crcs = array.array("Q")
        self._tags = array.array("Q")
        self._frozen: Optional[tuple[np.ndarray, ...]] = None
        self.unrecorded = 0  # ids recorded without a digest (an early checkpoint format)
        self._bare = array.array("q")

    def add(self, file_id: int, size: int, crc32: str, tag: str) -> None:
        self._ids.append(int(file_id))
        self._sizes.append(int(size))
        self._crcs.append(int(crc32, 16))
        self._tags.append(tag_hash(tag))
        self._frozen = None

    def add_receipt(self, file_id: int, receipt) -> None:
        """A receipt as a dict; one without a digest keeps the id as recorded but unconfirmable."""
        if receipt_ok(receipt):
            self.add(file_id, receipt["size"], receipt["crc32"], receipt["tag"])
        else:
            self._bare.append(int(file_id))
            self._frozen = None

    def add_rows(self, rows: Iterable) -> None:
        """Rows ``[id, size, crc32, tag]`` as a segment holds them."""
        for file_id, size, crc32, tag in rows:
            self.add(file_id, size, crc32, tag)

    def _columns(self) -> tuple[np.ndarray, ...]:
        if self._frozen is None:
            ids = np.frombuffer(self._ids, dtype=np.int64) if len(self._ids) else np.empty(0, np.int64)
            order = np.argsort(ids, kind="stable")  # stable: the last receipt of an id stays last
            cols = [np.frombuffer(a, dtype=d)[order] if len(a) else np.empty(0, d)
                    for a, d in ((self._ids, np.int64), (self._sizes, np.int64), (self._crcs, np.uint64),
                                 (self._tags, np.uint64))]
            bare = np.unique(np.frombuffer(self._bare, dtype=np.int64)) if len(self._bare) else np.empty(0, np.int64)
            self._frozen = (*cols, bare)
        return self._frozen

    @property
    def nbytes(self) -> int:
        """Memory held (the frozen columns included, once sorted)."""
        raw = sum(a.buffer_info()[1] * a.itemsize for a in (self._ids, self._sizes, self._crcs, self._tags, self._bare))
        return raw + (sum(c.nbytes for c in self._frozen) if self._frozen is not None else 0)

    def ids(self) -> np.ndarray:
        """Every recorded file id once, sorted (with or without a digest)."""
        ids, *_, bare = self._columns()
        return np.union1d(ids, bare)

    def beyond(self, planned: range) -> int:
        """How many recorded ids ``planned`` does not hold (a bigger run's files)."""
        ids = self.ids()
        return int(len(ids) - in_range(ids, planned).sum())

    def __iter__(self):
        return iter(self.ids().tolist())

    def __len__(self) -> int:
        return len(self.ids())

    def __contains__(self, file_id: int) -> bool:
        ids, *_, bare = self._columns()
        i = np.searchsorted(ids, file_id)
        if i < len(ids) and ids[i] == file_id:
            return True
        j = np.searchsorted(bare, file_id)
        return bool(j < len(bare) and bare[j] == file_id)

    def _span(self, file_id: int) -> tuple[int, int]:
        ids = self._columns()[0]
        return int(np.searchsorted(ids, file_id, "left")), int(np.searchsorted(ids, file_id, "right"))

    def get(self, file_id: int) -> Optional[dict]:
        """The last receipt of ``file_id`` (size and CRC32), or None."""
        lo, hi = self._span(file_id)
        if lo == hi:
            return None
        _, sizes, crcs, _, _ = self._columns()
        return {"size": int(sizes[hi - 1]), "crc32": f"{int(crcs[hi - 1]):08x}"}

    def matches(self, file_id: int, size: int, crc32: str) -> bool:
        """Whether any receipt of ``file_id`` has this size and CRC32."""
        lo, hi = self._span(file_id)
        _, sizes, crcs, _, _ = self._columns()
        want = int(crc32, 16)
        return any(int(sizes[k]) == size and int(crcs[k]) == want for k in range(lo, hi))

    def confirm(self, listing: "Listing", planned: range) -> "Confirmed":
        """Which recorded files of the plan are still there as written, from one listing of the
        data prefix: a file is kept when one of its receipts has the size and version tag the
        listing shows. Receipts of files outside ``planned`` (a bigger run's) are never kept."""
        ids, sizes, _, tags, bare = self._columns()
        mine = in_range(ids, planned)
        ids, sizes, tags, bare = ids[mine], sizes[mine], tags[mine], bare[in_range(bare, planned)]
        kept = np.zeros(len(ids), dtype=bool)
        seen = np.zeros(len(ids), dtype=bool)
        mismatch: dict[int, str] = {}

        def note(file_id: int, size: int, last: int) -> None:
            mismatch[file_id] = (f"size {size}, recorded {int(sizes[last])}" if sizes[last] != size
                                 else "changed since it was written")

        for pid, psize, ptag in listing.chunks():
            lo, hi = np.searchsorted(ids, pid, "left"), np.searchsorted(ids, pid, "right")
            one = np.nonzero(hi - lo == 1)[0]  # the usual case, vectorised: one receipt per file
            at = lo[one]
            seen[at] = True
            good = (sizes[at] == psize[one]) & (tags[at] == ptag[one])
            kept[at[good]] = True
            for n in one[~good][: SHOWN - len(mismatch)] if len(mismatch) < SHOWN else ():
                note(int(pid[n]), int(psize[n]), int(lo[n]))
            for n in np.nonzero(hi - lo > 1)[0]:  # files with several receipts
                span = slice(lo[n], hi[n])
                seen[span] = True
                if ((sizes[span] == psize[n]) & (tags[span] == ptag[n])).any():
                    kept[span] = True
                elif len(mismatch) < SHOWN:
                    note(int(pid[n]), int(psize[n]), int(hi[n]) - 1)
        kept_ids = np.unique(ids[kept])
        recorded = np.union1d(ids, bare)
        dropped = np.setdiff1d(recorded, kept_ids, assume_unique=True)
        reasons: dict[int, str] = {}
        for file_id in dropped[:SHOWN].tolist():
            lo, hi = int(np.searchsorted(ids, file_id, "left")), int(np.searchsorted(ids, file_id, "right"))
            if file_id in mismatch:
                reasons[file_id] = mismatch[file_id]
            elif lo == hi:  # recorded by a checkpoint that kept no digests
                reasons[file_id] = "no digest recorded"
            else:
                reasons[file_id] = "changed since it was written" if seen[lo:hi].any() else "missing"
        return Confirmed(kept=kept_ids, recorded=len(recorded), dropped=len(dropped), reasons=reasons)


def in_range(ids: np.ndarray, planned: range) -> np.ndarray:
    """Which of ``ids`` a range holds (vectorised ``id in planned``)."""
    if planned.step <= 0 or len(planned) == 0:
        return np.zeros(len(ids), dtype=bool)
    inside = (ids >= planned.start) & (ids < planned.stop)
    return inside & ((ids - planned.start) % planned.step == 0) if planned.step > 1 else inside


class Listing:
    """One listing of a data prefix, held compactly: data files as numbers (id, size, version
    tag hash: 24 bytes a file), any other key by name (few: temp files, strangers). Built from
    ``Store.iter_stats`` as its pages arrive; read by a resume (:meth:`ReceiptTable.confirm`)
    and by the check for files outside the plan (:meth:`keys_outside`)."""

    CHUNK = 1 << 16

    def __init__(self, stats: Iterable[tuple[str, ObjectStat]], prefix: str):
        self.prefix = layout.data_prefix(prefix)
        cut = len(self.prefix) + 1 if self.prefix else 0
        ids, sizes, tags = array.array("q"), array.array("q"), array.array("Q")
        self.others: list[str] = []
        for key, stat in stats:
            file_id = layout.parse_file_name(key[cut:]) if not cut or key.startswith(self.prefix + "/") else None
            if file_id is None:
                self.others.append(key)
                continue
            ids.append(file_id)
            sizes.append(stat.size)
            tags.append(tag_hash(stat.tag))
        self.ids = np.array(ids, dtype=np.int64)
        self.sizes = np.array(sizes, dtype=np.int64)
        self.tags = np.array(tags, dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.ids) + len(self.others)

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.sizes.nbytes + self.tags.nbytes

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for at in range(0, len(self.ids), self.CHUNK):
            end = at + self.CHUNK
            yield self.ids[at:end], self.sizes[at:end], self.tags[at:end]

    def keys_outside(self, planned: range) -> Iterator[str]:
        """Every key but the planned data files: what may be outside the plan (the caller's
        rules decide, see ``RunPlan.outside``)."""
        yield from self.others
        for file_id in self.ids[~in_range(self.ids, planned)].tolist():
            yield layout.file_key(self.prefix, file_id)


@dataclasses.dataclass(frozen=True)
class Confirmed:
    """A resume's decision: the recorded files still there as written (sorted ids), how many
    were recorded, how many are not trusted, and why (for the first few)."""

    kept: np.ndarray
    recorded: int
    dropped: int
    reasons: dict

    def message(self) -> str:
        shown = ", ".join(f"{layout.file_name(i)} ({why})" for i, why in self.reasons.items())
        more = f" and {self.dropped - len(self.reasons)} more" if self.dropped > len(self.reasons) else ""
        return (f"{self.dropped} of {self.recorded} recorded files are not as written and will be generated "
                f"again: {shown}{more}")

    def todo(self, planned: range) -> np.ndarray:
        """The planned ids still to write, in order (8 bytes a file)."""
        ids = np.arange(planned.start, planned.stop, planned.step, dtype=np.int64)
        return ids[~np.isin(ids, self.kept, assume_unique=True)] if len(self.kept) else ids
