"""What a profile's column builder receives: one row group's coordinates, the columns every
profile shares (customers, interaction types, amounts, loyalty) and which columns are asked for."""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import numpy as np

from . import vocab as V
from .params import GenParams
from .seeding import file_rng

ITYPE = {name: i for i, name in enumerate(V.values(V.INTERACTION_TYPES))}


@dataclasses.dataclass(frozen=True)
class RowGroup:
    params: GenParams
    file_id: int
    row_group: int
    n: int
    customer: np.ndarray  # int64 customer ids
    itype: np.ndarray  # codes into vocab.INTERACTION_TYPES
    amount: np.ndarray  # transaction_amount (0.0 except purchases)
    tier: np.ndarray  # loyalty code per row: 0 not a member, 1..3 bronze/silver/gold
    #: The columns asked for (None: all). A builder may skip the others, as long as the columns
    #: it does build keep the values they have in the full table.
    columns: Optional[frozenset] = None

    def wants(self, *names: str) -> bool:
        """Whether any of these columns is asked for."""
        return self.columns is None or any(name in self.columns for name in names)

    def rng(self, stream: str) -> np.random.Generator:
        """The row group's own random stream of that name (see :mod:`.seeding`)."""
        return file_rng(self.params.seed, self.file_id, self.row_group, stream)

    @functools.cached_property
    def is_purchase(self) -> np.ndarray:
        return self.itype == ITYPE["purchase"]

    @functools.cached_property
    def is_support(self) -> np.ndarray:
        return self.itype == ITYPE["support"]

    @functools.cached_property
    def non_commerce(self) -> np.ndarray:
        """Login and support: no product, cart or clicks (spec feature 3)."""
        return self.is_support | (self.itype == ITYPE["login"])

    @functools.cached_property
    def viewing(self) -> np.ndarray:
        """Browse and purchase: the events with page views."""
        return self.is_purchase | (self.itype == ITYPE["browse"])

    @functools.cached_property
    def member(self) -> np.ndarray:
        return self.tier > 0
