"""``lakebench_ray.dataset``: the table as a lazy Ray Dataset, row for row the files' rows."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ray_data = pytest.importorskip("ray.data", reason="Ray Data not installed (pip install 'lakebench-ray[data]')")

import lakebench_ray  # noqa: E402
from lakebench_ray import ConfigError, dataset  # noqa: E402
from lakebench_ray.core import SCHEMA  # noqa: E402
from lakebench_ray.planning import make_plan  # noqa: E402
from lakebench_ray.runtime.dataset import Customer360Datasource  # noqa: E402
from lakebench_ray.sinks import LocalStore  # noqa: E402
from lakebench_ray.verify.conformance import Conformance  # noqa: E402

from .helpers import ROOT  # noqa: E402
from .rayhead import free_port  # noqa: E402
from .test_verify import PREFIX, SETTINGS, config_for, write_dataset  # noqa: E402

#: Four columns of the 41, none of them the payload.
FOUR = ["event_timestamp", "customer_id", "interaction_type", "transaction_amount"]


def rows(ds) -> pa.Table:
    import ray

    tables = [table.cast(pa.schema([SCHEMA.field(n) for n in table.column_names]))
              for table in ray.get(ds.to_arrow_refs())]
    return pa.concat_tables(tables).sort_by("id")


@pytest.mark.slow
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


@pytest.mark.slow
def test_projection_has_the_full_tables_values(ray_local, tmp_path):
    """``columns=`` and a later ``select_columns`` (pushed into the read) give exactly the values
    of those columns in the full table."""
    config = config_for(tmp_path, "profile=realistic")
    full = rows(dataset(config))
    projected = rows(dataset(config, columns=FOUR + ["id"]))
    assert projected.equals(full.select(FOUR + ["id"]))
    assert dataset(config, columns=FOUR).schema().names == FOUR
    selected = rows(dataset(config).select_columns(["id", "loyalty_tier", "email_raw"]))
    assert selected.equals(full.select(["id", "loyalty_tier", "email_raw"]))


def test_write_parquet_writes_about_a_file_per_generated_file(ray_local, tmp_path):
    config = config_for(tmp_path / "unused", "num_files=6")
    out = tmp_path / "ray-data"
    dataset(config).write_parquet(str(out))
    written = sorted(out.glob("*.parquet"))
    assert 6 <= len(written) <= 12, len(written)
    assert pq.read_table(out).num_rows == 6 * 3000


def test_read_options_reach_ray_data(ray_local, tmp_path):
    config = config_for(tmp_path, "rows_per_file=1000")
    assert dataset(config, files=[0, 1]).materialize().num_blocks() == 2
    assert dataset(config, files=[0, 1], override_num_blocks=8).materialize().num_blocks() == 8
    ds = dataset(config, files=[0, 1], columns=["id"], concurrency=1, ray_remote_args={"num_cpus": 0.5})
    assert ds.count() == 2000 and sorted(ds.to_pandas()["id"]) == list(range(2000))


@pytest.mark.parametrize("kwargs, needle", [
    ({"columns": ["id", "payload"]}, "columns: 'payload' is not a column"),
    ({"files": [0, -1]}, "files: file ids are 0 or more"),
    ({"override_num_blok": 3}, "dataset: 'override_num_blok' is not a read option"),
])
def test_bad_arguments_are_one_line(tmp_path, kwargs, needle):
    with pytest.raises(ConfigError) as info:
        dataset(config_for(tmp_path), **kwargs)
    assert str(info.value).startswith(needle) and "\n" not in str(info.value), str(info.value)


_DRIVER = textwrap.dedent("""
    import json, sys
    import ray
    import lakebench_ray

    settings = json.loads(sys.argv[1])
    dead = lakebench_ray.load_config(None, settings + ["ray.address=127.0.0.1:" + sys.argv[3]])
    try:
        lakebench_ray.dataset(dead)
        refused = None
    except lakebench_ray.ConfigError as exc:
        refused = str(exc)
    assert not ray.is_initialized()
    config = lakebench_ray.load_config(None, settings + ["ray.address=" + sys.argv[2]])
    ds = lakebench_ray.dataset(config, columns=["id", "customer_id"])
    ids = sorted(ds.to_pandas()["id"])
    print(json.dumps({"refused": refused, "gcs": ray.get_runtime_context().gcs_address,
                      "nodes": len(ray.nodes()), "ids": [ids[0], ids[-1], len(ids)]}))
""")


@pytest.mark.slow
def test_runs_on_the_cluster_of_ray_address_and_leaves_it_up(ray_local):
    """No ``ray.init()`` by the user: ``dataset()`` checks and joins the head ``ray.address``
    names (refusing one that does not answer, in one line), the rows are made there, and the
    head is still up when the driver is gone. (The head is this process's local Ray: the driver
    is another process that joins it, as a driver joins a head that ``ray start`` made.)"""
    gcs = ray_local.get_runtime_context().gcs_address
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    result = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(SETTINGS), gcs, str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    host, port = gcs.rsplit(":", 1)
    socket.create_connection((host, int(port)), timeout=5).close()  # not shut down
    assert ray_local.get(ray_local.put(7)) == 7  # and still serves
    assert got["refused"].startswith("cannot reach Ray at 127.0.0.1:"), got["refused"]
    assert got["gcs"] == gcs and got["nodes"] == 1
    assert got["ids"] == [0, 4 * 3000 - 1, 4 * 3000]


@pytest.mark.slow
def test_a_lakebench_config_to_a_dataset_is_one_call(ray_local, tmp_path, monkeypatch):
    """``load_config(lakebench_config=...)`` translates the file as ``--lakebench-config`` does:
    its bucket and dirty ratio reach the config, its inline keys the environment, its notes and
    warnings Python's warnings."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "lakebench.yaml"
    path.write_text(textwrap.dedent("""
        access_key: AK
        secret_key: SK
        platform: {storage: {s3: {endpoint: "http://127.0.0.1:9", buckets: {bronze: bronze-data}}}}
        architecture: {workload: {datagen: {dirty_data_ratio: 0.2}, customer360: {unique_customers: 10}}}
    """))
    with pytest.warns(UserWarning, match="note: architecture.workload.customer360"):
        config = lakebench_ray.load_config(lakebench_config=path, overrides=["num_files=2", "rows_per_file=500"])
    assert config.output.uri == "s3://bronze-data" and config.dirty_ratio == 0.2
    assert (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]) == ("AK", "SK")
    assert sorted(dataset(config, columns=["id"]).to_pandas()["id"]) == list(range(1000))
