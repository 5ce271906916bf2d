"""The Customer360 table as a lazy, deterministic Ray Dataset.

Each read task is one generated file: it yields that file's row groups, exactly the rows (and
values, from the same seeded streams) the Parquet file of the same config holds, one block per
row group. A file per task keeps Ray Data's blocks as large as the generator's row groups, so
``write_parquet`` writes about one file per generated file instead of a scatter of small ones.
Row counts, the schema and size estimates come from the plan before any data is generated, so
Ray Data plans parallelism and memory up front (and ``count()`` and ``schema()`` generate
nothing). The loyalty table is built once and shared through the object store; every read task
maps it zero-copy.

Columns that are not asked for are not built: ``columns=`` at the start, or a projection Ray Data
pushes down into the read (``select_columns``, on Ray releases that push projections into a
datasource). Skipping the 2 KB payload is most of the work of a row.

Use it to feed Ray Data pipelines or sinks (``write_parquet``, ``write_iceberg``, ...); use
``generate`` for Lakebench's exact file layout, checkpoint/resume and verification.
"""

from __future__ import annotations

import functools
import inspect
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
import pyarrow as pa
import ray
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from ..config import Config
from ..core import SCHEMA, GenParams, build_loyalty_table, file_row_groups
from ..core.plan import estimated_row_bytes
from ..core.schema import column_set, project
from ..errors import ConfigError
from ..planning import make_plan
from . import cluster

#: Whether this Ray's ReadTask takes the schema (newer releases) or reads it from the metadata.
_READ_TASK_SCHEMA = "schema" in inspect.signature(ReadTask.__init__).parameters
#: In-memory bytes per row besides the payload's digits (estimated_row_bytes less the payload),
#: spread over the other columns for the size estimate of a projection.
_OTHER_COLUMNS_BYTES = estimated_row_bytes(0)
#: The read options of ``ray.data.read_datasource`` that make sense here (the rest of its keyword
#: arguments would reach the datasource, which takes none).
READ_OPTIONS = tuple(
    name for name, p in inspect.signature(ray.data.read_datasource).parameters.items()
    if p.kind is inspect.Parameter.KEYWORD_ONLY
)


def _read_file(params: GenParams, loyalty_ref, file_id: int, names: Optional[tuple]) -> Iterator[pa.Table]:
    loyalty = ray.get(loyalty_ref)
    # No columns at all (a count, say): the cheapest column is built and dropped, rows stay.
    build = None if names is None else (frozenset(names) or frozenset({"id"}))
    plain = project(SCHEMA, build)
    for batch in file_row_groups(params, loyalty, file_id, columns=build):
        # Categorical columns leave the generator as Arrow dictionaries; a Dataset carries the
        # spec's plain string columns, as the Parquet files do.
        table = pa.Table.from_batches([batch]).cast(plain)
        yield table if names is None else table.select(list(names))


