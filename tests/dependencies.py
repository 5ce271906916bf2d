"""The project's declared dependencies, read from ``pyproject.toml`` (one reader for the test that
keeps ``runtime_env.yaml`` in step and for ``scripts/check_lower_bounds.py``)."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def runtime_requirements() -> list[Requirement]:
    """``[project.dependencies]`` of pyproject.toml, parsed."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [Requirement(line) for line in data["project"]["dependencies"]]
