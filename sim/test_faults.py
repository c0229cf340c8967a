"""Error status of accel_top (codesign.accel.status): malformed programs and commands during a run.

One case per fault: a GEMM descriptor with M, N, MT, NT or KG zero; a weight-list header with no
steps (first and a later column tile); each base address past its memory's depth (and wb_base past
it without write_back, which is no fault); a chain of descriptors without `last` filling the
descriptor memory; a pool descriptor with a zero field or a base past the depth; memory-load beats
and a read-out command while a run is going. Every faulty run must end with `done` within BOUND
cycles and `error` equal to the expected bit, must not stream results or (where the fault comes
before any compute) write the output or activation memory, and the next good program, started
without a reset, must be exact in outputs and cycles.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiStreamFrame

from codesign.accel import golden, status
from codesign.accel.golden import Bases, Layer
from codesign.accel.harness import AccelTB
from codesign.accel.sim import run_top, spec_from_env
from codesign.accel.spec import DESCRIPTOR_BITS
from stimulus import act_range, random_layer
from test_conv import decode_raw, identity_readback
from test_top import SPECS as TOP_SPECS

pytestmark = pytest.mark.slow   # builds and runs a simulator

# Builds shared with test_top (same build directories): a sparse one and a dense-only one.
SPECS = {name: TOP_SPECS[name] for name in ("4x4_int8", "8x8_int4_dense")}
BOUND = 2_000   # cycles from start to done of any faulty run here


def _rng() -> tuple[np.random.Generator, int]:
    seed = int(os.environ["SEED"])
    return np.random.default_rng(seed), seed


def set_bits(fields: list[int], index: int, value: int, lo: int = 0, width: int = 32) -> list[int]:
    """The descriptor fields with bits [lo, lo + width) of field ``index`` replaced by ``value``."""
    out = list(fields)
    mask = ((1 << width) - 1) << lo
    out[index] = (out[index] & ~mask & 0xFFFFFFFF) | ((value << lo) & mask)
    return out


def word(fields: list[int]) -> int:
    return sum(f << (32 * i) for i, f in enumerate(fields))


def descriptor_beats(fields: list[int], index: int = 0) -> list[int]:
    return golden.load_command(golden.TARGET_DESCRIPTORS, index, [word(fields)], DESCRIPTOR_BITS)


async def run_fault(tb: AccelTB, beats: list[int], expected: int, what: str, expect_beats: int = 0):
    """Load, run, and check the run ends within BOUND cycles with ``expected`` status and streams nothing."""
    await tb.load(beats)
    res = await tb.run(expect_beats=expect_beats, timeout_cycles=BOUND)
    assert res.cycles <= BOUND, f"{what}: done after {res.cycles} cycles (bound {BOUND})"
    assert res.error == expected, (f"{what}: error status {res.error:#x} ({status.describe(res.error)}), "
                                   f"expected {expected:#x} ({status.describe(expected)})")
    await ClockCycles(tb.dut.clk, 50)
    assert tb.sink.empty() and not int(tb.dut.m_axis_tvalid.value), f"{what}: results were streamed"
    tb.dut._log.info("%s: error %#x after %d cycles", what, res.error, res.cycles)
    return res


async def run_and_check(tb: AccelTB, layer: Layer, stream_out: bool = True, what: str = "") -> None:
    """A good program: error status 0, outputs and cycles exact."""
    img = golden.layer_image(tb.spec, layer, stream_out=stream_out)
    await tb.load(img.beats)
    res = await tb.run(expect_beats=layer.m * layer.n if stream_out else 0)
    assert res.error == 0, f"{what}: error status {res.error:#x} ({status.describe(res.error)})"
    assert res.perf_cycles == img.expected.cycles, f"{what}: perf_cycles {res.perf_cycles} != {img.expected.cycles}"
    got = (golden.decode_outputs(res.beats, layer.m, layer.n, layer.out_bits, layer.out_signed) if stream_out
           else await read_outputs(tb, layer))
    assert np.array_equal(got, img.expected.outputs), f"{what}: outputs differ"


async def read_outputs(tb: AccelTB, layer: Layer, o_base: int = 0) -> np.ndarray:
    await tb.load(golden.readout_command(o_base, layer.m, layer.n))
    beats = await tb.collect(layer.m * layer.n)
    return golden.decode_outputs(beats, layer.m, layer.n, layer.out_bits, layer.out_signed)


def fault_layers(spec, rng):
    """A good layer (three row tiles, two column tiles) and the same shape with other inputs."""
    layer = random_layer(spec, rng, shape=(2 * spec.rows + 1, 11, spec.cols + 3))
    other = random_layer(spec, rng, shape=(layer.m, layer.k, layer.n))
    return layer, Layer(other.inputs, layer.weights, layer.bias, layer.bias_shift, layer.shift, layer.rounding,
                        layer.out_bits, layer.out_signed, layer.relu, other.act_signed)


@cocotb.test()
async def descriptor_faults(dut):
    """Zero sizes and counts, bases past their depth: nothing computed, stored or streamed."""
    spec = spec_from_env()
    rng, seed = _rng()
    tb = AccelTB(dut, spec)
    await tb.reset()
    layer, other = fault_layers(spec, rng)
    good = golden.layer_image(spec, layer)
    fields = good.descriptor.fields()
    wb_flag = 1 << (16 + 5)
    cases = {
        "M = 0": (set_bits(fields, 0, 0, 0, 16), status.BAD_DESCRIPTOR),
        "N = 0": (set_bits(fields, 0, 0, 16, 16), status.BAD_DESCRIPTOR),
        "MT = 0": (set_bits(fields, 1, 0, 0, 16), status.BAD_DESCRIPTOR),
        "NT = 0": (set_bits(fields, 1, 0, 16, 16), status.BAD_DESCRIPTOR),
        "KG = 0": (set_bits(fields, 2, 0, 0, 16), status.BAD_DESCRIPTOR),
        "a_base = depth": (set_bits(fields, 4, spec.amem_depth), status.ADDRESS_RANGE),
        "a_base bit 31": (set_bits(fields, 4, 1 << 31), status.ADDRESS_RANGE),
        "w_base = depth": (set_bits(fields, 5, spec.wmem_depth), status.ADDRESS_RANGE),
        "b_base = depth": (set_bits(fields, 6, spec.bmem_depth), status.ADDRESS_RANGE),
        "o_base = depth": (set_bits(fields, 7, spec.omem_depth), status.ADDRESS_RANGE),
        "o_base bit 20": (set_bits(fields, 7, 1 << 20), status.ADDRESS_RANGE),
        "wb_base = depth with write_back": (set_bits(set_bits(fields, 8, spec.amem_depth), 2, fields[2] | wb_flag),
                                            status.ADDRESS_RANGE),
        "M = 0 and b_base = depth": (set_bits(set_bits(fields, 0, 0, 0, 16), 6, spec.bmem_depth),
                                     status.BAD_DESCRIPTOR | status.ADDRESS_RANGE),
    }
    await run_and_check(tb, layer, what=f"good layer (seed {seed})")
    other_image = golden.layer_image(spec, other)
    for name, (patched, expected) in cases.items():
        what = f"{name} (seed {seed})"
        await run_fault(tb, other_image.beats + descriptor_beats(patched), expected, what,
                        expect_beats=layer.m * layer.n)
        got = await read_outputs(tb, layer)
        assert np.array_equal(got, good.expected.outputs), f"{what}: the faulty descriptor wrote the output memory"
        await run_and_check(tb, layer, what=f"good layer after {what}")
    # wb_base past the depth without write_back is not used, so no fault.
    await tb.load(good.beats + descriptor_beats(set_bits(fields, 8, spec.amem_depth)))
    res = await tb.run(expect_beats=layer.m * layer.n)
    assert res.error == 0 and res.perf_cycles == good.expected.cycles, f"unused wb_base: {res}"
    got = golden.decode_outputs(res.beats, layer.m, layer.n, layer.out_bits, layer.out_signed)
    assert np.array_equal(got, good.expected.outputs), "unused wb_base past the depth: outputs differ"
    dut._log.info("descriptor_faults: %d cases (seed %d)", len(cases), seed)


@cocotb.test()
async def zero_steps(dut):
    """A weight-list header with no steps, in the first and in the second column tile."""
    spec = spec_from_env()
    rng, seed = _rng()
    tb = AccelTB(dut, spec)
    await tb.reset()
    layer, other = fault_layers(spec, rng)
    good = golden.layer_image(spec, layer)
    await run_and_check(tb, layer, what=f"good layer (seed {seed})")
    steps = good.packed.steps()
    count_mask = ((1 << 16) - 1) << (spec.wmem_width - 16)
    for tile, header in ((0, 0), (1, 1 + steps[0])):
        what = f"no steps in column tile {tile} (seed {seed})"
        words = list(golden.pack_weights(spec, other.weights).words)
        words[header] &= ~count_mask
        img = golden.layer_image(spec, other)
        beats = img.beats + golden.load_command(golden.TARGET_WEIGHTS, 0, words, spec.wmem_width)
        await run_fault(tb, beats, status.ZERO_STEPS, what, expect_beats=layer.m * layer.n)
        if tile == 0:
            got = await read_outputs(tb, layer)
            assert np.array_equal(got, good.expected.outputs), f"{what}: the faulty descriptor wrote the output memory"
        await run_and_check(tb, layer, what=f"good layer after {what}")


@cocotb.test()
async def chain_without_last(dut):
    """Every descriptor word without `last`: all of them run, then the chain stops with ADDRESS_RANGE."""
    spec = spec_from_env()
    rng, seed = _rng()
    tb = AccelTB(dut, spec)
    await tb.reset()
    layer = random_layer(spec, rng, shape=(spec.rows + 1, 6, spec.cols + 1))
    for last_at_end in (False, True):
        beats = []
        for i in range(spec.dmem_depth):
            img = golden.layer_image(spec, layer, stream_out=False, descriptor_index=i,
                                     last=last_at_end and i == spec.dmem_depth - 1, load_inputs=i == 0)
            beats += img.beats
        what = f"{spec.dmem_depth} descriptors, last on the final one: {last_at_end} (seed {seed})"
        await tb.load(beats)
        res = await tb.run(timeout_cycles=spec.dmem_depth * img.expected.cycles + BOUND)
        assert res.error == (0 if last_at_end else status.ADDRESS_RANGE), f"{what}: error {res.error:#x}"
        assert res.perf_cycles == spec.dmem_depth * img.expected.cycles, f"{what}: perf_cycles {res.perf_cycles}"
        assert np.array_equal(await read_outputs(tb, layer), img.expected.outputs), f"{what}: outputs differ"
        await run_and_check(tb, layer, what=f"good layer after {what}")


@cocotb.test()
async def pool_faults(dut):
    """Pool descriptors with a zero field or a base past the depth: the pool writes nothing."""
    spec = spec_from_env()
    rng, seed = _rng()
    tb = AccelTB(dut, spec)
    await tb.reset()
    lanes = spec.lanes
    b, h, w, c = 2, 4, 6, lanes + 1
    cg = golden.ceil_div(c, lanes)
    x = rng.integers(*act_range(spec, True), size=(b, h, w, c), endpoint=True)
    a_words = golden.activation_words(spec, x.reshape(-1, c))
    out = spec.amem_write_words * golden.ceil_div(len(a_words) + 3, spec.amem_write_words)
    pool = golden.PoolDescriptor(b, cg, h // 2, w // 2, 2, 2, 0, out, w * cg, h * w * cg, True, last=True)
    m = pool.out_words // cg
    fill = [(i * 0x9E3779B1) & ((1 << spec.amem_width) - 1) for i in range(pool.out_words)]
    fill_codes = decode_fill(spec, fill, c)
    readback, rb_cycles = identity_readback(spec, m, c, True, Bases(out, 0, 16, 0), 0)
    fields = pool.fields()
    cases = {
        "B = 0": (set_bits(fields, 0, 0, 0, 16), status.BAD_DESCRIPTOR),
        "CG = 0": (set_bits(fields, 0, 0, 16, 16), status.BAD_DESCRIPTOR),
        "out_h = 0": (set_bits(fields, 1, 0, 0, 16), status.BAD_DESCRIPTOR),
        "out_w = 0": (set_bits(fields, 1, 0, 16, 16), status.BAD_DESCRIPTOR),
        "PH = 0": (set_bits(fields, 2, 0, 0, 8), status.BAD_DESCRIPTOR),
        "PW = 0": (set_bits(fields, 2, 0, 8, 8), status.BAD_DESCRIPTOR),
        "a_base = depth": (set_bits(fields, 4, spec.amem_depth), status.ADDRESS_RANGE),
        "wb_base = depth": (set_bits(fields, 8, spec.amem_depth), status.ADDRESS_RANGE),
        "wb_base bit 31": (set_bits(fields, 8, 1 << 31), status.ADDRESS_RANGE),
    }
    for name, (patched, expected) in cases.items():
        what = f"pool {name} (seed {seed})"
        beats = (golden.load_command(golden.TARGET_ACTIVATIONS, 0, a_words, spec.amem_width)
                 + golden.load_command(golden.TARGET_ACTIVATIONS, out, fill, spec.amem_width)
                 + descriptor_beats(patched))
        await run_fault(tb, beats, expected, what)
        await tb.load(readback)     # descriptor 0: stream the pool's output region out
        res = await tb.run(expect_beats=m * c)
        assert res.error == 0 and res.perf_cycles == rb_cycles, f"{what}: read-back run {res.error:#x} {res.perf_cycles}"
        got = decode_raw(res.beats, m, c, spec.acc_bits)
        assert np.array_equal(got, fill_codes), f"{what}: the faulty pool wrote the activation memory"
    # The good pool, then the same read-back as descriptor 1.
    readback1, _ = identity_readback(spec, m, c, True, Bases(out, 0, 16, 0), 1)
    await tb.load(golden.load_command(golden.TARGET_ACTIVATIONS, 0, a_words, spec.amem_width)
                  + descriptor_beats(replace(pool, last=False).fields()) + readback1)
    res = await tb.run(expect_beats=m * c)
    assert res.error == 0 and res.perf_cycles == pool.cycles + rb_cycles, f"good pool: {res.error:#x} {res.perf_cycles}"
    got = decode_raw(res.beats, m, c, spec.acc_bits).reshape(b, h // 2, w // 2, c)
    assert np.array_equal(got, golden.maxpool(x, 2, 2)), "good pool after the faulty ones: outputs differ"


def decode_fill(spec, words: list[int], c: int) -> np.ndarray:
    """The signed codes of the first ``c`` lanes of activation words, one row per pixel (CG words)."""
    lanes, bits = spec.lanes, spec.act_bits
    cg = golden.ceil_div(c, lanes)
    codes = np.array([[(wd >> (l * bits)) & ((1 << bits) - 1) for wd in words for l in range(lanes)]])
    codes = codes.reshape(-1, cg * lanes)[:, :c]
    return np.where(codes >= 1 << (bits - 1), codes - (1 << bits), codes)


@cocotb.test()
async def busy_commands(dut):
    """Load beats (every memory, the descriptor too) and a read-out during a run are dropped."""
    spec = spec_from_env()
    rng, seed = _rng()
    tb = AccelTB(dut, spec)
    await tb.reset()
    layer = random_layer(spec, rng, shape=(2 * spec.rows, 40 * spec.lanes, 3 * spec.cols))
    other = random_layer(spec, rng, shape=(layer.m, layer.k, layer.n))
    good = golden.layer_image(spec, layer, stream_out=False)
    bad_fields = set_bits(good.descriptor.fields(), 0, 0, 0, 16)   # M = 0, were it taken
    a_other = golden.activation_words(spec, other.inputs)[:8]
    w_other = list(golden.pack_weights(spec, other.weights).words)[:6]
    b_other = golden.bias_words(spec, np.full(other.n, 5), other.n, 0)[:2]
    intrusions = {
        "load beats": (golden.load_command(golden.TARGET_ACTIVATIONS, 0, a_other, spec.amem_width)
                       + golden.load_command(golden.TARGET_WEIGHTS, 0, w_other, spec.wmem_width)
                       + golden.load_command(golden.TARGET_BIASES, 0, b_other, spec.bmem_width)
                       + descriptor_beats(bad_fields)),
        "a read-out": golden.readout_command(0, layer.m, layer.n),
    }
    for name, beats in intrusions.items():
        what = f"{name} during a run (seed {seed})"
        await tb.load(good.beats)
        run = cocotb.start_soon(tb.run())
        await ClockCycles(dut.clk, 10)
        await tb.source.send(AxiStreamFrame(beats))
        await tb.source.wait()
        assert int(dut.busy.value), f"{what}: the run ended before the beats were taken"
        res = await run
        assert res.error == status.BUSY_COMMAND, f"{what}: error {res.error:#x}, expected BUSY_COMMAND"
        assert res.perf_cycles == good.expected.cycles, f"{what}: perf_cycles {res.perf_cycles}"
        await ClockCycles(dut.clk, 50)
        assert tb.sink.empty(), f"{what}: the read-out during the run streamed results"
        got = await read_outputs(tb, layer)
        assert np.array_equal(got, good.expected.outputs), f"{what}: the run's results differ"
        await run_and_check(tb, layer, stream_out=False, what=f"good layer after {what}")   # status cleared


# ------------------------------------------------------------------ pytest side

SIM_DIR = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", list(SPECS))
def test_faults(name, build_root, seed):
    run_top(SPECS[name], "test_faults", SIM_DIR, build_root, "verilator", {"SEED": str(seed)})


def test_network_fault_is_accelerator_fault(tmp_path, monkeypatch):
    """codesign.accel.network turns a run's non-zero status (written by harness.network_run) into
    AcceleratorFault. The simulator is replaced by a stand-in that writes such a result file."""
    import pickle
    import sys

    from codesign.accel import network
    from codesign.accel.compiler import compile_model
    from codesign.fixedpoint import FixedType

    sys.path.insert(0, str(SIM_DIR.parent / "tests"))
    from test_compiler import mlp_nodes, random_input

    rng = np.random.default_rng(0)
    input_type = FixedType(6, 2, True)
    nodes = mlp_nodes(rng, [5, 7], input_type, [6], [6])
    program = compile_model(nodes, SPECS["4x4_int8"], batch=4)
    codes = input_type.to_codes(random_input(rng, nodes, 3))

    def fake_run(*args, **kwargs):
        extra_env = args[6]
        with open(extra_env["ACCEL_NETWORK_JOB"], "rb") as fh:
            *_, result_path = pickle.load(fh)
        np.savez(result_path, error=status.ZERO_STEPS | status.BUSY_COMMAND, where="the run of samples 0..2")

    monkeypatch.setattr(network.sim, "run", fake_run)
    with pytest.raises(status.AcceleratorFault, match=r"samples 0\.\.2: accelerator error status 0xa: "
                                                      r"a weight list has zero steps; a load") as info:
        network.run_program(program, codes, tmp_path)
    assert info.value.status == 0xA and "\n" not in str(info.value)
