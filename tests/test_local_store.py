"""The local directory store: a final name is always a complete file."""

from __future__ import annotations

import os

import pytest

from lakebench_ray.errors import SinkError
from lakebench_ray.sinks import LocalStore


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
