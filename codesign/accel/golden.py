"""Bit-exact and cycle-exact reference model of the accelerator (``rtl/accel_top.sv``).

A layer is one GEMM with post-processing, C = clip(relu?(round_shift(A @ W + (b << bias_shift)))),
run over a ROWS x COLS output-stationary array: for each column tile (COLS outputs) the weights
are a list of *steps*; a step holds, per column, one weight and the lane (0..M-1) of the K-group
of M activations it multiplies, plus the group index. ``pack_weights`` builds these lists: a group
takes as many steps as its densest column has non-zeros (2 for 2:4), and groups whose weights
are all zero in the tile take none, so N:M sparsity and all-zero tiles are skipped alike.

Everything here mirrors the RTL: memory images, descriptor fields, AXI4-Stream command beats and
the exact cycle count (``layer_cycles``, ``pool_cycles``). The arithmetic is ``codesign.fixedpoint``'s.

Conv2D runs as the same GEMM with im2col done by address generation: every array row reads its own
activation bank at ``a_base + m*KG + offset``, where for a conv m is a pixel of the stored grid, KG
the words per pixel and ``offset = (kh*W + kw)*KG + cg`` comes with the weight step
(``conv_offsets``, ``pack_weights(offsets=...)``). A layer's results written back into the activation
memory take whole column tiles per output row (``AccelSpec.writeback_stride``), so the next layer's
KG can be more than its channel groups. MaxPooling2D is its own descriptor
(``PoolDescriptor``) run by ``rtl/accel_pool.sv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codesign import reference
from codesign.accel.spec import DESCRIPTOR_BITS, GROUP_FIELD_BITS, AccelSpec
from codesign.errors import CodesignError
from codesign.fixedpoint import FixedType, shift_right_round

ROUNDING_CODES = {"TRN": 0, "RND_CONV": 1, "RND": 2}
TARGET_DESCRIPTORS, TARGET_ACTIVATIONS, TARGET_WEIGHTS, TARGET_BIASES, TARGET_READOUT = 0, 1, 2, 3, 4

# Fixed latencies of the RTL (cycles), the one place they live; see docs/ACCELERATOR.md
# "Cycle formula". Each is a pipeline depth of one block, so a change to a block changes one name.
DESCRIPTOR_OVERHEAD = 4     # DFETCH, DREAD, DWAIT, NEXT (accel_ctrl)
TILE_OVERHEAD = 5           # HDR, HDRW, HDRQ, HDRD, HDRS per column tile: header read, its register, its copy, decode, use (accel_ctrl)
ISSUE_LATENCY = 11          # weight read, its register, group copy, activation address, its per-bank and per-RAM copies, activation read, its register, its fabric copy, RAM select (two)
ARRAY_INPUT_LATENCY = 1     # the array's input register (accel_array)
PE_LATENCY = 6              # forwarding, operands, product, product copy, running accumulator, result (accel_pe)
COLLECT_LATENCY = 3         # per-column result collect: groups of four rows, the groups, the tile sum (end - previous end) (accel_array)
PPU_LATENCY = 9             # input registers, add, shift by 8s, shift by 2s, last shift bit and round-up decision, round, range bits, flags, select
PPU_CONFIG_SETUP = 4        # cycles the PPU configuration is stable before its first valid input (accel_ppu)
WRITEBACK_LATENCY = 1       # the controller sees the last result row written (accel_ctrl)
POOL_LATENCY = 12           # start registers (the controller's and the pool's), last window address -> its register, read data (seven cycles), its register, write


def array_latency(spec: AccelSpec) -> int:
    """Cycles from the last step of a tile at the array's input to row 0 of the tile at its output
    (input register, PE stages, column collect, then COLS-1 of skew + de-skew)."""
    return ARRAY_INPUT_LATENCY + PE_LATENCY + COLLECT_LATENCY + spec.cols - 1


def drain_cycles(spec: AccelSpec) -> int:
    """Cycles of a descriptor after its last weight step is issued until the controller has seen
    the last result row written: step issue, array, the tile's ROWS rows, PPU, write."""
    return ISSUE_LATENCY + array_latency(spec) + spec.rows - 1 + PPU_LATENCY + WRITEBACK_LATENCY


