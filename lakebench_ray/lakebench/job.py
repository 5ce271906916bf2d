"""Lakebench's datagen Job contract: ``lakebench-ray lakebench-job ARGS...``.

Lakebench runs the image named by ``images.datagen`` as a Kubernetes Indexed Job and passes it a
fixed set of arguments (``--target-tb``, ``--mode``, ``--file-size-mb``, ...) and environment
(``JOB_COMPLETION_INDEX``, ``S3_ENDPOINT``, ``S3_REGION``, ``S3_PATH_STYLE``, ``S3_VERIFY_SSL``,
``S3_CA_CERT``, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``). This module accepts exactly that
contract and translates it into the normal configuration keys, so a pod writes the files
Lakebench's generator would (same names, count, layout and partition of ids) and the run is
validated, checkpointed and reported like any other.

The translation (Lakebench's documented contract on the left):

* file count ``max(1, int(int(target_tb * 2**40) / (file_size_mb * 2**20)))`` -> ``num_files``;
* rows per file: Lakebench's ``max(1000, file bytes // 4200)`` (``rows_per_file: lakebench``), so
  every figure counted in rows is Lakebench's;
* ``--node-id`` (default ``JOB_COMPLETION_INDEX``) of ``--total-nodes`` -> ``partition``: this pod
  writes the ids with ``id % total_nodes == node_id``;
* ``--workers`` -> that many generator actors on a Ray started inside the pod (or the cluster in
  ``RAY_ADDRESS``); inside the pod they share its CPUs when there are more workers than CPUs;
* ``--mode continuous`` -> as many actors as the Ray the pod runs has CPUs (``batch`` and
  ``sequential`` use ``--workers``); the mode never changes the data;
* ``--duration S`` with ``--mode continuous`` -> sustained mode: after the planned files, new ids
  ``total_files + cycle * total_nodes + node_id`` until ``S`` seconds have passed. With another
  mode Lakebench's generator ignores it, and so does this (with a note): a batch Job writes
  exactly the planned files;
* ``--resume`` -> skip the ids in this pod's checkpoint (kept in the bucket, so it outlives the pod).
  A checkpoint of another configuration (the user edited dates or scale) makes this pod's share
  start over, with a warning, rather than fail: a Job cannot pass ``resume=false``, and under
  ``restartPolicy: OnFailure`` a refusal would fail every restart. A newer pyarrow is not another
  configuration: rows per file do not depend on it, and recorded sizes are reused;
* data files under the prefix that the job's plan does not make are left there, as Lakebench's
  pods leave them (``output.existing=keep``), with a warning naming them.

Exit status: 0 only when every file of this pod was written; 2 for arguments this contract does
not have (one line on stderr), 1 for any other failure.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from .. import layout
from ..core.plan import ROWS_LAKEBENCH
from ..errors import ConfigError, UsageError

#: Where the job's settings come from, in error messages.
SOURCE = "the Lakebench job arguments"
MODES = ("batch", "sequential", "continuous")


def lakebench_num_files(target_tb: float, file_size_mb: float, what: str = "--target-tb") -> int:
    """The number of files Lakebench's generator makes for a target size in TiB (the target is
    truncated to whole bytes first, as Lakebench does). A size no plan can hold (more files than
    ``MAX_FILES``, or beyond any float) is refused in one line."""
    from ..config import MAX_FILES

    total = target_tb * 2**40
    if not (math.isfinite(total) and total / (file_size_mb * 2**20) <= MAX_FILES):
        raise ConfigError(f"{what}: {target_tb:g} TiB makes more than {MAX_FILES:,} files of "
                          f"{file_size_mb:g} MiB: ask for less data or larger files")
    return max(1, int(int(total) / (file_size_mb * 2**20)))


@dataclass(frozen=True)
class JobArgs:
    target_tb: float
    mode: str
    file_size_mb: float
    payload_kb: float
    bucket: str
    prefix: str
    seed: int
    dirty_ratio: float
    total_nodes: int
    node_id: Optional[int]
    workers: int
    timestamp_start: Optional[str]
    timestamp_end: Optional[str]
    resume: bool
    duration: Optional[float]


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one :class:`ConfigError` line instead of usage + exit."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        raise UsageError(f"lakebench-job: {message} (see lakebench-ray lakebench-job --help)")


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if not value > 0 or not math.isfinite(value):
            what = "a finite number greater than 0" if kind is float else "greater than 0"
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="lakebench-ray lakebench-job",
        description="Lakebench's datagen Job contract (the image's entrypoint): writes this pod's share "
        "of the Customer360 bronze files to s3://BUCKET/PREFIX/part-NNNNNN.parquet.",
        allow_abbrev=False,
    )
    p.add_argument("--target-tb", type=_positive(float), required=True, help="dataset size in TiB")
    p.add_argument("--mode", choices=MODES, default="batch",
                   help="batch|sequential: --workers actors; continuous: one actor per CPU")
    p.add_argument("--file-size-mb", type=_positive(float), default=512.0, help="target file size in MiB")
    p.add_argument("--payload-kb", type=float, default=2.0, help="random payload per row in KB")
    p.add_argument("--bucket", required=True, help="bronze bucket (s3://BUCKET also accepted)")
    p.add_argument("--prefix", default="customer/interactions/", help="key prefix of the files")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dirty-ratio", type=float, default=0.08)
    p.add_argument("--total-nodes", type=_positive(int), default=1, help="pods of the Indexed Job")
    p.add_argument("--node-id", type=_non_negative_int, default=None,
                   help="this pod's index (default: JOB_COMPLETION_INDEX, else 0)")
    p.add_argument("--workers", type=_positive(int), default=4, help="generator actors in this pod")
    p.add_argument("--timestamp-start", default=None, help="first event date, e.g. 2024-01-01")
    p.add_argument("--timestamp-end", default=None, help="end of the event dates (exclusive)")
    p.add_argument("--resume", action="store_true", help="skip files this pod's checkpoint records")
    p.add_argument("--duration", type=_duration, default=None,
                   help="seconds: keep writing new files after the planned ones until this much time has passed")
    return p


def parse_job_args(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> JobArgs:
    """Parse the job's arguments; the node id falls back to ``JOB_COMPLETION_INDEX``."""
    env = os.environ if environ is None else environ
    ns = build_parser().parse_args(list(argv))
    node_id = ns.node_id
    if node_id is None:
        raw = (env.get("JOB_COMPLETION_INDEX") or "").strip()
        if raw:
            if not (raw.isascii() and raw.isdigit()):  # str.isdigit alone accepts '²', which int() refuses
                raise ConfigError(f"JOB_COMPLETION_INDEX: expected the pod's index (0, 1, ...), got {raw!r}")
            node_id = int(raw)
    if node_id is not None and node_id >= ns.total_nodes:
        raise ConfigError(
            f"lakebench-job: node id {node_id} is not below --total-nodes {ns.total_nodes}: "
            "give --node-id (or JOB_COMPLETION_INDEX) from 0 to total-nodes - 1"
        )
    return JobArgs(
        target_tb=ns.target_tb, mode=ns.mode, file_size_mb=ns.file_size_mb, payload_kb=ns.payload_kb,
        bucket=ns.bucket, prefix=ns.prefix, seed=ns.seed, dirty_ratio=ns.dirty_ratio,
        total_nodes=ns.total_nodes, node_id=node_id, workers=ns.workers,
        timestamp_start=ns.timestamp_start or None, timestamp_end=ns.timestamp_end or None,
        resume=ns.resume, duration=ns.duration or None,
    )


