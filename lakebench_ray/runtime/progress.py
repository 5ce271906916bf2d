"""A progress line for the driver: files, rows, MB/s and ETA.

In sustained mode (``deadline`` given) the run ends at a time, not after a count: the line shows
the planned files, the extra files written past them and the time left, and the bar fills with
time.

On a terminal it redraws one line; elsewhere (``ray job logs``, CI) it prints a plain line at
most every ``interval`` seconds, so logs stay readable.
"""

from __future__ import annotations

import sys
import time


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    def __init__(self, total_files: int, *, done: int = 0, enabled: bool = True, stream=None, interval: float = 5.0,
                 deadline: float | None = None, clock=time.monotonic):
        """``done``: files already complete before this run (a resume): counted in the bar, not
        as progress made in the elapsed time. ``deadline``: when a sustained run stops (on
        ``clock``, ``time.monotonic`` unless a test passes its own)."""
        self.clock = clock
        self.deadline = deadline
        self.extra = 0
        self.total = total_files
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval if not self.tty else 0.2
        self.started = clock()
        self.files = self._done_before = done
        self.rows = self.bytes = 0
        self.retries = 0
        self.actors = 0
        self._last = 0.0

    def update(self, *, files: int = 0, extra: int = 0, rows: int = 0, nbytes: int = 0, retries: int = 0,
               actors: int | None = None, force: bool = False) -> None:
        """``files``: planned files completed; ``extra``: sustained-mode files past the plan."""
        self.files += files
        self.extra += extra
        self.rows += rows
        self.bytes += nbytes
        self.retries += retries
        if actors is not None:
            self.actors = actors
        now = self.clock()
        if self.enabled and (force or now - self._last >= self.interval):
            self._last = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        elapsed = now - self.started
        rate = self.bytes / elapsed if elapsed > 0 else 0.0
        retried = f" {self.retries} retried" if self.retries else ""
        if self.deadline is not None:  # sustained: the run ends at a time
            span = self.deadline - self.started
            frac = min(1.0, elapsed / span) if span > 0 else 1.0
            files = f"{self.files}/{self.total} planned + {self.extra:,} extra files"
            left = f"left {_duration(self.deadline - now)}"
        else:
            frac = self.files / self.total if self.total else 1.0
            made = self.files - self._done_before  # in this run's elapsed time
            eta = elapsed * (self.total - self.files) / made if made > 0 else float("nan")
            files = f"{self.files}/{self.total} files"
            left = f"eta {_duration(eta) if eta == eta else '--:--'}"
        width = 24
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        return (
            f"[{bar}] {files} {self.rows:,} rows "
            f"{_human_bytes(self.bytes)} {_human_bytes(rate)}/s "
            f"{self.actors} actors elapsed {_duration(elapsed)} {left}{retried}"
        )

    def _draw(self, now: float) -> None:
        if self.tty:
            self.stream.write("\r" + self.line(now) + "\x1b[K")
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(self.clock())
            if self.tty:
                self.stream.write("\n")
            self.stream.flush()
