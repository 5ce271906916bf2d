"""Declared dependencies that hold: ``runtime_env.yaml`` (what ``ray job submit`` installs into a
stock Ray cluster) asks for exactly what ``pyproject.toml`` declares, and the lowest versions
allowed run the main job (``scripts/check_lower_bounds.py``, run by ``.ci/run``)."""

from __future__ import annotations

import pytest

import yaml
from packaging.requirements import Requirement

from .dependencies import ROOT, runtime_requirements

pytestmark = pytest.mark.unit  # no Ray, servers or processes (guarded in conftest)


def _key(req: Requirement) -> tuple[str, str, frozenset]:
    return req.name.lower(), str(req.specifier), frozenset(req.extras)


def test_runtime_env_installs_what_pyproject_declares():
    wanted = {_key(r) for r in runtime_requirements() if r.name != "ray"}
    pip = yaml.safe_load((ROOT / "runtime_env.yaml").read_text())["pip"]
    assert {_key(Requirement(line)) for line in pip} == wanted


def test_every_runtime_dependency_has_one_lower_bound():
    """The lower-bound check pins each dependency to its '>=' bound: each must have exactly one."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("check_lower_bounds", ROOT / "scripts" / "check_lower_bounds.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_lower_bounds", module)
    spec.loader.exec_module(module)
    pins = module.lower_bound_pins()
    names = sorted(p.split("==")[0].split("[")[0] for p in pins)
    assert names == sorted(r.name for r in runtime_requirements())
    assert all("==" in p for p in pins)


def test_runtime_env_ships_the_whole_package_and_leaves_the_rest():
    """Ray matches ``excludes`` as gitignore patterns: a bare ``kuberay`` also dropped the
    ``lakebench_ray/kuberay`` package, and a job on a stock cluster failed to import it."""
    from ray._private.thirdparty.pathspec import PathSpec

    spec = PathSpec.from_lines("gitwildmatch", yaml.safe_load((ROOT / "runtime_env.yaml").read_text())["excludes"])
    package = [str(p.relative_to(ROOT)) for p in (ROOT / "lakebench_ray").rglob("*") if "__pycache__" not in p.parts]
    assert package and not [p for p in package if spec.match_file(p)]
    assert all(spec.match_file(p) for p in ("tests/conftest.py", "docs/architecture.md", "kuberay/rayjob.yaml"))
