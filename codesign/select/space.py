"""What a selection may choose and what it must respect: the per-layer search space, the budgets and
the cost figure, each validated into a one-line error.

A *design* is one option per weighted layer: its weight bits, its activation bits (none on the last,
linear layer) and its sparsity (a magnitude fraction, or N:M along the reduction axis). Layer
widths never change: a selection keeps the architecture of the run config it starts from.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Iterable

from codesign.config import LayerSpec, RunConfig, validate
from codesign.errors import CodesignError

# The resources a budget or a cost figure may name, and the flag of each.
RESOURCES = ("lut", "ff", "dsp", "bram", "latency_cycles", "latency_ns")
# ``cost`` budgets the cost figure itself (``--cost``, e.g. lut+55*dsp).
FLAGS = {r: "--max-" + r.replace("_", "-") for r in (*RESOURCES, "cost")}
# What each target estimates; the fully unrolled logic has no DSP or BRAM by construction.
TARGET_RESOURCES = {
    "hls4ml": RESOURCES,
    "accel": RESOURCES,
    "unrolled": ("lut", "ff", "latency_cycles", "latency_ns"),
}
DEFAULT_COST = "lut+55*dsp"
# The verified space: every value here has been through QAT, hls4ml C simulation and the unrolled
# Verilator check in tests/test_select.py or the flow's exactness tests.
WEIGHT_BITS = (2, 3, 4, 5, 6, 8)
ACT_BITS = (2, 3, 4, 5, 6, 8)
SPARSITIES = ("0", "0.25", "0.5", "0.75")
MAX_BITS = 8


@dataclass(frozen=True)
class LayerOption:
    """One weighted layer's choice; ``act_bits`` is None on a layer without an activation."""

    weight_bits: int
    act_bits: int | None
    sparsity: str  # "0.5" (magnitude) or "2:4" (N:M)

    @property
    def nm(self) -> str | None:
        return self.sparsity if ":" in self.sparsity else None

    @property
    def fraction(self) -> float:
        """The fraction of weights pruned."""
        if self.nm:
            n, m = (int(v) for v in self.nm.split(":"))
            return 1 - n / m
        return float(self.sparsity)

    def to_dict(self) -> dict[str, Any]:
        return {"weight_bits": self.weight_bits, "act_bits": self.act_bits, "sparsity": self.sparsity}


Design = tuple[LayerOption, ...]


def design_key(design: Design) -> str:
    return " ".join(f"w{o.weight_bits}a{o.act_bits or '-'}s{o.sparsity}" for o in design)


def parse_sparsity(text: str) -> str:
    """A sparsity choice as written on the command line: a fraction in [0, 1) or N:M."""
    text = text.strip()
    match = re.fullmatch(r"(\d+):(\d+)", text)
    if match:
        n, m = int(match[1]), int(match[2])
        if not 1 <= n < m <= 32:
            raise CodesignError(f"sparsity choice {text!r}: N:M needs 1 <= N < M <= 32")
        return f"{n}:{m}"
    try:
        value = float(text)
    except ValueError:
        raise CodesignError(f"sparsity choice {text!r}: give a fraction in [0, 1) or N:M (e.g. 0.5 or 2:4)") from None
    if not 0 <= value < 1:
        raise CodesignError(f"sparsity choice {text!r} is outside [0, 1)")
    return f"{value:g}"


