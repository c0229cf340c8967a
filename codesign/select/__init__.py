"""``codesign select``: choose each layer's weight bits, activation bits and sparsity under a hardware
budget (or an accuracy floor), with the target's cost model in the loop, then build and check the choice.

The steps, each timed in select.json:

1. **checkpoint**: the float twin of the run config's model, trained once (``train.float_epochs``);
2. **sensitivity**: every layer option's output noise on that checkpoint, in exact integer arithmetic
   (``select.sensitivity``), before any quantized training;
3. **search**: the greedy cost/proxy path and every uniform design (``select.search``), each design
   costed by the target's estimator (milliseconds each);
4. **fine-tune**: short quantization-aware fine-tunes from the checkpoint of the best candidates
   under the budget (each found by a local search), the best uniform ones, and points spread
   along the front; accuracy is always
   measured on the bit-exact integer model (``codesign.reference``: the bits hls4ml's C simulation
   gives), on the validation split;
5. **flow**: the chosen design through ``codesign flow`` (train, hls4ml convert, exactness, estimate;
   the accelerator RTL and its synthesis for ``accel``; the unrolled Verilog in Verilator and its
   synthesis for ``unrolled``), and its estimated and measured cost checked against the budget;
6. **seeds**: the chosen design, the best uniform design under the budget (both by the fine-tune's
   recipe) and the uniform ``ap_fixed<16,6>`` baseline (by the config's own) trained with several
   seeds, their test accuracies averaged.

Outputs in ``out``: select.json (every evaluated point, the front, the choice and its checks),
report.md with pareto.png, config.yaml (the chosen design's run config) and design/ (its flow run).
An infeasible budget writes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codesign import analysis, config as run_config, reference
from codesign.config import RunConfig
from codesign.errors import CodesignError
from codesign.select import search, sensitivity
from codesign.select.space import (DEFAULT_COST, FLAGS, RESOURCES, CostFigure, Design, LayerOption, SearchSpace, apply, baseline,
                                   check_budgets, design_key, parse_cost, uniform_designs, weighted_layers, within)

OUTPUT_FILES = ("select.json", "report.md", "pareto.png", "config.yaml")
BUDGET_SLACK = 1.1  # the measured cost of the chosen design may exceed a budget by this factor
RETRIES = 4  # fine-tunes beyond --candidates spent on candidates whose trained weights broke the budget


class InfeasibleBudget(CodesignError):
    """No design in the search space meets the budgets."""


@dataclass(frozen=True)
class SelectOptions:
    target: str = "hls4ml"
    budgets: dict[str, float] = field(default_factory=dict)
    cost: str = DEFAULT_COST
    min_accuracy: float | None = None
    space: SearchSpace = field(default_factory=SearchSpace)
    family: str = "ecp5"
    seed: int = 0
    finetune_epochs: int = 10
    candidates: int = 4  # best-proxy designs under the budget that are fine-tuned
    uniform_candidates: int = 2  # best uniform designs under the budget that are fine-tuned
    front_points: int = 8  # designs along the whole front that are fine-tuned
    eval_seeds: int = 5  # seeds of the chosen design's and the baseline's final training
    flow: bool = True  # build and check the chosen design (and synthesize it for accel / unrolled)
    synth_timeout_s: float = 1200.0


def check_options(options: SelectOptions) -> tuple[dict[str, float], CostFigure]:
    from codesign.estimate import check_target

    check_target(options.target)
    budgets = check_budgets(options.budgets, options.target)
    if not budgets and options.min_accuracy is None:
        raise CodesignError(f"give a budget ({', '.join(FLAGS.values())}) or --min-accuracy")
    if options.min_accuracy is not None and not 0 < options.min_accuracy <= 1:
        raise CodesignError(f"--min-accuracy {options.min_accuracy!r}: give a fraction in (0, 1], e.g. 0.95")
    for name, lo, hi in (("finetune_epochs", 1, 1000), ("candidates", 1, 100), ("uniform_candidates", 0, 100),
                         ("front_points", 0, 100), ("eval_seeds", 1, 100)):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise CodesignError(f"--{name.replace('_', '-')} {value!r} is outside the allowed range {lo}..{hi}")
    return budgets, parse_cost(options.cost)


def design_costs(nodes, cfg: RunConfig, target: str, family: str, figure: CostFigure) -> dict[str, float]:
    """The target's estimate of ``nodes`` as one flat dict: resources, latency in cycles and ns, BOPs,
    and ``cost``, the cost figure of them."""
    from codesign.estimate import design

    total = design.estimate_design(nodes, cfg, [target], family=family)[target].total
    fmax = total.fmax_mhz
    fmax_low = min(fmax) if isinstance(fmax, (tuple, list)) else fmax  # the slow end of the seed range
    ns = total.latency_cycles * cfg.hls.clock_period_ns if target == "hls4ml" else \
        (total.latency_cycles * 1000.0 / fmax_low if fmax_low else math.nan)
    input_bits = {n.name: n.input_type.width for n in nodes if n.has_weights}
    costs = {"lut": total.lut or 0.0, "ff": total.ff or 0.0, "dsp": total.dsp or 0.0, "bram": total.bram or 0.0,
             "latency_cycles": float(total.latency_cycles), "latency_ns": ns,
             "bops": float(sum(analysis.bops(n, input_bits[n.name]) for n in nodes if n.has_weights))}
    return {**costs, "cost": figure.of(costs)}


def _say(progress: bool, message: str) -> None:
    from codesign.flow import _say as say

    say(progress, message)


def _accuracy(nodes, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(reference.logits(nodes, x), axis=1) == y))


def _cross_entropy(nodes, x: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of the bit-exact logits: the tie-break between equally accurate designs."""
    z = reference.logits(nodes, x)
    z = z - z.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))


