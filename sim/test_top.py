"""Top level (accel_top): random GEMMs over AXI4-Stream against the reference model, edge cases,
backpressure, reset in the middle of a transfer, a two-layer descriptor chain; Verilator and Icarus.

Every run checks outputs bit for bit and cycles against codesign.accel.golden: the accelerator's
perf_cycles always, and start->done measured by the testbench when nothing is streamed out.
"""

from __future__ import annotations

import os
import random
from dataclasses import replace
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiStreamFrame

from codesign.accel import golden
from codesign.accel.golden import Bases, Layer, ceil_div
from codesign.accel.harness import AccelTB
from codesign.accel.sim import run_top, spec_from_env
from codesign.accel.spec import AccelSpec
from stimulus import act_range, random_layer, weight_range

pytestmark = pytest.mark.slow   # builds and runs a simulator

SPECS = {
    "4x4_int8": AccelSpec(rows=4, cols=4, weight_bits=8, act_bits=8, acc_bits=24, sparse_m=4),
    "8x8_int4_dense": AccelSpec(rows=8, cols=8, weight_bits=4, act_bits=4, acc_bits=16, sparse_m=0),
    "8x8_int8_2of4": AccelSpec(rows=8, cols=8, weight_bits=8, act_bits=8, acc_bits=32, sparse_m=4),
    # One array row: the controller's ROWS == 1 paths (counters stepped in place, every row a tile's last).
    "1x4_int8_dense": AccelSpec(rows=1, cols=4, weight_bits=8, act_bits=8, acc_bits=24, sparse_m=0),
}
N_OF_M = {"8x8_int8_2of4": (2, 4)}
SMALL = {"1x4_int8_dense": 150}   # random GEMMs of a build that only covers a corner
RANDOM_GEMMS = int(os.environ.get("ACCEL_RANDOM_GEMMS", "340"))


# ------------------------------------------------------------------ cocotb side

def _rng() -> tuple[np.random.Generator, int]:
    seed = int(os.environ["SEED"])
    return np.random.default_rng(seed), seed


def random_bases(spec: AccelSpec, layer: Layer, rng: np.random.Generator) -> Bases:
    _, nt, kg = golden.tile_counts(spec, layer)
    words_w = len(golden.pack_weights(spec, layer.weights).words)

    def pick(depth: int, need: int) -> int:
        return int(rng.integers(0, depth - need + 1))

    return Bases(pick(spec.amem_depth, layer.m * kg), pick(spec.wmem_depth, words_w),
                 pick(spec.bmem_depth, nt), pick(spec.omem_depth, layer.m * nt))


async def run_and_check(tb: AccelTB, layer: Layer, bases: Bases = Bases(), stream_out: bool = True,
                        what: str = "") -> int:
    """Load, run and check one layer; returns its cycle count."""
    spec = tb.spec
    img = golden.layer_image(spec, layer, bases, stream_out=stream_out)
    await tb.load(img.beats)
    res = await tb.run(expect_beats=layer.m * layer.n if stream_out else 0)
    expected = img.expected
    assert res.perf_cycles == expected.cycles, f"{what}: perf_cycles {res.perf_cycles} != predicted {expected.cycles}"
    if not stream_out:
        assert res.cycles == expected.cycles, f"{what}: start->done {res.cycles} != predicted {expected.cycles}"
        await tb.load(golden.readout_command(bases.o, layer.m, layer.n))
        beats = await tb.collect(layer.m * layer.n)
    else:
        beats = res.beats
    got = golden.decode_outputs(beats, layer.m, layer.n, layer.out_bits, layer.out_signed)
    if not np.array_equal(got, expected.outputs):
        bad = np.argwhere(got != expected.outputs)[0]
        raise AssertionError(f"{what}: output {tuple(bad)} is {got[tuple(bad)]}, expected {expected.outputs[tuple(bad)]} "
                             f"({(got != expected.outputs).sum()} of {got.size} differ; layer {layer.m}x{layer.k}x{layer.n}, "
                             f"shift {layer.shift} {layer.rounding} out {layer.out_bits}{'s' if layer.out_signed else 'u'})")
    return res.perf_cycles


@cocotb.test()
async def random_gemms(dut):
    """Random shapes (not multiples of the array), types and memory placements; half with backpressure."""
    spec = spec_from_env()
    rng, seed = _rng()
    count = int(os.environ.get("COUNT", RANDOM_GEMMS))
    n_of_m = tuple(map(int, os.environ["N_OF_M"].split(":"))) if os.environ.get("N_OF_M") else None
    dut._log.info("random_gemms: %d GEMMs, seed %d, spec %s, N:M %s", count, seed, spec, n_of_m)
    tb = AccelTB(dut, spec)
    await tb.reset()
    total_cycles = 0
    for i in range(count):
        tb.backpressure(random.Random(seed + i) if i % 2 else None)
        layer = random_layer(spec, rng, n_of_m=n_of_m)
        total_cycles += await run_and_check(tb, layer, random_bases(spec, layer, rng), stream_out=bool(i % 3),
                                            what=f"GEMM {i} (seed {seed})")
    dut._log.info("random_gemms: %d GEMMs exact, %d accelerator cycles, all cycle counts as predicted", count, total_cycles)


