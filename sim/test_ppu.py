"""Post-processing unit (accel_ppu): aligned bias, shift with rounding, ReLU, saturation, against
codesign.accel.golden.post_process (which is codesign.fixedpoint's arithmetic), latency
codesign.accel.golden.PPU_LATENCY."""

from __future__ import annotations

import os
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from codesign.accel.golden import PPU_CONFIG_SETUP, PPU_LATENCY, ROUNDING_CODES, post_process
from codesign.accel.sim import run

pytestmark = pytest.mark.slow   # builds and runs a simulator

LATENCY = PPU_LATENCY
ACC_BITS = 24


class PpuTB:
    def __init__(self, dut, acc_bits: int) -> None:
        self.dut = dut
        self.acc_bits = acc_bits
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.in_valid.value = 0

    async def reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 2)
        self.dut.rst.value = 0

    async def stream(self, config: dict, acc: np.ndarray, bias: np.ndarray) -> tuple[list[int], list[int]]:
        """Hold one configuration, send one value per cycle, return (outputs, valid cycle offsets)."""
        dut = self.dut
        for name, value in config.items():
            getattr(dut, name).value = value
        mask = (1 << self.acc_bits) - 1
        outs, when = [], []
        n = len(acc)
        for cycle in range(n + LATENCY + 1):
            if cycle < n:
                dut.in_valid.value = 1
                dut.acc.value = int(acc[cycle]) & mask
                dut.bias.value = int(bias[cycle]) & mask
            else:
                dut.in_valid.value = 0
            await RisingEdge(dut.clk)
            if int(dut.out_valid.value):
                outs.append(dut.out.value.to_signed())
                when.append(cycle)
        return outs, when


@cocotb.test()
async def random_configs(dut):
    seed = int(os.environ["SEED"])
    rng = np.random.default_rng(seed)
    acc_bits = int(os.environ["ACC_BITS"])
    tb = PpuTB(dut, acc_bits)
    await tb.reset()
    lim = 1 << (acc_bits - 1)
    for trial in range(int(os.environ.get("TRIALS", "120"))):
        bias_shift = int(rng.integers(0, 5))
        shift = int(rng.integers(0, acc_bits + 1))
        rounding = str(rng.choice(list(ROUNDING_CODES)))
        out_bits = int(rng.integers(1, acc_bits + 1))
        out_signed, relu = bool(rng.integers(2)), bool(rng.integers(2))
        n = 64
        acc = rng.integers(-lim, lim, n)
        half = 1 << max(shift - 1, 0)
        acc[:6] = [-lim, lim - 1, 0, -1, 1, half if half < lim else -half]  # extremes and a half-way value
        bias = rng.integers(-lim >> bias_shift, (lim >> bias_shift) - 1, n, endpoint=True)
        if trial % 4 == 0:                                                   # exact half-way remainders
            span = max(1, lim >> max(shift, 1))
            acc = (rng.integers(-span, span, n) << shift) + (1 << max(shift - 1, 0))
            acc = np.clip(acc, -lim, lim - 1)
        config = {"shift": shift, "rounding": ROUNDING_CODES[rounding],
                  "out_bits": out_bits if out_bits < 64 else 0, "out_signed": int(out_signed), "relu": int(relu)}
        # The configuration is quasi-static: it settles PPU_CONFIG_SETUP cycles before data.
        for name, value in config.items():
            getattr(dut, name).value = value
        await ClockCycles(dut.clk, PPU_CONFIG_SETUP)
        outs, when = await tb.stream(config, acc, bias << bias_shift)   # the bias memory holds it aligned
        expected = post_process(acc, bias, bias_shift, shift, rounding, out_bits, out_signed, relu)
        expected = [int(x) - ((int(x) >> (acc_bits - 1)) & 1) * (1 << acc_bits) if x >= 0 else int(x) for x in expected]
        assert when == list(range(LATENCY, LATENCY + n)), f"trial {trial}: outputs at cycles {when[:3]}..., expected latency {LATENCY}"
        assert outs == expected, (f"trial {trial} (seed {seed}) {config}: first mismatch at "
                                  f"{next(i for i in range(n) if outs[i] != expected[i])}")
    dut._log.info("PPU: %d configurations x 64 values exact (seed %d)", trial + 1, seed)


@pytest.mark.parametrize("acc_bits", [ACC_BITS])
def test_ppu(acc_bits, build_root, seed):
    sim_dir = Path(__file__).resolve().parent
    run("accel_ppu", "test_ppu", sim_dir, build_root / f"ppu_acc{acc_bits}", {"ACC_BITS": acc_bits},
        extra_env={"SEED": str(seed), "ACC_BITS": str(acc_bits)})
