"""The checkpoint log and its failure cases, on a real local store (no Ray): a segment written
twice, a compaction interrupted, two writers, a checkpoint of another configuration, an old
single-document checkpoint, and the cost and memory per file."""

from __future__ import annotations

import json
import shutil
import zlib

import pytest

from lakebench_ray import layout
from lakebench_ray.control import checkpoint as log_format
from lakebench_ray.control.checkpoint import CheckpointLog, open_for_run, recorded_ids
from lakebench_ray.control.receipts import ReceiptTable
from lakebench_ray.errors import CheckpointMismatchError, SinkError
from lakebench_ray.sinks import LocalStore

pytestmark = pytest.mark.unit  # no Ray, servers or processes (guarded in conftest)

PREFIX = "data/set"
FP = "fingerprint-a"


def write_files(store: LocalStore, ids) -> dict[int, dict]:
    """Stand-ins for data files (only their listing matters here) and their receipts."""
    for i in ids:
        store.put_bytes(layout.file_key(PREFIX, i), f"file {i}".encode())
    stats = store.stat_all(PREFIX)
    return {i: {"size": stats[layout.file_key(PREFIX, i)].size, "crc32": f"{zlib.crc32(f'file {i}'.encode()):08x}",
                "tag": stats[layout.file_key(PREFIX, i)].tag} for i in ids}


def open_run(store, resume=True, fingerprint=FP):
    return open_for_run(store, PREFIX, range(0, 1000), 1, 0, fingerprint, {"rows_per_file": 1}, resume)


def record(store, opened, receipts, every=4) -> CheckpointLog:
    log = CheckpointLog(store, opened.folder, opened.generation, every_files=every, every_seconds=1e9)
    for i, r in receipts.items():
        log.record(i, r)
    log.flush()
    return log


def segments(root, opened) -> list:
    return sorted((root / layout.generation_dir(opened.folder, opened.generation)).glob("*.jsonl"))


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path)


def test_a_resume_skips_what_is_recorded_and_still_there(store):
    receipts = write_files(store, range(10))
    record(store, open_run(store, resume=False), receipts)
    again = open_run(store)
    assert again.confirmed.kept.tolist() == list(range(10)) and again.confirmed.dropped == 0
    assert again.confirmed.todo(range(0, 12)).tolist() == [10, 11]


def test_a_segment_written_twice_counts_once(store, tmp_path):
    receipts = write_files(store, range(8))
    opened = open_run(store, resume=False)
    record(store, opened, receipts, every=4)
    first = segments(tmp_path, opened)[0]
    shutil.copy(first, first.with_name("0000000000ffffffff-000000000-000000000.jsonl"))  # the same batch again
    again = open_run(store)
    assert again.confirmed.kept.tolist() == list(range(8)) and again.confirmed.recorded == 8
    assert recorded_ids(store, PREFIX) == list(range(8))


def test_an_interrupted_compaction_loses_nothing(store, tmp_path, monkeypatch):
    """The merged segment is written before the small ones are deleted; stopped in between,
    every receipt is there twice, and a resume counts each file once."""
    monkeypatch.setattr(log_format, "COMPACT_SEGMENTS", 3)
    receipts = write_files(store, range(12))
    opened = open_run(store, resume=False)
    deletes = []
    monkeypatch.setattr(store, "delete", lambda key: deletes.append(key))  # the writer stops before deleting
    log = record(store, opened, receipts, every=2)
    assert len(deletes) >= 3 and log.saved == 12
    names = [p.name for p in segments(tmp_path, opened)]
    merged = [n for n in names if n.split("-")[1] != n.split("-")[2].split(".")[0]]
    assert merged and len(names) > len(merged)
    assert open_run(store).confirmed.kept.tolist() == list(range(12))


def test_compaction_bounds_the_objects_and_the_rewrites(store, tmp_path, monkeypatch):
    monkeypatch.setattr(log_format, "COMPACT_SEGMENTS", 4)
    receipts = write_files(store, range(64))
    opened = open_run(store, resume=False)
    log = record(store, opened, receipts, every=2)
    payload = len(log_format.encode(receipts.items()))
    assert log.bytes_written <= 2 * payload  # each receipt written at most twice
    assert len(segments(tmp_path, opened)) <= 64 // (2 * 4) + 4
    assert recorded_ids(store, PREFIX) == list(range(64))


def test_a_writer_of_an_old_generation_is_ignored(store):
    """A run that lost its lease and still writes after a new run started over: its segments
    belong to a generation the head no longer names."""
    receipts = write_files(store, range(6))
    stale = open_run(store, resume=False)
    fresh = open_run(store, resume=False)
    assert fresh.generation != stale.generation
    record(store, stale, receipts)  # late writes of the stale run
    assert open_run(store).confirmed.kept.tolist() == []
    record(store, fresh, {i: receipts[i] for i in (0, 1)})
    assert open_run(store).confirmed.kept.tolist() == [0, 1]


