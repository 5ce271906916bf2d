#!/usr/bin/env bash
# Smoke test of the oldest supported Ray release (the lower bound of ray[default] in
# pyproject.toml): a fresh virtual environment with exactly that Ray and the package's runtime
# dependencies, then a small generation on a local Ray and its verification.
#   scripts/smoke_oldest_ray.sh            # the oldest release pyproject.toml declares
#   scripts/smoke_oldest_ray.sh 2.52.0     # another release
# Needs the package index (pip) once; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
oldest="$(sed -n 's/.*"ray\[default\]>=\([0-9.]*\),.*/\1/p' pyproject.toml)"
version="${1:-$oldest}"
[ -n "$version" ] || { echo "no ray[default]>=X lower bound in pyproject.toml" >&2; exit 2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/lbr-ray-${version}-XXXX")"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q . "ray[default]==${version}"
got="$("$work/venv/bin/python" -c 'import ray; print(ray.__version__)')"
case "$got" in
  "$version" | "$version".*) ;;
  *) echo "installed Ray $got, wanted $version" >&2; exit 1 ;;
esac
export RAY_TMPDIR="$work/ray" RAY_USAGE_STATS_ENABLED=0
mkdir -p "$RAY_TMPDIR"
out="$work/bronze"
cd "$work"
"$work/venv/bin/lakebench-ray" generate num_files=3 file_size_mb=4 payload_kb=1 progress=false "output.uri=$out"
"$work/venv/bin/lakebench-ray" verify num_files=3 file_size_mb=4 payload_kb=1 progress=false "output.uri=$out"
echo "Ray $got: generate and verify OK"
