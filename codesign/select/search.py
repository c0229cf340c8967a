"""The search over per-layer designs: a greedy descent of the cost with the least added sensitivity per
unit of cost saved, then a local search under the budgets. Both only read two tables: the
sensitivity proxy (additive over layers) and the target's cost model (any function of the whole
design, so shared hardware such as the accelerator's array is costed as it is built).

The greedy path starts at the most precise design and takes, at each step, the move (one knob of
one layer, or one knob of every layer at once: shared hardware only gets cheaper when every layer
does) that saves cost for the least proxy. Its points trace the (cost, proxy) front from the most
precise to the cheapest design. The local search then trades one knob up against another down while
every budget holds, until no exchange lowers the proxy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from codesign.select.space import Design, LayerOption, design_key

KNOBS = ("weight_bits", "act_bits", "sparsity")


@dataclass
class Evaluated:
    """Every design the search costed: key -> (design, costs, proxy)."""

    cost_of: Callable[[Design], dict[str, float]]
    proxy_of: Callable[[Design], float]
    figure: Callable[[dict[str, float]], float]
    points: dict[str, tuple[Design, dict[str, float], float]] = field(default_factory=dict)

    def __call__(self, design: Design) -> tuple[dict[str, float], float]:
        key = design_key(design)
        if key not in self.points:
            self.points[key] = (design, self.cost_of(design), self.proxy_of(design))
        _, costs, proxy = self.points[key]
        return costs, proxy

    def cost(self, design: Design) -> float:
        return self.figure(self(design)[0])


def _step(knobs: dict[str, tuple], option: LayerOption, knob: str, direction: int) -> LayerOption | None:
    """``option`` with ``knob`` one choice cheaper (direction +1) or more precise (-1), if there is one."""
    choices = knobs[knob]
    i = choices.index(getattr(option, knob)) + direction
    if not 0 <= i < len(choices):
        return None
    return LayerOption(**{**option.to_dict(), knob: choices[i]})


def moves(knobs: list[dict[str, tuple]], design: Design, direction: int) -> list[Design]:
    """The designs one knob away: per layer, and every layer's knob at once."""
    out = []
    for i, option in enumerate(design):
        for knob in KNOBS:
            new = _step(knobs[i], option, knob, direction)
            if new is not None:
                out.append(design[:i] + (new,) + design[i + 1:])
    for knob in KNOBS:
        stepped = tuple(_step(k, o, knob, direction) or o for k, o in zip(knobs, design))
        if stepped != design and sum(a != b for a, b in zip(stepped, design)) > 1:
            out.append(stepped)
    return out


def most_precise(knobs: list[dict[str, tuple]]) -> Design:
    return tuple(LayerOption(k["weight_bits"][0], k["act_bits"][0], k["sparsity"][0]) for k in knobs)


def greedy_path(knobs: list[dict[str, tuple]], ev: Evaluated) -> list[Design]:
    """From the most precise design down to one no move makes cheaper (infinite cost: the target cannot build it)."""
    design = most_precise(knobs)
    path = [design]
    while True:
        cost, proxy = ev.cost(design), ev(design)[1]
        best, best_rate = None, None
        for candidate in moves(knobs, design, +1):
            if math.isinf(cost):  # a design the target cannot build: leave for the buildable one of least proxy
                if math.isinf(ev.cost(candidate)):
                    continue
                rate = ev(candidate)[1]
            else:
                saved = cost - ev.cost(candidate)
                if not saved > 0:
                    continue
                rate = (ev(candidate)[1] - proxy) / saved
            if best_rate is None or rate < best_rate:
                best, best_rate = candidate, rate
        if best is None:
            return path
        design = best
        path.append(design)


def local_search(knobs: list[dict[str, tuple]], ev: Evaluated, start: Design, feasible: Callable[[Design], bool],
                 max_rounds: int = 50) -> Design:
    """Lower the proxy of a feasible ``start`` by single moves and one-up-one-down exchanges that stay feasible."""
    design = start
    for _ in range(max_rounds):
        proxy = ev(design)[1]
        candidates = moves(knobs, design, -1) + moves(knobs, design, +1)
        candidates += [down for up in moves(knobs, design, -1) for down in moves(knobs, up, +1) if down != design]
        better = [c for c in candidates if ev(c)[1] < proxy - 1e-12 and feasible(c)]
        if not better:
            return design
        design = min(better, key=lambda c: (ev(c)[1], ev.cost(c)))
    return design


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated in (lower first, higher second), sorted by the first."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front
