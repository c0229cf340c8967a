"""pytest setup shared by tests/ and sim/: one compiler cache and one set of accelerator builds for the run."""

import os
from pathlib import Path

# Inside the git-ignored sim_build/, so a fresh clone starts cold and CI's time is a cold build's time.
SIM_BUILD = Path(__file__).resolve().parent / "sim_build"
# codesign.accel.sim.verilator_makeflags compiles through ccache when CCACHE_DIR is set.
os.environ["CCACHE_DIR"] = str(SIM_BUILD / "ccache")
# The flow's RTL runs (codesign.flow.rtl_build_root) share the testbenches' builds: one per array configuration.
os.environ["CODESIGN_RTL_BUILDS"] = str(SIM_BUILD)
