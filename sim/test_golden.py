"""Reference model alone (no simulator): packing round-trips, N:M step counts, parameter checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.accel import golden
from codesign.accel.spec import AccelSpec
from codesign.errors import CodesignError
from stimulus import prune_n_of_m


def unpack(spec: AccelSpec, packed: golden.PackedWeights, k: int, n: int) -> np.ndarray:
    w = np.zeros((golden.ceil_div(k, spec.lanes) * spec.lanes, len(packed.tiles) * spec.cols), dtype=np.int64)
    for t, steps in enumerate(packed.tiles):
        for step in steps:
            for j, (lane, value) in enumerate(step.entries):
                w[step.group * spec.lanes + lane, t * spec.cols + j] += value
    return w[:k, :n]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 20), st.sampled_from([0, 4]), st.integers(1, 6), st.integers(0, 2**31))
def test_pack_round_trip(k, n, sparse_m, cols, seed):
    spec = AccelSpec(rows=4, cols=cols, sparse_m=sparse_m)
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, size=(k, n)) * (rng.random((k, n)) < 0.6)
    for skip in (True, False):
        packed = golden.pack_weights(spec, w, skip_zeros=skip)
        assert np.array_equal(unpack(spec, packed, k, n), w)
        assert len(packed.words) == sum(s + 1 for s in packed.steps())


def test_n_of_m_halves_steps():
    spec = AccelSpec(rows=8, cols=8, sparse_m=4)
    rng = np.random.default_rng(0)
    w = prune_n_of_m(rng.integers(1, 128, size=(256, 64)), 2, 4, rng)
    assert golden.pack_weights(spec, w, n_of_m=(2, 4)).steps() == [128] * 8
    assert golden.pack_weights(spec, w, skip_zeros=False).steps() == [256] * 8
    with pytest.raises(CodesignError, match="not 1:4 sparse"):
        golden.pack_weights(spec, w, n_of_m=(1, 4))


def test_cycle_formula_steady_state():
    spec = AccelSpec(rows=8, cols=8)
    # 32 row tiles x 8 column tiles of 256 steps: 65536 cycles of work plus 89 of overhead
    # (descriptor 4, headers 5 each, then the drain: issue + array 28, the tile's rows + write 8, PPU 9)
    assert golden.layer_cycles(spec, 256, [256] * 8) == 4 + 8 * (5 + 32 * 256) + 28 + 8 + 9


@pytest.mark.parametrize("kwargs,match", [
    (dict(rows=0), "rows=0 is outside the allowed range 1..16"),
    (dict(cols=17), "cols=17 is outside the allowed range 1..16"),
    (dict(acc_bits=12), "acc_bits=12 is outside the allowed range 17..32"),
    (dict(sparse_m=2), "sparse_m=2 is not one of"),
    (dict(amem_depth=1000), "amem_depth=1000 must be a power of two"),
])
def test_spec_errors(kwargs, match):
    with pytest.raises(CodesignError, match=match):
        AccelSpec(**kwargs)


def test_layer_errors():
    spec = AccelSpec(acc_bits=24)
    ones = np.ones((2, 600), dtype=np.int64)
    with pytest.raises(CodesignError, match="K=600 exceeds the allowed range 1..511"):
        golden.compute(spec, golden.Layer(ones, ones.T))
    with pytest.raises(CodesignError, match="input codes"):
        golden.compute(spec, golden.Layer(np.full((1, 1), 200), np.ones((1, 1), dtype=np.int64)))
    with pytest.raises(CodesignError, match="out_bits=30 is outside the allowed range 1..24"):
        golden.compute(spec, golden.Layer(np.ones((1, 1)), np.ones((1, 1)), out_bits=30))
    big = golden.Layer(np.ones((40, 900), dtype=np.int64), np.ones((900, 40), dtype=np.int64))
    with pytest.raises(CodesignError, match="activation memory words 0..8999, outside the allowed range 0..1023"):
        golden.layer_image(AccelSpec(wmem_depth=64), big)


def test_writeback_limits():
    with pytest.raises(CodesignError, match="multiple of the group size 4"):
        AccelSpec(rows=4, cols=6).check_writeback()
    AccelSpec(rows=1, cols=8).check_writeback()     # two words per output row, written in one cycle
    layer = golden.Layer(np.ones((2, 3), dtype=np.int64), np.ones((3, 2), dtype=np.int64), out_bits=12)
    with pytest.raises(CodesignError, match="out_bits=12 in the allowed range 1..8"):
        golden.layer_image(AccelSpec(), layer, write_back=100)
    dense = AccelSpec(rows=4, cols=6, sparse_m=0)
    with pytest.raises(CodesignError, match=r"6 words per output row to be a power of two \(cols=6; allowed: 1 \* 2\^k\)"):
        dense.check_writeback()
    # Written-back rows are whole column tiles on whole rows of the activation memory.
    spec = AccelSpec(rows=4, cols=8, sparse_m=0)
    assert (spec.amem_write_words, spec.writeback_stride(2), spec.writeback_stride(8), spec.writeback_stride(9)) == (8, 8, 8, 16)
    ok = golden.Layer(np.ones((2, 3), dtype=np.int64), np.ones((3, 10), dtype=np.int64), out_bits=8)
    assert golden.layer_image(spec, ok, write_back=96).descriptor.kg_out == 16
    with pytest.raises(CodesignError, match="write-back address 100 is not a multiple of 8"):
        golden.layer_image(spec, ok, write_back=100)
    with pytest.raises(CodesignError, match=r"amem_depth=8 must hold at least two rows of 8 activation words \(allowed: 16"):
        AccelSpec(cols=8, sparse_m=0, amem_depth=8)