@cocotb.test()
async def edge_cases(dut):
    """Most-negative products at the deepest K, saturation, zero rows/tiles, 1x1x1, unsigned inputs."""
    spec = spec_from_env()
    tb = AccelTB(dut, spec)
    await tb.reset()
    a_lo, a_hi = act_range(spec, True)
    w_lo, w_hi = weight_range(spec)
    kmax = min(spec.max_depth(True), 1000)   # the accumulator bound itself where the memories reach it
    cases = {
        # |acc| reaches kmax * 2**(A+W-2), the largest the bound allows; raw accumulator out.
        "most-negative x most-negative, K = max depth (or 1000)": Layer(
            np.full((2, kmax), a_lo), np.full((kmax, 3), w_lo), out_bits=spec.acc_bits),
        "most-negative x most-positive, K = max depth (or 1000)": Layer(
            np.full((2, kmax), a_lo), np.full((kmax, 2), w_hi), out_bits=spec.acc_bits),
        "unsigned max x most-negative": Layer(
            np.full((2, 5), (1 << spec.act_bits) - 1), np.full((5, 2), w_lo), out_bits=spec.acc_bits, act_signed=False),
        "requant saturation high and low": Layer(
            np.array([[a_hi] * 4, [a_lo] * 4, [1, 0, 0, 0]]), np.array([[w_hi, w_lo, 1]] * 4), shift=1,
            rounding="RND_CONV", out_bits=spec.act_bits),
        "relu then saturation, signed out": Layer(
            np.array([[a_hi] * 4, [a_lo] * 4, [-1, 0, 0, 0]]), np.array([[w_hi, w_lo, 1]] * 4), np.array([0, 0, -1]),
            shift=1, rounding="RND_CONV", out_bits=spec.act_bits, relu=True),
        "unsigned out (quantized_relu)": Layer(
            np.array([[a_hi] * 4, [a_lo] * 4]), np.array([[w_hi, w_lo, 1]] * 4), shift=2, rounding="RND",
            out_bits=spec.act_bits, out_signed=False),
        "1x1x1": Layer(np.array([[a_lo]]), np.array([[w_lo]]), np.array([-3]), bias_shift=2, shift=3,
                       rounding="RND_CONV", out_bits=spec.acc_bits),
        "1x1x1 zero": Layer(np.array([[0]]), np.array([[0]])),
        "all-zero weights (every tile skipped)": Layer(
            np.ones((9, 13), dtype=np.int64), np.zeros((13, 11), dtype=np.int64), np.arange(11) - 5, out_bits=spec.act_bits),
        "all-zero input rows": Layer(
            np.vstack([np.zeros((5, 6), dtype=np.int64), np.full((2, 6), a_hi)]), np.full((6, 3), w_hi), out_bits=spec.acc_bits),
        "half-way values round to even": Layer(
            np.array([[1], [3], [5], [-1], [-3], [-5]]), np.array([[1]]), shift=1, rounding="RND_CONV", out_bits=4),
        "half-way values truncate": Layer(
            np.array([[1], [3], [5], [-1], [-3], [-5]]), np.array([[1]]), shift=1, rounding="TRN", out_bits=4),
    }
    zero_tiles = np.random.default_rng(1).integers(w_lo, w_hi, size=(3 * spec.rows + 2, 2 * spec.cols + 1), endpoint=True)
    zero_tiles[: 2 * spec.rows, :] = 0
    zero_tiles[:, spec.cols: 2 * spec.cols] = 0
    cases["all-zero weight tiles"] = Layer(np.ones((spec.rows + 1, zero_tiles.shape[0]), dtype=np.int64), zero_tiles,
                                           out_bits=spec.acc_bits)
    for stream_out in (True, False):
        for name, layer in cases.items():
            await run_and_check(tb, layer, stream_out=stream_out, what=name)
    dut._log.info("edge_cases: %d cases exact with and without streaming", len(cases))


