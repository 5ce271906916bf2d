"""Vectorised tests over Arrow columns, for the conformance checks: a row's verdict without a
Python loop per row (regexes through ``pyarrow.compute``, vocabularies through lookup tables), so
verifying a file costs about as much as reading it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

UUID4 = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = rf"^{_OCTET}(\.{_OCTET}){{3}}$"
_HEX_CHUNK = 1 << 20


class HexCheck:
    """Whether a byte buffer is all lowercase hex, at memory speed: 1 MiB chunks (cache
    resident) through preallocated scratch, two range tests per byte (digits, a-f)."""

    def __init__(self) -> None:
        self._diff = np.empty(_HEX_CHUNK, dtype=np.uint8)
        self._digit = np.empty(_HEX_CHUNK, dtype=bool)
        self._letter = np.empty(_HEX_CHUNK, dtype=bool)

    def __call__(self, chars: np.ndarray) -> bool:
        for start in range(0, len(chars), _HEX_CHUNK):
            x = chars[start : start + _HEX_CHUNK]
            n = len(x)
            diff, digit, letter = self._diff[:n], self._digit[:n], self._letter[:n]
            np.subtract(x, np.uint8(48), out=diff)  # wraps: only '0'..'9' land below 10
            np.less(diff, np.uint8(10), out=digit)
            np.subtract(x, np.uint8(97), out=diff)  # only 'a'..'f' land below 6
            np.less(diff, np.uint8(6), out=letter)
            digit |= letter
            if not digit.all():
                return False
        return True


def codes(arr: pa.Array, index: dict) -> np.ndarray:
    """Vocabulary codes of a string column: >= 0 a known value, -1 null, -2 an unknown value."""
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    values = arr.dictionary.to_pylist()
    lut = np.array([index.get(v, -2) for v in values] + [-1], dtype=np.int16)
    idx = pc.fill_null(arr.indices, len(values)).to_numpy(zero_copy_only=False)
    return lut[idx]


def nulls(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    return arr.is_null().to_numpy(zero_copy_only=False)


def values(arr: pa.Array, fill) -> np.ndarray:
    if arr.null_count:
        arr = pc.fill_null(arr, fill)
    return arr.to_numpy(zero_copy_only=False)


def match(arr: pa.Array, pattern: str) -> np.ndarray:
    """Regex match per row; null rows do not match."""
    return values(pc.match_substring_regex(arr, pattern), False)


def contains(arr: pa.Array, needle: str, ignore_case: bool = False) -> np.ndarray:
    return values(pc.match_substring(arr, needle, ignore_case=ignore_case), False)


def index_of(values) -> dict:
    return {v: i for i, v in enumerate(values)}
