#!/usr/bin/env python
"""Driver CPU per file with 2, 16 and 64 actors: many tiny files through the real pool, so the
driver's per-file work dominates, and its ratio to 2 actors shows whether it grows with the pool.

    python scripts/bench_driver.py                        # 1,500 files per run, /dev/shm
    python scripts/bench_driver.py --repeat 3             # sizes interleaved, medians
    python scripts/bench_driver.py --actors 2,16,64,128 --files 3000

Each pool size runs on one local Ray with 2 CPUs; actors reserve 2/N CPUs each (fractional
``ray.cpus_per_actor``), so all N run at once. The driver runs on a CPU of its own and Ray with
its actors on the others, as on a KubeRay cluster, whose head (``num-cpus: 0``) runs the driver
and no generator: N actors on the driver's own CPU would slow each of its steps by preemption and
cold caches, more with more actors, which is contention rather than the driver's work
(``--no-pin`` measures it that way all the same).

What is measured is the steady part of a run: from the moment all N actors are up until the
queue of files runs dry, the driver's CPU time (this process: pool loop, checkpoint records,
progress, and Ray's own threads) divided by the files completed meanwhile. Starting N actors
(tens of seconds for 64 on a loaded machine) and the run's fixed costs (planning, the lease,
the report) stay outside it. The driver's own thread (the pool loop, records, progress: the
code this project controls) is measured apart from Ray's threads.

Pool sizes are compared at the same completion rate. On a fixed number of CPUs, N actors make
files more slowly the larger N is, and each completion then wakes a driver whose caches have gone
cold in the longer pause: 2 actors cost the driver 0.68 ms per file at 157 files/s and 0.92 ms at
66 files/s on this machine, with nothing else changed. So the largest pool runs first with
``--rows``, and each smaller pool is rerun with more rows per file (the driver's work per file
does not depend on rows) until it completes files at about the same rate. ``--no-match`` runs
every size at ``--rows`` instead, and the first runs are printed either way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from typing import Callable

import ray

import lakebench_ray
from lakebench_ray.runtime.progress import Progress


def _pin_process(cpus: set[int]) -> None:
    """Every thread of this process onto ``cpus`` (``sched_setaffinity`` sets one thread)."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # the thread ended meanwhile
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1500, help="files per run")
    parser.add_argument("--actors", default="2,16,64", help="pool sizes, comma-separated")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir())
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--rows", type=int, default=50, help="rows per file")
    parser.add_argument("--no-match", dest="match", action="store_false",
                        help="every pool size at --rows, each at its own rate")
    parser.add_argument("--repeat", type=int, default=1, help="runs per pool size; the median is printed")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="let the driver share every CPU with Ray and the actors")
    args = parser.parse_args()
    sizes = [int(n) for n in args.actors.split(",")]
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    cpus = sorted(os.sched_getaffinity(0))
    pin = args.pin and len(cpus) >= 2
    if pin:  # Ray's processes (started by ray.init) inherit the rest; the driver keeps the first
        _pin_process(set(cpus[1:]))
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    if pin:
        _pin_process({cpus[0]})
    out = tempfile.mkdtemp(prefix="bench-driver-", dir=args.dir)
    runs: dict[int, list[dict]] = {n: [] for n in sizes}
    try:
        with open(os.devnull, "w") as quiet:
            def measure(n: int, rows: int) -> dict:
                return {"rows": rows, **_measure(n, args.files, args.cpus, out, quiet, rows)}

            # The largest pool makes files the slowest (its N processes share the CPUs); each
            # smaller one gets rows enough to complete files as slowly, found by measuring.
            first = {n: measure(n, args.rows) for n in sorted(sizes, reverse=True)}
            target = first[max(sizes)]["files_per_s"]
            for n in sizes:
                runs[n].append(_match(measure, n, first[n], target) if args.match else first[n])
            for _ in range(args.repeat - 1):  # sizes interleaved, so a noisy spell is shared out
                for n in sizes:
                    runs[n].append(measure(n, runs[n][0]["rows"]))
    finally:
        shutil.rmtree(out, ignore_errors=True)
        ray.shutdown()
    if args.match:
        print(f"at {args.rows} rows per file: " + ", ".join(
            f"{n} actors {first[n]['ms_per_file']:.2f} ms per file at {first[n]['files_per_s']:.0f} files/s" for n in sizes))
    results = {n: {key: round(statistics.median(r[key] for r in rs), 3) for key in rs[0]} for n, rs in runs.items()}
    base, loop_base = results[sizes[0]]["ms_per_file"], results[sizes[0]]["loop_ms_per_file"]
    print(f"driver {'on its own CPU, Ray and the actors on the rest' if pin else 'sharing every CPU with the actors'}; "
          f"median of {args.repeat} run(s) per pool size" + (", all at about the same files/s" if args.match else ""))
    for n, r in results.items():
        each = " ".join(f"{x['ms_per_file']:.2f}" for x in runs[n])
        print(f"{n:4d} actors: driver CPU {r['ms_per_file']:.2f} ms per completed file ({r['ms_per_file'] / base:.2f}x "
              f"{sizes[0]} actors; runs: {each}), of which the driver's own thread (pool loop, records, progress) "
              f"{r['loop_ms_per_file']:.2f} ms ({r['loop_ms_per_file'] / loop_base:.2f}x); "
              f"{r['window_files']:.0f} files of {r['rows']:.0f} rows measured at {r['files_per_s']:.0f} files/s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"pinned": pin, "median": results, "runs": runs}, fh, indent=1)
    return 0


def _match(measure: Callable[[int, int], dict], n: int, first: dict, target: float) -> dict:
    """Rerun ``n`` actors with more rows per file until files complete at about ``target`` per
    second (within 12 %): seconds per file are about linear in rows, so each try solves the line
    through the last two. Returns the run closest to the target."""
    tries = [first]
    while abs(tries[-1]["files_per_s"] / target - 1) > 0.12 and len(tries) < 5:
        if len(tries) == 1:
            rows = first["rows"] + 2000
        else:
            (r1, s1), (r2, s2) = [(t["rows"], 1 / t["files_per_s"]) for t in tries[-2:]]
            slope = (s2 - s1) / (r2 - r1) if r2 != r1 else 0.0
            rows = int(r2 + (1 / target - s2) / slope) if slope > 0 else 2 * r2
            rows = max(first["rows"], min(rows, 20 * max(r1, r2)))
        tries.append(measure(n, rows))
    return min(tries, key=lambda t: abs(t["files_per_s"] / target - 1))


class _Window:
    """The steady part of one run, seen from the driver's thread: from the moment all ``n``
    actors are up until the queue of files runs dry (then actors are released, calls are fewer).

    It watches the run's progress counter (``Progress.update``, called on the driver's thread for
    every completed file and every change in live actors), so nothing of the run is changed and
    the window's edges cost the driver nothing it would not spend anyway."""

    def __init__(self, n: int, files: int):
        self.n, self.last = n, files - 2 * n - 1  # 2 calls queued per actor: the queue is dry after
        self.start: tuple | None = None
        self.end: tuple | None = None

    def see(self, progress: Progress) -> None:
        if self.start is None and progress.actors >= self.n:
            self.start = (progress.files, time.process_time(), time.thread_time(), time.monotonic())
        elif self.start is not None and self.end is None and progress.files >= self.last:
            self.end = (progress.files, time.process_time(), time.thread_time(), time.monotonic())

    def figures(self) -> dict | None:
        """The window's figures, or None if it holds too few files to tell (under a fifth of
        the run: the actors took most of it to start)."""
        if self.start is None or self.end is None or 5 * (self.end[0] - self.start[0]) < self.last:
            return None
        files = self.end[0] - self.start[0]
        return {"ms_per_file": 1000 * (self.end[1] - self.start[1]) / files,
                "loop_ms_per_file": 1000 * (self.end[2] - self.start[2]) / files,
                "window_files": files,
                "files_per_s": files / (self.end[3] - self.start[3])}


def _measure(n: int, files: int, cpus: int, out: str, quiet, rows: int) -> dict:
    """One pool size: a warm-up, then one run whose steady part is measured."""
    tiny = [f"rows_per_file={rows}", "payload_kb=0", "customer_id_max=1000", "progress=false",
            f"ray.num_actors={n}", f"ray.cpus_per_actor={cpus / n}"]
    # Warm up: imports, the first calls and Ray's first actor processes, not timed.
    warm = lakebench_ray.load_config(None, [f"output.uri={out}/warmup-{n}", f"num_files={2 * n}", *tiny])
    lakebench_ray.generate(warm, out=quiet)
    shutil.rmtree(f"{out}/warmup-{n}", ignore_errors=True)
    for _ in range(4):
        window = _Window(n, files)
        update = Progress.update

        def watched(self, **counts) -> None:
            update(self, **counts)
            window.see(self)

        Progress.update = watched
        try:
            config = lakebench_ray.load_config(None, [f"output.uri={out}/run-{n}", f"num_files={files}", *tiny])
            lakebench_ray.generate(config, out=quiet)
        finally:
            Progress.update = update
            shutil.rmtree(f"{out}/run-{n}", ignore_errors=True)
        figures = window.figures()
        if figures is not None:
            return figures
        files *= 2  # the actors took most of the run to start: a longer run
    raise SystemExit(f"{n} actors: the actors took most of every run to start, even of {files // 2} files; raise --files")


if __name__ == "__main__":
    raise SystemExit(main())
