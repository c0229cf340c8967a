"""Random and hand-picked layers for the testbenches (pure numpy, shared by all benches)."""

from __future__ import annotations

import numpy as np

from codesign.accel.golden import ROUNDING_CODES, Layer
from codesign.accel.spec import AccelSpec


def act_range(spec: AccelSpec, signed: bool) -> tuple[int, int]:
    return ((-(1 << (spec.act_bits - 1)), (1 << (spec.act_bits - 1)) - 1) if signed
            else (0, (1 << spec.act_bits) - 1))


def weight_range(spec: AccelSpec) -> tuple[int, int]:
    return -(1 << (spec.weight_bits - 1)), (1 << (spec.weight_bits - 1)) - 1


def prune_n_of_m(w: np.ndarray, n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Keep at most n random non-zeros in every group of m along K (axis 0), per column."""
    w = w.copy()
    k, cols = w.shape
    for g in range(0, k, m):
        for c in range(cols):
            rows = np.arange(g, min(g + m, k))
            drop = rng.permutation(rows)[n:]
            w[drop, c] = 0
    return w


def random_layer(spec: AccelSpec, rng: np.random.Generator, max_dim: int = 24,
                 n_of_m: tuple[int, int] | None = None, shape: tuple[int, int, int] | None = None) -> Layer:
    """A random layer with every post-processing option drawn at random."""
    m, k, n = shape or (int(x) for x in rng.integers(1, max_dim + 1, 3))
    act_signed = bool(rng.integers(2))
    a = rng.integers(*act_range(spec, act_signed), size=(m, k), endpoint=True)
    w = rng.integers(*weight_range(spec), size=(k, n), endpoint=True)
    if rng.random() < 0.3:                               # some zero rows of A and zero blocks of W
        a[rng.random(m) < 0.3] = 0
        w[rng.integers(0, k):, rng.integers(0, n):] = 0
    if n_of_m:
        w = prune_n_of_m(w, n_of_m[0], n_of_m[1], rng)
    acc = a @ w
    bias_shift = int(rng.integers(0, 4))
    lim = (1 << (spec.acc_bits - 1)) >> bias_shift
    scale = max(1, int(np.abs(acc).max(initial=0)) >> bias_shift)
    bias = rng.integers(-min(scale, lim), min(scale, lim - 1), size=n, endpoint=True) if rng.random() < 0.8 else None
    out_bits = int(rng.integers(1, spec.act_bits + 1))
    magnitude = int(np.abs(acc).max(initial=1)).bit_length()
    shift = int(np.clip(magnitude - out_bits + rng.integers(-2, 3), 0, spec.acc_bits))
    return Layer(a, w, bias, bias_shift, shift, str(rng.choice(list(ROUNDING_CODES))), out_bits,
                 bool(rng.integers(2)), bool(rng.random() < 0.3), act_signed)
