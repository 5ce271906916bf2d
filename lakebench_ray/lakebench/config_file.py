"""Read a Lakebench config file (``--lakebench-config FILE``) as this project's settings.

A Lakebench user already has one YAML file with their S3 endpoint, keys, bronze bucket, scale and
dates. Rather than copying them by hand, the commands read that file and translate what decides
where and what the bronze files are into this project's config keys (a layer merged by
:func:`~lakebench_ray.config.load_config`, so everything is validated once, as usual, and
``KEY=VALUE`` overrides still apply on top).

The rule: the run is the one Lakebench's own datagen image would make from the Job Lakebench
renders for the file. So the file is read the way Lakebench's loader reads it, then turned into
what its datagen deployer puts on the Job's command line:

* ``${VAR}`` and ``${VAR:-default}`` from the environment (a variable set to "" stays "");
* the flat v1.3 fields (``endpoint``, ``access_key``, ``secret_key``, ``secret_ref``, ``scale``,
  ``mode``, ``cycles``) moved to their nested places, winning over them; the deprecated
  ``architecture.processing`` (for ``pipeline``), ``pipeline.continuous`` (for ``sustained``)
  and pipeline mode ``continuous`` (for ``sustained``);
* scale: ``datagen.target_size`` (deprecated) replaces it by ``max(1, round(bytes / 10 GiB))``;
  scale 1 is 10 GB of bronze: a target of ``scale * 10 / 1024`` TiB printed with 6 decimals,
  hence ``max(1, int(target_tb * 2**40 / file bytes))`` files;
* ``file_size`` floored to whole MiB, as Lakebench passes ``--file-size-mb``;
* rows per file by Lakebench's formula (``rows_per_file: lakebench``);
* a sustained pipeline gives ``--duration run_duration``, which Lakebench's generator honours
  only when the datagen mode is ``continuous`` (``auto``: continuous above scale 10);
* ``cycles: N``: Lakebench runs N Jobs, the K-th with 1/N of the volume and the K-th slice of
  the dates; ``--cycle K`` picks one (without it, one line asks for it);
* ``customer360.*`` never reaches Lakebench's generator: accepted with a note.

Where Lakebench runs its pods (the namespace, ``images.datagen``, ``images.pull_secrets`` and
``images.pull_policy``) is read for ``lakebench-ray kuberay``: the RayJob goes where Lakebench's
Secrets are, and pulls as Lakebench's pods would. Other keys about the rest of the lakehouse
(Spark, Trino, catalogs, ...) and about how Lakebench's own generator runs (parallelism,
generators, checkpoint) do not change the files and are ignored.

Credentials are never put in the configuration: inline keys are returned separately for the
caller to place in the process environment (where the S3 credential chain of every process reads
them); with ``secret_ref`` (or placeholder keys) the environment's own credentials are used. A
placeholder endpoint (``<YOUR_S3_ENDPOINT>``) not filled by the environment is left out with a
warning: it blocks only the commands that reach the storage (:meth:`LakebenchSettings.require_endpoint`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence


from .. import layout
from ..core.plan import ROWS_LAKEBENCH
from ..errors import ConfigError
from ..yaml_text import load_mapping
from .job import lakebench_num_files

#: Lakebench's defaults for the keys that decide the files (its config schema).
DEFAULT_SCALE = 10
DEFAULT_FILE_SIZE = "512mb"
DEFAULT_BRONZE_BUCKET = "lakebench-bronze"
DEFAULT_PATH_TEMPLATE = "customer/interactions"
DEFAULT_RUN_DURATION = 1800
DEFAULT_REGION = "us-east-1"
#: The dates Lakebench's cycles divide when the config gives none (its generator's defaults).
DEFAULT_TIMESTAMP_START = "2024-01-01"
DEFAULT_TIMESTAMP_END = "2025-12-31"
#: Bounds Lakebench's schema puts on what decides the files.
SCALE_RANGE = (0.01, 10000)
MAX_CYCLES = 50
MIN_RUN_DURATION = 60
#: Above this scale an ``auto`` datagen mode is ``continuous``.
AUTO_BATCH_MAX_SCALE = 10
#: Flat top-level fields and where Lakebench's loader moves them (those that matter here).
FLAT_FIELDS = {
    "endpoint": "platform.storage.s3.endpoint",
    "access_key": "platform.storage.s3.access_key",
    "secret_key": "platform.storage.s3.secret_key",
    "secret_ref": "platform.storage.s3.secret_ref",
    "scale": "architecture.workload.datagen.scale",
    "mode": "architecture.pipeline.mode",
    "cycles": "architecture.pipeline.cycles",
    "namespace": "platform.kubernetes.namespace",
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_PLACEHOLDER = re.compile(r"<[^<>]*>")
#: Lakebench's own generator image (``images.datagen``'s default), which cannot run a RayJob.
LAKEBENCH_DATAGEN_IMAGE = "sillidata/lb-datagen"
#: A size as Lakebench writes them: a number and b, kb, mb, gb or tb (any case); a bare number is bytes.
_SIZE = re.compile(r"([0-9]*\.?[0-9]+)\s*(b|kb|mb|gb|tb)?", re.I)
_UNITS = {"b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30, "tb": 2**40}
S3 = "platform.storage.s3"
DATAGEN = "architecture.workload.datagen"
PIPELINE = "architecture.pipeline"


@dataclass(frozen=True)
class LakebenchSettings:
    """What a Lakebench config says about the bronze files, in this project's terms."""

    source: str
    #: Nested config keys of this project (merged by ``load_config``).
    layer: dict[str, Any]
    #: Inline S3 keys of the file, if any (never part of ``layer``).
    access_key: Optional[str] = field(default=None, repr=False)
    secret_key: Optional[str] = field(default=None, repr=False)
    #: ``secret_ref``: the Kubernetes Secret holding the keys, when the file names one.
    secret_ref: Optional[str] = None
    #: Whether the file names a private CA (``ca_cert``).
    has_ca_cert: bool = False
    #: What Lakebench would put on its datagen Job's command line (``plan --json`` shows it).
    job: dict[str, Any] = field(default_factory=dict)
    #: One line each: what is accepted but changes nothing, placeholders left out.
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: The refusal for commands that reach the storage when the endpoint is a placeholder.
    endpoint_problem: Optional[str] = None
    #: The namespace Lakebench deploys into (where its Secrets are): ``platform.kubernetes.namespace``
    #: (flat ``namespace``), else the deployment's ``name``; None when the file names neither.
    namespace: Optional[str] = None
    #: ``images.datagen`` when the file sets it to an image other than Lakebench's own generator.
    image: Optional[str] = None

    def apply_credentials(self, environ: "os._Environ[str] | dict[str, str]" = os.environ) -> None:
        """Put the file's inline keys where boto3's credential chain of this process (and of the
        local Ray workers it starts) finds them."""
        if self.access_key and self.secret_key:
            environ["AWS_ACCESS_KEY_ID"] = self.access_key
            environ["AWS_SECRET_ACCESS_KEY"] = self.secret_key
            environ.pop("AWS_SESSION_TOKEN", None)

    def require_endpoint(self) -> None:
        """Refuse, in one line, to reach a storage whose endpoint is still a placeholder."""
        if self.endpoint_problem:
            raise ConfigError(self.endpoint_problem)


