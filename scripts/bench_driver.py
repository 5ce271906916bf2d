#!/usr/bin/env python
"""Driver CPU per file with 2, 16 and 64 actors: many tiny files through the real pool, so the
driver's per-file work dominates, and its ratio to 2 actors shows whether it grows with the pool.

    python scripts/bench_driver.py                        # 600 files of 50 rows per pool size, /dev/shm
    python scripts/bench_driver.py --actors 2,16,64,128 --files 1000

Each pool size runs on one local Ray with 2 CPUs; actors reserve 2/N CPUs each (fractional
``ray.cpus_per_actor``), so all N run at once. The driver's CPU time (this process: planning,
pool loop, checkpoint records, progress, and Ray's own threads) is measured for a run of F
files and one of 2F files after the same warm-up: the difference divided by F is what one more
completed file costs the driver, without the run's fixed costs (planning, starting N actors, the
lease, the report), which are printed apart. The driver's own thread (the pool loop, records,
progress: the code this project controls) is measured the same way apart from Ray's threads,
whose share also grows with the run's wall time (N actors on 2 CPUs make files more slowly).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import ray

import lakebench_ray


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--actors", default="2,16,64", help="pool sizes, comma-separated")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir())
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    sizes = [int(n) for n in args.actors.split(",")]
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    out = tempfile.mkdtemp(prefix="bench-driver-", dir=args.dir)
    results = {}
    try:
        with open(os.devnull, "w") as quiet:
            for n in sizes:
                tiny = ["rows_per_file=50", "payload_kb=0", "customer_id_max=1000", "progress=false",
                        f"ray.num_actors={n}", f"ray.cpus_per_actor={args.cpus / n}"]
                # Warm up: actors' processes, imports and the first call, not timed.
                warm = lakebench_ray.load_config(None, [f"output.uri={out}/warmup-{n}", f"num_files={2 * n}", *tiny])
                lakebench_ray.generate(warm, out=quiet)
                cpu, loop, wall, rate = {}, {}, {}, {}
                for files in (args.files, 2 * args.files):
                    config = lakebench_ray.load_config(None, [f"output.uri={out}/run-{n}-{files}", f"num_files={files}", *tiny])
                    cpu0, loop0, wall0 = time.process_time(), time.thread_time(), time.monotonic()
                    report = lakebench_ray.generate(config, out=quiet)
                    cpu[files] = time.process_time() - cpu0
                    loop[files] = time.thread_time() - loop0
                    wall[files] = time.monotonic() - wall0
                    rate[files] = report.files_written / report.generation_seconds
                    shutil.rmtree(f"{out}/run-{n}-{files}", ignore_errors=True)
                marginal = (cpu[2 * args.files] - cpu[args.files]) / args.files
                results[n] = {"ms_per_file": round(1000 * marginal, 3),
                              "loop_ms_per_file": round(1000 * (loop[2 * args.files] - loop[args.files]) / args.files, 3),
                              "extra_wall_s": round(wall[2 * args.files] - wall[args.files], 2),

                              "fixed_s": round(cpu[args.files] - marginal * args.files, 3),
                              "files_per_s": round(rate[2 * args.files], 1)}
                shutil.rmtree(f"{out}/warmup-{n}", ignore_errors=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
        ray.shutdown()
    base = results[sizes[0]]["ms_per_file"]
    loop_base = results[sizes[0]]["loop_ms_per_file"]
    for n, r in results.items():
        print(f"{n:4d} actors: driver CPU {r['ms_per_file']:.2f} ms per completed file ({r['ms_per_file'] / base:.2f}x "
              f"{sizes[0]} actors), of which the driver's own thread (pool loop, records, progress) "
              f"{r['loop_ms_per_file']:.2f} ms ({r['loop_ms_per_file'] / loop_base:.2f}x); fixed {r['fixed_s']:.2f} s "
              f"per run; {r['files_per_s']:.0f} files/s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
