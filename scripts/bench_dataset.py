#!/usr/bin/env python
"""Rows per second per core: the Ray Dataset (``materialize``, ``write_parquet``, and a projection
of a few columns) against the actor pool (``generate``) on the same files, in the same run, on a
local Ray. Files go to tmpfs (``/dev/shm``) unless ``--dir`` says otherwise.

    python scripts/bench_dataset.py                     # 8 files of 64 MiB, 2 CPUs
    python scripts/bench_dataset.py --files 16 --file-mb 128 --cpus 2 --rounds 2
    python scripts/bench_dataset.py --only-projection   # full table vs 4 columns, nothing else

Each mode makes the same rows (same config); the actor pool and ``write_parquet`` write Snappy
Parquet into a temporary directory, ``materialize`` keeps the blocks in the object store; the
projection (``dataset(config, columns=...)``, default 4 of the 41 columns, no payload) is
materialized too and compared with the full table's ``materialize`` of the same run. Wall time
of each step, rows/s divided by the CPUs Ray was given; rounds alternate the order.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--file-mb", type=float, default=64)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where files are written (default: tmpfs, so the disk does not set the pace)")
    parser.add_argument("--columns", default="event_timestamp,customer_id,interaction_type,transaction_amount",
                        help="the projection's columns, comma-separated (default: 4 of the 41)")
    parser.add_argument("--only-projection", action="store_true",
                        help="measure only the full table's and the projection's materialize()")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    import ray

    import lakebench_ray

    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)
    columns = [name.strip() for name in args.columns.split(",") if name.strip()]
    projected = f"dataset(columns={len(columns)}).materialize()"
    selected = f"dataset().select_columns({len(columns)})..."
    results: dict[str, list[float]] = {"actor pool (generate)": [], "dataset.materialize()": [],
                                       projected: [], selected: [], "dataset.write_parquet()": []}
    with tempfile.TemporaryDirectory(prefix="lakebench-bench-dataset-", dir=args.dir) as tmp:
        settings = [f"num_files={args.files}", f"file_size_mb={args.file_mb}", "progress=false"]

        def pool(round_: int) -> float:
            config = lakebench_ray.load_config(None, settings + [f"output.uri={tmp}/pool-{round_}"])
            report = lakebench_ray.generate(config)
            return report.rows / report.generation_seconds

        def materialize(round_: int, columns=None, select=None) -> float:
            config = lakebench_ray.load_config(None, settings)
            ds = lakebench_ray.dataset(config, columns=columns)
            if select:  # a projection Ray Data pushes into the read (on releases that do)
                ds = ds.select_columns(select)
            started = time.perf_counter()
            done = ds.materialize()
            seconds = time.perf_counter() - started
            count = done.count()
            del done
            return count / seconds

        def write(round_: int) -> float:
            config = lakebench_ray.load_config(None, settings)
            ds = lakebench_ray.dataset(config)
            started = time.perf_counter()
            ds.write_parquet(f"{tmp}/dataset-{round_}")
            return ds.count() / (time.perf_counter() - started)

        steps = [("actor pool (generate)", pool), ("dataset.materialize()", materialize),
                 (projected, lambda round_: materialize(round_, columns)),
                 (selected, lambda round_: materialize(round_, select=columns)), ("dataset.write_parquet()", write)]
        if args.only_projection:
            steps = [step for step in steps if step[0] in ("dataset.materialize()", projected, selected)]
        for round_ in range(args.rounds):
            order = steps if round_ % 2 == 0 else steps[::-1]
            for name, step in order:
                results[name].append(step(round_) / args.cpus)
    results = {name: values for name, values in results.items() if values}
    base_name = "dataset.materialize()" if args.only_projection else "actor pool (generate)"
    base = max(results[base_name])
    print(f"{args.files} files of {args.file_mb:g} MiB on {args.cpus} CPUs (best of {args.rounds} round(s)):")
    summary = {}
    for name, values in results.items():
        best = max(values)
        summary[name] = {"rows_per_s_per_core": round(best), "vs_" + base_name.split(" ")[0]: round(best / base, 2)}
        print(f"  {name:32s} {best:>10,.0f} rows/s per core  ({best / base:.2f}x {base_name})")
    ratio = max(results[projected]) / max(results["dataset.materialize()"])
    summary["projection_vs_full"] = round(ratio, 2)
    print(f"  projection of {', '.join(columns)}: {ratio:.1f}x the full table's rows/s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"files": args.files, "file_mb": args.file_mb, "cpus": args.cpus, "columns": columns,
                       "results": summary}, fh, indent=1)
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
