"""The run's configuration: defaults <- ``--config FILE`` <- ``KEY=VALUE`` overrides.

Loaded, type-checked and validated once with OmegaConf into a frozen :class:`Config`; layers
below receive plain values (``GenParams``, ``S3Options``, numbers), never OmegaConf objects.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from . import layout
from .core import GenParams, num_files_for_scale
from .core.plan import ROWS_LAKEBENCH, lakebench_rows_per_file
from .errors import ConfigError
from .kuberay.options import KubeRayOptions
from .sinks.s3.options import S3Options
from .yaml_text import load_mapping


@dataclass(frozen=True)
class OutputConfig:
    uri: str = "./lakebench-data/bronze"
    prefix: str = "customer/interactions"
    create_bucket: bool = False
    #: Data files under the prefix that this run's plan does not make (another size, another
    #: configuration, leftovers): ``refuse`` the run, ``replace`` them (deleted once this run's
    #: files are complete) or ``keep`` them (the report and verify name them).
    existing: str = "refuse"


#: What a run may do with data files outside its plan (``output.existing``).
EXISTING_POLICIES = ("refuse", "replace", "keep")


#: S3Options's own defaults: the ``s3`` keys that the environment cannot set default to them.
_S3 = S3Options()


@dataclass(frozen=True)
class S3Config:
    """The ``s3`` section: every :class:`S3Options` field under its name. ``None`` means "from the
    environment (``S3_*`` / ``AWS_*``), else S3Options's default"; bounds are S3Options's too."""

    endpoint_url: Optional[str] = None
    region: Optional[str] = None
    path_style: Optional[bool] = None
    verify_ssl: Optional[bool] = None
    ca_cert: Optional[str] = None
    part_size_mb: int = _S3.part_size_mb
    max_concurrency: int = _S3.max_concurrency
    max_attempts: int = _S3.max_attempts
    connect_timeout: float = _S3.connect_timeout
    read_timeout: float = _S3.read_timeout
    retry_mode: str = _S3.retry_mode
    checksum: Optional[str] = None
    sign_payload: Optional[bool] = None
    conditional_writes: Optional[str] = None


@dataclass(frozen=True)
class RayConfig:
    address: Optional[str] = None
    num_actors: Optional[int] = None
    max_actors: Optional[int] = None
    cpus_per_actor: float = 1.0
    max_file_attempts: int = 3


@dataclass(frozen=True)
class PartitionConfig:
    count: int = 1
    index: Optional[int] = None


@dataclass(frozen=True)
class CheckpointConfig:
    every_files: int = 16
    every_seconds: float = 10.0
    lease_ttl_s: float = 60.0  # the run's lease on its prefix lasts this long without renewal


#: ``resume_mismatch``: what a resume does with a checkpoint of another configuration.
RESUME_MISMATCH = ("refuse", "restart")


@dataclass(frozen=True)
class Config:
    seed: int = GenParams.seed
    profile: str = GenParams.profile
    scale: float = 1.0
    num_files: Optional[int] = None
    rows_per_file: Optional[Union[int, str]] = None
    file_size_mb: float = 512.0
    payload_kb: float = GenParams.payload_kb
    row_group_mb: float = 128.0
    customer_id_max: int = GenParams.customer_id_max
    dirty_ratio: float = GenParams.dirty_ratio
    duplicate_email_pct: float = GenParams.duplicate_email_pct
    timestamp_start: str = GenParams.timestamp_start
    timestamp_end: str = GenParams.timestamp_end
    timestamp_order: str = GenParams.timestamp_order
    timestamp_live: bool = False
    timestamp_live_window_s: float = 60.0
    resume: bool = False
    resume_mismatch: str = "refuse"
    duration_s: Optional[float] = None
    outage_budget_s: float = 300.0
    progress: bool = True
    output: OutputConfig = field(default_factory=OutputConfig)
    s3: S3Config = field(default_factory=S3Config)
    ray: RayConfig = field(default_factory=RayConfig)
    partition: PartitionConfig = field(default_factory=PartitionConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    #: How ``lakebench-ray kuberay`` renders the pods and the RayJob (no effect on the data).
    kuberay: KubeRayOptions = field(default_factory=KubeRayOptions)

    # -- derived values -------------------------------------------------------------------
    @property
    def planned_files(self) -> int:
        if self.num_files is not None:
            return self.num_files
        return num_files_for_scale(self.scale, self.file_size_mb)

    @property
    def fixed_rows_per_file(self) -> Optional[int]:
        """Rows per file when the config fixes them (a number, or ``lakebench``: Lakebench's own
        formula for ``file_size_mb``); None when they are calibrated to the file size."""
        if self.rows_per_file == ROWS_LAKEBENCH:
            return lakebench_rows_per_file(self.file_size_mb)
        return self.rows_per_file

    def partition_index(self) -> int:
        """The partition this run makes: ``partition.index``, else ``JOB_COMPLETION_INDEX``."""
        if self.partition.index is not None:
            return self.partition.index
        if self.partition.count == 1:
            return 0
        raw = os.environ.get("JOB_COMPLETION_INDEX", "0").strip()
        if not (raw.isascii() and raw.isdigit()):  # no sign, no spaces, no "1e3", no '²' (a digit to isdigit)
            raise ConfigError(
                f"JOB_COMPLETION_INDEX: {raw!r} is not a whole number: set it to the partition index "
                "(Kubernetes Indexed Job) or pass partition.index"
            )
        return int(raw)

    def gen_params(self, rows_per_file: int, row_group_rows: int) -> GenParams:
        """The core's parameters: the keys this config shares with :class:`GenParams` are passed
        through by name (their defaults are GenParams's own), the rest is derived from the plan."""
        shared = {name: getattr(self, name) for name in GEN_KEYS}
        return GenParams(
            **shared,
            rows_per_file=rows_per_file,
            row_group_rows=row_group_rows,
            timestamp_slices=self.planned_files if self.timestamp_order == "by_file" else None,
            live_window_s=self.timestamp_live_window_s if self.timestamp_live else None,
            live_after=self.planned_files if self.timestamp_live else None,
        )

    def store_spec(self, *, writing: bool = True) -> dict[str, Any]:
        """``open_store`` arguments: plain values from which every process opens the same store
        (no secrets: those come from each process's own environment and credential chain).
        Only a writing run may create the bucket."""
        return {"uri": self.output.uri, "s3": self.s3_options(), "create_bucket": self.output.create_bucket and writing}

    def s3_options(self) -> dict[str, Any]:
        """The ``s3`` keys that are set, as :class:`S3Options` fields (unset ones come from the environment)."""
        return {k: v for k, v in dataclasses.asdict(self.s3).items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self, *, without: Sequence[str] = ()) -> str:
        """The config as YAML; ``without`` leaves those top-level sections out (the KubeRay
        ConfigMap shows the run's config without the ``kuberay`` section that shaped the pods)."""
        if not without:
            return OmegaConf.to_yaml(OmegaConf.structured(self))
        data = {k: v for k, v in OmegaConf.to_container(OmegaConf.structured(self)).items() if k not in without}
        return OmegaConf.to_yaml(OmegaConf.create(data))


#: Config keys that are :class:`GenParams` fields of the same name and meaning. (``rows_per_file``
#: shares the name only: in the config it is an optional override of the calibrated value.)
GEN_KEYS = tuple(
    f.name
    for f in dataclasses.fields(GenParams)
    if f.name in {c.name for c in dataclasses.fields(Config)} and f.name != "rows_per_file"
)


def all_keys(node: Any = Config, prefix: str = "") -> list[str]:
    """Every dotted key the configuration accepts."""
    keys = []
    for f in dataclasses.fields(node):
        name = f"{prefix}{f.name}"
        if node is Config and f.name in _SECTIONS:
            keys += all_keys(_SECTIONS[f.name], name + ".")
        else:
            keys.append(name)
    return keys


_SECTIONS = {
    "output": OutputConfig,
    "s3": S3Config,
    "ray": RayConfig,
    "partition": PartitionConfig,
    "checkpoint": CheckpointConfig,
    "kuberay": KubeRayOptions,
}


def _unknown_key(key: str) -> ConfigError:
    keys = all_keys()
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.5)
    if not close:  # a misspelt last part under the right section
        tail = key.rsplit(".", 1)[-1]
        close = difflib.get_close_matches(tail, [k.rsplit(".", 1)[-1] for k in keys], n=1, cutoff=0.6)
        close = [k for k in keys if close and k.endswith("." + close[0]) or k == (close[0] if close else None)][:1]
    hint = f": did you mean '{close[0]}'?" if close else f": valid keys are {', '.join(keys)}"
    return ConfigError(f"unknown config key '{key}'{hint}")


