"""A small real network on this machine: Linux network namespaces as hosts, veth links, bridges.

Every multi-node test elsewhere runs its Ray nodes on one loopback, where a partition, a host
that vanishes with all its processes, or a worker that reaches S3 while the head cannot reach it
(a zombie writer) cannot happen. Here each host is a network namespace of its own with its own
address, joined to the others by two bridges that live in a "switch" namespace:

* ``ray`` (10.27.1.0/24): the head and the worker hosts (Ray's own traffic);
* ``s3`` (10.27.2.0/24): every host and the S3 host (the data).

Two bridges let a test cut a worker off from the head while it still reaches S3 (its ``ray``
link down), cut it off altogether (both), or take the S3 host off every network (its one link).
A link is cut on the switch's side (the bridge port), so the host's own interface keeps its
address and route and its packets are silently lost, as on a real partition.

Nothing here touches the machine's own network: the namespaces' addresses exist only inside them
and the switch has no link out, so traffic goes to loopback and these namespaces alone. Names
carry the creating process's pid and a random token (parallel runs never collide), and
:meth:`Lab.close` kills every process in every namespace it made, then deletes the namespaces
(with them their links and bridges); a later :class:`Lab` also removes what a killed test
process left. Every wait is bounded.

Processes run in a host with ``ip netns exec`` in a process group of their own; Python code of
the test runs in a host through :meth:`Lab.call` (a thread that joined the host's namespace, so
sockets it opens are that host's).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional

from .s3server import FaultProxy, _ProxyHandler

BIN = Path(sys.executable).parent
CLONE_NEWNET = 0x40000000
NETWORKS = {"ray": "10.27.1", "s3": "10.27.2"}
_NAME = re.compile(r"lbmh(\d+)-[0-9a-f]{6}-")

#: Ray's failure detection shortened (as in tests/multinode.py): a host that stops answering is
#: declared dead after about 3 s instead of about 30; set on every Ray process of the lab.
FAST_FAILURE_ENV = {
    "RAY_health_check_initial_delay_ms": "0",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def _ip(*args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def namespaces_unavailable() -> Optional[str]:
    """None when this machine lets us make namespaces, veth pairs and bridges; else why not."""
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = f"lbmh{os.getpid()}-{secrets.token_hex(3)}-probe"
    try:
        _ip("netns", "add", name)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot create a network namespace: {exc}"
    try:
        _ip("-n", name, "link", "add", "br0", "type", "bridge")
        _ip("-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        _ip("-n", name, "link", "set", "v0", "master", "br0")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return f"cannot create a veth pair or a bridge in a namespace: {exc}"
    finally:
        _ip("netns", "del", name, check=False)
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _netns_pids(ns: str) -> list[int]:
    result = _ip("netns", "pids", ns, check=False)
    me = os.getpid()
    return [int(p) for p in result.stdout.split() if p.isdigit() and int(p) != me]


def _kill_all(namespaces: list[str], grace_s: float) -> None:
    """Every process in ``namespaces``: SIGTERM (unless ``grace_s`` is 0), then SIGKILL to what
    is left (bounded waits)."""
    for signum, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        if wait == 0 and signum == signal.SIGTERM:
            continue
        pids = [pid for ns in namespaces for pid in _netns_pids(ns)]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(_netns_pids(ns) for ns in namespaces):
            time.sleep(0.1)


def _enter_netns(ns: str) -> None:
    """Moves the calling thread (only) into network namespace ``ns``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {ns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def remove_leftovers() -> int:
    """Namespaces of earlier labs whose creating process is gone (a killed test run): their
    processes killed, the namespaces deleted. Returns how many were removed."""
    result = _ip("netns", "list", check=False)
    removed = 0
    for line in result.stdout.splitlines():
        ns = line.split()[0] if line.split() else ""
        match = _NAME.match(ns)
        if match and not _pid_alive(int(match.group(1))):
            _kill_all([ns], 0)
            _ip("netns", "del", ns, check=False)
            removed += 1
    return removed


@dataclass
class Host:
    name: str
    ns: str
    index: int
    networks: tuple
    procs: list = field(default_factory=list)
    executor: Optional[concurrent.futures.ThreadPoolExecutor] = None

    def address(self, network: str) -> str:
        return f"{NETWORKS[network]}.{self.index}"


class Lab:
    """``with Lab() as lab: lab.add_host("head", 1, ("ray", "s3"))``: hosts, links, processes."""

    def __init__(self):
        self.tag = f"lbmh{os.getpid()}-{secrets.token_hex(3)}"
        self.switch = f"{self.tag}-sw"
        self.hosts: dict[str, Host] = {}
        self._made: list[str] = []
        self._closed = False

    def __enter__(self) -> "Lab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> "Lab":
        remove_leftovers()
        _ip("netns", "add", self.switch)
        self._made.append(self.switch)
        for network in NETWORKS:
            _ip("-n", self.switch, "link", "add", network, "type", "bridge")
            _ip("-n", self.switch, "link", "set", network, "up")
        return self

    def add_host(self, name: str, index: int, networks: tuple = ("ray", "s3")) -> Host:
        """A host ``name`` (at most 8 characters) at ``.index`` of each of its ``networks``."""
        assert name not in self.hosts and len(name) <= 8 and 1 < index < 255
        ns = f"{self.tag}-{name}"
        _ip("netns", "add", ns)
        self._made.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        for network in networks:
            port = f"{name}-{network}"  # the switch's end of the link (a bridge port)
            _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", network, "netns", ns)
            _ip("-n", self.switch, "link", "set", port, "master", network)
            _ip("-n", self.switch, "link", "set", port, "up")
            _ip("-n", ns, "addr", "add", f"{NETWORKS[network]}.{index}/24", "dev", network)
            _ip("-n", ns, "link", "set", network, "up")
        host = Host(name, ns, index, tuple(networks))
        self.hosts[name] = host
        return host

    # -- faults --------------------------------------------------------------------------------
    def set_link(self, name: str, network: str, up: bool) -> None:
        """Cut (or restore) host ``name``'s link to ``network`` at the switch: its packets are lost."""
        _ip("-n", self.switch, "link", "set", f"{name}-{network}", "up" if up else "down")

    def kill_host(self, name: str) -> int:
        """SIGKILL every process of host ``name`` at once (as when a machine dies); how many."""
        host = self.hosts[name]
        pids = _netns_pids(host.ns)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _netns_pids(host.ns):
            time.sleep(0.05)
        for proc in host.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - killed above
                pass
        return len(pids)

    # -- running things in a host --------------------------------------------------------------
    def popen(self, name: str, args: list, *, env: dict, log: Path, cwd=None) -> subprocess.Popen:
        """``args`` in host ``name``, in a new process group, output appended to ``log``."""
        host = self.hosts[name]
        with open(log, "ab") as out:
            proc = subprocess.Popen(["ip", "netns", "exec", host.ns, *map(str, args)], env=env, cwd=cwd,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        host.procs.append(proc)
        return proc

    def run(self, name: str, args: list, *, env: dict, timeout: float, cwd=None) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.hosts[name].ns, *map(str, args)], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout)

    def call(self, name: str, fn: Callable, *args, timeout: float = 120, **kwargs):
        """``fn(*args, **kwargs)`` on a thread of this process that joined host ``name``'s
        network namespace (sockets it opens, processes it starts, are the host's)."""
        host = self.hosts[name]
        if host.executor is None:
            host.executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"netns-{name}", initializer=_enter_netns, initargs=(host.ns,))
        return host.executor.submit(fn, *args, **kwargs).result(timeout=timeout)

    def close(self) -> None:
        """Kill every process in every host, stop the namespace threads, delete the namespaces
        (and with them every link and bridge). Safe to call twice; never raises."""
        if self._closed:
            return
        self._closed = True
        try:
            _kill_all([host.ns for host in self.hosts.values()], 3.0)
        except Exception as exc:  # noqa: BLE001 - go on removing the rest
            print(f"multihost: could not kill every process of {self.tag}: {exc}", file=sys.stderr)
        for host in self.hosts.values():
            for proc in host.procs:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            if host.executor is not None:
                host.executor.shutdown(wait=True, cancel_futures=True)
        for ns in reversed(self._made):
            _ip("netns", "del", ns, check=False)

    def leftovers(self) -> list[str]:
        """Namespaces of this lab that still exist (for the test of the clean-up itself)."""
        listed = _ip("netns", "list", check=False).stdout
        return [line.split()[0] for line in listed.splitlines() if line.startswith(self.tag)]


