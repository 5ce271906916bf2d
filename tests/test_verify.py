"""`lakebench-ray verify`: a fresh dataset passes; every kind of damage fails, naming the problem.

Datasets are written with the pure core (no Ray) through the real stores at the keys the
generator uses, with ``make_plan(config)`` so footers and fingerprints are those of the config.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from lakebench_ray.config import load_config
from lakebench_ray.core import build_loyalty_table, file_key
from lakebench_ray.errors import CheckpointMismatchError
from lakebench_ray.layout import checkpoint_dir
from lakebench_ray.format import write_file
from lakebench_ray.planning import make_plan
from lakebench_ray.sinks import LocalStore
from lakebench_ray.verify import RuleSet, sample_ids, tolerance, verify
from lakebench_ray.verify.report import PLOTS, write_report

from .helpers import ROOT, local_receipts, replace

PREFIX = "customer/interactions"
NUM_FILES = 4
SETTINGS = ["num_files=4", "rows_per_file=3000", "payload_kb=0.25", "row_group_mb=1", "customer_id_max=50000"]


def config_for(uri, *extra):
    return load_config(None, [f"output.uri={uri}", *SETTINGS, *extra])


def write_dataset(store, config, ids=None, params=None) -> None:
    """Write files as the generator does and record their receipts in the checkpoint."""
    plan = make_plan(config)
    params = params or plan.params
    loyalty = build_loyalty_table(params.seed, params.customer_id_max, params.profile)
    receipts = {}
    for file_id in plan.file_ids if ids is None else ids:
        with store.open_writer(file_key(config.output.prefix, file_id)) as writer:
            write_file(params, loyalty, file_id, writer.stream)
            writer.commit()
        receipts[file_id] = writer.receipt.as_dict()
    record(store, config, receipts)


def record(store, config, receipts: dict) -> None:
    """Add receipts to the checkpoint of ``config`` (as a run would have recorded them; a
    checkpoint of another configuration is replaced, as a run with resume=false does)."""
    from lakebench_ray.control.checkpoint import CheckpointLog, open_for_run

    plan = make_plan(config)
    where = (store, config.output.prefix, plan.file_ids, plan.partition_count, plan.partition_index, plan.fingerprint,
             None)
    try:
        opened = open_for_run(*where, resume=True)
    except CheckpointMismatchError:
        opened = open_for_run(*where, resume=False)
    log = CheckpointLog(store, opened.folder, opened.generation)
    for file_id, receipt in receipts.items():
        log.hold(file_id, receipt)
    log.flush()


def rerecord(root: Path, file_id: int) -> None:
    """Record a file's current bytes as written (a file the generator itself made this way)."""
    data = part(root, file_id).read_bytes()
    record(LocalStore(root), config_for(root), {file_id: {"size": len(data), "crc32": f"{zlib.crc32(data):08x}", "tag": ""}})


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("verify") / "pristine"
    write_dataset(LocalStore(root), config_for(root))
    return root


@pytest.fixture
def dataset(pristine, tmp_path) -> Path:
    """A fresh copy of the pristine dataset to damage."""
    root = tmp_path / "bronze"
    shutil.copytree(pristine, root)
    return root


def part(root: Path, file_id: int) -> Path:
    return root / PREFIX / f"part-{file_id:06d}.parquet"


def rewrite(path: Path, change) -> None:
    """Read a file, change its table, write it back with the same footer metadata."""
    pf = pq.ParquetFile(path)
    meta = pf.schema_arrow.metadata
    rows_per_group = pf.metadata.row_group(0).num_rows
    table = change(pf.read())
    pq.write_table(table.replace_schema_metadata(meta), path, row_group_size=rows_per_group, compression="snappy")
    # As if the generator had written it so: the rules, not the digests, must catch these.
    root = path.parents[len(PREFIX.split("/"))]
    rerecord(root, int(path.stem.split("-")[1]))


