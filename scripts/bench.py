#!/usr/bin/env python
"""Generator throughput per core against a floor measured in the same run, and peak memory.

The floor is a Parquet file of the same byte size holding only a random-hex payload column,
Snappy, no dictionary, no statistics: what one core needs just to make and write the bytes. Two
constructions are timed in every pair (one reused buffer per row group; one table built at once)
and the faster is the floor. Times are CPU seconds of the process. The generator's target is
>= 0.6 x the floor. The cost of column statistics (on every
column, so engines can count and prune from footers) is the encoding time of the same row groups
with them and with statistics on the non-string columns only. Peak RSS is measured in fresh
processes writing one file of 512 MiB and one of 2 GiB to a local directory.

    python scripts/bench.py                 # 5 files of 512 MiB, both memory runs
    python scripts/bench.py --files 3 --file-mb 256 --no-memory
    python scripts/bench.py --profile realistic
    python scripts/bench.py --reference     # also Lakebench's own generator on the same file

``--reference`` runs Lakebench's ``generate_file_data`` and its Snappy ``pq.write_table`` (what a
Lakebench pod does before uploading) in a fresh process whose time zone is UTC, on the same seed,
file id and rows per file, and prints rows per CPU-second of both and their ratio. Lakebench makes
about 2,000 rows a second: ``--reference-rows`` times it on the first rows only (its rows cost
the same wherever they are) and extrapolates.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lakebench_ray.config import load_config
from lakebench_ray.core import build_loyalty_table, build_row_group, row_groups
from lakebench_ray.core.plan import row_group_rows
from lakebench_ray.core.schema import BATCH_SCHEMA, COLUMNS
from lakebench_ray.core.strings import _LUT16, fixed_width_strings, random_hex
from lakebench_ray.format import write_file, writer_options
from lakebench_ray.planning import make_plan


def null_sink() -> pa.NativeFile:
    """Counts bytes and keeps none: measures CPU, not the disk."""
    return pa.MockOutputStream()


def clock() -> float:
    """CPU seconds of this process (all its threads): what one core spends, whatever else the
    shared machine runs meanwhile. (Wall time on a loaded 2-core machine swings by 2x.)"""
    return time.process_time()


def floor_reused_buffer(nbytes: int, payload_bytes: int, group: int, seed: int) -> float:
    """CPU seconds to write ``nbytes`` of Parquet holding only a random-hex payload column:
    cache-sized chunks of raw 64-bit draws through a 16-bit hex table, into one buffer reused by
    every row group, Snappy, no dictionary, no statistics."""
    rows = max(1, nbytes // (2 * payload_bytes))
    schema = pa.schema([("interaction_payload", pa.string())])
    options = dict(writer_options(), use_dictionary=False, write_statistics=False)
    rng = np.random.Generator(np.random.PCG64(seed))
    started = clock()
    buffer = np.empty(2 * payload_bytes * min(rows, group), dtype=np.uint8)
    with pq.ParquetWriter(null_sink(), schema, **options) as writer:
        for first in range(0, rows, group):
            count = min(group, rows - first)
            array = random_hex(rng, count, payload_bytes, out=buffer)
            writer.write_batch(pa.record_batch([array], schema=schema), row_group_size=count)
    return clock() - started


def floor_one_table(nbytes: int, payload_bytes: int, seed: int) -> float:
    """The same column built as one table: the 16-bit hex table applied with ``np.take`` to all
    raw draws at once into one uint32 buffer, wrapped once, ``pq.write_table`` in 32k-row groups."""
    rows = max(1, nbytes // (2 * payload_bytes))
    rng = np.random.Generator(np.random.PCG64(seed))
    started = clock()
    raw = rng.bit_generator.random_raw(-(-rows * payload_bytes // 8)).view("<u2")[: rows * payload_bytes // 2]
    digits = np.take(_LUT16, raw)
    array = fixed_width_strings(digits.view(np.uint8).reshape(rows, 2 * payload_bytes))
    pq.write_table(pa.table({"interaction_payload": array}), null_sink(), compression="snappy",
                   use_dictionary=False, write_statistics=False, row_group_size=32_768)
    return clock() - started


def statistics_cost(params, loyalty, repeats: int) -> dict:
    """Encoding seconds of one file's row groups with statistics on every column vs on the
    non-string columns only (the setting before every chunk got its null count)."""
    batches = [build_row_group(params, loyalty, 0, i, first, count)
               for i, (first, count) in enumerate(row_groups(params.rows_per_file, params.row_group_rows))]
    numeric = [name for name, dtype in COLUMNS if not pa.types.is_string(dtype)]
    settings = {"all": True, "numeric_only": numeric}
    times: dict[str, list[float]] = {k: [] for k in settings}
    for rep in range(repeats):
        for name in (list(settings) if rep % 2 == 0 else list(settings)[::-1]):
            options = dict(writer_options(params.profile), write_statistics=settings[name])
            started = clock()
            with pq.ParquetWriter(null_sink(), BATCH_SCHEMA, **options) as writer:
                for batch in batches:
                    writer.write_batch(batch, row_group_size=batch.num_rows)
            times[name].append(clock() - started)
    all_s, numeric_s = statistics.median(times["all"]), statistics.median(times["numeric_only"])
    return {"encode_all_s": round(all_s, 4), "encode_numeric_only_s": round(numeric_s, 4),
            "added_s_per_file": round(all_s - numeric_s, 4)}


def throughput(files: int, file_mb: float, payload_kb: float, profile: str) -> dict:
    config = load_config(None, [f"file_size_mb={file_mb}", f"payload_kb={payload_kb}", f"num_files={files}",
                                f"profile={profile}"])
    loyalty = build_loyalty_table(config.seed, config.customer_id_max, config.profile)
    plan = make_plan(config, loyalty)
    params = plan.params
    # Warm up (vocabularies, allocator) on a small file; not timed.
    write_file(params, loyalty, 10_000, null_sink(), rows=min(params.rows_per_file, 20_000))
    sink = null_sink()
    write_file(params, loyalty, 0, sink)
    size = sink.size()
    gen, floor = [], []

    floors: dict[str, list[float]] = {"reused_buffer": [], "one_table": []}

    def one_generator_file(fid: int) -> None:
        started = clock()
        write_file(params, loyalty, fid, null_sink())
        gen.append(clock() - started)

    def one_floor_file(fid: int) -> None:
        a = floor_reused_buffer(size, max(1, params.payload_bytes), params.row_group_rows, seed=fid)
        b = floor_one_table(size, max(1, params.payload_bytes), seed=fid)
        floors["reused_buffer"].append(a)
        floors["one_table"].append(b)
        floor.append(min(a, b))  # the floor is the fastest payload-only writer of the pair

    # Pairs measured back to back, in alternating order: a burst of load from other work on a
    # shared machine hits both halves of a pair alike, so the paired ratios are steadier.
    for fid in range(files):
        first, second = (one_generator_file, one_floor_file) if fid % 2 == 0 else (one_floor_file, one_generator_file)
        first(fid)
        second(fid)
    ratios = [f / g for f, g in zip(floor, gen)]
    g, f = statistics.median(gen), statistics.median(floor)
    stats = statistics_cost(params, loyalty, max(3, files))
    return {
        "profile": profile,
        "statistics": dict(stats, share_of_file=round(stats["added_s_per_file"] / g, 4)),
        "file_bytes": size,
        "rows_per_file": params.rows_per_file,
        "generator_s": round(g, 3),
        "generator_mb_s": round(size / 2**20 / g, 1),
        "generator_rows_s": round(params.rows_per_file / g),
        "floor_s": round(f, 3),
        "floor_mb_s": round(size / 2**20 / f, 1),
        "ratio": round(statistics.median(ratios), 3),
        "ratio_of_medians": round(f / g, 3),
        "floor_reused_buffer_s": round(statistics.median(floors["reused_buffer"]), 3),
        "floor_one_table_s": round(statistics.median(floors["one_table"]), 3),
        "all_ratios": [round(r, 3) for r in ratios],
        "all_generator_s": [round(x, 3) for x in gen],
        "all_floor_s": [round(x, 3) for x in floor],
    }


_CHILD = """
import sys, tempfile, time
from lakebench_ray.config import load_config
from lakebench_ray.core import build_loyalty_table
from lakebench_ray.format import write_file
from lakebench_ray.planning import make_plan
from lakebench_ray.sinks import LocalStore
config = load_config(None, ["file_size_mb=" + sys.argv[1], "num_files=1"])
loyalty = build_loyalty_table(config.seed, config.customer_id_max, config.profile)
plan = make_plan(config, loyalty)
def hwm_kb():  # VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak over
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
baseline = hwm_kb()
with tempfile.TemporaryDirectory(dir=sys.argv[2]) as tmp:
    store = LocalStore(tmp)
    started = time.perf_counter()
    with store.open_writer("part-000000.parquet") as writer:
        write_file(plan.params, loyalty, 0, writer.stream)
        size = writer.commit()
    seconds = time.perf_counter() - started
