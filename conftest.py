"""pytest setup shared by tests/ and sim/: one compiler cache for every Verilator build of the run."""

import os
from pathlib import Path

# Inside the git-ignored sim_build/, so a fresh clone starts cold and CI's time is a cold build's time;
# codesign.accel.sim.verilator_makeflags compiles through ccache when CCACHE_DIR is set.
os.environ["CCACHE_DIR"] = str(Path(__file__).resolve().parent / "sim_build" / "ccache")
