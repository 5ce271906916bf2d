"""The driver: plan, share the loyalty table, run the actor pool, checkpoint, report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import itertools
import secrets
import sys
import time
from typing import Optional

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ..config import Config
from ..core import build_loyalty_table
from .. import layout
from ..errors import GenerationFailed, Interrupted, LeaseLost
from ..lease import Lease
from ..planning import RunPlan, make_plan
from ..sinks import Store, open_store
from . import cluster
from .actors import GeneratorActor
from . import checkpoint as checkpoints
from .checkpoint import Checkpoint, CheckpointActor
from .metrics import RunMetrics
from .outage import outage_gate, storage_step
from .pool import FilePool, PoolSettings, StopRequested
from .progress import Progress
from .recorder import CheckpointRecorder
from .signals import StopSignals

#: Restarts of the checkpoint actor before the driver keeps the checkpoint itself.
CHECKPOINT_ACTOR_RESTARTS = 3
#: Seconds the generator actors get to die after a stop before their uploads are aborted anyway.
STOP_GRACE_S = 5.0

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Report:
    """What a run did; also written as ``report.json`` in the control directory
    (``<uri>/_lakebench/<prefix>/``), with every file's size, CRC32 and version tag."""

    config: dict
    plan: dict
    files_planned: int
    files_written: int
    files_skipped: int
    rows: int
    bytes: int
    seconds: float
    generation_seconds: float  # from the first file handed out to the last one finished
    throughput_mb_s: float  # bytes written / generation_seconds
    retries: int
    failed: list
    files: list
    finished_at: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    def summary_line(self) -> str:
        return (
            f"done: {self.files_written} files written ({self.files_skipped} already done), "
            f"{self.rows:,} rows, {self.bytes / 1e9:.2f} GB in {self.seconds:.1f}s "
            f"({self.throughput_mb_s:.0f} MB/s while generating), {self.retries} retries"
        )


report_key = layout.report_key


def _cleanup_partials(store: Store, prefix: str, plan: RunPlan) -> int:
    """Remove temp files / open uploads that interrupted writers of this partition left.

    Only called while this run holds the partition's lease and none of its own writers runs, so
    what it finds was left by earlier holders (or this run's lost actors), never by a live run."""

    def mine(key: str) -> bool:
        folder, _, name = key.rpartition("/")
        if folder != prefix:  # data files sit directly under the prefix; a nested prefix is another dataset's
            return False
        file_id = layout.parse_file_name(name)
        return file_id is not None and layout.in_partition(file_id, plan.partition_count, plan.partition_index)

    return store.cleanup_partials(prefix, mine)


def _lease_lost(store: Store, prefix: str, lease: Lease) -> LeaseLost:
    return LeaseLost(
        f"this run lost its lease on {store.describe(prefix)} ({lease.lost}): another run may be writing "
        "there; run again with resume=true once no other run writes there"
    )


def _autoscaler_request(cpus_per_actor: float):
    """Ask an autoscaler (if any) for room for ``n`` actors; 0 releases the request so the
    cluster can scale down."""
    last = None

    def request(n: int) -> None:
        nonlocal last
        n = min(n, 10_000)
        if n == last:
            return
        last = n
        try:
            from ray.autoscaler.sdk import request_resources

            request_resources(bundles=[{"CPU": cpus_per_actor}] * n)
        except Exception as exc:  # no autoscaler here: nothing to ask
            log.debug("request_resources(%d actors) not sent: %s", n, exc)

    return request


def _sustained_ids(config: Config, plan: RunPlan, started: float):
    """Ids past the planned set (interleaved by partition, so partitions never collide) for as
    long as ``duration_s`` since the run started allows."""
    deadline = started + config.duration_s
    next_id = plan.files.num_files + plan.partition_index

    def more():
        nonlocal next_id
        if time.monotonic() >= deadline:
            return None
        file_id, next_id = next_id, next_id + plan.partition_count
        return file_id

    return more


def generate(config: Config, *, out=None) -> Report:
    """Generate the dataset described by ``config``; returns the :class:`Report`.

    Works inside an already-initialised Ray (and leaves it running) or starts/joins one.
    Raises :class:`~lakebench_ray.errors.LakebenchError` subclasses for anything the user can fix;
    SIGTERM/SIGINT (in the main thread) end it with :class:`~lakebench_ray.errors.Interrupted`
    after in-flight files are aborted and the checkpoint is saved.
    """
    with StopSignals() as signals:
        return _generate(config, out or sys.stdout, signals)


def _interrupted(signals: StopSignals, done: int, total: int, saved: bool) -> Interrupted:
    state = "checkpointed" if saved else "NOT checkpointed (the storage did not answer)"
    return Interrupted(
        f"stopped by {signals.name}: {done} of {total} files done and {state}, files in flight discarded; "
        "run again with resume=true to finish",
        signals.signum,
    )


