"""One listing of a dataset's control directory, sorted into what it holds: the checkpoints of
every partition (heads, segments, documents of earlier releases) and the report summaries.

``verify`` needs the recorded sizes and the recorded receipts, both from this directory; it
lists it once (:func:`scan`) and asks the result for each. The listing holds a key per document
or segment (about one per thousand files), never one per file.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Optional

from .. import layout
from ..sinks import Store
from . import checkpoint as log_format
from .receipts import ReceiptTable


def _is_checkpoint_name(name: str) -> bool:
    return name == "checkpoint" or (name.startswith("checkpoint-") and "-of-" in name)


@dataclasses.dataclass
class ControlDirectory:
    folder: str
    heads: list  # keys of checkpoint heads
    legacy: list  # keys of single-document checkpoints
    reports: list  # keys of report summaries
    segments: dict  # (checkpoint folder, generation) -> segment keys

    def documents(self) -> list[str]:
        """Checkpoint heads and legacy checkpoints first, then reports: where sizes are recorded."""
        return sorted(self.heads) + sorted(self.legacy) + sorted(self.reports)

    def read_json(self, store: Store, key: str) -> Optional[dict]:
        try:
            doc = json.loads(store.get_bytes(key) or b"null")
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def receipts(self, store: Store, fingerprint: str) -> tuple[ReceiptTable, list[str]]:
        """The receipts every checkpoint of ``fingerprint`` holds (all partitions: a dataset
        made by several partition runs verifies as a whole), and the names of the checkpoints
        found (for a message when none is of this configuration)."""
        table = ReceiptTable()
        found = []
        with_head = set()
        for key in sorted(self.heads):
            folder = key.rsplit("/", 1)[0]
            with_head.add(folder)
            found.append(folder.rsplit("/", 1)[-1])
            doc = self.read_json(store, key)
            if doc is None or doc.get("fingerprint") != fingerprint:
                continue
            keys = self.segments.get((folder, str(doc.get("generation"))), [])
            log_format.read_segments(store, keys, table)
        for key in sorted(self.legacy):
            if key[: -len(".json")] in with_head:  # converted: its head rules
                continue
            found.append(key.rsplit("/", 1)[-1])
            doc = self.read_json(store, key)
            if doc is None or doc.get("fingerprint") != fingerprint:
                continue
            files = doc.get("files")
            if isinstance(files, dict):
                for file_id, receipt in files.items():
                    if isinstance(receipt, dict) and {"size", "crc32", "tag"} <= set(receipt):
                        table.add_receipt(int(file_id), receipt)
        return table, found


def scan(store: Store, prefix: str) -> ControlDirectory:
    """List the control directory of the dataset under ``prefix`` once (page by page)."""
    folder = layout.control_dir(prefix)
    found = ControlDirectory(folder, [], [], [], {})
    for key, _ in store.iter_stats(folder):
        if not key.startswith(folder + "/"):  # e.g. the control directory of prefix + "2"
            continue
        parts = key[len(folder) + 1:].split("/")
        if len(parts) == 1:
            name = parts[0]
            if name.endswith(".json") and _is_checkpoint_name(name[: -len(".json")]):
                found.legacy.append(key)
            elif name.startswith("report") and name.endswith(".json"):
                found.reports.append(key)
        elif len(parts) == 2 and _is_checkpoint_name(parts[0]) and parts[1] == layout.HEAD_NAME:
            found.heads.append(key)
        elif (len(parts) == 3 and _is_checkpoint_name(parts[0]) and parts[1].startswith(layout.GENERATION_MARK)
              and parts[2].endswith(layout.SEGMENT_SUFFIX)):
            generation = parts[1][len(layout.GENERATION_MARK):]
            found.segments.setdefault((f"{folder}/{parts[0]}", generation), []).append(key)
    return found