# -- Ray on the lab's hosts ------------------------------------------------------------------------

def ray_env(extra: dict | None = None) -> dict:
    """The environment of a Ray process in the lab: this venv first on PATH, node addresses
    detected normally (not forced to loopback as the single-host tests do), fast failure
    detection, no default Ray address."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    env.update(FAST_FAILURE_ENV, PATH=f"{BIN}:{env.get('PATH', '')}", RAY_USAGE_STATS_ENABLED="0")
    env.update(extra or {})
    return env


class RayNode:
    """``ray start --block`` in host ``name`` (head when ``head`` is None, else joining it)."""

    PORT = 6379

    def __init__(self, lab: Lab, name: str, workdir: Path, env: dict, *, head: Optional[str] = None,
                 num_cpus: int = 1):
        self.lab, self.name = lab, name
        self.ip = lab.hosts[name].address("ray")
        # Short: Ray's unix socket paths live below it (108-byte limit); removed by stop().
        self.temp_dir = tempfile.mkdtemp(prefix="lbmh-")
        self.log = workdir / f"ray-{name}-{secrets.token_hex(2)}.log"
        args = [BIN / "ray", "start", "--block", f"--node-ip-address={self.ip}", f"--num-cpus={num_cpus}",
                f"--temp-dir={self.temp_dir}", "--disable-usage-stats", "--object-store-memory=100000000"]
        if head is None:
            args += ["--head", f"--port={self.PORT}", "--include-dashboard=false"]
        else:
            args += [f"--address={head}:{self.PORT}"]
        self.proc = lab.popen(name, args, env=env, log=self.log)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_started(self, timeout: float = 90) -> "RayNode":
        """Until ``ray start`` says the node runs (it has registered with the head by then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Ray runtime started" in self.log.read_text(errors="replace"):
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start on {self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            time.sleep(0.2)
        raise RuntimeError(f"ray start on {self.name} did not start within {timeout:g}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)


# -- the S3 host's front door ------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    """One request the S3 host answered (or not): when, from which host address, what."""

    at: float
    client: str
    method: str
    path: str
    query: str
    status: object


class _FrontHandler(_ProxyHandler):
    def _handle(self) -> None:
        front: S3Front = self.owner  # type: ignore[assignment]
        self._request = (self.client_address[0], *self.path.partition("?")[::2])
        if not front._wait_while_held(self.client_address[0]):
            self._record("dropped")
            self.close_connection = True
            return
        self._forward(self._read_body())

    def _record(self, outcome) -> None:
        client, path, query = self._request
        self.owner._seen(Request(time.monotonic(), client, self.command, path, query, outcome))


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that went away mid-answer (a killed or cut-off host) is no error here."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class S3Front(FaultProxy):
    """The S3 host's address: a forwarding proxy in front of SeaweedFS (on the S3 host's loopback),
    listening on the host's address. It logs which host sent what, and can hold one host's
    requests (to keep a writer mid-file for as long as a test needs) - nothing else."""

    def __init__(self, upstream: str, listen: str, port: int = 0):
        super().__init__(upstream)
        self.listen, self.listen_port = listen, port
        self.requests: list[Request] = []
        self._changed = threading.Condition(self._lock)
        self._held: dict[str, threading.Event] = {}
        self._forward_held: dict[str, bool] = {}
        self.held_waiting: dict[str, int] = {}

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{self.listen}:{self._server.server_address[1]}"

    def start(self) -> "S3Front":
        front = self

        class Handler(_FrontHandler):
            owner = front

        server = _QuietServer((self.listen, self.listen_port), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="s3-front", daemon=True)
        self._thread.start()
        return self

    def _seen(self, request: Request) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list], object], timeout: float, what: str):
        """Until ``predicate(requests)`` is truthy (checked on every request); returns it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate(list(self.requests))
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
                self._changed.wait(min(left, 0.5))

    # -- holding one host's requests -------------------------------------------------------------
    def hold(self, client: str) -> None:
        """Requests from ``client`` wait (at most 300 s each) until :meth:`release`."""
        with self._changed:
            self._held[client] = threading.Event()
            self.held_waiting[client] = 0

    def release(self, client: str, *, forward: bool = True) -> None:
        """Let ``client``'s held requests go on (``forward=False``: close them unanswered)."""
        with self._changed:
            event = self._held.pop(client, None)
            self._forward_held[client] = forward
        if event is not None:
            event.set()

    def _wait_while_held(self, client: str) -> bool:
        with self._changed:
            event = self._held.get(client)
            if event is None:
                return True
            self.held_waiting[client] += 1
            self._changed.notify_all()
        event.wait(300)
        with self._changed:
            return self._forward_held.get(client, True)

    def stop(self) -> None:
        with self._changed:
            held, self._held = list(self._held.values()), {}
        for event in held:
            event.set()
        super().stop()


