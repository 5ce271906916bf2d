"""``timestamp_order: by_file``: file f holds the f-th slice of the window, sorted; the dataset as
a whole is still uniform over the window and every other column keeps its distribution."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakebench_ray.core import GenParams, build_loyalty_table
from lakebench_ray.errors import ConfigError
from lakebench_ray.sinks import LocalStore
from lakebench_ray.verify import verify

from .helpers import file_bytes, read_table
from .test_verify import PREFIX, config_for, part, write_dataset
from .test_workload import categorical_features, numeric_features, total_variation

FILES = 6
ROWS = 20_000


def params(order: str) -> GenParams:
    return GenParams(rows_per_file=ROWS, row_group_rows=7_000, payload_kb=0, timestamp_order=order,
                     timestamp_slices=FILES if order == "by_file" else None)


def columns(order: str) -> tuple[list[pa.Table], dict]:
    p = params(order)
    loyalty = build_loyalty_table(p.seed, p.customer_id_max, p.profile)
    tables = [read_table(file_bytes(p, f, loyalty)) for f in range(FILES)]
    table = pa.concat_tables(tables)
    cols = {
        name: np.array(col.to_pylist(), dtype=object) if col.null_count else col.to_numpy(zero_copy_only=False)
        for name, col in zip(table.column_names, table.columns)
    }
    return tables, cols


@pytest.fixture(scope="module")
def by_file():
    return columns("by_file")


def test_each_file_lies_in_its_slice_sorted_and_the_union_is_uniform(by_file):
    tables, cols = by_file
    p = params("by_file")
    start, end = p.timestamp_range_us
    edges = [start + (end - start) * k // FILES for k in range(FILES + 1)]
    for f, table in enumerate(tables):
        ts = table.column("event_timestamp").cast(pa.int64()).to_numpy()
        assert edges[f] <= ts.min() and ts.max() < edges[f + 1], f
        assert np.all(np.diff(ts) >= 0), f"file {f} not sorted"
    ts = cols["event_timestamp"].astype("datetime64[us]").astype(np.int64)
    shares = np.bincount((ts - start) * 24 // (end - start), minlength=24) / len(ts)
    assert np.abs(shares - 1 / 24).max() < 0.005, shares  # 120k rows: sd of a share is 0.0006


def test_row_groups_have_tight_statistics(by_file):
    p = params("by_file")
    data = file_bytes(p, 2)
    meta = pq.ParquetFile(pa.BufferReader(data)).metadata
    lo, hi = p.file_time_range_us(2)
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        span = (rg.column(2).statistics.max - rg.column(2).statistics.min).total_seconds() * 1e6
        assert span <= (hi - lo) * rg.num_rows / ROWS, g  # its share of the file's slice, no more


@pytest.mark.slow
def test_other_columns_keep_their_distribution(by_file):
    _, ours = by_file
    _, uniform = columns("uniform")
    a, b = categorical_features(ours), categorical_features(uniform)
    off = {name: round(total_variation(a[name], b[name]), 4) for name in a}
    assert all(v <= 0.03 for v in off.values()), off
    na, nb = numeric_features(ours), numeric_features(uniform)
    for name in na:
        assert abs(na[name].mean() - nb[name].mean()) <= 0.06 * abs(nb[name].mean()), name


def test_verify_checks_each_files_slice_and_order(tmp_path):
    root = tmp_path / "bronze"
    config = config_for(root, "timestamp_order=by_file")
    write_dataset(LocalStore(root), config)
    assert verify(config).ok
    # Rows out of order, and one event moved into another file's slice: both named.
    path = part(root, 1)
    pf = pq.ParquetFile(path)
    meta, groups = pf.schema_arrow.metadata, pf.metadata.row_group(0).num_rows
    table = pf.read()
    ts = table.column("event_timestamp").cast(pa.int64()).to_numpy().copy()
    ts[[10, 11]] = ts[[11, 10]]
    ts[20] = ts[20] - 10**13  # ~4 months earlier: slice 0
    table = table.set_column(2, "event_timestamp", pa.array(ts.astype("datetime64[us]"), pa.timestamp("us")))
    pq.write_table(table.replace_schema_metadata(meta), path, row_group_size=groups, compression="snappy")
    result = verify(config)
    failed = {r.name for r in result.rules if r.ok is False}
    assert {"timestamp_sorted", "timestamp_in_range"} <= failed
    assert any("part-000001.parquet" in line for line in result.problems)
    # Verified as uniform, the same files fail: the order is part of what the files are.
    assert not verify(config_for(root)).ok
    assert (root / PREFIX).is_dir()


@pytest.mark.parametrize("kwargs, message", [
    (dict(timestamp_order="sorted"), "timestamp_order: 'sorted' is not an order"),
    (dict(timestamp_order="by_file"), "timestamp_slices: expected a whole number"),
    (dict(timestamp_order="by_file", timestamp_slices=0), "timestamp_slices: must be at least 1"),
    (dict(timestamp_slices=4), "timestamp_slices: only used with timestamp_order=by_file"),
    (dict(timestamp_order="by_file", timestamp_slices=10**9, timestamp_end="2024-01-02"), "one microsecond per row"),
])
def test_bad_time_order_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        GenParams(rows_per_file=1000, **kwargs)
