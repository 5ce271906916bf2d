"""Stream a file's row groups into a Parquet writer: one row group in memory at a time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import numpy as np
import pyarrow.parquet as pq

from ..core import FORMAT_REVISION, GENERATOR_VERSION, GenParams, file_row_groups, profiles
from ..core.schema import BATCH_SCHEMA, dictionary_columns

#: Footer key-value metadata keys (under the ``lakebench.`` namespace).
_EPOCH = dt.datetime(1970, 1, 1)

META_FILE_ID = "lakebench.file_id"
META_SEED = "lakebench.seed"
META_FINGERPRINT = "lakebench.config_fingerprint"
META_VERSION = "lakebench.generator_version"
META_FORMAT = "lakebench.format_revision"
META_ROWS_PER_FILE = "lakebench.rows_per_file"
META_PROFILE = "lakebench.profile"
#: Live files only: the window their events were drawn from, "<start>/<end>" in ISO UTC.
META_LIVE_WINDOW = "lakebench.live_window"


def writer_options(profile: str = profiles.DEFAULT, compression: str = "snappy") -> dict:
    """ParquetWriter settings shared by the generator, calibration and the benchmark floor."""
    return dict(
        compression=compression,
        use_dictionary=list(dictionary_columns(profiles.get(profile).UNIQUE_STRINGS)),
        # Statistics on every column: engines answer count(col) and min/max from them (Spark's
        # aggregate push-down needs each chunk's null count), and on random strings they cost
        # little (two values compared per row, the first bytes almost always differ): see
        # docs/benchmarks.md.
        write_statistics=True,
        version="2.6",
        # Categorical columns arrive as Arrow dictionaries; without the stored Arrow schema they
        # read back as plain strings, so a file's schema is exactly the spec's.
        store_schema=False,
    )


def file_metadata(params: GenParams, file_id: int) -> dict[str, str]:
    """Footer key-value metadata that ties a file to its id and generating configuration."""
    return {
        META_FILE_ID: str(file_id),
        META_SEED: str(params.seed),
        META_FINGERPRINT: params.fingerprint(),
        META_VERSION: GENERATOR_VERSION,
        META_FORMAT: str(FORMAT_REVISION),
        META_ROWS_PER_FILE: str(params.rows_per_file),
        META_PROFILE: params.profile,
    }


@dataclasses.dataclass(frozen=True)
class WrittenFile:
    file_id: int
    rows: int
    seconds: float
    live_window: tuple[str, str] | None = None  # ISO UTC [start, end) of a live file's events


def _iso(us: int) -> str:
    return (_EPOCH + dt.timedelta(microseconds=us)).isoformat(timespec="microseconds")


def live_params(params: GenParams, now: float) -> GenParams:
    """The parameters a live file is made with: the trailing window ending ``now`` (seconds since
    the epoch), its rows sorted by time (one slice: the whole window)."""
    end = int(now * 1e6)
    start = end - int(params.live_window_s * 1e6)
    return dataclasses.replace(params, timestamp_start=_iso(start), timestamp_end=_iso(end), timestamp_order="by_file",
                               timestamp_slices=1, live_window_s=None, live_after=None)


def write_file(params: GenParams, loyalty: np.ndarray, file_id: int, stream, *, rows: int | None = None,
               now: float | None = None) -> WrittenFile:
    """Generate file ``file_id`` into ``stream`` (anything ParquetWriter accepts), row group by row
    group; the stream is not closed. ``rows`` cuts the file short (calibration only); ``now``
    (default: the clock) ends the window of a live file."""
    started = time.perf_counter()
    total = params.rows_per_file if rows is None else rows
    metadata = file_metadata(params, file_id)
    live_window = None
    if params.is_live(file_id):
        params = live_params(params, time.time() if now is None else now)
        live_window = (params.timestamp_start, params.timestamp_end)
        metadata[META_LIVE_WINDOW] = "/".join(live_window)
    # One payload buffer for all row groups: write_batch encodes a whole row group before it
    # returns, so the next one may overwrite the digits (fresh pages cost more than the copy).
    payload = np.empty(2 * params.payload_bytes * min(total, params.row_group_rows), dtype=np.uint8)
    with pq.ParquetWriter(stream, BATCH_SCHEMA, **writer_options(params.profile)) as writer:
        writer.add_key_value_metadata(metadata)
        for batch in file_row_groups(params, loyalty, file_id, rows=total, payload_buffer=payload):
            writer.write_batch(batch, row_group_size=batch.num_rows)
            del batch
    return WrittenFile(file_id=file_id, rows=total, seconds=time.perf_counter() - started, live_window=live_window)
