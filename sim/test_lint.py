"""Every RTL build the benches use is lint-clean under `verilator --lint-only -Wall`."""

from __future__ import annotations

import subprocess

import pytest

from codesign.accel.sim import rtl_sources
from test_params import CORNERS
from test_top import SPECS

BUILDS = [("accel_top", spec.parameters()) for spec in SPECS.values()] + [
    ("accel_top", {"ROWS": 1, "COLS": 1, "SPARSE_M": 2, "WEIGHT_BITS": 2, "ACT_BITS": 2, "ACC_BITS": 5}),
    ("accel_top", {"ROWS": 16, "COLS": 3, "SPARSE_M": 8, "WEIGHT_BITS": 16, "ACT_BITS": 4, "ACC_BITS": 32}),
] + [("accel_top", spec.parameters()) for spec in CORNERS.values()]   # test_params' corners


@pytest.mark.parametrize("top,params", BUILDS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(BUILDS)])
def test_lint(top, params):
    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", top]
    cmd += [f"-G{k}={v}" for k, v in params.items()] + [str(p) for p in rtl_sources()]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
