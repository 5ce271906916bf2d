"""From a configuration to a run plan: files, rows per file (calibrated), this partition's ids."""

from __future__ import annotations

import dataclasses

import numpy as np

from .config import Config
from .core import FilePlan, GenParams, build_loyalty_table, row_group_rows
from .core.plan import estimated_row_bytes
from .format import calibrate


@dataclasses.dataclass(frozen=True)
class RunPlan:
    params: GenParams
    files: FilePlan
    file_ids: tuple[int, ...]  # the planned ids of this partition
    partition_count: int
    partition_index: int
    calibrated: bool

    @property
    def fingerprint(self) -> str:
        return self.params.fingerprint()

    def summary(self) -> dict:
        return {
            "files": self.files.num_files,
            "files_in_partition": len(self.file_ids),
            "rows_per_file": self.files.rows_per_file,
            "row_group_rows": self.files.row_group_rows,
            "total_rows": self.files.total_rows,
            "estimated_bytes": self.files.total_bytes,
            "bytes_per_row": round(self.files.bytes_per_row, 1),
            "rows_per_file_calibrated": self.calibrated,
            "customers": self.params.customer_id_max + 1,
            "partition": f"{self.partition_index}/{self.partition_count}",
            "config_fingerprint": self.fingerprint,
        }


def make_plan(config: Config, loyalty: np.ndarray | None = None) -> RunPlan:
    """Resolve the plan; ``loyalty`` (built if not given) is needed to calibrate rows per file."""
    num_files = config.planned_files
    probe = config.gen_params(rows_per_file=config.rows_per_file or 1, row_group_rows=1)
    if config.rows_per_file is None:
        if loyalty is None:
            loyalty = build_loyalty_table(config.seed, config.customer_id_max)
        cal = calibrate(probe, loyalty, config.file_size_mb)
        rows, per_row, calibrated = cal.rows_per_file, cal.bytes_per_row, True
    else:
        rows, per_row, calibrated = config.rows_per_file, float(estimated_row_bytes(probe.payload_bytes)), False
    group = row_group_rows(rows, config.row_group_mb, probe.payload_bytes)
    params = config.gen_params(rows_per_file=rows, row_group_rows=group)
    count, index = config.partition.count, config.partition_index()
    ids = tuple(range(index, num_files, count))
    return RunPlan(
        params=params,
        files=FilePlan(num_files, rows, group, config.file_size_mb, per_row),
        file_ids=ids,
        partition_count=count,
        partition_index=index,
        calibrated=calibrated,
    )