peak = hwm_kb()
print(f"{size} {peak} {baseline} {seconds}")
"""


_REFERENCE = """
import io, os, sys, time
os.environ["TZ"] = "UTC"
time.tzset()
sys.path.insert(0, sys.argv[1])
import generate
import pyarrow.parquet as pq
config = generate.Config(seed=int(sys.argv[2]), payload_kb=int(sys.argv[4]))
config.rows_per_file = int(sys.argv[3])
generate.get_loyalty_lookup(config.seed, config.customer_id_max)  # built once per pod: not timed
started = time.process_time()
table = generate.generate_file_data(int(sys.argv[5]), config)
buffer = io.BytesIO()
pq.write_table(table, buffer, compression="snappy")
print(time.process_time() - started, table.num_rows, buffer.tell())
"""


def reference(lakebench_dir: str, params, rows: int, file_id: int = 0) -> dict:
    """CPU seconds of Lakebench's own generator for ``rows`` rows of file ``file_id``."""
    out = subprocess.run([sys.executable, "-c", _REFERENCE, lakebench_dir, str(params.seed), str(rows),
                          str(int(params.payload_kb)), str(file_id)], capture_output=True, text=True, check=True)
    seconds, made, size = out.stdout.split()
    return {"rows": int(made), "cpu_s": round(float(seconds), 2), "rows_s": round(int(made) / float(seconds)),
            "file_bytes": int(size)}


