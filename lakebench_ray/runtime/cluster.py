"""Finding and joining Ray, and checking the cluster can ever hold a generator actor.

``ray.init`` left to itself waits minutes on a stale ``ray_current_cluster`` file (a head that
died), hangs for good on a port that accepts TCP but is not Ray (a web server, the dashboard),
ignoring SIGINT and SIGTERM while it blocks in C++, ends attaching to a foreign Ray in a deep
``RaySystemError``, and a pool whose actor fits on no node waits forever. Here each of those
becomes one line, in seconds, saying what to do; the address must answer Ray's handshake
(gRPC over HTTP/2) first, and the join itself is bounded and gives way to a signal.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import socket
import sys
import threading
import time
from typing import Callable, Optional

import ray

from ..errors import ClusterError, ConfigError

log = logging.getLogger(__name__)

#: How long to wait for a TCP answer from a Ray head before calling it unreachable.
CONNECT_TIMEOUT_S = 5.0
#: How long an autoscaler may take to publish its first status after the head started.
AUTOSCALER_GRACE_S = 8.0

_PRIVATE = "set ray.address=local to start a private Ray for this run"


def _split(address: str) -> tuple[str, int] | None:
    target = address.split("://", 1)[-1].rstrip("/")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


#: What an HTTP/2 client sends first (RFC 9113 3.4): the preface and an empty SETTINGS frame.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_SETTINGS = 4


class _NotRay(Exception):
    """Something answers at the address, but not as Ray."""


def _handshake(host: str, port: int, stop: Callable[[], None], timeout_s: float | None = None) -> Optional[str]:
    """None when a gRPC server answers there (Ray's GCS and its client server are gRPC: they
    answer an HTTP/2 preface with a SETTINGS frame), else why not. Raises :class:`_NotRay` when
    something else answers (a web server, a silent port), since joining it would hang.
    Bounded by ``timeout_s`` for the connection and again for the answer; ``stop`` is called
    every 0.2 s and raises to give up (a signal)."""
    timeout_s = CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    with sock:
        got = b""
        deadline = time.monotonic() + timeout_s
        try:
            sock.sendall(_H2_PREFACE)
            sock.settimeout(0.2)
            while len(got) < 9 and time.monotonic() < deadline:
                stop()
                try:
                    chunk = sock.recv(64)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                got += chunk
        except OSError as exc:
            raise _NotRay(f"it accepts connections but drops them ({exc.strerror or type(exc).__name__})") from None
    if len(got) >= 9 and got[3] == _SETTINGS:
        return None
    if got.startswith(b"HTTP/"):
        status = got.split(b"\r\n", 1)[0].decode("latin-1")[:60]
        raise _NotRay(f"it answers HTTP ({status}): a web server such as Ray's dashboard, not Ray's GCS port")
    if not got:
        if time.monotonic() >= deadline:
            raise _NotRay(f"it accepts connections but sends nothing within {timeout_s:g}s")
        raise _NotRay("it accepts connections and closes them without a word")
    raise _NotRay(f"it answers something else ({got[:16]!r})")


def _check_answers(host: str, port: int, stop, unreachable: Callable[[str], ConfigError], what: str) -> None:
    try:
        reason = _handshake(host, port, stop)
    except _NotRay as exc:
        raise ConfigError(
            f"{what} {host}:{port} is not a Ray head: {exc}; give the GCS address (HOST:6379 by default, as "
            f"`ray start --head` prints it), or {_PRIVATE}"
        ) from None
    if reason is not None:
        raise unreachable(reason)


def address_file() -> str:
    """Where ``ray start`` records the head that ``ray.init()`` joins by default."""
    from ray._private.utils import get_ray_address_file

    return get_ray_address_file(None)


def resolve_address(configured: Optional[str], stop: Callable[[], None] = lambda: None) -> Optional[str]:
    """The address to pass to ``ray.init`` after checking it answers as Ray: ``"local"`` (a
    private Ray), ``"auto"``, ``None`` (Ray's default: the recorded head, else a new local Ray) or
    an address. Raises a one-line :class:`ConfigError` for what would otherwise hang."""
    address = configured or os.environ.get("RAY_ADDRESS") or None
    if address == "local":
        return address
    if address in (None, "auto"):
        path = address_file()
        try:
            with open(path) as handle:
                recorded = handle.read().strip()
        except OSError:
            return address  # no recorded head: Ray starts a local one (None) or looks for one ("auto")
        where = _split(recorded)

        def stale(reason: str) -> ConfigError:
            return ConfigError(
                f"the Ray head recorded in {path} ({recorded}) does not answer ({reason}): it is stale, "
                f"from a Ray that stopped; start that Ray again, delete the file, or {_PRIVATE}"
            )

        if where is None:
            raise stale("not HOST:PORT")
        _check_answers(*where, stop, stale, f"the Ray head recorded in {path},")
        return recorded if address is None else address  # the head Ray itself would join, named
    where = _split(address)
    if where is None:
        raise ConfigError(f"ray.address: '{address}' is not HOST:PORT (the GCS address, e.g. 10.0.0.5:6379), 'auto' or 'local'")
    _check_answers(*where, stop, lambda reason: ConfigError(
        f"cannot reach Ray at {where[0]}:{where[1]} ({reason}): check ray.address or RAY_ADDRESS, or {_PRIVATE}"
    ), "ray.address")
    return address


@contextlib.contextmanager
def _stderr_tee():
    """Pass file descriptor 2 through a pipe while Ray starts: Ray's C++ core logs there directly,
    which a Python handler cannot catch. Everything still reaches stderr (never out of sight, no
    file left behind); the last lines are kept for the one-line error. Yields a function that
    returns Ray's last message."""
    sys.stderr.flush()
    tail: collections.deque[bytes] = collections.deque(maxlen=40)
    try:
        saved = os.dup(2)
        read_fd, write_fd = os.pipe()
    except OSError:  # no stderr at all (a daemon): nothing to pass on
        yield lambda: ""
        return

    def pump() -> None:
        # Until every holder of the pipe's write end closed it (Ray's processes may inherit it).
        pending = b""
        with os.fdopen(read_fd, "rb", buffering=0) as source:
            while chunk := source.read(65536):
                view = memoryview(chunk)
                while view:
                    try:
                        view = view[os.write(saved, view):]
                    except OSError:
                        break
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()[-4096:]
                tail.extend(line for line in lines if line.strip())
        os.close(saved)

    os.dup2(write_fd, 2)
    os.close(write_fd)
    threading.Thread(target=pump, name="lakebench-ray-stderr", daemon=True).start()
    try:
        yield lambda: _last_message([line.decode(errors="replace") for line in tail])
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's write end at fd 2 closes; the pump ends at its EOF


def _not_about_the_sigterm_handler(record: logging.LogRecord) -> bool:
    """Ray warns that it sets no SIGTERM handler when started from another thread: the point."""
    return "SIGTERM handler is not set" not in record.getMessage()


@contextlib.contextmanager
def _keep_sigterm_handler():
    """``ray.init`` replaces the driver's SIGTERM handler with one that calls ``sys.exit`` from
    wherever the process is; keep ours (a flag the run checks) in place while it starts (from
    another thread it sets none, and says so: that warning is dropped)."""
    worker_log = logging.getLogger("ray._private.worker")
    worker_log.addFilter(_not_about_the_sigterm_handler)
    utils = getattr(getattr(ray, "_private", None), "utils", None)
    original = getattr(utils, "set_sigterm_handler", None)
    if original is not None:
        utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        worker_log.removeFilter(_not_about_the_sigterm_handler)
        if original is not None:
            utils.set_sigterm_handler = original


def _last_message(lines: list[str]) -> str:
    """The text of the last warning or error line Ray's core logged (``[time W pid tid] file:line: text``)."""
    lines = [line.strip() for line in lines if line.strip()]
    for line in reversed(lines):
        if line.startswith("[") and "] " in line:
            return line.split("] ", 1)[1].split(": ", 1)[-1][:200]
    return lines[-1][:200] if lines else ""


#: How long joining (or starting) Ray may take, in seconds, before the run gives up.
JOIN_TIMEOUT_S = 120.0


def connect(configured: Optional[str], *, stop: Callable[[], None] = lambda: None,
            timeout_s: float = JOIN_TIMEOUT_S) -> bool:
    """Join (or start) Ray; returns whether this call started it, and so must stop it.

    ``ray.init`` blocks in C++ where no signal reaches Python, so it runs in a thread while this
    one waits: ``stop`` (called every 0.1 s) raises to give up on a signal, and after
    ``timeout_s`` the run gives up with one line. The address is checked first (it answers as
    Ray, see :func:`resolve_address`), so a port that is not Ray is refused in seconds.

    A Ray this call starts (``local``, or no head anywhere) is started from this thread: Ray ties
    its processes to the thread that starts them (``PR_SET_PDEATHSIG``), so a helper thread that
    ends would take the new cluster with it. Starting has no other side to hang on."""
    if ray.is_initialized():
        return False
    address = resolve_address(configured, stop)
    where = address or "the local Ray"
    outcome: dict = {}

    def join() -> None:
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
        except BaseException as exc:  # noqa: BLE001 - Ray raises many types here (version mismatch, timeouts)
            outcome["error"] = exc

    if address in (None, "local"):
        with _stderr_tee() as said, _keep_sigterm_handler():
            join()
            message = said()
        return _joined(outcome, where, message)
    with _stderr_tee() as said, _keep_sigterm_handler():
        joining = threading.Thread(target=join, name="lakebench-ray-join", daemon=True)
        joining.start()
        deadline = time.monotonic() + timeout_s
        while joining.is_alive():
            joining.join(0.1)
            if joining.is_alive():
                stop()
                if time.monotonic() >= deadline:
                    raise ClusterError(
                        f"joining Ray at {where} did not finish within {timeout_s:g}s ({said() or 'no message from Ray'}): "
                        f"is it a Ray of this environment, and is it up? Otherwise {_PRIVATE}"
                    )
        message = said()
    return _joined(outcome, where, message)


def _joined(outcome: dict, where: str, message: str) -> bool:
    exc = outcome.get("error")
    if exc is not None:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise ClusterError(
            f"cannot join Ray at {where} ({message or text[:300]}): is it a Ray of this environment (same "
            f"Ray and Python versions, same authentication: RAY_AUTH_MODE, RAY_AUTH_TOKEN)? Otherwise {_PRIVATE}"
        )
    return True


def _has_autoscaler() -> bool:
    """Whether an autoscaler that can add nodes serves this cluster.

    Autoscaler v2 says so in the GCS. v1 publishes a status in the internal KV, but every local
    head runs one too, over a read-only provider whose node types are the nodes themselves
    (``node_<node id>``); only a status naming other node types means nodes can be added."""
    try:
        from ray.autoscaler.v2.utils import is_autoscaler_v2

        if is_autoscaler_v2():
            return True
    except Exception:  # noqa: BLE001 - an older or partial Ray: fall back to the v1 status
        pass
    try:
        from ray._private.ray_constants import DEBUG_AUTOSCALING_STATUS
        from ray.experimental.internal_kv import _internal_kv_get

        raw = _internal_kv_get(DEBUG_AUTOSCALING_STATUS)
        if not raw:
            return False
        mapping = (json.loads(raw).get("autoscaler_report") or {}).get("node_type_mapping") or {}
    except Exception:  # noqa: BLE001
        return False
    return any(node_type != f"node_{node_id}" for node_id, node_type in mapping.items())


def largest_node_cpus() -> float:
    return max((n.get("Resources", {}).get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")), default=0.0)


def check_actor_fits(cpus_per_actor: float, *, grace_s: float = AUTOSCALER_GRACE_S) -> Optional[str]:
    """Fail at once when no node can ever hold an actor and no autoscaler can add one.

    Returns None when a node fits, else what the run waits for (an autoscaler is there)."""
    largest = largest_node_cpus()
    if largest >= cpus_per_actor:
        return None
    deadline = time.monotonic() + grace_s
    while True:
        if _has_autoscaler():
            return (
                f"no node has {cpus_per_actor:g} CPUs for a generator actor (ray.cpus_per_actor; the largest has "
                f"{largest:g}): waiting for the autoscaler to add one"
            )
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    raise ClusterError(
        f"ray.cpus_per_actor={cpus_per_actor:g} but the largest Ray node has {largest:g} CPUs and no autoscaler "
        "can add a larger one: lower ray.cpus_per_actor or add a node with enough CPUs"
    )
