"""The parameter space of accel_top: random AccelSpec points and fixed corners, each built by Verilator.

Every point AccelSpec accepts must compute exactly what codesign.accel.golden predicts, so this
bench draws builds from the whole space (``stimulus.draw_spec``: rows and cols 1..16, weight and
activation bits 2..16, ACC_BITS from its minimum to 32, SPARSE_M 0 and 4, small and large memory
depths) and runs on each: random dense GEMMs (N:4-pruned weights on SPARSE_M=4 builds, random memory
placement, half with AXI idle gaps and backpressure), most-negative products at the deepest K the
accumulator and the memories allow, conv and pool descriptors, and layer chains through the
activation-memory write-back where the build allows one (``AccelSpec.check_writeback``). Outputs
are checked bit for bit, perf_cycles (and start->done where nothing streams) cycle for cycle.

A program is built (and sized to the build's memory depths) by pure functions (``param_cases``),
so each point also runs them through ``codesign.accel.interpreter`` and requires it to return what the
RTL returned, beat for beat and cycle for cycle (``benchmarks/bench_params.py`` times the two side by side).

Every run draws ``ACCEL_PARAM_DRAWS`` new points (default 2) beside the corners; the pytest seed
picks them: ``SEED=<n> pytest sim/test_params.py -k random-1`` replays draw 1 of seed n.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cocotb
import numpy as np
import pytest

from codesign.accel import golden, status
from codesign.accel.golden import Bases, Layer, ceil_div
from codesign.accel.harness import AccelTB
from codesign.accel.interpreter import Accelerator
from codesign.accel.sim import run_top, spec_from_env
from codesign.accel.spec import DESCRIPTOR_BITS, AccelSpec
from codesign.errors import CodesignError
from stimulus import act_range, draw_spec, random_layer, weight_range
from test_conv import identity_readback
from test_top import random_bases

pytestmark = pytest.mark.slow   # builds and runs a simulator

# Fixed corners of the space; the random draws cover the rest. Names say what each one is.
CORNERS = {
    # 16-bit activations (hls4ml's default input width) in groups of four: 64-bit words, two loader beats.
    "3x8-a16w8-m4": AccelSpec(rows=3, cols=8, weight_bits=8, act_bits=16, acc_bits=32, sparse_m=4,
                              amem_depth=512, wmem_depth=256, bmem_depth=16, omem_depth=256, dmem_depth=4),
    # One row, the widest operands and their smallest accumulator (15 + 16 + 1 = 32).
    "1x4-a16w15-accmin-m4": AccelSpec(rows=1, cols=4, weight_bits=15, act_bits=16, acc_bits=32, sparse_m=4,
                                      amem_depth=256, wmem_depth=128, bmem_depth=8, omem_depth=256, dmem_depth=4),
    # 9-bit activations (36-bit words: a narrow second beat) at the smallest accumulator.
    "5x4-a9w6-accmin-m4": AccelSpec(rows=5, cols=4, weight_bits=6, act_bits=9, acc_bits=16, sparse_m=4,
                                    amem_depth=128, wmem_depth=64, bmem_depth=4, omem_depth=128, dmem_depth=4),
    # One column (no write-back: COLS < SPARSE_M), 11-bit activations.
    "6x1-a11w5-m4": AccelSpec(rows=6, cols=1, weight_bits=5, act_bits=11, acc_bits=22, sparse_m=4,
                              amem_depth=256, wmem_depth=256, bmem_depth=32, omem_depth=256, dmem_depth=2),
    # One row of 12 columns (COLS / 4 = 3 words per output row: no write-back), 12-bit activations.
    "1x12-a12w4-m4": AccelSpec(rows=1, cols=12, weight_bits=4, act_bits=12, acc_bits=20, sparse_m=4,
                               amem_depth=256, wmem_depth=128, bmem_depth=8, omem_depth=128, dmem_depth=4),
    # Dense-only with one column, 2-bit operands, smallest accumulator (5 bits), tiny memories.
    "7x1-a2w2-accmin-m0": AccelSpec(rows=7, cols=1, weight_bits=2, act_bits=2, acc_bits=5, sparse_m=0,
                                    amem_depth=32, wmem_depth=32, bmem_depth=8, omem_depth=32, dmem_depth=4),
    # The flow's default array size (compiler.choose_spec), 10-bit activations.
    "8x8-a10w8-m4": AccelSpec(rows=8, cols=8, weight_bits=8, act_bits=10, acc_bits=28, sparse_m=4,
                              amem_depth=1024, wmem_depth=512, bmem_depth=16, omem_depth=512, dmem_depth=4),
    # The largest array the draws reach (stimulus.MAX_ARRAY_SIZE), 16-bit activations.
    "16x16-a16w8-m4": AccelSpec(rows=16, cols=16, weight_bits=8, act_bits=16, acc_bits=30, sparse_m=4,
                                amem_depth=1024, wmem_depth=512, bmem_depth=16, omem_depth=512, dmem_depth=4),
}
DRAWS = int(os.environ.get("ACCEL_PARAM_DRAWS", "2"))
COUNTS = {"extremes": 4, "gemms": 40, "convs": 8, "pools": 8, "chains": 4}


def counts_from_env() -> dict[str, int]:
    """Programs per build: ACCEL_PARAM_<KIND> (e.g. ACCEL_PARAM_GEMMS) overrides COUNTS."""
    return {k: int(os.environ.get(f"ACCEL_PARAM_{k.upper()}", v)) for k, v in COUNTS.items()}


# ------------------------------------------------------------------ programs (pure: no simulator)

@dataclass(frozen=True)
class Readout:
    """Results the host gets back: ``expected`` codes (rows x cols) of ``bits`` bits, signed or not,
    compared where ``mask`` is set (None: everywhere)."""

    expected: np.ndarray
    bits: int
    signed: bool
    mask: np.ndarray | None = None

    @property
    def count(self) -> int:
        return int(self.expected.size)

    def check(self, beats: list[int], what: str) -> None:
        rows, cols = self.expected.shape
        got = golden.decode_outputs(beats, rows, cols, self.bits, self.signed)
        bad = got != self.expected if self.mask is None else (got != self.expected) & self.mask
        if bad.any():
            at = tuple(int(v) for v in np.argwhere(bad)[0])
            raise AssertionError(f"{what}: result {at} is {got[at]}, expected {self.expected[at]} "
                                 f"({int(bad.sum())} of {int(bad.size if self.mask is None else self.mask.sum())} differ)")


@dataclass(frozen=True)
class Case:
    """One program: load ``beats``, start, expect ``cycles`` (perf_cycles; start->done too when nothing
    streams) and the ``stream`` results in order; then each read-out command and what it returns."""

    what: str
    beats: list[int]
    cycles: int
    stream: tuple[Readout, ...] = ()
    readouts: tuple[tuple[list[int], Readout], ...] = ()

    @property
    def stream_beats(self) -> int:
        return sum(r.count for r in self.stream)

    def check(self, beats: list[int], perf_cycles: int, start_done: int | None, read: list[list[int]]) -> None:
        """Raise AssertionError naming the program where the run differs from the prediction."""
        assert perf_cycles == self.cycles, f"{self.what}: perf_cycles {perf_cycles} != predicted {self.cycles}"
        if not self.stream and start_done is not None:
            assert start_done == self.cycles, f"{self.what}: start->done {start_done} != predicted {self.cycles}"
        assert len(beats) == self.stream_beats, f"{self.what}: {len(beats)} result beats, expected {self.stream_beats}"
        at = 0
        for i, r in enumerate(self.stream):
            r.check(beats[at:at + r.count], f"{self.what}, streamed part {i}")
            at += r.count
        for i, ((_, r), got) in enumerate(zip(self.readouts, read)):
            r.check(got, f"{self.what}, read-out {i}")


class _NoFit(Exception):
    """A drawn program does not fit the build's memories (drawn again, smaller)."""


