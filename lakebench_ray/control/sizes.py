"""The sizes a dataset was made with, as its run recorded them: rows per file and per row group
(measured once, with the pyarrow of the run that started the dataset), read back by a resumed
run and by ``verify`` instead of being measured again (see :mod:`lakebench_ray.planning`).

They are recorded in the checkpoint's head, in the report summary, and (rows per file and the
fingerprint) in every data file's footer.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from ..config import Config
from ..errors import ConfigError
from ..format.parquet import META_FINGERPRINT, META_ROWS_PER_FILE
from ..layout import file_key, parse_file_name
from .directory import ControlDirectory, scan


@dataclasses.dataclass(frozen=True)
class Sizing:
    """Rows per file and per row group as a run recorded them, with what identifies that run."""

    rows_per_file: int
    row_group_rows: int
    bytes_per_row: float  # compressed bytes per row: sizes the estimates and the limit checks
    fingerprint: str
    source: str
    #: The targets the rows were measured for; None when the record does not say (a footer).
    file_size_mb: Optional[float] = None
    row_group_mb: Optional[float] = None

    def fits(self, config: Config) -> bool:
        """Whether ``config`` describes the run that recorded this: the same targets (when
        recorded), and with these sizes the same fingerprint, so every other value that shapes
        the bytes (seed, payload, profile, dates, ...) is the same too."""
        if self.file_size_mb is not None and self.file_size_mb != config.file_size_mb:
            return False
        if self.row_group_mb is not None and self.row_group_mb != config.row_group_mb:
            return False
        try:
            params = config.gen_params(rows_per_file=self.rows_per_file, row_group_rows=self.row_group_rows)
        except ConfigError:
            return False
        return params.fingerprint() == self.fingerprint


def _number(value, kind):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"not a number: {value!r}")
    return kind(value)


def _sizing_from(doc: dict, source: str) -> Optional[Sizing]:
    """The sizing in a checkpoint (``plan`` as :meth:`RunPlan.sizing` wrote it) or a report
    (``plan`` summary and ``config``); None when the document holds none."""
    try:
        plan = doc["plan"]
        if "config" in doc:  # a report
            config, fingerprint = doc["config"], plan["config_fingerprint"]
            targets = config["file_size_mb"], config["row_group_mb"]
        else:
            fingerprint = doc["fingerprint"]
            targets = plan["file_size_mb"], plan["row_group_mb"]
        return Sizing(
            rows_per_file=_number(plan["rows_per_file"], int),
            row_group_rows=_number(plan["row_group_rows"], int),
            bytes_per_row=_number(plan["bytes_per_row"], float),
            fingerprint=str(fingerprint),
            source=source,
            file_size_mb=_number(targets[0], float),
            row_group_mb=_number(targets[1], float),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _recorded_in_control_dir(store, control: ControlDirectory) -> list[Sizing]:
    """Sizings recorded by the checkpoints, then the reports, of any partition of the dataset
    (every partition of a dataset shares its sizes)."""
    found = []
    for key in control.documents():
        doc = control.read_json(store, key)
        sizing = _sizing_from(doc, store.describe(key)) if doc is not None else None
        if sizing is not None:
            found.append(sizing)
    return found


def _recorded_in_footer(store, prefix: str) -> Optional[Sizing]:
    """The sizing a data file carries: rows per file and fingerprint in its footer, rows per row
    group as its first row group's (the last one of a file only takes the rest)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..errors import LakebenchError

    prefix = prefix.strip("/")
    for key, stat in store.iter_stats(prefix):  # the first data file listed will do
        relative = key[len(prefix) + 1:] if prefix else key
        file_id = parse_file_name(relative)
        if file_id is None or key != file_key(prefix, file_id):
            continue
        try:
            reader = store.open_reader(key)
            try:
                meta = pq.ParquetFile(reader).metadata
            finally:
                reader.close()
            footer = {k.decode(): v.decode() for k, v in (meta.metadata or {}).items()}
            rows = int(footer[META_ROWS_PER_FILE])
            group = meta.row_group(0).num_rows if meta.num_row_groups else rows
            return Sizing(rows, group, stat.size / rows, footer[META_FINGERPRINT],
                          f"the footer of {store.describe(key)}")
        except (pa.ArrowException, OSError, ValueError, KeyError, EOFError, LakebenchError):
            continue  # not a file of ours after all, or damaged: verify says so; try the next
    return None


def find_recorded_sizing(store, prefix: str, config: Config, control: Optional[ControlDirectory] = None) -> Optional[Sizing]:
    """The sizes the run that made the dataset under ``prefix`` recorded, if it was made with
    ``config``: from a checkpoint or report (which also record the targets the sizes were
    measured for), else, when the control directory holds no record at all, from a footer.

    A record of another configuration is not used, and then neither are footers (they would
    carry the same other configuration): the sizes are measured afresh, and the fingerprint
    check refuses to mix the two."""
    records = _recorded_in_control_dir(store, control if control is not None else scan(store, prefix))
    if not records:
        footer = _recorded_in_footer(store, prefix)
        records = [footer] if footer is not None else []
    return next((r for r in records if r.fits(config)), None)
