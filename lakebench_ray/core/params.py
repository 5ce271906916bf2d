"""Generation parameters: the plain, validated values the core works from.

The config layer builds one of these; everything that changes a file's bytes lives here, and
nothing else does, so :meth:`GenParams.fingerprint` identifies a dataset.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from typing import Optional

from ..errors import ConfigError
from ..version import __version__

MIB = 1 << 20
#: Bronze bytes per scale unit: scale 1 = 0.01 TiB (spec: scale 100 -> 2,048 files of 512 MiB).
BYTES_PER_SCALE = (1 << 40) / 100
_EPOCH = dt.datetime(1970, 1, 1)


def parse_timestamp(name: str, value) -> int:
    """An ISO date or datetime (naive = UTC) as microseconds since the epoch."""
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime(value.year, value.month, value.day)
    else:
        try:
            stamp = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ConfigError(
                f"{name}: '{value}' is not an ISO date or datetime: use e.g. 2024-01-01 or 2024-01-01T12:00:00"
            ) from None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (stamp - _EPOCH) // dt.timedelta(microseconds=1)


def _check_number(name: str, value, kind=(int, float)):
    if isinstance(value, bool) or not isinstance(value, kind):
        want = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}: expected {want}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class GenParams:
    """Everything that determines the bytes of a file (besides its id)."""

    seed: int = 42
    rows_per_file: int = 122_000
    payload_kb: float = 2.0
    customer_id_max: int = 500_000
    dirty_ratio: float = 0.08
    duplicate_email_pct: float = 0.10
    timestamp_start: str = "2024-01-01"
    timestamp_end: str = "2025-12-31"
    row_group_rows: int = 32_768
    profile: str = "lakebench"
    #: "uniform": every file spreads its events over the whole window; "by_file": the window is
    #: cut into ``timestamp_slices`` equal slices in file-id order, a file's events lie in its
    #: slice, sorted (tight row-group statistics; few date partitions per file).
    timestamp_order: str = "uniform"
    timestamp_slices: Optional[int] = None
    #: Live files (sustained mode): ids from ``live_after`` on carry events from the
    #: ``live_window_s`` seconds before the moment each is generated, sorted. Not reproducible
    #: byte for byte, by definition; the planned files (ids below ``live_after``) stay so.
    live_window_s: Optional[float] = None
    live_after: Optional[int] = None

    def __post_init__(self):
        if self.profile not in PROFILE_NAMES:
            raise ConfigError(f"profile: '{self.profile}' is not a profile: use one of {', '.join(PROFILE_NAMES)}")
        for name in ("seed", "rows_per_file", "customer_id_max", "row_group_rows"):
            _check_number(name, getattr(self, name), int)
        for name in ("payload_kb", "dirty_ratio", "duplicate_email_pct"):
            _check_number(name, getattr(self, name))
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed: must be between 0 and 2**63-1, got {self.seed}")
        if self.rows_per_file < 1:
            raise ConfigError(f"rows_per_file: must be at least 1, got {self.rows_per_file}")
        if self.row_group_rows < 1:
            raise ConfigError(f"row_group_rows: must be at least 1, got {self.row_group_rows}")
        if self.payload_kb < 0 or self.payload_kb > 1024:
            raise ConfigError(f"payload_kb: must be between 0 and 1024, got {self.payload_kb}")
        if self.payload_bytes != self.payload_kb * 1024:
            raise ConfigError(f"payload_kb: must be a whole number of bytes (KB x 1024), got {self.payload_kb}")
        if self.customer_id_max < 1:
            raise ConfigError(f"customer_id_max: must be at least 1, got {self.customer_id_max}")
        if self.customer_id_max > 2**32:
            raise ConfigError(f"customer_id_max: must be at most 2**32, got {self.customer_id_max}")
        for name in ("dirty_ratio", "duplicate_email_pct"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name}: must be between 0 and 1, got {value}")
        start = parse_timestamp("timestamp_start", self.timestamp_start)
        end = parse_timestamp("timestamp_end", self.timestamp_end)
        if end <= start:
            raise ConfigError(
                f"timestamp_end: must be after timestamp_start ({self.timestamp_start}), got {self.timestamp_end}"
            )
        if self.timestamp_order not in TIMESTAMP_ORDERS:
            raise ConfigError(
                f"timestamp_order: '{self.timestamp_order}' is not an order: use one of {', '.join(TIMESTAMP_ORDERS)}"
            )
        if self.timestamp_order == "by_file":
            _check_number("timestamp_slices", self.timestamp_slices, int)
            if self.timestamp_slices < 1:
                raise ConfigError(f"timestamp_slices: must be at least 1, got {self.timestamp_slices}")
            if (end - start) < self.timestamp_slices * self.rows_per_file:
                raise ConfigError(
                    "timestamp_order: by_file needs at least one microsecond per row: widen "
                    "timestamp_start..timestamp_end or make fewer, smaller files"
                )
        elif self.timestamp_slices is not None:
            raise ConfigError("timestamp_slices: only used with timestamp_order=by_file")
        if (self.live_window_s is None) != (self.live_after is None):
            raise ConfigError("live_window_s and live_after: set both (live files) or neither")
        if self.live_window_s is not None:
            _check_number("live_window_s", self.live_window_s)
            _check_number("live_after", self.live_after, int)
            if not math.isfinite(self.live_window_s) or self.live_window_s * 1e6 < self.rows_per_file:
                raise ConfigError(
                    f"timestamp_live_window_s: must be finite and hold at least one microsecond per row "
                    f"({self.rows_per_file:,} rows a file), got {self.live_window_s}"
                )

    @property
    def payload_bytes(self) -> int:
        """Random bytes per payload; the column holds twice as many hex characters."""
        return int(round(self.payload_kb * 1024))

    @property
    def timestamp_range_us(self) -> tuple[int, int]:
        """[start, end) in microseconds since the epoch."""
        return (
            parse_timestamp("timestamp_start", self.timestamp_start),
            parse_timestamp("timestamp_end", self.timestamp_end),
        )

    def file_time_range_us(self, file_id: int) -> tuple[int, int]:
        """[start, end) of the events of file ``file_id``: the whole window, or with ``by_file``
        its slice (files past the plan, in sustained mode, reuse the slices in turn)."""
        start, end = self.timestamp_range_us
        if self.timestamp_order != "by_file":
            return start, end
        k, slices = file_id % self.timestamp_slices, self.timestamp_slices
        span = end - start
        return start + span * k // slices, start + span * (k + 1) // slices

    def is_live(self, file_id: int) -> bool:
        """Whether this file's events come from the moment it is generated (see live_window_s)."""
        return self.live_after is not None and file_id >= self.live_after

    def row_group_time_range_us(self, file_id: int, first_row: int, rows: int) -> tuple[int, int]:
        """[start, end) of the events of rows ``first_row .. first_row + rows`` of a file: with
        ``by_file`` each row group takes its share of the file's slice in row order, so the whole
        file is sorted and still uniform over its slice."""
        lo, hi = self.file_time_range_us(file_id)
        if self.timestamp_order != "by_file":
            return lo, hi
        span = hi - lo
        return lo + span * first_row // self.rows_per_file, lo + span * (first_row + rows) // self.rows_per_file

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Identifies the generated bytes: same fingerprint, same files (same library versions)."""
        doc = dict(self.as_dict(), format=FORMAT_REVISION)
        doc["timestamp_start"], doc["timestamp_end"] = self.timestamp_range_us
        blob = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


TIMESTAMP_ORDERS = ("uniform", "by_file")
#: The profiles' names, the default first (their modules: :mod:`.profiles`, which builds on this
#: module, so the names are checked here without importing it).
PROFILE_NAMES = ("lakebench", "realistic")

#: Bumped whenever a change to the generator changes bytes for the same parameters, so that
#: checkpoints and verification refuse to mix data of two generator revisions.
FORMAT_REVISION = 4
GENERATOR_VERSION = __version__
