"""Read a Lakebench config file (``--lakebench-config FILE``) as this project's settings.

A Lakebench user already has one YAML file with their S3 endpoint, keys, bronze bucket, scale and
dates. Rather than copying them by hand, the commands read that file and translate the keys that
decide where and what the bronze files are into this project's config keys (a layer merged by
:func:`~lakebench_ray.config.load_config`, so everything is validated once, as usual, and
``KEY=VALUE`` overrides still apply on top).

What is read, following Lakebench's documented configuration:

* both forms: the nested one (``platform.storage.s3.*``, ``architecture.workload.datagen.*``,
  ``architecture.pipeline.medallion.bronze.path_template``) and the flat v1.3 fields
  (``endpoint``, ``access_key``, ``secret_key``, ``secret_ref``, ``scale``, ``cycles``), the
  flat ones winning as in Lakebench;
* ``${VAR}`` and ``${VAR:-default}`` in any value, from the environment;
* scale as Lakebench sizes it: scale 1 is about 10 GB of bronze, a target of
  ``round(scale * 10 / 1024, 6)`` TiB, hence ``max(1, int(target_tb * 2**40 / file_size))`` files.

Keys about the rest of the lakehouse (Spark, Trino, catalogs, pods, ...) and about how Lakebench's
own generator runs (datagen mode, parallelism, generators, checkpoint) do not change the files
and are ignored. Keys that would change the files and cannot be honoured (another schema,
multi-cycle pipelines, Customer360 vocabulary overrides) are refused with one line.

Credentials are never put in the configuration: inline keys are returned separately for the
caller to place in the process environment (where the S3 credential chain of every process reads
them); with ``secret_ref`` (or placeholder keys) the environment's own credentials are used.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from .. import layout
from ..errors import ConfigError
from .job import lakebench_num_files

#: Lakebench's defaults for the keys that decide the files (its reference config).
DEFAULT_SCALE = 10
DEFAULT_FILE_SIZE = "512mb"
DEFAULT_BRONZE_BUCKET = "lakebench-bronze"
DEFAULT_PATH_TEMPLATE = "customer/interactions"
#: Customer360 workload overrides and the values that leave the data as generated.
_CUSTOMER360_NEUTRAL = {
    "unique_customers": (None,),
    "date_range_days": (None,),
    "channels": (None, ["web", "mobile", "store", "call_center", "social_media"]),
    "event_types": (None, ["purchase", "browse", "support", "login", "abandoned_cart"]),
    "quality_distribution": (
        None,
        {"clean": 0.92, "duplicate_suspected": 0.02, "incomplete": 0.03, "format_inconsistent": 0.03},
    ),
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_PLACEHOLDER = re.compile(r"<[^<>]*>")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(k|m|g|t)?i?b?", re.I)


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

    def apply_credentials(self, environ: "os._Environ[str] | dict[str, str]" = os.environ) -> None:
        """Put the file's inline keys where boto3's credential chain of this process (and of the
        local Ray workers it starts) finds them."""
        if self.access_key and self.secret_key:
            environ["AWS_ACCESS_KEY_ID"] = self.access_key
            environ["AWS_SECRET_ACCESS_KEY"] = self.secret_key
            environ.pop("AWS_SESSION_TOKEN", None)


def _substitute(value: Any, env: Mapping[str, str], where: str, source: str) -> Any:
    """``${VAR}`` / ``${VAR:-default}`` in every string value, recursively."""
    if isinstance(value, dict):
        return {k: _substitute(v, env, f"{where}.{k}" if where else str(k), source) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def repl(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found is None or (found == "" and default is not None):
            if default is None:
                raise ConfigError(
                    f"{where}: ${{{name}}} is not set (in {source}): export {name} or write ${{{name}:-default}}"
                )
            return default
        return found

    return _VAR.sub(repl, value)


def _get(tree: Any, dotted: str) -> Any:
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and value.strip() == "")


def _is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and bool(_PLACEHOLDER.fullmatch(value.strip()))


def _number(key: str, value: Any, source: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a number, got {value!r} (in {source})")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a number, got {value!r} (in {source})") from None


def _boolean(key: str, value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ConfigError(f"{key}: expected true or false, got {value!r} (in {source})")


def parse_file_size_mb(key: str, value: Any, source: str = "the Lakebench config") -> float:
    """``512mb``, ``64MB``, ``1gb``, ``512`` (MiB, as Lakebench sizes files) -> MiB."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _SIZE.fullmatch(str(value).strip())
    if not match:
        raise ConfigError(f"{key}: {value!r} is not a file size such as 512mb or 64mb (in {source})")
    number, unit = float(match.group(1)), (match.group(2) or "m").lower()
    return number * {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}[unit]


