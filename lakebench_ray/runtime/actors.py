"""The generator actor: a thin shell around state built once (parameters, loyalty view, store)."""

from __future__ import annotations

import os
import time

import numpy as np

from ..core import GenParams
from ..layout import file_key
from ..format import write_file
from ..sinks import open_store
from .results import FileResult


def _peak_rss_mb() -> float | None:
    """This process's peak resident memory so far (Linux), for sizing actors' memory."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


class GeneratorActor:
    """Writes whole files, one per call; a file is visible only once completely written."""

    def __init__(self, params: dict, loyalty: np.ndarray, store_spec: dict, prefix: str):
        # ``loyalty`` arrives resolved from its ObjectRef: a read-only, zero-copy view of the
        # object store's single copy on this node.
        import ray

        self._params = GenParams(**params)
        self._loyalty = loyalty
        self._store = open_store(**store_spec)
        self._prefix = prefix
        self._node_id = ray.get_runtime_context().get_node_id()

    def ready(self) -> str:
        return self._node_id

    def generate(self, file_id: int) -> FileResult:
        started_at = time.time()
        started = time.perf_counter()
        key = file_key(self._prefix, file_id)
        with self._store.open_writer(key) as writer:
            written = write_file(self._params, self._loyalty, file_id, writer.stream)
            size = writer.commit()
            receipt = writer.receipt
        return FileResult(
            file_id=file_id,
            key=key,
            rows=written.rows,
            bytes=size,
            crc32=receipt.crc32,
            tag=receipt.tag,
            seconds=round(time.perf_counter() - started, 4),
            started_at=round(started_at, 4),
            node_id=self._node_id,
            pid=os.getpid(),
            peak_rss_mb=_peak_rss_mb(),
            live_window=tuple(written.live_window) if written.live_window else None,
        )

    def loyalty_info(self) -> dict:
        """How the loyalty table is held, for tests: read-only and not owned by this process."""
        array = self._loyalty
        address = int(array.__array_interface__["data"][0])
        mapping, offset = "", None
        with open("/proc/self/maps") as maps:  # Linux: which mapping holds the table
            for line in maps:
                span, _perms, file_offset, *_rest = line.split()
                lo, hi = (int(x, 16) for x in span.split("-"))
                if lo <= address < hi:
                    mapping, offset = line.strip(), address - lo + int(file_offset, 16)
                    break
        return {
            "mapping": mapping,
            "mapping_shared": bool(mapping) and mapping.split()[1][3] == "s",
            "offset_in_mapping": offset,
            "writeable": bool(array.flags.writeable),
            "owndata": bool(array.flags.owndata),
            "address": address,
            "nbytes": int(array.nbytes),
            "node_id": self._node_id,
            "pid": os.getpid(),
        }