def _generate(config: Config, out, signals: StopSignals) -> Report:
    started = time.monotonic()
    # Everything that can be refused is checked before anything is written: the plan (sizes
    # against format and storage limits), the Ray address and cluster, then the store.
    loyalty = build_loyalty_table(config.seed, config.customer_id_max)
    plan = make_plan(config, loyalty)
    spec = config.store_spec()
    store = open_store(**spec)
    prefix = config.output.prefix.strip("/")
    key = layout.checkpoint_key(prefix, plan.partition_count, plan.partition_index)
    every = (config.checkpoint.every_files, config.checkpoint.every_seconds)
    budget = config.outage_budget_s

    def say(message: str) -> None:
        print(f"lakebench-ray: note: {message}", file=out, flush=True)

    own_ray = cluster.connect(config.ray.address)
    signals.install()  # ray.init put its own SIGTERM handler in place of ours
    lease: Optional[Lease] = None
    pool: Optional[FilePool] = None
    recorder: Optional[CheckpointRecorder] = None
    finished = False
    try:
        # A Ray this run started has no autoscaler to wait for.
        waiting_for = cluster.check_actor_fits(config.ray.cpus_per_actor, grace_s=0 if own_ray else cluster.AUTOSCALER_GRACE_S)
        store.preflight()
        # One writer per prefix and partition, before anything is touched; a live holder is refused.
        lease = Lease(store, prefix, plan.partition_count, plan.partition_index,
                      ttl_s=config.checkpoint.lease_ttl_s).acquire(note=say)
        lease.start_renewing()
        # Checked against this config before any work: a mismatch stops the run, and nothing is
        # ever written over a foreign checkpoint; saved with this run's fingerprint before any file.
        plan, done_before = checkpoints.start(store, prefix, key, plan, config, say)
        if signals.requested:
            raise _interrupted(signals, len(done_before), len(plan.file_ids), saved=True)
        if waiting_for:
            print(f"lakebench-ray: {waiting_for}", file=out, flush=True)
        run_id = secrets.token_hex(3)
        # Pinned to the driver's node: it lives and dies with the driver, never with a worker.
        # Restarted when lost (its constructor gets the files done before this run; the driver
        # sends again what this run did, see CheckpointRecorder).
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        ckpt = ray.remote(num_cpus=0, max_restarts=CHECKPOINT_ACTOR_RESTARTS, max_task_retries=0)(
            CheckpointActor
        ).options(name=f"lakebench-checkpoint-{run_id}", scheduling_strategy=here).remote(
            spec, key, plan.fingerprint, *every, {str(i): r for i, r in done_before.items()}, plan.sizing(config)
        )

        def local_checkpoint() -> Checkpoint:
            checkpoint = Checkpoint(store, key, plan.fingerprint, every_files=every[0], every_seconds=every[1],
                                    sizing=plan.sizing(config))
            checkpoint.files = dict(done_before)
            return checkpoint

        recorder = CheckpointRecorder(ckpt, local_checkpoint, batch_files=config.checkpoint.every_files)
        todo = [i for i in plan.file_ids if i not in done_before]
        def stop_now() -> None:
            if signals.requested:
                raise _interrupted(signals, len(done_before), len(plan.file_ids), saved=False)

        removed = storage_step(store, budget, "removing unfinished files",
                               lambda: _cleanup_partials(store, prefix, plan), stop_now)
        if removed:
            say(f"removed {removed} partial write(s) an earlier run of this partition left behind")

        loyalty_ref = ray.put(loyalty)
        params = plan.params.as_dict()
        actor_cls = ray.remote(num_cpus=config.ray.cpus_per_actor, max_restarts=0, max_task_retries=0)(GeneratorActor)

        serial = itertools.count()

        def make_actor():
            # Named, so the dashboard (and an operator) can tell the run's actors apart.
            name = f"lakebench-generator-{run_id}-{next(serial)}"
            return actor_cls.options(name=name, scheduling_strategy="SPREAD").remote(params, loyalty_ref, spec, prefix)

        progress = Progress(len(plan.file_ids), done=len(plan.file_ids) - len(todo), enabled=config.progress, stream=out)
        metrics = RunMetrics(f"{plan.partition_index}/{plan.partition_count}")
        metrics.set_remaining(len(todo))
        planned = set(plan.file_ids)
        results: list[dict] = []

        def on_result(result: dict) -> None:
            if lease.lost is not None:  # someone else writes here now: stop at once, record nothing
                raise _lease_lost(store, prefix, lease)
            results.append(result)
            if result["file_id"] in planned:  # sustained-mode extras are not part of the dataset plan
                receipt = {"size": result["bytes"], "crc32": result["crc32"], "tag": result["tag"]}
                recorder.record(result["file_id"], receipt)
            progress.update(files=int(result["file_id"] in planned), rows=result["rows"], nbytes=result["bytes"])
            metrics.file_written(result["rows"], result["bytes"])
            metrics.set_remaining(len(planned) - progress.files)

        def on_retry(file_id: int, cause: str) -> None:
            log.warning("retrying file %d: %s", file_id, cause)
            progress.update(retries=1)
            metrics.retry()

        def on_actors(n: int) -> None:
            progress.update(actors=n)
            metrics.set_actors(n)

        settings = PoolSettings(
            num_actors=config.ray.num_actors,
            max_actors=config.ray.max_actors,
            cpus_per_actor=config.ray.cpus_per_actor,
            max_attempts=config.ray.max_file_attempts,
            waiting_for=waiting_for,
        )
        gate = outage_gate(store, prefix, budget)
        def on_note(text: str) -> None:  # beside the progress line, not on stderr (kept for errors)
            print(f"lakebench-ray: {text}", file=out, flush=True)

        pool = FilePool(make_actor, settings, on_result=on_result, on_retry=on_retry, on_actors=on_actors,
                        want_actors=_autoscaler_request(config.ray.cpus_per_actor),
                        should_stop=lambda: signals.requested, outage=gate, on_note=on_note)
        print(
            f"lakebench-ray: {len(todo)} of {len(plan.file_ids)} files to write "
            f"({plan.files.rows_per_file:,} rows, ~{plan.files.file_bytes / 2**20:.0f} MiB each) "
            f"to {store.describe(prefix)}",
            file=out,
            flush=True,
        )
        pool_started = time.monotonic()
        extra = _sustained_ids(config, plan, started) if config.duration_s else None
        try:
            failed = pool.run(todo, more=extra) if (todo or extra) else []
        except StopRequested:
            pool.abort(STOP_GRACE_S)  # kill the writers; their uploads are aborted just below
            saved = True
            try:
                if store.probe() is None:
                    _cleanup_partials(store, prefix, plan)
                    recorder.flush(timeout=10)
                else:
                    saved = False
            except Exception as exc:  # noqa: BLE001 - say what was saved, not a second traceback
                log.warning("could not finish cleaning up after %s: %s", signals.name, exc)
                saved = False
            finished = True  # nothing more to save in the finally block
            progress.close()
            raise _interrupted(signals, progress.files, len(plan.file_ids), saved) from None
        generation_seconds = time.monotonic() - pool_started
        pool.shutdown()
        # Writers that died mid-file (lost actors, nodes) leave temp files / open uploads behind;
        # every writer of this partition has stopped now.
        def stop_late() -> None:
            if signals.requested:
                raise _interrupted(signals, progress.files, len(plan.file_ids), saved=False)

        storage_step(store, budget, "removing unfinished files", lambda: _cleanup_partials(store, prefix, plan), stop_late)
        metrics.failed(len(failed))
        if lease.lost is not None:
            raise _lease_lost(store, prefix, lease)
        storage_step(store, budget, "saving the checkpoint", recorder.flush, stop_late)
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
            generation_seconds=round(generation_seconds, 3),
            throughput_mb_s=round(written_bytes / 1e6 / generation_seconds, 1) if generation_seconds > 0 else 0.0,
            retries=progress.retries,
            failed=[dataclasses.asdict(f) for f in failed],
            files=sorted(results, key=lambda r: r["file_id"]),
        )
        report.finished_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        report_name = report_key(prefix, plan.partition_count, plan.partition_index)
        storage_step(store, budget, "writing the report",
                      lambda: store.put_bytes(report_name, report.to_json().encode()), stop_late)
        if failed:
            names = ", ".join(f"part-{f.file_id:06d} ({f.cause})" for f in failed[:5])
            more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
            raise GenerationFailed(f"{len(failed)} file(s) failed after {config.ray.max_file_attempts} attempts: {names}{more}")
        print(report.summary_line(), file=out, flush=True)
        finished = True
        return report
    finally:
        if pool is not None:
            pool.shutdown()
        if recorder is not None and not finished and (lease is None or lease.lost is None):
            # Stopped by an error: keep what completed so resume=true skips it (bounded: the
            # storage may be what failed).
            try:
                if store.probe() is None:
                    recorder.flush(timeout=10)
            except Exception as exc:  # the checkpoint has its own last flush; never mask the cause
                log.warning("could not save the checkpoint on the way out: %s", exc)
        if own_ray:
            ray.shutdown()
        if lease is not None:
            lease.release()


__all__ = ["Report", "generate"]
