"""Conv2D address generation and max pooling on the top level (accel_top) against the reference model.

Random small shapes (batch, grid, channels, kernel, filters, pool windows; seed logged):
* a conv descriptor reads the input grid through per-row address generation (im2col in hardware);
  its results are read back from the output memory (valid pixels compared) and, written back into
  the activation memory, read again by an identity dense layer (checks the pixel-major write-back);
  with the no_omem flag (results only written back) the output memory must stay untouched;
* a pool descriptor reads a stored grid (valid region possibly smaller than the stored one, pixels
  possibly more words apart than their channel groups), writes the compact pooled grid; an
  identity dense layer streams it out.
Measured cycles (perf_cycles and start->done) must equal codesign.accel.golden's prediction.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import cocotb
import numpy as np
import pytest

from codesign.accel import golden
from codesign.accel.golden import Bases, Layer, ceil_div
from codesign.accel.harness import AccelTB
from codesign.accel.sim import run_top, spec_from_env
from codesign.accel.spec import DESCRIPTOR_BITS, AccelSpec
from stimulus import act_range, random_layer

pytestmark = pytest.mark.slow   # builds and runs a simulator

SPECS = {
    "4x4_int8": AccelSpec(rows=4, cols=4, weight_bits=8, act_bits=8, acc_bits=24, sparse_m=4, amem_depth=2048),
    # dense-only: one activation per word, an output row is one activation-memory row of 8 words
    # written in one cycle (two block RAMs per bank, four words each)
    "4x8_int6_dense": AccelSpec(rows=4, cols=8, weight_bits=6, act_bits=6, acc_bits=20, sparse_m=0, amem_depth=8192),
}
CONVS = int(os.environ.get("ACCEL_CONVS", "25"))
POOLS = int(os.environ.get("ACCEL_POOLS", "25"))


def _rng() -> tuple[np.random.Generator, int]:
    seed = int(os.environ["SEED"])
    return np.random.default_rng(seed), seed


def identity_readback(spec: AccelSpec, m: int, c: int, act_signed: bool, bases: Bases, index: int,
                      row_stride: int | None = None):
    """A dense layer with identity weights that streams out ``m`` rows of ``c`` activations read from
    ``bases.a``, ``row_stride`` words apart (raw accumulators = the codes themselves): load beats,
    descriptor, cycles."""
    layer = Layer(np.zeros((m, c), dtype=np.int64), np.eye(c, dtype=np.int64), out_bits=spec.acc_bits,
                  act_signed=act_signed)
    packed = golden.pack_weights(spec, layer.weights)
    desc = golden.Descriptor.for_layer(spec, layer, bases, stream_out=True, last=True, row_stride=row_stride)
    beats = (golden.load_command(golden.TARGET_WEIGHTS, bases.w, list(packed.words), spec.wmem_width)
             + golden.load_command(golden.TARGET_BIASES, bases.b, golden.bias_words(spec, None, c, 0), spec.bmem_width)
             + golden.load_command(golden.TARGET_DESCRIPTORS, index, [desc.word()], DESCRIPTOR_BITS))
    return beats, golden.layer_cycles(spec, m, packed.steps())


def decode_raw(beats: list[int], m: int, n: int, acc_bits: int) -> np.ndarray:
    return golden.decode_outputs(beats, m, n, acc_bits, True)


@cocotb.test()
async def random_convs(dut):
    """Random conv layers (valid, stride 1) on random grids; outputs, write-back and cycles."""
    spec = spec_from_env()
    rng, seed = _rng()
    tb = AccelTB(dut, spec)
    await tb.reset()
    lanes = spec.lanes
    for trial in range(CONVS):
        what = f"conv {trial} (seed {seed})"
        b = int(rng.integers(1, 4))
        h, w = (int(v) for v in rng.integers(1, 9, 2))
        c, n = int(rng.integers(1, 10)), int(rng.integers(1, 12))
        kh, kw = int(rng.integers(1, min(h, 3) + 1)), int(rng.integers(1, min(w, 3) + 1))
        oh, ow = h - kh + 1, w - kw + 1
        base = random_layer(spec, rng, shape=(b * oh * ow, kh * kw * c, n))
        x = rng.integers(*act_range(spec, base.act_signed), size=(b, h, w, c), endpoint=True)
        layer = replace(base, inputs=golden.im2col(x, kh, kw))
        expected = golden.compute(spec, layer)[1].reshape(b, oh, ow, n)
        packed = golden.pack_weights(spec, golden.conv_weights(spec, layer.weights.reshape(kh, kw, c, n)),
                                     skip_zeros=bool(rng.integers(2)), offsets=golden.conv_offsets(spec, kh, kw, c, w))
        m, cg, nt = b * h * w, ceil_div(c, lanes), ceil_div(n, spec.cols)
        a_words = golden.activation_words(spec, x.reshape(-1, c))
        a0 = int(rng.integers(0, 64))
        row = spec.amem_write_words    # a write-back starts on a row of the activation memory
        wb = ceil_div(a0 + len(a_words) + int(rng.integers(0, 64)), row) * row
        w0 = int(rng.integers(0, 64))
        bases = Bases(a0, w0, int(rng.integers(0, 8)), int(rng.integers(0, 64)))
        # The identity read-back layer writes its results right behind the conv's output region,
        # which is read again afterwards: both must fit in the output memory without wrapping.
        write_back = layer.out_bits <= spec.act_bits and bases.o + 2 * m * nt <= spec.omem_depth
        keep = not write_back or bool(rng.integers(2))     # no_omem: results only written back
        desc = golden.Descriptor.for_layer(spec, layer, bases, stream_out=False, last=not write_back,
                                           write_back=wb if write_back else None, m=m, row_stride=cg,
                                           keep_outputs=keep)
        if not keep:       # the output memory must stay as it is
            await tb.load(golden.readout_command(bases.o, m, n))
            before = await tb.collect(m * n)
        beats = (golden.load_command(golden.TARGET_ACTIVATIONS, a0, a_words, spec.amem_width)
                 + golden.load_command(golden.TARGET_WEIGHTS, w0, list(packed.words), spec.wmem_width)
                 + golden.load_command(golden.TARGET_BIASES, bases.b, golden.bias_words(spec, layer.bias, n, layer.bias_shift), spec.bmem_width)
                 + golden.load_command(golden.TARGET_DESCRIPTORS, 0, [desc.word()], DESCRIPTOR_BITS))
        predicted = golden.layer_cycles(spec, m, packed.steps())
        if write_back:    # read the written-back pixels again through an identity dense layer
            rb_beats, rb_cycles = identity_readback(
                spec, m, n, layer.out_signed, Bases(wb, w0 + len(packed.words), 16, bases.o + m * nt), 1,
                spec.writeback_stride(n))
            beats += rb_beats
            predicted += rb_cycles
        await tb.load(beats)
        res = await tb.run(expect_beats=m * n if write_back else 0)
        assert res.perf_cycles == predicted, f"{what}: perf_cycles {res.perf_cycles} != predicted {predicted}"
        if not write_back:
            assert res.cycles == predicted, f"{what}: start->done {res.cycles} != predicted {predicted}"
        else:
            back = decode_raw(res.beats, m, n, spec.acc_bits).reshape(b, h, w, n)[:, :oh, :ow]
            back = back & ((1 << layer.out_bits) - 1)
            if layer.out_signed:
                back = np.where(back >= 1 << (layer.out_bits - 1), back - (1 << layer.out_bits), back)
            assert np.array_equal(back, expected), f"{what}: written-back activations differ"
        await tb.load(golden.readout_command(bases.o, m, n))
        beats = await tb.collect(m * n)
        if not keep:
            assert beats == before, f"{what}: a no_omem descriptor wrote the output memory"
            continue
        got = golden.decode_outputs(beats, m, n, layer.out_bits, layer.out_signed)
        got = got.reshape(b, h, w, n)[:, :oh, :ow]
        if not np.array_equal(got, expected):
            bad = tuple(np.argwhere(got != expected)[0])
            raise AssertionError(f"{what}: output {bad} is {got[bad]}, expected {expected[bad]} "
                                 f"(b {b}, grid {h}x{w}x{c}, kernel {kh}x{kw}, filters {n})")
        dut._log.info("%s: %dx%dx%dx%d * %dx%dx%d -> exact, %d cycles", what, b, h, w, c, kh, kw, n, predicted)
    dut._log.info("random_convs: %d convs exact, cycles as predicted (seed %d)", CONVS, seed)


@cocotb.test()
async def random_pools(dut):
    """Random max pools (signed and unsigned codes) over stored grids larger than their valid region."""
    spec = spec_from_env()
    rng, seed = _rng()
    tb = AccelTB(dut, spec)
    await tb.reset()
    lanes = spec.lanes
    for trial in range(POOLS):
        what = f"pool {trial} (seed {seed})"
        b = int(rng.integers(1, 4))
        ph, pw = (int(v) for v in rng.integers(1, 4, 2))
        if ph * pw == 1:   # a window has two elements or more (PoolDescriptor)
            pw = 2
        h, w = int(rng.integers(ph, 9)), int(rng.integers(pw, 9))
        hs, ws = h + int(rng.integers(0, 3)), w + int(rng.integers(0, 3))    # stored grid (a conv's output keeps its input's)
        c = int(rng.integers(1, 10))
        signed = bool(rng.integers(2))
        x = rng.integers(*act_range(spec, signed), size=(b, hs, ws, c), endpoint=True)
        expected = golden.maxpool(x[:, :h, :w], ph, pw)
        oh, ow = h // ph, w // pw
        cg = ceil_div(c, lanes)
        kg = cg + int(rng.integers(0, 3))    # words per stored pixel (a layer's write-back pads them)
        a_words = golden.activation_words(spec, x.reshape(-1, c), kg)
        a0 = int(rng.integers(0, 64))
        out = a0 + len(a_words) + int(rng.integers(0, 16))
        pool = golden.PoolDescriptor(b, cg, oh, ow, ph, pw, a0, out, ws * kg, hs * ws * kg, signed, pixel_stride=kg)
        m = b * oh * ow
        rb_beats, rb_cycles = identity_readback(spec, m, c, signed, Bases(out, 0, 16, 0), 1)
        await tb.load(golden.load_command(golden.TARGET_ACTIVATIONS, a0, a_words, spec.amem_width)
                      + golden.load_command(golden.TARGET_DESCRIPTORS, 0, [pool.word()], DESCRIPTOR_BITS) + rb_beats)
        res = await tb.run(expect_beats=m * c)
        predicted = pool.cycles + rb_cycles
        assert res.perf_cycles == predicted, f"{what}: perf_cycles {res.perf_cycles} != predicted {predicted}"
        got = decode_raw(res.beats, m, c, spec.acc_bits).reshape(b, oh, ow, c)
        if not np.array_equal(got, expected):
            bad = tuple(np.argwhere(got != expected)[0])
            raise AssertionError(f"{what}: pooled {bad} is {got[bad]}, expected {expected[bad]} "
                                 f"(b {b}, grid {h}x{w} in {hs}x{ws}x{c}, {kg} words per pixel, pool {ph}x{pw}, "
                                 f"signed {signed})")
    dut._log.info("random_pools: %d pools exact, cycles as predicted (seed %d)", POOLS, seed)


SIM_DIR = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", list(SPECS))
def test_conv_and_pool(name, build_root, seed):
    run_top(SPECS[name], "test_conv", SIM_DIR, build_root, "verilator", {"SEED": str(seed)})