def parse_bits(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise CodesignError(f"{what} {text!r}: give comma-separated integers, e.g. 2,3,4,6,8") from None
    if not values or any(not 2 <= v <= MAX_BITS for v in values):
        raise CodesignError(f"{what} {text!r}: every choice must be in 2..{MAX_BITS} (the verified range)")
    return values


@dataclass(frozen=True)
class SearchSpace:
    """The choices of every weighted layer (N:M choices a layer's input channels cannot tile are dropped for it)."""

    weight_bits: tuple[int, ...] = WEIGHT_BITS
    act_bits: tuple[int, ...] = ACT_BITS
    sparsities: tuple[str, ...] = SPARSITIES

    def knobs(self, spec: LayerSpec, in_channels: int) -> dict[str, tuple]:
        """Each knob's choices for one layer, from the most to the least precise (a depthwise2d takes no N:M:
        its reduction is each channel's own window, not a run of input channels)."""
        nm_ok = lambda s: spec.type != "depthwise2d" and in_channels % int(s.split(":")[1]) == 0  # noqa: E731
        sparsities = [s for s in self.sparsities if ":" not in s or nm_ok(s)]
        sparsities.sort(key=lambda s: LayerOption(2, None, s).fraction)
        return {
            "weight_bits": tuple(sorted(self.weight_bits, reverse=True)),
            "act_bits": tuple(sorted(self.act_bits, reverse=True)) if spec.activation == "relu" else (None,),
            "sparsity": tuple(sparsities),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"weight_bits": list(self.weight_bits), "act_bits": list(self.act_bits), "sparsities": list(self.sparsities)}


def weighted_layers(cfg: RunConfig) -> list[LayerSpec]:
    return [spec for spec in cfg.layers if spec.has_weights]


def apply(cfg: RunConfig, design: Design) -> RunConfig:
    """``cfg`` with each weighted layer's bits and sparsity replaced by the design's option; integer
    bits stay as configured where they fit (weights) and are clipped to the width otherwise."""
    options = iter(design)
    layers = []
    for spec in cfg.layers:
        if spec.has_weights:
            o = next(options)
            changes: dict[str, Any] = {"weight_bits": o.weight_bits, "weight_integer": min(spec.weight_integer, o.weight_bits - 1),
                                       "sparsity": 0.0 if o.nm else o.fraction, "nm": o.nm}
            if o.act_bits is not None:
                changes.update(act_bits=o.act_bits, act_integer=min(spec.act_integer, o.act_bits))
            spec = dataclasses.replace(spec, **changes)
        layers.append(spec)
    return validate(dataclasses.replace(cfg, layers=tuple(layers)))


def baseline(cfg: RunConfig) -> RunConfig:
    """The uniform ``ap_fixed<16,6>`` design of the same architecture, unpruned: weights
    quantized_bits(16, 5), activations quantized_relu(16, 6)."""
    layers = tuple(dataclasses.replace(s, weight_bits=16, weight_integer=5, act_bits=16, act_integer=6, sparsity=0.0, nm=None)
                   if s.has_weights else s for s in cfg.layers)
    return validate(dataclasses.replace(cfg, layers=layers))


@dataclass(frozen=True)
class CostFigure:
    """A weighted sum of resources, e.g. ``lut+55*dsp``; ``bops`` is the bit-operations count."""

    text: str
    terms: tuple[tuple[float, str], ...]

    @property
    def resources(self) -> tuple[str, ...]:
        return tuple(r for _, r in self.terms)

    def of(self, costs: dict[str, float]) -> float:
        return float(sum(weight * costs[r] for weight, r in self.terms))


def parse_cost(text: str) -> CostFigure:
    """``lut+55*dsp``, ``lut + 55dsp``, ``latency_ns``, ``bops``: a weighted sum of resources. The
    unrolled target's DSP and BRAM terms are zero, so one figure serves every target."""
    allowed = (*RESOURCES, "bops")
    terms = []
    for part in re.split(r"\s*\+\s*", text.strip().lower()):
        match = re.fullmatch(r"(?:(\d+(?:\.\d+)?)\s*\*?\s*)?([a-z_-]+)", part)
        name = match and match[2].replace("-", "_")
        if not match or name not in allowed:
            raise CodesignError(f"cost {text!r}: term {part!r} is not a resource; write a sum like lut+55*dsp of: {', '.join(allowed)}")
        terms.append((float(match[1] or 1), name))
    return CostFigure(text.strip(), tuple(terms))


def check_budgets(budgets: dict[str, float], target: str) -> dict[str, float]:
    """Budgets by resource: each must be a positive number and one the target estimates."""
    checked = {}
    for name, value in budgets.items():
        if value is None:
            continue
        if name not in FLAGS:
            raise CodesignError(f"unknown budget {name!r}; allowed: {', '.join(FLAGS.values())}")
        if name != "cost" and name not in TARGET_RESOURCES[target]:
            raise CodesignError(f"{FLAGS[name]}: the {target} target does not estimate {name} (fully unrolled logic has no DSP "
                                f"or BRAM); its budgets: {', '.join(FLAGS[r] for r in (*TARGET_RESOURCES[target], 'cost'))}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value != value:
            raise CodesignError(f"{FLAGS[name]} {value!r}: a budget must be a number > 0")
        checked[name] = float(value)
    return checked


def within(costs: dict[str, float], budgets: dict[str, float], slack: float = 1.0) -> bool:
    return all(costs[name] <= slack * limit for name, limit in budgets.items())


def uniform_designs(layers: Iterable[dict[str, tuple]]) -> list[Design]:
    """Every design that gives each layer the same weight bits, activation bits and sparsity
    (the layers' own choices; a sparsity a layer cannot take makes no uniform design)."""
    layers = list(layers)
    designs = []
    for w in layers[0]["weight_bits"]:
        for a in next(k["act_bits"] for k in layers if k["act_bits"] != (None,)) if any(k["act_bits"] != (None,) for k in layers) else (None,):
            for s in layers[0]["sparsity"]:
                if all(s in k["sparsity"] for k in layers):
                    designs.append(tuple(LayerOption(w, a if k["act_bits"] != (None,) else None, s) for k in layers))
    return designs
