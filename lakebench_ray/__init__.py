"""lakebench-ray: the Lakebench Customer360 bronze dataset, generated on Ray.

``load_config``, ``generate`` and ``dataset`` are the Python API. They are imported lazily so that the pure
core (``lakebench_ray.core``, ``lakebench_ray.format``) works without Ray, boto3 or OmegaConf.
"""

from .errors import (
    CheckpointMismatchError,
    ClusterError,
    ConfigError,
    GenerationFailed,
    Interrupted,
    LakebenchError,
    SinkError,
    StorageOutage,
    StorageUnavailable,
)
from .version import __version__

__all__ = [
    "CheckpointMismatchError",
    "ClusterError",
    "ConfigError",
    "GenerationFailed",
    "Interrupted",
    "LakebenchError",
    "Report",
    "SinkError",
    "StorageOutage",
    "StorageUnavailable",
    "__version__",
    "dataset",
    "generate",
    "load_config",
]


def __getattr__(name: str):
    if name == "load_config":  # the config's, plus a Lakebench config file (lakebench_config=)
        from .lakebench.config_file import load_config

        return load_config
    if name == "dataset":
        from .runtime.dataset import dataset

        return dataset
    if name in ("generate", "Report"):
        from .runtime import driver

        return getattr(driver, name)
    raise AttributeError(f"module 'lakebench_ray' has no attribute {name!r}")
