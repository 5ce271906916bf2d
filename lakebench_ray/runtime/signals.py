"""SIGTERM and SIGINT as a request to stop, not a crash.

Kubernetes sends SIGTERM on pod deletion and SIGKILL 30 s later; Ctrl-C sends SIGINT. Either
only sets a flag here: the pool stops handing out work at its next turn, and the driver aborts
what is in flight, saves the checkpoint and exits with one line. (Ray's own driver handler calls
``sys.exit`` from inside whatever runs, which skips that and can end in a C++ stack dump.)
Handlers can only be installed from the main thread; elsewhere (a notebook thread, a test's
background run) nothing changes.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Optional

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Context manager: while active, SIGTERM/SIGINT set :attr:`signum` instead of ending the process."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self._saved: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum, frame) -> None:  # noqa: ARG002 - the signal module's signature
        if self.signum is None:
            self.signum = signum
            log.info("%s received: stopping (no new files; aborting those in flight; saving the checkpoint)",
                        signal.Signals(signum).name)
        else:
            log.info("%s received again: already stopping", signal.Signals(signum).name)

    def install(self) -> None:
        """(Re)install the handlers: ``ray.init`` replaces the SIGTERM handler with its own."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNALS:
            previous = signal.signal(sig, self._handle)
            if sig not in self._saved and previous is not self._handle:
                self._saved[sig] = previous

    def stop_if_requested(self, what: str) -> None:
        """Raise :class:`~lakebench_ray.errors.Interrupted` once a signal came (``what``: the
        step it stops, for the message)."""
        if self.signum is not None:
            from ..errors import Interrupted

            raise Interrupted(f"stopped by {self.name} while {what}: nothing written", self.signum)

    def run(self, step, what: str, poll_s: float = 0.1):
        """``step()`` in a worker thread while this one answers signals: a step that blocks
        where no signal reaches Python (a socket that never answers) still gives way within
        ``poll_s``. The step's result, or its exception; left running (a daemon) when stopped."""
        outcome: dict = {}
        done = threading.Event()

        def work() -> None:
            try:
                outcome["value"] = step()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                outcome["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name="lakebench-step", daemon=True).start()
        while not done.wait(poll_s):
            self.stop_if_requested(what)
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    def __enter__(self) -> "StopSignals":
        self.install()
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._saved.items():
            try:
                signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
            except (TypeError, ValueError):  # not the main thread any more, or not restorable
                pass
        self._saved.clear()
