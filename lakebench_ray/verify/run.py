"""Verify a generated dataset against its configuration: completeness, then conformance."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from typing import Optional

from ..config import Config
from ..control.directory import ControlDirectory, scan
from ..layout import file_name
from ..errors import LakebenchError, SinkError
from ..planning import RunPlan, plan_recorded
from ..sinks import Store, open_store
from .completeness import Completeness, check_completeness
from .conformance import Conformance
from .content import ContentCheck, check_content, regenerate_in_process
from .rules import RuleResult


def sample_ids(file_ids: tuple, n: Optional[int]) -> list[int]:
    """``n`` planned ids evenly spaced over the partition (first and last included); all when
    ``n`` is None or not smaller than the number of files."""
    ids = list(file_ids)
    if n is None or n >= len(ids):
        return ids
    if n <= 0:
        return []
    if n == 1:
        return [ids[0]]
    picks = sorted({round(i * (len(ids) - 1) / (n - 1)) for i in range(n)})
    return [ids[i] for i in picks]


@dataclasses.dataclass
class VerifyResult:
    uri: str
    prefix: str
    plan: dict
    completeness: Completeness
    conformance: Conformance
    content: ContentCheck
    sampled: list
    rules: list  # RuleResult, completeness first
    problems: list  # one line each
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary_line(self) -> str:
        c = self.completeness
        present = len([i for i in c.planned if i in c.files])
        conf = self.conformance
        checked = [r for r in self.rules if r.ok is not None]
        mb = conf.data_bytes / 1e6
        rate = f", {mb / self.seconds:.0f} MB/s" if self.seconds > 0 and mb else ""
        deep = f", {len(self.content.regenerated):,} regenerated" if self.content.regenerated else ""
        scope = (
            f"{present:,}/{len(c.planned):,} files present, {len(self.content.actual):,} digested{deep}, "
            f"{len(conf.files):,} files "
            f"({conf.rows:,} rows) checked against {len(checked)} rules in {self.seconds:.1f}s{rate}"
        )
        if self.ok:
            return f"verify OK: {scope}"
        shown = "; ".join(self.problems[:3])
        more = f" (+{len(self.problems) - 3} more)" if len(self.problems) > 3 else ""
        return f"verify FAILED: {len(self.problems)} problem(s): {shown}{more}"

    def as_dict(self) -> dict:
        c = self.completeness
        return {
            "ok": self.ok,
            "summary": self.summary_line(),
            "uri": self.uri,
            "prefix": self.prefix,
            "plan": self.plan,
            "problems": self.problems,
            "rules": [r.as_dict() for r in self.rules],
            "files": {
                "planned": len(c.planned),
                "missing": [file_name(i) for i in c.missing],
                "extra": c.extra,
                "partials": c.partials,
                "checked": [
                    {"file_id": f.file_id, "name": f.name, "size": f.size, "rows": f.rows, "row_groups": f.row_groups,
                     "ok": f.sound, "problems": f.problems,
                     "crc32": (self.content.actual.get(f.file_id) or (None, None))[1],
                     "recorded_crc32": (self.content.recorded.get(f.file_id) or {}).get("crc32"),
                     "regenerated_crc32": (self.content.regenerated.get(f.file_id) or (None, None))[1]}
                    for f in sorted(c.files.values(), key=lambda f: f.file_id)
                ],
            },
            "sampled_files": [file_name(i) for i in self.sampled],
            "stats": self.conformance.stats(),
            "seconds": round(self.seconds, 3),
        }


def verify_dataset(
    store: Store,
    prefix: str,
    plan: RunPlan,
    *,
    sample_files: Optional[int] = None,
    allow_extra_ids: bool = False,
    progress=None,
    deep: bool = False,
    regenerate=None,
    control: Optional[ControlDirectory] = None,
) -> VerifyResult:
    """Check ``plan``'s partition under ``store``/``prefix``. ``progress(done, total, name)`` is
    called after each file of the conformance pass. Every present file's bytes are compared with
    the digest recorded at write time; with ``deep`` the sampled files (all by default) are also
    generated again (by ``regenerate(plan, ids)``, in this process unless given) and compared.
    ``control``: the control directory as already listed (listed here when not given)."""
    started = time.monotonic()
    prefix = prefix.strip("/")
    comp = check_completeness(store, prefix, plan, allow_extra_ids=allow_extra_ids)
    conf = Conformance(plan.params)
    problems = list(comp.problems)
    chosen = sample_ids(plan.file_ids, sample_files)
    content = check_content(store, plan, prefix, comp.files, deep_ids=chosen if deep else None,
                            regenerate=regenerate or regenerate_in_process, control=control)
    problems += content.problems
    readable = [i for i in chosen if i in comp.files and comp.files[i].ok]
    for done, file_id in enumerate(readable, start=1):
        problem = conf.check_file(store, comp.files[file_id])
        if problem:
            problems.append(problem)
        if progress is not None:
            progress(done, len(readable), comp.files[file_id].name)
    conf.finish()
    conformance_rules = conf.rules.results()
    problems += [r.problem for r in conformance_rules if r.ok is False]
    rules: list[RuleResult] = comp.rules + content.rules + conformance_rules
    return VerifyResult(
        uri=getattr(store, "uri", ""),
        prefix=prefix,
        plan=plan.summary(),
        completeness=comp,
        conformance=conf,
        content=content,
        sampled=chosen,
        rules=rules,
        problems=problems,
        seconds=time.monotonic() - started,
    )


def verify(config: Config, *, sample_files: Optional[int] = None, store: Store | None = None, progress=None,
           deep: bool = False, regenerate=None) -> VerifyResult:
    """Verify the dataset ``config`` describes (this partition of it) where it was written.

    Its sizes (rows per file, per row group) are those its run recorded, not measured again:
    a newer pyarrow measuring other sizes must not turn a sound dataset into a failed one."""
    if sample_files is not None and sample_files < 0:
        raise LakebenchError(f"--sample-files: must be at least 0, got {sample_files}")
    store = store if store is not None else open_store(**config.store_spec(writing=False))
    # One quick request first: a store that does not answer is named in seconds, not after
    # every read's retries (minutes of silence).
    unreachable = store.probe()
    if unreachable is not None:
        raise SinkError(f"cannot verify {store.describe(config.output.prefix.strip('/'))}: {unreachable}: "
                        "check output.uri (and s3.endpoint_url)")
    control = scan(store, config.output.prefix)  # once: the sizes and the receipts are both there
    plan = plan_recorded(config, store, config.output.prefix, control=control)
    return verify_dataset(
        store, config.output.prefix, plan, sample_files=sample_files,
        allow_extra_ids=config.duration_s is not None, progress=progress, deep=deep, regenerate=regenerate,
        control=control,
    )


# -- output -----------------------------------------------------------------------------------


def format_table(rules: list[RuleResult], *, width: int = 44) -> str:
    rows = [("rule", "expected", "observed", "result")]
    rows += [(r.name, r.expected, r.observed, r.status) for r in rules]
    w0 = min(width, max(len(r[0]) for r in rows))
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)

    def cut(text: str, w: int) -> str:
        return text if len(text) <= w else text[: w - 1] + "…"

    lines = [f"{cut(a, w0):<{w0}}  {b:<{w1}}  {c:<{w2}}  {d}" for a, b, c, d in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def print_result(result: VerifyResult, out=None, *, max_problems: int = 20) -> None:
    out = out or sys.stdout
    print(f"verifying {result.uri.rstrip('/')}/{result.prefix} "
          f"(partition {result.plan['partition']}, fingerprint {result.plan['config_fingerprint']})", file=out)
    print(format_table(result.rules), file=out)
    if result.problems:
        print("problems:", file=out)
        for line in result.problems[:max_problems]:
            print(f"  {line}", file=out)
        if len(result.problems) > max_problems:
            print(f"  ... and {len(result.problems) - max_problems} more (all of them in --json)", file=out)
    print(result.summary_line(), file=out)


def write_json(result: VerifyResult, path: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(result.as_dict(), fh, indent=1)
            fh.write("\n")
    except OSError as exc:
        raise LakebenchError(f"--json: cannot write '{path}' ({exc.strerror or exc}): choose a writable path") from exc