class _Trainer:
    """Fine-tunes and from-scratch trainings of designs, each scored on the bit-exact integer model."""

    def __init__(self, cfg: RunConfig, inputs, options: SelectOptions, checkpoint, figure: CostFigure) -> None:
        self.cfg, self.inputs, self.options, self.checkpoint, self.figure = cfg, inputs, options, checkpoint, figure
        ds = inputs.dataset
        self.y = (ds.train.y, ds.val.y, ds.test.y)
        self.n_classes = len(ds.classes)

    def finetune(self, design: Design) -> dict[str, Any]:
        import tensorflow as tf

        from codesign import train

        cfg = apply(self.cfg, design)
        model, _ = train.quantized_model(cfg, self.inputs.x_train, self.y[0], self.inputs.x_val, self.y[1], self.n_classes,
                                         epochs=self.options.finetune_epochs, init=self.checkpoint, teacher=self.checkpoint, progress=False)
        nodes = analysis.describe(model, cfg.input.type)
        costs = design_costs(nodes, cfg, self.options.target, self.options.family, self.figure)
        result = {"val_accuracy": _accuracy(nodes, self.inputs.x_val, self.y[1]),
                  "val_loss": round(_cross_entropy(nodes, self.inputs.x_val, self.y[1]), 5),
                  "test_accuracy": _accuracy(nodes, self.inputs.x_test, self.y[2]),
                  "trained_estimate": costs, "trained_cost": costs["cost"],
                  "sparsity": weight_sparsity(nodes)}
        tf.keras.backend.clear_session()
        return result

    def trained(self, cfg: RunConfig, seed: int) -> tuple[float, float]:
        """Validation and test accuracy of ``cfg`` trained by its own recipe (``train.train``: float twin,
        then QAT) with ``seed``."""
        import tensorflow as tf

        from codesign import train

        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
        result = train.train(cfg, self.inputs.x_train, self.y[0], self.inputs.x_val, self.y[1], self.inputs.x_test, self.y[2],
                             self.n_classes, progress=False)
        nodes = analysis.describe(result.model, cfg.input.type)
        accuracies = _accuracy(nodes, self.inputs.x_val, self.y[1]), _accuracy(nodes, self.inputs.x_test, self.y[2])
        tf.keras.backend.clear_session()
        return accuracies


def weight_sparsity(nodes) -> float:
    weights = [n.kernel for n in nodes if n.has_weights]
    total = sum(w.size for w in weights)
    return round(1 - sum(int(np.count_nonzero(w)) for w in weights) / total, 4)


