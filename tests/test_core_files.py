"""Determinism, file sizing, footer metadata, the file plan and the purity of the core."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakebench_ray.core import (
    COLUMN_NAMES, GenParams, build_loyalty_table, build_row_group, file_row_groups, num_files_for_scale, profiles,
    row_group_rows,
)
from lakebench_ray.errors import ConfigError
from lakebench_ray.format import calibrate, write_file
from lakebench_ray.sinks import LocalStore

from .helpers import ROOT, file_bytes, replace, sha256, small_params


def test_same_file_twice_same_bytes():
    params = small_params()
    assert sha256(file_bytes(params, 3)) == sha256(file_bytes(params, 3))


def test_file_does_not_depend_on_other_files_or_order():
    params = small_params()
    loyalty = build_loyalty_table(params.seed, params.customer_id_max, params.profile)
    forward = {fid: sha256(file_bytes(params, fid, loyalty)) for fid in range(4)}
    backward = {fid: sha256(file_bytes(params, fid, loyalty)) for fid in reversed(range(4))}
    alone = sha256(file_bytes(params, 2))  # fresh loyalty table, nothing generated before
    assert forward == backward and forward[2] == alone
    assert len(set(forward.values())) == 4


def test_seed_changes_every_file():
    params = small_params()
    assert file_bytes(params, 0) != file_bytes(replace(params, seed=7), 0)


def test_row_group_is_generated_on_its_own():
    """A row group depends only on (params, file, row group): the second row group of a file
    equals the same row group generated without the first."""
    params = small_params()
    loyalty = build_loyalty_table(params.seed, params.customer_id_max, params.profile)
    table = pq.read_table(pa.BufferReader(file_bytes(params, 5, loyalty)))
    alone = build_row_group(params, loyalty, 5, 1, 700, 700)
    assert pa.Table.from_batches([alone]).cast(table.schema).equals(table.slice(700, 700))


def test_reused_payload_buffer_changes_no_byte():
    """The writer reuses one payload buffer for every row group of a file; each row group still
    holds exactly what it holds when built alone into fresh memory (payloads large enough to take
    the chunked path)."""
    params = small_params(payload_kb=2, rows_per_file=900, row_group_rows=300)
    loyalty = build_loyalty_table(params.seed, params.customer_id_max, params.profile)
    table = pq.read_table(pa.BufferReader(file_bytes(params, 4, loyalty)))
    for index, first in enumerate(range(0, 900, 300)):
        alone = build_row_group(params, loyalty, 4, index, first, 300)
        assert pa.Table.from_batches([alone]).cast(table.schema).equals(table.slice(first, 300)), index


@pytest.mark.parametrize("profile", sorted(profiles.PROFILES))
def test_projection_builds_the_same_values(profile):
    """Any set of columns holds the values those columns have in the full file: each column
    alone, and a few together (returned in the table's order, whatever order they were asked in)."""
    params = small_params(profile=profile)
    loyalty = build_loyalty_table(params.seed, params.customer_id_max, params.profile)
    full = pa.Table.from_batches(list(file_row_groups(params, loyalty, 3)))

    def projected(columns) -> pa.Table:
        return pa.Table.from_batches(list(file_row_groups(params, loyalty, 3, columns=columns)))

    for name in COLUMN_NAMES:
        alone = projected([name])
        assert alone.column_names == [name] and alone.column(0).equals(full.column(name)), name
    picked = ["transaction_amount", "customer_id", "raw_user_agent", "event_timestamp"]
    together = projected(picked)
    assert together.column_names == [n for n in COLUMN_NAMES if n in picked]
    assert together.equals(full.select(together.column_names))


@pytest.mark.parametrize("columns, word", [(["id", "no_such"], "no_such"), ([], "at least one"), (5, "list")])
def test_bad_projection_is_one_line(columns, word):
    params = small_params()
    with pytest.raises(ConfigError, match=word) as info:
        list(file_row_groups(params, build_loyalty_table(params.seed, params.customer_id_max, params.profile), 0, columns=columns))
    assert "\n" not in str(info.value)


def test_footer_metadata():
    params = small_params()
    meta = pq.ParquetFile(pa.BufferReader(file_bytes(params, 9))).metadata
    kv = {k.decode(): v.decode() for k, v in meta.metadata.items()}
    assert kv["lakebench.file_id"] == "9"
    assert kv["lakebench.seed"] == str(params.seed)
    assert kv["lakebench.config_fingerprint"] == params.fingerprint()
    assert kv["lakebench.generator_version"]
    assert kv["lakebench.profile"] == "lakebench"
    assert meta.num_row_groups == 3  # 2000 rows in groups of 700
    assert meta.row_group(0).column(0).compression == "SNAPPY"


@pytest.mark.parametrize("profile", ["lakebench", "realistic"])
def test_every_column_chunk_has_statistics_and_unique_columns_no_dictionary(profile):
    """Engines answer count(col) from each chunk's null count (Spark's aggregate push-down refuses
    a file where one is missing); near-unique strings are stored without a dictionary page."""
    meta = pq.ParquetFile(pa.BufferReader(file_bytes(small_params(profile=profile), 0))).metadata
    names = meta.schema.names
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        for i, name in enumerate(names):
            stats = rg.column(i).statistics
            assert stats is not None and stats.has_null_count, (g, name)
            assert stats.has_min_max or stats.null_count == stats.num_values, (g, name)
    rg = meta.row_group(0)
    for name in ("interaction_payload", "event_id", "session_fingerprint"):
        assert not rg.column(names.index(name)).has_dictionary_page, name
    assert rg.column(names.index("channel")).has_dictionary_page
    unique_contact = not rg.column(names.index("email_raw")).has_dictionary_page
    assert unique_contact == (profile == "lakebench")  # realistic emails repeat with the customer
    assert rg.column(names.index("support_ticket_id")).statistics.null_count > 0


@pytest.mark.parametrize("payload_kb", [0, 0.5, 2, 8])
def test_calibrated_file_size_within_5_percent(payload_kb, tmp_path):
    target_mb = 6
    params = GenParams(payload_kb=payload_kb)
    loyalty = build_loyalty_table(params.seed, params.customer_id_max, params.profile)
    cal = calibrate(params, loyalty, target_mb)
    rows = cal.rows_per_file
    params = replace(params, rows_per_file=rows, row_group_rows=row_group_rows(rows, 2, params.payload_bytes))
    store = LocalStore(tmp_path)
    with store.open_writer("f.parquet") as writer:
        write_file(params, loyalty, 1, writer.stream)
        size = writer.commit()
    assert abs(size / (target_mb * 2**20) - 1) <= 0.05, (payload_kb, size)
    # Calibration is deterministic.
    assert calibrate(GenParams(payload_kb=payload_kb), loyalty, target_mb) == cal


def test_scale_maps_to_files_as_in_spec():
    assert [num_files_for_scale(s, 512) for s in (1, 10, 100, 1000)] == [20, 204, 2048, 20480]
    assert num_files_for_scale(0.01, 16) == 6
    assert num_files_for_scale(0.0001, 512) == 1


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"payload_kb": -1}, "payload_kb"),
        ({"dirty_ratio": 1.5}, "dirty_ratio"),
        ({"dirty_ratio": -0.1}, "dirty_ratio"),
        ({"duplicate_email_pct": 2}, "duplicate_email_pct"),
        ({"timestamp_start": "2025-01-01", "timestamp_end": "2024-01-01"}, "timestamp_end"),
        ({"timestamp_start": "2025-01-01", "timestamp_end": "2025-01-01"}, "timestamp_end"),
        ({"timestamp_start": "yesterday"}, "timestamp_start"),
        ({"customer_id_max": 0}, "customer_id_max"),
        ({"rows_per_file": 0}, "rows_per_file"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_generation_parameters(kwargs, key):
    with pytest.raises(ConfigError) as err:
        GenParams(**kwargs)
    message = str(err.value)
    assert message.startswith(key) and "\n" not in message


@pytest.mark.parametrize("scale, size, key", [(0, 512, "scale"), (-1, 512, "scale"), (1, 0.5, "file_size_mb")])
def test_bad_scale_and_size(scale, size, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        num_files_for_scale(scale, size)


def test_core_imports_without_ray_boto3_omegaconf():
    """The pure layers must work where Ray, boto3 and OmegaConf cannot even be imported."""
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"ray", "boto3", "botocore", "omegaconf"}:
                    raise ImportError(f"blocked: {name}")
        sys.meta_path.insert(0, Block())
        import lakebench_ray
        from lakebench_ray.core import GenParams, build_loyalty_table
        from lakebench_ray.format import write_file
        from lakebench_ray.sinks import LocalStore
        import pyarrow as pa
        p = GenParams(rows_per_file=100, row_group_rows=50, customer_id_max=100)
        write_file(p, build_loyalty_table(p.seed, 100, p.profile), 0, pa.BufferOutputStream())
        bad = sorted(m for m in sys.modules if m.split(".")[0] in {"ray", "boto3", "botocore", "omegaconf"})
        assert not bad, bad
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
