"""Systolic array (accel_array), dense-only build: step schedules from the reference model's weight
packing, one step per cycle, raw accumulators and their exact output cycles checked."""

from __future__ import annotations

import os
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from codesign.accel import golden
from codesign.accel.sim import run, spec_from_env, spec_to_env, SPEC_ENV
from codesign.accel.spec import AccelSpec
from stimulus import random_layer

pytestmark = pytest.mark.slow   # builds and runs a simulator

SIM_DIR = Path(__file__).resolve().parent


def schedule(spec: AccelSpec, layer: golden.Layer, packed: golden.PackedWeights, gap: int = 0):
    """The controller's step order: per column tile, per row tile, max(S, ROWS) cycles with the
    bubbles first. Yields (valid, last, a_word, w_word, (mt, nt) or None) per cycle."""
    a_words = golden.array_words(spec, layer.inputs)
    kg = golden.ceil_div(layer.k, spec.lanes)
    mt_count = golden.ceil_div(layer.m, spec.rows)
    wmask = (1 << (spec.cols * spec.weight_entry_bits)) - 1
    for nt, steps in enumerate(packed.tiles):
        for _ in range(gap):
            yield 0, 0, 0, 0, None
        for mt in range(mt_count):
            for _ in range(max(0, spec.rows - len(steps))):
                yield 0, 0, 0, 0, None
            for s, step in enumerate(steps):
                last = s == len(steps) - 1
                yield (1, int(last), a_words[mt * kg + step.group], golden.step_word(spec, step) & wmask,
                       (mt, nt) if last else None)


class ArrayTB:
    """Drives accel_array one step per cycle and records every output row with its cycle."""

    def __init__(self, dut, spec: AccelSpec) -> None:
        self.dut = dut
        self.spec = spec
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.step_valid.value = 0
        dut.step_last.value = 0
        dut.a_word.value = 0
        dut.w_word.value = 0
        dut.act_signed.value = 1

    async def reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 2)
        self.dut.rst.value = 0

    async def run(self, layer: golden.Layer, packed: golden.PackedWeights, gap: int = 0) -> None:
        spec, dut = self.spec, self.dut
        dut.act_signed.value = int(layer.act_signed)
        acc, _ = golden.compute(spec, layer)
        padded = np.zeros((golden.ceil_div(layer.m, spec.rows) * spec.rows, len(packed.tiles) * spec.cols), dtype=np.int64)
        padded[: layer.m, : layer.n] = acc
        expected: dict[int, np.ndarray] = {}          # cycle -> expected row
        rows_seen: dict[int, list[int]] = {}
        cycle = 0
        lat = golden.array_latency(spec)
        mask = (1 << spec.acc_bits) - 1
        sched = list(schedule(spec, layer, packed, gap))
        valid_next = 0   # out_valid_next as sampled a cycle ago: the early copy the controller registers
        for valid, last, a_word, w_word, tile in sched + [(0, 0, 0, 0, None)] * (lat + spec.rows + 2):
            dut.step_valid.value = valid
            dut.step_last.value = last
            dut.a_word.value = a_word
            dut.w_word.value = w_word
            if tile is not None:
                mt, nt = tile
                for i in range(spec.rows):
                    expected[cycle + lat + i] = padded[mt * spec.rows + i, nt * spec.cols:(nt + 1) * spec.cols]
            await RisingEdge(dut.clk)
            assert int(dut.out_valid.value) == valid_next, f"cycle {cycle}: out_valid_next was not out_valid a cycle early"
            valid_next = int(dut.out_valid_next.value)
            if int(dut.out_valid.value):
                word = int(dut.out_row.value)
                rows_seen[cycle] = [((word >> (j * spec.acc_bits)) & mask) for j in range(spec.cols)]
            cycle += 1
        assert sorted(rows_seen) == sorted(expected), (
            f"output rows at cycles {sorted(rows_seen)[:8]}..., expected {sorted(expected)[:8]}...")
        for c, row in expected.items():
            want = [int(v) & mask for v in row]
            assert rows_seen[c] == want, f"row at cycle {c}: {rows_seen[c]} != {want}"


async def random_array_gemms(dut, n_of_m=None, count: int = 60) -> None:
    spec = spec_from_env()
    seed = int(os.environ["SEED"])
    rng = np.random.default_rng(seed)
    tb = ArrayTB(dut, spec)
    await tb.reset()
    for i in range(count):
        layer = random_layer(spec, rng, max_dim=14, n_of_m=n_of_m)
        await tb.run(layer, golden.pack_weights(spec, layer.weights), gap=int(rng.integers(0, 3)))
    dut._log.info("%d random GEMMs exact and on time (seed %d)", count, seed)


@cocotb.test()
async def random_gemms(dut):
    await random_array_gemms(dut, count=int(os.environ.get("COUNT", "60")))


@cocotb.test()
async def extremes(dut):
    """Most-negative x most-negative at the deepest K, 1x1x1, all-zero inputs."""
    spec = spec_from_env()
    tb = ArrayTB(dut, spec)
    await tb.reset()
    lo_a, lo_w = -(1 << (spec.act_bits - 1)), -(1 << (spec.weight_bits - 1))
    k = spec.max_depth(True)
    for layer in (golden.Layer(np.full((spec.rows, k), lo_a), np.full((k, spec.cols), lo_w), out_bits=spec.acc_bits),
                  golden.Layer(np.array([[lo_a]]), np.array([[lo_w]]), out_bits=spec.acc_bits),
                  golden.Layer(np.zeros((3, 5), dtype=np.int64), np.ones((5, 2), dtype=np.int64))):
        await tb.run(layer, golden.pack_weights(spec, layer.weights))


ARRAY_SPEC = AccelSpec(rows=4, cols=4, weight_bits=8, act_bits=8, acc_bits=20, sparse_m=0)


def array_parameters(spec: AccelSpec) -> dict[str, int]:
    return {"ROWS": spec.rows, "COLS": spec.cols, "ACT_BITS": spec.act_bits, "WEIGHT_BITS": spec.weight_bits,
            "ACC_BITS": spec.acc_bits, "LANES": spec.lanes, "IDX_BITS": spec.idx_bits}


def test_array(build_root, seed):
    run("accel_array", "test_array", SIM_DIR, build_root / f"array_{ARRAY_SPEC.tag()}", array_parameters(ARRAY_SPEC),
        extra_env={"SEED": str(seed), SPEC_ENV: spec_to_env(ARRAY_SPEC)})
