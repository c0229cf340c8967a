"""Run a compiled program (``codesign.accel.compiler.Program``) on the accelerator RTL.

The host side of a whole-network inference: build ``accel_top`` for the program's spec (once per
parameter set, reused afterwards), load weights and biases, then for every chunk of samples load
the inputs and the descriptor chain, pulse start, and read the last layer's result stream. The
cocotb side is ``codesign.accel.harness.network_run``; this module only drives cocotb's runner.
"""

from __future__ import annotations

import pickle
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codesign.accel import sim, status
from codesign.accel.compiler import Program
from codesign.errors import CodesignError


@dataclass
class RtlRun:
    outputs: np.ndarray              # (samples, n_out) output codes from the RTL
    cycles_per_inference: int        # perf_cycles of a run of one sample (measured)
    total_cycles: int                # perf_cycles summed over the chunks of the batch
    sim_seconds: float               # wall time of the simulation (loading, runs, read-out; no build)
    chunk_cycles: list[int] = field(default_factory=list)   # perf_cycles of each chunk (one start each)
    chunk_sizes: list[int] = field(default_factory=list)
    sim_cycles: int = 0              # every simulated clock cycle (loads and read-out included)
    build_seconds: float = 0.0       # building the simulator (~0 when reused)
    build_dir: Path | None = None

    @property
    def sim_cycles_per_second(self) -> float:
        return self.sim_cycles / self.sim_seconds if self.sim_seconds > 0 else 0.0


def build_name(program: Program, simulator: str) -> str:
    """A build directory name for every parameter of the spec (memory depths included)."""
    s = program.spec
    return (f"{simulator}_{s.tag()}_a{s.amem_depth}w{s.wmem_depth}b{s.bmem_depth}"
            f"o{s.omem_depth}d{s.dmem_depth}")


def run_program(program: Program, x_codes: np.ndarray, build_dir: Path, simulator: str = "verilator",
                waves: bool = False, *, one_sample: bool = True) -> RtlRun:
    """Run ``x_codes`` ((samples, features) input codes) through the RTL in chunks of ``program.batch``
    samples (one start each). ``one_sample``: first run sample 0 alone to measure cycles per inference.
    The build goes to ``build_dir/<simulator>_<parameters>`` and is reused when it exists.
    Raises ``codesign.accel.status.AcceleratorFault`` when a run ends with a non-zero error status."""
    x = program._inputs(x_codes)
    if len(x) == 0:
        raise CodesignError("run_program needs at least one sample")
    build = Path(build_dir).resolve() / build_name(program, simulator)   # the simulator runs inside it
    build.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build, prefix="job_") as tmp:
        job, result = Path(tmp) / "job.pkl", Path(tmp) / "result.npz"
        with open(job, "wb") as fh:
            pickle.dump((program, x, one_sample, str(result)), fh)
        env = {sim.SPEC_ENV: sim.spec_to_env(program.spec), "ACCEL_NETWORK_JOB": str(job)}
        t0 = time.perf_counter()
        sim.run("accel_top", "codesign.accel.harness", Path(__file__).resolve().parent, build,
                program.spec.parameters(), simulator, env, testcase="network_run", waves=waves)
        total = time.perf_counter() - t0
        if not result.exists():
            raise CodesignError(f"the RTL run wrote no results (see {build / 'results.xml'})")
        data = np.load(result)
        if int(data["error"]):   # the accelerator ended a run with a fault: no results
            raise status.AcceleratorFault(int(data["error"]), f"RTL run of the program on {build.name}, {data['where']}")
        outputs = data["outputs"].astype(np.int64)
        chunk_cycles = [int(c) for c in data["chunk_cycles"]]
        seconds = float(data["seconds"])
        single = int(data["single_cycles"])
        if one_sample and not np.array_equal(data["single_out"].reshape(-1), outputs[0]):
            raise CodesignError("the one-sample run and the batched run of sample 0 disagree")
        sim_cycles = int(data["sim_cycles"])
    return RtlRun(outputs, single, sum(chunk_cycles), seconds, chunk_cycles,
                  [b - a for a, b in program.chunks(len(x))], sim_cycles, max(0.0, total - seconds), build)
