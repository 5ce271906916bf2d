"""``lakebench_ray.dataset``: the table as a lazy Ray Dataset, row for row the files' rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ray_data = pytest.importorskip("ray.data", reason="Ray Data not installed (pip install 'lakebench-ray[data]')")

from lakebench_ray import dataset  # noqa: E402
from lakebench_ray.core import SCHEMA  # noqa: E402
from lakebench_ray.planning import make_plan  # noqa: E402
from lakebench_ray.runtime.dataset import Customer360Datasource  # noqa: E402
from lakebench_ray.sinks import LocalStore  # noqa: E402
from lakebench_ray.verify.conformance import Conformance  # noqa: E402

from .test_verify import PREFIX, config_for, write_dataset  # noqa: E402


def rows(ds) -> pa.Table:
    import ray

    tables = [ray.get(ref).cast(SCHEMA) for ref in ds.to_arrow_refs()]
    return pa.concat_tables(tables).sort_by("id")


def test_rows_equal_the_files_rows(ray_local, tmp_path):
    config = config_for(tmp_path)
    write_dataset(LocalStore(tmp_path), config)
    files = pq.read_table(tmp_path / PREFIX).cast(SCHEMA).sort_by("id")
    got = rows(dataset(config))
    assert got.num_rows == files.num_rows == 4 * 3000
    assert got.equals(files)
    subset = rows(dataset(config, files=[2]))
    assert subset.equals(files.slice(2 * 3000, 3000))


def test_count_and_schema_are_known_without_generating(ray_local, tmp_path):
    """A datasource whose loyalty table is empty fails as soon as a row is generated: count()
    and schema() still answer, so they come from the plan alone."""
    config = config_for(tmp_path)
    plan = make_plan(config)
    broken = ray_data.read_datasource(Customer360Datasource(plan.params, ray_local.put(np.zeros(0, np.uint8)), [0, 1]))
    assert broken.count() == 2 * 3000
    assert broken.schema().names == SCHEMA.names
    with pytest.raises(Exception):
        broken.take(1)
    ds = dataset(config)
    assert ds.count() == 4 * 3000 and ds.schema().names == SCHEMA.names


def test_written_parquet_passes_the_conformance_rules(ray_local, tmp_path):
    config = config_for(tmp_path / "unused")
    out = tmp_path / "ray-data"
    dataset(config).write_parquet(str(out))
    table = pq.read_table(out).sort_by("id")
    conformance = Conformance(make_plan(config).params)
    conformance.check_rows(table, "ray-data")
    conformance.finish()
    results = conformance.rules.results()
    assert conformance.rows == 4 * 3000
    assert all(r.ok is not False for r in results), [r.problem for r in results if r.ok is False]
    assert sum(r.ok is True for r in results) > 60
    # The same check fails on a broken row: a purchase that paid nothing.
    amounts = table.column("transaction_amount").to_numpy().copy()
    amounts[int(np.flatnonzero(amounts > 0)[0])] = 0.0
    broken = Conformance(make_plan(config).params)
    broken.check_rows(table.set_column(11, "transaction_amount", pa.array(amounts)), "ray-data")
    assert "purchase_amount_range" in {r.name for r in broken.rules.results() if r.ok is False}
