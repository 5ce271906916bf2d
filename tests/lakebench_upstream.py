"""Lakebench itself, installed in a side environment, as ground truth for the drop-in.

``../shared/lakebench/upstream`` is Lakebench's own source. Its config loader and datagen
deployer (``render_lakebench_job.py``) say which Job Lakebench renders for a config, and its
generator (``datagen/generate.py``) how that Job's arguments become files and rows. They need
pydantic, kubernetes, numpy, pyarrow, ..., which the project's environment must not depend on,
so they live in ``.venv-lakebench`` beside the project's ``.venv`` (made by ``.ci/run``, or here
on first use, and reused after). Tests that need it skip, saying why, only when it cannot be made.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .helpers import ROOT

SHARED = ROOT.parent / "shared" / "lakebench"
UPSTREAM = SHARED / "upstream"
VENV = ROOT / ".venv-lakebench"
PYTHON = VENV / "bin" / "python"
#: Run by the side environment's Python: renders every config given, once each.
RENDER_ALL = Path(__file__).with_name("lakebench_render_all.py")
_PROBE = "import lakebench.deploy.datagen, numpy, pyarrow, tqdm"


def _works() -> bool:
    if not PYTHON.is_file():
        return False
    return subprocess.run([str(PYTHON), "-c", _PROBE], capture_output=True, timeout=120).returncode == 0


def side_python() -> tuple[Path | None, str]:
    """The side environment's Python, made if missing; or None and why it cannot be made."""
    if not (UPSTREAM / "pyproject.toml").is_file():
        return None, f"Lakebench's source is not beside the repository ({UPSTREAM} is missing)"
    if _works():
        return PYTHON, ""
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [str(PYTHON), "-m", "pip", "install", "-q", str(UPSTREAM), "-r", str(UPSTREAM / "datagen" / "requirements.txt")],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            return None, f"installing Lakebench into {VENV} took more than 15 minutes"
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return None, f"Lakebench could not be installed into {VENV} ({' '.join(step[-3:])}): {last}"
    return (PYTHON, "") if _works() else (None, f"{VENV} was made but cannot import Lakebench")


def render_all(python: Path, configs: list[Path], env: dict[str, str]) -> dict[str, object]:
    """config path -> what Lakebench renders for it (a list of Jobs, one per cycle, each with the
    file count and rows per file its generator derives from the Job's arguments) or
    ``{"error": [...]}``; one subprocess for all configs."""
    done = subprocess.run([str(python), str(RENDER_ALL), str(SHARED / "render_lakebench_job.py"),
                           str(UPSTREAM / "datagen"), *map(str, configs)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)
