"""Every entry point refuses a bad file or number in one line: YAML errors with their line, a key
given twice named, a plain string that is no mapping, an alias bomb or deep nesting bounded
(through ``--config`` and ``--lakebench-config`` alike), non-finite and out-of-range numbers in
the Lakebench job and the Lakebench config, ``JOB_COMPLETION_INDEX=²``, an override with no value.
In process (fast); the bounds are counts, not times."""

from __future__ import annotations

import pytest

import lakebench_ray
from lakebench_ray.errors import ConfigError, LakebenchError
from lakebench_ray.lakebench.config_file import read_lakebench_config
from lakebench_ray.lakebench.job import load_job_config

pytestmark = pytest.mark.unit  # no Ray, servers or processes (guarded in conftest)

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))
FILES = {
    "syntax": ("scale: 1\n  seed: [1\n", "is not valid YAML: line 2, column 7: mapping values are not allowed here"),
    "duplicate": ("scale: 1\nseed: 1\nseed: 2\n", "line 3: key 'seed' is given twice (first on line 2): keep one"),
    "plain string": ("scale=10\n", "must hold a mapping of keys to values (KEY: VALUE lines), not a str ('scale=10'); "
                                   "KEY=VALUE overrides go on the command line"),
    "alias bomb": (BOMB, "expands to more than 100,000 values through its aliases"),
    "deep nesting": ("scale: " + "[" * 5000 + "]" * 5000 + "\n", "line 1: nested deeper than 100 levels"),
}


def one_line(call) -> str:
    with pytest.raises(LakebenchError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("case", list(FILES))
@pytest.mark.parametrize("entry", ["--config", "--lakebench-config"])
def test_a_bad_yaml_file_is_one_line_naming_the_line(tmp_path, case, entry):
    text, needle = FILES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    if entry == "--config":
        message = one_line(lambda: lakebench_ray.load_config(path))
        assert message.startswith(f"config file '{path}'"), message
    else:
        message = one_line(lambda: read_lakebench_config(path, environ={}))
        assert message.startswith(f"Lakebench config '{path}'"), message
    assert needle in message, message


LAKEBENCH = "platform: {storage: {s3: {buckets: {bronze: bronze}}}}\n"


@pytest.mark.parametrize("line, needle", [
    ("scale: .inf", "scale: must be a finite number, got inf"),
    ("scale: .nan", "scale: must be a finite number"),
    ("scale: 1e400", "scale: must be a finite number"),
    ("scale: 1e308", "scale: must be from 0.01 to 10000"),
    ("architecture: {workload: {datagen: {file_size: 0}}}", "file_size: 0 is not a size such as 512mb"),
    ("architecture: {workload: {datagen: {file_size: " + "9" * 400 + "tb}}}", "is not a size such as 512mb"),
])
def test_lakebench_config_numbers_out_of_range_are_one_line(tmp_path, line, needle):
    path = tmp_path / "lakebench.yaml"
    path.write_text(LAKEBENCH + line + "\n")
    assert needle in one_line(lambda: read_lakebench_config(path, environ={}))


@pytest.mark.parametrize("args, needle", [
    (["--target-tb", "inf"], "--target-tb: must be a finite number greater than 0, got 'inf'"),
    (["--target-tb", "1e300"], "--target-tb: 1e+300 TiB makes more than 10,000,000 files"),
    (["--target-tb", "1", "--file-size-mb", "inf"], "--file-size-mb: must be a finite number greater than 0"),
    (["--target-tb", "1", "--payload-kb", "inf"], "payload_kb: must be a finite number"),
    (["--target-tb", "1", "--duration", "nan"], "must be a finite number"),
])
def test_lakebench_job_numbers_out_of_range_are_one_line(args, needle):
    assert needle in one_line(lambda: load_job_config(["--bucket", "bronze", "--mode", "continuous", *args],
                                                      environ={}))


def test_a_job_completion_index_of_unicode_digits_is_one_line(monkeypatch):
    """'²' is a digit to str.isdigit, but not to int()."""
    assert "JOB_COMPLETION_INDEX" in one_line(lambda: load_job_config(
        ["--bucket", "b", "--target-tb", "0.001", "--total-nodes", "2"], environ={"JOB_COMPLETION_INDEX": "²"}))
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "²")
    assert "JOB_COMPLETION_INDEX: '²' is not a whole number" in one_line(
        lambda: lakebench_ray.load_config(None, ["partition.count=2"]))


@pytest.mark.parametrize("override", ["output.uri= ", "output.uri=", "seed="])
def test_an_override_without_a_value_says_so(override):
    key = override.split("=")[0]
    message = one_line(lambda: lakebench_ray.load_config(None, [override]))
    assert isinstance(ConfigError(message), ConfigError)
    assert message.startswith(key) and "None" not in message, message


def test_plan_refuses_a_bucket_name_that_generate_would_refuse():
    """boto3 refuses such a name before any request; the config now does, for plan too."""
    message = one_line(lambda: lakebench_ray.load_config(None, ["output.uri=s3://bad bucket!/x"]))
    assert message.startswith("output.uri: 'bad bucket!' is not a bucket name"), message
    from lakebench_ray.cli import main

    assert main(["plan", "output.uri=s3://bad bucket!"]) == 1
