"""The image: its entrypoint is Lakebench's datagen Job contract, it runs as a non-root user and
holds no credentials (checked on the build files; no container runtime needed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import ROOT
from .test_kuberay import dockerfile_instructions

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


def run_entrypoint(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    return subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.slow
def test_entrypoint_is_the_job_contract_and_runs_other_commands_as_given():
    instructions = dockerfile_instructions()
    (entry,) = [rest for word, rest in instructions if word == "ENTRYPOINT"]
    assert entry == '["/home/ray/lakebench/entrypoint.sh"]'
    refused = run_entrypoint("--target-tb", "0.01", "--bucket", "b", "--no-such-flag")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "lakebench-ray: error: lakebench-job: unrecognized arguments: --no-such-flag "
        "(see lakebench-ray lakebench-job --help)"
    ]
    helped = run_entrypoint("--help")
    assert helped.returncode == 0 and "--target-tb" in helped.stdout and "--duration" in helped.stdout
    passed = run_entrypoint("python", "-c", "print('as given')")
    assert passed.returncode == 0 and passed.stdout.strip() == "as given"
    line = run_entrypoint("ulimit -n 1024; echo as a shell line")
    assert line.returncode == 0 and line.stdout.strip() == "as a shell line"


def test_image_runs_as_non_root_and_holds_no_credentials():
    instructions = dockerfile_instructions()
    users = [rest for word, rest in instructions if word == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    text = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)|secret_key|accessKey", text)
    assert not [rest for word, rest in instructions if word == "ENV" and re.search(r"KEY|SECRET|TOKEN", rest)]


def test_docs_show_the_one_line_change_and_the_rayjob_alternative():
    text = (ROOT / "docs" / "lakebench.md").read_text()
    assert "images:\n  datagen: " in text
    assert "lakebench-ray kuberay --lakebench-config my-config.yaml" in text
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in quick_start.splitlines() if line.startswith(("python3 ", ".venv/"))]
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/lakebench-ray generate --config configs/local.yaml",
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest",
    ]
    assert "docs/lakebench.md" in readme
