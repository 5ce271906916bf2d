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
    loyalty = build_loyalty_table(params.seed, params.customer_id_max, params.profile) if loyalty is None else loyalty
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


def checkpoint_receipts(read, keys, prefix: str = "customer/interactions", count: int = 1, index: int = 0) -> dict:
    """file id -> receipt, read from a partition's checkpoint log as it stands (a test looks at
    the stored objects themselves): ``read(key)`` gives bytes or None, ``keys(prefix)`` the keys
    under a prefix. Empty while nothing is saved; segments compacted meanwhile are skipped."""
    import json

    from lakebench_ray import layout

    folder = layout.checkpoint_dir(prefix, count, index)
    head = read(layout.checkpoint_head_key(folder))
    if head is None:
        return {}
    where = layout.generation_dir(folder, json.loads(head)["generation"]) + "/"
    found = {}
    for key in sorted(keys(where)):
        for line in (read(key) or b"").decode().splitlines():
            file_id, size, crc32, tag = json.loads(line)
            found[file_id] = {"size": size, "crc32": crc32, "tag": tag}
    return found


def local_receipts(root: Path, prefix: str = "customer/interactions", count: int = 1, index: int = 0) -> dict:
    """:func:`checkpoint_receipts` of a checkpoint under a local output directory."""

    def read(key):
        try:
            return (root / key).read_bytes()
        except FileNotFoundError:
            return None

    def keys(where):
        return [p.relative_to(root).as_posix() for p in (root / where).glob("*.jsonl")]

    return checkpoint_receipts(read, keys, prefix, count, index)


def s3_receipts(client, bucket: str, prefix: str = "customer/interactions", count: int = 1, index: int = 0) -> dict:
    """:func:`checkpoint_receipts` of a checkpoint in an S3 bucket (through a boto3 client)."""

    def read(key):
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey:
            return None

    def keys(where):
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=where)
        return [item["Key"] for page in pages for item in page.get("Contents", ())]

    return checkpoint_receipts(read, keys, prefix, count, index)


class SteppingClock:
    """A clock for the driver of a sustained run: every reading is one second after the one before.

    ``duration_s`` then ends after a fixed number of the driver's readings (the run's start, the
    pool's start, one per id past the plan), not after however many seconds this machine needs to
    start Ray and its actors and write the planned files: the files past the plan, and the end of
    the run, are the same on a fast or a loaded machine. Everything else is the ``time`` module.
    Installed with ``monkeypatch.setattr(lakebench_ray.runtime.driver, "time", SteppingClock())``."""

    def __init__(self):
        import time

        self._time = time
        self.now = time.monotonic()

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now

    def __getattr__(self, name):
        return getattr(self._time, name)
