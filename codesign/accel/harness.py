"""cocotb-side driver of ``accel_top``: clock, reset, AXI4-Stream source/sink, run a program.

Used inside a simulator by the testbenches under ``sim/`` and by whole-network runs: load a
program (the beats ``codesign.accel.golden`` builds), pulse start, wait for done, collect the
result stream, and report the cycles the run took.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from codesign.accel import status
from codesign.accel.spec import AccelSpec

PERIOD_NS = 10


@dataclass
class RunResult:
    beats: list[int]          # result stream (empty when nothing was streamed)
    cycles: int               # start -> done, measured by the testbench
    perf_cycles: int          # the accelerator's own counter (excludes result streaming)
    error: int = 0            # the error status at done (codesign.accel.status; 0: none)


class AccelTB:
    """Owns the clock, the reset and the two AXI4-Stream ends of one ``accel_top`` instance."""

    def __init__(self, dut, spec: AccelSpec) -> None:
        self.dut = dut
        self.spec = spec
        self.log = dut._log
        cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst, byte_size=32)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst, byte_size=32)
        for end in (self.source, self.sink):
            end.log.setLevel(logging.WARNING)     # per-frame logs would print every beat
        dut.start.value = 0
        dut.rst.value = 0

    def backpressure(self, rng: random.Random | None, idle: float = 0.3, pause: float = 0.3) -> None:
        """Random idle gaps on the input stream and random backpressure on the output (None: off)."""
        if rng is None:
            for end in (self.source, self.sink):
                end.set_pause_generator(None)
                end.pause = False       # killing the generator can leave the last pause in force
            return
        seed_in, seed_out = rng.getrandbits(32), rng.getrandbits(32)

        def gen(seed: int, p: float):
            r = random.Random(seed)
            while True:
                yield r.random() < p

        self.source.set_pause_generator(gen(seed_in, idle))
        self.sink.set_pause_generator(gen(seed_out, pause))

    async def reset(self, cycles: int = 4) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def load(self, beats: list[int]) -> None:
        """Send load commands and wait until the accelerator has taken every beat."""
        if beats:
            await self.source.send(AxiStreamFrame(list(beats)))
            await self.source.wait()
        await ClockCycles(self.dut.clk, 3)   # the loader writes two cycles after the last beat

    async def run(self, expect_beats: int = 0, timeout_cycles: int = 2_000_000) -> RunResult:
        """Pulse start, wait for done; collect ``expect_beats`` results if the program streams them.

        The error status is read with done; a run that ends with a fault streams nothing, so no
        results are collected then (``beats`` is empty)."""
        dut = self.dut
        dut.start.value = 1
        await RisingEdge(dut.clk)
        t0 = get_sim_time(unit="ns")
        dut.start.value = 0
        await ReadOnly()
        assert int(dut.busy.value) == 1, "busy did not rise with start"
        await with_timeout(RisingEdge(dut.done), timeout_cycles * PERIOD_NS, "ns")
        cycles = round((get_sim_time(unit="ns") - t0) / PERIOD_NS)
        await ReadOnly()
        assert int(dut.busy.value) == 0, "busy still high with done"
        error = int(dut.error.value)
        await RisingEdge(dut.clk)
        program_fault = error & (status.BAD_DESCRIPTOR | status.ZERO_STEPS | status.ADDRESS_RANGE)
        beats = await self.collect(expect_beats) if expect_beats and not program_fault else []
        return RunResult(beats, cycles, int(dut.perf_cycles.value), error)

    async def collect(self, count: int, timeout_cycles: int = 2_000_000) -> list[int]:
        """Receive ``count`` result beats (one frame ends at tlast)."""
        beats: list[int] = []
        while len(beats) < count:
            frame = await with_timeout(self.sink.recv(), timeout_cycles * PERIOD_NS, "ns")
            beats.extend(int(x) for x in frame.tdata)
        return beats


# ------------------------------------------------------------------ whole-network runs

NETWORK_JOB_ENV = "ACCEL_NETWORK_JOB"   # pickle of (Program, x_codes, one_sample, result path)


@cocotb.test()
async def network_run(dut):
    """Run a compiled program (``codesign.accel.network.run_program``): load weights and biases once,
    optionally run one sample alone (cycles per inference), then every chunk of samples from one start
    each; write outputs and measured cycles to the job's result file."""
    import os
    import pickle
    import time

    import numpy as np

    from codesign.accel import golden

    job_path = os.environ.get(NETWORK_JOB_ENV)
    if not job_path:
        return   # not a network job (another bench imported this module)
    with open(job_path, "rb") as fh:
        program, x, one_sample, result_path = pickle.load(fh)
    spec = program.spec
    tb = AccelTB(dut, spec)
    await tb.reset()
    wall = time.perf_counter()
    await tb.load(program.weight_beats())
    last = program.layers[-1]

    class Fault(Exception):
        pass

    async def run_chunk(codes, where):
        await tb.load(program.chunk_beats(codes))
        m = len(codes)
        res = await tb.run(expect_beats=m * last.n)
        if res.error:
            np.savez(result_path, error=res.error, where=where)
            dut._log.error("network_run: %s: %s", where, status.AcceleratorFault(res.error))
            raise Fault
        return golden.decode_outputs(res.beats, m, last.n, last.out_bits, last.out_signed), res.perf_cycles

    try:
        single_out, single_cycles = ((await run_chunk(x[:1], "the one-sample run")) if one_sample
                                     else (np.zeros((0, last.n)), -1))
        outs, chunk_cycles = [], []
        for start, stop in program.chunks(len(x)):
            out, cycles = await run_chunk(x[start:stop], f"the run of samples {start}..{stop - 1}")
            outs.append(out)
            chunk_cycles.append(cycles)
    except Fault:
        return   # the result file names the fault (codesign.accel.network raises AcceleratorFault)
    sim_cycles = round(get_sim_time(unit="ns") / PERIOD_NS)
    np.savez(result_path, error=0, where="", outputs=np.concatenate(outs) if outs else np.zeros((0, last.n), dtype=np.int64),
             chunk_cycles=np.asarray(chunk_cycles, dtype=np.int64), single_cycles=single_cycles,
             single_out=single_out, sim_cycles=sim_cycles, seconds=time.perf_counter() - wall)
    dut._log.info("network_run: %d samples in %d chunks, %d cycles per inference, chunk cycles %s",
                  len(x), len(chunk_cycles), single_cycles, chunk_cycles)