def _translate(exc: OmegaConfBaseException, source: str) -> ConfigError:
    key = getattr(exc, "full_key", None) or getattr(exc, "key", None) or "?"
    if isinstance(exc, ConfigKeyError):
        return _unknown_key(str(key))
    if isinstance(exc, ValidationError):
        detail = str(exc).splitlines()[0]
        value = getattr(exc, "value", None)
        if value is None:
            return ConfigError(f"{key}: no value given (from {source}): write {key}=VALUE")
        return ConfigError(f"{key}: {value!r} is not a valid {_expected_kind(detail)} (from {source})")
    return ConfigError(f"{key}: {str(exc).splitlines()[0]} (from {source})")


def _expected_kind(detail: str) -> str:
    """The type OmegaConf wanted, from its message: "... could not be converted to Integer" or
    "Value 'maybe' is not a valid bool (type str)"."""
    if " could not be converted to " in detail:
        return detail.rsplit(" to ", 1)[-1].strip().lower()
    if " is not a valid " in detail:
        kind = detail.split(" is not a valid ", 1)[1].split(" (", 1)[0].strip().lower()
        if kind == "bool":
            return "boolean (true or false)"
        return kind or "value"
    return "value of this key's type"


def _merge(base, layer, source: str):
    try:
        return OmegaConf.merge(base, layer)
    except OmegaConfBaseException as exc:
        raise _translate(exc, source) from None


