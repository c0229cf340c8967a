"""Sparse path: accel_array built with SPARSE_M=4 runs N:M-compressed weights (non-zeros plus lane
indices) in fewer steps than the same weights packed densely, with identical results; all-zero
weight tiles take no steps."""

from __future__ import annotations

import os
from pathlib import Path

import cocotb
import pytest
import numpy as np

from codesign.accel import golden
from codesign.accel.sim import SPEC_ENV, run, spec_from_env, spec_to_env
from codesign.accel.spec import AccelSpec
from stimulus import prune_n_of_m, random_layer
from test_array import ArrayTB, array_parameters, random_array_gemms

pytestmark = pytest.mark.slow   # builds and runs a simulator

SIM_DIR = Path(__file__).resolve().parent
SPARSE_SPEC = AccelSpec(rows=4, cols=4, weight_bits=8, act_bits=8, acc_bits=24, sparse_m=4)


@cocotb.test()
async def random_2of4(dut):
    await random_array_gemms(dut, n_of_m=(2, 4), count=int(os.environ.get("COUNT", "60")))


@cocotb.test()
async def compressed_vs_dense(dut):
    """The same pruned weights, sparse-packed and dense-packed: same sums, steps cut by M/N."""
    spec = spec_from_env()
    seed = int(os.environ["SEED"])
    rng = np.random.default_rng(seed + 1)
    tb = ArrayTB(dut, spec)
    await tb.reset()
    for n, m in ((2, 4), (1, 4)):
        k, cols = 32, 2 * spec.cols
        w = rng.integers(1, 1 << (spec.weight_bits - 1), size=(k, cols)) * rng.choice([-1, 1], size=(k, cols))
        w = prune_n_of_m(w, n, m, rng)
        layer = random_layer(spec, rng, shape=(2 * spec.rows + 1, k, cols))
        layer = golden.Layer(layer.inputs, w, act_signed=layer.act_signed, out_bits=spec.acc_bits)
        sparse = golden.pack_weights(spec, w, n_of_m=(n, m))
        dense = golden.pack_weights(spec, w, skip_zeros=False)
        assert sparse.steps() == [k // m * n] * 2 and dense.steps() == [k] * 2, (sparse.steps(), dense.steps())
        await tb.run(layer, sparse)
        await tb.run(layer, dense)
        dut._log.info("%d:%d: %d steps per tile compressed vs %d dense, same results", n, m, sparse.steps()[0], dense.steps()[0])
    # all-zero weight tiles (unstructured pruning) are skipped entirely
    w = rng.integers(1, 6, size=(24, 8)) * rng.choice([-1, 1], size=(24, 8))   # no zeros outside the zeroed rows
    w[4:20, :] = 0
    layer = golden.Layer(rng.integers(-9, 9, size=(5, 24)), w, out_bits=spec.acc_bits)
    packed = golden.pack_weights(spec, w)
    assert packed.steps() == [8, 8], packed.steps()
    await tb.run(layer, packed)


def test_sparse(build_root, seed):
    run("accel_array", "test_sparse", SIM_DIR, build_root / f"array_{SPARSE_SPEC.tag()}", array_parameters(SPARSE_SPEC),
        extra_env={"SEED": str(seed), SPEC_ENV: spec_to_env(SPARSE_SPEC)})
