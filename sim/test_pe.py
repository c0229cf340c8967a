"""Processing element (accel_pe): random operand groups, lane indices and tile ends every cycle,
against a register-accurate model of its six pipeline stages.

Each activation lane enters as ACT_BITS + 1 signed bits (the array sign- or zero-extends the
codes at its edge), so the lanes here cover signed and unsigned codes of ACT_BITS bits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from codesign.accel.sim import run

pytestmark = pytest.mark.slow   # builds and runs a simulator

SIM_DIR = Path(__file__).resolve().parent
PARAMS = {  # name: (ACT_BITS, WEIGHT_BITS, ACC_BITS, LANES)
    "int8_lanes4": (8, 8, 24, 4),
    "int4_lanes1": (4, 4, 12, 1),
}


def to_signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


@dataclass
class PeModel:
    """Registers of accel_pe, advanced one clock edge at a time."""

    act_bits: int
    weight_bits: int
    acc_bits: int
    lanes: int
    a_q: int = 0
    w_q: int = 0
    idx_q: int = 0
    last_q: int = 0
    a_op: int = 0
    w_op: int = 0
    last_op: int = 0
    prod: int = 0
    last_p: int = 0
    prod_q: int = 0
    last_pq: int = 0
    acc: int = 0
    restart: int = 0
    result_end: int = 0
    result_valid: int = 0
    tile_sum: int = 0      # the exact sum of the tile being accumulated (no wrap-around)
    result_sum: int = 0    # the exact sum of the tile whose end total is on result_end

    def edge(self, a: int, w: int, idx: int, last: int) -> None:
        mask = (1 << self.acc_bits) - 1
        self.result_valid = self.restart
        self.result_end = self.acc if self.restart else 0
        self.result_sum = self.tile_sum if self.restart else 0
        self.tile_sum = (0 if self.restart else self.tile_sum) + self.prod_q
        self.acc = (self.acc + self.prod_q) & mask
        self.restart = self.last_pq
        self.prod_q, self.last_pq = self.prod, self.last_p
        ax = self.act_bits + 1
        lane = self.a_q >> ((self.idx_q if self.lanes > 1 else 0) * ax)
        a_val = to_signed(lane, ax)
        self.prod, self.last_p = self.a_op * self.w_op, self.last_op
        self.a_op, self.w_op, self.last_op = a_val, to_signed(self.w_q, self.weight_bits), self.last_q
        self.a_q, self.w_q, self.idx_q, self.last_q = a, w, idx, last


@cocotb.test()
async def random_streams(dut):
    act_bits, weight_bits, acc_bits, lanes = (int(os.environ[k]) for k in ("ACT_BITS", "WEIGHT_BITS", "ACC_BITS", "LANES"))
    seed = int(os.environ["SEED"])
    rng = np.random.default_rng(seed)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for name in ("a_in", "w_in", "idx_in", "last_in"):
        getattr(dut, name).value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    model = PeModel(act_bits, weight_bits, acc_bits, lanes)
    ax = act_bits + 1
    most_neg_a, most_neg_w = 1 << (act_bits - 1), 1 << (weight_bits - 1)

    def lanes_of(codes, signed):
        """Lane values as the array's edge extends them: AX bits, signed or unsigned codes."""
        return sum((to_signed(c, act_bits) if signed else c) % (1 << ax) << (l * ax)
                   for l, c in enumerate(codes))

    results = 0
    prev_end = 0    # the running total at the previous tile's end, as the array's collector keeps it
    for cycle in range(int(os.environ.get("CYCLES", "4000"))):
        if cycle % 1000 < 300:     # a stretch of most-negative x most-negative, up to the accumulator bound
            a = lanes_of([most_neg_a] * lanes, signed=True)
            w = most_neg_w
            last = int(cycle % 1000 in (299, ((1 << (acc_bits - 1)) - 1) // (most_neg_a * most_neg_w) - 1))
        else:
            a = lanes_of([int(c) for c in rng.integers(0, 1 << act_bits, size=lanes)],
                         signed=bool(cycle // 500 % 2))
            w = int(rng.integers(0, 1 << weight_bits))
            last = int(rng.random() < 0.15)
        idx = int(rng.integers(0, lanes)) if lanes > 1 else int(rng.integers(0, 2))
        dut.a_in.value, dut.w_in.value, dut.idx_in.value, dut.last_in.value = a, w, idx, last
        await RisingEdge(dut.clk)
        # Right after the edge cocotb reads the registers' values from before it: compare them with
        # the model's state, then clock the model.
        assert int(dut.a_out.value) == model.a_q and int(dut.w_out.value) == model.w_q, f"cycle {cycle}: forwarding"
        assert int(dut.last_out.value) == model.last_q and int(dut.idx_out.value) == model.idx_q, f"cycle {cycle}: forwarding"
        assert int(dut.result_valid.value) == model.result_valid, f"cycle {cycle}: result_valid"
        # The total is zero unless valid (the array ORs a column); its difference with the
        # previous tile's total is the tile's sum.
        end = int(dut.result_end.value)
        assert end == model.result_end, f"cycle {cycle} (seed {seed}): running total"
        if model.result_valid:
            # The sum wraps modulo 2^ACC_BITS like the accumulator did (the stretch of
            # most-negative products goes past the bound on purpose); within the bound that is
            # the exact sum.
            got, want = to_signed(end - prev_end, acc_bits), to_signed(model.result_sum, acc_bits)
            assert got == want, f"cycle {cycle} (seed {seed}): tile sum {got} != {want}"
            prev_end = end
            results += 1
        model.edge(a, w, idx, last)
    dut._log.info("PE: %d tile results exact over %d cycles (seed %d)", results, cycle + 1, seed)


@pytest.mark.parametrize("name", list(PARAMS))
def test_pe(name, build_root, seed):
    act_bits, weight_bits, acc_bits, lanes = PARAMS[name]
    params = {"ACT_BITS": act_bits, "WEIGHT_BITS": weight_bits, "ACC_BITS": acc_bits, "LANES": lanes,
              "IDX_BITS": max(1, (lanes - 1).bit_length())}
    run("accel_pe", "test_pe", SIM_DIR, build_root / f"pe_{name}", params,
        extra_env={"SEED": str(seed), **{k: str(v) for k, v in params.items()}})