@dataclass(frozen=True)
class Layer:
    """One GEMM layer in integer codes: ``inputs`` (M x K) times ``weights`` (K x N) plus ``bias`` (N)."""

    inputs: np.ndarray
    weights: np.ndarray
    bias: np.ndarray | None = None
    bias_shift: int = 0            # bias codes are aligned to the accumulator by a left shift
    shift: int = 0                 # requantization: arithmetic right shift ...
    rounding: str = "TRN"          # ... with this rounding (TRN, RND_CONV, RND) ...
    out_bits: int = 8              # ... then saturation to this many bits ...
    out_signed: bool = True        # ... signed or unsigned (unsigned + saturation = quantized_relu)
    relu: bool = False
    act_signed: bool = True        # activation codes are signed (else unsigned) ACT_BITS integers

    @property
    def m(self) -> int:
        return int(np.shape(self.inputs)[0])

    @property
    def k(self) -> int:
        return int(np.shape(self.weights)[0])

    @property
    def n(self) -> int:
        return int(np.shape(self.weights)[1])

    def out_type(self, integer: int = 0) -> FixedType:
        """The output codes' fixed-point type (``integer`` integer bits: only the grid position)."""
        return FixedType(self.out_bits, integer, self.out_signed, self.rounding, "SAT")


@dataclass(frozen=True)
class Step:
    group: int
    entries: tuple[tuple[int, int], ...]   # per column: (lane index, weight code)


@dataclass(frozen=True)
class PackedWeights:
    """Weight step lists, one per column tile, and their weight-memory words (headers included)."""

    tiles: tuple[tuple[Step, ...], ...]
    words: tuple[int, ...]

    def steps(self) -> list[int]:
        return [len(t) for t in self.tiles]


@dataclass(frozen=True)
class Bases:
    """Where a layer's data sit in the on-chip memories (word addresses)."""

    a: int = 0
    w: int = 0
    b: int = 0
    o: int = 0


@dataclass(frozen=True)
class LayerResult:
    outputs: np.ndarray        # M x N output codes
    cycles: int                # perf_cycles of a run of this single layer
    accumulators: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def tile_counts(spec: AccelSpec, layer: Layer) -> tuple[int, int, int]:
    """(MT, NT, KG): row tiles, column tiles, K groups."""
    return ceil_div(layer.m, spec.rows), ceil_div(layer.n, spec.cols), ceil_div(layer.k, spec.lanes)