def failed(result) -> set[str]:
    return {r.name for r in result.rules if r.ok is False}


def run_cli(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lakebench_ray", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


# -- a sound dataset ---------------------------------------------------------------------------------


def test_fresh_dataset_passes_every_rule(dataset):
    # Metadata beside the data is not "extra": checkpoints, reports, _SUCCESS markers, dot files.
    (dataset / PREFIX / "_lakebench").mkdir()
    (dataset / PREFIX / "_lakebench" / "checkpoint.json").write_text("{}")
    (dataset / PREFIX / "_SUCCESS").write_text("")
    (dataset / PREFIX / ".DS_Store").write_text("")
    result = verify(config_for(dataset))
    assert result.ok, result.problems
    assert not failed(result)
    assert all(r.ok is True for r in result.rules), [r.name for r in result.rules if r.ok is not True]
    assert result.conformance.rows == NUM_FILES * 3000
    assert len(result.conformance.files) == NUM_FILES
    names = {r.name for r in result.rules}
    for name in ("login_support_null.product_id", "support_only.issue_category", "campaign_utm_together",
                 "offline_no_device.browser", "share.loyalty_members", "share.loyalty_tier.gold",
                 "share.points_redeemed", "share.customer_1", "email_modes_present", "phone_modes_present",
                 "state_variants_present", "misspelt_cities_present", "payload_hex", "session_fingerprint_hex64"):
        assert name in names
    assert result.summary_line().startswith("verify OK: 4/4 files present")


def test_realistic_profile_passes_its_own_rules_and_is_told_apart(tmp_path):
    """verify checks the rules of the profile the files were made with: a realistic dataset passes
    them all, and checked as the default profile it fails naming the profile in the footers."""
    root = tmp_path / "realistic"
    write_dataset(LocalStore(root), config_for(root, "profile=realistic"))
    result = verify(config_for(root, "profile=realistic"))
    assert all(r.ok is True for r in result.rules), [r.problem for r in result.rules if r.ok is not True]
    names = {r.name for r in result.rules}
    assert {"dirty_fields_together", "share.dirty", "state_variants_present"} <= names
    other = verify(config_for(root))
    assert not other.ok
    assert "profile realistic in footer, config says lakebench" in other.problems[0]


def test_sample_files_checks_evenly_spaced_files_completeness_covers_all(dataset):
    part(dataset, 2).unlink()
    result = verify(config_for(dataset), sample_files=2)
    assert result.sampled == [0, 3]
    assert result.conformance.files == ["part-000000.parquet", "part-000003.parquet"]
    assert result.problems == ["missing file part-000002.parquet"]  # outside the sample, still found
    assert sample_ids(tuple(range(10)), 3) == [0, 4, 9]
    assert sample_ids(tuple(range(1, 20, 2)), 1) == [1]
    assert sample_ids((5, 7), 10) == [5, 7]
    assert sample_ids((5, 7), 0) == []


def test_partition_only_checks_its_own_files(dataset):
    part(dataset, 0).unlink()  # partition 0 of 2 (ids 0, 2)
    config = config_for(dataset, "partition.count=2", "partition.index=1")
    result = verify(config)
    assert result.ok, result.problems
    assert result.conformance.files == ["part-000001.parquet", "part-000003.parquet"]
    other = verify(config_for(dataset, "partition.count=2", "partition.index=0"))
    assert other.problems == ["missing file part-000000.parquet"]


# -- damage, each named ----------------------------------------------------------------------------------


def test_deleted_file(dataset):
    part(dataset, 3).unlink()
    result = verify(config_for(dataset))
    assert not result.ok
    assert result.problems == ["missing file part-000003.parquet"]
    assert failed(result) == {"files_present"}


def test_extra_file(dataset):
    shutil.copy(part(dataset, 0), part(dataset, 99))
    (dataset / PREFIX / "notes.txt").write_text("hello")
    result = verify(config_for(dataset))
    assert "extra file part-000099.parquet" in result.problems
    assert "extra file notes.txt" in result.problems
    assert failed(result) == {"no_extra_files"}


def test_truncated_file(dataset):
    path = part(dataset, 2)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result = verify(config_for(dataset))
    problems = [p for p in result.problems if p.startswith("part-000002.parquet: truncated or unreadable (")]
    assert len(problems) == 1, result.problems
    assert "files_readable" in failed(result)
    assert "part-000002.parquet" not in result.conformance.files


def test_file_from_another_seed(dataset):
    config = config_for(dataset)
    other = replace(make_plan(config).params, seed=7)
    write_dataset(LocalStore(dataset), config, ids=[1], params=other)
    result = verify(config)
    [problem] = [p for p in result.problems if p.startswith("part-000001.parquet:")]
    assert "seed 7 in footer, config says 42" in problem
    assert "config_fingerprint" in problem
    # A foreign file is reported once, not as a cascade of rule failures over its rows.
    assert failed(result) == {"footer_matches_plan"}
    assert "part-000001.parquet" not in result.conformance.files


def test_changed_schema(dataset):
    rewrite(part(dataset, 1), lambda t: t.set_column(5, "customer_id", pc.cast(t.column("customer_id"), pa.int32())))
    result = verify(config_for(dataset))
    assert "schema mismatch in part-000001.parquet: column customer_id is int32, spec says int64" in result.problems
    assert failed(result) == {"schema_matches_spec"}


def test_rows_breaking_a_rule(dataset):
    def login_with_product(table: pa.Table) -> pa.Table:
        itype = table.column("interaction_type").to_numpy(zero_copy_only=False)
        row = int(np.flatnonzero(itype == "login")[0])
        values = table.column("product_id").to_pylist()
        values[row] = "PRD12345"
        index = table.schema.get_field_index("product_id")
        return table.set_column(index, "product_id", pa.array(values, pa.string()))

    rewrite(part(dataset, 1), login_with_product)
    result = verify(config_for(dataset))
    assert failed(result) == {"login_support_null.product_id"}
    [problem] = result.problems
    assert problem.startswith("rule login_support_null.product_id violated in 1 rows (first: part-000001.parquet id 3")


def test_loyalty_inconsistent_across_files_and_a_bad_payload(dataset):
    def flip_tier(table: pa.Table) -> pa.Table:
        # The most frequent member customer of this file (so one seen in other files too) changes
        # tier here only.
        cid = table.column("customer_id").to_numpy()
        member = table.column("loyalty_member").to_numpy(zero_copy_only=False)
        tier = np.array(table.column("loyalty_tier").to_pylist(), dtype=object)
        rows = cid == np.bincount(cid[member]).argmax()
        tier[rows] = "gold" if tier[rows][0] != "gold" else "bronze"
        payload = table.column("interaction_payload").to_pylist()
        payload[0] = payload[0][:-1] + "G"
        table = table.set_column(table.schema.get_field_index("loyalty_tier"), "loyalty_tier", pa.array(tier, pa.string()))
        return table.set_column(table.schema.get_field_index("interaction_payload"), "interaction_payload",
                                pa.array(payload, pa.string()))

    rewrite(part(dataset, 2), flip_tier)
    result = verify(config_for(dataset))
    # Points follow the tier's rate, so that customer's purchases (if any here) break it too.
    assert {"loyalty_consistent_per_customer", "payload_hex"} <= failed(result) <= {
        "loyalty_consistent_per_customer", "payload_hex", "points_earned_rule"}
    assert "rule payload_hex violated in 1 rows (first: part-000002.parquet id 6000)" in result.problems


def test_corrupt_data_pages_behind_an_intact_footer(dataset):
    path = part(dataset, 1)
    data = bytearray(path.read_bytes())
    for offset in range(len(data) // 3, len(data) // 3 + 4000, 7):
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))
    result = verify(config_for(dataset))
    assert any(p.startswith("part-000001.parquet: unreadable data (") for p in result.problems), result.problems


