#!/usr/bin/env python
"""Driver CPU per file: many tiny files through the real pool, so per-file overhead dominates.

    python scripts/bench_driver.py               # 600 files of 50 rows, 2 actors, into /dev/shm

The driver's CPU time (this process: planning, pool loop, checkpoint records, progress) divided by
the files written is an upper bound of what one more file costs the driver.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import ray

import lakebench_ray


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir())
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=args.actors, include_dashboard=False, logging_level="ERROR")
    out = tempfile.mkdtemp(prefix="bench-driver-", dir=args.dir)
    tiny = ["rows_per_file=50", "payload_kb=0", "customer_id_max=1000", "progress=false", f"ray.num_actors={args.actors}"]
    try:
        with open(os.devnull, "w") as quiet:
            warm = lakebench_ray.load_config(None, [f"output.uri={out}/warmup", "num_files=4", *tiny])
            lakebench_ray.generate(warm, out=quiet)
            config = lakebench_ray.load_config(None, [f"output.uri={out}/run", f"num_files={args.files}", *tiny])
            cpu0 = time.process_time()
            report = lakebench_ray.generate(config, out=quiet)
            cpu = time.process_time() - cpu0
    finally:
        shutil.rmtree(out, ignore_errors=True)
        ray.shutdown()
    print(f"{report.files_written} files, {report.files_written / report.generation_seconds:.0f} files/s with "
          f"{args.actors} actors; driver CPU {cpu:.2f} s = {1000 * cpu / report.files_written:.2f} ms per file")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
