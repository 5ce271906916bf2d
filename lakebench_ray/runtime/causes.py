"""One line saying why a generator call or an actor's start failed, from Ray's exception: for an
error raised in the actor its own type and last line, not Ray's wrapping and traceback (these
lines go into the report's retries and into the run's one-line refusal)."""

from __future__ import annotations

import re

from ray.exceptions import RayTaskError


def call_cause(exc: BaseException) -> str:
    """Why a call failed: the actor's own error (type and last line) or Ray's (first line)."""
    if isinstance(exc, RayTaskError):
        inner = exc.cause if getattr(exc, "cause", None) is not None else exc
        text = str(inner).strip().splitlines()
        return f"{type(inner).__name__}: {text[-1] if text else ''}".strip()
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def start_cause(exc: BaseException) -> str:
    """Why an actor did not start: for an error in its constructor, the traceback's last line
    (e.g. ``ImportError: No module named ...``), which Ray puts after a long first line."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
    if len(lines) > 1 and "creation task" in lines[0]:
        return lines[-1]
    return call_cause(exc)
