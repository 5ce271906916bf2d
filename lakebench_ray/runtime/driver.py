"""The driver: plan, share the loyalty table, run the actor pool, checkpoint, report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import sys
import time
from typing import Optional

import ray

from ..config import Config
from ..core import build_loyalty_table
from ..errors import GenerationFailed, LakebenchError
from ..planning import RunPlan, make_plan
from ..sinks import Store, open_store
from .actors import GeneratorActor
from .checkpoint import CheckpointActor, checkpoint_key, metadata_dir
from .pool import FilePool, PoolSettings
from .progress import Progress

log = logging.getLogger(__name__)
_PART_ID = re.compile(r"part-(\d+)\.parquet")


@dataclasses.dataclass
class Report:
    """What a run did; also written as ``_lakebench/report.json`` beside the data."""

    config: dict
    plan: dict
    files_planned: int
    files_written: int
    files_skipped: int
    rows: int
    bytes: int
    seconds: float
    throughput_mb_s: float
    retries: int
    failed: list
    files: list

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    def summary_line(self) -> str:
        return (
            f"done: {self.files_written} files written ({self.files_skipped} already done), "
            f"{self.rows:,} rows, {self.bytes / 1e9:.2f} GB in {self.seconds:.1f}s "
            f"({self.throughput_mb_s:.0f} MB/s), {self.retries} retries"
        )


def store_spec(config: Config) -> dict:
    """Plain values from which every process opens the same store (no secrets: those come from
    each process's own environment and credential chain)."""
    s3 = {k: v for k, v in dataclasses.asdict(config.s3).items() if v is not None}
    return {"uri": config.output.uri, "s3": s3, "create_bucket": config.output.create_bucket}


def report_key(prefix: str, count: int = 1, index: int = 0) -> str:
    name = "report.json" if count == 1 else f"report-{index:04d}-of-{count:04d}.json"
    return f"{metadata_dir(prefix)}/{name}"


def _init_ray(config: Config) -> bool:
    """Connect to (or start) Ray; returns whether this call started it (and so must stop it)."""
    if ray.is_initialized():
        return False
    ray.init(address=config.ray.address, logging_level=logging.WARNING, log_to_driver=True)
    return True


def _cleanup_partials(store: Store, prefix: str, plan: RunPlan) -> int:
    """Remove temp files / open uploads that interrupted writers of this partition left."""

    def mine(key: str) -> bool:
        match = _PART_ID.fullmatch(key.rsplit("/", 1)[-1])
        return bool(match) and int(match.group(1)) % plan.partition_count == plan.partition_index

    return store.cleanup_partials(prefix, mine)


def generate(config: Config, *, out=None) -> Report:
    """Generate the dataset described by ``config``; returns the :class:`Report`.

    Works inside an already-initialised Ray (and leaves it running) or starts/joins one.
    Raises :class:`~lakebench_ray.errors.LakebenchError` subclasses for anything the user can fix.
    """
    out = out or sys.stdout
    started = time.monotonic()
    store = open_store(**store_spec(config))
    store.preflight()
    prefix = config.output.prefix.strip("/")

    loyalty = build_loyalty_table(config.seed, config.customer_id_max)
    plan = make_plan(config, loyalty)
    own_ray = _init_ray(config)
    pool: Optional[FilePool] = None
    try:
        spec = store_spec(config)
        ckpt = ray.remote(num_cpus=0, max_restarts=-1)(CheckpointActor).remote(
            spec,
            checkpoint_key(prefix, plan.partition_count, plan.partition_index),
            plan.fingerprint,
            config.checkpoint.every_files,
            config.checkpoint.every_seconds,
        )
        done_before = set(ray.get(ckpt.load.remote(config.resume)))
        todo = [i for i in plan.file_ids if i not in done_before]
        _cleanup_partials(store, prefix, plan)

        loyalty_ref = ray.put(loyalty)
        params = plan.params.as_dict()
        actor_cls = ray.remote(num_cpus=config.ray.cpus_per_actor, max_restarts=0, max_task_retries=0)(GeneratorActor)

        def make_actor():
            return actor_cls.options(scheduling_strategy="SPREAD").remote(params, loyalty_ref, spec, prefix)

        progress = Progress(len(plan.file_ids), enabled=config.progress, stream=out)
        progress.files = len(plan.file_ids) - len(todo)
        results: list[dict] = []
        record_refs = []

        def on_result(result: dict) -> None:
            results.append(result)
            record_refs.append(ckpt.record.remote(result["file_id"]))
            progress.update(files=1, rows=result["rows"], nbytes=result["bytes"])

        def on_retry(file_id: int, cause: str) -> None:
            log.warning("retrying file %d: %s", file_id, cause)
            progress.update(retries=1)

        settings = PoolSettings(
            num_actors=config.ray.num_actors,
            max_actors=config.ray.max_actors,
            cpus_per_actor=config.ray.cpus_per_actor,
            max_attempts=config.ray.max_file_attempts,
        )
        pool = FilePool(make_actor, settings, on_result=on_result, on_retry=on_retry,
                        on_actors=lambda n: progress.update(actors=n))
        print(
            f"lakebench-ray: {len(todo)} of {len(plan.file_ids)} files to write "
            f"({plan.files.rows_per_file:,} rows, ~{plan.files.file_bytes / 2**20:.0f} MiB each) "
            f"to {store.describe(prefix)}",
            file=out,
            flush=True,
        )
        failed = pool.run(todo) if todo else []
        ray.get(record_refs)
        ray.get(ckpt.flush.remote())
        progress.close()
        seconds = time.monotonic() - started
        written_bytes = sum(r["bytes"] for r in results)
        report = Report(
            config=config.to_dict(),
            plan=plan.summary(),
            files_planned=len(plan.file_ids),
            files_written=len(results),
            files_skipped=len(plan.file_ids) - len(todo),
            rows=sum(r["rows"] for r in results),
            bytes=written_bytes,
            seconds=round(seconds, 3),
            throughput_mb_s=round(written_bytes / 2**20 / seconds, 1) if seconds > 0 else 0.0,
            retries=progress.retries,
            failed=[dataclasses.asdict(f) for f in failed],
            files=sorted(results, key=lambda r: r["file_id"]),
        )
        report.config["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        store.put_bytes(report_key(prefix, plan.partition_count, plan.partition_index), report.to_json().encode())
        if failed:
            names = ", ".join(f"part-{f.file_id:06d} ({f.cause})" for f in failed[:5])
            more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
            raise GenerationFailed(f"{len(failed)} file(s) failed after {config.ray.max_file_attempts} attempts: {names}{more}")
        print(report.summary_line(), file=out, flush=True)
        return report
    finally:
        if pool is not None:
            pool.shutdown()
        if own_ray:
            ray.shutdown()


__all__ = ["Report", "generate", "store_spec", "LakebenchError"]
