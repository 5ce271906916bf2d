"""Finding and joining Ray, and checking the cluster can ever hold a generator actor.

``ray.init`` left to itself waits minutes on a stale ``ray_current_cluster`` file (a head that
died), ends attaching to a foreign Ray in a deep ``RaySystemError``, and a pool whose actor fits
on no node waits forever. Here each of those becomes one line, in seconds, saying what to do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import tempfile
import time
from typing import Optional

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
    if not host or not port.isdigit():
        return None
    return host, int(port)


def _answers(host: str, port: int) -> Optional[str]:
    """None when something accepts a TCP connection there, else the reason."""
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
        return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def address_file() -> str:
    """Where ``ray start`` records the head that ``ray.init()`` joins by default."""
    from ray._private.utils import get_ray_address_file

    return get_ray_address_file(None)


def resolve_address(configured: Optional[str]) -> Optional[str]:
    """The address to pass to ``ray.init`` after checking it answers: ``"local"`` (a private
    Ray), ``"auto"``, ``None`` (Ray's default: the recorded head, else a new local Ray) or an
    address. Raises a one-line :class:`ConfigError` for what would otherwise hang."""
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
        reason = "not HOST:PORT" if where is None else _answers(*where)
        if reason is not None:
            raise ConfigError(
                f"the Ray head recorded in {path} ({recorded}) does not answer ({reason}): it is stale, "
                f"from a Ray that stopped; start that Ray again, delete the file, or {_PRIVATE}"
            )
        return address
    where = _split(address)
    if where is None:
        raise ConfigError(f"ray.address: '{address}' is not HOST:PORT (the GCS address, e.g. 10.0.0.5:6379), 'auto' or 'local'")
    reason = _answers(*where)
    if reason is not None:
        raise ConfigError(f"cannot reach Ray at {where[0]}:{where[1]} ({reason}): check ray.address or RAY_ADDRESS, or {_PRIVATE}")
    return address


@contextlib.contextmanager
def _stderr_to(file):
    """Send file descriptor 2 to ``file`` for a while: Ray's C++ core logs there directly (a
    foreign cluster means a retry warning a second for ~20 s), which a Python handler cannot catch."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a daemon): nothing to keep clean
        yield
        return
    try:
        os.dup2(file.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def _keep_sigterm_handler():
    """``ray.init`` replaces the driver's SIGTERM handler with one that calls ``sys.exit`` from
    wherever the process is; keep ours (a flag the run checks) in place while it starts."""
    utils = getattr(getattr(ray, "_private", None), "utils", None)
    original = getattr(utils, "set_sigterm_handler", None)
    if original is None:
        yield
        return
    utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        utils.set_sigterm_handler = original


def _last_message(path: str) -> str:
    """The text of the last warning or error line Ray's core logged (``[time W pid tid] file:line: text``)."""
    try:
        with open(path, errors="replace") as handle:
            lines = [line.strip() for line in handle if line.strip()]
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith("[") and "] " in line:
            return line.split("] ", 1)[1].split(": ", 1)[-1][:200]
    return lines[-1][:200] if lines else ""


def connect(configured: Optional[str]) -> bool:
    """Join (or start) Ray; returns whether this call started it, and so must stop it."""
    if ray.is_initialized():
        return False
    address = resolve_address(configured)
    with tempfile.NamedTemporaryFile(prefix="lakebench-ray-init-", suffix=".log", delete=False) as log_file:
        try:
            with _stderr_to(log_file), _keep_sigterm_handler():
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
        except Exception as exc:  # noqa: BLE001 - Ray raises many types here (version mismatch, timeouts)
            text = " ".join(str(exc).split()) or type(exc).__name__
            said = _last_message(log_file.name)
            where = address or "the local Ray"
            kept = f"; Ray's messages are in {log_file.name}" if said else ""
            raise ClusterError(
                f"cannot join Ray at {where} ({said or text[:300]}){kept}: is it a Ray of this environment (same "
                f"Ray and Python versions, same authentication: RAY_AUTH_MODE, RAY_AUTH_TOKEN)? Otherwise {_PRIVATE}"
            ) from None
    # Joined: whatever Ray said on the way belongs on stderr after all.
    with open(log_file.name, "rb") as said:
        text = said.read()
    os.unlink(log_file.name)
    if text:
        sys.stderr.buffer.write(text) if hasattr(sys.stderr, "buffer") else sys.stderr.write(text.decode(errors="replace"))
        sys.stderr.flush()
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