def _date(key: str, value: Any, source: str) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a date such as 2024-01-01, got {value!r} (in {source})")
    return value.strip()


def target_tb_for_scale(scale: float) -> float:
    """Lakebench's datagen target in TiB for a scale (scale 1: about 10 GB of bronze)."""
    return round(scale * 10 / 1024, 6)


def read_lakebench_config(path: str | os.PathLike, environ: Mapping[str, str] | None = None) -> LakebenchSettings:
    """Read and translate a Lakebench config file; every problem is one :class:`ConfigError` line."""
    env = os.environ if environ is None else environ
    file = Path(path)
    source = f"Lakebench config '{path}'"
    if not file.is_file():
        raise ConfigError(f"Lakebench config '{path}' does not exist: pass an existing YAML file to --lakebench-config")
    try:
        raw = yaml.safe_load(file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Lakebench config '{path}' is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"Lakebench config '{path}' must hold a mapping of keys to values")
    tree = _substitute(raw, env, "", source)

    def pick(flat: Optional[str], nested: str) -> tuple[str, Any]:
        """A setting from its flat v1.3 field (which wins) or its nested location."""
        if flat is not None and _given(tree.get(flat)):
            return flat, tree.get(flat)
        return nested, _get(tree, nested)

    s3 = "platform.storage.s3"
    datagen = "architecture.workload.datagen"
    layer: dict[str, Any] = {"output": {}, "s3": {}}

    # -- what would change the data and cannot be honoured ----------------------------------------
    schema = _get(tree, "architecture.workload.schema")
    if _given(schema) and str(schema).strip() != "customer360":
        raise ConfigError(
            f"architecture.workload.schema: '{schema}' is not generated here (only customer360) (in {source})"
        )
    key, cycles = pick("cycles", "architecture.pipeline.cycles")
    if _given(cycles) and _number(key, cycles, source) != 1:
        raise ConfigError(
            f"{key}: {cycles} cycles split the timestamp range into per-cycle datasets, which this generator "
            f"does not make: set cycles to 1 or leave it out (in {source})"
        )
    overrides = _get(tree, "architecture.workload.customer360") or {}
    if isinstance(overrides, dict):
        for name, value in overrides.items():
            if name in _CUSTOMER360_NEUTRAL and value not in _CUSTOMER360_NEUTRAL[name]:
                raise ConfigError(
                    f"architecture.workload.customer360.{name}: overriding it changes the data and is not "
                    f"supported here: remove it to generate the standard Customer360 dataset (in {source})"
                )

    # -- S3 ------------------------------------------------------------------------------------------
    key, endpoint = pick("endpoint", f"{s3}.endpoint")
    if _is_placeholder(endpoint):
        # The environment fills it in; recorded in the config so a rendered RayJob carries it too.
        given = [env[n] for n in ("S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL") if _given(env.get(n))]
        if not given:
            raise ConfigError(f"{key}: '{endpoint}' is a placeholder: fill it in or set S3_ENDPOINT (in {source})")
        layer["s3"]["endpoint_url"] = given[0].strip()
    elif _given(endpoint):
        layer["s3"]["endpoint_url"] = str(endpoint).strip()
    region = _get(tree, f"{s3}.region")
    if _given(region) and not _is_placeholder(region):
        layer["s3"]["region"] = str(region).strip()
    for name in ("path_style", "verify_ssl"):
        value = _get(tree, f"{s3}.{name}")
        if _given(value):
            layer["s3"][name] = _boolean(f"{s3}.{name}", value, source)
    ca_cert = _get(tree, f"{s3}.ca_cert")
    has_ca = _given(ca_cert) and not _is_placeholder(ca_cert)
    if has_ca:
        layer["s3"]["ca_cert"] = str(Path(str(ca_cert).strip()).expanduser())
    create = _get(tree, f"{s3}.create_buckets")
    layer["output"]["create_bucket"] = True if not _given(create) else _boolean(f"{s3}.create_buckets", create, source)
    bucket = _get(tree, f"{s3}.buckets.bronze")
    bucket = str(bucket).strip() if _given(bucket) else DEFAULT_BRONZE_BUCKET
    if _is_placeholder(bucket):
        raise ConfigError(f"{s3}.buckets.bronze: '{bucket}' is a placeholder: name the bronze bucket (in {source})")
    layer["output"]["uri"] = layout.bucket_uri(bucket)
    template = _get(tree, "architecture.pipeline.medallion.bronze.path_template")
    template = str(template).strip() if _given(template) else DEFAULT_PATH_TEMPLATE
    if re.search(r"[{}$<>*]", template):
        raise ConfigError(
            f"architecture.pipeline.medallion.bronze.path_template: '{template}' is a pattern; "
            f"give a fixed key prefix such as {DEFAULT_PATH_TEMPLATE} (in {source})"
        )
    layer["output"]["prefix"] = template.strip("/")

    access_key = _get(tree, "access_key") if _given(tree.get("access_key")) else _get(tree, f"{s3}.access_key")
    secret_key = _get(tree, "secret_key") if _given(tree.get("secret_key")) else _get(tree, f"{s3}.secret_key")
    _, secret_ref = pick("secret_ref", f"{s3}.secret_ref")
    inline = _given(access_key) and _given(secret_key) and not _is_placeholder(access_key) and not _is_placeholder(secret_key)
    if _given(access_key) != _given(secret_key) and not _given(secret_ref):
        raise ConfigError(f"{s3}: give both access_key and secret_key, or secret_ref (in {source})")

    # -- the data --------------------------------------------------------------------------------------
    key, scale = pick("scale", f"{datagen}.scale")
    scale = _number(key, scale, source) if _given(scale) else float(DEFAULT_SCALE)
    if not scale > 0:
        raise ConfigError(f"{key}: must be greater than 0, got {scale:g} (in {source})")
    size = _get(tree, f"{datagen}.file_size")
    file_size_mb = parse_file_size_mb(f"{datagen}.file_size", size if _given(size) else DEFAULT_FILE_SIZE, source)
    if not file_size_mb >= 1:
        raise ConfigError(f"{datagen}.file_size: must be at least 1mb, got {size!r} (in {source})")
    layer["scale"] = scale
    layer["file_size_mb"] = file_size_mb
    layer["num_files"] = lakebench_num_files(target_tb_for_scale(scale), file_size_mb)
    ratio = _get(tree, f"{datagen}.dirty_data_ratio")
    if _given(ratio):
        layer["dirty_ratio"] = _number(f"{datagen}.dirty_data_ratio", ratio, source)
    for name in ("timestamp_start", "timestamp_end"):
        value = _get(tree, f"{datagen}.{name}")
        if _given(value):
            layer[name] = _date(f"{datagen}.{name}", value, source)
    if not layer["s3"]:
        del layer["s3"]
    return LakebenchSettings(
        source=source,
        layer=layer,
        access_key=str(access_key) if inline else None,
        secret_key=str(secret_key) if inline else None,
        secret_ref=str(secret_ref).strip() if _given(secret_ref) else None,
        has_ca_cert=has_ca,
    )


__all__ = ["LakebenchSettings", "parse_file_size_mb", "read_lakebench_config", "target_tb_for_scale"]