def test_files_past_the_plan_are_extra_unless_the_run_is_sustained(dataset):
    config = config_for(dataset)
    write_dataset(LocalStore(dataset), config, ids=[4, 5])
    assert verify(config).problems == ["extra file part-000004.parquet", "extra file part-000005.parquet"]
    sustained = verify(config_for(dataset, "duration_s=60"))
    assert sustained.ok, sustained.problems
    assert {4, 5} <= set(sustained.completeness.files)


def test_leftover_temp_file(dataset):
    (dataset / PREFIX / ".part-000002.parquet.tmp-4242-deadbeef").write_bytes(b"PAR1 half a file")
    result = verify(config_for(dataset))
    assert result.problems == ["partial write left behind for part-000002.parquet (temp file or unfinished multipart upload)"]
    assert failed(result) == {"no_partial_writes"}


def test_unit_rules_and_tolerance():
    rules = RuleSet()
    rules.exact("e", "no bad rows")
    rules.share("s", 0.5, "half")
    rules.presence("p", ("a", "b"), "both", min_population=10)
    rules.count("e", np.array([False, True, True]), 3, lambda m: f"row {int(np.argmax(m))}")
    rules.add_share("s", 5000, 10000)
    rules.observe("p", ["a"], 5)
    e, s, p = rules.results()
    assert (e.ok, e.problem) == (False, "rule e violated in 2 rows (first: row 1)")
    assert s.ok is True and p.ok is None  # too few rows to judge presence
    rules.observe("p", ["a"], 50)
    assert rules.results()[2].problem == "rule p: never observed b among 55 rows"
    assert tolerance(0.5, 10_000) == pytest.approx(6 * 0.005 + 1e-3)


