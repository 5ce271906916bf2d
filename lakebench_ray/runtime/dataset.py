"""The Customer360 table as a lazy, deterministic Ray Dataset.

Each read task is one (file id, row group) pair and produces exactly the rows that row group of
that Parquet file holds: the same values, from the same seeded streams, so a Dataset and the
files of one config agree row for row. Row counts, the schema and size estimates are known from
the plan before any data is generated, so Ray Data plans parallelism and memory up front (and
``count()`` and ``schema()`` generate nothing). The loyalty table is built once and shared through
the object store; every read task maps it zero-copy.

Use it to feed Ray Data pipelines or sinks (``write_parquet``, ``write_iceberg``, ...); use
``generate`` for Lakebench's exact file layout, checkpoint/resume and verification.
"""

from __future__ import annotations

import functools
import inspect
from typing import Iterable, Optional, Sequence

import numpy as np
import pyarrow as pa
import ray
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from ..config import Config
from ..core import SCHEMA, GenParams, build_loyalty_table, build_row_group, row_groups
from ..core.plan import estimated_row_bytes
from ..errors import ConfigError
from ..planning import make_plan

#: Whether this Ray's ReadTask takes the schema (newer releases) or reads it from the metadata.
_READ_TASK_SCHEMA = "schema" in inspect.signature(ReadTask.__init__).parameters


def _read_row_group(params: GenParams, loyalty_ref, file_id: int, row_group: int, first: int, count: int) -> list:
    loyalty = ray.get(loyalty_ref)
    batch = build_row_group(params, loyalty, file_id, row_group, first, count)
    # Categorical columns leave the generator as Arrow dictionaries; a Dataset carries the spec's
    # plain string columns, as the Parquet files do.
    return [pa.Table.from_batches([batch]).cast(SCHEMA)]


class Customer360Datasource(Datasource):
    """Read tasks of (file id, row group) for the given files of a plan."""

    def __init__(self, params: GenParams, loyalty_ref, file_ids: Sequence[int]):
        super().__init__()
        self._params = params
        self._loyalty_ref = loyalty_ref
        self._file_ids = tuple(file_ids)
        self._row_bytes = estimated_row_bytes(params.payload_bytes)

    def get_name(self) -> str:
        return "Customer360"

    def estimate_inmemory_data_size(self) -> Optional[int]:
        return len(self._file_ids) * self._params.rows_per_file * self._row_bytes

    def get_read_tasks(self, parallelism: int, per_task_row_limit: Optional[int] = None, **_) -> list:
        p = self._params
        groups = row_groups(p.rows_per_file, p.row_group_rows)
        tasks = []
        for file_id in self._file_ids:
            for index, (first, count) in enumerate(groups):
                read = functools.partial(_read_row_group, p, self._loyalty_ref, file_id, index, first, count)
                meta = dict(num_rows=count, size_bytes=int(count * self._row_bytes), input_files=None, exec_stats=None)
                if _READ_TASK_SCHEMA:
                    extra = {"per_task_row_limit": per_task_row_limit} if per_task_row_limit is not None else {}
                    tasks.append(ReadTask(read, BlockMetadata(**meta), schema=SCHEMA, **extra))
                else:  # older Ray: the schema travels in the block metadata
                    tasks.append(ReadTask(read, BlockMetadata(schema=SCHEMA, **meta)))
        return tasks


def dataset(config: Config, *, files: Optional[Iterable[int]] = None) -> "ray.data.Dataset":
    """The rows of ``config``'s files (this partition's planned files, or ``files``) as a lazy
    Ray Dataset; ``ray.init`` is called if Ray is not running yet."""
    loyalty = build_loyalty_table(config.seed, config.customer_id_max)
    plan = make_plan(config, loyalty)
    ids = plan.file_ids if files is None else tuple(int(f) for f in files)
    bad = [f for f in ids if f < 0]
    if bad:
        raise ConfigError(f"files: file ids are 0 or more, got {bad[0]}")
    if not ray.is_initialized():
        ray.init()
    source = Customer360Datasource(plan.params, ray.put(np.asarray(loyalty)), ids)
    return ray.data.read_datasource(source)
