"""The sweep spec (YAML, ``yaml.safe_load``): a base run config, the fields to sweep and their values,
the stages each trial runs, and the search. It expands into trials: complete, validated run configs,
each keyed by the hash of everything that decides its result.

    name: digits-bits                # names the sweep in its database
    base: ../configs/digits.yaml     # a run config, relative to this file (default: `codesign config` of dataset)
    dataset: digits
    config: {train: {epochs: 8}}     # a partial run config laid over the base
    stages: [train, estimate, convert]
    target: hls4ml                   # whose estimate gives lut, dsp, latency and cost (also a parameter)
    cost: lut+55*dsp
    timeout_s: 1800                  # per trial, from its submission
    search: {method: grid}           # or random / nsga2 with trials, seed, objectives, population
    parameters:
      layers.fc1.weight_bits: [3, 4, 6]   # a layer by name
      layers.*.act_bits: [4, 6]           # every layer with weights
      train.pruning.schedule: [constant, polynomial]
      hls.reuse_factor: [1, 2]
      rtl.rows: [4, 8]
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from codesign import config as run_config
from codesign.errors import CodesignError
from codesign.estimate import TARGETS

# The stages a trial can run, in order, and the stage each needs before it.
STAGES = ("train", "estimate", "convert", "rtl", "synth")
NEEDS = {"estimate": "train", "convert": "train", "rtl": "convert", "synth": "train"}
METHODS = ("grid", "random", "nsga2")
DIRECTIONS = ("min", "max")
SPEC_KEYS = ("name", "base", "dataset", "config", "stages", "target", "cost", "timeout_s", "search", "parameters")
SEARCH_KEYS = ("method", "trials", "seed", "objectives", "population")
TARGET_PARAMETER = "target"
# Run-config sections a parameter can address; `name` is the trial's own (it names its run directory).
SECTIONS = ("dataset", "input", "layers", "train", "hls", "rtl")


@dataclass(frozen=True)
class Trial:
    """One point of the sweep: its parameter values, the full run config they give, and its key."""

    params: dict[str, Any]
    config: dict[str, Any]
    target: str
    stages: tuple[str, ...]
    cost: str
    key: str


@dataclass(frozen=True)
class SweepSpec:
    name: str
    base: dict[str, Any]
    stages: tuple[str, ...]
    target: str
    cost: str
    timeout_s: float
    method: str
    trials: int | None
    seed: int
    objectives: dict[str, str]
    population: int
    parameters: dict[str, list] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)  # the spec as written (stored with the sweep)

    @property
    def grid_size(self) -> int:
        return math.prod(len(values) for values in self.parameters.values())

    def trial(self, params: dict[str, Any]) -> Trial:
        """The trial of one assignment of the parameters; a config the run config refuses raises."""
        data = copy.deepcopy(self.base)
        target = self.target
        for path, value in params.items():
            if path == TARGET_PARAMETER:
                target = value
            else:
                _assign(data, path, value)
        data["name"] = self.name  # replaced by the trial's key below, once the key is known
        cfg = run_config.from_dict(data).to_dict()
        _check_target_stages(target, self.stages, f"parameter target={target!r}")
        identity = {"config": {**cfg, "name": None}, "target": target, "stages": list(self.stages), "cost": self.cost}
        key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
        cfg["name"] = f"{self.name}-{key[:10]}"
        return Trial(dict(params), cfg, target, self.stages, self.cost, key)

    def grid(self) -> list[dict[str, Any]]:
        names = list(self.parameters)
        return [dict(zip(names, values)) for values in itertools.product(*(self.parameters[n] for n in names))]

    def random_points(self) -> list[dict[str, Any]]:
        """``trials`` distinct assignments drawn with the spec's seed (all of them when the grid is smaller)."""
        if self.grid_size <= self.trials:
            return self.grid()
        rng = random.Random(self.seed)
        seen, points = set(), []
        while len(points) < self.trials:
            point = {name: rng.choice(values) for name, values in self.parameters.items()}
            marker = json.dumps(point, sort_keys=True, default=str)
            if marker not in seen:
                seen.add(marker)
                points.append(point)
        return points


def _layer_index(layers: list[dict], name: str, path: str) -> list[int]:
    if name == "*":
        return [i for i, layer in enumerate(layers) if layer.get("type") in run_config.WEIGHTED_TYPES]
    found = [i for i, layer in enumerate(layers) if layer.get("name") == name]
    if not found:
        names = ", ".join(str(layer.get("name")) for layer in layers)
        raise CodesignError(f"parameter {path!r}: no layer named {name!r}; the base config's layers: {names}, or * for every layer with weights")
    return found


def _assign(data: dict, path: str, value: Any) -> None:
    """Set ``section.field`` or ``layers.NAME.field`` (``layers.*.field``: every layer with weights)."""
    parts = path.split(".")
    if parts[0] not in SECTIONS:
        raise CodesignError(f"parameter {path!r}: a run-config field is written section.field; sections: {', '.join(SECTIONS)}, "
                            f"or {TARGET_PARAMETER}")
    if parts[0] == "layers":
        if len(parts) != 3:
            raise CodesignError(f"parameter {path!r}: write layers.NAME.field, e.g. layers.fc1.weight_bits or layers.*.act_bits")
        for i in _layer_index(data["layers"], parts[1], path):
            data["layers"][i][parts[2]] = value
        return
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise CodesignError(f"parameter {path!r}: {part!r} is not a section of the run config")
        node = node[part]
    if len(parts) < 2 or parts[-1] not in node:
        raise CodesignError(f"parameter {path!r}: unknown field; {'.'.join(parts[:-1]) or 'the config'} has: {', '.join(node)}")
    node[parts[-1]] = value