# -- what the S3 host saw ------------------------------------------------------------------------------

def _mine(r: Request, bucket: str, client: str | None) -> bool:
    return r.path.startswith(f"/{bucket}/") and (client is None or r.client == client)


def uploads_started(requests: list, bucket: str, client: str | None = None) -> dict[str, Request]:
    """Key path -> the CreateMultipartUpload of uploads in ``bucket`` (by ``client``) that were
    neither completed nor aborted (by anyone) since."""
    open_: dict[str, Request] = {}
    for r in requests:
        if not r.path.startswith(f"/{bucket}/"):
            continue
        if r.method == "POST" and r.query.startswith("uploads") and r.status == 200:
            if client is None or r.client == client:
                open_[r.path] = r
        elif r.method in ("POST", "DELETE") and "uploadId=" in r.query:
            open_.pop(r.path, None)
    return open_


def completed(requests: list, bucket: str, client: str | None = None) -> dict[str, list[Request]]:
    """Key path -> every successful CompleteMultipartUpload / PutObject of a data file in ``bucket``
    (by ``client``)."""
    done: dict[str, list[Request]] = {}
    for r in requests:
        if not _mine(r, bucket, client) or r.status != 200 or "/part-" not in r.path:
            continue
        if (r.method == "POST" and "uploadId=" in r.query) or (r.method == "PUT" and not r.query):
            done.setdefault(r.path, []).append(r)
    return done


__all__ = ["FAST_FAILURE_ENV", "Host", "Lab", "RayNode", "Request", "S3Front", "completed", "namespaces_unavailable",
           "ray_env", "remove_leftovers", "uploads_started"]
