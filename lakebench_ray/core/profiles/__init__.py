"""Profiles: how the columns the spec leaves open are distributed.

``lakebench`` (the default) is Lakebench's own generator, value for value, so results compare row
for row; ``realistic`` is this project's customer-consistent, weighted alternative. Each profile
module exposes the same vocabularies, ranges and patterns, which ``verify`` reads, and builds its
columns one of two ways: ``build_columns`` of a row group (the shared columns come from
:mod:`..columns`), or, for a profile that draws a whole file from one stream,
``file_row_groups`` and ``build_row_group`` of its own.
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