@cocotb.test()
async def reset_mid_transfer(dut):
    """Reset while a load and while a result stream are in flight, then a correct run."""
    spec = spec_from_env()
    rng, seed = _rng()
    tb = AccelTB(dut, spec)
    await tb.reset()
    layer = random_layer(spec, rng, shape=(12, 10, 9))
    img = golden.layer_image(spec, layer)
    # 1) reset half-way through loading
    await tb.source.send(AxiStreamFrame(img.beats))
    await ClockCycles(dut.clk, len(img.beats) // 2)
    await tb.reset()
    await tb.source.wait()
    await run_and_check(tb, layer, what=f"after reset during load (seed {seed})")
    # 2) reset while results stream out under heavy backpressure
    tb.backpressure(random.Random(seed), pause=0.8)
    await tb.load(img.beats)
    dut.start.value = 1
    await ClockCycles(dut.clk, 1)
    dut.start.value = 0
    accepted = 0
    for _ in range(img.expected.cycles + 1000):      # until a few results have gone out and more wait
        await ClockCycles(dut.clk, 1)
        valid = int(dut.m_axis_tvalid.value)
        accepted += valid & int(dut.m_axis_tready.value)
        if accepted >= 5 and valid:
            break
    assert accepted >= 5 and int(dut.done.value) == 0, "expected the result stream in flight"
    await tb.reset()
    tb.backpressure(None)
    tb.sink.clear()
    await run_and_check(tb, layer, what=f"after reset during read-out (seed {seed})")


@cocotb.test()
async def layer_chain(dut):
    """Three descriptors from one start: each layer's results are written back into the activation
    memory and are the next layer's inputs; layers 1 and 2 stream their results out."""
    spec = spec_from_env()
    rng, seed = _rng()
    tb = AccelTB(dut, spec)
    await tb.reset()
    for trial in range(int(os.environ.get("CHAINS", "8"))):
        m, dims = int(rng.integers(1, 14)), [int(x) for x in rng.integers(1, 14, 4)]
        layers = []
        for i in range(3):
            layer = random_layer(spec, rng, shape=(m, dims[i], dims[i + 1]))
            if layers:   # inputs: the previous layer's results, signed or not as its output type
                prev = layers[-1]
                layer = replace(layer, inputs=golden.compute(spec, prev)[1], act_signed=prev.out_signed)
            layers.append(layer)
        a_next, w_next, b_next, o_next = 0, 0, 0, 0
        row, stride = spec.amem_write_words, None   # stride: words per input row (written back: whole tiles)
        beats, images = [], []
        for i, layer in enumerate(layers):
            _, nt, kg = golden.tile_counts(spec, layer)
            bases = Bases(a_next, w_next, b_next, o_next)
            a_next = ceil_div(a_next + layer.m * (stride or kg) + 1, row) * row   # a write-back starts on a row
            w_next += len(golden.pack_weights(spec, layer.weights).words)
            b_next, o_next = b_next + nt, o_next + layer.m * nt
            img = golden.layer_image(spec, layer, bases, stream_out=i > 0, descriptor_index=i, last=i == 2,
                                     write_back=a_next if i < 2 else None, load_inputs=i == 0, row_stride=stride)
            stride = spec.writeback_stride(layer.n)
            beats += img.beats
            images.append(img)
        await tb.load(beats)
        expect = [layers[i].m * layers[i].n for i in (1, 2)]
        res = await tb.run(expect_beats=sum(expect))
        predicted = sum(img.expected.cycles for img in images)
        assert res.perf_cycles == predicted, f"chain {trial} (seed {seed}): perf_cycles {res.perf_cycles} != {predicted}"
        for i, part in ((1, res.beats[:expect[0]]), (2, res.beats[expect[0]:])):
            got = golden.decode_outputs(part, layers[i].m, layers[i].n, layers[i].out_bits, layers[i].out_signed)
            assert np.array_equal(got, images[i].expected.outputs), f"chain {trial} (seed {seed}): layer {i} outputs differ"
        await tb.load(golden.readout_command(0, layers[0].m, layers[0].n))
        l0 = layers[0]
        got0 = golden.decode_outputs(await tb.collect(l0.m * l0.n), l0.m, l0.n, l0.out_bits, l0.out_signed)
        assert np.array_equal(got0, images[0].expected.outputs), f"chain {trial} (seed {seed}): layer 0 outputs differ"
    dut._log.info("layer_chain: %s three-layer chains exact, cycles as predicted (seed %d)", trial + 1, seed)


# ------------------------------------------------------------------ pytest side

SIM_DIR = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", list(SPECS))
def test_top(name, build_root, seed):
    env = {"SEED": str(seed)}
    if name in SMALL:
        env["COUNT"] = str(SMALL[name])
    if name in N_OF_M:
        env["N_OF_M"] = "{}:{}".format(*N_OF_M[name])
    run_top(SPECS[name], "test_top", SIM_DIR, build_root, "verilator", env)


def test_top_icarus(build_root, seed):
    """The same benches on Icarus Verilog (4-state: an X reaching an output would fail the check).

    Icarus is there for X-propagation, not for more random stimulus (the Verilator builds run that):
    six random GEMMs take every pairing of backpressure on/off (GEMM i % 2) and streamed or read back
    output (i % 3), and two chains cover the write-back; edge cases and resets run in full."""
    run_top(SPECS["4x4_int8"], "test_top", SIM_DIR, build_root, "icarus",
            {"SEED": str(seed), "COUNT": os.environ.get("ACCEL_ICARUS_GEMMS", "6"),
             "CHAINS": os.environ.get("ACCEL_ICARUS_CHAINS", "2")})