def _place(rng: np.random.Generator, depth: int, need: int, name: str) -> int:
    """A random base address for ``need`` words in a memory of ``depth`` words (most of them low)."""
    if need > depth:
        raise _NoFit(f"{name} memory: {need} words of {depth}")
    return int(rng.integers(0, min(depth - need, 64) + 1))


def _dim(rng: np.random.Generator, hi: int, scale: float) -> int:
    return int(rng.integers(1, max(1, round(hi * scale)) + 1))


def gemm_case(spec: AccelSpec, rng: np.random.Generator, what: str, scale: float) -> Case:
    """A random dense layer (any shape up to 24 x 24 x 24, N:4-pruned half the time on a sparse
    build) at random memory addresses, streamed out or read back from the output memory."""
    act_signed = bool(rng.integers(2))
    m, n = _dim(rng, 24, scale), _dim(rng, 24, scale)
    k = min(_dim(rng, 24, scale), spec.max_depth(act_signed))
    n_of_m = (int(rng.integers(1, 5)), 4) if spec.sparse_m and rng.random() < 0.5 else None
    layer = random_layer(spec, rng, n_of_m=n_of_m, shape=(m, k, n), act_signed=act_signed)
    _, nt, kg = golden.tile_counts(spec, layer)
    for name, need, depth in (("activation", m * kg, spec.amem_depth), ("output", m * nt, spec.omem_depth),
                              ("weight", len(golden.pack_weights(spec, layer.weights).words), spec.wmem_depth),
                              ("bias", nt, spec.bmem_depth)):
        _place(rng, depth, need, name)
    bases = random_bases(spec, layer, rng)
    stream_out = bool(rng.integers(2))
    img = golden.layer_image(spec, layer, bases, stream_out=stream_out)
    out = Readout(img.expected.outputs, layer.out_bits, layer.out_signed)
    what = f"{what} {m}x{k}x{n}{' %d:4' % n_of_m[0] if n_of_m else ''}"
    if stream_out:
        return Case(what, img.beats, img.expected.cycles, (out,))
    return Case(what, img.beats, img.expected.cycles, (), ((golden.readout_command(bases.o, m, n), out),))


