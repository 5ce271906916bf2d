#!/usr/bin/env python
"""Where a generated file's CPU time goes, per column group: building (numpy / Arrow compute)
and encoding (Parquet pages, Snappy, statistics), in CPU seconds of this process.

    python scripts/bench_breakdown.py                  # one 512 MiB file's row groups, best of 5
    python scripts/bench_breakdown.py --profile realistic --top 15

Building is measured per row group with the payload (``payload_kb`` as configured) and without
it (``payload_kb=0``: everything else); encoding by writing each column alone from the same
batches (what each column costs the writer), summed per group. ``--top`` prints the build's
heaviest functions from cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

from lakebench_ray.config import load_config
from lakebench_ray.core import build_loyalty_table, build_row_group, row_groups
from lakebench_ray.core.schema import BATCH_SCHEMA
from lakebench_ray.format import writer_options
from lakebench_ray.planning import make_plan

GROUPS = {
    "payload": ("interaction_payload",),
    "uuids and fingerprint (hex)": ("event_id", "session_id", "session_fingerprint"),
    "contact strings": ("email_raw", "phone_raw", "ip_address", "zip_code"),
    "id strings": ("product_id", "support_ticket_id", "campaign_id"),
    "categorical (dictionary)": ("interaction_type", "product_category", "currency", "channel", "device_type",
                                 "browser", "city_raw", "state_raw", "issue_category", "utm_source", "utm_medium",
                                 "loyalty_tier", "data_source", "data_quality_flag", "raw_user_agent"),
    "numbers, times, flags": ("id", "row_id", "event_timestamp", "customer_id", "transaction_amount", "page_views",
                              "time_on_site_seconds", "bounce_rate", "click_count", "cart_value", "items_in_cart",
                              "satisfaction_score", "loyalty_member", "points_earned", "points_redeemed"),
}


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file-mb", type=float, default=512)
    parser.add_argument("--profile", default="lakebench")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--top", type=int, default=0, help="print the build's N heaviest functions")
    args = parser.parse_args()
    assert sorted(sum(GROUPS.values(), ())) == sorted(BATCH_SCHEMA.names)

    config = load_config(None, [f"file_size_mb={args.file_mb}", "num_files=1", f"profile={args.profile}"])
    loyalty = build_loyalty_table(config.seed, config.customer_id_max, config.profile)
    params = make_plan(config, loyalty).params
    groups = row_groups(params.rows_per_file, params.row_group_rows)
    no_payload = dataclasses.replace(params, payload_kb=0)

    def build(p):
        return [build_row_group(p, loyalty, 0, i, first, count) for i, (first, count) in enumerate(groups)]

    build_all = best(lambda: build(params), args.repeats)
    build_rest = best(lambda: build(no_payload), args.repeats)
    batches = build(params)
    options = writer_options(params.profile)

    def encode(names) -> float:
        def run():
            for name in names:
                i = BATCH_SCHEMA.get_field_index(name)
                schema = pa.schema([BATCH_SCHEMA.field(i)])
                dictionary = [name] if name in options["use_dictionary"] else False
                with pq.ParquetWriter(pa.MockOutputStream(), schema, **dict(options, use_dictionary=dictionary)) as w:
                    for batch in batches:
                        w.write_batch(pa.record_batch([batch.column(i)], schema=schema), row_group_size=batch.num_rows)
        return best(run, args.repeats)

    def encode_file():
        with pq.ParquetWriter(pa.MockOutputStream(), BATCH_SCHEMA, **options) as w:
            for batch in batches:
                w.write_batch(batch, row_group_size=batch.num_rows)

    encode_whole = best(encode_file, args.repeats)
    rows = params.rows_per_file
    print(f"profile {params.profile}: {rows:,} rows in {len(groups)} row groups (~{args.file_mb:g} MiB), "
          f"CPU seconds, best of {args.repeats}")
    print(f"build:  {build_all:.3f} s  = payload {build_all - build_rest:.3f} s + everything else {build_rest:.3f} s "
          f"({build_rest / rows * 1e6:.2f} us/row)")
    print(f"encode: {encode_whole:.3f} s for the whole file; each group written alone:")
    total = 0.0
    for group, names in GROUPS.items():
        seconds = encode(names)
        total += seconds
        print(f"  {group:30s} {seconds:.3f} s  ({seconds / rows * 1e6:.2f} us/row)")
    print(f"  {'(sum of groups)':30s} {total:.3f} s")
    if args.top:
        profiler = cProfile.Profile()
        profiler.enable()
        build(no_payload)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
