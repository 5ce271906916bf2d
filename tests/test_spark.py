"""Spark reads a generated file with aggregate push-down on: ``count(col)`` of every column is
answered from the footers, which needs each column chunk's null count.

Needs pyspark and a Java runtime (`.ci/run` installs pyspark; locally: `pip install pyspark`).
"""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakebench_ray.core import SCHEMA, build_loyalty_table, build_row_group, row_groups
from lakebench_ray.core.schema import BATCH_SCHEMA
from lakebench_ray.format import writer_options

from .helpers import file_bytes, small_params

pyspark = pytest.importorskip("pyspark", reason="pyspark not installed (pip install pyspark): Spark not tried")
if shutil.which("java") is None:
    pytest.skip("no Java runtime: Spark not tried", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("lakebench-ray-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        # Parquet through DataSource V2, where aggregate push-down lives.
        .config("spark.sql.sources.useV1SourceList", "avro,csv,json,kafka,orc,text")
        .config("spark.sql.parquet.aggregatePushdown", "true")
        .config("spark.sql.debug.maxToStringFields", "1000")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def counts(spark, path) -> tuple[dict, str]:
    from pyspark.sql import functions as F

    df = spark.read.parquet(str(path))
    query = df.agg(*[F.count(name).alias(name) for name in SCHEMA.names])
    plan = query._jdf.queryExecution().executedPlan().toString()
    return query.collect()[0].asDict(), plan


def test_count_of_every_column_is_pushed_down(spark, tmp_path):
    params = small_params()
    data = file_bytes(params, 0)
    path = tmp_path / "part-000000.parquet"
    path.write_bytes(data)
    got, plan = counts(spark, path)
    table = pq.read_table(pa.BufferReader(data))
    assert got == {name: table.num_rows - table.column(name).null_count for name in SCHEMA.names}
    assert "PushedAggregation: [COUNT(id)" in plan and "count(interaction_payload)" in plan, plan


def test_a_file_without_null_counts_is_refused(spark, tmp_path):
    """The check above can fail: the same rows with statistics on the non-string columns only
    (this generator's earlier setting) make Spark refuse the push-down."""
    params = small_params()
    loyalty = build_loyalty_table(params.seed, params.customer_id_max, params.profile)
    numeric = [f.name for f in SCHEMA if not pa.types.is_string(f.type)]
    path = tmp_path / "old.parquet"
    with pq.ParquetWriter(str(path), BATCH_SCHEMA, **dict(writer_options(), write_statistics=numeric)) as writer:
        for i, (first, count) in enumerate(row_groups(params.rows_per_file, params.row_group_rows)):
            writer.write_batch(build_row_group(params, loyalty, 0, i, first, count))
    with pytest.raises(Exception, match="NO_NUM_NULLS|num_nulls|null count"):
        counts(spark, path)
