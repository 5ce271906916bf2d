"""The command line: one clear line and a non-zero exit for every bad input, nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lakebench_ray.cli import main

from .helpers import ROOT


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lakebench_ray", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    "override, needle",
    [
        ("scal=2", "unknown config key 'scal': did you mean 'scale'?"),
        ("ray.num_actor=2", "did you mean 'ray.num_actors'?"),
        ("scale=abc", "scale: 'abc' is not a valid float"),
        ("scale=0", "scale: must be greater than 0"),
        ("scale=-3", "scale: must be greater than 0"),
        ("file_size_mb=0.5", "file_size_mb: must be at least 1"),
        ("payload_kb=-1", "payload_kb:"),
        ("dirty_ratio=1.5", "dirty_ratio: must be between 0 and 1"),
        ("duplicate_email_pct=-0.1", "duplicate_email_pct: must be between 0 and 1"),
        ("timestamp_end=2023-06-01", "timestamp_end: must be after timestamp_start"),
        ("customer_id_max=0", "customer_id_max: must be at least 1"),
        ("ray.num_actors=0", "ray.num_actors: must be at least 1"),
        ("num_files=0", "num_files: must be at least 1"),
        ("s3.part_size_mb=4", "s3.part_size_mb: must be an integer from 5"),
        ("output.uri=gs://bucket", "scheme 'gs://' is not supported"),
        ("oops", "is not KEY=VALUE"),
    ],
)
def test_bad_input_one_line_nonzero_nothing_written(tmp_path, capsys, override, needle):
    """In process, through the command line's own entry point (its one subprocess smoke test is
    ``test_bad_input.py::test_cli_prints_one_line``)."""
    out = tmp_path / "out"
    code = main(["generate", f"output.uri={out}", override])
    captured = capsys.readouterr()
    assert code != 0 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lakebench-ray: error: ") and needle in lines[0], captured.err
    assert not out.exists()


def test_unreachable_ray_address(tmp_path):
    out = tmp_path / "out"
    result = run("generate", f"output.uri={out}", "ray.address=127.0.0.1:1")
    assert result.returncode != 0 and result.stderr.strip().count("\n") == 0
    assert "cannot reach Ray at 127.0.0.1:1" in result.stderr and "check ray.address" in result.stderr
    assert not out.exists()


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("generate", f"output.uri={blocker}/sub", "num_files=1")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "choose a writable output.uri" in result.stderr


def test_missing_config_file(tmp_path, capsys):
    assert main(["plan", "--config", str(tmp_path / "nope.yaml")]) != 0
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err and err.count("\n") == 1


def test_unknown_key_in_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("output:\n  urii: /tmp/x\n")
    assert main(["plan", "--config", str(bad)]) != 0
    assert "unknown config key 'output.urii': did you mean 'output.uri'?" in capsys.readouterr().err


def test_plan_prints_sizes_and_config():
    result = run("plan", "--config", "configs/local.yaml")
    assert result.returncode == 0, result.stderr
    assert "files            6" in result.stdout and "effective config:" in result.stdout
    assert "file_size_mb: 16.0" in result.stdout


def test_sample_prints_rows_without_ray_or_output(tmp_path):
    out = tmp_path / "never"
    result = run("sample", "-n", "2", f"output.uri={out}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("-[ row ") == 2 and "interaction_payload" in result.stdout
    assert not out.exists()


@pytest.mark.slow
def test_readme_run_command_config(tmp_path):
    """The README's main job (configs/local.yaml) end to end, writing ~100 MB, via the console
    script entry point and a local Ray that the command starts and stops itself."""
    out = tmp_path / "bronze"
    result = run("generate", "--config", "configs/local.yaml", f"output.uri={out}", timeout=300)
    assert result.returncode == 0, result.stderr
    files = sorted((out / "customer" / "interactions").glob("part-*.parquet"))
    assert len(files) == 6
    sizes = [f.stat().st_size / 2**20 for f in files]
    assert all(abs(s / 16 - 1) < 0.05 for s in sizes), sizes
    assert "done: 6 files written" in result.stdout


def test_cli_refuses_a_local_output_for_kubernetes():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "lakebench_ray", "kuberay", "output.uri=/tmp/x"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
