"""Random and hand-picked layers for the testbenches (pure numpy, shared by all benches)."""

from __future__ import annotations

import numpy as np

from codesign.accel.golden import ROUNDING_CODES, Layer
from codesign.accel.spec import MAX_ARRAY_DIM, SPARSE_M_CHOICES, AccelSpec


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
                 n_of_m: tuple[int, int] | None = None, shape: tuple[int, int, int] | None = None,
                 act_signed: bool | None = None) -> Layer:
    """A random layer with every post-processing option drawn at random (``act_signed``: drawn too
    unless given, e.g. when the shape's depth K was chosen for one signedness)."""
    m, k, n = shape or (int(x) for x in rng.integers(1, max_dim + 1, 3))
    act_signed = bool(rng.integers(2)) if act_signed is None else act_signed
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


# ------------------------------------------------------------------ the parameter space

MAX_ARRAY_SIZE = MAX_ARRAY_DIM   # rows and cols the randomized parameter tests draw from: all AccelSpec accepts


def draw_spec(rng: np.random.Generator, max_size: int = MAX_ARRAY_SIZE) -> AccelSpec:
    """A random point of the parameter space AccelSpec accepts: rows and cols 1..max_size, weight and
    activation bits 2..16 (weight + activation + 1 <= 32), ACC_BITS from its minimum to 32 (the minimum
    itself a quarter of the time), SPARSE_M 0 or 4, memory depths powers of two from small ones up."""
    rows, cols = (int(x) for x in rng.integers(1, max_size + 1, 2))
    while True:
        weight_bits, act_bits = (int(x) for x in rng.integers(2, 17, 2))
        if weight_bits + act_bits + 1 <= 32:
            break
    lo = weight_bits + act_bits + 1
    acc_bits = lo if rng.random() < 0.25 else int(rng.integers(lo, 33))
    sparse_m = int(rng.choice(SPARSE_M_CHOICES))
    lanes = max(1, sparse_m)
    row_words = 1 << (max(1, cols // lanes) - 1).bit_length()      # AccelSpec.amem_write_words
    amem_lo = max(4, (2 * row_words - 1).bit_length())

    def depth(lo_log: int, hi_log: int) -> int:
        return 1 << int(rng.integers(lo_log, hi_log + 1))

    return AccelSpec(rows, cols, weight_bits, act_bits, acc_bits, sparse_m,
                     amem_depth=depth(amem_lo, max(amem_lo, 11)), wmem_depth=depth(4, 10), bmem_depth=depth(1, 6),
                     omem_depth=depth(3, 10), dmem_depth=depth(1, 4))
