"""numpy's ``Generator`` draws, many at once: the scalar draws a per-row Python loop makes, in bulk.

A Lakebench file is drawn from ONE ``np.random.default_rng(seed + file_id)``, column after column,
and several columns come from per-row loops that interleave scalar ``integers``, ``choice`` and
``random`` calls. Calling numpy once per value is what makes such a loop slow, so this module
computes the same values from the generator's raw 64-bit outputs, vectorised, and leaves the
generator in exactly the state the loop would have left it in. Draws numpy already makes in bulk
(``normal``, ``zipf``, ``choice`` with weights or without replacement, ``integers``/``uniform``
with a size) are made by numpy itself, on the same generator.

The facts of numpy's ``Generator`` (PCG64) reproduced here:

- ``random()`` takes one 64-bit output ``w``: ``(w >> 11) * 2**-53``.
- A bounded integer with fewer than 2**32 values (``integers(lo, hi)``, ``choice(k)``) takes one
  32-bit value ``u`` and returns ``(u * k) >> 32`` (Lemire), drawing again while
  ``(u * k) mod 2**32 < (2**32 - k) mod k``.
- 32-bit values come from 64-bit outputs low half first; the high half is kept in the generator
  (``has_uint32``/``uinteger`` of its state) for the next 32-bit draw, while 64-bit draws
  (``random()``, ``normal`` ...) pass it by. ``bytes(n)`` is ``ceil(n / 4)`` full 32-bit values,
  little-endian, cut to ``n`` bytes.
"""

from __future__ import annotations

import numpy as np

_TWO32 = np.uint64(1 << 32)
_LOW = np.uint64(0xFFFFFFFF)
_DOUBLE = 1.0 / 9007199254740992.0  # 2**-53
#: Draws of a fixed sequence solved at once: a rejected draw recomputes the rest of its window.
_WINDOW = 1 << 16
#: A 32-bit draw of the full range: no rejection, the value itself.
FULL = 1 << 32


def doubles(words: np.ndarray) -> np.ndarray:
    """``random()`` of each 64-bit output."""
    return (words >> np.uint64(11)).astype(np.float64) * _DOUBLE


def _lemire(u32: np.ndarray, span: np.ndarray):
    """(value in [0, span), rejected?) for each 32-bit draw (span up to 2**32)."""
    m = u32.astype(np.uint64) * span
    leftover = m & _LOW
    rejected = leftover < (_TWO32 - span) % span
    return (m >> np.uint64(32)).astype(np.int64), rejected


