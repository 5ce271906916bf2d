"""Small vectorised building blocks shared by the column builders of every profile.

Weighted draws go through a 65,536-entry bucket table indexed by 16-bit draws (one table lookup
per row); categorical columns are Arrow dictionary arrays over a vocabulary (no string copied);
variable-width strings are joined with Arrow compute kernels.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_RESOLUTION = 1 << 16


@functools.lru_cache(maxsize=None)
def choice_table(weights: tuple) -> np.ndarray:
    """A 65,536-entry table: the bucket of every 16-bit draw (each weight within 2**-16)."""
    edges = np.rint(np.cumsum(weights) / sum(weights) * _RESOLUTION).astype(np.int64)
    return np.repeat(np.arange(len(weights), dtype=np.int32), np.diff(edges, prepend=0))


def draws16(rng: np.random.Generator, n: int) -> np.ndarray:
    """n uniform 16-bit draws, four per raw 64-bit output."""
    return rng.bit_generator.random_raw(-(-n // 4)).view(np.uint16)[:n]


def weighted_choice(rng: np.random.Generator, weights: tuple, n: int) -> np.ndarray:
    """n indices drawn with the given weights."""
    return choice_table(tuple(weights))[draws16(rng, n)]


def uniform_int(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    """n integers uniform in [low, high) (numpy's unbiased bounded draw), as int64."""
    return rng.integers(low, high, n, dtype=np.int64)


def bernoulli(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    """n independent draws that are True with probability p."""
    return rng.random(n) < p


def strings(values) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def take(vocab: pa.Array, idx: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    return vocab.take(pa.array(idx, type=pa.int32(), mask=null_mask))


def categorical(vocab: pa.Array, idx: np.ndarray, null_mask: np.ndarray | None = None) -> pa.DictionaryArray:
    """A categorical column: indices into the vocabulary (whose values must be unique), no string
    copied."""
    return pa.DictionaryArray.from_arrays(pa.array(idx, type=pa.int32(), mask=null_mask), vocab)


def unique(values) -> tuple[pa.Array, np.ndarray]:
    """A dictionary of the distinct values, and the position of each input value in it.

    Parquet dictionary pages need distinct values: with repeats the writer falls back to plain
    encoding, and not deterministically."""
    values = list(values)
    distinct = list(dict.fromkeys(values))
    where = {v: i for i, v in enumerate(distinct)}
    return strings(distinct), np.array([where[v] for v in values], dtype=np.int32)


def digits(values: np.ndarray) -> pa.Array:
    """Decimal strings of integers, as many digits as each needs."""
    return pc.cast(pa.array(values), pa.string())


def where(mask: np.ndarray, if_true, if_false) -> pa.Array:
    return pc.if_else(pa.array(mask, type=pa.bool_()), if_true, if_false)


def concat(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def nullable(values: np.ndarray, dtype, null_mask: np.ndarray) -> pa.Array:
    """A numeric column that is null where ``null_mask`` is true (null, never NaN)."""
    return pa.array(values, type=dtype, mask=null_mask)
