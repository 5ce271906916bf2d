#!/usr/bin/env python
"""The actor path: a generator actor's seconds per file (from the report's per-file lines, written into tmpfs)
against the payload-only floor writing the same bytes into tmpfs in this process; and the idle
gap between an actor's consecutive files at small files and with more actors.

    python scripts/bench_actor_path.py                     # 5 files of 512 MiB; gaps at 16 MiB with 2 and 8 actors
    python scripts/bench_actor_path.py --files 7 --gap-actors 2,8,16

Both sides are wall seconds here (an actor's own timing is wall time), so run it on a quiet
machine. The gap is the time from an actor finishing one file to starting its next (the pool's
round trip): a share of the file's own time says what it costs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def floor_to_file(path: str, nbytes: int, payload_bytes: int, group: int, seed: int) -> float:
    """Wall seconds to write the payload-only floor file into ``path`` (fsync'd, like the store)."""
    from lakebench_ray.core.strings import random_hex
    from lakebench_ray.format import writer_options

    rows = max(1, nbytes // (2 * payload_bytes))
    schema = pa.schema([("interaction_payload", pa.string())])
    options = dict(writer_options(), use_dictionary=False, write_statistics=False)
    rng = np.random.Generator(np.random.PCG64(seed))
    started = time.perf_counter()
    buffer = np.empty(2 * payload_bytes * min(rows, group), dtype=np.uint8)
    with open(path, "wb") as fh:
        with pq.ParquetWriter(fh, schema, **options) as writer:
            for first in range(0, rows, group):
                count = min(group, rows - first)
                writer.write_batch(pa.record_batch([random_hex(rng, count, payload_bytes, out=buffer)], schema=schema),
                                   row_group_size=count)
        fh.flush()
        os.fsync(fh.fileno())
    seconds = time.perf_counter() - started
    os.unlink(path)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--file-mb", type=float, default=512)
    parser.add_argument("--gap-files", type=int, default=64)
    parser.add_argument("--gap-mb", type=float, default=16)
    parser.add_argument("--gap-actors", default="2,8")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir())
    args = parser.parse_args()

    import ray

    import lakebench_ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    quiet = open(os.devnull, "w")
    root = tempfile.mkdtemp(prefix="bench-actor-path-", dir=args.dir)
    try:
        config = lakebench_ray.load_config(None, [f"output.uri={root}/a", f"num_files={args.files}",
                                                  f"file_size_mb={args.file_mb}", "ray.num_actors=1", "progress=false"])
        report = lakebench_ray.generate(config, out=quiet)
        actor = statistics.median(f["seconds"] for f in report.files)
        size = int(statistics.median(f["bytes"] for f in report.files))
        shutil.rmtree(f"{root}/a", ignore_errors=True)
        payload = int(config.payload_kb * 1024)
        group = report.plan["row_group_rows"]
        floors = [floor_to_file(f"{root}/floor.parquet", size, payload, group, seed) for seed in range(args.files)]
        floor = statistics.median(floors)
        print(f"actor path, {args.files} files of {size / 2**20:.0f} MiB into {args.dir}: actor {actor:.3f} s/file, "
              f"floor {floor:.3f} s/file -> ratio {floor / actor:.2f} (target >= 0.60)")
        for n in [int(x) for x in args.gap_actors.split(",")]:
            cfg = lakebench_ray.load_config(None, [f"output.uri={root}/g{n}", f"num_files={args.gap_files}",
                                                   f"file_size_mb={args.gap_mb}", f"ray.num_actors={n}",
                                                   f"ray.cpus_per_actor={2 / n}", "progress=false"])
            rep = lakebench_ray.generate(cfg, out=quiet)
            gaps, work = [], []
            by_actor: dict[int, list[dict]] = {}
            for f in rep.files:
                by_actor.setdefault(f["pid"], []).append(f)
            for files in by_actor.values():
                files.sort(key=lambda f: f["started_at"])
                for a, b in zip(files, files[1:]):
                    gaps.append(b["started_at"] - a["started_at"] - a["seconds"])
                work += [f["seconds"] for f in files]
            shutil.rmtree(f"{root}/g{n}", ignore_errors=True)
            gap = statistics.median(gaps)
            print(f"idle gap, {args.gap_files} files of {args.gap_mb:g} MiB, {n} actors: median {1000 * gap:.1f} ms "
                  f"(p90 {1000 * float(np.quantile(gaps, 0.9)):.1f} ms), {gap / statistics.median(work):.1%} of a file's time")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
