"""Content: every file's bytes against the digest recorded when it was written, and (``--deep``)
against a fresh generation of the file.

The footer checks of completeness and the spec's rules cannot see a changed byte in the middle
of a payload page, and a sampled conformance pass never reads the other files. So, by default,
``verify`` reads every present file of the partition once, computing its size and CRC32, and
compares them with the receipts the checkpoints recorded at write time (any checkpoint of this
configuration in the control directory, so a dataset made by several partition runs verifies as
a whole). ``--deep`` also regenerates the chosen files (all, or a ``--sample-files`` sample) and
compares digests: a file is a pure function of (config, file id), so this needs no record at all.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
from typing import Callable, Optional

from .. import layout
from ..control.directory import ControlDirectory, scan
from ..core import GenParams, build_loyalty_table
from ..format import write_file
from ..planning import RunPlan
from ..sinks import Store
from ..sinks.digest import RunningCrc
from .completeness import READ_ERRORS, first_line
from .rules import RuleResult

#: Read size when digesting a file (one ranged GET per chunk on S3).
CHUNK = 8 << 20

Digest = tuple[int, str]  # (size, crc32 hex)


#: How to repair a file whose bytes changed: a resume trusts a file whose size and version tag
#: (local: mtime and inode) are unchanged, so the file must go first.
_REPAIR = "delete it and run generate again with resume=true to rewrite it"


def read_digest(store: Store, key: str) -> Digest:
    """Size and CRC32 of the object's bytes as they are now (streamed, bounded memory)."""
    running = RunningCrc()
    reader = store.open_reader(key)
    try:
        for _ in range(1 << 40):  # bounded by the object's size
            chunk = reader.read(CHUNK)
            if not chunk:
                break
            running.update(chunk)
    finally:
        reader.close()
    return running.size, running.hex


class _DigestSink(io.RawIOBase):
    """A write-only stream that keeps only the size and CRC32 of what passes through."""

    def __init__(self) -> None:
        super().__init__()
        self.digest = RunningCrc()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self.digest.update(data)

    def tell(self) -> int:
        return self.digest.size


def regenerate_digest(params: GenParams, loyalty, file_id: int) -> Digest:
    """Size and CRC32 of file ``file_id`` generated afresh, without keeping its bytes."""
    sink = _DigestSink()
    write_file(params, loyalty, file_id, sink)
    return sink.digest.size, sink.digest.hex


def regenerate_in_process(plan: RunPlan, ids: list[int]) -> dict[int, Digest]:
    loyalty = build_loyalty_table(plan.params.seed, plan.params.customer_id_max, plan.params.profile)
    return {i: regenerate_digest(plan.params, loyalty, i) for i in ids}


@dataclasses.dataclass
class ContentCheck:
    actual: dict  # file id -> (size, crc32) of the bytes there now
    recorded: object  # the recorded receipts (a ReceiptTable: get(id), matches(id, size, crc32))
    regenerated: dict  # file id -> (size, crc32) of a fresh generation (--deep)
    rules: list
    problems: list


def _describe(digest: Digest) -> str:
    return f"{digest[0]:,} bytes, crc32 {digest[1]}"


def check_content(
    store: Store,
    plan: RunPlan,
    prefix: str,
    present: dict,
    *,
    deep_ids: Optional[list[int]] = None,
    regenerate: Callable[[RunPlan, list[int]], dict[int, Digest]] = regenerate_in_process,
    workers: int = 4,
    control: Optional[ControlDirectory] = None,
) -> ContentCheck:
    """``present``: file id -> FileCheck of the files completeness found (planned ids only are
    checked against records; ``deep_ids`` are regenerated and compared). ``control``: the control
    directory as already listed (listed here when not given)."""
    planned = plan.file_ids
    ids = sorted(i for i in present if i in planned)
    control = control if control is not None else scan(store, prefix)
    recorded, checkpoints = control.receipts(store, plan.fingerprint)

    actual: dict[int, Digest] = {}
    problems: list[str] = []
    unreadable: list[str] = []

    def digest(file_id: int):
        try:
            return file_id, read_digest(store, present[file_id].key), None
        except READ_ERRORS as exc:
            return file_id, None, exc

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for file_id, value, exc in pool.map(digest, ids):
            if value is None:
                unreadable.append(layout.file_name(file_id))
                problems.append(f"cannot read the bytes of {layout.file_name(file_id)} ({first_line(exc)})")
            else:
                actual[file_id] = value

    regenerated: dict[int, Digest] = {}
    mismatched: list[str] = []
    targets: list[int] = []
    if deep_ids is not None:
        targets = [i for i in deep_ids if i in actual]
        regenerated = regenerate(plan, targets) if targets else {}
        for file_id in targets:
            fresh, there = regenerated[file_id], actual[file_id]
            if fresh != there:
                name = layout.file_name(file_id)
                mismatched.append(name)
                problems.append(f"bytes of {name} differ from a fresh generation of it ({_describe(there)}; "
                                f"generated {_describe(fresh)}): {_REPAIR}")

    # A file generated again and found identical needs no record.
    vouched = {i for i in targets if regenerated.get(i) == actual.get(i)}
    unrecorded = [layout.file_name(i) for i in ids if i not in recorded and i not in vouched]
    differ = []
    for file_id, value in sorted(actual.items()):
        receipt = recorded.get(file_id)
        if receipt is None or recorded.matches(file_id, *value):  # any receipt of the file will do
            continue
        want = (int(receipt["size"]), str(receipt["crc32"]))
        if value != want:
            name = layout.file_name(file_id)
            differ.append(name)
            problems.append(f"bytes of {name} differ from what was written ({_describe(value)}; "
                            f"recorded {_describe(want)}): {_REPAIR}")
    if unrecorded:
        where = (f"no checkpoint of this configuration in {store.describe(layout.control_dir(prefix))}"
                 + (f" (found {', '.join(checkpoints[:3])} of another)" if checkpoints else ""))
        problems.append(
            f"{len(unrecorded)} file(s) have no digest recorded at write time ({_cap(unrecorded)}): {where}; "
            "run verify --deep to compare them with a fresh generation, or generate resume=true to rewrite them"
        )
    with_record = [i for i in actual if i in recorded]
    rules = [
        RuleResult("content_recorded", "content", f"{len(ids):,} files", f"{len(ids) - len(unrecorded):,}", not unrecorded,
                   "a digest (size, CRC32) of each file was recorded at write time (or --deep vouched for it)",
                   f"no recorded digest: {_cap(unrecorded)}" if unrecorded else ""),
        RuleResult("content_matches_record", "content", f"{len(with_record):,} files", f"{len(with_record) - len(differ):,} match",
                   not differ and not unreadable,
                   "each file's bytes (size, CRC32) are those recorded at write time",
                   f"bytes changed: {_cap(differ + unreadable)}" if differ or unreadable else ""),
    ]
    if deep_ids is not None:
        rules.append(RuleResult(
            "content_matches_regenerated", "content", f"{len(targets):,} files", f"{len(targets) - len(mismatched):,} match",
            not mismatched, "each checked file is byte-identical to the file generated again from the config",
            f"differ from a fresh generation: {_cap(mismatched)}" if mismatched else "",
        ))
    return ContentCheck(actual, recorded, regenerated, rules, problems)


def _cap(items: list, limit: int = 5) -> str:
    shown = ", ".join(map(str, items[:limit]))
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


__all__ = ["ContentCheck", "check_content", "read_digest", "regenerate_digest",
           "regenerate_in_process"]
