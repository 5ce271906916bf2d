#!/usr/bin/env python
"""The control plane's cost per file, from 2,000 to 2,000,000 files: the checkpoint log written
as a run writes it, and a resume that decides what to skip, with no data generated.

For each store (a local directory; S3 on a SeaweedFS started here, as the tests start it) and
each number of files N, a fresh subprocess:

1. makes N empty stand-in data files under the data prefix (only their listing matters);
2. *completions*: feeds the N receipts (size, CRC32, version tag from the listing) through
   :class:`~lakebench_ray.control.checkpoint.CheckpointLog` as the checkpoint actor does
   (a segment every ``checkpoint.every_files``=16 files, compaction as configured), and reports
   the control-plane bytes written per file and the CPU per file;
3. *resume*: in another fresh subprocess, opens the checkpoint as a resumed run does (reads the
   log, lists the data prefix once, page by page, and confirms every receipt), and reports its
   wall time, CPU, peak memory (``VmHWM``) and the memory it added per file.

Ratios are printed against the smallest N of the same store, measured in the same run.

    python scripts/bench_control_plane.py                                  # 2k..2M local, 2k..200k S3
    python scripts/bench_control_plane.py --sizes 2000,20000 --stores local
    python scripts/bench_control_plane.py --real 1000,16000                # real runs (Ray), tiny files
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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PREFIX = "bench/data"


def status_mb(field: str) -> float:
    """``VmHWM`` (peak, from exec) or ``VmRSS`` (now) of this process, in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- in the subprocesses ----------------------------------------------------------------------


def _store(uri: str):
    from lakebench_ray.sinks import open_store

    return open_store(uri)


def child_files(uri: str, n: int) -> dict:
    """Stand-in data files 0..n-1 (empty), in parallel."""
    from lakebench_ray import layout

    store = _store(uri)
    started = time.monotonic()
    if not uri.startswith("s3://"):
        folder = Path(uri, PREFIX)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (folder / layout.file_name(i)).touch()
    else:
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            for _ in pool.map(lambda i: store.put_bytes(layout.file_key(PREFIX, i), b""), range(n), chunksize=256):
                pass
    return {"seconds": time.monotonic() - started}


def child_complete(uri: str, n: int) -> dict:
    """Completions: every receipt through the checkpoint log, as the actor records them."""
    from lakebench_ray import layout
    from lakebench_ray.control.checkpoint import CheckpointLog, open_for_run

    store = _store(uri)
    opened = open_for_run(store, PREFIX, range(n), 1, 0, "bench", {"rows_per_file": 1}, resume=False)
    head = len(store.get_bytes(layout.checkpoint_head_key(opened.folder)) or b"")
    log = CheckpointLog(store, opened.folder, opened.generation, every_files=16, every_seconds=1e9)
    crc = 0x1234ABCD
    wall, cpu = time.monotonic(), time.process_time()
    for key, stat in store.iter_stats(PREFIX):  # the listing gives each file's size and version tag
        file_id = layout.parse_file_name(key.rsplit("/", 1)[-1])
        log.record(file_id, {"size": stat.size, "crc32": f"{(crc * (file_id + 1)) & 0xFFFFFFFF:08x}", "tag": stat.tag})
    log.flush()
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    objects = sum(1 for _ in store.iter_stats(opened.folder))
    return {"n": log.saved, "bytes": log.bytes_written + head, "cpu_s": cpu, "wall_s": wall, "objects": objects,
            "peak_mb": status_mb("VmHWM")}


def child_resume(uri: str, n: int) -> dict:
    """A resume over the finished dataset: what to skip, from the log and one listing."""
    from lakebench_ray.control.checkpoint import open_for_run

    store = _store(uri)
    base = status_mb("VmRSS")
    wall, cpu = time.monotonic(), time.process_time()
    opened = open_for_run(store, PREFIX, range(n), 1, 0, "bench", {"rows_per_file": 1}, resume=True)
    todo = opened.confirmed.todo(range(0, n))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    assert len(opened.confirmed.kept) == n and len(todo) == 0, (len(opened.confirmed.kept), len(todo))
    peak = status_mb("VmHWM")
    return {"wall_s": wall, "cpu_s": cpu, "peak_mb": peak, "added_mb": peak - base,
            "bytes_per_file": (peak - base) * 2**20 / n}


def child(argv: list[str]) -> int:
    what, uri, n = argv[0], argv[1], int(argv[2])
    result = {"files": child_files, "complete": child_complete, "resume": child_resume}[what](uri, n)
    print(json.dumps(result))
    return 0


