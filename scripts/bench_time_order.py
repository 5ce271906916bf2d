#!/usr/bin/env python
"""What ``timestamp_order`` changes for readers: row groups a one-day filter can skip, and the
dates each file spans, for ``uniform`` (Lakebench's workload) against ``by_file``.

Writes the same small dataset twice (pure core, no Ray) into a temporary directory and reads only
the footers: a row group can be skipped when its event_timestamp min/max statistics miss the day,
which is the test Spark, Trino, DuckDB and pyarrow apply before reading any page.

    python scripts/bench_time_order.py                       # 20 files of 50,000 rows
    python scripts/bench_time_order.py --files 40 --day 2025-03-15
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from lakebench_ray.config import load_config
from lakebench_ray.core import build_loyalty_table
from lakebench_ray.format import write_file
from lakebench_ray.planning import make_plan


def measure(order: str, files: int, rows: int, row_group_mb: float, day: dt.date, workdir: Path) -> dict:
    config = load_config(None, [f"num_files={files}", f"rows_per_file={rows}", "payload_kb=0.25",
                                f"row_group_mb={row_group_mb}", f"timestamp_order={order}"])
    plan = make_plan(config)
    loyalty = build_loyalty_table(config.seed, config.customer_id_max, config.profile)
    lo = dt.datetime(day.year, day.month, day.day)
    hi = lo + dt.timedelta(days=1)
    groups = skippable = 0
    dates_per_file = []
    for file_id in plan.file_ids:
        path = workdir / f"{order}-{file_id}.parquet"
        with open(path, "wb") as fh:
            write_file(plan.params, loyalty, file_id, fh)
        meta = pq.ParquetFile(path).metadata
        index = meta.schema.names.index("event_timestamp")
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(index).statistics
            groups += 1
            skippable += stats.max < lo or stats.min >= hi
        ts = pq.read_table(path, columns=["event_timestamp"]).column(0).to_numpy()
        dates_per_file.append(len(np.unique(ts.astype("datetime64[D]"))))
        path.unlink()
    return {
        "order": order,
        "files": files,
        "row_groups": groups,
        "skippable_row_groups": skippable,
        "skippable_share": round(skippable / groups, 4),
        "dates_per_file_median": int(np.median(dates_per_file)),
        "dates_per_file_max": int(max(dates_per_file)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rows", type=int, default=50_000, help="rows per file")
    parser.add_argument("--row-group-mb", type=float, default=4, help="about 4 row groups a file at the defaults")
    parser.add_argument("--day", default="2025-03-15", help="the day of the filter")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    day = dt.date.fromisoformat(args.day)
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(order, args.files, args.rows, args.row_group_mb, day, Path(tmp))
                   for order in ("uniform", "by_file")]
    print(f"event_timestamp filter on {day} (one day of 2024-01-01..2025-12-31), {args.files} files of {args.rows:,} rows")
    for r in results:
        print(f"{r['order']:>8}: {r['skippable_row_groups']:>4} of {r['row_groups']} row groups skippable "
              f"({r['skippable_share']:.1%}); dates per file: median {r['dates_per_file_median']}, "
              f"max {r['dates_per_file_max']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
