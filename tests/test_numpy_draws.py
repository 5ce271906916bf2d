"""The bulk draws equal numpy's own scalar draws, one at a time, and leave the generator where the
loop leaves it. Spans near 2**31 make about half the 32-bit draws rejected, so every path of the
rejection handling runs; short and long sequences cross the window boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from lakebench_ray.core.numpy_draws import Draws

pytestmark = pytest.mark.unit  # no Ray, servers or processes (guarded in conftest)

SPANS = [2**31 + 12345, 3, 5, 998_999, 2**32 - 5, 7, 90_000, 2**31 + 1]
#: The spans a Lakebench file draws from: rejections are rare (each one costs a recomputation).
FILE_SPANS = [3, 5, 7, 799, 8999, 89_999, 90_000, 998_999]


def _same_state(g: np.random.Generator, d: Draws) -> bool:
    a, b = g.bit_generator.state, d.bits.state
    return a["state"] == b["state"] and a["has_uint32"] == b["has_uint32"] and (
        not a["has_uint32"] or a["uinteger"] == b["uinteger"])


@pytest.mark.parametrize("seed", range(10))
def test_sequences_and_conditional_loops_equal_numpy_one_draw_at_a_time(seed):
    rng = np.random.default_rng(1000 + seed)
    g, d = np.random.default_rng(seed), Draws(seed)
    for _ in range(seed % 3):  # start with and without a buffered 32-bit value
        assert g.integers(0, 7) == d.gen.integers(0, 7)
    long = seed % 4 == 0
    n = 70_000 if long else int(rng.integers(1, 400))
    is_double = rng.random(n) < (0.3 if seed % 2 else 0.0)
    span = rng.choice(FILE_SPANS if long else SPANS, n).astype(np.uint64)
    ints, dbls = d.program(is_double, span)
    expected = [g.random() if dbl else int(g.integers(0, int(s))) for dbl, s in zip(is_double, span)]
    assert np.where(is_double, dbls, ints).tolist() == expected
    assert _same_state(g, d)

    rows, p = int(rng.integers(0, 3000)), float(rng.random())
    spans = tuple(int(rng.choice(SPANS)) for _ in range(int(rng.integers(1, 4))))
    hits, values = [], []
    for row in range(rows):
        if g.random() < p:
            hits.append(row)
            values.append([int(g.integers(0, s)) for s in spans])
    hit, vals = d.conditional(rows, p, spans)
    assert np.flatnonzero(hit).tolist() == hits and vals.tolist() == values
    assert _same_state(g, d)

    assert d.uint32(13).tolist() == g.integers(0, 2**32, size=13, dtype=np.uint32).tolist()
    assert [bytes(r) for r in d.bytes_rows(7, 6)] == [g.bytes(6) for _ in range(7)]
    d.skip_uint32(5)
    g.bytes(20)
    run = d.uint32_run()
    taken = np.concatenate([run.take(3), run.take(4)])
    run.close()
    assert taken.tobytes() == g.bytes(28)
    assert d.gen.random() == g.random() and d.gen.integers(0, 9) == g.integers(0, 9)