def extreme_case(spec: AccelSpec, rng: np.random.Generator, what: str, scale: float) -> Case:
    """The largest products (most-negative or unsigned-largest activations times the most-negative or
    most-positive weight) summed over the deepest K the accumulator bound allows (at most 600), raw
    accumulators out."""
    act_signed = bool(rng.integers(2))
    a_lo, a_hi = act_range(spec, act_signed)
    w_lo, w_hi = weight_range(spec)
    k = max(1, min(spec.max_depth(act_signed), round(600 * scale)))
    m, n = _dim(rng, spec.rows + 1, scale), _dim(rng, spec.cols + 1, scale)
    a = np.full((m, k), a_lo if act_signed else a_hi)
    w = np.full((k, n), w_lo if rng.integers(2) else w_hi)
    layer = Layer(a, w, out_bits=spec.acc_bits, act_signed=act_signed)
    _, nt, kg = golden.tile_counts(spec, layer)
    words = len(golden.pack_weights(spec, w).words)
    bases = Bases(_place(rng, spec.amem_depth, m * kg, "activation"), _place(rng, spec.wmem_depth, words, "weight"),
                  _place(rng, spec.bmem_depth, nt, "bias"), _place(rng, spec.omem_depth, m * nt, "output"))
    img = golden.layer_image(spec, layer, bases, stream_out=True)
    return Case(f"{what} {m}x{k}x{n} {'signed' if act_signed else 'unsigned'}", img.beats, img.expected.cycles,
                (Readout(img.expected.outputs, spec.acc_bits, True),))


