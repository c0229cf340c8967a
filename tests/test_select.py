"""codesign select: the search space, budgets and errors, the search, and small selections end to end
on the real tools (QAT, hls4ml C simulation, the unrolled Verilog in Verilator, Yosys)."""

import dataclasses
import json

import numpy as np
import pytest

from codesign import cli, config, flow, unrolled
from codesign.estimate import network
from codesign.errors import CodesignError
from codesign.select import SelectOptions, check_options, run_select, search, space
from codesign.select.space import LayerOption

SMALL = config.validate(config.RunConfig(
    name="select-small",
    dataset=config.DatasetConfig(name="digits", max_train=600),
    layers=(config.LayerSpec("dense", name="fc1", units=16), config.LayerSpec("dense", name="output", activation="linear")),
    train=config.TrainConfig(epochs=4, float_epochs=4),
    rtl=config.RtlConfig(enabled=False),
))


# --- budgets, cost figures and the search space -------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--max-lut", "-5"], "--max-lut -5.0: a budget must be a number > 0"),
    (["--max-dsp", "0"], "--max-dsp 0.0: a budget must be a number > 0"),
    (["--target", "unrolled", "--max-bram", "4"], "--max-bram: the unrolled target does not estimate bram"),
    (["--cost", "lut+55*luts", "--max-cost", "100"], "term '55*luts' is not a resource; write a sum like lut+55*dsp of: lut, ff"),
    ([], "give a budget (--max-lut"),
    (["--max-lut", "100", "--min-accuracy", "95"], "--min-accuracy 95.0: give a fraction in (0, 1]"),
    (["--max-lut", "100", "--weight-bits", "1,4"], "--weight-bits '1,4': every choice must be in 2..8"),
    (["--max-lut", "100", "--sparsity", "0.5,1.2"], "sparsity choice '1.2' is outside [0, 1)"),
    (["--max-lut", "100", "--sparsity", "4:2"], "sparsity choice '4:2': N:M needs 1 <= N < M <= 32"),
])
def test_bad_budgets_get_one_line_errors(argv, message, tmp_path, capsys):
    assert cli.main(["select", "--dataset", "digits", "--out", str(tmp_path / "sel"), *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "sel").exists()


def test_unknown_budget_names_the_allowed_ones():
    with pytest.raises(CodesignError, match="unknown budget 'luts'; allowed: --max-lut"):
        space.check_budgets({"luts": 5}, "hls4ml")


@pytest.mark.parametrize("text, costs, expected", [
    ("lut+55*dsp", {"lut": 100, "dsp": 2}, 210), ("LUT + 55dsp", {"lut": 100, "dsp": 2}, 210),
    ("bops", {"bops": 7}, 7), ("ff+0.5*latency_ns", {"ff": 10, "latency_ns": 4}, 12),
])
def test_cost_figures(text, costs, expected):
    assert space.parse_cost(text).of(costs) == expected


def test_apply_keeps_widths_and_sets_bits_and_sparsity():
    design = (LayerOption(3, 5, "2:4"), LayerOption(4, None, "0.5"))
    cfg = space.apply(SMALL, design)
    fc1, out = cfg.layers
    assert (fc1.units, fc1.weight_bits, fc1.act_bits, fc1.nm, fc1.sparsity) == (16, 3, 5, "2:4", 0.0)
    assert (out.units, out.weight_bits, out.sparsity, out.nm) == (None, 4, 0.5, None)
    base = space.baseline(SMALL).layers[0]
    assert (str(base.weight_type), str(base.act_type)) == ("ap_fixed<16,6,RND_CONV,SAT>", "ap_ufixed<16,6,RND_CONV,SAT>")


def test_nm_choices_a_layer_cannot_tile_are_dropped():
    knobs = space.SearchSpace(sparsities=("0", "2:4", "1:8")).knobs(SMALL.layers[0], in_channels=12)
    assert knobs["sparsity"] == ("0", "2:4")  # 12 inputs tile groups of 4, not of 8


def test_uniform_designs_share_every_knob():
    knobs = [space.SearchSpace().knobs(s, 64) for s in space.weighted_layers(SMALL)]
    designs = space.uniform_designs(knobs)
    assert len(designs) == 6 * 6 * 4
    for d in designs:
        assert d[0].weight_bits == d[1].weight_bits and d[0].sparsity == d[1].sparsity and d[1].act_bits is None


# --- the search, on a cost and a proxy that are known -------------------------------------------

def _toy(knobs):
    """Cost: bits times density per layer; proxy: 2**-bits noise, more for pruning."""
    def cost(design):
        c = sum(o.weight_bits * (o.act_bits or 4) * (1 - o.fraction) * (10 if i == 0 else 1) for i, o in enumerate(design))
        return {"cost": c}
    proxy = lambda d: sum(2.0 ** -o.weight_bits + 2.0 ** -(o.act_bits or 16) + o.fraction ** 2 for o in d)  # noqa: E731
    return search.Evaluated(cost, proxy, lambda c: c["cost"])


def test_greedy_path_goes_from_the_most_precise_to_the_cheapest_and_local_search_respects_the_budget():
    knobs = [space.SearchSpace().knobs(s, 64) for s in space.weighted_layers(SMALL)]
    ev = _toy(knobs)
    path = search.greedy_path(knobs, ev)
    costs = [ev.cost(d) for d in path]
    assert path[0] == search.most_precise(knobs)
    assert costs == sorted(costs, reverse=True) and len(set(costs)) == len(costs)
    cheapest = min(ev.cost(d) for d in [*path, *space.uniform_designs(knobs)])
    assert costs[-1] == cheapest
    budget = costs[0] / 8
    feasible = lambda d: ev.cost(d) <= budget  # noqa: E731
    start = next(d for d in path if feasible(d))
    best = search.local_search(knobs, ev, start, feasible)
    assert feasible(best) and ev(best)[1] <= ev(start)[1]
    # no single move from the result is both feasible and better
    assert not [m for m in search.moves(knobs, best, -1) + search.moves(knobs, best, +1) if feasible(m) and ev(m)[1] < ev(best)[1] - 1e-12]


def test_pareto_keeps_the_undominated_points():
    points = [(1, 0.5), (2, 0.7), (2, 0.6), (3, 0.65), (4, 0.9), (0.5, 0.1)]
    assert search.pareto(points) == [5, 0, 1, 4]


# --- end to end ----------------------------------------------------------------------------------

def _select(tmp_path, **options):
    defaults = dict(target="hls4ml", finetune_epochs=2, candidates=2, uniform_candidates=1, front_points=3, eval_seeds=1)
    return run_select(SMALL, SelectOptions(**{**defaults, **options}), tmp_path / "sel", tmp_path / "hls", progress=False)


def _check_result(result, out, min_trained: int = 3):
    saved = json.loads((out / "select.json").read_text())
    assert saved["status"] == result["status"] == "chosen"
    chosen = saved["chosen"]
    trained = [p for p in saved["points"] if p["val_accuracy"] is not None]
    assert len(trained) == saved["trained"] >= min_trained and saved["evaluated"] > len(trained)
    assert chosen["key"] in {p["key"] for p in trained}
    assert all(p["within_budget"] for p in trained if p["key"] == chosen["key"])
    for k in saved["front"]:  # no front point is dominated by a trained point
        p = next(q for q in trained if q["key"] == k)
        assert not any(q["trained_cost"] <= p["trained_cost"] and q["val_accuracy"] > p["val_accuracy"] for q in trained)
    loaded = config.load(out / "config.yaml")
    assert [(s.weight_bits, s.nm or s.sparsity) for s in loaded.layers] == \
        [(l["weight_bits"], float(l["sparsity"]) if ":" not in l["sparsity"] else l["sparsity"]) for l in chosen["layers"]]
    assert [s.units for s in loaded.layers] == [s.units for s in SMALL.layers]  # widths unchanged
    assert (out / "pareto.png").stat().st_size > 10_000 and "![Pareto front](pareto.png)" in (out / "report.md").read_text()
    assert set(saved["seconds"]) >= {"checkpoint", "sensitivity", "search", "finetune", "flow", "seeds", "total"}
    return saved


def test_select_on_the_unrolled_target_builds_synthesizes_and_checks_the_budget(tmp_path):
    """A LUT budget on the unrolled target: the chosen design runs through the flow (hls4ml C-sim
    exact), its unrolled Verilog matches QKeras in Verilator, and Yosys' LUTs stay within 1.1x the budget."""
    from codesign.select import design_costs

    widest = space.apply(SMALL, (LayerOption(8, 8, "0"), LayerOption(8, None, "0")))  # the space's most expensive design
    most = design_costs(network.nodes_from_config(widest), widest, "unrolled", "ecp5", space.parse_cost("lut"))["lut"]
    budget = round(most / 3)
    # The search's breadth is the other tests' business: one candidate and one uniform design, no front.
    result = _select(tmp_path, target="unrolled", budgets={"lut": budget}, cost="lut", candidates=1, front_points=0)
    saved = _check_result(result, tmp_path / "sel", min_trained=2)
    built = saved["chosen"]["flow"]
    for key in ("qkeras_vs_hls4ml", "qkeras_vs_reference", "qkeras_vs_unrolled"):
        assert built["exactness"][key]["mismatched"] == 0 and built["exactness"][key]["samples"] == 360, key
    check = built["budget_checks"]["lut"]
    assert check["budget"] == budget and check["estimate_ok"] and check["measured_ok"], check
    assert built["measured"]["source"] == "yosys" and built["measured"]["lut"] <= 1.1 * budget
    assert saved["chosen"]["trained_estimate"]["lut"] <= budget


def test_select_with_an_accuracy_floor_on_hls4ml(tmp_path):
    result = _select(tmp_path, min_accuracy=0.5, flow=True)
    saved = _check_result(result, tmp_path / "sel")
    chosen = saved["chosen"]
    assert chosen["val_accuracy"] >= 0.5
    cheaper = [p for p in saved["points"] if p["val_accuracy"] is not None and p["trained_cost"] < chosen["trained_cost"]]
    assert all(p["val_accuracy"] < 0.5 for p in cheaper)  # the cheapest trained design that reaches the floor
    assert chosen["flow"]["exactness"]["qkeras_vs_hls4ml"]["mismatched"] == 0
    assert saved["baseline"]["cost"] > chosen["trained_cost"]
    assert 0 <= saved["baseline"]["test_accuracy_seeds"]["mean"] <= 1 and 0 <= saved["baseline"]["val_accuracy_seeds"]["mean"] <= 1


def test_an_infeasible_budget_says_the_cheapest_design_and_writes_nothing(tmp_path):
    with pytest.raises(CodesignError, match=r"no design in the search space meets the budget: --max-lut 10 \(cheapest has .*the cheapest design found is \[w2a2s0\.\d+ w2a-s0\.\d+\] at lut\+55\*dsp = [\d,.]+$"):
        _select(tmp_path, budgets={"lut": 10})
    assert not (tmp_path / "sel").exists()


def test_the_search_is_reproducible(tmp_path):
    """Same seed, same costed designs and proxies, same fine-tuned weights (TensorFlow's ops run deterministically)."""
    a = _select(tmp_path / "a", budgets={"cost": 5000}, flow=False, front_points=0, candidates=1, uniform_candidates=0)
    b = _select(tmp_path / "b", budgets={"cost": 5000}, flow=False, front_points=0, candidates=1, uniform_candidates=0)
    assert [(p["key"], p["cost"], p["proxy"]) for p in a["points"]] == [(p["key"], p["cost"], p["proxy"]) for p in b["points"]]
    assert a["chosen"]["key"] == b["chosen"]["key"]
    trained = lambda r: [(p["key"], p["val_accuracy"], p["trained_cost"]) for p in r["points"] if p["val_accuracy"] is not None]  # noqa: E731
    assert trained(a) == trained(b) and trained(a)


# --- every value the selection can choose, through hls4ml's C simulation --------------------------

@pytest.mark.parametrize("bits", [((2, 8, "0.25"), (3, 6, "2:4"), (4, 5, "0.75"), (5, None, "0")),
                                  ((6, 4, "0.5"), (8, 3, "0"), (5, 2, "0.5"), (2, None, "0.25"))],
                         ids=["low-weights", "low-activations"])
def test_every_bit_width_in_the_space_is_exact_in_hls4ml(bits, tmp_path):
    layers = (config.LayerSpec("dense", name="fc1", units=8), config.LayerSpec("dense", name="fc2", units=8),
              config.LayerSpec("dense", name="fc3", units=8), config.LayerSpec("dense", name="output", activation="linear"))
    cfg = space.apply(dataclasses.replace(SMALL, layers=layers), tuple(LayerOption(*b) for b in bits))
    rep = flow.run_flow(cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    for key in ("qkeras_vs_hls4ml", "qkeras_vs_reference"):
        assert rep["exactness"][key]["mismatched"] == 0 and rep["exactness"][key]["samples"] == 360, key
    # and the unrolled target's Verilog, in Verilator
    nodes = network.load_nodes(tmp_path / "run" / network.NODES_FILE)
    x = flow.load_inputs(cfg).x_test
    logits = unrolled.logits(unrolled.generate(nodes, tmp_path / "unrolled"), x)
    assert flow.compare(np.load(tmp_path / "run" / "qkeras_logits.npy"), logits)["mismatched"] == 0
    covered = {b[0] for b in bits} | {b[1] for b in bits if b[1]}
    assert covered <= set(space.WEIGHT_BITS)


def test_select_on_the_accelerator_checks_the_budget_against_yosys(tmp_path):
    """A LUT budget on a 4x4 array: the chosen design runs through the flow's accelerator RTL
    (exact against QKeras), and Yosys' LUTs of the array stay within 1.1x the budget."""
    cfg = dataclasses.replace(SMALL, rtl=config.RtlConfig(enabled=False, rows=4, cols=4))
    options = SelectOptions(target="accel", budgets={"lut": 6000}, finetune_epochs=2, candidates=2, uniform_candidates=1,
                            front_points=0, eval_seeds=1)
    result = run_select(cfg, options, tmp_path / "sel", tmp_path / "hls", progress=False)
    saved = _check_result(result, tmp_path / "sel", min_trained=2)
    built = saved["chosen"]["flow"]
    assert built["exactness"]["qkeras_vs_rtl"]["mismatched"] == 0 and built["exactness"]["qkeras_vs_rtl"]["samples"] == 360
    check = built["budget_checks"]["lut"]
    assert check["estimate_ok"] and check["measured_ok"] and built["measured"]["source"] == "yosys", check
    assert abs(check["estimate"] - check["measured"]) <= 0.05 * check["measured"]
    assert [p.name for p in (tmp_path / "sel" / "design" / "synth").iterdir() if p.is_dir()] == ["ecp5"]  # the budgets' family alone
    assert config.load(tmp_path / "sel" / "config.yaml").rtl.rows == 4


def test_design_costs_give_every_budget_its_number():
    """Latency in ns is cycles x the HLS clock on hls4ml and cycles / the slow end of Fmax on unrolled;
    the cost figure is computed from the same numbers."""
    from codesign.estimate import network
    from codesign.select import design_costs

    nodes = network.nodes_from_config(SMALL)
    figure = space.parse_cost("lut+55*dsp")
    hls = design_costs(nodes, SMALL, "hls4ml", "ecp5", figure)
    assert set(hls) == {*space.RESOURCES, "bops", "cost"}
    assert hls["latency_ns"] == hls["latency_cycles"] * SMALL.hls.clock_period_ns
    assert hls["cost"] == hls["lut"] + 55 * hls["dsp"] and hls["bops"] > 0
    flat = design_costs(nodes, SMALL, "unrolled", "ecp5", figure)
    assert flat["dsp"] == flat["bram"] == 0 and flat["latency_ns"] > flat["latency_cycles"]  # Fmax below 1 GHz
    assert space.within(hls, {"latency_ns": hls["latency_ns"]}) and not space.within(hls, {"latency_ns": hls["latency_ns"] - 1})
