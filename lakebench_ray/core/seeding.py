"""Seeded random streams: one per (file, row group, named stream), plus per-customer hashing.

Streams are keyed by the CRC-32 of their name, not by a position, so adding a column or a stream
never changes the values of another. ``SeedSequence`` spawn keys make the streams independent.
"""

from __future__ import annotations

import functools
import zlib

import numpy as np

_FILE_DOMAIN = 0
_LOYALTY_DOMAIN = 1
_CUSTOMER_DOMAIN = 2


def stream_key(name: str) -> int:
    return zlib.crc32(name.encode())


def file_rng(seed: int, file_id: int, row_group: int, stream: str) -> np.random.Generator:
    seq = np.random.SeedSequence(seed, spawn_key=(_FILE_DOMAIN, file_id, row_group, stream_key(stream)))
    return np.random.Generator(np.random.PCG64(seq))


def loyalty_rng(seed: int, chunk: int) -> np.random.Generator:
    seq = np.random.SeedSequence(seed, spawn_key=(_LOYALTY_DOMAIN, chunk))
    return np.random.Generator(np.random.PCG64(seq))


@functools.lru_cache(maxsize=64)
def customer_salt(seed: int, attribute: str) -> np.uint64:
    seq = np.random.SeedSequence(seed, spawn_key=(_CUSTOMER_DOMAIN, stream_key(attribute)))
    return seq.generate_state(1, np.uint64)[0]


def splitmix64(x: np.ndarray) -> np.ndarray:
    """A strong 64-bit mix (SplitMix64 finaliser), vectorised; wraps modulo 2**64."""
    z = x.astype(np.uint64, copy=True)
    z += np.uint64(0x9E3779B97F4A7C15)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def customer_hash(seed: int, attribute: str, customer_ids: np.ndarray) -> np.ndarray:
    """A per-customer 64-bit value that is the same in every file: a customer's address, phone
    and email domain do not change between their events."""
    return splitmix64(customer_ids.astype(np.uint64) ^ customer_salt(seed, attribute))

