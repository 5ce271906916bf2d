#!/usr/bin/env python
"""Peak RSS of a generator actor (as the runtime reports it per file), writing to S3 and locally.

    python scripts/bench_actor_memory.py                 # 3 files of 512 MiB, then 1 of 2 GiB, each to
                                                         # SeaweedFS on 127.0.0.1 and to a tmpfs directory

Runs the real driver with one actor on a local Ray; every file's result carries the actor's
VmHWM after writing it, so the last file of a run shows the actor's peak so far.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir())
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on 127.0.0.1 only
    from tests.s3server import SeaweedFS

    scratch = tempfile.mkdtemp(prefix="bench-actor-", dir=args.dir)
    server = SeaweedFS(tempfile.mkdtemp(prefix="bench-actor-s3-"))
    info = server.start()
    os.environ.update(info.env)  # before Ray starts, so its workers inherit the credentials
    info.client().create_bucket(Bucket="actor-memory")
    import ray

    import lakebench_ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        for label, uri in (("S3", "s3://actor-memory"), ("local", f"{scratch}/out")):
            for files, size in ((3, 512), (1, 2048)):
                config = lakebench_ray.load_config(
                    None, [f"output.uri={uri}", f"output.prefix=mb{size}", f"num_files={files}",
                           f"file_size_mb={size}", "ray.num_actors=1", "progress=false"])
                with open(os.devnull, "w") as quiet:
                    report = lakebench_ray.generate(config, out=quiet)
                peaks = [f["peak_rss_mb"] for f in sorted(report.files, key=lambda f: f["file_id"])]
                print(f"{label:5} {size:5} MiB files x{files}: actor peak RSS after each file {peaks} MB")
                shutil.rmtree(f"{scratch}/out", ignore_errors=True)
    finally:
        ray.shutdown()
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
