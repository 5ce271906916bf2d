"""Conformance: the spec's rules, checked by streaming files batch by batch.

Memory is bounded whatever the dataset size: one batch of the small columns (or of the payload,
read on its own, one row group at a time) plus fixed-size accumulators: a uint8 tier code per
customer id (255 = unseen), event counts for the first 2**20 customer ids, histograms.

This module streams files and keeps the accumulators; what is checked lives beside it:
:mod:`.expectations` (the rules and their expected values), :mod:`.batch` (one batch through
them), :mod:`.columns` (vectorised tests over Arrow columns). The names they define are
re-exported here, where callers have always found them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..core import SCHEMA, GenParams
from ..core import vocab as V
from ..sinks import Store
from .batch import UNSEEN, BatchChecks
from .columns import HexCheck
from .completeness import READ_ERRORS, FileCheck, first_line
from .expectations import (
    AMOUNT_BINS,
    DIRTY_FIELDS,
    EMAIL_MODES,
    ITYPES,
    NULL_COLUMNS,
    PHONE_MODES,
    TIERS,
    ZETA_1_5,
    Facts,
    declare,
    zipf_folded_share,
)
from .rules import RuleSet

#: Rows per batch of the small columns, and of the payload column (bounded: 2 KB payloads make
#: 4096 hex characters, so a payload batch is ~16 MB).
BATCH_ROWS = 32_768
PAYLOAD_BATCH_ROWS = 4_096
READ_BUFFER = 1 << 20
#: Customer ids whose event counts are kept for the rank-frequency plot (8 MB).
COUNTED_CUSTOMERS = 1 << 20

CATEGORICAL = (
    "interaction_type", "product_category", "currency", "channel", "device_type", "browser", "city_raw",
    "state_raw", "issue_category", "utm_source", "utm_medium", "loyalty_tier", "data_source", "data_quality_flag",
)
#: Every column but the payload (read separately) and the user agent (no rule of the spec).
COLUMNS = tuple(n for n in SCHEMA.names if n not in ("interaction_payload", "raw_user_agent"))


class Conformance(BatchChecks):
    """Accumulates every rule over the files it is given, batch by batch."""

    def __init__(self, params: GenParams):
        self.params = params
        self.facts = Facts(params.profile)
        self.rows = 0
        self.files: list[str] = []
        self.data_bytes = 0  # compressed bytes of the files checked
        self.tiers = np.full(params.customer_id_max + 1, UNSEEN, dtype=np.uint8)
        self.customer_counts = np.zeros(min(params.customer_id_max + 1, COUNTED_CUSTOMERS), dtype=np.int64)
        self.customers_beyond = 0
        self.dist_counts = {col: np.zeros(len(vocab), dtype=np.int64) for col, vocab in self.facts.distributions}
        self.null_counts = np.zeros((len(NULL_COLUMNS), len(ITYPES)), dtype=np.int64)
        self.itype_rows = np.zeros(len(ITYPES), dtype=np.int64)
        self.dirty_counts = dict.fromkeys(DIRTY_FIELDS, 0)
        self.amount_hist = np.zeros(len(AMOUNT_BINS) - 1, dtype=np.int64)
        self.purchases = 0
        self.rules = RuleSet()
        self._last_ts: dict[str, int] = {}  # last event time seen per file (sortedness across batches)
        self._hex = HexCheck()
        declare(self.rules, params, self.facts)

    # -- streaming -----------------------------------------------------------------------------
    def check_file(self, store: Store, check: FileCheck) -> str | None:
        """Stream one file through the rules; returns a problem line if it cannot be read."""
        try:
            reader = store.open_reader(check.key)
        except READ_ERRORS as exc:
            return f"{check.name}: cannot be opened ({first_line(exc)})"
        try:
            # pre_buffer off and a read buffer: column chunks stream page by page (pre-buffering,
            # pyarrow's default, would hold a whole row group's payload chunk in memory).
            pf = pq.ParquetFile(reader, read_dictionary=list(CATEGORICAL), buffer_size=READ_BUFFER, pre_buffer=False)
            start = check.file_id * self.params.rows_per_file
            for rg in range(pf.metadata.num_row_groups):
                group_start = start
                for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[rg], columns=list(COLUMNS),
                                             use_threads=False):
                    self._batch(batch, check.name, start)
                    start += batch.num_rows
                    self.rows += batch.num_rows
                for batch in pf.iter_batches(batch_size=PAYLOAD_BATCH_ROWS, row_groups=[rg],
                                             columns=["interaction_payload"], use_threads=False):
                    self._payload(batch.column(0), check.name, group_start)
                    group_start += batch.num_rows
        except READ_ERRORS as exc:  # a corrupt page or a failed read is a finding, not a crash
            return f"{check.name}: unreadable data ({first_line(exc)})"
        finally:
            try:
                reader.close()
            except Exception:  # noqa: BLE001
                pass
        self.files.append(check.name)
        self.data_bytes += check.size or 0
        return None

    def check_rows(self, table: pa.Table, name: str) -> None:
        """Stream rows of any origin through the rules, e.g. what a Ray Data sink wrote, read back
        and sorted by ``id``: the ids say which file and row each one is."""
        rows = self.params.rows_per_file
        ids = table.column("id").to_numpy()
        # Cut where a file ends (or ids jump), so that every slice is one file's consecutive rows.
        cuts = np.flatnonzero((np.diff(ids) != 1) | (ids[1:] // rows != ids[:-1] // rows)) + 1
        for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(ids)]])):
            for start in range(int(lo), int(hi), BATCH_ROWS):
                part = table.slice(start, min(BATCH_ROWS, int(hi) - start))
                first_id = int(ids[start])
                small = pa.RecordBatch.from_arrays([part.column(c).combine_chunks() for c in COLUMNS], names=list(COLUMNS))
                self._batch(small, name, first_id)
                self._payload(part.column("interaction_payload").combine_chunks(), name, first_id)
                self.rows += part.num_rows
        self.files.append(name)
    # -- end of run ----------------------------------------------------------------------------
    def finish(self) -> None:
        """Per-customer shares, from the tier codes seen."""
        seen = self.tiers[self.tiers != UNSEEN]
        members = seen[seen > 0]
        self.rules.set_share("share.loyalty_members", len(members), len(seen))
        for i, (tier, _w) in enumerate(V.LOYALTY_TIERS):
            self.rules.set_share(f"share.loyalty_tier.{tier}", np.count_nonzero(members == i + 1), len(members))

    def stats(self) -> dict:
        """Bounded summaries for the JSON output and the HTML report."""
        customers_seen = int(np.count_nonzero(self.tiers != UNSEEN))
        return {
            "rows": self.rows,
            "files": list(self.files),
            "bytes": self.data_bytes,
            "customers_seen": customers_seen,
            "interaction_counts": dict(zip(ITYPES, self.dist_counts["interaction_type"].tolist())),
            "distribution_counts": {c: dict(zip(V.values(v), self.dist_counts[c].tolist()))
                                    for c, v in self.facts.distributions},
            "null_share_by_interaction": {
                c: {t: (float(self.null_counts[i, j] / self.itype_rows[j]) if self.itype_rows[j] else None)
                    for j, t in enumerate(ITYPES)}
                for i, c in enumerate(NULL_COLUMNS)
            },
            "dirty_share_by_field": {f: (c / self.rows if self.rows else None) for f, c in self.dirty_counts.items()},
            "purchases": self.purchases,
            "amount_histogram": {"edges": AMOUNT_BINS.tolist(), "counts": self.amount_hist.tolist()},
        }

    def rank_frequency(self) -> np.ndarray:
        """Event counts of the counted customers, most active first (zeros dropped)."""
        counts = np.sort(self.customer_counts)[::-1]
        return counts[counts > 0]


__all__ = [
    "AMOUNT_BINS", "BATCH_ROWS", "CATEGORICAL", "COLUMNS", "Conformance", "DIRTY_FIELDS", "EMAIL_MODES", "ITYPES",
    "NULL_COLUMNS", "PHONE_MODES", "TIERS", "UNSEEN", "ZETA_1_5", "zipf_folded_share",
]
