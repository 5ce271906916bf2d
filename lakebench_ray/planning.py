"""From a configuration to a run plan: files, rows per file (calibrated), this partition's ids."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .config import Config
from .core import FilePlan, GenParams, build_loyalty_table, row_group_rows
from .core.plan import estimated_row_bytes
from .errors import ConfigError
from .format import calibrate
from .layout import is_s3_uri
from .sinks.s3 import MAX_PARTS

#: Parquet readers (Spark, Trino, Arrow's int32-indexed arrays) count a file's rows in an int32.
MAX_ROWS_PER_FILE = (1 << 31) - 1
#: The largest S3 object.
MAX_OBJECT_BYTES = 5 * (1 << 40)
#: Calibrated files land within a few percent of the target; leave room above it.
_SIZE_MARGIN = 1.1


def check_limits(config: Config, rows: int, file_bytes: float, num_files: int) -> None:
    """Refuse, before any work, a plan that the format or the storage cannot hold (a file that
    needs more than 10,000 parts would otherwise fail only after 10,000 parts were uploaded)."""
    if rows > MAX_ROWS_PER_FILE:
        raise ConfigError(
            f"{rows:,} rows per file is more than a Parquet file's int32 row count allows "
            f"({MAX_ROWS_PER_FILE:,}): lower file_size_mb or rows_per_file"
        )
    if num_files * rows >= 1 << 63:
        raise ConfigError("row ids would overflow int64 (files x rows per file): lower scale, num_files or file_size_mb")
    if is_s3_uri(config.output.uri):
        size = file_bytes * _SIZE_MARGIN
        if size > MAX_OBJECT_BYTES:
            raise ConfigError(
                f"files of ~{file_bytes / 2**30:,.0f} GiB exceed the 5 TiB S3 object limit: lower file_size_mb or rows_per_file"
            )
        part = config.s3.part_size_mb * 2**20
        if size > MAX_PARTS * part:
            need = math.ceil(size / MAX_PARTS / 2**20)
            raise ConfigError(
                f"files of ~{file_bytes / 2**20:,.0f} MiB need more than {MAX_PARTS:,} parts of "
                f"s3.part_size_mb={config.s3.part_size_mb}: raise s3.part_size_mb to at least {need} or lower file_size_mb"
            )


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
    check_limits(config, rows, rows * per_row, num_files)
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