def conv_case(spec: AccelSpec, rng: np.random.Generator, what: str, scale: float) -> Case:
    """A random conv descriptor (batch 1..3, grid up to 8 x 8, 1..9 channels, kernel up to 3 x 3 with
    K within the accumulator bound, 1..11 filters, compressed or dense packing): valid pixels read
    back from the output memory and, where the build writes back, re-read from the activation
    memory by an identity dense layer."""
    lanes = spec.lanes
    act_signed = bool(rng.integers(2))
    kmax = spec.max_depth(act_signed)
    b = _dim(rng, 3, scale)
    h, w = _dim(rng, 8, scale), _dim(rng, 8, scale)
    c, n = _dim(rng, 9, scale), _dim(rng, 11, scale)
    kh, kw = int(rng.integers(1, min(h, 3) + 1)), int(rng.integers(1, min(w, 3) + 1))
    while kh * kw > kmax:
        kh, kw = (kh - 1, kw) if kh >= kw else (kh, kw - 1)
    c = min(c, kmax // (kh * kw))
    oh, ow = h - kh + 1, w - kw + 1
    base = random_layer(spec, rng, shape=(b * oh * ow, kh * kw * c, n), act_signed=act_signed)
    x = rng.integers(*act_range(spec, act_signed), size=(b, h, w, c), endpoint=True)
    layer = replace(base, inputs=golden.im2col(x, kh, kw))
    valid = np.zeros((b, h, w, n), dtype=np.int64)
    valid[:, :oh, :ow] = golden.compute(spec, layer)[1].reshape(b, oh, ow, n)
    mask = np.zeros((b, h, w, n), dtype=bool)
    mask[:, :oh, :ow] = True
    packed = golden.pack_weights(spec, golden.conv_weights(spec, layer.weights.reshape(kh, kw, c, n)),
                                 skip_zeros=bool(rng.integers(2)), offsets=golden.conv_offsets(spec, kh, kw, c, w))
    m, cg, nt = b * h * w, ceil_div(c, lanes), ceil_div(n, spec.cols)
    try:
        spec.check_writeback()
        write_back = layer.out_bits <= spec.act_bits and spec.dmem_depth >= 2
    except CodesignError:
        write_back = False
    a_words = golden.activation_words(spec, x.reshape(-1, c))
    row = spec.amem_write_words    # a write-back starts on a row of the activation memory
    a0 = _place(rng, spec.amem_depth, len(a_words), "activation")
    wb_words = m * spec.writeback_stride(n)
    if write_back and ceil_div(a0 + len(a_words), row) * row + wb_words > spec.amem_depth:
        a0 = 0     # the write-back region behind the inputs needs the room below them
        write_back = ceil_div(len(a_words), row) * row + wb_words <= spec.amem_depth
    wb = ceil_div(a0 + len(a_words), row) * row
    rb_words = len(golden.pack_weights(spec, np.eye(n, dtype=np.int64)).words) if write_back else 0
    w0 = _place(rng, spec.wmem_depth, len(packed.words) + rb_words, "weight")
    b0 = _place(rng, spec.bmem_depth, nt * (1 + write_back), "bias")
    o0 = _place(rng, spec.omem_depth, m * nt * (1 + write_back), "output")
    bases = Bases(a0, w0, b0, o0)
    desc = golden.Descriptor.for_layer(spec, layer, bases, stream_out=False, last=not write_back,
                                       write_back=wb if write_back else None, m=m, row_stride=cg)
    beats = (golden.load_command(golden.TARGET_ACTIVATIONS, a0, a_words, spec.amem_width)
             + golden.load_command(golden.TARGET_WEIGHTS, w0, list(packed.words), spec.wmem_width)
             + golden.load_command(golden.TARGET_BIASES, b0, golden.bias_words(spec, layer.bias, n, layer.bias_shift),
                                   spec.bmem_width)
             + golden.load_command(golden.TARGET_DESCRIPTORS, 0, [desc.word()], DESCRIPTOR_BITS))
    cycles = golden.layer_cycles(spec, m, packed.steps())
    stream: tuple[Readout, ...] = ()
    if write_back:
        rb_beats, rb_cycles = identity_readback(spec, m, n, layer.out_signed,
                                                Bases(wb, w0 + len(packed.words), b0 + nt, o0 + m * nt), 1,
                                                spec.writeback_stride(n))
        beats += rb_beats
        cycles += rb_cycles
        # The identity layer's raw accumulators are the written-back codes themselves.
        stream = (Readout(valid.reshape(m, n), spec.acc_bits, True, mask.reshape(m, n)),)
    out = Readout(valid.reshape(m, n), layer.out_bits, layer.out_signed, mask.reshape(m, n))
    return Case(f"{what} {b}x{h}x{w}x{c} * {kh}x{kw}x{n}{' write-back' if write_back else ''}", beats, cycles,
                stream, ((golden.readout_command(o0, m, n), out),))


def pool_case(spec: AccelSpec, rng: np.random.Generator, what: str, scale: float) -> Case:
    """A random max pool (signed or unsigned codes, 1..3 x 1..3 windows) over a stored grid larger
    than its valid region, pixels possibly more words apart than their channel groups; the pooled
    grid is streamed out by an identity dense layer."""
    b = _dim(rng, 3, scale)
    ph, pw = (int(v) for v in rng.integers(1, 4, 2))
    if ph * pw == 1:   # a window has two elements or more (PoolDescriptor)
        pw = 2
    h, w = ph + _dim(rng, 8 - ph, scale) - 1, pw + _dim(rng, 8 - pw, scale) - 1
    hs, ws = h + int(rng.integers(0, 3)), w + int(rng.integers(0, 3))
    c = _dim(rng, 9, scale)
    signed = bool(rng.integers(2))
    x = rng.integers(*act_range(spec, signed), size=(b, hs, ws, c), endpoint=True)
    expected = golden.maxpool(x[:, :h, :w], ph, pw)
    oh, ow = h // ph, w // pw
    cg = ceil_div(c, spec.lanes)
    kg = cg + int(rng.integers(0, 3))
    a_words = golden.activation_words(spec, x.reshape(-1, c), kg)
    m = b * oh * ow
    a0 = _place(rng, spec.amem_depth, len(a_words) + m * cg, "activation")
    out = a0 + len(a_words) + int(rng.integers(0, spec.amem_depth - a0 - len(a_words) - m * cg + 1))
    pool = golden.PoolDescriptor(b, cg, oh, ow, ph, pw, a0, out, ws * kg, hs * ws * kg, signed, pixel_stride=kg)
    nt = ceil_div(c, spec.cols)
    rb_words = len(golden.pack_weights(spec, np.eye(c, dtype=np.int64)).words)
    rb_bases = Bases(out, _place(rng, spec.wmem_depth, rb_words, "weight"), _place(rng, spec.bmem_depth, nt, "bias"),
                     _place(rng, spec.omem_depth, m * nt, "output"))
    if spec.dmem_depth < 2:
        raise _NoFit("descriptor memory")
    rb_beats, rb_cycles = identity_readback(spec, m, c, signed, rb_bases, 1)
    beats = (golden.load_command(golden.TARGET_ACTIVATIONS, a0, a_words, spec.amem_width)
             + golden.load_command(golden.TARGET_DESCRIPTORS, 0, [pool.word()], DESCRIPTOR_BITS) + rb_beats)
    return Case(f"{what} {b}x{h}x{w} in {hs}x{ws}x{c}, {kg} words per pixel, pool {ph}x{pw}", beats,
                pool.cycles + rb_cycles, (Readout(expected.reshape(m, c), spec.acc_bits, True),))


def chain_case(spec: AccelSpec, rng: np.random.Generator, what: str, scale: float) -> Case:
    """Two or three descriptors from one start (as many as DMEM holds), each layer's results written
    back into the activation memory as the next layer's inputs; the later layers stream their
    results, the first is read back from the output memory."""
    spec.check_writeback()
    count = int(rng.integers(2, min(3, spec.dmem_depth) + 1))
    kmax = spec.max_depth(False)        # a later layer's inputs may be unsigned
    m = _dim(rng, 13, scale)
    dims = [min(_dim(rng, 13, scale), kmax) for _ in range(count + 1)]
    layers: list[Layer] = []
    for i in range(count):
        if layers:   # inputs: the previous layer's results, signed or not as its output type
            prev = layers[-1]
            layer = random_layer(spec, rng, shape=(m, dims[i], dims[i + 1]), act_signed=prev.out_signed)
            layer = replace(layer, inputs=golden.compute(spec, prev)[1])
        else:
            layer = random_layer(spec, rng, shape=(m, dims[i], dims[i + 1]))
        layers.append(layer)
    row = spec.amem_write_words
    a_next, w_next, b_next, o_next = (_place(rng, d, 1, "") // 4 for d in (spec.amem_depth, spec.wmem_depth,
                                                                              spec.bmem_depth, spec.omem_depth))
    stride = None   # words per input row (written back: whole column tiles)
    beats, images = [], []
    for i, layer in enumerate(layers):
        _, nt, kg = golden.tile_counts(spec, layer)
        bases = Bases(a_next, w_next, b_next, o_next)
        # The results go behind the inputs (a write-back starts on a row), or below them when the
        # memory ends first.
        a_next = ceil_div(a_next + layer.m * (stride or kg) + int(rng.integers(2)), row) * row
        if a_next + layer.m * spec.writeback_stride(layer.n) > spec.amem_depth and \
                layer.m * spec.writeback_stride(layer.n) <= bases.a:
            a_next = 0
        w_next += len(golden.pack_weights(spec, layer.weights).words)
        b_next, o_next = b_next + nt, o_next + layer.m * nt
        img = golden.layer_image(spec, layer, bases, stream_out=i > 0, descriptor_index=i, last=i == count - 1,
                                 write_back=a_next if i < count - 1 else None, load_inputs=i == 0, row_stride=stride)
        stride = spec.writeback_stride(layer.n)
        beats += img.beats
        images.append(img)
    l0 = layers[0]
    first = Readout(images[0].expected.outputs, l0.out_bits, l0.out_signed)
    return Case(f"{what} {m} x {' -> '.join(map(str, dims))}", beats, sum(img.expected.cycles for img in images),
                tuple(Readout(img.expected.outputs, lay.out_bits, lay.out_signed) for img, lay in zip(images[1:], layers[1:])),
                ((golden.readout_command(images[0].descriptor.bases.o, l0.m, l0.n), first),))