def run_child(what: str, uri: str, n: int, env: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", what, uri, str(n)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=7200)
    if proc.returncode:
        raise SystemExit(f"{what} {uri} {n}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- real runs ----------------------------------------------------------------------------------


def control_bytes_of_a_real_run(out: Path, n: int) -> dict:
    """A real run of ``n`` tiny files to a local directory; the bytes written under the control
    directory, from every version of every object seen there (polled every 20 ms: objects are
    written whole and renamed into place, segments live until compacted, which takes longer)."""
    import lakebench_ray

    control = out / "_lakebench"
    seen: dict[tuple[str, int, int], int] = {}
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            for path in control.rglob("*"):
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                if path.is_file() and not path.name.startswith("."):
                    seen[(str(path), st.st_ino, st.st_mtime_ns)] = st.st_size
            time.sleep(0.02)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    config = lakebench_ray.load_config(None, [f"output.uri={out}", f"output.prefix={PREFIX}", f"num_files={n}",
                                              "rows_per_file=50", "payload_kb=0.125", "customer_id_max=1000",
                                              "progress=false", "ray.num_actors=2"])
    started = time.monotonic()
    with open(os.devnull, "w") as quiet:
        report = lakebench_ray.generate(config, out=quiet)
    seconds = time.monotonic() - started
    time.sleep(0.1)
    stop.set()
    watcher.join()
    assert report.ok and report.files_written == n
    return {"n": n, "bytes": sum(seen.values()), "seconds": seconds}


# -- main ---------------------------------------------------------------------------------------


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,20000,200000,2000000")
    parser.add_argument("--stores", default="local,s3")
    parser.add_argument("--s3-max", type=int, default=200_000, help="largest N on S3 (stand-in objects take long)")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the local stores go")
    parser.add_argument("--real", default="", help="also real runs (Ray, tiny files) of these sizes, e.g. 1000,16000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    env = dict(os.environ)
    server = None
    rows = []
    try:
        for kind in [s for s in args.stores.split(",") if s]:
            if kind == "s3":
                from tests.s3server import SeaweedFS

                server = SeaweedFS(tempfile.mkdtemp(prefix="bench-control-s3-", dir=args.dir))
                info = server.start()
                env.update(info.env)
            for n in sizes:
                if kind == "s3" and n > args.s3_max:
                    print(f"{kind:5} {n:>9,}: skipped (--s3-max {args.s3_max:,})", flush=True)
                    continue
                if kind == "s3":
                    bucket = f"control-{n}"
                    info.client().create_bucket(Bucket=bucket)
                    uri, scratch = f"s3://{bucket}", None
                else:
                    scratch = tempfile.mkdtemp(prefix=f"bench-control-{n}-", dir=args.dir)
                    uri = scratch
                try:
                    made = run_child("files", uri, n, env)
                    done = run_child("complete", uri, n, env)
                    resumed = run_child("resume", uri, n, env)
                finally:
                    if scratch:
                        shutil.rmtree(scratch, ignore_errors=True)
                row = {"store": kind, "n": n, "stand_ins_s": made["seconds"], **{f"c_{k}": v for k, v in done.items()},
                       **{f"r_{k}": v for k, v in resumed.items()}}
                rows.append(row)
                print(f"{kind:5} {n:>9,} files: {row['c_bytes'] / n:6.1f} B/file written, "
                      f"{row['c_cpu_s'] / n * 1e6:6.1f} us CPU/file, {row['c_objects']:,} objects, "
                      f"writer peak {row['c_peak_mb']:.0f} MB | resume {row['r_wall_s']:.2f}s "
                      f"({row['r_cpu_s']:.2f}s CPU), peak {row['r_peak_mb']:.0f} MB, "
                      f"{row['r_bytes_per_file']:.0f} B/file added", flush=True)
        for kind in {r["store"] for r in rows}:
            mine = [r for r in rows if r["store"] == kind]
            base = mine[0]
            print(f"\n{kind}: ratios against {base['n']:,} files")
            for r in mine:
                print(f"  {r['n']:>9,}: bytes/file x{(r['c_bytes'] / r['n']) / (base['c_bytes'] / base['n']):.2f}, "
                      f"CPU/file x{(r['c_cpu_s'] / r['n']) / (base['c_cpu_s'] / base['n']):.2f}, "
                      f"resume time/file x{(r['r_wall_s'] / r['n']) / (base['r_wall_s'] / base['n']):.2f}")
        if args.real:
            import ray

            ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
            try:
                real = []
                for n in [int(s) for s in args.real.split(",")]:
                    scratch = tempfile.mkdtemp(prefix=f"bench-control-real-{n}-", dir=args.dir)
                    try:
                        real.append(control_bytes_of_a_real_run(Path(scratch), n))
                    finally:
                        shutil.rmtree(scratch, ignore_errors=True)
                    r = real[-1]
                    print(f"real run {n:>7,} files: {r['bytes'] / n:7.1f} B/file to the control directory "
                          f"(x{(r['bytes'] / n) / (real[0]['bytes'] / real[0]['n']):.2f}), {r['seconds']:.0f}s", flush=True)
            finally:
                ray.shutdown()
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
