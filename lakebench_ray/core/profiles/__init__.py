"""Profiles: how the columns the spec leaves open are distributed.

``lakebench`` (the default) is the workload of Lakebench's own generator, so benchmark results
stay comparable; ``realistic`` is this project's customer-consistent, weighted alternative. Each
profile module exposes the same names (vocabularies, ranges, patterns and ``build_columns``),
which the generator and ``verify`` both read.
"""

from __future__ import annotations

from types import ModuleType

from ...errors import ConfigError
from ..params import PROFILE_NAMES
from . import lakebench, realistic

PROFILES: dict[str, ModuleType] = {lakebench.NAME: lakebench, realistic.NAME: realistic}
assert tuple(PROFILES) == PROFILE_NAMES
DEFAULT = PROFILE_NAMES[0]


def get(name: str) -> ModuleType:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"profile: '{name}' is not a profile: use one of {', '.join(PROFILES)}") from None
