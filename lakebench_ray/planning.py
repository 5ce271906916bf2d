"""From a configuration to a run plan: files, rows per file (calibrated), this partition's ids.

Rows per file is measured (:func:`~lakebench_ray.format.calibrate`) with the installed pyarrow,
yet it is part of the fingerprint and of every file's bytes. So it is measured once, by the run
that makes a dataset, and recorded (checkpoint, report, every file's footer: see
:mod:`lakebench_ray.control.sizes`); whatever reads or continues that dataset later (``verify``,
a resumed run) takes it from the record (:func:`plan_recorded`), and a library upgrade that would
measure another number cannot make a finished dataset fail verification or its checkpoint be
refused.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np

from .config import Config
from .core import FilePlan, GenParams, build_loyalty_table, row_group_rows
from .core.plan import ROWS_LAKEBENCH, estimated_row_bytes
from .errors import ConfigError
from .control.sizes import Sizing, find_recorded_sizing
from .format import calibrate
from .layout import in_partition, is_hidden, is_s3, parse_file_name
from .sinks.s3 import MAX_PARTS
from .sinks.s3.options import parse_s3_uri

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
    if is_s3(config.output.uri):
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
    file_ids: range  # the planned ids of this partition (a range: no memory per file)
    partition_count: int
    partition_index: int
    calibrated: bool
    #: Rows per file by Lakebench's formula (``rows_per_file: lakebench``).
    lakebench_rows: bool = False
    #: Where rows per file and rows per row group came from when they were not measured by this
    #: process: the checkpoint, report or footer that recorded them (None: measured or given).
    recorded_in: Optional[str] = None

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
            "rows_per_file_rule": self.rows_rule,
            "customers": self.params.customer_id_max + 1,
            "partition": f"{self.partition_index}/{self.partition_count}",
            "config_fingerprint": self.fingerprint,
        }

    @property
    def rows_rule(self) -> str:
        """Where rows per file come from: ``calibrated`` (measured or recorded), ``lakebench``
        (Lakebench's formula) or ``given`` (a number in the config)."""
        if self.calibrated:
            return "calibrated"
        return ROWS_LAKEBENCH if self.lakebench_rows else "given"

    def settings(self, config: Config) -> dict:
        """What decides the files besides the counts, in the terms of a Lakebench datagen Job
        (``plan --json``: everything a user compares with the Job Lakebench renders)."""
        if is_s3(config.output.uri):
            bucket, root = parse_s3_uri(config.output.uri)
        else:
            bucket, root = None, ""
        prefix = "/".join(p for p in (root, config.output.prefix.strip("/")) if p)
        return {
            "file_size_mb": config.file_size_mb,
            "payload_kb": config.payload_kb,
            "seed": config.seed,
            "dirty_ratio": config.dirty_ratio,
            "duration_s": config.duration_s,
            "timestamp_start": config.timestamp_start,
            "timestamp_end": config.timestamp_end,
            "output": config.output.uri,
            "bucket": bucket,
            "prefix": prefix,
        }

    def outside(self, keys, prefix: str, *, past_plan_ok: bool = False) -> list[str]:
        """The data files among ``keys`` (one listing of ``prefix``, keys relative to the store's
        root) that are not this plan's: names that are no data file name, and files numbered past
        the plan (a bigger run's) or of this partition's ids but never planned. Hidden paths
        (control files, temp files) and other partitions' planned files are nobody's concern here.
        ``past_plan_ok``: files past the plan are a sustained run's (``duration_s``), not foreign.
        Names relative to ``prefix``, sorted. What a run refuses or replaces, and what verify
        calls extra."""
        prefix = prefix.strip("/")
        planned, count, index = self.file_ids, self.partition_count, self.partition_index  # a range: no set
        found = []
        for key in keys:
            relative = key[len(prefix) + 1 :] if prefix else key
            if is_hidden(relative):
                continue
            file_id = parse_file_name(relative)  # None too for a nested path or a malformed name
            if file_id is None:
                found.append(relative)
            elif file_id in planned or (past_plan_ok and file_id >= self.files.num_files):
                continue
            elif file_id >= self.files.num_files or in_partition(file_id, count, index):
                found.append(relative)
        return sorted(found)

    def sizing(self, config: Config) -> dict:
        """What a checkpoint records so that a later run or ``verify`` takes the sizes from it
        instead of measuring them again (see :func:`find_recorded_sizing`)."""
        return {
            "rows_per_file": self.files.rows_per_file,
            "row_group_rows": self.files.row_group_rows,
            "bytes_per_row": self.files.bytes_per_row,
            "file_size_mb": config.file_size_mb,
            "row_group_mb": config.row_group_mb,
        }


def make_plan(config: Config, loyalty: np.ndarray | None = None, *, recorded: Optional[Sizing] = None) -> RunPlan:
    """Resolve the plan; ``loyalty`` (built if not given) is needed to calibrate rows per file,
    unless ``recorded`` (which must fit ``config``) gives the sizes an earlier run measured."""
    num_files = config.planned_files
    probe = config.gen_params(rows_per_file=config.fixed_rows_per_file or 1, row_group_rows=1)
    group = None
    if config.fixed_rows_per_file is None and recorded is not None:
        rows, group, per_row, calibrated = recorded.rows_per_file, recorded.row_group_rows, recorded.bytes_per_row, True
    elif config.fixed_rows_per_file is None:
        if loyalty is None:
            loyalty = build_loyalty_table(config.seed, config.customer_id_max, config.profile)
        cal = calibrate(probe, loyalty, config.file_size_mb)
        rows, per_row, calibrated = cal.rows_per_file, cal.bytes_per_row, True
    else:
        rows, per_row, calibrated = config.fixed_rows_per_file, float(estimated_row_bytes(probe.payload_bytes)), False
    check_limits(config, rows, rows * per_row, num_files)
    if group is None:
        group = row_group_rows(rows, config.row_group_mb, probe.payload_bytes)
    params = config.gen_params(rows_per_file=rows, row_group_rows=group)
    count, index = config.partition.count, config.partition_index()
    ids = range(index, num_files, count)
    return RunPlan(
        params=params,
        files=FilePlan(num_files, rows, group, config.file_size_mb, per_row),
        file_ids=ids,
        partition_count=count,
        partition_index=index,
        calibrated=calibrated,
        lakebench_rows=config.rows_per_file == ROWS_LAKEBENCH,
        recorded_in=recorded.source if recorded is not None and config.fixed_rows_per_file is None else None,
    )


def with_recorded_sizes(plan: RunPlan, config: Config, store, prefix: str, control=None) -> RunPlan:
    """``plan`` (sizes measured by this process), or, when the dataset under ``prefix`` recorded
    sizes for ``config``, the same plan with those: a run continuing a dataset writes what the
    run that started it would have written."""
    if config.fixed_rows_per_file is not None:
        return plan
    recorded = find_recorded_sizing(store, prefix, config, control)
    return plan if recorded is None else make_plan(config, recorded=recorded)


def plan_recorded(config: Config, store, prefix: str, loyalty: np.ndarray | None = None, control=None) -> RunPlan:
    """The plan of the dataset ``config`` made under ``prefix``: sizes from what its run
    recorded, measured only when nothing of this configuration is recorded (a fresh run)."""
    recorded = find_recorded_sizing(store, prefix, config, control) if config.fixed_rows_per_file is None else None
    return make_plan(config, loyalty, recorded=recorded)
