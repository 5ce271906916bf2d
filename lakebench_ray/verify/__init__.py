"""Verify a generated dataset: completeness (every file, footers only) and conformance (the
spec's rules, streamed over all or a sample of the files). No Ray: pyarrow, numpy and the sinks.

    result = verify(load_config(...), sample_files=8)
    print_result(result); result.ok
"""

from __future__ import annotations

import sys

from ..errors import VerificationFailed
from .rules import RuleResult, RuleSet, tolerance
from .run import (
    VerifyResult,
    print_result,
    sample_ids,
    verify,
    verify_dataset,
    write_json,
)

__all__ = [
    "RuleResult",
    "RuleSet",
    "VerificationFailed",
    "VerifyResult",
    "print_result",
    "run_cli",
    "sample_ids",
    "tolerance",
    "verify",
    "verify_dataset",
    "write_json",
]


def run_cli(config, *, sample_files=None, json_path=None, report_path=None, out=None, deep=False, regenerate=None) -> int:
    """The ``verify`` subcommand: print the table, write ``--json`` / ``--report``, and raise
    :class:`VerificationFailed` (one line: what is wrong) when anything failed."""
    out = out or sys.stdout
    if report_path:
        from .report import require_matplotlib

        require_matplotlib()  # fail before the work, not after
    result = verify(config, sample_files=sample_files, deep=deep, regenerate=regenerate)
    print_result(result, out)
    if json_path:
        write_json(result, json_path)
    if report_path:
        from .report import write_report

        write_report(result, report_path)
    out.flush()
    if not result.ok:
        raise VerificationFailed(result.summary_line())
    return 0