def packaged_configs() -> dict[str, Path]:
    """The named configs shipped in the package (``default``: every key with its default and
    what it means; ``local``: the README's ~100 MB run)."""
    folder = resources.files("lakebench_ray") / "configs"
    return {Path(entry.name).stem: Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".yaml")}


def config_file(path: str | os.PathLike) -> Path:
    """A config file by path, or by the name of a packaged config (``--config local``)."""
    file = Path(path)
    if file.is_file():
        return file
    named = packaged_configs()
    stem = file.name[: -len(".yaml")] if file.name.endswith(".yaml") else file.name
    if file.parent == Path(".") and stem in named:
        return named[stem]
    raise ConfigError(
        f"config file '{path}' does not exist: pass an existing YAML file to --config, "
        f"or a packaged config by name ({', '.join(sorted(named))})"
    )


def _yaml_layer(text: str, what: str):
    """A YAML document as a layer: a mapping of keys to values, or a one-line error (with the
    line; a key given twice named; aliases and nesting bounded: see :mod:`.yaml_text`)."""
    data = load_mapping(text, what, dates=False)
    try:
        return OmegaConf.create(data)
    except OmegaConfBaseException as exc:  # e.g. a key of a type no config has
        raise ConfigError(f"{what}: {str(exc).splitlines()[0]}") from None


def _read_text(file: Path, what: str) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{what} cannot be read ({exc.strerror or exc})") from None


def config_from_yaml(text: str, source: str = "config text", overrides: Sequence[str] = ()) -> Config:
    """The configuration a YAML text (and ``overrides``) describes, exactly as if the text were
    the ``--config`` file: for text that travels without a file (the ConfigMap of a KubeRay run)."""
    if not isinstance(text, str):
        raise ConfigError(f"{source}: expected YAML text, got {type(text).__name__}")
    layer = _yaml_layer(text, source)
    return load_config(None, overrides, layers=[(source, layer)])


def _mergeable(node):
    """The defaults as a tree that layers can be merged into. The dataclasses are frozen (the
    ``Config`` a run gets never changes), and OmegaConf 2.3.0 and 2.3.1 carry that over as
    read-only nodes that refuse every ``output.*`` or ``s3.*`` layer; later releases do not.
    Clearing the flag on every node makes all supported releases behave alike."""
    OmegaConf.set_readonly(node, False)
    if OmegaConf.is_dict(node):  # a list (kuberay.tolerations) holds no section to descend into
        for key in node.keys():
            child = node.get(key)
            if OmegaConf.is_config(child):
                _mergeable(child)
    return node


def load_config(
    path: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    *,
    layers: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> Config:
    """Build the validated, frozen configuration of a run.

    ``layers`` are ``(source, nested mapping)`` pairs merged after the file and before the
    overrides: another tool's settings translated into these keys (a Lakebench config, the
    Lakebench job's arguments) are checked here like everything else, and errors name ``source``.
    (``lakebench_ray.load_config`` also takes a Lakebench config file: see
    :func:`lakebench_ray.lakebench.config_file.load_config`.)
    """
    merged = _mergeable(OmegaConf.structured(Config))
    if path is not None:
        file = config_file(path)
        what = f"config file '{path}'"
        merged = _merge(merged, _yaml_layer(_read_text(file, what), what), str(path))
    for source, mapping in layers:
        merged = _merge(merged, mapping if OmegaConf.is_config(mapping) else OmegaConf.create(dict(mapping)), source)
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"override '{item}' is not KEY=VALUE: write e.g. scale=10")
        merged = _merge(merged, OmegaConf.from_dotlist([item]), f"override '{item}'")
    try:
        config: Config = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise _translate(exc, "config") from None
    validate(config)
    return config