# -- the command line ----------------------------------------------------------------------------------


def test_cli_pass_and_fail(dataset, tmp_path):
    args = ["verify", f"output.uri={dataset}", *SETTINGS]
    # Verification needs no Ray (nor boto3 for a local dataset): block both.
    blocker = tmp_path / "block"
    blocker.mkdir()
    for module in ("ray", "boto3"):
        (blocker / f"{module}.py").write_text(f"raise ImportError('{module} blocked for the test')\n")
    ok = run_cli(*args, "--json", str(tmp_path / "ok.json"), env=dict(os.environ, PYTHONPATH=str(blocker)))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().splitlines()[-1].startswith("verify OK: 4/4 files present, 4 digested, 4 files (12,000 rows)")
    assert re.search(r"^login_support_null\.product_id\s+0 rows\s+0 of 12,000 rows\s+pass$", ok.stdout, re.M)
    doc = json.loads((tmp_path / "ok.json").read_text())
    assert doc["ok"] is True and doc["problems"] == [] and len(doc["files"]["checked"]) == NUM_FILES
    assert {r["name"] for r in doc["rules"]} >= {"files_present", "share.interaction_type.browse", "payload_hex"}

    part(dataset, 3).unlink()
    bad = run_cli(*args, "--sample-files", "1", "--json", str(tmp_path / "bad.json"))
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing file part-000003.parquet" in lines[0] and "Traceback" not in bad.stderr
    assert lines[0].startswith("lakebench-ray: error: verify FAILED: 1 problem(s)")
    assert re.search(r"^files_present\s+4 files\s+3\s+FAIL$", bad.stdout, re.M)
    doc = json.loads((tmp_path / "bad.json").read_text())
    assert doc["ok"] is False and doc["files"]["missing"] == ["part-000003.parquet"]
    assert doc["sampled_files"] == ["part-000000.parquet"]


