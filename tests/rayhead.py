"""A Ray head of the test's own: ``ray start --head --block`` in a new process group.

Ray's own stop command (which ``AutoscalingCluster`` runs with ``--force``) kills every Ray on
the machine, a user's cluster included. This head runs in its own session with its own temp dir (so
it records its address in no shared ``ray_current_cluster`` file); stopping it signals exactly
that process group, and nothing else.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
_AGENT_PORT_FLAGS = ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--metrics-export-port",
                     "--runtime-env-agent-port", "--ray-client-server-port")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live_processes():
    """``(pid, ppid, pgrp, argv0)`` of every live process (zombies excluded), read from /proc."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv0 = handle.read().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after it.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            yield int(entry), int(fields[1]), int(fields[2]), argv0


def group_members(pgid: int) -> set[int]:
    """Pids of the live processes in process group ``pgid``."""
    return {pid for pid, _, pgrp, _ in live_processes() if pgrp == pgid}


def stop_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM to the process group ``proc`` leads (started with ``start_new_session``); once
    every other member has ended, or after ``grace`` seconds, SIGKILL to what is left.

    A head that ran nothing is gone within ~2 s of SIGTERM, but ``ray start --block`` (the leader)
    may itself linger for 30 s and more, and after jobs ran, its raylet, GCS and agents often
    outlive any grace: waiting for them would cost the whole grace on every stop, for nothing (the
    temp dir is removed after). The group is the test's own, so nothing outside it is signalled."""
    pgid = proc.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        proc.wait(timeout=10)
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()  # reaps the leader once it ends
        if group_members(pgid) <= {pgid}:  # only the leader is left (or no one)
            break
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 10.0
    while group_members(pgid) and time.monotonic() < deadline:  # SIGKILL is taken at once, but not instantly
        proc.poll()
        time.sleep(0.05)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILLed above
        pass


class RayHead:
    """``with RayHead(num_cpus=2) as head: ray.init(address=head.address)``."""

    def __init__(self, *extra_args: str, env: dict | None = None, startup_timeout: float = 90.0):
        self.extra_args = list(extra_args)
        self.env = dict(os.environ if env is None else env)
        # Short: Ray's unix socket paths live below it (108-byte limit).
        self.temp_dir = tempfile.mkdtemp(prefix="lbray-")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(self.temp_dir) / "ray-start.log"

    def start(self) -> "RayHead":
        # Ray's fixed default ports (the dashboard agent's 52365, the client server's 10001, ...)
        # are taken by any other Ray on the machine, a parallel test worker's included: a head
        # that cannot bind its job agent accepts no job. Each gets a free port unless given.
        given = {arg.split("=", 1)[0] for arg in self.extra_args}
        ports = [f"{flag}={free_port()}" for flag in _AGENT_PORT_FLAGS if flag not in given]
        args = [
            str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={self.port}",
            f"--temp-dir={self.temp_dir}", "--disable-usage-stats", *ports, *self.extra_args,
        ]
        env = dict(self.env, PATH=f"{BIN}:{self.env.get('PATH', '')}")  # workers' `python` is this venv's
        env.pop("RAY_ADDRESS", None)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the Ray head did not listen on {self.address} within {self.startup_timeout:g}s: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 3.0) -> None:
        """Stops this head's process group (see :func:`stop_group`)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        stop_group(proc, grace)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> "RayHead":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def job_client(address: str):
    """Ray's job API client for a head's dashboard ``address``, used from the test process (a
    ``ray job status`` process each second costs more CPU than the job it watches). The client
    prefers RAY_API_SERVER_ADDRESS, then RAY_ADDRESS (``local`` in these tests), to the address it
    is given: the first is set while it is made."""
    import pytest
    from ray.job_submission import JobSubmissionClient

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_API_SERVER_ADDRESS", address)
        return JobSubmissionClient(address)