def _positive(name: str, value, minimum=0, inclusive=False):
    if value is None:
        return
    ok = value >= minimum if inclusive else value > minimum
    if not ok:
        bound = f"at least {minimum}" if inclusive else f"greater than {minimum}"
        raise ConfigError(f"{name}: must be {bound}, got {value}")


#: Above this a plan is certainly a typo (10 million files of 1 MiB is already 10 TiB), and
#: listing its ids would exhaust the driver's memory.
MAX_FILES = 10_000_000


def _finite(node: Any, prefix: str = "") -> None:
    """Every float must be finite: ``inf``/``nan`` pass OmegaConf's type check but break sizing
    arithmetic (overflow, or comparisons that are always false)."""
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            _finite(value, name + ".")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name}: must be a finite number, got {value}")


def _check_prefix(prefix: str) -> None:
    """The prefix is a path below ``output.uri``: never above it, never absolute elsewhere."""
    parts = [p for p in prefix.replace("\\", "/").split("/") if p]
    if any(p in ("..", ".") for p in parts):
        raise ConfigError(
            f"output.prefix: '{prefix}' has a '.' or '..' part and would write outside output.uri: "
            "give a plain relative path such as customer/interactions"
        )
    if any(ord(c) < 32 for c in prefix):
        raise ConfigError(f"output.prefix: {prefix!r} contains control characters")


def validate(config: Config) -> None:
    """Range checks that types alone do not catch; each failure names the key."""
    _finite(config)
    _positive("scale", config.scale)
    _positive("file_size_mb", config.file_size_mb, 1, inclusive=True)
    _positive("num_files", config.num_files, 1, inclusive=True)
    if isinstance(config.rows_per_file, str) and config.rows_per_file != ROWS_LAKEBENCH:
        raise ConfigError(
            f"rows_per_file: expected a whole number, {ROWS_LAKEBENCH} (Lakebench's formula) or null "
            f"(calibrated to file_size_mb), got {config.rows_per_file!r}"
        )
    if isinstance(config.rows_per_file, int):
        _positive("rows_per_file", config.rows_per_file, 1, inclusive=True)
    if config.resume_mismatch not in RESUME_MISMATCH:
        raise ConfigError(
            f"resume_mismatch: expected one of {', '.join(RESUME_MISMATCH)}, got {config.resume_mismatch!r}"
        )
    _positive("row_group_mb", config.row_group_mb)
    _positive("duration_s", config.duration_s)
    _positive("outage_budget_s", config.outage_budget_s, 0, inclusive=True)
    _positive("ray.num_actors", config.ray.num_actors, 1, inclusive=True)
    _positive("ray.max_actors", config.ray.max_actors, 1, inclusive=True)
    _positive("ray.cpus_per_actor", config.ray.cpus_per_actor)
    _positive("ray.max_file_attempts", config.ray.max_file_attempts, 1, inclusive=True)
    _positive("partition.count", config.partition.count, 1, inclusive=True)
    _positive("checkpoint.every_files", config.checkpoint.every_files, 1, inclusive=True)
    _positive("checkpoint.every_seconds", config.checkpoint.every_seconds)
    _positive("checkpoint.lease_ttl_s", config.checkpoint.lease_ttl_s)
    index = config.partition_index()
    if not 0 <= index < config.partition.count:
        raise ConfigError(
            f"partition.index: must be between 0 and partition.count-1 ({config.partition.count - 1}), got {index}"
        )
    layout.check_output_uri(config.output.uri)
    if config.output.existing not in EXISTING_POLICIES:
        raise ConfigError(f"output.existing: {config.output.existing!r} is not one of {', '.join(EXISTING_POLICIES)}")
    if config.timestamp_live and config.duration_s is None:
        raise ConfigError("timestamp_live: only sustained runs make live files: set duration_s too")
    _check_prefix(config.output.prefix)
    # Generation parameters are checked by the core itself, S3 settings by S3Options (one place
    # for their rules, S3's limits included); the environment is not read here, the store does.
    config.gen_params(rows_per_file=config.fixed_rows_per_file or 1, row_group_rows=1)
    S3Options(**config.s3_options())
    config.kuberay.check()
    files = config.planned_files
    if files > MAX_FILES:
        raise ConfigError(
            f"the plan has {files:,} files, more than {MAX_FILES:,}: lower scale or num_files, or raise file_size_mb"
        )
