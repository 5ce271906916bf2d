"""What an actor returns for a file: small on the wire, and the same entry in the report as before."""

from __future__ import annotations

import pytest

import pickle

from lakebench_ray.runtime.results import FileResult

pytestmark = pytest.mark.unit  # no Ray, servers or processes (guarded in conftest)


def result(**changes):
    values = dict(file_id=7, key="p/part-000007.parquet", rows=124_375, bytes=536_870_912, crc32="1a2b3c4d",
                  tag="\"0123456789abcdef0123456789abcdef\"", seconds=1.2345, started_at=1_700_000_000.1234,
                  node_id="ab" * 28, pid=4242, peak_rss_mb=431.5)
    return FileResult(**{**values, **changes})


def test_a_file_result_pickles_to_its_values_alone():
    plain = result()
    live = result(live_window=("2024-01-01T00:00:00", "2024-01-01T00:01:00"))
    for value in (plain, live):
        assert pickle.loads(pickle.dumps(value)) == value
        # No field names on the wire: smaller than the dict the report keeps of it.
        assert len(pickle.dumps(value)) < len(pickle.dumps(value.as_dict()))


def test_a_file_result_as_the_report_and_the_checkpoint_keep_it():
    entry = result().as_dict()
    assert list(entry) == ["file_id", "key", "rows", "bytes", "crc32", "tag", "seconds", "started_at", "node_id",
                           "pid", "peak_rss_mb"]
    live = result(live_window=("a", "b")).as_dict()
    assert live["live_window"] == ["a", "b"]
    assert result().receipt() == {"size": 536_870_912, "crc32": "1a2b3c4d", "tag": "\"0123456789abcdef0123456789abcdef\""}