def _row_bytes(payload_bytes: int, names: Optional[tuple]) -> int:
    """Estimated in-memory bytes of a row of these columns (None: all)."""
    if names is None:
        return estimated_row_bytes(payload_bytes)
    payload = 2 * payload_bytes if "interaction_payload" in names else 0
    others = len(set(names) - {"interaction_payload"})
    return max(1, payload + _OTHER_COLUMNS_BYTES * others // (len(SCHEMA) - 1))


class Customer360Datasource(Datasource):
    """One read task per file of ``file_ids``, building only the projected columns."""

    def __init__(self, params: GenParams, loyalty_ref, file_ids: Sequence[int], columns: Optional[Iterable[str]] = None):
        super().__init__()
        self._params = params
        self._loyalty_ref = loyalty_ref
        self._file_ids = tuple(file_ids)
        column_set(columns)  # checked
        # Ray Data's projection pushdown keeps the selection here (an identity map, None: all),
        # in the order the columns are asked for.
        self._projection_map = None if columns is None else {name: name for name in columns}

    @property
    def names(self) -> Optional[tuple]:
        """The columns of the blocks, in their order (None: all, in the table's order)."""
        return None if self._projection_map is None else tuple(self._projection_map)

    def supports_projection_pushdown(self) -> bool:
        return True

    def get_name(self) -> str:
        return "Customer360"

    def estimate_inmemory_data_size(self) -> Optional[int]:
        return len(self._file_ids) * self._params.rows_per_file * _row_bytes(self._params.payload_bytes, self.names)

    def get_read_tasks(self, parallelism: int, per_task_row_limit: Optional[int] = None, **_) -> list:
        p = self._params
        names = self.names
        schema = SCHEMA if names is None else pa.schema([SCHEMA.field(name) for name in names])
        size = p.rows_per_file * _row_bytes(p.payload_bytes, names)
        tasks = []
        for file_id in self._file_ids:
            read = functools.partial(_read_file, p, self._loyalty_ref, file_id, names)
            meta = dict(num_rows=p.rows_per_file, size_bytes=size, input_files=None, exec_stats=None)
            if _READ_TASK_SCHEMA:
                extra = {"per_task_row_limit": per_task_row_limit} if per_task_row_limit is not None else {}
                tasks.append(ReadTask(read, BlockMetadata(**meta), schema=schema, **extra))
            else:  # older Ray: the schema travels in the block metadata
                tasks.append(ReadTask(read, BlockMetadata(schema=schema, **meta)))
        return tasks


def dataset(config: Config, files: Optional[Iterable[int]] = None, columns: Optional[Iterable[str]] = None,
            **read_options) -> "ray.data.Dataset":
    """The rows of ``config``'s files (this partition's planned files, or the ids in ``files``)
    as a lazy Ray Dataset.

    ``columns`` (None: all 41) builds only those columns (in that order), with the values they
    have in the full table. ``read_options`` go to ``ray.data.read_datasource`` (``override_num_blocks``,
    ``concurrency``, ``ray_remote_args``, ``num_cpus``, ``memory``, ...); by default there is one
    read task, and one block per row group, per file.

    Ray is joined exactly as :func:`~lakebench_ray.generate` joins it: a running Ray is used as
    it is; otherwise ``ray.address`` (or ``RAY_ADDRESS``, or the head ``ray start`` recorded) is
    checked to answer and joined, or a local Ray is started. A Ray started here stays up (the
    Dataset runs on it later); none is ever shut down here.
    """
    if columns is not None:
        column_set(columns)  # checked before anything else happens
        columns = list(dict.fromkeys([columns] if isinstance(columns, str) else columns))
    unknown = sorted(set(read_options) - set(READ_OPTIONS))
    if unknown:
        raise ConfigError(
            f"dataset: '{unknown[0]}' is not a read option of ray.data.read_datasource: use one of "
            f"{', '.join(READ_OPTIONS)}"
        )
    loyalty = build_loyalty_table(config.seed, config.customer_id_max, config.profile)
    plan = make_plan(config, loyalty)
    try:
        ids = plan.file_ids if files is None else tuple(int(f) for f in files)
    except (TypeError, ValueError):
        raise ConfigError(f"files: expected a list of file ids (whole numbers), got {files!r}") from None
    bad = [f for f in ids if f < 0]
    if bad:
        raise ConfigError(f"files: file ids are 0 or more, got {bad[0]}")
    if not ids:
        raise ConfigError("files: name at least one file id (or None for the planned files)")
    cluster.connect(config.ray.address)
    source = Customer360Datasource(plan.params, ray.put(np.asarray(loyalty)), ids, columns)
    # One output block per read task unless asked otherwise: Ray Data would otherwise split each
    # file's rows into many small blocks to reach its default parallelism (about 200), and
    # write_parquet would write each as a file of its own.
    read_options.setdefault("override_num_blocks", len(ids))
    return ray.data.read_datasource(source, **read_options)
