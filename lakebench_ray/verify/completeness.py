"""Completeness: every planned file present, nothing extra or half-written, each file's footer,
schema, row count and id range as the plan says. Reads footers only (never data pages), so it
covers every file of a partition however large the dataset."""

from __future__ import annotations

import concurrent.futures
import dataclasses
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from .. import layout
from ..core import SCHEMA
from ..format.parquet import META_VERSION, file_metadata
from ..control.report import read_summary
from ..layout import file_key, file_name, in_partition, parse_file_name
from ..errors import LakebenchError
from ..planning import RunPlan
from ..sinks import Store
from .rules import RuleResult

#: What reading a damaged or vanished object raises (anything else is a bug, and propagates).
READ_ERRORS = (pa.ArrowException, OSError, ValueError, EOFError, LakebenchError)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


#: ``.part-...tmp-...``, ``_SUCCESS``: metadata, not data (the rule lives in the layout module).
is_hidden = layout.is_hidden


@dataclasses.dataclass
class FileCheck:
    file_id: int
    name: str
    key: str
    size: Optional[int] = None
    rows: Optional[int] = None
    row_groups: Optional[int] = None
    readable: bool = False
    schema_ok: bool = False
    footer_ok: bool = False
    rows_ok: bool = False
    ids_ok: bool = False
    problems: list = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A readable file of this dataset (spec schema, footer of this plan): the data checks run
        on such files only, so a foreign file is reported once, not as a cascade of rule failures."""
        return self.readable and self.schema_ok and self.footer_ok

    @property
    def sound(self) -> bool:
        return self.ok and self.rows_ok and self.ids_ok

    def as_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass
class Completeness:
    planned: range  # the planned ids of this partition
    files: dict  # file id -> FileCheck of every present file of this partition
    missing: list
    extra: list
    partials: list
    rules: list
    problems: list


def schema_problems(actual: pa.Schema) -> list[str]:
    """What differs between a file's Arrow schema and the spec's (names, types, order)."""
    found: dict[str, pa.DataType] = {}
    for field in actual:
        found.setdefault(field.name, field.type)
    out = []
    for field in SCHEMA:
        if field.name not in found:
            out.append(f"column {field.name} is missing")
        elif found[field.name] != field.type:
            out.append(f"column {field.name} is {found[field.name]}, spec says {field.type}")
    spec_names = set(SCHEMA.names)
    out += [f"column {name} is not in the spec" for name in found if name not in spec_names]
    if len(actual.names) != len(set(actual.names)):
        out.append("duplicate column names")
    if not out and list(actual.names) != list(SCHEMA.names):
        pos = next(i for i, (a, b) in enumerate(zip(actual.names, SCHEMA.names)) if a != b)
        out.append(f"columns out of order: position {pos} is {actual.names[pos]}, spec says {SCHEMA.names[pos]}")
    return out


def _id_range(pf: pq.ParquetFile) -> tuple[int, int] | None:
    """(min, max) of the id column from row-group statistics, or by reading that one column."""
    meta = pf.metadata
    index = pf.schema_arrow.get_field_index("id")
    lo = hi = None
    for rg in range(meta.num_row_groups):
        stats = meta.row_group(rg).column(index).statistics
        if stats is None or not stats.has_min_max or stats.null_count:
            lo = hi = None
            break
        lo = stats.min if lo is None else min(lo, stats.min)
        hi = stats.max if hi is None else max(hi, stats.max)
    else:
        if lo is not None:
            return int(lo), int(hi)
    if meta.num_rows == 0:
        return None
    ids = pf.read(columns=["id"], use_threads=False).column(0)
    if ids.null_count:
        return None
    import pyarrow.compute as pc

    mm = pc.min_max(ids).as_py()
    return int(mm["min"]), int(mm["max"])


def check_file(store: Store, plan: RunPlan, check: FileCheck) -> FileCheck:
    """Footer-level checks of one present file (the file is opened, its footer read, closed)."""
    name = check.name
    try:
        reader = store.open_reader(check.key)
    except READ_ERRORS as exc:  # a failure to open is the finding
        check.problems.append(f"{name}: cannot be opened ({first_line(exc)})")
        return check
    try:
        try:
            pf = pq.ParquetFile(reader)
            schema = pf.schema_arrow
            meta = pf.metadata
        except READ_ERRORS as exc:
            check.problems.append(f"{name}: truncated or unreadable ({first_line(exc)})")
            return check
        check.readable = True
        check.rows = meta.num_rows
        check.row_groups = meta.num_row_groups
        bad_schema = schema_problems(schema)
        check.schema_ok = not bad_schema
        if bad_schema:
            check.problems.append(f"schema mismatch in {name}: {'; '.join(bad_schema)}")
        footer = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in (meta.metadata or {}).items()}
        mismatched = []
        # What the writer puts in the footer, from the writer's own function (one home for the keys).
        for key, want in file_metadata(plan.params, check.file_id).items():
            label = key.split(".", 1)[1]
            got = footer.get(key)
            if got is None:
                mismatched.append(f"no {key} in footer (not written by lakebench-ray?)")
            elif key == META_VERSION:
                # Only recorded: the bytes are identified by the fingerprint (which includes the
                # format revision), so data written by an earlier release that makes the same
                # bytes still verifies.
                continue
            elif got != want:
                mismatched.append(f"{label} {got} in footer, config says {want}")
        check.footer_ok = not mismatched
        if mismatched:
            check.problems.append(f"{name}: {'; '.join(mismatched)}")
        rows = plan.params.rows_per_file
        check.rows_ok = meta.num_rows == rows
        if not check.rows_ok:
            check.problems.append(f"{name}: {meta.num_rows:,} rows, plan says {rows:,}")
        if check.schema_ok:
            want_lo, want_hi = check.file_id * rows, (check.file_id + 1) * rows - 1
            try:
                got = _id_range(pf)
            except READ_ERRORS as exc:
                check.problems.append(f"{name}: id column unreadable ({first_line(exc)})")
                got = None
            else:
                if got is None:
                    check.problems.append(f"{name}: id column has nulls or no rows")
            if got is not None:
                check.ids_ok = got == (want_lo, want_hi)
                if not check.ids_ok:
                    check.problems.append(f"{name}: ids {got[0]}..{got[1]}, plan says {want_lo}..{want_hi}")
    finally:
        try:
            reader.close()
        except Exception:  # noqa: BLE001
            pass
    return check


def _cap(items: list, limit: int = 5) -> str:
    shown = ", ".join(map(str, items[:limit]))
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _kept_by_the_run(store: Store, prefix: str, plan: RunPlan) -> set[str]:
    """The files outside the plan that the run's report says it left there (``output.existing:
    keep``), so verify names them as such rather than as strangers."""
    try:
        outside = read_summary(store, prefix, plan.partition_count, plan.partition_index).get("outside_plan") or {}
        return {str(name) for name in outside.get("files", ())} if outside.get("policy") == "keep" else set()
    except (TypeError, AttributeError):
        return set()


def check_completeness(
    store: Store,
    prefix: str,
    plan: RunPlan,
    *,
    allow_extra_ids: bool = False,
    workers: int = 8,
) -> Completeness:
    """List ``prefix`` once, then check every present file of this partition (footers only).

    ``allow_extra_ids``: files of this partition numbered past the plan are expected (a run with
    ``duration_s`` keeps making them); they are checked like planned files but never required.
    """
    prefix = prefix.strip("/")
    count, index = plan.partition_count, plan.partition_index
    planned = plan.file_ids  # a range: membership without a set of every id

    def ours(file_id: int) -> bool:
        return in_partition(file_id, count, index)

    present: dict[int, FileCheck] = {}
    candidates: list[str] = []  # keys that may be outside the plan (plan.outside decides)
    for key, stat in store.iter_stats(prefix):  # page by page: no copy of the whole listing
        relative = key[len(prefix) + 1 :] if prefix else key
        file_id = None if is_hidden(relative) else parse_file_name(relative)
        if file_id is not None and (file_id in planned or (allow_extra_ids and file_id >= plan.files.num_files
                                                           and ours(file_id))):
            present[file_id] = FileCheck(file_id, relative, file_key(prefix, file_id), size=stat.size)
        elif file_id is None or file_id not in planned:
            candidates.append(key)
    # Past the plan, in sustained mode: this partition's are checked, other partitions' skipped.
    extra = plan.outside(candidates, prefix, past_plan_ok=allow_extra_ids)
    kept = _kept_by_the_run(store, prefix, plan)

    present = dict(sorted(present.items()))
    partials = []
    for final in store.list_partials(prefix):
        relative = final[len(prefix) + 1 :] if prefix and final.startswith(prefix + "/") else final
        file_id = parse_file_name(relative.rsplit("/", 1)[-1])
        if count == 1 or file_id is None or ours(file_id):
            partials.append(relative)

    missing = [i for i in planned if i not in present]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        checks = list(pool.map(lambda c: check_file(store, plan, c), present.values()))
    files = {c.file_id: c for c in checks}

    problems = [f"missing file {file_name(i)}" for i in missing]
    problems += [f"extra file {name}" + (" (left there by the run: output.existing=keep)" if name in kept else "")
                 for name in extra]
    problems += [f"partial write left behind for {name} (temp file or unfinished multipart upload)" for name in partials]
    for c in checks:
        problems += c.problems

    n_present = len([i for i in planned if i in files])
    unreadable = [c.name for c in checks if not c.readable]
    readable = [c for c in checks if c.readable]
    bad_schema = [c.name for c in readable if not c.schema_ok]
    bad_footer = [c.name for c in readable if not c.footer_ok]
    bad_rows = [c.name for c in readable if not c.rows_ok]
    bad_ids = [c.name for c in readable if c.schema_ok and not c.ids_ok]

    def rule(name, expected, observed, bad, description, problem):
        return RuleResult(name, "completeness", expected, observed, not bad, description, problem if bad else "")

    rules = [
        rule("files_present", f"{len(planned):,} files", f"{n_present:,}", missing,
             "every planned part-NNNNNN.parquet of this partition exists",
             f"{len(missing):,} planned files missing: {_cap([file_name(i) for i in missing])}"),
        rule("no_extra_files", "0", f"{len(extra):,}", extra,
             "nothing else under the prefix (metadata in _/. paths aside)", f"extra files: {_cap(extra)}"),
        rule("no_partial_writes", "0", f"{len(partials):,}", partials,
             "no temp files or unfinished multipart uploads", f"partial writes left: {_cap(partials)}"),
        rule("files_readable", f"{len(checks):,}", f"{len(checks) - len(unreadable):,}", unreadable,
             "each file opens as Parquet (footer intact)", f"unreadable: {_cap(unreadable)}"),
        rule("schema_matches_spec", f"{len(readable):,}", f"{len(readable) - len(bad_schema):,}", bad_schema,
             "41 columns, names, types and order exactly as core.SCHEMA", f"schema mismatch: {_cap(bad_schema)}"),
        rule("footer_matches_plan", f"{len(readable):,}", f"{len(readable) - len(bad_footer):,}", bad_footer,
             "lakebench.* footer keys: file id, seed, fingerprint, version, format, rows per file",
             f"footer mismatch: {_cap(bad_footer)}"),
        rule("row_counts", f"{plan.params.rows_per_file:,} per file", f"{len(readable) - len(bad_rows):,} files ok",
             bad_rows, "each file holds rows_per_file rows", f"wrong row count: {_cap(bad_rows)}"),
        rule("id_ranges", "[id*rows, (id+1)*rows)", f"{len(readable) - len(bad_ids):,} files ok", bad_ids,
             "each file's ids are its own block", f"wrong id range: {_cap(bad_ids)}"),
    ]
    return Completeness(planned, files, missing, extra, partials, rules, problems)