BUILDERS = {"extremes": extreme_case, "gemms": gemm_case, "convs": conv_case, "pools": pool_case, "chains": chain_case}


def _draw(builder, spec: AccelSpec, rng: np.random.Generator, what: str) -> Case:
    """A program from ``builder`` that the build's memories hold: drawn again, smaller, until it fits."""
    last: Exception | None = None
    for attempt in range(60):
        try:
            return builder(spec, rng, what, 0.7 ** (attempt // 2))
        except (_NoFit, CodesignError) as exc:
            last = exc
    raise AssertionError(f"{what}: no program fits {spec} ({last})")


def param_cases(spec: AccelSpec, seed: int, counts: dict[str, int] | None = None) -> list[Case]:
    """The programs one build runs (``counts`` per kind, default COUNTS), all drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    counts = COUNTS if counts is None else counts
    try:
        spec.check_writeback()
        chains = True
    except CodesignError:
        chains = False
    cases = []
    for kind, count in counts.items():
        if kind == "chains" and not chains:
            continue
        cases += [_draw(BUILDERS[kind], spec, rng, f"{kind[:-1]} {i} (seed {seed})") for i in range(count)]
    return cases


# ------------------------------------------------------------------ cocotb side

RESULTS_ENV = "ACCEL_PARAM_RESULTS"   # where the cocotb test writes what the RTL returned (JSON)


@cocotb.test()
async def param_point(dut):
    """Every program of this build's ``param_cases``, in order, on one accelerator instance."""
    spec = spec_from_env()
    seed = int(os.environ["SEED"])
    cases = param_cases(spec, seed, counts_from_env())
    dut._log.info("param_point: %s, seed %d, %d programs", spec, seed, len(cases))
    tb = AccelTB(dut, spec)
    await tb.reset()
    record = []
    wall = time.perf_counter()
    for i, case in enumerate(cases):
        tb.backpressure(random.Random(seed + i) if i % 2 else None)
        await tb.load(case.beats)
        res = await tb.run(expect_beats=case.stream_beats)
        assert res.error == 0, f"{case.what}: error status {res.error:#x} ({status.describe(res.error)})"
        read = []
        for command, readout in case.readouts:
            await tb.load(command)
            read.append(await tb.collect(readout.count))
        record.append({"what": case.what, "beats": res.beats, "perf_cycles": res.perf_cycles, "read": read})
        case.check(res.beats, res.perf_cycles, res.cycles, read)
    seconds = time.perf_counter() - wall
    if os.environ.get(RESULTS_ENV):
        Path(os.environ[RESULTS_ENV]).write_text(json.dumps({"seconds": seconds, "cases": record}))
    dut._log.info("param_point: %d programs exact, cycles as predicted, %.1f s (seed %d)", len(cases), seconds, seed)


# ------------------------------------------------------------------ the interpreter beside the RTL

def interpret(spec: AccelSpec, cases: list[Case]) -> tuple[list[dict], float]:
    """Run ``cases`` in order on one interpreter instance; (per case what it returned, seconds)."""
    acc = Accelerator(spec)
    record = []
    wall = time.perf_counter()
    for case in cases:
        acc.load(case.beats)
        res = acc.run()
        read = []
        for command, _ in case.readouts:
            before = len(acc.stream)
            acc.load(command)
            read.append(acc.stream[before:])
        record.append({"what": case.what, "beats": res.beats, "perf_cycles": res.cycles, "read": read,
                       "status": res.status})
    return record, time.perf_counter() - wall


def _specified(readouts) -> list[bool]:
    """Per result beat of a stream or read-out: whether golden specifies it (a Readout's mask)."""
    return [bool(v) for r in readouts
            for v in (np.ones(r.count, dtype=bool) if r.mask is None else r.mask.reshape(-1))]


def compare(cases: list[Case], rtl: list[dict], interp: list[dict]) -> tuple[list[str], int]:
    """Where the interpreter differs from the RTL on a result golden specifies (and from the golden
    prediction), one line each; and how many unspecified results differ. Unspecified results (a conv's
    pixels past the valid region) read memory the layer's own write-back may already have written on
    the RTL; the interpreter does every read of a column tile before its writes."""
    problems, unspecified = [], 0
    for case, r, i in zip(cases, rtl, interp):
        if i["status"]:
            problems.append(f"{case.what}: interpreter error status {i['status']:#x} ({status.describe(i['status'])})")
        if i["perf_cycles"] != r["perf_cycles"]:
            problems.append(f"{case.what}: interpreter {i['perf_cycles']} cycles, RTL {r['perf_cycles']}")
        parts = [("stream", i["beats"], r["beats"], _specified(case.stream))] + [
            (f"read-out {k}", x, y, _specified([readout]))
            for k, (x, y, (_, readout)) in enumerate(zip(i["read"], r["read"], case.readouts))]
        for name, a, b, specified in parts:
            if len(a) != len(b):
                problems.append(f"{case.what}: {name}: interpreter {len(a)} beats, RTL {len(b)}")
                continue
            bad = [k for k, (x, y, known) in enumerate(zip(a, b, specified)) if x != y and known]
            unspecified += sum(x != y and not known for x, y, known in zip(a, b, specified))
            if bad:
                problems.append(f"{case.what}: {name} differs from beat {bad[0]} on ({len(bad)} of {sum(specified)} "
                                f"specified beats)")
        try:
            case.check(i["beats"], i["perf_cycles"], None, i["read"])
        except AssertionError as exc:
            problems.append(f"interpreter vs golden: {exc}")
    if len(rtl) != len(cases):
        problems.append(f"the RTL returned {len(rtl)} of {len(cases)} programs")
    return problems, unspecified


# ------------------------------------------------------------------ pytest side

SIM_DIR = Path(__file__).resolve().parent


def run_point(spec: AccelSpec, build_dir: Path, seed: int, extra_env: dict[str, str] | None = None) -> Path:
    """Build accel_top for ``spec`` under ``build_dir`` and run ``param_point`` on it."""
    return run_top(spec, "test_params", SIM_DIR, build_dir, "verilator", {"SEED": str(seed), **(extra_env or {})})


def check_point(spec: AccelSpec, build_dir: Path, seed: int) -> None:
    """The RTL runs this build's programs exactly as golden predicts, and the interpreter returns what
    the RTL returned, beat for beat and cycle for cycle."""
    result_file = build_dir / "rtl_results.json"
    result_file.unlink(missing_ok=True)
    run_point(spec, build_dir, seed, {RESULTS_ENV: str(result_file)})
    cases = param_cases(spec, seed, counts_from_env())
    problems, unspecified = compare(cases, json.loads(result_file.read_text())["cases"], interpret(spec, cases)[0])
    print(f"interpreter vs RTL: {unspecified} unspecified results differ")
    assert not problems, "interpreter vs RTL: " + "; ".join(problems[:5])


def random_point(seed: int, index: int) -> AccelSpec:
    """Draw ``index`` of a seed (the seed alone replays it)."""
    return draw_spec(np.random.default_rng([seed, index]))


@pytest.mark.parametrize("name", list(CORNERS))
def test_corner(name, build_root, seed):
    spec = CORNERS[name]
    print(f"{name}: {spec}")
    check_point(spec, build_root / "params" / name, seed)


@pytest.mark.parametrize("index", range(DRAWS), ids=[f"random-{i}" for i in range(DRAWS)])
def test_random_point(index, build_root, seed):
    spec = random_point(seed, index)
    print(f"random-{index}: SEED={seed} {spec}")
    check_point(spec, build_root / "params" / f"random-{index}", seed)