def test_cli_report_without_matplotlib_says_how_to_install(dataset, tmp_path):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "matplotlib.py").write_text("raise ImportError('blocked for the test')\n")
    env = dict(os.environ, PYTHONPATH=str(blocker))
    report = tmp_path / "r.html"
    result = run_cli("verify", f"output.uri={dataset}", *SETTINGS, "--report", str(report), env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--report needs matplotlib" in lines[0] and "pip install 'lakebench-ray[report]'" in lines[0]
    assert not report.exists() and result.stdout == ""  # failed before any work


# -- the HTML report ------------------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _failing_report(dataset, tmp_path):
    part(dataset, 3).unlink()  # a failing dataset shows its problems too
    page = tmp_path / "report.html"
    write_report(verify(config_for(dataset)), str(page))
    return page


def test_html_report_is_self_contained(dataset, tmp_path):
    pytest.importorskip("matplotlib", reason="the report needs matplotlib (pip install 'lakebench-ray[report]')")
    text = _failing_report(dataset, tmp_path).read_text()
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', text)
    assert len(images) == len(PLOTS) == 6
    for slug, _caption, _plot in PLOTS:
        assert f'<figure id="{slug}"><img' in text
    for data in images:
        width, height = _png_size(base64.b64decode(data))
        assert width > 300 and height > 200
    assert not re.search(r'(src|href)="(?!data:)', text), "external resource in the report"
    assert "missing file part-000003.parquet" in text and "FAILED" in text


@pytest.mark.skipif(not os.environ.get("LAKEBENCH_SCREENSHOT"),
                    reason="opt-in: set LAKEBENCH_SCREENSHOT=1 with chromium installed to render the report")
def test_html_report_renders_in_a_browser(dataset, tmp_path):
    pytest.importorskip("matplotlib", reason="the report needs matplotlib (pip install 'lakebench-ray[report]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "LAKEBENCH_SCREENSHOT is set but chromium is not installed (Debian: apt-get install chromium)"
    page = _failing_report(dataset, tmp_path)
    shot = tmp_path / "report.png"
    profile = tmp_path / "chromium-profile"
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri()],
        capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    data = shot.read_bytes()
    assert _png_size(data) == (1200, 3000)
    assert len(data) > 50_000, "screenshot looks blank"  # six plots of text and colour, not a white page


# -- S3 ---------------------------------------------------------------------------------------------------


def test_s3_dataset_verifies_and_a_partial_upload_fails(s3_env, s3_bucket, s3_client):
    from lakebench_ray.sinks import open_store

    uri = f"s3://{s3_bucket}/bronze"
    config = config_for(uri)
    store = open_store(uri)  # endpoint and credentials from the environment (s3_env)
    write_dataset(store, config)
    result = verify(config)
    assert result.ok, result.problems
    assert result.conformance.rows == NUM_FILES * 3000

    # One byte of the payload changed in place (an object rewritten with it): named, by digest.
    key = f"bronze/{PREFIX}/part-000003.parquet"
    data = s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=payload_flip(data))
    result = verify(config, sample_files=1)
    assert failed(result) == {"content_matches_record"}, result.problems
    assert [p for p in result.problems if "part-000003.parquet" in p][0].startswith("bytes of part-000003.parquet differ")
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=data)

    s3_client.create_multipart_upload(Bucket=s3_bucket, Key=f"bronze/{PREFIX}/part-000002.parquet")
    s3_client.delete_object(Bucket=s3_bucket, Key=f"bronze/{PREFIX}/part-000001.parquet")
    result = verify(config)
    assert "missing file part-000001.parquet" in result.problems
    assert any(p.startswith("partial write left behind for part-000002.parquet") for p in result.problems), result.problems
    assert failed(result) == {"files_present", "no_partial_writes"}