def pod_cpus() -> int:
    """Whole CPUs this process may use: the CPU affinity, capped by a cgroup quota (a pod's CPU
    limit), at least 1. Ray counts a pod's CPUs the same way when it starts inside it."""
    try:
        cpus = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cpus = float(os.cpu_count() or 1)
    quota = None
    try:  # cgroup v2: "max 100000" or "200000 100000"
        with open("/sys/fs/cgroup/cpu.max") as f:
            limit, period = f.read().split()[:2]
        if limit != "max":
            quota = int(limit) / int(period)
    except (OSError, ValueError):
        try:  # cgroup v1
            with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
                limit_us = int(f.read())
            with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
                period_us = int(f.read())
            if limit_us > 0 and period_us > 0:
                quota = limit_us / period_us
        except (OSError, ValueError):
            pass
    if quota is not None:
        cpus = min(cpus, quota)
    return max(1, int(cpus))


def job_notes(args: JobArgs) -> list[str]:
    """One line for each argument that Lakebench's generator accepts and then ignores."""
    notes = []
    if args.duration is not None and args.mode != "continuous":
        notes.append(
            f"--duration {args.duration:g} applies only with --mode continuous (as in Lakebench's generator): "
            f"this --mode {args.mode} Job writes the planned files and exits"
        )
    return notes


