"""Run metrics for the Ray dashboard / Prometheus (``ray.util.metrics``), recorded by the driver.

Metrics are best effort: a cluster without a metrics agent must not fail a run.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class RunMetrics:
    def __init__(self, partition: str):
        self._tags = {"partition": partition}
        try:
            from ray.util.metrics import Counter, Gauge

            keys = ("partition",)
            self.files = Counter("lakebench_files_written", "Parquet files completely written", tag_keys=keys)
            self.rows = Counter("lakebench_rows_written", "rows written", tag_keys=keys)
            self.bytes = Counter("lakebench_bytes_written", "bytes written", tag_keys=keys)
            self.retries = Counter("lakebench_file_retries", "file attempts retried after a failure", tag_keys=keys)
            self.failures = Counter("lakebench_files_failed", "files that failed every attempt", tag_keys=keys)
            self.actors = Gauge("lakebench_active_actors", "generator actors alive", tag_keys=keys)
            self.remaining = Gauge("lakebench_files_remaining", "planned files not yet written", tag_keys=keys)
            self.enabled = True
        except Exception as exc:  # pragma: no cover - depends on the cluster
            log.debug("metrics disabled: %s", exc)
            self.enabled = False

    def _do(self, fn) -> None:
        if self.enabled:
            try:
                fn()
            except Exception as exc:  # pragma: no cover
                log.debug("metric not recorded: %s", exc)

    def file_written(self, rows: int, nbytes: int) -> None:
        self._do(lambda: (self.files.inc(1, self._tags), self.rows.inc(rows, self._tags), self.bytes.inc(nbytes, self._tags)))

    def retry(self) -> None:
        self._do(lambda: self.retries.inc(1, self._tags))

    def failed(self, count: int) -> None:
        if count:
            self._do(lambda: self.failures.inc(count, self._tags))

    def set_actors(self, n: int) -> None:
        self._do(lambda: self.actors.set(n, self._tags))

    def set_remaining(self, n: int) -> None:
        self._do(lambda: self.remaining.set(n, self._tags))