def payload_flip(data: bytes) -> bytes:
    """The issue's tamper: one hex digit '9' turned into '8' in the middle of the payload column's
    pages (random hex does not compress, so it is there as is and the file still decodes)."""
    pf = pq.ParquetFile(pa.BufferReader(data))
    index = pf.schema_arrow.get_field_index("interaction_payload")
    chunk = pf.metadata.row_group(0).column(index)
    start, size = chunk.data_page_offset, chunk.total_compressed_size
    at = data.index(b"9", start + size // 2, start + size)
    return data[:at] + b"8" + data[at + 1:]


def test_one_changed_payload_byte_fails_naming_the_file(dataset, tmp_path):
    path = part(dataset, 2)
    path.write_bytes(payload_flip(path.read_bytes()))
    # The file still decodes and every rule holds: only its bytes tell.
    result = verify(config_for(dataset), sample_files=1)
    assert failed(result) == {"content_matches_record"}
    [problem] = result.problems
    assert problem.startswith("bytes of part-000002.parquet differ from what was written (")
    full = verify(config_for(dataset))
    assert failed(full) == {"content_matches_record"}, full.problems
    # On the command line: one line naming the file.
    bad = run_cli("verify", f"output.uri={dataset}", *SETTINGS, "--sample-files", "1")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    [line] = bad.stderr.strip().splitlines()
    assert "bytes of part-000002.parquet differ from what was written" in line


def test_deep_regenerates_and_compares(dataset):
    config = config_for(dataset)
    # A changed file whose digest was recorded after the change: the record agrees, a fresh
    # generation does not.
    path = part(dataset, 1)
    path.write_bytes(payload_flip(path.read_bytes()))
    rerecord(dataset, 1)
    assert verify(config).ok
    deep = verify(config, deep=True)
    assert failed(deep) == {"content_matches_regenerated"}
    [problem] = deep.problems
    assert problem.startswith("bytes of part-000001.parquet differ from a fresh generation of it (")
    assert sorted(deep.content.regenerated) == [0, 1, 2, 3]
    # A sample regenerates only the sampled files.
    assert sorted(verify(config, deep=True, sample_files=2).content.regenerated) == [0, 3]
    # On the command line (no Ray address: in this process), one line naming the file.
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    assert run_cli("verify", f"output.uri={dataset}", *SETTINGS, env=env).returncode == 0
    bad = run_cli("verify", f"output.uri={dataset}", *SETTINGS, "--deep", env=env)
    assert bad.returncode == 1
    [line] = bad.stderr.strip().splitlines()
    assert "bytes of part-000001.parquet differ from a fresh generation of it" in line


def test_digests_of_partition_runs_verify_the_whole_dataset(dataset):
    """A dataset made by partition runs (one checkpoint each) verifies as a whole."""
    config = config_for(dataset)
    store = LocalStore(dataset)
    whole = local_receipts(dataset, PREFIX)
    shutil.rmtree(dataset / checkpoint_dir(PREFIX))
    for index in range(2):
        part_config = config_for(dataset, "partition.count=2", f"partition.index={index}")
        record(store, part_config, {i: r for i, r in whole.items() if i % 2 == index})
    result = verify(config)
    assert result.ok, result.problems
    assert sorted(result.content.recorded) == [0, 1, 2, 3]


def test_unrecorded_files_fail_by_default_and_deep_vouches_for_them(dataset):
    shutil.rmtree(dataset / "_lakebench")
    result = verify(config_for(dataset))
    assert failed(result) == {"content_recorded"}
    [problem] = result.problems
    assert problem.startswith("4 file(s) have no digest recorded at write time (part-000000.parquet")
    assert "verify --deep" in problem
    deep = verify(config_for(dataset), deep=True)
    assert deep.ok, deep.problems


@pytest.mark.slow
def test_deep_on_ray(ray_local, dataset):
    from lakebench_ray.runtime.deep import regenerate_on_ray

    path = part(dataset, 3)
    path.write_bytes(payload_flip(path.read_bytes()))
    result = verify(config_for(dataset), deep=True, regenerate=regenerate_on_ray(None))
    assert failed(result) == {"content_matches_record", "content_matches_regenerated"}
    assert sorted(result.content.regenerated) == [0, 1, 2, 3]
    assert ray_local.is_initialized()  # a Ray it did not start stays up
