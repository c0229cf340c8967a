"""Cost models for every target: what a design costs before it is built.

One module per target, each a pure function of the network's fixed-point nodes
(``codesign.analysis.Node``) and the target's options, returning a ``TargetEstimate``:

    accel     codesign.estimate.accel      our systolic array: per-component resources, cycles exact
    hls4ml    codesign.estimate.hls4ml     hls4ml designs (Vitis/Vivado HLS), fitted on public reports
    unrolled  codesign.estimate.unrolled   fully unrolled logic (da4ml), calibrated on Yosys/nextpnr

Every number carries its source (``SOURCES``): ``estimate`` for a model's prediction, ``yosys`` /
``nextpnr`` for measured open-tool numbers, ``vitis-report`` for a vendor report the user supplies.
A prediction outside the data its model was fitted on is flagged in ``extrapolated`` (one line per
parameter and its calibrated range), never silent.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesign.errors import CodesignError

TARGETS = ("accel", "hls4ml", "unrolled")
SOURCES = ("estimate", "yosys", "nextpnr", "vitis-report")
RESOURCES = ("lut", "ff", "dsp", "bram")


class EstimateError(CodesignError):
    """An estimate was asked for something the cost models do not cover."""


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise EstimateError(f"unknown target {target!r}; allowed: {', '.join(TARGETS)}")
    return target


@dataclass
class Cost:
    """The cost of one layer (or of the whole design): resources, latency, and where they come from.

    ``None`` means the target has no such number for this block (for example the accelerator's
    layers share one array, so their resources are only in its total). ``bram`` counts 18 Kb blocks.
    ``fmax_mhz`` may be a (low, high) range where it moves with the placement seed.
    """

    name: str
    source: str = "estimate"
    lut: float | None = None
    ff: float | None = None
    dsp: float | None = None
    bram: float | None = None
    latency_cycles: int | None = None
    ii: int | None = None
    fmax_mhz: float | tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise EstimateError(f"cost of {self.name!r}: source {self.source!r} is not one of {', '.join(SOURCES)}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "source": self.source}
        for key in (*RESOURCES, "latency_cycles", "ii", "fmax_mhz"):
            value = getattr(self, key)
            if value is None:
                continue
            if isinstance(value, tuple):
                value = [round(float(v), 1) for v in value]
            elif isinstance(value, float):
                value = round(value, 1)
            out[key] = value
        return out


@dataclass
class TargetEstimate:
    """One target's costs: per layer, the total, the parameters they were computed for, and any
    measured numbers (``measured``: source -> Cost) that sit beside the estimate."""

    target: str
    layers: list[Cost]
    total: Cost
    params: dict[str, Any] = field(default_factory=dict)
    extrapolated: list[str] = field(default_factory=list)
    measured: dict[str, Cost] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "params": self.params,
            "layers": [c.to_dict() for c in self.layers],
            "total": self.total.to_dict(),
            "extrapolated": list(self.extrapolated),
            "measured": {k: c.to_dict() for k, c in self.measured.items()},
        }


def outside(name: str, value: float, lo: float, hi: float) -> str | None:
    """The extrapolation note for ``value`` outside the calibrated ``lo..hi``, else None."""
    if lo <= value <= hi:
        return None
    return f"{name}={value:g} is outside the calibrated range {lo:g}..{hi:g}"


@functools.lru_cache(maxsize=8)
def load_data(path: str, target: str) -> dict[str, Any]:
    """A target's committed calibration data (cached: estimates read it on every call)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise EstimateError(f"{target} cost model data {path} is missing or unreadable ({err}); "
                            f"regenerate it with `codesign calibrate --target {target}`") from None