def _substitute(value: Any, env: Mapping[str, str], where: str, source: str) -> Any:
    """``${VAR}`` / ``${VAR:-default}`` in every string value, recursively; the default only
    when the variable is unset (Lakebench's rule: a variable set to "" gives "")."""
    if isinstance(value, dict):
        return {k: _substitute(v, env, f"{where}.{k}" if where else str(k), source) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def repl(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found is not None:
            return found
        if default is None:
            raise ConfigError(f"{where}: ${{{name}}} is not set (in {source}): export {name} or write ${{{name}:-default}}")
        return default

    return _VAR.sub(repl, value)


def _get(tree: Any, dotted: str) -> Any:
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _normalized(tree: dict) -> dict:
    """The tree as Lakebench's loader sees it: flat fields moved to their nested places (flat
    wins), then the deprecated spellings of the pipeline section and mode, in Lakebench's order."""
    tree = dict(tree)
    for flat, nested in FLAT_FIELDS.items():
        if flat not in tree:
            continue
        value = tree.pop(flat)
        node = tree
        *parents, last = nested.split(".")
        for part in parents:
            child = node.get(part)
            node[part] = child = dict(child) if isinstance(child, dict) else {}
            node = child
        node[last] = value
    architecture = tree.get("architecture")
    if isinstance(architecture, dict) and "processing" in architecture:
        architecture = tree["architecture"] = dict(architecture)
        processing = architecture.pop("processing")
        architecture.setdefault("pipeline", processing)
    pipeline = _get(tree, PIPELINE)
    if isinstance(pipeline, dict):
        pipeline = tree["architecture"]["pipeline"] = dict(pipeline)
        if "continuous" in pipeline:
            old = pipeline.pop("continuous")
            pipeline.setdefault("sustained", old)
        if pipeline.get("mode") == "continuous":
            pipeline["mode"] = "sustained"
    return tree


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and value.strip() == "")


def _is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and bool(_PLACEHOLDER.fullmatch(value.strip()))


def _number(key: str, value: Any, source: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a number, got {value!r} (in {source})")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{key}: expected a number, got {value!r} (in {source})") from None
    if not math.isfinite(number):
        raise ConfigError(f"{key}: must be a finite number, got {value!r} (in {source})")
    return number


def _whole(key: str, value: Any, source: str, low: int, high: Optional[int] = None) -> int:
    number = _number(key, value, source)
    if number != int(number) or number < low or (high is not None and number > high):
        bound = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise ConfigError(f"{key}: expected a whole number {bound}, got {value!r} (in {source})")
    return int(number)


def _boolean(key: str, value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ConfigError(f"{key}: expected true or false, got {value!r} (in {source})")


def parse_size_bytes(key: str, value: Any, source: str = "the Lakebench config") -> int:
    """``512mb``, ``64MB``, ``1.5gb``, ``1tb`` -> bytes, as Lakebench parses sizes (binary units;
    a bare number is bytes)."""
    match = _SIZE.fullmatch(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise ConfigError(f"{key}: {value!r} is not a size such as 512mb, 64mb or 1tb (in {source})")
    size = float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()]
    if not math.isfinite(size):
        raise ConfigError(f"{key}: {value!r} is not a size such as 512mb, 64mb or 1tb (in {source})")
    return int(size)


def parse_file_size_mb(key: str, value: Any, source: str = "the Lakebench config") -> int:
    """A ``file_size`` in whole MiB: Lakebench floors it (``1.5mb`` makes files of 1 MiB)."""
    mib = parse_size_bytes(key, value, source) // 2**20
    if mib < 1:
        raise ConfigError(f"{key}: must be at least 1mb, got {value!r} (in {source})")
    return mib


def _date(key: str, value: Any, source: str) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a date such as 2024-01-01, got {value!r} (in {source})")
    return value.strip()


def lakebench_target_tb(scale: float, cycles: int = 1) -> float:
    """The ``--target-tb`` Lakebench renders for a scale (per cycle): 10 GB of bronze per scale
    unit, in TiB, printed with 6 decimals."""
    return float(f"{scale * 10.0 / cycles / 1024.0:.6f}")


def target_tb_for_scale(scale: float) -> float:
    """Lakebench's datagen target in TiB for a scale (one cycle)."""
    return lakebench_target_tb(scale)


def cycle_dates(cycle: int, cycles: int, start: Optional[str], end: Optional[str], source: str) -> tuple[str, str]:
    """The K-th (1-based) of ``cycles`` equal slices of the dates, in whole days; the last one
    ends at ``end``. Lakebench's cycle runner gives each cycle's Job this window."""
    try:
        first = dt.datetime.strptime(start or DEFAULT_TIMESTAMP_START, "%Y-%m-%d")
        last = dt.datetime.strptime(end or DEFAULT_TIMESTAMP_END, "%Y-%m-%d")
    except ValueError:
        raise ConfigError(
            f"{DATAGEN}.timestamp_start/timestamp_end: cycles need plain dates such as 2024-01-01, "
            f"got {start!r} and {end!r} (in {source})"
        ) from None
    days = (last - first).days // cycles
    window_start = first + dt.timedelta(days=days * (cycle - 1))
    window_end = last if cycle == cycles else first + dt.timedelta(days=days * cycle)
    return window_start.strftime("%Y-%m-%d"), window_end.strftime("%Y-%m-%d")


def _load_tree(path: str | os.PathLike, env: Mapping[str, str], source: str) -> dict:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"Lakebench config '{path}' does not exist: pass an existing YAML file to --lakebench-config")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    # Bounded like --config: a line number, a key given twice named, aliases and nesting capped.
    raw = load_mapping(text, source)
    return _normalized(_substitute(raw, env, "", source))


def _scale(tree: dict, source: str) -> float:
    """``datagen.scale``, or the scale Lakebench derives from the deprecated ``target_size``."""
    target_size = _get(tree, f"{DATAGEN}.target_size")
    if target_size is not None:
        size = parse_size_bytes(f"{DATAGEN}.target_size", target_size, source)
        return float(max(1, round(size / (10 * 2**30))))
    scale = _get(tree, f"{DATAGEN}.scale")
    scale = _number(f"{DATAGEN}.scale", scale, source) if scale is not None else float(DEFAULT_SCALE)
    low, high = SCALE_RANGE
    if not low <= scale <= high:
        raise ConfigError(f"{DATAGEN}.scale: must be from {low:g} to {high:g} (as Lakebench accepts), got {scale:g} (in {source})")
    return scale


def _datagen_mode(tree: dict, scale: float, source: str) -> str:
    """Lakebench's effective datagen mode: ``auto`` is batch up to scale 10, continuous above."""
    mode = _get(tree, f"{DATAGEN}.mode")
    mode = "auto" if mode is None else str(mode).strip()
    if mode not in ("auto", "batch", "continuous"):
        raise ConfigError(f"{DATAGEN}.mode: expected auto, batch or continuous, got {mode!r} (in {source})")
    if mode == "auto":
        return "batch" if scale <= AUTO_BATCH_MAX_SCALE else "continuous"
    return mode


def _pipeline(tree: dict, source: str) -> tuple[str, Optional[int], int]:
    """(pipeline mode, the ``--duration`` Lakebench renders or None, cycles)."""
    mode = _get(tree, f"{PIPELINE}.mode")
    mode = "batch" if mode is None else str(mode).strip()
    if mode not in ("batch", "sustained"):
        raise ConfigError(f"{PIPELINE}.mode: expected batch or sustained, got {mode!r} (in {source})")
    cycles = _get(tree, f"{PIPELINE}.cycles")
    cycles = 1 if cycles is None else _whole(f"{PIPELINE}.cycles", cycles, source, 1, MAX_CYCLES)
    if cycles > 1 and mode != "batch":
        raise ConfigError(f"{PIPELINE}.cycles: {cycles} cycles need pipeline mode batch, not {mode} (in {source})")
    duration = None
    if mode == "sustained":
        run = _get(tree, f"{PIPELINE}.sustained.run_duration")
        key = f"{PIPELINE}.sustained.run_duration"
        duration = DEFAULT_RUN_DURATION if run is None else _whole(key, run, source, MIN_RUN_DURATION)
    return mode, duration, cycles


def read_lakebench_config(
    path: str | os.PathLike, environ: Mapping[str, str] | None = None, cycle: Optional[int] = None
) -> LakebenchSettings:
    """Read and translate a Lakebench config file; every problem is one :class:`ConfigError` line.
    ``cycle`` (1-based) picks one Job of a multi-cycle config."""
    env = os.environ if environ is None else environ
    source = f"Lakebench config '{path}'"
    tree = _load_tree(path, env, source)
    layer: dict[str, Any] = {"output": {}, "s3": {}}
    notes: list[str] = []
    warnings: list[str] = []

    # -- what would change the data and cannot be honoured ----------------------------------------
    schema = _get(tree, "architecture.workload.schema")
    if _given(schema) and str(schema).strip() != "customer360":
        raise ConfigError(
            f"architecture.workload.schema: '{schema}' is not generated here (only customer360) (in {source})"
        )
    overrides = _get(tree, "architecture.workload.customer360")
    if isinstance(overrides, dict) and any(v is not None for v in overrides.values()):
        notes.append(
            f"architecture.workload.customer360 ({', '.join(sorted(map(str, overrides)))}): Lakebench does not "
            "pass these to its generator, so the files do not change"
        )

    # -- S3 ------------------------------------------------------------------------------------------
    endpoint = _get(tree, f"{S3}.endpoint")
    endpoint_problem = None
    if _is_placeholder(endpoint):
        # The environment fills it in; recorded in the config so a rendered RayJob carries it too.
        given = [env[n] for n in ("S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL") if _given(env.get(n))]
        if given:
            layer["s3"]["endpoint_url"] = given[0].strip()
        else:
            endpoint_problem = (f"{S3}.endpoint: '{endpoint}' is a placeholder: fill it in or set S3_ENDPOINT "
                                f"(in {source})")
            warnings.append(f"{S3}.endpoint: '{endpoint}' is a placeholder (left out): fill it in or set "
                            "S3_ENDPOINT before generating")
    elif _given(endpoint):
        layer["s3"]["endpoint_url"] = str(endpoint).strip()
    # Lakebench's Job always passes a region and path style: its defaults when the file has none.
    region = _get(tree, f"{S3}.region")
    layer["s3"]["region"] = str(region).strip() if _given(region) and not _is_placeholder(region) else DEFAULT_REGION
    path_style = _get(tree, f"{S3}.path_style")
    layer["s3"]["path_style"] = _boolean(f"{S3}.path_style", path_style, source) if _given(path_style) else True
    verify_ssl = _get(tree, f"{S3}.verify_ssl")
    if _given(verify_ssl):
        layer["s3"]["verify_ssl"] = _boolean(f"{S3}.verify_ssl", verify_ssl, source)
    ca_cert = _get(tree, f"{S3}.ca_cert")
    has_ca = _given(ca_cert) and not _is_placeholder(ca_cert)
    if has_ca:
        layer["s3"]["ca_cert"] = str(Path(str(ca_cert).strip()).expanduser())
    create = _get(tree, f"{S3}.create_buckets")
    layer["output"]["create_bucket"] = True if not _given(create) else _boolean(f"{S3}.create_buckets", create, source)
    bucket = _get(tree, f"{S3}.buckets.bronze")
    bucket = str(bucket).strip() if _given(bucket) else DEFAULT_BRONZE_BUCKET
    if _is_placeholder(bucket):
        raise ConfigError(f"{S3}.buckets.bronze: '{bucket}' is a placeholder: name the bronze bucket (in {source})")
    layer["output"]["uri"] = layout.bucket_uri(bucket)
    template = _get(tree, f"{PIPELINE}.medallion.bronze.path_template")
    template = str(template).strip() if _given(template) else DEFAULT_PATH_TEMPLATE
    if re.search(r"[{}$<>*]", template):
        raise ConfigError(
            f"{PIPELINE}.medallion.bronze.path_template: '{template}' is a pattern; "
            f"give a fixed key prefix such as {DEFAULT_PATH_TEMPLATE} (in {source})"
        )
    layer["output"]["prefix"] = template.strip("/")

    access_key, secret_key = _get(tree, f"{S3}.access_key"), _get(tree, f"{S3}.secret_key")
    secret_ref = _get(tree, f"{S3}.secret_ref")
    inline = _given(access_key) and _given(secret_key) and not _is_placeholder(access_key) and not _is_placeholder(secret_key)
    if _given(access_key) != _given(secret_key) and not _given(secret_ref):
        raise ConfigError(f"{S3}: give both access_key and secret_key, or secret_ref (in {source})")

    # -- the data --------------------------------------------------------------------------------------
    scale = _scale(tree, source)
    size = _get(tree, f"{DATAGEN}.file_size")
    file_size_mb = parse_file_size_mb(f"{DATAGEN}.file_size", DEFAULT_FILE_SIZE if size is None else size, source)
    datagen_mode = _datagen_mode(tree, scale, source)
    pipeline_mode, duration, cycles = _pipeline(tree, source)
    start, end = (_get(tree, f"{DATAGEN}.{name}") for name in ("timestamp_start", "timestamp_end"))
    start = _date(f"{DATAGEN}.timestamp_start", start, source) if _given(start) else None
    end = _date(f"{DATAGEN}.timestamp_end", end, source) if _given(end) else None
    if cycles > 1:
        if cycle is None:
            raise ConfigError(
                f"{PIPELINE}.cycles: {cycles}: Lakebench runs {cycles} datagen Jobs, each with 1/{cycles} of the volume "
                f"and its slice of the dates: pass --cycle K (1 to {cycles}) to make the K-th (in {source})"
            )
        start, end = cycle_dates(cycle, cycles, start, end, source)
    if cycle is not None and not 1 <= cycle <= cycles:
        raise ConfigError(f"--cycle {cycle}: the config has {cycles} cycle(s): give 1 to {cycles} (in {source})")
    target_tb = lakebench_target_tb(scale, cycles)
    layer["scale"] = scale
    layer["file_size_mb"] = float(file_size_mb)
    layer["num_files"] = lakebench_num_files(target_tb, file_size_mb, what=f"scale (in {source})")
    layer["rows_per_file"] = ROWS_LAKEBENCH
    # Lakebench's generator keeps writing past the planned files only in continuous mode.
    layer["duration_s"] = float(duration) if duration is not None and datagen_mode == "continuous" else None
    ratio = _get(tree, f"{DATAGEN}.dirty_data_ratio")
    if _given(ratio):
        layer["dirty_ratio"] = _number(f"{DATAGEN}.dirty_data_ratio", ratio, source)
    if start:
        layer["timestamp_start"] = start
    if end:
        layer["timestamp_end"] = end
    job = {
        "target_tb": f"{target_tb:.6f}",
        "mode": datagen_mode,
        "duration": duration,
        "pipeline_mode": pipeline_mode,
        "cycle": cycle if cycles > 1 else None,
        "cycles": cycles,
    }
    namespace, image, pods = _kubernetes(tree, Path(path), source, warnings)
    if pods:
        layer["kuberay"] = pods
    return LakebenchSettings(
        source=source,
        layer=layer,
        access_key=str(access_key) if inline else None,
        secret_key=str(secret_key) if inline else None,
        secret_ref=str(secret_ref).strip() if _given(secret_ref) else None,
        has_ca_cert=has_ca,
        job=job,
        notes=tuple(notes),
        warnings=tuple(warnings),
        endpoint_problem=endpoint_problem,
        namespace=namespace,
        image=image,
    )


def _kubernetes(tree: dict, file: Path, source: str, warnings: list[str]) -> tuple[Optional[str], Optional[str], dict[str, Any]]:
    """Where Lakebench runs its pods: (namespace, datagen image, ``kuberay`` keys for the pull
    secrets and policy). Placeholders and Lakebench's own generator image are left out with a
    warning: they never block rendering."""
    namespace = _get(tree, "platform.kubernetes.namespace")
    if not _given(namespace):
        namespace = tree.get("name")
    if not _given(namespace):
        # Lakebench names an unnamed deployment once and keeps the name beside the config.
        try:
            state = json.loads((file.parent / ".lakebench" / "state.json").read_text())
            namespace = state.get("name") if isinstance(state, dict) else None
        except (OSError, ValueError):
            namespace = None
    namespace = _usable("platform.kubernetes.namespace", namespace, warnings)
    images = tree.get("images") if isinstance(tree.get("images"), dict) else {}
    image = _usable("images.datagen", images.get("datagen"), warnings)
    if image is not None and image.split("@")[0].rsplit(":", 1)[0].endswith(LAKEBENCH_DATAGEN_IMAGE):
        warnings.append(f"images.datagen: '{image}' is Lakebench's own generator, which has no Ray: a RayJob "
                        "runs lakebench-ray's image (--image chooses it)")
        image = None
    pods: dict[str, Any] = {}
    secrets = images.get("pull_secrets")
    if isinstance(secrets, list):
        names = [_usable(f"images.pull_secrets[{i}]", name, warnings) for i, name in enumerate(secrets)]
        if any(names):
            pods["image_pull_secrets"] = [name for name in names if name]
    elif _given(secrets):
        raise ConfigError(f"images.pull_secrets: expected a list of Secret names, got {secrets!r} (in {source})")
    policy = _usable("images.pull_policy", images.get("pull_policy"), warnings)
    if policy is not None:
        pods["image_pull_policy"] = policy
    return namespace, image, pods


def _usable(key: str, value: Any, warnings: list[str]) -> Optional[str]:
    """A string setting, or None when absent or holding a ``<placeholder>`` (with a warning)."""
    if not _given(value):
        return None
    text = str(value).strip()
    if _PLACEHOLDER.search(text):
        warnings.append(f"{key}: '{text}' is a placeholder (left out)")
        return None
    return text


__all__ = [
    "LakebenchSettings",
    "cycle_dates",
    "lakebench_target_tb",
    "parse_file_size_mb",
    "parse_size_bytes",
    "read_lakebench_config",
    "target_tb_for_scale",
]


def load_config(
    path: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    *,
    lakebench_config: str | os.PathLike | None = None,
    layers: Sequence[tuple[str, Mapping[str, Any]]] = (),
):
    """``lakebench_ray.load_config``: :func:`lakebench_ray.config.load_config`, plus a Lakebench
    config file translated and merged as ``--lakebench-config`` is (after ``path``, before
    ``overrides``). Its inline S3 keys, if any, go to this process's environment, where boto3 and
    the local Ray workers find them; its notes and warnings are Python warnings. It lives here,
    above the config, so that the config never imports an adapter of another tool."""
    import warnings

    from ..config import load_config as load

    if lakebench_config is not None:
        settings = read_lakebench_config(lakebench_config)
        for kind, lines in (("note", settings.notes), ("warning", settings.warnings)):
            for line in lines:  # what the command line prints on stderr
                warnings.warn(f"{kind}: {line}", stacklevel=2)
        settings.apply_credentials()
        layers = [(settings.source, settings.layer), *layers]
    return load(path, overrides, layers=layers)