def _spread(designs: list[Design], cost, count: int) -> list[Design]:
    """Up to ``count`` of ``designs`` spread evenly in log cost, cheapest and dearest included."""
    if count <= 0 or not designs:
        return []
    ordered = sorted(designs, key=cost)
    logs = [math.log(max(cost(d), 1e-9)) for d in ordered]
    picked: list[Design] = []
    for j in range(count):
        target = logs[0] + (logs[-1] - logs[0]) * j / max(1, count - 1)
        best = min(ordered, key=lambda d: abs(math.log(max(cost(d), 1e-9)) - target))
        if best not in picked:
            picked.append(best)
    return picked


def _point(design: Design, costs: dict[str, float], proxy: float, figure: CostFigure, budgets: dict[str, float],
           names: list[str], uniform: set[str]) -> dict[str, Any]:
    return {"key": design_key(design), "layers": [{"name": n, **o.to_dict()} for n, o in zip(names, design)],
            "estimate": {k: round(v, 1) for k, v in costs.items()}, "cost": round(costs["cost"], 1),
            "proxy": round(proxy, 6), "uniform": design_key(design) in uniform, "within_budget": within(costs, budgets),
            "val_accuracy": None, "test_accuracy": None}


def _clean(out: Path) -> None:
    """A stale choice from an earlier selection goes first, so a failure never looks like a chosen design."""
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)
    if (out / "design").is_dir():
        shutil.rmtree(out / "design")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def run_select(cfg: RunConfig, options: SelectOptions, out: Path, hls_root: Path = Path("hls_projects"), *,
               progress: bool = True, verbose: bool = False) -> dict[str, Any]:
    """Select, build and check a design; returns select.json's content. Raises InfeasibleBudget (writing
    nothing) when no design in the space meets the budgets."""
    from codesign import flow, train
    from codesign.estimate import network

    budgets, figure = check_options(options)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=options.seed))
    if cfg.train.float_epochs < 1:
        raise CodesignError("train.float_epochs: selection fine-tunes from a float checkpoint; set it >= 1")
    inputs = flow.load_inputs(cfg)
    seconds: dict[str, float] = {}
    start = clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        seconds[name] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()

    names = [s.name for s in weighted_layers(cfg)]
    shapes = network.nodes_from_config(cfg)
    in_channels = {n.name: int(n.kernel.shape[-2]) for n in shapes if n.has_weights}
    knobs = [options.space.knobs(s, in_channels[s.name]) for s in weighted_layers(cfg)]
    ds = inputs.dataset
    _say(progress, f"select on {options.target}: training the float checkpoint of {cfg.name} ({cfg.train.float_epochs} epochs)")
    with flow.tool_output(os.devnull, verbose=verbose):
        checkpoint, _ = train.float_model(cfg, inputs.x_train, ds.train.y, inputs.x_val, ds.val.y, len(ds.classes), progress=False)
    weights = sensitivity.float_weights(checkpoint)
    lap("checkpoint")

    tables = sensitivity.table(cfg, knobs, weights, inputs.x_train[:2000])
    lap("sensitivity")

    refused: dict[str, str] = {}  # designs the target cannot build (e.g. the accelerator's operand limits)

    def cost_of(design: Design) -> dict[str, float]:
        dcfg = apply(cfg, design)
        try:
            return design_costs(network.nodes_from_config(dcfg, weights=weights), dcfg, options.target, options.family, figure)
        except CodesignError as err:
            refused[design_key(design)] = str(err)
            return dict.fromkeys((*RESOURCES, "bops", "cost"), math.inf)

    ev = search.Evaluated(cost_of, lambda d: sensitivity.proxy(tables, d), lambda costs: costs["cost"])
    search.greedy_path(knobs, ev)  # its designs, costed, are in ev.points
    uniform = uniform_designs(knobs)
    for d in uniform:
        ev(d)
    feasible = lambda d: within(ev(d)[0], budgets)  # noqa: E731
    start_points = [d for d, _, _ in ev.points.values() if feasible(d)]
    if not start_points:
        if len(refused) == len(ev.points):
            raise InfeasibleBudget(f"the {options.target} target cannot build any design of the space: {next(iter(refused.values()))}")
        cheapest = min((d for d, _, _ in ev.points.values()), key=ev.cost)
        costs = ev(cheapest)[0]
        over = ", ".join(f"{FLAGS[k]} {v:g} (cheapest has {costs[k]:,.1f})" for k, v in budgets.items() if costs[k] > v)
        raise InfeasibleBudget(f"no design in the search space meets the budget: {over}; the cheapest design found is "
                               f"[{design_key(cheapest)}] at {figure.text} = {ev.cost(cheapest):,.1f}")
    lap("search")
    _say(progress, f"searched {len(ev.points)} designs in {seconds['search']:.1f} s (sensitivity {seconds['sensitivity']:.1f} s)")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _clean(out)
    buildable = [(d, p) for d, _, p in ev.points.values() if design_key(d) not in refused]
    proxy_front = [buildable[i][0] for i in search.pareto([(ev.cost(d), -p) for d, p in buildable])]

    def finetuned(design: Design) -> RunConfig:
        """The run config of ``design`` trained as its fine-tune was: QAT of ``finetune_epochs`` from the
        float twin (same seed, so the flow retraces the checkpoint). Training the design from scratch
        instead would give other weights, with other zeros and so another cost."""
        dcfg = apply(cfg, design)
        return dataclasses.replace(dcfg, train=dataclasses.replace(dcfg.train, init_from_float=True, epochs=options.finetune_epochs),
                                   rtl=dataclasses.replace(dcfg.rtl, enabled=options.target == "accel", synth=options.target == "accel",
                                                           synth_targets=(options.family,)))  # the budgets' family alone

    trainer = _Trainer(cfg, inputs, options, checkpoint, figure)
    tuned: dict[str, dict] = {}

    def tune(design: Design) -> dict:
        key = design_key(design)
        if key not in tuned:
            with flow.tool_output(os.devnull, verbose=verbose):
                tuned[key] = trainer.finetune(design)
            _say(progress, f"fine-tuned [{key}]: {figure.text} {tuned[key]['trained_cost']:,.0f} on its trained weights "
                           f"(checkpoint {ev.cost(design):,.0f}), validation accuracy {tuned[key]['val_accuracy']:.4f}")
        return tuned[key]

    def eligible(key: str) -> bool:
        t = tuned[key]
        return within(t["trained_estimate"], budgets) and (options.min_accuracy is None or t["val_accuracy"] >= options.min_accuracy)

    # What gets fine-tuned, in order: the best candidates under the budget, the best uniform ones, the front.
    if budgets:
        # The best design by proxy under the budget (local search), fine-tuned. Trained weights may
        # cost more than the checkpoint's (fewer zeros): then the budget the search sees shrinks by
        # the growth the fine-tune showed, and the search runs again. A candidate that fits is
        # followed by the next best, a second opinion against the noise of a small validation split.
        effective, fitted = dict(budgets), 0
        for _ in range(options.candidates + RETRIES):
            if fitted == options.candidates:
                break
            # a design is new when its cost and proxy are: options the quantizer makes equal (say 2-bit
            # weights pruned to 50% or 75%, where rounding zeroes as many) are one network
            seen = {(ev.cost(ev.points[k][0]), ev.points[k][2]) for k in tuned}
            fresh = lambda d: within(ev(d)[0], effective) and (ev.cost(d), ev(d)[1]) not in seen  # noqa: E731
            starts = sorted((d for d, _, _ in list(ev.points.values()) if fresh(d)), key=lambda d: (ev(d)[1], ev.cost(d)))
            if not starts:
                break
            candidate = search.local_search(knobs, ev, starts[0], fresh)
            trained = tune(candidate)["trained_estimate"]
            fitted += within(trained, budgets)
            for r, limit in budgets.items():
                if trained[r] > limit:
                    effective[r] = min(effective[r], 0.99 * effective[r] * limit / trained[r])
        for d in sorted((d for d in uniform if feasible(d)), key=lambda d: (ev(d)[1], ev.cost(d)))[: options.uniform_candidates]:
            tune(d)
    for d in _spread(proxy_front, ev.cost, options.front_points):
        tune(d)
    if options.min_accuracy is not None:
        # the cheapest front design whose fine-tune reaches the floor, by bisection along the front's cost
        ordered = sorted((d for d in proxy_front if feasible(d)), key=ev.cost)
        lo, hi = 0, len(ordered) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if tune(ordered[mid])["val_accuracy"] >= options.min_accuracy:
                hi = mid
            else:
                lo = mid + 1
        if ordered:
            tune(ordered[lo])

    lap("finetune")

    uniform_keys = {design_key(d) for d in uniform}
    points = {key: _point(d, costs, proxy, figure, budgets, names, uniform_keys) for key, (d, costs, proxy) in ev.points.items()
              if key not in refused}
    for d in proxy_front:
        points[design_key(d)]["proxy_front"] = True
    for key, t in tuned.items():
        points[key].update(t)
    trained_keys = list(tuned)
    front = [trained_keys[i] for i in search.pareto([(points[k]["trained_cost"], points[k]["val_accuracy"]) for k in trained_keys])]
    for k in front:
        points[k]["pareto"] = True
    chosen_keys = [k for k in trained_keys if eligible(k)]
    result: dict[str, Any] = {
        "target": options.target, "family": options.family, "cost_metric": figure.text, "budgets": budgets,
        "min_accuracy": options.min_accuracy, "seed": options.seed, "space": options.space.to_dict(),
        "finetune_epochs": options.finetune_epochs, "config": cfg.name, "dataset": cfg.dataset.name,
        "layer_widths": "unchanged: the selection keeps every layer's units and filters",
        "evaluated": len(points), "trained": len(tuned), "front": front,
        "refused": {"designs": len(refused), "example": next(iter(refused.values()), None)},
        "points": sorted(points.values(), key=lambda p: p["cost"]),
    }
    base_cfg = baseline(cfg)
    try:
        base_costs = design_costs(network.nodes_from_config(base_cfg, weights=weights), base_cfg, options.target, options.family, figure)
        result["baseline"] = {"design": "ap_fixed<16,6> weights and activations, unpruned", "estimate": base_costs, "cost": base_costs["cost"]}
    except CodesignError as err:  # e.g. the accelerator takes operands up to 16 bits with a 32-bit accumulator
        result["baseline"] = {"design": "ap_fixed<16,6> weights and activations, unpruned", "error": str(err)}
    if not chosen_keys:
        why = (f"no fine-tuned design reached --min-accuracy {options.min_accuracy:g} within the budget"
               if options.min_accuracy is not None else "no fine-tuned design stayed within the budget on its trained weights")
        result.update(status="infeasible", chosen=None, message=why)
        seconds["total"] = round(time.monotonic() - start, 1)
        result["seconds"] = seconds
        _write_json(out / "select.json", result)
        _write_report(out, result)
        raise InfeasibleBudget(f"{why}; every evaluated point is in {out / 'select.json'}")
    if options.min_accuracy is not None:
        chosen_key = min(chosen_keys, key=lambda k: (points[k]["trained_cost"], -points[k]["val_accuracy"]))
    else:
        chosen_key = max(chosen_keys, key=lambda k: (points[k]["val_accuracy"], -points[k]["val_loss"]))
    chosen_design = ev.points[chosen_key][0]
    chosen_cfg = dataclasses.replace(finetuned(chosen_design), name=f"{cfg.name}-selected")
    chosen = dict(points[chosen_key])
    result["chosen"] = chosen
    _say(progress, f"chose [{chosen_key}]: {figure.text} {chosen['trained_cost']:,.0f} (estimate), validation accuracy {chosen['val_accuracy']:.4f}")

    if options.flow:
        chosen["flow"] = _build_chosen(chosen_cfg, out / "design", hls_root, options, budgets, figure, progress, verbose)
    lap("flow")
    # The comparisons, each trained from scratch as the flow trains: the baseline, and the best uniform
    # design under the same budget (when one was fine-tuned and is not the choice itself).
    finals = [(chosen, chosen_cfg), (result["baseline"], base_cfg)]
    uniform_keys_ok = [k for k in chosen_keys if points[k]["uniform"]]
    if uniform_keys_ok and chosen_key not in uniform_keys_ok:
        best_uniform = max(uniform_keys_ok, key=lambda k: (points[k]["val_accuracy"], -points[k]["val_loss"]))
        result["best_uniform"] = dict(points[best_uniform])
        finals.append((result["best_uniform"], finetuned(ev.points[best_uniform][0])))
    _say(progress, f"training the chosen design and {len(finals) - 1} comparison(s) with {options.eval_seeds} seed(s)")
    with flow.tool_output(os.devnull, verbose=verbose):
        for entry, entry_cfg in finals:
            runs = [trainer.trained(entry_cfg, options.seed + s) for s in range(options.eval_seeds)]
            entry["val_accuracy_seeds"] = _mean_std([v for v, _ in runs])
            entry["test_accuracy_seeds"] = _mean_std([t for _, t in runs])
    lap("seeds")
    seconds["total"] = round(time.monotonic() - start, 1)
    result["seconds"] = seconds
    result["status"] = "chosen" if chosen.get("flow", {}).get("budget_ok", True) else "over-budget"
    run_config_text = run_config.dump(chosen_cfg)
    tmp = out / "config.yaml.tmp"
    tmp.write_text(run_config_text)
    _write_json(out / "select.json", result)
    _write_report(out, result)
    os.replace(tmp, out / "config.yaml")
    return result


