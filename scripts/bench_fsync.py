#!/usr/bin/env python
"""What durability costs: the payload-only floor file written into a directory with and without
the local store's fsync, on tmpfs and on a real disk.

    python scripts/bench_fsync.py                                  # 512 MiB files, /dev/shm and /var/tmp, 4 rounds
    python scripts/bench_fsync.py --dirs /mnt/nvme,/dev/shm --file-mb 256 --rounds 6

The local store fsyncs every file before renaming it to its final name (a name that exists is a
complete file, even after a power loss), so a disk's write-back speed is part of a file's time.
Without fsync the bytes only reach the page cache; the difference is what durability costs. Wall
seconds (fsync waits on the device, not the CPU). The files are written in a row, as an actor
does: first each with fsync, then each without; the write-back the kernel still owes after the
unsynced ones is timed apart (without fsync the device's work is only deferred, for as long as
the page cache can hold it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write_floor(path: str, nbytes: int, payload_bytes: int, group: int, seed: int, fsync: bool) -> float:
    """Wall seconds to write ``nbytes`` of payload-only Parquet to ``path`` (and fsync it)."""
    from lakebench_ray.core.strings import random_hex
    from lakebench_ray.format import writer_options

    rows = max(1, nbytes // (2 * payload_bytes))
    schema = pa.schema([("interaction_payload", pa.string())])
    options = dict(writer_options(), use_dictionary=False, write_statistics=False)
    rng = np.random.Generator(np.random.PCG64(seed))
    buffer = np.empty(2 * payload_bytes * min(rows, group), dtype=np.uint8)
    started = time.perf_counter()
    with open(path, "wb") as fh:
        with pq.ParquetWriter(fh, schema, **options) as writer:
            for first in range(0, rows, group):
                count = min(group, rows - first)
                batch = pa.record_batch([random_hex(rng, count, payload_bytes, out=buffer)], schema=schema)
                writer.write_batch(batch, row_group_size=count)
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
    seconds = time.perf_counter() - started
    os.unlink(path)
    return seconds


def filesystem(path: str) -> str:
    """The mount's filesystem type, from /proc/mounts (longest matching mount point)."""
    try:
        with open("/proc/mounts") as fh:
            mounts = [line.split()[1:3] for line in fh]
    except OSError:
        return "?"
    real = os.path.realpath(path)
    best = max((m for m in mounts if real == m[0] or real.startswith(m[0].rstrip("/") + "/")),
               key=lambda m: len(m[0]), default=("?", "?"))
    return best[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dirs", default="/dev/shm,/var/tmp")
    parser.add_argument("--file-mb", type=float, default=512)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--payload-kb", type=float, default=2.0)
    parser.add_argument("--group-rows", type=int, default=32_768)
    args = parser.parse_args()
    nbytes, payload = int(args.file_mb * 2**20), int(args.payload_kb * 1024)
    for directory in [d for d in args.dirs.split(",") if d]:
        if not os.path.isdir(directory):
            print(f"{directory}: not a directory, skipped")
            continue
        path = os.path.join(tempfile.mkdtemp(prefix="bench-fsync-", dir=directory), "floor.parquet")
        os.sync()  # start clean: no other writer's dirty pages in the way
        synced = [write_floor(path, nbytes, payload, args.group_rows, seed, fsync=True) for seed in range(args.rounds)]
        os.sync()
        cached = [write_floor(path, nbytes, payload, args.group_rows, seed, fsync=False) for seed in range(args.rounds)]
        # Without fsync the device work is only deferred: the kernel writes the pages back later
        # (or throttles the writer once too many are dirty). Timed here, apart.
        started = time.perf_counter()
        os.sync()
        deferred = time.perf_counter() - started
        os.rmdir(os.path.dirname(path))
        with_sync, without = statistics.median(synced), statistics.median(cached)
        print(f"{directory} ({filesystem(directory)}), {args.rounds} x {args.file_mb:g} MiB in a row: "
              f"fsync each {with_sync:.3f} s/file ({nbytes / with_sync / 1e6:.0f} MB/s); "
              f"page cache only {without:.3f} s/file ({nbytes / without / 1e6:.0f} MB/s) plus {deferred:.2f} s "
              f"of write-back left at the end; durability costs {with_sync - without:+.3f} s/file "
              f"({with_sync / without - 1:+.0%}) while the page cache absorbs it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