def peak_rss(file_mb: float, workdir: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(file_mb), workdir], capture_output=True, text=True, check=True)
    size, peak, baseline, seconds = out.stdout.split()
    return {
        "file_mb": file_mb,
        "file_bytes": int(size),
        "peak_rss_mb": round(int(peak) / 1024, 1),
        "rss_before_writing_mb": round(int(baseline) / 1024, 1),
        "seconds": round(float(seconds), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--file-mb", type=float, default=512)
    parser.add_argument("--payload-kb", type=float, default=2)
    parser.add_argument("--profile", default="lakebench", help="the profile to measure (default: lakebench)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-RSS runs")
    parser.add_argument("--workdir", default=tempfile.gettempdir(), help="where the memory runs write their file")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--reference", action="store_true",
                        help="also time Lakebench's own generator on the same file (see above)")
    parser.add_argument("--reference-rows", type=int, default=None,
                        help="rows Lakebench makes for its timing (default: the whole file)")
    parser.add_argument("--lakebench", default=str(Path(__file__).resolve().parents[2] / "shared" / "lakebench" /
                                                   "upstream" / "datagen"),
                        help="directory of Lakebench's generate.py")
    args = parser.parse_args()

    result = {"throughput": throughput(args.files, args.file_mb, args.payload_kb, args.profile)}
    t = result["throughput"]
    print(f"profile {t['profile']}; file: {t['file_bytes'] / 2**20:.1f} MiB, {t['rows_per_file']:,} rows "
          f"(median of {args.files})")
    print(f"generator: {t['generator_mb_s']:8.1f} MB/s  {t['generator_rows_s']:>9,} rows/s  ({t['generator_s']} s/file)")
    print(f"floor:     {t['floor_mb_s']:8.1f} MB/s  (random-hex payload only, the faster of: reused buffer "
          f"{t['floor_reused_buffer_s']} s, one table {t['floor_one_table_s']} s per file)")
    print(f"ratio generator/floor: {t['ratio']:.2f} (median of {args.files} back-to-back pairs; "
          f"ratio of the medians {t['ratio_of_medians']:.2f})  (target >= 0.60)")
    st = t["statistics"]
    print(f"statistics on every column: +{st['added_s_per_file'] * 1000:.0f} ms per file encoding "
          f"({st['encode_all_s']} s vs {st['encode_numeric_only_s']} s with non-string columns only), "
          f"{st['share_of_file']:.1%} of the generator's time per file")
    if args.reference:
        config = load_config(None, [f"file_size_mb={args.file_mb}", f"payload_kb={args.payload_kb}",
                                    f"profile={args.profile}"])
        params = make_plan(config, build_loyalty_table(config.seed, config.customer_id_max, config.profile)).params
        ref = reference(args.lakebench, params, args.reference_rows or params.rows_per_file)
        result["reference"] = ref
        speedup = t["generator_rows_s"] / ref["rows_s"]
        result["speedup_per_core"] = round(speedup, 1)
        print(f"Lakebench's generator: {ref['rows_s']:>9,} rows/s  ({ref['cpu_s']} CPU s for {ref['rows']:,} rows, "
              f"generate_file_data + Snappy write_table)")
        print(f"rows per CPU-second, this generator / Lakebench's: {speedup:.1f}x  (target >= 10x)")
    if not args.no_memory:
        runs = [peak_rss(mb, args.workdir) for mb in (512, 2048)]
        result["memory"] = runs
        for run in runs:
            print(f"peak RSS writing a {run['file_mb']:.0f} MiB file: {run['peak_rss_mb']:.0f} MB "
                  f"(before writing: {run['rss_before_writing_mb']:.0f} MB; {run['seconds']} s)")
        growth = runs[1]["peak_rss_mb"] / runs[0]["peak_rss_mb"] - 1
        print(f"2 GiB vs 512 MiB peak RSS: {growth:+.1%}  (target: 512 MiB file <= 512 MB, 2 GiB within 10%)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