def _mean_std(values: list[float]) -> dict[str, Any]:
    return {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4), "seeds": [round(v, 4) for v in values]}


def _build_chosen(cfg: RunConfig, run_dir: Path, hls_root: Path, options: SelectOptions, budgets: dict[str, float],
                  figure: CostFigure, progress: bool, verbose: bool) -> dict[str, Any]:
    """The chosen design through the flow, then its cost: estimated on its trained weights and, for
    accel and unrolled, measured by synthesis; each checked against the budgets."""
    from codesign import flow, models
    from codesign.estimate import network

    rep = flow.run_flow(cfg, run_dir, hls_root, progress=progress, verbose=verbose)
    nodes = network.load_nodes(run_dir / network.NODES_FILE)
    estimate = design_costs(nodes, cfg, options.target, options.family, figure)
    built: dict[str, Any] = {"run": str(run_dir), "accuracy": rep["accuracy"], "exactness": rep["exactness"],
                             "estimate": {k: round(v, 1) for k, v in estimate.items()}, "cost_estimate": round(estimate["cost"], 1)}
    measured = None
    if options.target == "accel":
        resources = rep["rtl"].get("resources", {}).get(options.family)
        if resources:
            measured = {**resources, "latency_cycles": rep["rtl"]["cycles_per_inference"]}
    elif options.target == "unrolled":
        from codesign import unrolled

        _say(progress, "building the chosen design fully unrolled (da4ml): Verilator check and Yosys synthesis")
        with flow.stage_log(run_dir, "unrolled", verbose=verbose):
            model = models.load(run_dir / "model.h5")
            inputs = flow.load_inputs(cfg, tuple(int(d) for d in model.input_shape[1:]))
            design = unrolled.generate(nodes, run_dir / "unrolled")
            logits = unrolled.logits(design, inputs.x_test)
            built["exactness"]["qkeras_vs_unrolled"] = flow.compare(np.load(run_dir / "qkeras_logits.npy"), logits)
            synth = unrolled.synthesize(design, run_dir / "unrolled_synth", (options.family,), timeout_s=options.synth_timeout_s)
        measured = {**synth["total"][options.family], "latency_cycles": design.latency_cycles}
        if built["exactness"]["qkeras_vs_unrolled"]["mismatched"]:
            raise CodesignError(f"the chosen design's unrolled Verilog differs from QKeras on "
                                f"{built['exactness']['qkeras_vs_unrolled']['mismatched']} test samples; see {run_dir}")
    if measured is not None and all(measured.get(r) is not None for r in figure.resources):
        measured["cost"] = built["cost_measured"] = round(figure.of(measured), 1)
    checks = {}
    for name, limit in budgets.items():
        entry = {"budget": limit, "estimate": round(estimate[name], 1), "estimate_ok": estimate[name] <= limit}
        if measured is not None and measured.get(name) is not None:
            entry.update(measured=measured[name], measured_ok=measured[name] <= BUDGET_SLACK * limit)
        checks[name] = entry
    built["measured"] = measured
    built["budget_checks"] = checks
    built["budget_ok"] = all(c["estimate_ok"] and c.get("measured_ok", True) for c in checks.values())
    return built


def _write_report(out: Path, result: dict[str, Any]) -> None:
    from codesign.select import report

    report.write(out, result)
