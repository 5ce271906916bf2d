"""The driver: plan, share the loyalty table, run the actor pool, checkpoint, report."""

from __future__ import annotations

import logging
import itertools
import re
import secrets
import sys
import time
from typing import Optional

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ..config import Config
from ..core import build_loyalty_table
from .. import layout
from ..errors import GenerationFailed, Interrupted, PrefixNotOwned
from ..control.lease import Lease
from ..planning import RunPlan, make_plan
from ..sinks import Store, StoreFindings, open_store
from . import cluster
from .actors import GeneratorActor
from ..control.checkpoint import CheckpointLog
from ..control.receipts import Listing
from . import checkpoint as checkpoints
from .checkpoint import CheckpointActor
from .metrics import RunMetrics
from .outage import outage_gate, storage_step
from .pool import FailedFile, FilePool, PoolSettings, StopRequested
from .progress import Progress
from .recorder import CheckpointRecorder
from ..control import report as reports
from ..control.report import FileLines, Report
from .results import FileResult
from .signals import StopSignals

#: Restarts of the checkpoint actor before the driver keeps the checkpoint itself.
CHECKPOINT_ACTOR_RESTARTS = 3
#: Seconds the generator actors get to die after a stop before their uploads are aborted anyway.
STOP_GRACE_S = 5.0

log = logging.getLogger(__name__)




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


