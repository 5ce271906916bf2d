"""Small shared helpers for the tests (no fixtures here)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lakebench_ray.core import GenParams, build_loyalty_table
from lakebench_ray.format import write_file

ROOT = Path(__file__).resolve().parent.parent


def file_bytes(params: GenParams, file_id: int, loyalty=None) -> bytes:
    loyalty = build_loyalty_table(params.seed, params.customer_id_max) if loyalty is None else loyalty
    sink = pa.BufferOutputStream()
    write_file(params, loyalty, file_id, sink)
    return sink.getvalue().to_pybytes()


def read_table(data: bytes) -> pa.Table:
    return pq.read_table(pa.BufferReader(data))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dir_hashes(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every Parquet file under root."""
    return {p.relative_to(root).as_posix(): sha256(p.read_bytes()) for p in sorted(root.rglob("*.parquet"))}


def small_params(**kw) -> GenParams:
    base = dict(rows_per_file=2_000, row_group_rows=700, payload_kb=0.25, customer_id_max=10_000)
    base.update(kw)
    return GenParams(**base)


def replace(params: GenParams, **kw) -> GenParams:
    return dataclasses.replace(params, **kw)