def _check_target_stages(target: str, stages: tuple[str, ...], where: str) -> None:
    if target not in TARGETS:
        raise CodesignError(f"{where}: unknown target; allowed: {', '.join(TARGETS)}")
    if target == "hls4ml" and ("rtl" in stages or "synth" in stages):
        raise CodesignError(f"{where}: the rtl and synth stages build the accel or unrolled target; hls4ml designs are "
                            f"synthesized by Vitis HLS, which is not part of the open flow: drop them or choose another target")


def _stages(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or any(s not in STAGES for s in value):
        raise CodesignError(f"sweep spec: stages={value!r} must be a list of: {', '.join(STAGES)}")
    for stage in value:
        need = NEEDS.get(stage)
        if need and need not in value:
            raise CodesignError(f"sweep spec: stage {stage} needs stage {need}; add it to stages")
    return tuple(s for s in STAGES if s in value)


def _positive(value: Any, where: str, *, kind: type = int) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)) or not value > 0:
        raise CodesignError(f"sweep spec: {where}={value!r} must be a {'whole ' if kind is int else ''}number > 0")
    return value


def from_dict(data: Any, base_dir: Path = Path(".")) -> SweepSpec:
    if not isinstance(data, dict):
        raise CodesignError("sweep spec: expected a mapping at the top level")
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise CodesignError(f"sweep spec: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(SPEC_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", name):
        raise CodesignError(f"sweep spec: name={name!r} must start with a letter and hold letters, digits, '_' and '-'")
    if data.get("base") is not None:
        base = run_config.load(Path(base_dir) / str(data["base"])).to_dict()
    else:
        base = run_config.default_config(data.get("dataset", "digits")).to_dict()
    overrides = data.get("config") or {}
    if not isinstance(overrides, dict):
        raise CodesignError("sweep spec: config must be a mapping (a partial run config)")
    base = run_config.from_dict(_merge(base, overrides)).to_dict()
    stages = _stages(data.get("stages", ["train", "estimate", "convert"]))
    target = data.get("target", "hls4ml")
    _check_target_stages(target, stages, f"sweep spec: target={target!r}")
    cost = str(data.get("cost", "lut+55*dsp"))
    from codesign.select.space import parse_cost

    parse_cost(cost)
    timeout_s = float(_positive(data.get("timeout_s", 3600), "timeout_s", kind=float))
    search = data.get("search") or {"method": "grid"}
    if not isinstance(search, dict) or sorted(set(search) - set(SEARCH_KEYS)):
        raise CodesignError(f"sweep spec: search must be a mapping of: {', '.join(SEARCH_KEYS)}")
    method = search.get("method", "grid")
    if method not in METHODS:
        raise CodesignError(f"sweep spec: search.method={method!r}; allowed: {', '.join(METHODS)}")
    trials = search.get("trials")
    if method == "grid" and trials is not None:
        raise CodesignError("sweep spec: search.trials is for random and nsga2; a grid runs every point")
    if method != "grid":
        trials = _positive(trials, "search.trials")
    seed = search.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise CodesignError(f"sweep spec: search.seed={seed!r} must be a whole number >= 0")
    objectives = search.get("objectives", {"accuracy": "max", "cost": "min"})
    if not isinstance(objectives, dict) or not objectives or any(d not in DIRECTIONS for d in objectives.values()):
        raise CodesignError(f"sweep spec: search.objectives={objectives!r} must map metric names to min or max")
    from codesign.sweep.trial import COST_METRICS, OBJECTIVE_METRICS

    unknown_metrics = sorted(set(objectives) - set(OBJECTIVE_METRICS))
    if unknown_metrics:
        raise CodesignError(f"sweep spec: objective(s) {', '.join(unknown_metrics)} unknown; allowed: {', '.join(OBJECTIVE_METRICS)}")
    if "estimate" not in stages and set(objectives) & set(COST_METRICS):
        raise CodesignError(f"sweep spec: objectives {', '.join(sorted(set(objectives) & set(COST_METRICS)))} come from the estimate stage; add it to stages")
    population = _positive(search.get("population", max(2, min(50, (trials or 2) // 3))), "search.population")
    if population < 2:
        raise CodesignError("sweep spec: search.population must be >= 2 (NSGA-II breeds pairs)")
    parameters = data.get("parameters")
    if not isinstance(parameters, dict) or not parameters:
        raise CodesignError("sweep spec: parameters must map run-config fields to lists of values, e.g. layers.fc1.weight_bits: [4, 6]")
    spec = SweepSpec(name, base, stages, target, cost, timeout_s, method, trials, int(seed), dict(objectives), int(population), {}, copy.deepcopy(data))
    for path, values in parameters.items():
        if not isinstance(values, list) or not values:
            raise CodesignError(f"parameter {path!r}: give a non-empty list of values")
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) != len(values):
            raise CodesignError(f"parameter {path!r}: values repeat in {values!r}")
        for value in values:  # each value alone on the base: a bad value fails here, before any trial runs
            try:
                spec.trial({path: value})
            except CodesignError as err:
                raise CodesignError(f"parameter {path!r} value {value!r}: {err}") from None
    object.__setattr__(spec, "parameters", {path: list(values) for path, values in parameters.items()})
    return spec


def _merge(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load(path: str | Path) -> SweepSpec:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise CodesignError(f"cannot read sweep spec {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise CodesignError(f"sweep spec {path} is not valid YAML: {err}") from None
    return from_dict(data, path.parent)
