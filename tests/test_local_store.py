"""The local directory store: a final name is always a complete file."""

from __future__ import annotations

import os
import time
import zlib

import pytest

from lakebench_ray.errors import SinkError
from lakebench_ray.sinks import LocalStore
from lakebench_ray.sinks.base import ObjectStat

pytestmark = pytest.mark.unit  # no Ray, servers or processes (guarded in conftest)


def test_commit_renames_into_place(tmp_path):
    store = LocalStore(tmp_path)
    writer = store.open_writer("a/b/part-000001.parquet")
    writer.stream.write(b"hello")
    assert not (tmp_path / "a/b/part-000001.parquet").exists()
    assert store.list_partials("a") == ["a/b/part-000001.parquet"]
    assert writer.commit() == 5
    assert (tmp_path / "a/b/part-000001.parquet").read_bytes() == b"hello"
    assert store.list_partials("a") == []


def test_error_inside_with_leaves_nothing(tmp_path):
    store = LocalStore(tmp_path)
    with pytest.raises(RuntimeError):
        with store.open_writer("x/part-000002.parquet") as writer:
            writer.stream.write(b"partial")
            raise RuntimeError("boom")
    assert store.list("x") == {}


def test_cleanup_partials_selects(tmp_path):
    store = LocalStore(tmp_path)
    for i in range(3):
        store.open_writer(f"p/part-00000{i}.parquet").stream.write(b"x")  # abandoned writers
    assert store.cleanup_partials("p", lambda key: key.endswith("1.parquet")) == 1
    assert sorted(store.list_partials("p")) == ["p/part-000000.parquet", "p/part-000002.parquet"]
    assert store.cleanup_partials("p") == 2 and store.list("p") == {}


def test_put_get_delete(tmp_path):
    store = LocalStore(tmp_path)
    assert store.get_bytes("_lakebench/c.json") is None
    store.put_bytes("_lakebench/c.json", b"{}")
    assert store.get_bytes("_lakebench/c.json") == b"{}"
    store.delete("_lakebench/c.json")
    store.delete("_lakebench/c.json")
    assert store.get_bytes("_lakebench/c.json") is None


def test_preflight_refuses_unwritable(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SinkError, match="is a file"):
        LocalStore(tmp_path / "file").preflight()
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions
            pytest.skip("running as root: directory permissions are not enforced")
        with pytest.raises(SinkError, match="cannot write"):
            LocalStore(locked / "out").preflight()
    finally:
        os.chmod(locked, 0o700)


def test_receipt_is_computed_while_streaming_and_the_tag_tracks_changes(tmp_path):
    store = LocalStore(tmp_path)
    data = os.urandom(3 << 20)
    with store.open_writer("p/part-000001.parquet") as writer:
        for at in range(0, len(data), 100_000):
            writer.stream.write(memoryview(data)[at:at + 100_000])
        writer.commit()
    receipt = writer.receipt
    assert (receipt.size, receipt.crc32) == (len(data), f"{zlib.crc32(data):08x}")
    assert store.stat_all("p") == {"p/part-000001.parquet": ObjectStat(len(data), receipt.tag)}
    time.sleep(0.05)  # file times advance in clock ticks
    with open(tmp_path / "p/part-000001.parquet", "r+b") as fh:  # one byte changed in place
        fh.seek(1000)
        fh.write(bytes([data[1000] ^ 1]))
    assert store.stat_all("p")["p/part-000001.parquet"].tag != receipt.tag


def test_no_empty_folder_is_left_behind(tmp_path):
    store = LocalStore(tmp_path / "out")
    store.preflight()
    assert list(tmp_path.iterdir()) == []  # the probe went into the nearest folder there, and went
    (tmp_path / "out").mkdir()
    store.preflight()
    assert list((tmp_path / "out").iterdir()) == []
    store.put_bytes("_lakebench/a/b/c.json", b"{}")
    store.open_writer("a/b/part-000001.parquet").stream.write(b"x")  # an abandoned writer
    store.delete("_lakebench/a/b/c.json")
    assert store.cleanup_partials("a") == 1
    assert list((tmp_path / "out").iterdir()) == []