def check_layer(spec: AccelSpec, layer: Layer) -> None:
    """Refuse a layer this build cannot run exactly; the message names the field and its range."""
    a = np.asarray(layer.inputs)
    w = np.asarray(layer.weights)
    if a.ndim != 2 or w.ndim != 2:
        raise CodesignError(f"inputs and weights must be matrices, got shapes {a.shape} and {w.shape}")
    if a.shape[1] != w.shape[0]:
        raise CodesignError(f"inputs have {a.shape[1]} columns but weights have {w.shape[0]} rows")
    for name, value, lo, hi in (("M", layer.m, 1, 65535), ("N", layer.n, 1, 65535), ("K", layer.k, 1, 65535)):
        if not lo <= value <= hi:
            raise CodesignError(f"layer dimension {name}={value} is outside the allowed range {lo}..{hi}")
    a_lo, a_hi = ((-(1 << (spec.act_bits - 1)), (1 << (spec.act_bits - 1)) - 1) if layer.act_signed
                  else (0, (1 << spec.act_bits) - 1))
    if a.size and (a.min() < a_lo or a.max() > a_hi):
        raise CodesignError(f"input codes [{a.min()}, {a.max()}] are outside the allowed range {a_lo}..{a_hi} "
                            f"({'signed' if layer.act_signed else 'unsigned'} act_bits={spec.act_bits})")
    w_lo, w_hi = -(1 << (spec.weight_bits - 1)), (1 << (spec.weight_bits - 1)) - 1
    if w.size and (w.min() < w_lo or w.max() > w_hi):
        raise CodesignError(f"weight codes [{w.min()}, {w.max()}] are outside the allowed range {w_lo}..{w_hi} (weight_bits={spec.weight_bits})")
    kmax = spec.max_depth(layer.act_signed)
    if layer.k > kmax:
        raise CodesignError(f"layer depth K={layer.k} exceeds the allowed range 1..{kmax} for acc_bits={spec.acc_bits} "
                            f"(the accumulator could overflow)")
    if layer.rounding not in ROUNDING_CODES:
        raise CodesignError(f"rounding={layer.rounding!r} is not one of {tuple(ROUNDING_CODES)}")
    for name, value, lo, hi in (("shift", layer.shift, 0, spec.acc_bits), ("bias_shift", layer.bias_shift, 0, spec.acc_bits - 1),
                                ("out_bits", layer.out_bits, 1, spec.acc_bits)):
        if not lo <= value <= hi:
            raise CodesignError(f"layer {name}={value} is outside the allowed range {lo}..{hi}")
    if layer.bias is not None:
        b = np.asarray(layer.bias, dtype=np.int64)
        if b.shape != (layer.n,):
            raise CodesignError(f"bias has shape {b.shape}, expected ({layer.n},)")
        aligned = b << layer.bias_shift
        lim = 1 << (spec.acc_bits - 1)
        if b.size and (aligned.min() < -lim or aligned.max() >= lim):
            raise CodesignError(f"aligned bias (bias << {layer.bias_shift}) is outside the allowed range "
                                f"{-lim}..{lim - 1} of acc_bits={spec.acc_bits}")