class Draws:
    """A numpy ``Generator`` seeded like ``np.random.default_rng(seed)``, with bulk versions of the
    scalar draws a per-row loop makes on it. ``gen`` is always in the state the loop would leave:
    numpy's own bulk draws can be made on it directly, in between."""

    def __init__(self, seed: int):
        self.gen = np.random.default_rng(seed)
        self.bits = self.gen.bit_generator

    # -- the 32-bit buffer -----------------------------------------------------------------------

    def _buffer(self) -> tuple[int, int]:
        state = self.bits.state
        return state["has_uint32"], state["uinteger"]

    def _set_buffer(self, has: int, value: int) -> None:
        state = self.bits.state
        state["has_uint32"], state["uinteger"] = int(has), int(value)
        self.bits.state = state

    def _words(self, n: int) -> tuple[np.ndarray, int, int]:
        """The next n 64-bit outputs and the 32-bit buffer, without consuming anything."""
        has, value = self._buffer()
        words = self.bits.random_raw(n)
        self.bits.advance(-n)  # the period is 2**128: moving back is moving forward
        self._set_buffer(has, value)
        return words, has, value

    def _consume(self, n_words: int, has: int, value: int) -> None:
        if n_words:
            self.bits.advance(n_words)
        self._set_buffer(has, value)

    # -- full-range 32-bit values (bytes) ----------------------------------------------------------

    def uint32(self, n: int) -> np.ndarray:
        """The next n full-range 32-bit values (what ``bytes(4 * n)`` is made of)."""
        out = np.empty(n, dtype=np.uint32)
        if n == 0:
            return out
        has, value = self._buffer()
        start = 0
        if has:
            out[0] = value
            start = 1
        rest = n - start
        words = self.bits.random_raw((rest + 1) // 2)
        out[start:] = words.view(np.uint32)[:rest]
        if rest % 2:
            self._set_buffer(1, int(words[-1] >> np.uint64(32)))
        else:
            self._set_buffer(0, 0)
        return out

    def uint32_run(self) -> "Run32":
        """A reader of consecutive full-range 32-bit values that keeps the buffer itself (no
        state round trip per call); call ``close()`` before any other draw."""
        return Run32(self)

    def bytes_rows(self, rows: int, nbytes: int) -> np.ndarray:
        """``bytes(nbytes)`` called ``rows`` times: a (rows, nbytes) uint8 matrix."""
        per_row = -(-nbytes // 4)
        raw = self.uint32(rows * per_row).view(np.uint8).reshape(rows, 4 * per_row)
        return raw if nbytes == 4 * per_row else raw[:, :nbytes]

    def skip_uint32(self, n: int) -> None:
        """Consume n full-range 32-bit values without making them."""
        if n == 0:
            return
        has, value = self._buffer()
        if has:
            n -= 1
        words = (n + 1) // 2
        if n % 2:
            self.bits.advance(words - 1)
            self._set_buffer(1, int(self.bits.random_raw() >> 32))
        else:
            self._consume(words, 0, 0)

    # -- a fixed sequence of draws ---------------------------------------------------------------

    def program(self, is_double: np.ndarray, span: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Make a fixed sequence of draws, as a loop would one at a time: op ``k`` is ``random()``
        where ``is_double[k]``, else a bounded integer in ``[0, span[k])``. Returns (integers,
        doubles), each as long as the sequence (the other kind's entries are meaningless)."""
        is_double = np.asarray(is_double, dtype=bool)
        span = np.asarray(span, dtype=np.uint64)
        n = len(is_double)
        ints = np.zeros(n, dtype=np.int64)
        dbls = np.zeros(n, dtype=np.float64)
        for start in range(0, n, _WINDOW):
            stop = min(n, start + _WINDOW)
            self._window(is_double[start:stop], span[start:stop], ints[start:stop], dbls[start:stop])
        return ints, dbls

    def _window(self, is_double, span, ints, dbls) -> None:
        n = len(is_double)
        n_u32 = n - int(np.count_nonzero(is_double))
        margin = 64
        while True:
            words, has, value = self._words(n - n_u32 + n_u32 // 2 + 2 + margin)
            if n_u32 == n:
                done = self._run_u32(span, words, has, value, ints)
            else:
                done = self._run(is_double, span, words, has, value, ints, dbls)
            if done is not None:
                self._consume(*done)
                return
            margin *= 8  # more rejections than words in hand (never seen): look further ahead

    @staticmethod
    def _run_u32(span, words, has, value, ints):
        """:meth:`_run` for a sequence of bounded integers alone: one contiguous 32-bit stream."""
        n = len(span)
        stream = words.view(np.uint32)
        if has:
            stream = np.concatenate((np.array([value], dtype=np.uint32), stream))
        pos = 0  # 32-bit values consumed
        start = 0  # first op not yet final
        while start < n:
            u = stream[pos : pos + n - start]
            if len(u) < n - start:
                return None
            vals, rejected = _lemire(u, span[start:])
            bad = np.flatnonzero(rejected)
            stop = len(u) if len(bad) == 0 else int(bad[0])
            ints[start : start + stop] = vals[:stop]
            if len(bad) == 0:
                pos += len(u)
                break
            pos += stop + 1  # the rejected value is consumed; the op draws again
            start += stop
        from_words = pos - has if pos >= has else 0
        if has and pos == 0:
            return 0, has, value
        used = (from_words + 1) // 2
        if from_words % 2:
            return used, 1, int(words[used - 1] >> np.uint64(32))
        return used, 0, 0

    @staticmethod
    def _run(is_double, span, words, has, value, ints, dbls):
        """Fill ``ints``/``dbls`` from ``words``; (words used, has, value) at the end, or None when
        ``words`` run out. Assumes no rejection, then starts over after each one it finds (they
        are rare: below 1 in 4,000 draws for every range drawn here)."""
        n = len(is_double)
        start = 0  # first op not yet final
        used = 0  # words consumed before op ``start``
        lo = words.view(np.uint32)[0::2].astype(np.uint64)
        hi = words.view(np.uint32)[1::2].astype(np.uint64)
        while start < n:
            dbl = is_double[start:]
            is_u = ~dbl
            u_pos = np.flatnonzero(is_u)
            t = np.arange(len(u_pos), dtype=np.int64) - has  # -1: the buffered value
            pair_start = np.zeros(len(dbl), dtype=bool)
            pair_start[u_pos] = (t >= 0) & (t % 2 == 0)
            fetch = dbl | pair_start
            word_of = np.cumsum(fetch) - 1 + used  # word index of every fetching op
            if fetch.any() and word_of[-1] >= len(words):
                return None
            d_pos = np.flatnonzero(dbl)
            dbls[start + d_pos] = doubles(words[word_of[d_pos]])
            if len(u_pos):
                u_word = word_of[u_pos]
                odd = t % 2 == 1
                # A high half belongs to the word its pair's first draw fetched.
                u_word[odd] = u_word[np.flatnonzero(odd) - 1]
                u_word[t < 0] = 0
                u32 = np.where(odd, hi[u_word], lo[u_word])
                if has:
                    u32[0] = value
                vals, rejected = _lemire(u32, span[start + u_pos])
                bad = np.flatnonzero(rejected)
                stop = len(u_pos) if len(bad) == 0 else bad[0]
                ints[start + u_pos[:stop]] = vals[:stop]
            else:
                bad = ()
            if len(bad) == 0:
                total = int(fetch.sum())
                if len(u_pos) == 0:
                    return used + total, has, value
                last_t = t[-1]
                if last_t >= 0 and last_t % 2 == 0:  # the last draw left its high half buffered
                    return used + total, 1, int(hi[u_word[-1]])
                return used + total, 0, 0
            # Op u_pos[k] drew a rejected value: it draws again from the next 32-bit value.
            k = bad[0]
            op = u_pos[k]
            used += int(fetch[: op + 1].sum())
            if t[k] >= 0 and t[k] % 2 == 0:
                has, value = 1, int(hi[u_word[k]])
            else:
                has, value = 0, 0
            # Everything before op ``op`` is final; op ``op`` starts over.
            start += op
            # The doubles before it were written; the ones after are recomputed.
        return used, has, value

    # -- a draw that decides further draws ---------------------------------------------------------

    def conditional(self, rows: int, p: float, spans: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """``for each of rows: if random() < p: draw len(spans) bounded integers``, as a loop would.
        Returns (hit per row, the integers of the hit rows: shape (hits, len(spans)))."""
        hit_rows: list[np.ndarray] = []
        values: list[np.ndarray] = []
        row = 0
        # 64-bit outputs the rows need on average, and some: more are drawn if they run out.
        per_row = 1 + p * ((len(spans) + 1) // 2)
        while row < rows:
            words, has, value = self._words(int((rows - row) * per_row * 1.05) + 256)
            local_rows, local_vals, used, has, value, done_rows = self._scan(rows - row, p, spans, words, has, value)
            hit_rows.append(row + local_rows)
            values.append(local_vals)
            self._consume(used, has, value)
            row += done_rows
        hit = np.zeros(rows, dtype=bool)
        if hit_rows:
            hit[np.concatenate(hit_rows)] = True
        vals = np.concatenate(values) if values else np.zeros((0, len(spans)), dtype=np.int64)
        return hit, vals.reshape(-1, len(spans))

    @staticmethod
    def _scan(rows, p, spans, words, has, value):
        """Rows of :meth:`conditional` from ``words``: (hit rows, their values, words used, has,
        value, rows done). The loop visits hits only (a miss is one word); it stops where the
        words run out, and after a row whose integers had a rejected draw (settled one by one)."""
        c = len(spans)
        n_words = len(words)
        hp = np.flatnonzero(doubles(words) < p).tolist()  # the words whose double is a hit
        n_hp = len(hp)
        fetch = ((c + 1) // 2, c // 2)  # words a hit's integers take, with the buffer empty / full
        after = (c % 2, (c - 1) % 2)  # the buffer after them
        hits: list[int] = []
        bufs: list[int] = []
        q = row = j = 0
        b = has
        while row < rows:
            while j < n_hp and hp[j] < q:
                j += 1
            h = hp[j] if j < n_hp else n_words
            if h - q >= rows - row:  # the remaining rows all miss
                q += rows - row
                row = rows
                break
            need = h + 1 + fetch[b]
            if need > n_words:  # out of words: stop before this row (the caller draws more)
                row += h - q
                q = h
                break
            row += h - q + 1
            hits.append(h)
            bufs.append(b)
            q = need
            b = after[b]
            j += 1
        h = np.array(hits, dtype=np.int64)
        hb = np.array(bufs, dtype=np.int64)
        m = len(h)
        taken = np.array(fetch, dtype=np.int64)[hb]
        hit_rows = h - (np.cumsum(taken) - taken)  # a row is a word, a hit's integers take more
        lo = words.view(np.uint32)[0::2].astype(np.uint64)
        hi = words.view(np.uint32)[1::2].astype(np.uint64)
        last_word = np.minimum(h + taken, n_words - 1)  # its high half is left buffered, if any
        buffered = np.empty(m, dtype=np.uint64)
        if m:
            buffered[0] = value
            buffered[1:] = hi[last_word[:-1]]
        vals = np.zeros((m, c), dtype=np.int64)
        rejected = np.zeros(m, dtype=bool)
        for k, span in enumerate(spans):
            t = k - hb  # -1: the buffered value
            word = np.minimum(h + 1 + np.maximum(t, 0) // 2, n_words - 1)
            u32 = np.where(t < 0, buffered, np.where(t % 2 == 1, hi[word], lo[word]))
            vals[:, k], rej = _lemire(u32, np.uint64(span))
            rejected |= rej
        if rejected.any():
            # Settle the first row with a rejected draw draw by draw, and stop after it.
            k = int(np.flatnonzero(rejected)[0])
            reader = _U32Reader(words, int(h[k]) + 1, int(hb[k]), int(buffered[k]) if hb[k] else 0)
            for i, span in enumerate(spans):
                while True:
                    v, rej = _lemire(np.array([reader.next()], dtype=np.uint64), np.uint64(span))
                    if not rej[0]:
                        vals[k, i] = v[0]
                        break
            q, b, value = reader.state()
            return hit_rows[: k + 1], vals[: k + 1], q, b, value, int(hit_rows[k]) + 1
        if b and m:
            value = int(hi[last_word[-1]])
        elif not b:
            value = 0
        return hit_rows, vals, q, b, value, row


class _U32Reader:
    """32-bit values from a word array, one at a time, with numpy's buffering (rare paths only)."""

    def __init__(self, words, q, has, value):
        self.words, self.q, self.has, self.value = words, q, has, value

    def next(self) -> int:
        if self.has:
            self.has = 0
            return int(self.value)
        w = int(self.words[self.q])
        self.q += 1
        self.has, self.value = 1, w >> 32
        return w & 0xFFFFFFFF

    def state(self):
        return self.q, self.has, (self.value if self.has else 0)


class Run32:
    """See :meth:`Draws.uint32_run`."""

    def __init__(self, draws: Draws):
        self.draws = draws
        self.has, self.value = draws._buffer()

    def take(self, n: int) -> np.ndarray:
        if not self.has and n % 2 == 0:  # whole outputs: their 32-bit halves as they are
            return self.draws.bits.random_raw(n // 2).view(np.uint32)
        out = np.empty(n, dtype=np.uint32)
        if n == 0:
            return out
        start = 0
        if self.has:
            out[0] = self.value
            start = 1
        rest = n - start
        words = self.draws.bits.random_raw((rest + 1) // 2)
        out[start:] = words.view(np.uint32)[:rest]
        if rest % 2:
            self.has, self.value = 1, int(words[-1] >> np.uint64(32))
        else:
            self.has, self.value = 0, 0
        return out

    def close(self) -> None:
        self.draws._set_buffer(self.has, self.value)
