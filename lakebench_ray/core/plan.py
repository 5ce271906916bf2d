"""How many files, rows and row groups a run makes, and what each file is called."""

from __future__ import annotations

import dataclasses
import math
import re

from ..errors import ConfigError
from .params import BYTES_PER_SCALE, MIB

FILE_NAME = "part-{:06d}.parquet"
_FILE_NAME = re.compile(r"part-(\d{6,})\.parquet")
#: Arrow string columns index with int32 offsets: keep the payload of a row group under 2 GiB.
_MAX_COLUMN_BYTES = (1 << 31) - (1 << 24)


def file_name(file_id: int) -> str:
    return FILE_NAME.format(file_id)


def parse_file_name(name: str) -> int | None:
    """The file id of a data file name (``part-000042.parquet`` -> 42), else None."""
    match = _FILE_NAME.fullmatch(name)
    if match is None:
        return None
    file_id = int(match.group(1))
    return file_id if file_name(file_id) == name else None


def in_partition(file_id: int, count: int, index: int) -> bool:
    """Static partitioning: partition ``index`` of ``count`` makes the ids with this remainder."""
    return file_id % count == index


def file_key(prefix: str, file_id: int) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{file_name(file_id)}" if prefix else file_name(file_id)


def num_files_for_scale(scale: float, file_size_mb: float) -> int:
    """Scale 1 is 0.01 TiB of bronze data: 20 files of 512 MiB, scale 100 is 2,048."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ConfigError(f"scale: must be a number greater than 0, got {scale!r}")
    if not file_size_mb >= 1:
        raise ConfigError(f"file_size_mb: must be at least 1, got {file_size_mb!r}")
    return max(1, math.floor(scale * BYTES_PER_SCALE / (file_size_mb * MIB) + 1e-9))


#: ``rows_per_file: lakebench``: rows per file by Lakebench's formula, not calibrated to the size.
ROWS_LAKEBENCH = "lakebench"
#: Lakebench's generator sizes files by assuming this many compressed bytes per row.
LAKEBENCH_BYTES_PER_ROW = 4200
#: ...and never writes fewer rows than this in a file.
LAKEBENCH_MIN_ROWS = 1000


def lakebench_rows_per_file(file_size_mb: float) -> int:
    """Rows per file as Lakebench's own generator counts them: whole bytes of the target size
    over its fixed bytes per row, at least 1,000 (so every Lakebench figure counted in rows is
    the same here, whatever size the files come out)."""
    return max(LAKEBENCH_MIN_ROWS, int(file_size_mb * MIB) // LAKEBENCH_BYTES_PER_ROW)


def estimated_row_bytes(payload_bytes: int) -> int:
    """Uncompressed in-memory bytes of a row, for sizing row groups (hex doubles the payload)."""
    return 2 * payload_bytes + 600


def row_group_rows(rows_per_file: int, row_group_mb: float, payload_bytes: int) -> int:
    """Rows per row group: about ``row_group_mb`` each (the last one of a file takes the rest).

    The same for every file size, so an actor's memory does not depend on the file size."""
    if not row_group_mb > 0:
        raise ConfigError(f"row_group_mb: must be greater than 0, got {row_group_mb!r}")
    row_bytes = estimated_row_bytes(payload_bytes)
    per_group = max(1, int(row_group_mb * MIB // row_bytes))
    per_group = min(per_group, max(1, _MAX_COLUMN_BYTES // max(1, 2 * payload_bytes)))
    return min(per_group, rows_per_file)


def row_groups(rows_per_file: int, rows_per_group: int) -> list[tuple[int, int]]:
    """(first row, row count) of each row group of a file."""
    return [
        (start, min(rows_per_group, rows_per_file - start))
        for start in range(0, rows_per_file, rows_per_group)
    ]


@dataclasses.dataclass(frozen=True)
class FilePlan:
    num_files: int
    rows_per_file: int
    row_group_rows: int
    file_size_mb: float
    bytes_per_row: float  # calibrated (or estimated) compressed bytes per row

    @property
    def total_rows(self) -> int:
        return self.num_files * self.rows_per_file

    @property
    def file_bytes(self) -> int:
        return int(self.rows_per_file * self.bytes_per_row)

    @property
    def total_bytes(self) -> int:
        return self.num_files * self.file_bytes