def compute(spec: AccelSpec, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """(accumulators, output codes) of a layer, exactly as the RTL computes them."""
    check_layer(spec, layer)
    acc = np.asarray(layer.inputs, dtype=np.int64) @ np.asarray(layer.weights, dtype=np.int64)
    bias = np.zeros(layer.n, dtype=np.int64) if layer.bias is None else np.asarray(layer.bias, dtype=np.int64)
    return acc, post_process(acc, bias[None, :], layer.bias_shift, layer.shift, layer.rounding,
                             layer.out_bits, layer.out_signed, layer.relu)


def post_process(acc: np.ndarray, bias: np.ndarray, bias_shift: int, shift: int, rounding: str,
                 out_bits: int, out_signed: bool, relu: bool) -> np.ndarray:
    """The PPU (rtl/accel_ppu.sv): bias aligned by a left shift, requantization, ReLU, saturation."""
    total = np.asarray(acc, dtype=np.int64) + (np.asarray(bias, dtype=np.int64) << bias_shift)
    y = shift_right_round(total, shift, rounding)
    if relu:
        y = np.maximum(y, 0)
    out = FixedType(out_bits, 0, out_signed, rounding, "SAT")
    return out.fit_codes(y)


def pack_weights(spec: AccelSpec, weights: np.ndarray, n_of_m: tuple[int, int] | None = None,
                 skip_zeros: bool = True, offsets: list[int] | None = None) -> PackedWeights:
    """Compress a K x N weight matrix into per-column-tile step lists and weight-memory words.

    ``n_of_m=(n, m)`` checks that every group of m weights along K (per output) has at most n
    non-zeros, m being this build's SPARSE_M. ``skip_zeros=False`` packs densely: every group takes
    SPARSE_M steps (one per lane) and nothing is skipped (the baseline the sparse mode is measured
    against). ``offsets[g]``: the activation address offset a step of group g carries (default g;
    a Conv2D gives ``conv_offsets``).
    """
    w = np.asarray(weights, dtype=np.int64)
    k, n = w.shape
    lanes, cols = spec.lanes, spec.cols
    if n_of_m is not None:
        nn, mm = n_of_m
        if spec.sparse_m == 0 or mm != spec.sparse_m:
            raise CodesignError(f"N:M sparsity {nn}:{mm} needs a build with sparse_m={mm}; this one has sparse_m={spec.sparse_m}")
        if not 1 <= nn <= mm:
            raise CodesignError(f"N:M sparsity {nn}:{mm}: N is outside the allowed range 1..{mm}")
    kg, nt_count = ceil_div(k, lanes), ceil_div(n, cols)
    if offsets is not None and len(offsets) != kg:
        raise CodesignError(f"{len(offsets)} activation offsets for {kg} K groups")
    if offsets is not None and any(not 0 <= o < 1 << GROUP_FIELD_BITS for o in offsets):
        raise CodesignError(f"activation offsets {min(offsets)}..{max(offsets)} are outside the allowed range "
                            f"0..{(1 << GROUP_FIELD_BITS) - 1}")
    offset = list(range(kg)) if offsets is None else [int(o) for o in offsets]
    padded = np.zeros((kg * lanes, nt_count * cols), dtype=np.int64)
    padded[:k, :n] = w
    groups = padded.reshape(kg, lanes, nt_count * cols)
    if n_of_m is not None:
        nnz = np.count_nonzero(groups, axis=1)
        if nnz.max(initial=0) > n_of_m[0]:
            g, col = np.argwhere(nnz > n_of_m[0])[0]
            raise CodesignError(f"weights are not {n_of_m[0]}:{n_of_m[1]} sparse: output {col}, rows "
                                f"{g * lanes}..{g * lanes + lanes - 1} have {nnz[g, col]} non-zeros")
    tiles = []
    words: list[int] = []
    field_shift = cols * spec.weight_entry_bits
    for t in range(nt_count):
        steps: list[Step] = []
        for g in range(kg):
            block = groups[g, :, t * cols:(t + 1) * cols]           # lanes x cols
            if skip_zeros:
                per_col = [[(int(l), int(block[l, j])) for l in np.flatnonzero(block[:, j])] for j in range(cols)]
                count = max(len(p) for p in per_col)
            else:
                per_col = [[(l, int(block[l, j])) for l in range(lanes)] for j in range(cols)]
                count = lanes
            for s in range(count):
                steps.append(Step(offset[g], tuple(p[s] if s < len(p) else (0, 0) for p in per_col)))
        if not steps:                                                # an all-zero tile still closes its outputs
            steps.append(Step(offset[0] if offset else 0, tuple((0, 0) for _ in range(cols))))
        if len(steps) >= 1 << GROUP_FIELD_BITS:
            raise CodesignError(f"column tile {t} needs {len(steps)} weight steps, more than the allowed {(1 << GROUP_FIELD_BITS) - 1}")
        tiles.append(tuple(steps))
        words.append(len(steps) << field_shift)
        words.extend(step_word(spec, s) for s in steps)
    return PackedWeights(tuple(tiles), tuple(words))


def step_word(spec: AccelSpec, step: Step) -> int:
    word = step.group << (spec.cols * spec.weight_entry_bits)
    wmask = (1 << spec.weight_bits) - 1
    for j, (lane, value) in enumerate(step.entries):
        word |= ((lane << spec.weight_bits) | (value & wmask)) << (j * spec.weight_entry_bits)
    return word


def layer_cycles(spec: AccelSpec, m: int, steps: list[int]) -> int:
    """perf_cycles of one GEMM descriptor: M rows (samples, or pixels of the stored grid for a
    conv), ``steps[t]`` weight steps in column tile t. Writing the results back into the activation
    memory costs nothing extra (a whole output row per cycle, beside the output-memory write)."""
    mt = ceil_div(m, spec.rows)
    return (DESCRIPTOR_OVERHEAD + sum(TILE_OVERHEAD + mt * max(s, spec.rows) for s in steps)
            + drain_cycles(spec))


def pool_cycles(b: int, cg: int, out_h: int, out_w: int, pool_h: int, pool_w: int) -> int:
    """perf_cycles of one pool descriptor: one activation-memory read per window element and cycle."""
    return DESCRIPTOR_OVERHEAD + b * cg * out_h * out_w * pool_h * pool_w + POOL_LATENCY


def run_layer(spec: AccelSpec, layer: Layer, packed: PackedWeights | None = None,
              write_back: bool = False) -> LayerResult:
    """Output codes and cycle count of one layer (packs the weights with zero skipping if not given)."""
    acc, out = compute(spec, layer)
    packed = packed or pack_weights(spec, layer.weights)
    del write_back   # costs no cycles
    return LayerResult(out, layer_cycles(spec, layer.m, packed.steps()), acc)


# ---------------------------------------------------------------- memory images and commands

def activation_words(spec: AccelSpec, inputs: np.ndarray, stride: int | None = None) -> list[int]:
    """Activation-memory words (every bank holds the same): word m*KG + g holds A[m, g*M + l] at bits
    l * ACT_BITS (M = SPARSE_M lanes, zero past K); KG = ``stride`` (default ceil(K / M)), the words
    past ceil(K / M) zero. A feature map (B, H, W, C) is stored pixel-major: pass it as (B*H*W, C),
    so pixel (n, y, x) group cg is word ((n*H + y)*W + x)*KG + cg."""
    a = np.asarray(inputs, dtype=np.int64)
    m, k = a.shape
    lanes = spec.lanes
    kg = ceil_div(k, lanes) if stride is None else stride
    if kg * lanes < k:
        raise CodesignError(f"an activation row stride of {kg} words holds {kg * lanes} of the {k} activations per row "
                            f"(allowed: >= {ceil_div(k, lanes)} words)")
    padded = np.zeros((m, kg * lanes), dtype=np.int64)
    padded[:, :k] = a & ((1 << spec.act_bits) - 1)
    shifts = np.arange(lanes, dtype=object) * spec.act_bits
    return [int(sum(int(v) << int(sh) for v, sh in zip(group, shifts)))
            for group in padded.reshape(m * kg, lanes).tolist()]


def array_words(spec: AccelSpec, inputs: np.ndarray) -> list[int]:
    """The array's ``a_word`` input (rtl/accel_array.sv): for row tile mt and group g, word mt*KG + g
    holds row i's lanes l (element [mt*ROWS + i, g*M + l]) at bits ((i*M + l) * ACT_BITS)."""
    a = np.asarray(inputs, dtype=np.int64)
    m, k = a.shape
    lanes, rows = spec.lanes, spec.rows
    mt, kg = ceil_div(m, rows), ceil_div(k, lanes)
    padded = np.zeros((mt * rows, kg * lanes), dtype=np.int64)
    padded[:m, :k] = a & ((1 << spec.act_bits) - 1)
    words = []
    for t in range(mt):
        for g in range(kg):
            block = padded[t * rows:(t + 1) * rows, g * lanes:(g + 1) * lanes].reshape(-1)
            word = 0
            for pos, v in enumerate(block.tolist()):
                word |= v << (pos * spec.act_bits)
            words.append(word)
    return words


def bias_words(spec: AccelSpec, bias: np.ndarray | None, n: int, bias_shift: int) -> list[int]:
    """The bias memory's words: per column tile, COLS biases aligned to the accumulator
    (``bias << bias_shift``; the PPU adds them as they are)."""
    nt = ceil_div(n, spec.cols)
    b = np.zeros(nt * spec.cols, dtype=np.int64)
    if bias is not None:
        b[:n] = np.asarray(bias, dtype=np.int64) << bias_shift
    mask = (1 << spec.acc_bits) - 1
    words = []
    for t in range(nt):
        word = 0
        for j in range(spec.cols):
            word |= (int(b[t * spec.cols + j]) & mask) << (j * spec.acc_bits)
        words.append(word)
    return words


@dataclass(frozen=True)
class Descriptor:
    """One layer descriptor (ten 32-bit fields, see docs/ACCELERATOR.md)."""

    m: int
    n: int
    mt: int
    nt: int
    kg: int
    bases: Bases
    shift: int = 0
    rounding: str = "TRN"
    out_bits: int = 8
    out_signed: bool = True
    relu: bool = False
    act_signed: bool = True
    stream_out: bool = True
    last: bool = True
    write_back: int | None = None   # activation-memory address the results are also written to
    kg_out: int = 0                 # words between written-back result rows: AccelSpec.writeback_stride(N)
    keep_outputs: bool = True       # False: results only written back, not stored in OMEM (flag 23 no_omem)

    def __post_init__(self) -> None:
        if not self.keep_outputs and (self.stream_out or self.write_back is None):
            raise CodesignError("a descriptor that does not keep its results in the output memory must write them "
                                "back and cannot stream them out")

    def check_write_back(self, spec: AccelSpec) -> None:
        """accel_amem writes whole rows of ``amem_write_words`` words: a write-back starts on a row."""
        words = spec.amem_write_words
        if self.write_back is not None and self.write_back % words:
            raise CodesignError(f"write-back address {self.write_back} is not a multiple of {words}: results are "
                                f"written back in whole activation-memory rows of {words} words")

    @classmethod
    def for_layer(cls, spec: AccelSpec, layer: Layer, bases: Bases = Bases(), stream_out: bool = True,
                  last: bool = True, write_back: int | None = None, *, m: int | None = None,
                  row_stride: int | None = None, keep_outputs: bool = True) -> Descriptor:
        """A dense layer's descriptor; for a conv, ``m`` = pixels of the stored grid (B*H*W) and
        ``row_stride`` = words per pixel: the KG field is the activation-memory stride between rows
        (default ceil(K / SPARSE_M); a layer reading written-back results: ``writeback_stride``)."""
        mt, nt, kg = tile_counts(spec, layer)
        if m is not None:
            mt = ceil_div(m, spec.rows)
        for name, value in (("M", m if m is not None else layer.m), ("MT", mt), ("row stride", row_stride or kg)):
            if not 1 <= value <= 65535:
                raise CodesignError(f"descriptor field {name}={value} is outside the allowed range 1..65535")
        desc = cls(layer.m if m is None else m, layer.n, mt, nt, kg if row_stride is None else row_stride, bases,
                   layer.shift, layer.rounding, layer.out_bits, layer.out_signed, layer.relu, layer.act_signed,
                   stream_out, last, write_back, spec.writeback_stride(layer.n), keep_outputs)
        desc.check_write_back(spec)
        return desc

    def fields(self) -> list[int]:
        flags = (int(self.relu) | int(self.out_signed) << 1 | int(self.act_signed) << 2
                 | int(self.stream_out) << 3 | int(self.last) << 4 | int(self.write_back is not None) << 5
                 | int(not self.keep_outputs) << 7)
        return [
            self.m | self.n << 16,
            self.mt | self.nt << 16,
            self.kg | flags << 16,
            self.shift | ROUNDING_CODES[self.rounding] << 8 | self.out_bits << 16,
            self.bases.a, self.bases.w, self.bases.b, self.bases.o,
            self.write_back or 0, self.kg_out,
        ]

    def word(self) -> int:
        return sum(f << (32 * i) for i, f in enumerate(self.fields()))


# ---------------------------------------------------------------- Conv2D and MaxPooling2D

def conv_offsets(spec: AccelSpec, kernel_h: int, kernel_w: int, channels: int, stored_w: int,
                 pixel_words: int | None = None) -> list[int]:
    """Activation address offset of each K group (kh, kw, cg) of a conv relative to its output pixel's
    word: (kh * W + kw) * KG + cg, W the stored grid's width, KG the words per pixel (``pixel_words``,
    default CG = ceil(channels / SPARSE_M))."""
    cg = ceil_div(channels, spec.lanes)
    kg = cg if pixel_words is None else pixel_words
    return [(i * stored_w + j) * kg + c for i in range(kernel_h) for j in range(kernel_w) for c in range(cg)]


def conv_weights(spec: AccelSpec, kernel: np.ndarray) -> np.ndarray:
    """A (KH, KW, C, N) kernel as the GEMM weights the array runs: rows (kh, kw, cg, lane), the lanes
    past C zero (they meet the zero lanes of the pixel words; compressed packing skips them)."""
    kh, kw, c, n = np.shape(kernel)
    cg = ceil_div(c, spec.lanes)
    w = np.zeros((kh, kw, cg * spec.lanes, n), dtype=np.int64)
    w[:, :, :c, :] = np.asarray(kernel, dtype=np.int64)
    return w.reshape(-1, n)


def im2col(x: np.ndarray, kernel_h: int, kernel_w: int) -> np.ndarray:
    """(B, H, W, C) -> (B * OH * OW, KH * KW * C) valid patches, ordered (kh, kw, c) like a Keras kernel."""
    cols = reference.im2col(np.asarray(x, dtype=np.int64), (kernel_h, kernel_w))
    return cols.reshape(-1, cols.shape[-1])


def maxpool(x: np.ndarray, pool_h: int, pool_w: int) -> np.ndarray:
    """(B, H, W, C) -> (B, H // ph, W // pw, C): what the pool descriptor writes (valid, stride = pool)."""
    b, h, w, c = np.shape(x)
    oh, ow = h // pool_h, w // pool_w
    return np.asarray(x)[:, :oh * pool_h, :ow * pool_w, :].reshape(b, oh, pool_h, ow, pool_w, c).max(axis=(2, 4))


@dataclass(frozen=True)
class PoolDescriptor:
    """A max-pooling descriptor (rtl/accel_pool.sv): reads the window words of a stored grid of ``b``
    images (``pixel_stride`` = KG words per pixel, default CG; ``row_stride`` = W*KG and ``img_stride``
    = H*W*KG words) from ``a_base`` and writes the compact out_h x out_w grid (CG words per pixel)
    from ``wb_base``."""

    b: int
    cg: int
    out_h: int
    out_w: int
    pool_h: int
    pool_w: int
    a_base: int
    wb_base: int
    row_stride: int
    img_stride: int
    act_signed: bool = True
    last: bool = False
    pixel_stride: int | None = None

    @property
    def pixel_words(self) -> int:
        return self.cg if self.pixel_stride is None else self.pixel_stride

    def __post_init__(self) -> None:
        if self.pixel_words < self.cg:
            raise CodesignError(f"pool descriptor pixel_stride={self.pixel_words} is less than its cg={self.cg} "
                                f"channel groups per pixel (allowed: >= cg)")
        for name, value, hi in (("b", self.b, 65535), ("cg", self.cg, 65535), ("out_h", self.out_h, 65535),
                                ("out_w", self.out_w, 65535), ("pool_h", self.pool_h, 255), ("pool_w", self.pool_w, 255)):
            if not 1 <= value <= hi:
                raise CodesignError(f"pool descriptor field {name}={value} is outside the allowed range 1..{hi}")
        if self.pool_h * self.pool_w < 2:
            # accel_pool's address loop relies on a window of two reads or more; a 1x1 pool is
            # the identity (the compiler leaves it out).
            raise CodesignError(f"pool descriptor window {self.pool_h}x{self.pool_w}: needs at least two "
                                f"elements (pool_h * pool_w >= 2); a 1x1 max pool is the identity")

    @property
    def reads(self) -> int:
        return self.b * self.cg * self.out_h * self.out_w * self.pool_h * self.pool_w

    @property
    def cycles(self) -> int:
        return pool_cycles(self.b, self.cg, self.out_h, self.out_w, self.pool_h, self.pool_w)

    @property
    def out_words(self) -> int:
        return self.b * self.out_h * self.out_w * self.cg

    def fields(self) -> list[int]:
        flags = int(self.act_signed) << 2 | int(self.last) << 4 | 1 << 5 | 1 << 6    # write_back, pool
        return [
            self.b | self.cg << 16,
            self.out_h | self.out_w << 16,
            self.pool_h | self.pool_w << 8 | flags << 16,
            self.pixel_words,
            self.a_base, self.row_stride, self.img_stride, self.pool_h * self.row_stride,
            self.wb_base, self.pool_w * self.pixel_words,
        ]

    def word(self) -> int:
        return sum(f << (32 * i) for i, f in enumerate(self.fields()))


def words_to_beats(words: list[int], width: int) -> list[int]:
    beats_per_word = ceil_div(width, 32)
    return [(w >> (32 * b)) & 0xFFFFFFFF for w in words for b in range(beats_per_word)]


def load_command(target: int, address: int, words: list[int], width: int) -> list[int]:
    """AXI4-Stream beats that write ``words`` (each ``width`` bits) to a memory from ``address``."""
    return [(target << 28) | address, len(words)] + words_to_beats(words, width)


def readout_command(address: int, rows: int, cols: int) -> list[int]:
    return [(TARGET_READOUT << 28) | address, rows | cols << 16]


@dataclass(frozen=True)
class LayerImage:
    """Everything the host streams in to run one layer, and what it should get back."""

    beats: list[int]
    descriptor: Descriptor
    packed: PackedWeights
    expected: LayerResult


def layer_image(spec: AccelSpec, layer: Layer, bases: Bases = Bases(), packed: PackedWeights | None = None,
                stream_out: bool = True, descriptor_index: int = 0, last: bool = True,
                write_back: int | None = None, load_inputs: bool = True, row_stride: int | None = None) -> LayerImage:
    """Load commands (activations, weights, biases, descriptor) for one layer, checked against
    the memory depths of the build. ``write_back``: also write the results, in the activation
    layout, to this activation-memory address (the next layer's ``bases.a``, with ``row_stride`` =
    ``spec.writeback_stride(N)``); ``load_inputs=False`` when the inputs are already there (written
    back by the previous layer of a chain). ``row_stride``: activation words per input row."""
    packed = packed or pack_weights(spec, layer.weights)
    expected = run_layer(spec, layer, packed, write_back is not None)
    if write_back is not None:
        spec.check_writeback()
        if layer.out_bits > spec.act_bits:
            raise CodesignError(f"results written back as activations need out_bits={layer.out_bits} "
                                f"in the allowed range 1..{spec.act_bits} (act_bits)")
    _, nt, _ = tile_counts(spec, layer)
    a_words = activation_words(spec, layer.inputs, row_stride)
    b_words = bias_words(spec, layer.bias, layer.n, layer.bias_shift)
    for name, base, count, depth in (("activation", bases.a, len(a_words), spec.amem_depth),
                                     ("weight", bases.w, len(packed.words), spec.wmem_depth),
                                     ("bias", bases.b, len(b_words), spec.bmem_depth),
                                     ("output", bases.o, layer.m * nt, spec.omem_depth),
                                     ("write-back activation", write_back or 0,
                                      layer.m * spec.writeback_stride(layer.n) if write_back is not None else 0,
                                      spec.amem_depth),
                                     ("descriptor", descriptor_index, 1, spec.dmem_depth)):
        if base + count > depth:
            raise CodesignError(f"the layer needs {name} memory words {base}..{base + count - 1}, "
                                f"outside the allowed range 0..{depth - 1} of this build")
    desc = Descriptor.for_layer(spec, layer, bases, stream_out=stream_out, last=last, write_back=write_back,
                                row_stride=row_stride)
    beats = ((load_command(TARGET_ACTIVATIONS, bases.a, a_words, spec.amem_width) if load_inputs else [])
             + load_command(TARGET_WEIGHTS, bases.w, list(packed.words), spec.wmem_width)
             + load_command(TARGET_BIASES, bases.b, b_words, spec.bmem_width)
             + load_command(TARGET_DESCRIPTORS, descriptor_index, [desc.word()], DESCRIPTOR_BITS))
    return LayerImage(beats, desc, packed, expected)


def decode_outputs(beats: list[int], m: int, n: int, out_bits: int, out_signed: bool) -> np.ndarray:
    """Output codes from the result stream (one sign-extended 32-bit beat per result, row-major)."""
    if len(beats) != m * n:
        raise CodesignError(f"expected {m * n} result beats, got {len(beats)}")
    codes = np.asarray(beats, dtype=np.int64) & ((1 << out_bits) - 1)
    if out_signed:
        codes = np.where(codes >= 1 << (out_bits - 1), codes - (1 << out_bits), codes)
    return codes.reshape(m, n)
