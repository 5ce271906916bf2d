"""More real S3 servers on 127.0.0.1 besides SeaweedFS: moto's server (PyPI) and s3rver (npm).

Each starts as its own process group on free ports and answers signed requests before ``start``
returns; ``stop`` ends it by pid. They differ in what they enforce (conditional writes,
checksums, multipart listing), which is what the store matrix tests. Needs no pytest.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from .s3server import LOOPBACK, S3ServerError, S3ServerInfo, free_ports, wait_until_answering

#: Where ``npm install`` puts s3rver for the tests (``.ci/run`` does it; the fixture does it when
#: it is missing): the package.json beside it pins the version.
S3RVER_DIR = Path(__file__).parent / "s3rver"
S3RVER_BIN = S3RVER_DIR / "node_modules" / "s3rver" / "bin" / "s3rver.js"


def install_s3rver(timeout: float = 240.0) -> str | None:
    """Install s3rver with npm from tests/s3rver/package.json if it is not there; None when it is
    ready, else why not (no node, no npm, or the registry did not answer)."""
    if S3RVER_BIN.is_file():
        return None if shutil.which("node") else "node is not installed"
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return "node and npm are not installed (apt-get install nodejs npm)"
    try:
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(S3RVER_DIR)],
                              cwd=S3RVER_DIR, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"npm install s3rver did not finish in {timeout:.0f}s"
    if done.returncode != 0 or not S3RVER_BIN.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"npm install s3rver failed: {tail[0]}"
    return None


class _ServerProcess:
    """A server process on one free port of the loopback, ready once a signed request succeeds."""

    name = "server"
    access_key = secret_key = "test"

    def __init__(self, workdir: str | os.PathLike, startup_timeout: float = 60.0):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.info: S3ServerInfo | None = None
        self._log = None

    def command(self, port: int) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __enter__(self) -> S3ServerInfo:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> S3ServerInfo:
        last = "no attempt"
        for _attempt in range(3):  # a port taken between choosing and binding: another port
            port = free_ports(1)[0]
            log_path = self.workdir / f"{self.name}.log"
            self._log = open(log_path, "ab")
            self.proc = subprocess.Popen(self.command(port), cwd=self.workdir, stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
            self.info = S3ServerInfo(
                endpoint=f"http://{LOOPBACK}:{port}", region="us-east-1", access_key=self.access_key,
                secret_key=self.secret_key, readonly_access_key=self.access_key,
                readonly_secret_key=self.secret_key, pid=self.proc.pid, data_dir=str(self.workdir),
                log_path=str(log_path),
            )
            try:
                self._wait_ready()
                return self.info
            except S3ServerError as exc:
                last = str(exc)
                self.stop()
        raise S3ServerError(f"{self.name} did not start: {last}")

    def _log_tail(self, lines: int = 10) -> str:
        try:
            return "\n".join(Path(self.info.log_path).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        assert self.info is not None and self.proc is not None
        wait_until_answering(self.info, self.proc, self.startup_timeout, self.name, self._log_tail)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


class MotoServer(_ServerProcess):
    """moto's standalone server (``moto[server]``): it accepts any credentials."""

    name = "moto"
    access_key, secret_key = "testing", "testing"

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]


class S3rver(_ServerProcess):
    """s3rver (npm), data in its directory; its one account is S3RVER / S3RVER."""

    name = "s3rver"
    access_key, secret_key = "S3RVER", "S3RVER"

    def command(self, port: int) -> list[str]:
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        return [shutil.which("node") or "node", str(S3RVER_BIN), "-d", str(data), "-a", LOOPBACK, "-p", str(port),
                "--silent", "--no-vhost-buckets"]


__all__ = ["MotoServer", "S3rver", "S3RVER_BIN", "S3RVER_DIR", "install_s3rver"]
