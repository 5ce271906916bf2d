"""Rows per file for a target file size, measured by writing two small samples.

The slope between the samples is the compressed bytes per row; the intercept absorbs the footer
and per-row-group overheads. Everything is seeded, so the result is the same on every machine
with the same library versions.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyarrow as pa

from ..core import GenParams
from ..core.params import MIB
from ..core.plan import estimated_row_bytes
from .parquet import write_file

#: Target uncompressed size of the larger sample.
_SAMPLE_BYTES = 12 * MIB
_MIN_ROWS, _MAX_ROWS = 2_000, 100_000
#: Largest uncompressed sample: with very large payloads (up to 1 MiB per row, 2 MiB of hex) fewer
#: rows than _MIN_ROWS keep the sample's memory bounded and its string column under 2 GiB.
_MAX_SAMPLE_BYTES = 64 * MIB


@dataclasses.dataclass(frozen=True)
class Calibration:
    rows_per_file: int
    bytes_per_row: float
    fixed_bytes: float


def _sample_size(params: GenParams, loyalty: np.ndarray, rows: int) -> int:
    # One row group per sample, as the files' row groups are mostly this large or larger.
    sample = dataclasses.replace(params, rows_per_file=rows, row_group_rows=rows)
    sink = pa.BufferOutputStream()
    write_file(sample, loyalty, 0, sink)
    return sink.tell()


def calibrate(params: GenParams, loyalty: np.ndarray, file_size_mb: float) -> Calibration:
    """Rows per file so that files come out at ``file_size_mb`` MiB (within a few percent)."""
    row_bytes = estimated_row_bytes(params.payload_bytes)
    floor = max(2, min(_MIN_ROWS, _MAX_SAMPLE_BYTES // row_bytes))
    big = int(min(_MAX_ROWS, max(floor, _SAMPLE_BYTES // row_bytes)))
    small = big // 2
    size_small = _sample_size(params, loyalty, small)
    size_big = _sample_size(params, loyalty, big)
    per_row = (size_big - size_small) / (big - small)
    fixed = max(0.0, size_small - per_row * small)
    target = file_size_mb * MIB
    rows = max(1, int(math.floor((target - fixed) / per_row + 0.5)))
    return Calibration(rows_per_file=rows, bytes_per_row=per_row, fixed_bytes=fixed)
