"""The run's loyalty lookup table: one byte per customer id (0 = not a member, 1..3 = tier)."""

from __future__ import annotations

import numpy as np

from . import vocab as V
from .seeding import loyalty_rng

#: Customers per independently seeded chunk: bounds the temporary memory of building the table.
CHUNK = 1 << 22
_RESOLUTION = 1000


def _thresholds() -> np.ndarray:
    """Draws below threshold[k] (out of 1000) get code k+1; 60% members, tiers 70/20/10."""
    non_member = round((1 - V.LOYALTY_MEMBER_SHARE) * _RESOLUTION)
    shares = np.array(V.weights(V.LOYALTY_TIERS)) * V.LOYALTY_MEMBER_SHARE * _RESOLUTION
    return non_member + np.rint(np.cumsum(shares)).astype(np.int64)


def build_loyalty_table(seed: int, customer_id_max: int) -> np.ndarray:
    """``table[customer_id]`` is that customer's tier code; 100M customers take 100 MB."""
    size = customer_id_max + 1
    table = np.empty(size, dtype=np.uint8)
    edges = np.concatenate([[round((1 - V.LOYALTY_MEMBER_SHARE) * _RESOLUTION)], _thresholds()])
    for chunk, start in enumerate(range(0, size, CHUNK)):
        stop = min(size, start + CHUNK)
        draw = loyalty_rng(seed, chunk).integers(0, _RESOLUTION, stop - start, dtype=np.uint16)
        table[start:stop] = np.searchsorted(edges, draw, side="right")
    table.flags.writeable = False
    return table

