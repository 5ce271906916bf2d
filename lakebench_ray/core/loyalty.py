"""The run's loyalty lookup table: one byte per customer id (0 = not a member, 1..3 = tier).

Each profile draws it its own way: ``lakebench`` exactly as Lakebench's generator does (so a
customer is a member, and of the same tier, in both), ``realistic`` from seeded chunks of its own.
Either way the table is built a chunk at a time: its temporary memory is a few chunks, not
arrays as long as the table.
"""

from __future__ import annotations

import numpy as np

from . import vocab as V
from .numpy_draws import doubles
from .seeding import loyalty_rng

#: Customers per chunk: bounds the temporary memory of building the table.
CHUNK = 1 << 22
_RESOLUTION = 1000
#: Lakebench's tier cut points, as it writes them (0.7 + 0.2 is not 0.9 in floating point).
LAKEBENCH_TIER_CUTS = (0.7, 0.9)


def _thresholds() -> np.ndarray:
    """Draws below threshold[k] (out of 1000) get code k+1; 60% members, tiers 70/20/10."""
    non_member = round((1 - V.LOYALTY_MEMBER_SHARE) * _RESOLUTION)
    shares = np.array(V.weights(V.LOYALTY_TIERS)) * V.LOYALTY_MEMBER_SHARE * _RESOLUTION
    return non_member + np.rint(np.cumsum(shares)).astype(np.int64)


def _lakebench_table(seed: int, size: int, table: np.ndarray) -> None:
    """Lakebench draws ``random(size)`` for membership (< 0.6) and then ``random(size)`` for the
    tier (< 0.7 bronze, < 0.9 silver, else gold) from ``default_rng(seed)``: customer ``c`` takes
    the generator's ``c``-th and ``(size + c)``-th outputs. Two cursors walk both halves at once."""
    members = np.random.PCG64(seed)
    tiers = np.random.PCG64(seed)
    tiers.advance(size)
    cut_bronze, cut_silver = LAKEBENCH_TIER_CUTS
    for start in range(0, size, CHUNK):
        stop = min(size, start + CHUNK)
        member = doubles(members.random_raw(stop - start)) < V.LOYALTY_MEMBER_SHARE
        roll = doubles(tiers.random_raw(stop - start))
        code = np.where(roll < cut_bronze, 1, np.where(roll < cut_silver, 2, 3)).astype(np.uint8)
        table[start:stop] = np.where(member, code, 0)


def build_loyalty_table(seed: int, customer_id_max: int, profile: str) -> np.ndarray:
    """``table[customer_id]`` is that customer's tier code; 100M customers take 100 MB."""
    size = customer_id_max + 1
    table = np.empty(size, dtype=np.uint8)
    if profile == "lakebench":
        _lakebench_table(seed, size, table)
    else:
        edges = np.concatenate([[round((1 - V.LOYALTY_MEMBER_SHARE) * _RESOLUTION)], _thresholds()])
        for chunk, start in enumerate(range(0, size, CHUNK)):
            stop = min(size, start + CHUNK)
            draw = loyalty_rng(seed, chunk).integers(0, _RESOLUTION, stop - start, dtype=np.uint16)
            table[start:stop] = np.searchsorted(edges, draw, side="right")
    table.flags.writeable = False
    return table
