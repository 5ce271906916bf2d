"""Fast Arrow string columns from fixed-width byte matrices (hex, UUIDs): one buffer, no rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex_lut(bits: int) -> np.ndarray:
    """For every ``bits``-wide little-endian value, its bytes' hex digits (high nibble first)."""
    idx = np.arange(1 << bits, dtype=np.uint32)
    digits = []
    for byte in range(bits // 8):
        b = (idx >> (8 * byte)) & 0xFF
        digits += [_HEX[b >> 4], _HEX[b & 15]]
    return np.stack(digits, axis=1).astype(np.uint8).view(f"<u{bits // 4}").reshape(-1)


_LUT8 = _hex_lut(8)  # byte -> 2 digits
_LUT16 = _hex_lut(16)  # 2 bytes -> 4 digits: half the gathers; 256 KiB stays in cache


def hex_matrix(raw: np.ndarray) -> np.ndarray:
    """(n, k) uint8 bytes -> (n, 2k) uint8 ASCII hex digits."""
    n, k = raw.shape
    if k % 2 == 0 and raw.flags.c_contiguous:
        return _LUT16[raw.reshape(-1).view("<u2")].view(np.uint8).reshape(n, 2 * k)
    return _LUT8[raw].view(np.uint8).reshape(n, 2 * k)


def random_bytes(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """(n, k) random uint8; the raw 64-bit outputs of the bit generator are the fastest source."""
    words = rng.bit_generator.random_raw(-(-n * k // 8)) if n * k else np.empty(0, np.uint64)
    return words.view(np.uint8)[: n * k].reshape(n, k)


def fixed_width_strings(chars: np.ndarray) -> pa.StringArray:
    """Wrap an (n, w) uint8 matrix of ASCII as an Arrow string array without copying rows."""
    n, width = chars.shape
    if n * width >= 2**31:
        raise ValueError("fixed-width string column over 2 GiB: use smaller row groups")
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32) if width else np.zeros(n + 1, np.int32)
    data = np.ascontiguousarray(chars).reshape(-1)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


#: Random bytes drawn per step when building a long hex column: the temporary memory is this
#: instead of half the output again, and chunks this small stay in cache (measured faster too).
_HEX_CHUNK_BYTES = 256 << 10


def random_hex(rng: np.random.Generator, n: int, nbytes: int, out: np.ndarray | None = None) -> pa.StringArray:
    """n random strings of 2 * nbytes lower-case hex digits (the same digits whatever the
    chunking: the bit generator's raw stream is consumed in order).

    ``out``, a uint8 buffer of at least 2 * n * nbytes, receives the digits instead of a fresh
    allocation: a writer that reuses one buffer for every row group of a file spares the kernel
    zeroing new pages for each (a tenth of a file's time), but must be done with the array
    before the next row group overwrites it."""
    total = n * nbytes
    if total <= _HEX_CHUNK_BYTES or nbytes % 2:
        return fixed_width_strings(hex_matrix(random_bytes(rng, n, nbytes)))
    out = np.empty(2 * total, dtype=np.uint8) if out is None else out[: 2 * total]
    out32 = out.view("<u4")  # 4 hex digits per 2 random bytes
    words_per_chunk = _HEX_CHUNK_BYTES // 8
    done = 0  # random bytes converted so far (a multiple of 8 until the last chunk)
    while done < total:
        take = min(_HEX_CHUNK_BYTES, total - done)
        words = rng.bit_generator.random_raw(min(words_per_chunk, -(-take // 8)))
        raw16 = words.view("<u2")[: take // 2]
        np.take(_LUT16, raw16, out=out32[done // 2 : (done + take) // 2])
        done += take
    return fixed_width_strings(out.reshape(n, 2 * nbytes))


def hex_of_uint32(take, n: int, nbytes: int, out: np.ndarray | None = None) -> pa.StringArray:
    """n strings of 2 * nbytes hex digits (nbytes a multiple of 4) of the bytes of consecutive
    32-bit values, little-endian: ``take(k)`` returns the next k of them. Drawn and converted a
    cache-sized chunk at a time; ``out`` as in :func:`random_hex`."""
    total = n * nbytes // 4
    out = np.empty(2 * n * nbytes, dtype=np.uint8) if out is None else out[: 2 * n * nbytes]
    out32 = out.view("<u4")  # 4 hex digits per 2 random bytes: 2 per 32-bit value
    chunk = _HEX_CHUNK_BYTES // 4
    done = 0
    while done < total:
        k = min(chunk, total - done)
        np.take(_LUT16, take(k).view("<u2"), out=out32[2 * done : 2 * (done + k)])
        done += k
    return fixed_width_strings(out.reshape(n, 2 * nbytes))


def uuid4_strings(rng: np.random.Generator, n: int) -> pa.StringArray:
    """n random RFC 4122 version-4 UUIDs in canonical 8-4-4-4-12 form."""
    return uuid4_from_bytes(random_bytes(rng, n, 16).copy())


def uuid4_from_bytes(raw: np.ndarray) -> pa.StringArray:
    """Version-4 UUIDs made of an (n, 16) uint8 matrix (modified in place), as
    ``uuid.UUID(bytes=..., version=4)`` makes them: version and variant bits set over the bytes."""
    n = len(raw)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = hex_matrix(raw)
    out = np.empty((n, 36), dtype=np.uint8)
    out[:, [8, 13, 18, 23]] = ord("-")
    out[:, 0:8] = hexed[:, 0:8]
    out[:, 9:13] = hexed[:, 8:12]
    out[:, 14:18] = hexed[:, 12:16]
    out[:, 19:23] = hexed[:, 16:20]
    out[:, 24:36] = hexed[:, 20:32]
    return fixed_width_strings(out)


def prefixed_digits(prefix: str, numbers: np.ndarray, width: int, null_mask: np.ndarray | None = None) -> pa.StringArray:
    """``prefix`` + each number zero-padded to ``width`` digits (numbers must fit), as one buffer;
    rows where ``null_mask`` is true are null."""
    n = len(numbers)
    head = len(prefix)
    chars = np.empty((n, head + width), dtype=np.uint8)
    chars[:, :head] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    rest = np.asarray(numbers, dtype=np.int64).copy()
    for pos in range(head + width - 1, head - 1, -1):
        chars[:, pos] = 48 + rest % 10
        rest //= 10
    array = fixed_width_strings(chars)
    if null_mask is None:
        return array
    validity = pa.array(~np.asarray(null_mask, dtype=bool)).buffers()[1]
    return pa.StringArray.from_buffers(n, array.buffers()[1], array.buffers()[2], validity)


def digit_matrix(numbers: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII digits of each number, zero-padded (numbers must fit)."""
    rest = np.asarray(numbers, dtype=np.int64).copy()
    out = np.empty((len(rest), width), dtype=np.uint8)
    for pos in range(width - 1, -1, -1):
        out[:, pos] = 48 + rest % 10
        rest //= 10
    return out


def templated_strings(sources: np.ndarray, layouts: np.ndarray, lengths: np.ndarray, choice: np.ndarray) -> pa.StringArray:
    """Strings assembled from per-row source characters by one of several templates.

    ``sources`` is (n, k) ASCII; ``layouts`` (templates, width) holds, per output position, the
    source column to copy; row i uses template ``choice[i]`` and its first ``lengths[choice[i]]``
    characters. One gather and one boolean compaction, no per-row work.
    """
    n = len(choice)
    chars = np.take_along_axis(sources, layouts[choice], axis=1)
    row_len = lengths[choice]
    keep = np.arange(layouts.shape[1]) < row_len[:, None]
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(row_len, out=offsets[1:])
    data = chars[keep]
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