def test_two_writers_of_one_generation_and_a_file_written_again(store):
    """Two writers (a restarted checkpoint actor and the old one still saving): both add true
    receipts. A file written again has two receipts; the one matching the listing counts."""
    receipts = write_files(store, range(4))
    opened = open_run(store, resume=False)
    record(store, opened, {0: receipts[0], 1: receipts[1]})
    record(store, opened, {2: receipts[2], 3: receipts[3]})
    store.delete(layout.file_key(PREFIX, 3))
    rewritten = write_files(store, [3])  # written again: a new version tag
    assert open_run(store).confirmed.kept.tolist() == [0, 1, 2]
    record(store, open_run(store), rewritten)
    again = open_run(store)
    assert again.confirmed.kept.tolist() == [0, 1, 2, 3] and again.confirmed.recorded == 4


def test_changed_and_missing_files_are_dropped_with_reasons(store):
    receipts = write_files(store, range(4))
    record(store, open_run(store, resume=False), receipts)
    store.delete(layout.file_key(PREFIX, 1))
    store.put_bytes(layout.file_key(PREFIX, 2), b"longer than before")
    confirmed = open_run(store).confirmed
    assert confirmed.kept.tolist() == [0, 3] and confirmed.dropped == 2
    assert confirmed.reasons[1] == "missing" and confirmed.reasons[2].startswith("size 18, recorded ")
    assert "2 of 4 recorded files are not as written" in confirmed.message()


def test_another_configuration_is_refused_and_a_fresh_start_forgets(store, tmp_path):
    receipts = write_files(store, range(3))
    record(store, open_run(store, resume=False), receipts)
    with pytest.raises(CheckpointMismatchError, match="another configuration"):
        open_run(store, fingerprint="fingerprint-b")
    fresh = open_run(store, resume=False, fingerprint="fingerprint-b")
    head = json.loads((tmp_path / layout.checkpoint_head_key(fresh.folder)).read_text())
    assert head["fingerprint"] == "fingerprint-b" and head["generation"] == fresh.generation
    assert recorded_ids(store, PREFIX) == []
    leftovers = [p for p in (tmp_path / fresh.folder).rglob("*.jsonl")]
    assert leftovers == [], "the old generation's segments are removed"


def test_an_old_single_document_checkpoint_is_converted(store, tmp_path):
    receipts = write_files(store, range(3))
    legacy = tmp_path / layout.checkpoint_key(PREFIX)
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_text(json.dumps({"format": 2, "fingerprint": FP, "count": 3, "completed": [0, 1, 2],
                                  "files": {str(i): r for i, r in receipts.items()}}))
    with pytest.raises(CheckpointMismatchError):
        open_run(store, fingerprint="fingerprint-b")
    opened = open_run(store)
    assert opened.confirmed.kept.tolist() == [0, 1, 2] and not legacy.exists()
    assert recorded_ids(store, PREFIX) == [0, 1, 2]


@pytest.mark.parametrize("what", ["head", "segment"])
def test_an_unreadable_checkpoint_is_refused_in_one_line(store, tmp_path, what):
    receipts = write_files(store, range(2))
    opened = open_run(store, resume=False)
    record(store, opened, receipts)
    path = tmp_path / layout.checkpoint_head_key(opened.folder) if what == "head" else segments(tmp_path, opened)[0]
    path.write_text("{not json")
    with pytest.raises(SinkError, match=r"is unreadable .*: delete it or run with resume=false") as caught:
        open_run(store)
    assert "\n" not in str(caught.value)


def test_receipts_take_a_few_dozen_bytes_a_file():
    table = ReceiptTable()
    n = 100_000
    for i in range(n):
        table.add(i, 1000 + i, f"{i:08x}", f'"{i:032x}"')
    assert 5_000 in table and 200_000 not in table
    assert table.get(5_000) == {"size": 6_000, "crc32": f"{5_000:08x}"}
    assert table.nbytes / n <= 80, table.nbytes / n


def test_a_resume_with_a_smaller_plan_keeps_and_records_only_the_plan(store):
    """Receipts of files past the plan (a bigger run's) are neither kept nor recorded again: the
    kept receipts go on in a new generation."""
    receipts = write_files(store, range(6))
    record(store, open_run(store, resume=False), receipts)
    smaller = open_for_run(store, PREFIX, range(0, 4), 1, 0, FP, None, True)
    assert smaller.confirmed.kept.tolist() == [0, 1, 2, 3] and smaller.confirmed.recorded == 4
    assert recorded_ids(store, PREFIX) == [0, 1, 2, 3]
    assert open_run(store).confirmed.kept.tolist() == [0, 1, 2, 3]
