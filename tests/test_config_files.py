"""The packaged configs: ``default.yaml`` is the code's defaults, every key documented; named
configs ship in the wheel and ``--config local`` finds them in an installed package."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import zipfile

import pytest
from omegaconf import OmegaConf

from lakebench_ray.config import Config, S3Config, all_keys, config_file, load_config, packaged_configs
from lakebench_ray.errors import ConfigError
from lakebench_ray.sinks import open_store
from lakebench_ray.sinks.s3 import S3Options

from .helpers import ROOT


def test_default_yaml_is_the_codes_defaults_and_documents_every_key():
    path = packaged_configs()["default"]
    assert OmegaConf.to_container(OmegaConf.load(path)) == dataclasses.asdict(Config())
    text = path.read_text()
    for key in all_keys():
        line = next((ln for ln in text.splitlines() if ln.strip().startswith(key.rsplit(".", 1)[-1] + ":")), None)
        assert line is not None and "#" in line, f"{key} has no documented line in default.yaml"


def test_every_s3_option_is_a_config_key_with_the_same_default():
    """S3Config holds every S3Options field; a key the environment can set defaults to None (the
    environment, else S3Options's default), any other to S3Options's own default."""
    config_fields = {f.name: f.default for f in dataclasses.fields(S3Config)}
    option_fields = {f.name: f.default for f in dataclasses.fields(S3Options)}
    assert config_fields.keys() == option_fields.keys()
    for name, default in config_fields.items():
        assert default is None or default == option_fields[name], name


def test_config_checks_s3_keys_without_loading_boto3():
    """Only the sinks import boto3, and only when they make requests: the config layer uses S3Options."""
    code = ("import sys, lakebench_ray.config as c; c.load_config(None, ['output.uri=s3://bucket']); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'ray'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_new_s3_keys_reach_the_stores_options(monkeypatch):
    for name in ("S3_SIGN_PAYLOAD", "S3_CHECKSUM"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(None, ["output.uri=s3://bucket/data", "s3.sign_payload=true", "s3.checksum=md5",
                                "s3.retry_mode=adaptive", "s3.connect_timeout=3", "s3.read_timeout=30"])
    options = open_store(**config.store_spec()).options
    assert (options.sign_payload, options.payload_signed, options.checksum) == (True, True, "md5")
    assert (options.retry_mode, options.connect_timeout, options.read_timeout) == ("adaptive", 3.0, 30.0)
    # Unset, they still come from the environment.
    monkeypatch.setenv("S3_SIGN_PAYLOAD", "false")
    monkeypatch.setenv("S3_CHECKSUM", "md5")
    options = open_store(**load_config(None, ["output.uri=s3://bucket"]).store_spec()).options
    assert (options.sign_payload, options.checksum) == (False, "md5")


def test_named_configs_resolve_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert set(packaged_configs()) >= {"default", "local"}
    assert config_file("local") == packaged_configs()["local"]
    assert config_file("local.yaml") == packaged_configs()["local"]
    assert load_config("local").file_size_mb == 16
    with pytest.raises(ConfigError, match="packaged config by name \\(default, local\\)"):
        config_file("nope")
    (tmp_path / "local.yaml").write_text("scale: 0.5\n")  # a file of that name wins
    assert load_config("local.yaml").scale == 0.5


@pytest.mark.slow
def test_the_wheel_runs_the_local_config_in_an_empty_directory(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)], check=True,
                   timeout=600, capture_output=True)
    (wheel,) = dist.glob("lakebench_ray-*.whl")
    assert {"lakebench_ray/configs/default.yaml", "lakebench_ray/configs/local.yaml"} <= set(zipfile.ZipFile(wheel).namelist())
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, timeout=300, capture_output=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target))
    # The named config is found in the installed package: its plan is the local config's 6 files,
    # and a run of it writes where it says (one file here: the README's own command, all 6 files,
    # runs in test_cli).
    plan = subprocess.run([sys.executable, "-m", "lakebench_ray", "plan", "--json", "--config", "local"],
                          cwd=empty, env=env, capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["plan"]["files"] == 6
    done = subprocess.run([sys.executable, "-m", "lakebench_ray", "generate", "--config", "local", "num_files=1",
                           "ray.address=local"], cwd=empty, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (empty / "lakebench-data").rglob("part-*.parquet")] == ["part-000000.parquet"]
    assert str(target) in subprocess.run(
        [sys.executable, "-c", "import lakebench_ray; print(lakebench_ray.__file__)"], cwd=empty, env=env,
        capture_output=True, text=True, check=True).stdout


def test_generation_keys_are_genparams_own_fields_passed_through():
    """The keys the config shares with GenParams keep GenParams's defaults and reach it by name,
    so a new generation field cannot be defaulted or copied differently in two places."""
    from lakebench_ray.config import GEN_KEYS
    from lakebench_ray.core import GenParams

    shared = {f.name for f in dataclasses.fields(GenParams)} & {f.name for f in dataclasses.fields(Config)}
    assert set(GEN_KEYS) == shared - {"rows_per_file"}
    defaults = GenParams()
    for name in GEN_KEYS:
        assert getattr(Config(), name) == getattr(defaults, name), name
    changed = load_config(None, ["seed=7", "profile=realistic", "timestamp_order=by_file", "dirty_ratio=0.5",
                                 "timestamp_start=2023-05-01", "payload_kb=1", "customer_id_max=99",
                                 "duplicate_email_pct=0.2", "timestamp_end=2026-01-01"])
    params = changed.gen_params(rows_per_file=10, row_group_rows=5)
    for name in GEN_KEYS:
        assert getattr(params, name) == getattr(changed, name) != getattr(defaults, name), name
