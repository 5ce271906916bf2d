#!/usr/bin/env python
"""Verification throughput (MB/s, rows/s) and peak memory, against a decode floor.

Generates a local dataset with the pure core (no Ray; one process per core), then runs in fresh
subprocesses, each reporting its own peak RSS (``VmHWM`` of /proc/self/status: it starts afresh
at exec, while ``ru_maxrss`` would carry the parent's peak over):

* ``verify``: ``lakebench_ray.verify.verify`` over every file (completeness + all rules),
* ``completeness``: the same with ``sample_files=0`` (footers only),
* ``floor``: reading every column of every file batch by batch with pyarrow and nothing else,
  the least a streaming check must do; ``verify / floor`` is the cost of the rules.

The dataset goes to /dev/shm when it has room (else the temp dir) and is removed afterwards,
unless --keep or --dir.

    python scripts/bench_verify.py                       # ~2 GiB: 4 files of 512 MiB, 2 KB payloads
    python scripts/bench_verify.py --gb 10 --root /tmp   # ~10 GB on disk
    python scripts/bench_verify.py --dir D num_files=16 rows_per_file=30000   # an existing dataset
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

MIB = 1 << 20


def hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _config(root: str, overrides: list[str]):
    from lakebench_ray.config import load_config

    return load_config(None, [f"output.uri={root}", "progress=false", *overrides])


def _write_one(args) -> int:
    root, overrides, file_id = args
    from lakebench_ray.core import build_loyalty_table, file_key
    from lakebench_ray.format import write_file
    from lakebench_ray.planning import make_plan
    from lakebench_ray.sinks import LocalStore

    config = _config(root, overrides)
    plan = make_plan(config)
    loyalty = build_loyalty_table(config.seed, config.customer_id_max, config.profile)
    store = LocalStore(root)
    with store.open_writer(file_key(config.output.prefix, file_id)) as writer:
        write_file(plan.params, loyalty, file_id, writer.stream)
        writer.commit()
    return writer.receipt.as_dict()


def generate(root: str, overrides: list[str], workers: int) -> dict:
    from lakebench_ray.planning import make_plan

    config = _config(root, overrides)
    plan = make_plan(config)
    started = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        receipts = list(pool.map(_write_one, [(root, overrides, i) for i in plan.file_ids]))
    sizes = [r["size"] for r in receipts]
    # Recorded as a run records them, so verify's content check has its digests.
    from lakebench_ray.control.checkpoint import CheckpointLog, open_for_run
    from lakebench_ray.sinks import LocalStore

    store = LocalStore(root)
    opened = open_for_run(store, config.output.prefix, plan.file_ids, plan.partition_count, plan.partition_index,
                          plan.fingerprint, plan.sizing(config), resume=False)
    log = CheckpointLog(store, opened.folder, opened.generation)
    for file_id, receipt in zip(plan.file_ids, receipts):
        log.hold(file_id, receipt)
    log.flush()
    return {"files": len(sizes), "bytes": sum(sizes), "rows": plan.files.total_rows,
            "seconds": round(time.perf_counter() - started, 1)}


# -- children (fresh processes) --------------------------------------------------------------------


def child_verify(root: str, overrides: list[str], sample_files) -> dict:
    from lakebench_ray.verify import verify

    config = _config(root, overrides)
    started = time.perf_counter()
    result = verify(config, sample_files=sample_files)
    seconds = time.perf_counter() - started
    total_bytes = sum(f.size or 0 for f in result.completeness.files.values())
    return {
        "ok": result.ok,
        "problems": result.problems[:5],
        "files": len(result.completeness.files),
        "files_checked": len(result.conformance.files),
        "rows_checked": result.conformance.rows,
        "bytes": total_bytes,
        "bytes_checked": result.conformance.data_bytes,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(hwm_mb(), 1),
    }


def child_floor(root: str, overrides: list[str]) -> dict:
    import pyarrow.parquet as pq

    from lakebench_ray.sinks import LocalStore

    config = _config(root, overrides)
    store = LocalStore(root)
    prefix = config.output.prefix.strip("/")
    listing = store.list(prefix)
    keys = sorted(k for k in listing if k.endswith(".parquet") and "/_" not in k and "/." not in k)
    started = time.perf_counter()
    rows = nbytes = 0
    for key in keys:
        # The same reader and read settings as the verifier's.
        with store.open_reader(key) as fh:
            pf = pq.ParquetFile(fh, buffer_size=MIB, pre_buffer=False)
            for rg in range(pf.metadata.num_row_groups):
                for batch in pf.iter_batches(batch_size=4096, row_groups=[rg], use_threads=False):
                    rows += batch.num_rows
        nbytes += listing[key]
    seconds = time.perf_counter() - started
    return {"files": len(keys), "rows": rows, "bytes": nbytes, "seconds": round(seconds, 2),
            "peak_rss_mb": round(hwm_mb(), 1)}


def run_child(kind: str, root: str, overrides: list[str], extra: list[str] = ()) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--dir", root, *extra, *overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rates(doc: dict, bytes_key: str = "bytes", rows_key: str = "rows") -> dict:
    s = max(doc["seconds"], 1e-9)
    return dict(doc, mb_s=round(doc[bytes_key] / MIB / s, 1), rows_s=round(doc[rows_key] / s))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=2.0, help="dataset size to generate (GiB, default 2)")
    parser.add_argument("--file-mb", type=float, default=512.0, help="file size when generating (MiB, default 512 as the generator)")
    parser.add_argument("--payload-kb", type=float, default=2.0)
    parser.add_argument("--root", default=None, help="where to generate (default /dev/shm if it has room, else tmp)")
    parser.add_argument("--dir", default=None, help="verify this existing dataset (pass its config overrides)")
    parser.add_argument("--keep", action="store_true", help="keep the generated dataset")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="generator processes")
    parser.add_argument("--sample-files", type=int, default=None)
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--child", choices=("verify", "completeness", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = parser.parse_args()

    if args.child:
        if args.child == "floor":
            doc = child_floor(args.dir, args.overrides)
        else:
            sample = 0 if args.child == "completeness" else args.sample_files
            doc = child_verify(args.dir, args.overrides, sample)
        print(json.dumps(doc))
        return 0

    overrides = list(args.overrides)
    cleanup = None
    if args.dir:
        root = args.dir
        gen = None
    else:
        need = args.gb * 2**30 * 1.1
        base = args.root
        if base is None:
            base = "/dev/shm" if os.path.isdir("/dev/shm") and shutil.disk_usage("/dev/shm").free > 2 * need else None
        if shutil.disk_usage(base or tempfile.gettempdir()).free < need:
            raise SystemExit(f"not enough room in {base or tempfile.gettempdir()} for {args.gb} GiB")
        root = tempfile.mkdtemp(prefix="lakebench-bench-verify-", dir=base)
        cleanup = None if args.keep else root
        files = max(1, round(args.gb * 1024 / args.file_mb))
        overrides = [f"num_files={files}", f"file_size_mb={args.file_mb}", f"payload_kb={args.payload_kb}", *overrides]
        if not any(o.startswith("rows_per_file=") for o in overrides):
            # Calibrate once here, not in every worker and child (same params, same fingerprint).
            from lakebench_ray.planning import make_plan

            overrides.append(f"rows_per_file={make_plan(_config(root, overrides)).params.rows_per_file}")
    try:
        if not args.dir:
            print(f"generating {args.gb} GiB into {root} ...", file=sys.stderr, flush=True)
            gen = generate(root, overrides, args.workers)
            print(f"  {gen}", file=sys.stderr, flush=True)
        extra = ["--sample-files", str(args.sample_files)] if args.sample_files is not None else []
        full = rates(run_child("verify", root, overrides, extra), "bytes_checked", "rows_checked")
        comp = run_child("completeness", root, overrides)
        floor = None if args.no_floor else rates(run_child("floor", root, overrides))
        out = {
            "dataset": {"root": root, "overrides": overrides, "generated": gen},
            "verify": full,
            "completeness_only": comp,
            "floor_read_all_columns": floor,
            "verify_vs_floor": round(full["mb_s"] / floor["mb_s"], 2) if floor else None,
            "cpu": os.cpu_count(),
        }
        print(json.dumps(out, indent=1))
        return 0 if full["ok"] else 1
    finally:
        if cleanup:
            shutil.rmtree(cleanup, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