def job_layer(args: JobArgs, environ: Mapping[str, str] | None = None, cpus: int | None = None) -> dict[str, Any]:
    """The configuration keys the job's arguments stand for (merged by ``load_config``)."""
    env = os.environ if environ is None else environ
    uri = layout.bucket_uri(args.bucket)
    layer: dict[str, Any] = {
        "num_files": lakebench_num_files(args.target_tb, args.file_size_mb),
        "file_size_mb": args.file_size_mb,
        "payload_kb": args.payload_kb,
        "seed": args.seed,
        "dirty_ratio": args.dirty_ratio,
        "rows_per_file": ROWS_LAKEBENCH,
        "resume": args.resume,
        # A pod's restart must not crash-loop on a checkpoint its edited configuration replaced.
        "resume_mismatch": "restart",
        "duration_s": args.duration if args.mode == "continuous" else None,
        # Lakebench creates its buckets at deploy time; creating a missing one costs nothing.
        # Its pods overwrite their own files and leave the rest: kept, with a warning naming them.
        "output": {"uri": uri, "prefix": args.prefix.strip("/"), "create_bucket": True, "existing": "keep"},
        "partition": {"count": args.total_nodes, "index": args.node_id if args.node_id is not None else 0},
    }
    if args.timestamp_start:
        layer["timestamp_start"] = args.timestamp_start
    if args.timestamp_end:
        layer["timestamp_end"] = args.timestamp_end
    on_cluster = bool((env.get("RAY_ADDRESS") or "").strip())
    if args.mode == "continuous":
        # One actor per CPU of the Ray it runs on (the pod's own Ray: the pod's CPUs).
        layer["ray"] = {"num_actors": None}
    else:
        ray: dict[str, Any] = {"num_actors": args.workers}
        if not on_cluster:
            # More workers than pod CPUs: they share the CPUs rather than wait for ones that never come.
            # Floored to Ray's resource granularity so that all of them fit.
            have = cpus if cpus is not None else pod_cpus()
            if args.workers > have:
                ray["cpus_per_actor"] = math.floor(have / args.workers * 10_000) / 10_000
        layer["ray"] = ray
    return layer


def load_job_config(argv: Sequence[str], environ: Mapping[str, str] | None = None, overrides: Sequence[str] = ()):
    """The validated :class:`~lakebench_ray.config.Config` of one Lakebench datagen pod."""
    from ..config import load_config

    args = parse_job_args(argv, environ)
    return load_config(None, overrides, layers=[(SOURCE, job_layer(args, environ))])


__all__ = ["JobArgs", "build_parser", "job_layer", "job_notes", "lakebench_num_files", "load_job_config", "parse_job_args", "pod_cpus"]
