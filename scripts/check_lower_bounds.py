"""Install every runtime dependency at exactly its declared lower bound and run the main job and
``verify`` with it.

A lower bound in ``pyproject.toml`` is a promise: ``pip`` may pick any version at or above it, so
each one must really work. This makes a fresh venv with each dependency pinned to its bound (Ray
excepted: it is pinned to the Ray of the running interpreter, since its own range is tested by
``tests/test_ray_range.py`` and ``scripts/smoke_oldest_ray.sh``), installs the project without its
dependencies, and runs ``generate`` then ``verify`` on a small local dataset. Exit 0 when both
pass; the versions used are printed. Used by ``.ci/run``.

    python scripts/check_lower_bounds.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from dependencies import runtime_requirements  # noqa: E402


def lower_bound_pins() -> list[str]:
    """``name==lower`` for every runtime dependency; Ray at the running interpreter's version."""
    import importlib.metadata as md

    pins = []
    for req in runtime_requirements():
        if req.name == "ray":
            extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
            pins.append(f"ray{extras}=={md.version('ray')}")
            continue
        lows = [s.version for s in req.specifier if s.operator == ">="]
        if len(lows) != 1:
            raise SystemExit(f"{req.name}: no single '>=' lower bound in pyproject.toml ({req.specifier})")
        pins.append(f"{req.name}=={lows[0]}")
    return pins


def run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", help="make the venv and data here and keep them (default: a temp dir)")
    args = ap.parse_args()
    pins = lower_bound_pins()
    with tempfile.TemporaryDirectory(prefix="lakebench-lower-") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        env_dir = work / "venv"
        venv.create(env_dir, with_pip=True)
        py = str(env_dir / "bin" / "python")
        run([py, "-m", "pip", "install", "-q", *pins])
        run([py, "-m", "pip", "install", "-q", "--no-deps", str(ROOT)])
        shown = subprocess.run([py, "-m", "pip", "list", "--format=freeze"], check=True, capture_output=True,
                               text=True).stdout
        names = {re.split(r"[\[=]", p)[0].lower() for p in pins}
        print("installed:", ", ".join(line for line in shown.splitlines()
                                        if line.split("==")[0].lower() in names))
        out = work / "data"
        common = ["--config", "local", "num_files=2", "rows_per_file=2000", f"output.uri={out}"]
        # Run from the work dir so the interpreter imports the installed package, not the checkout.
        run([py, "-m", "lakebench_ray", "generate", *common, "ray.address=local"], cwd=work)
        run([py, "-m", "lakebench_ray", "verify", *common], cwd=work)
    print("lower bounds OK:", " ".join(pins))
    return 0


if __name__ == "__main__":
    sys.exit(main())