def _failures_line(failed: list[FailedFile], attempts: int) -> str:
    """One line for the files that failed: their names, and each distinct cause once (a full
    disk fails every file alike; its cause said once per file made one very long line)."""
    names = ", ".join(layout.file_name(f.file_id) for f in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    causes: dict[str, str] = {}
    for f in failed:
        causes.setdefault(re.sub(r"part-\d{6,}", "part-N", f.cause), f.cause)
    said = "; ".join(list(causes.values())[:2]) + (f"; and {len(causes) - 2} other causes" if len(causes) > 2 else "")
    return f"{len(failed)} file(s) failed after {attempts} attempts ({names}{more}): {said}"


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
    run = _Run(config, out, signals)
    # The storage is checked before Ray is joined or started: a wrong endpoint, bucket, credential
    # or directory is refused in the seconds it takes to ask, not after a Ray start.
    # Both bounded, and both give way to SIGINT/SIGTERM within a fraction of a second.
    run.adopt(signals.run(run.store.preflight, f"checking {run.store.describe(run.prefix)}"))
    # Joining Ray puts Ray's own SIGTERM handler in place of ours: installed again right after.
    run.own_ray = cluster.connect(config.ray.address, stop=lambda: signals.stop_if_requested("joining Ray"))
    signals.install()
    try:
        run.prepare()
        return run.finish(run.run())
    finally:
        run.close()


class _Run:
    """One call of :func:`generate`: :meth:`prepare` (refusals, lease, checkpoint, actors' shared
    state, the pool), :meth:`run` (the pool, or a clean stop on a signal), :meth:`finish` (clean-up,
    the final checkpoint, the report) and :meth:`close` (whatever happens: actors, lease, Ray)."""

    def __init__(self, config: Config, out, signals: StopSignals):
        self.started = time.monotonic()
        self.config, self.out, self.signals = config, out, signals
        # Everything that can be refused is checked before anything is written: the plan (sizes
        # against format and storage limits), the store (see _generate), the Ray address and cluster.
        self.loyalty = build_loyalty_table(config.seed, config.customer_id_max, config.profile)
        self.plan = plan = make_plan(config, self.loyalty)
        self.spec = config.store_spec()
        self.store = open_store(**self.spec)
        self.prefix = config.output.prefix.strip("/")
        self.every = (config.checkpoint.every_files, config.checkpoint.every_seconds)
        self.budget = config.outage_budget_s
        self.planned = plan.file_ids  # a range: membership without a set of every id
        self.own_ray = False
        self.lease: Optional[Lease] = None
        self.pool: Optional[FilePool] = None
        self.recorder: Optional[CheckpointRecorder] = None
        self.checkpoint_actor = None
        self.saved = False  # the checkpoint has had its last save: nothing more to save on the way out
        self.opened = None  # the checkpoint as opened for this run (where it goes, what it confirmed)
        self.todo = plan.file_ids  # the ids to write: a range, or an array of 8 bytes a file
        self.lines = FileLines()  # the report's per-file lines, spooled: no list of every result
        self.outside: list[str] = []  # data files under the prefix that this plan does not make
        self.storage: dict = {}

    def adopt(self, findings: Optional[StoreFindings]) -> None:
        """What the preflight found of the store: said in one line (and a warning line for what
        is weaker than usual), recorded in the report, and the mechanisms it chose handed to every
        process that opens the store (through the spec)."""
        if findings is None:
            return
        self.storage = findings.record
        self.spec = {**self.spec, **findings.open_args}
        self.note(findings.summary)
        if findings.warning:
            log.warning("%s", findings.warning)

    def say(self, message: str) -> None:
        print(f"lakebench-ray: note: {message}", file=self.out, flush=True)

    def note(self, text: str) -> None:  # beside the progress line, not on stderr (kept for errors)
        print(f"lakebench-ray: {text}", file=self.out, flush=True)

    def _stop_if_asked(self, done: int) -> None:
        if self.signals.requested:
            raise _interrupted(self.signals, done, len(self.plan.file_ids), saved=False)

    # -- prepare ---------------------------------------------------------------------------------
    def prepare(self) -> None:
        config, plan, store, prefix = self.config, self.plan, self.store, self.prefix
        # A Ray this run started has no autoscaler to wait for.
        waiting_for = cluster.check_actor_fits(config.ray.cpus_per_actor,
                                               grace_s=0 if self.own_ray else cluster.AUTOSCALER_GRACE_S)
        # One writer per prefix and partition, before anything is touched; a live holder is refused.
        self.lease = Lease(store, prefix, plan.partition_count, plan.partition_index,
                           ttl_s=config.checkpoint.lease_ttl_s).acquire(
            note=self.say, stop=lambda: self._stop_if_asked(0))
        self.lease.start_renewing()
        # The prefix listed once, under the lease: what is there and not of this plan is refused,
        # or replaced or kept as output.existing says, before anything is written.
        listing = Listing(store.iter_stats(prefix), prefix)  # 24 bytes a data file, names for the rest
        self._own_prefix(listing)
        # Checked against this config before any work: a mismatch stops the run, and nothing is
        # ever written over a foreign checkpoint; saved with this run's fingerprint before any file.
        self.plan, self.opened = checkpoints.start(store, prefix, plan, config, self.say, fence=self.lease.confirm,
                                                   listing=listing)
        del listing  # what it held is decided: the plan's outsiders and the files to skip
        plan, confirmed = self.plan, self.opened.confirmed
        self.todo = confirmed.todo(plan.file_ids) if confirmed is not None else plan.file_ids
        skipped = len(plan.file_ids) - len(self.todo)
        if self.signals.requested:
            raise _interrupted(self.signals, skipped, len(plan.file_ids), saved=True)
        if waiting_for:
            print(f"lakebench-ray: {waiting_for}", file=self.out, flush=True)
        run_id = secrets.token_hex(3)
        # Pinned to the driver's node: it lives and dies with the driver, never with a worker.
        # Restarted when lost (the driver sends again what this run did and the actor had not
        # yet saved, see CheckpointRecorder).
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self.checkpoint_actor = ray.remote(num_cpus=0, max_restarts=CHECKPOINT_ACTOR_RESTARTS, max_task_retries=0)(
            CheckpointActor
        ).options(name=f"lakebench-checkpoint-{run_id}", scheduling_strategy=here).remote(
            self.spec, self.opened.folder, self.opened.generation, *self.every, self.lease.fence,
        )
        self.recorder = CheckpointRecorder(self.checkpoint_actor, self._local_checkpoint,
                                           batch_files=config.checkpoint.every_files)
        removed = storage_step(store, self.budget, "removing unfinished files",
                               lambda: _cleanup_partials(store, prefix, plan), lambda: self._stop_if_asked(skipped))
        if removed:
            self.say(f"removed {removed} partial write(s) an earlier run of this partition left behind")

        loyalty_ref = ray.put(self.loyalty)
        params = plan.params.as_dict()
        actor_cls = ray.remote(num_cpus=config.ray.cpus_per_actor, max_restarts=0, max_task_retries=0)(GeneratorActor)
        serial = itertools.count()

        def make_actor():
            # Named, so the dashboard (and an operator) can tell the run's actors apart.
            name = f"lakebench-generator-{run_id}-{next(serial)}"
            return actor_cls.options(name=name, scheduling_strategy="SPREAD").remote(params, loyalty_ref, self.spec, prefix)

        self.progress = Progress(len(plan.file_ids), done=len(plan.file_ids) - len(self.todo), enabled=config.progress,
                                 stream=self.out,
                                 deadline=self.started + config.duration_s if config.duration_s else None)
        self.metrics = RunMetrics(f"{plan.partition_index}/{plan.partition_count}")
        self.metrics.set_remaining(len(self.todo))
        settings = PoolSettings(
            num_actors=config.ray.num_actors,
            max_actors=config.ray.max_actors,
            cpus_per_actor=config.ray.cpus_per_actor,
            max_attempts=config.ray.max_file_attempts,
            waiting_for=waiting_for,
        )
        self.pool = FilePool(make_actor, settings, on_result=self._on_result, on_retry=self._on_retry,
                             on_actors=self._on_actors, want_actors=_autoscaler_request(config.ray.cpus_per_actor),
                             should_stop=lambda: self.signals.requested,
                             outage=outage_gate(store, prefix, self.budget, self._confirm_if_overdue), on_note=self.note)
        self.lease.idle = lambda: self.pool is not None and self.pool.paused

    def _own_prefix(self, listing) -> None:
        """A run's "done" must describe what readers of the prefix see: data files outside the
        plan (a bigger run's, another configuration's, leftovers) are refused in one line unless
        ``output.existing`` says to replace or keep them."""
        legacy = layout.legacy_control_dir(self.prefix)
        old = sorted(k.rsplit("/", 1)[-1] for k in listing.others if k.startswith(legacy + "/") and k.endswith(".json"))
        if old:  # a resume of that dataset starts over: say why, and what is left in the data prefix
            print(f"lakebench-ray: warning: {self.store.describe(legacy)} holds control files of an older release "
                  f"({', '.join(old[:3])}{' ...' if len(old) > 3 else ''}): they are not read (a resume of that "
                  f"dataset starts over) and stay in the data prefix: delete {self.store.describe(legacy)}",
                  file=self.out, flush=True)
        self.outside = outside = self.plan.outside(listing.keys_outside(self.plan.file_ids), self.prefix,
                                                   past_plan_ok=self.config.duration_s is not None)
        if not outside:
            return
        where, policy = self.store.describe(self.prefix), self.config.output.existing
        shown = ", ".join(outside[:5]) + (f" and {len(outside) - 5} more" if len(outside) > 5 else "")
        if policy == "refuse":
            raise PrefixNotOwned(
                f"{where} holds {len(outside)} data file(s) this run would not write ({shown}: another size, "
                f"another configuration or leftovers): write to another output.uri or output.prefix, or set "
                "output.existing=replace (delete them once this run's files are complete) or output.existing=keep"
            )
        if policy == "keep":
            print(f"lakebench-ray: warning: {len(outside)} data file(s) outside this run's plan stay in {where} "
                  f"(output.existing=keep): {shown}; readers of the prefix see them too", file=self.out, flush=True)
        else:
            self.say(f"{len(outside)} data file(s) outside this run's plan in {where} ({shown}) will be deleted "
                     "once this run's files are complete (output.existing=replace)")

    def _replace_outside(self) -> None:
        """Delete the files outside the plan (``output.existing=replace``), under the lease."""
        self.lease.confirm()
        for name in self.outside:
            self.store.delete(f"{self.prefix}/{name}" if self.prefix else name)

    def _confirm_if_overdue(self) -> None:
        """Before the pool resumes after an outage: when the lease went unrenewed past its ttl
        while the run was paused, it is renewed by compare-and-swap first, or LeaseLost ends the
        run (another run took the prefix meanwhile)."""
        if self.lease.overdue:
            self.lease.confirm()

    def _local_checkpoint(self) -> CheckpointLog:
        return CheckpointLog(self.store, self.opened.folder, self.opened.generation, every_files=self.every[0],
                             every_seconds=self.every[1], fence=self.lease.confirm)

    def _on_result(self, result: FileResult) -> None:
        if self.lease.lost is not None:  # someone else writes here now: stop at once, record nothing
            raise self.lease.lost_error()
        self.lines.add(result.as_dict())
        planned = result.file_id in self.planned  # sustained-mode extras are not part of the dataset plan
        if planned:
            self.recorder.record(result.file_id, result.receipt())
        self.progress.update(files=int(planned), extra=int(not planned), rows=result.rows, nbytes=result.bytes)
        self.metrics.file_written(result.rows, result.bytes)
        self.metrics.set_remaining(len(self.planned) - self.progress.files)

    def _on_retry(self, file_id: int, cause: str) -> None:
        log.warning("retrying file %d: %s", file_id, cause)
        self.progress.update(retries=1)
        self.metrics.retry()

    def _on_actors(self, n: int) -> None:
        self.progress.update(actors=n)
        self.metrics.set_actors(n)

    # -- run -------------------------------------------------------------------------------------
    def run(self) -> list[FailedFile]:
        """The files that failed every attempt; on a signal, a clean stop raising Interrupted."""
        plan, todo = self.plan, self.todo
        print(
            f"lakebench-ray: {len(todo)} of {len(plan.file_ids)} files to write "
            f"({plan.files.rows_per_file:,} rows, ~{plan.files.file_bytes / 2**20:.0f} MiB each) "
            f"to {self.store.describe(self.prefix)}",
            file=self.out,
            flush=True,
        )
        self.pool_started = time.monotonic()
        extra = _sustained_ids(self.config, plan, self.started) if self.config.duration_s else None
        try:
            failed = self.pool.run(map(int, todo), more=extra) if (len(todo) or extra) else []
        except StopRequested:
            raise self._stop() from None
        self.generation_seconds = time.monotonic() - self.pool_started
        return failed

    def _stop(self) -> Interrupted:
        self.pool.abort(STOP_GRACE_S)  # kill the writers; their uploads are aborted just below
        saved = True
        try:
            if self.store.probe() is None:
                _cleanup_partials(self.store, self.prefix, self.plan)
                self.recorder.flush(timeout=10)
            else:
                saved = False
        except Exception as exc:  # noqa: BLE001 - say what was saved, not a second traceback
            log.warning("could not finish cleaning up after %s: %s", self.signals.name, exc)
            saved = False
        self.saved = True  # nothing more to save on the way out
        self.progress.close()
        return _interrupted(self.signals, self.progress.files, len(self.plan.file_ids), saved)

    # -- finish ----------------------------------------------------------------------------------
    def finish(self, failed: list[FailedFile]) -> Report:
        store, prefix, plan, budget = self.store, self.prefix, self.plan, self.budget
        self.pool.shutdown()
        # Writers that died mid-file (lost actors, nodes) leave temp files / open uploads behind;
        # every writer of this partition has stopped now.
        stop_late = lambda: self._stop_if_asked(self.progress.files)  # noqa: E731
        storage_step(store, budget, "removing unfinished files", lambda: _cleanup_partials(store, prefix, plan), stop_late)
        self.metrics.failed(len(failed))
        if self.lease.lost is not None:
            raise self.lease.lost_error()
        # The save confirms the lease first (a compare-and-swap renewal), as the report does: a
        # run whose lease was taken over since its last renewal stops here with one line.
        storage_step(store, budget, "saving the checkpoint", self.recorder.flush, stop_late)
        self.saved = True
        if self.outside and self.config.output.existing == "replace" and not failed:
            storage_step(store, budget, "deleting files outside the plan", self._replace_outside, stop_late)
        self._retire_checkpoint_actor()  # its last save is done; one left per run would pile up in a notebook
        self.progress.close()
        count, index = plan.partition_count, plan.partition_index
        report = Report.from_lines(
            config=self.config.to_dict(),
            plan=plan.summary(),
            files_planned=len(plan.file_ids),
            files_skipped=len(plan.file_ids) - len(self.todo),
            lines=self.lines,
            failed=failed,
            seconds=time.monotonic() - self.started,
            generation_seconds=self.generation_seconds,
            retries=self.progress.retries,
            files_document=layout.report_files_key(prefix, count, index),
            store=store,
            requeued=self.pool.requeued,
        )
        if self.outside and (self.config.output.existing == "keep" or not failed):
            report.outside_plan = {"policy": self.config.output.existing, "count": len(self.outside),
                                   "files": self.outside}
        report.storage = self.storage

        def write_report() -> None:
            self.lease.confirm()  # never a report, nor a "done", by a run that no longer holds the prefix
            reports.write(store, report, self.lines, prefix, count, index)

        storage_step(store, budget, "writing the report", write_report, stop_late)
        if failed:
            raise GenerationFailed(_failures_line(failed, self.config.ray.max_file_attempts))
        print(report.summary_line(), file=self.out, flush=True)
        return report

    def _retire_checkpoint_actor(self) -> None:
        if self.checkpoint_actor is not None:
            try:
                ray.kill(self.checkpoint_actor, no_restart=True)
            except Exception as exc:  # noqa: BLE001 - already gone
                log.debug("checkpoint actor not killed: %s", exc)
            self.checkpoint_actor = None

    def close(self) -> None:
        """On every way out: stop the actors, keep what completed (when stopped by an error, so
        resume=true skips it), release the lease and a Ray this run started."""
        try:
            if self.pool is not None:
                self.pool.shutdown()
            if self.recorder is not None and not self.saved and (self.lease is None or self.lease.lost is None):
                # Bounded: the storage may be what failed.
                try:
                    if self.store.probe() is None:
                        self.recorder.flush(timeout=10)
                except Exception as exc:  # the checkpoint has its own last flush; never mask the cause
                    log.warning("could not save the checkpoint on the way out: %s", exc)
            self._retire_checkpoint_actor()
            if self.own_ray:
                ray.shutdown()
        finally:
            self.lines.close()
            if self.lease is not None:
                self.lease.release()


__all__ = ["Report", "generate"]
