"""The hls4ml target's cost model: held-out public report rows, the DSP/LUT split, hls4ml's cycle and II
formulas, extrapolation flags, deterministic calibration, and the csynth report reader."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from codesign import config
from codesign.analysis import Node
from codesign.config import HlsConfig
from codesign.estimate import EstimateError, hls4ml, vitis_report
from codesign.estimate.network import nodes_from_config
from codesign.fixedpoint import FixedType, accumulator_type

DATA = Path(__file__).resolve().parent / "data" / "vitis"
REPORTS = hls4ml.REPORTS_DIR
needs_reports = pytest.mark.skipif(not (REPORTS / hls4ml.WA_FILES["resource"]).is_file(), reason=f"no public reports at {REPORTS}")


@pytest.fixture(scope="module")
def rows():
    return {r.name: r for r in hls4ml.wa_rows()}


def dense_node(kernel: np.ndarray, wbits: int = 10, xbits: int = 16, name: str = "fc", acc: FixedType | None = None) -> Node:
    """A dense node whose kernel holds the integer codes ``kernel`` on an ap_fixed<wbits, 1> grid
    (accumulator: exact unless given, as the pilot's ap_fixed<16,6>)."""
    x_t = FixedType(xbits, 6)
    w_t = FixedType(wbits, 1, True, "RND_CONV", "SAT")
    b_t = FixedType(wbits, 1, True, "RND_CONV", "SAT")
    values = kernel * w_t.lsb
    acc = acc or accumulator_type(x_t, w_t, kernel.shape[0], b_t)
    return Node(name, "dense", acc, (kernel.shape[1],), x_t, acc, w_t, b_t, values, np.zeros(kernel.shape[1]), kernel.shape[0])


def random_codes(n_in: int, n_out: int, wbits: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    limit = math.sqrt(3 / n_in) * 2 ** (wbits - 1)
    return np.clip(np.round(rng.uniform(-limit, limit, (n_in, n_out))), -(2 ** (wbits - 1)), 2 ** (wbits - 1) - 1).astype(np.int64)


def est(nodes, **hls):
    return hls4ml.estimate([Node("in", "input", nodes[0].input_type, (nodes[0].fan_in,)), *nodes], HlsConfig(**hls))


# ------------------------------------------------------------------ held-out rows of the public reports

# Rows of architectures the committed model was not fitted on (model["split"]), and the tolerance each
# resource met on them when the model was fitted: LUT and FF relative, DSP/BRAM/cycles/II exact or as
# stated. The table of every held-out row is in the hls4ml section of docs/ESTIMATOR.md.
HELD_OUT = [
    # name, LUT and FF relative tolerance, cycles and II relative tolerance (0: exact)
    ("dense_128_128_8b_rf512_resource", 0.01, 0.01, 0),
    ("dense_64_160_12b_rf1024_resource", 0.01, 0.01, 0),
    ("dense_256_96_4b_rf1024_resource", 0.01, 0.02, 0),
    ("dense_32_32_8b_rf1_resource", 0.03, 0.13, 0),
    ("dense_32_32_10b_rf1_latency", 0.01, 0.06, 0),
    ("dense_32_32_4b_rf1_latency", 0.05, 0.04, 0),  # one pipeline stage, no multiplier: the tree alone
    ("dense_32_32_12b_rf512_latency", 0.07, 0.04, 0.01),  # Latency under a multiplier limit: a schedule
]


@needs_reports
def test_the_split_holds_out_whole_architectures(rows):
    model = hls4ml.load_model()
    test = {tuple(g) for g in model["split"]["test_architectures"]}
    assert len(test) == hls4ml.TEST_ARCHITECTURES
    assert test == set(hls4ml.split_architectures(list(rows.values())))
    assert any(r.dataset == "latency" and r.group in test for r in rows.values())
    train = [r for r in rows.values() if r.group not in test]
    assert model["split"]["train_rows"] == len(train) and model["ranges"] == hls4ml.ranges_of(train)


@needs_reports
@pytest.mark.parametrize("name,lut_tol,ff_tol,cycles_tol", HELD_OUT)
def test_committed_model_reproduces_held_out_rows(rows, name, lut_tol, ff_tol, cycles_tol):
    row = rows[name]
    assert list(row.group) in hls4ml.load_model()["split"]["test_architectures"]
    pred = hls4ml.predict_layer(row.layer, hls4ml.load_model())
    assert abs(pred["lut"] / row.labels["lut"] - 1) <= lut_tol
    assert abs(pred["ff"] / row.labels["ff"] - 1) <= ff_tol
    assert abs(pred["dsp"] - row.labels["dsp"]) <= max(1.0, 0.01 * row.labels["dsp"])
    assert pred["bram"] == row.labels["bram"]
    for key in ("latency_cycles", "ii"):
        assert abs(pred[key] - row.labels[key]) <= cycles_tol * row.labels[key]


@needs_reports
def test_held_out_scores_are_the_committed_ones(rows):
    """The scores in the model file are those of its own held-out rows (and beat rule4ml's published sMAPE
    on the Resource set, where most rows are)."""
    model = hls4ml.load_model()
    scores = hls4ml.heldout(list(rows.values()), model)["sets"]
    for dataset, resources in model["heldout"].items():
        for resource, metrics in resources.items():
            assert scores[dataset][resource]["smape"] == pytest.approx(metrics["smape"], abs=0.01)
    published = {"lut": 14.4, "ff": 15.3, "dsp": 103, "bram": 52, "latency_cycles": 13.7}
    for resource, bar in published.items():
        assert scores["resource"][resource]["smape"] < bar


# ------------------------------------------------------------------ the DSP / LUT split

def test_pruned_weights_take_their_dsps_with_them():
    codes = random_codes(32, 32, 12)
    full = est([dense_node(codes, 12)]).total.dsp
    half = codes.copy()
    half[:, ::2] = 0
    pruned = est([dense_node(half, 12)]).total.dsp
    assert 0 < pruned < full and abs(pruned - full / 2) <= 0.1 * full
    assert est([dense_node(np.zeros_like(codes), 12)]).total.dsp == 0
    # Resource with RF > 1: the ROM multipliers stay, zero or not (only hls4ml's compression removes them)
    rf = dict(strategy="Resource", reuse_factor=64)
    assert est([dense_node(half, 12)], **rf).total.dsp == est([dense_node(codes, 12)], **rf).total.dsp == 32 * 32 / 64


def test_dsp_by_bit_width():
    """Constants with fewer than three CSD digits, and operands narrower than t_var, go to logic."""
    rules = hls4ml.load_model()["rules"]
    shifts = np.array([[1, 2, -4, 8], [16, -1, 2, 1]] * 8)  # powers of two: wiring
    two_digits = np.array([[3, 5, -6, 9], [10, 12, -17, 24]] * 8)  # one adder each
    three_digits = np.array([[11, 13, -21, 19], [27, 37, -43, 45]] * 8)
    assert hls4ml.csd_digits(three_digits).min() == 3 and hls4ml.csd_digits(two_digits).max() == 2
    assert est([dense_node(shifts, 8)]).total.dsp == 0
    assert est([dense_node(two_digits, 8)]).total.dsp == 0
    dsp = est([dense_node(three_digits, 8)]).total.dsp
    assert dsp > 0.8 * 16 * 4 / 2  # 16 inputs x 4 distinct constants per input (rows repeat: products shared)
    assert est([dense_node(three_digits, 8, xbits=rules["t_var"] - 1)]).total.dsp == 0  # narrow input
    # ROM weights (Resource, RF > 1): a DSP per multiplier from t_var bits on
    codes = random_codes(64, 32, 8)
    rf = dict(strategy="Resource", reuse_factor=128)
    assert est([dense_node(codes, 8)], **rf).total.dsp == 64 * 32 / 128
    narrow = np.clip(codes, -(2 ** (rules["t_var"] - 2)), 2 ** (rules["t_var"] - 2) - 1)
    assert est([dense_node(narrow, rules["t_var"] - 1)], **rf).total.dsp == 0
    assert est([dense_node(narrow, rules["t_var"] - 1)], **rf).total.lut > 0


def test_csd_digits():
    values = np.arange(-300, 301)
    for v, d in zip(values, hls4ml.csd_digits(values)):
        # the CSD form has no two adjacent non-zero digits and is minimal among signed-digit forms
        k, digits = abs(int(v)), 0
        while k:
            if k & 1:
                k -= 1 if (k & 3) == 1 else -1
                digits += 1
            k >>= 1
        assert d == digits
    assert list(hls4ml.csd_digits(np.array([0, 1, 3, 7, 11, 255, 256]))) == [0, 1, 2, 2, 3, 2, 1]


# ------------------------------------------------------------------ cycles and II: hls4ml's formulas

@pytest.mark.parametrize("rf", [2, 4, 8, 16, 32, 64, 128, 256, 512])
def test_resource_ii_is_the_reuse_factor(rf):
    model = hls4ml.load_model()
    codes = random_codes(32, 16, 8, seed=rf)
    total = est([dense_node(codes, 8)], strategy="Resource", reuse_factor=rf).total
    assert total.ii == rf
    assert total.latency_cycles == rf + model["timing"]["reuse_depth_dsp"]


def test_reuse_factor_is_the_one_hls4ml_would_use():
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    for n_in, n_out in [(32, 16), (96, 32), (160, 96), (10, 7)]:
        theirs = [rf for rf in range(1, n_in * n_out + 1) if FPGABackend._validate_reuse_factor(None, n_in, n_out, rf)]
        assert hls4ml.valid_reuse_factors(n_in, n_out) == theirs
    assert hls4ml.closest_reuse_factor(96, 32, 512) == 384  # the pilot asked for 512 and got 384
    e = est([dense_node(random_codes(96, 32, 8), 8)], strategy="Resource", reuse_factor=512)
    assert e.total.ii == 384 and e.params["reuse_factors"] == {"fc": 384}
    # hls4ml corrects the reuse factor of the Resource strategy only
    assert est([dense_node(random_codes(96, 32, 8), 8)], reuse_factor=500).params["reuse_factors"] == {"fc": 500}


def test_latency_strategy_rf1_is_one_pipeline():
    nodes = nodes_from_config(config.default_config("digits"))
    e = hls4ml.estimate(nodes, HlsConfig())
    assert all(c.ii == 1 for c in e.layers) and e.total.ii == 1
    assert e.total.latency_cycles == sum(c.latency_cycles for c in e.layers)


def test_multiplier_limit_is_hls4mls():
    codes = random_codes(32, 32, 8)
    codes[:4] = 0  # 128 zeros
    layer = hls4ml.layer_of(dense_node(codes, 8), HlsConfig(reuse_factor=16), 16)
    assert hls4ml.multiplier_limit(layer) == math.ceil(1024 / 16) - 128 // 16


# ------------------------------------------------------------------ a network, and extrapolation

def test_a_three_layer_mlp():
    cfg = config.default_config("digits")
    nodes = nodes_from_config(cfg)
    e = hls4ml.estimate(nodes, cfg.hls)
    assert e.target == "hls4ml" and [c.name for c in e.layers] == [n.name for n in nodes[1:]]
    for key in ("lut", "ff", "dsp", "bram"):
        assert getattr(e.total, key) == pytest.approx(sum(getattr(c, key) for c in e.layers))
        assert all(getattr(c, key) >= 0 for c in e.layers)
    assert all(c.source == "estimate" for c in [*e.layers, e.total])
    assert e.params["reuse_factors"] == {"fc1": 1, "fc2": 1, "output": 1}
    weighted = [c for c in e.layers if c.name in ("fc1", "fc2", "output")]
    assert all(c.lut > 0 for c in weighted) and all(c.dsp == int(c.dsp) for c in weighted)
    assert e.to_dict()["total"]["lut"] == round(e.total.lut, 1)
    # Resource with a reuse factor: fewer LUTs, a ROM per layer, II = the largest reuse factor
    r = hls4ml.estimate(nodes, replace(cfg.hls, strategy="Resource", reuse_factor=32))
    assert r.total.lut < e.total.lut and r.total.bram > 0 and r.total.ii == 32
    resource = replace(cfg.hls, strategy="Resource")
    per_layer = hls4ml.estimate(nodes, resource, reuse_factors={"fc1": 64, "fc2": 2})
    assert per_layer.params["reuse_factors"] == {"fc1": 64, "fc2": 2, "output": 1} and per_layer.total.ii == 64
    with pytest.raises(EstimateError, match="not in the network: fc9"):
        hls4ml.estimate(nodes, cfg.hls, reuse_factors={"fc9": 2})


def test_cnn_and_stream():
    cfg = config.load(Path(__file__).resolve().parent.parent / "configs" / "digits-cnn.yaml")
    nodes = nodes_from_config(cfg)
    e = hls4ml.estimate(nodes, cfg.hls)
    kinds = {n.name: n.kind for n in nodes}
    conv = next(c for c in e.layers if kinds[c.name] == "conv2d")
    assert conv.latency_cycles >= 36  # the kernel runs over the 6x6 output pixels
    assert any("conv2d: no conv2d rows" in note for note in e.extrapolated)
    s = hls4ml.estimate(nodes, replace(cfg.hls, io_type="io_stream"))
    assert s.total.latency_cycles > e.total.latency_cycles and any("io_stream" in note for note in s.extrapolated)
    inner = [n.name for n in nodes if n.kind == "dense"][:-1]  # the last layer's outputs are the top's ports
    assert inner and all(a.ff > b.ff for a, b in zip(s.layers, e.layers) if a.name in inner)  # the stream FIFOs


def test_extrapolation_is_flagged():
    t16 = FixedType(16, 6)
    inside = dense_node(random_codes(64, 64, 8), 8, acc=t16)
    assert est([inside], strategy="Resource", reuse_factor=512).extrapolated == []
    narrow = est([dense_node(random_codes(64, 64, 8), 8, xbits=8, acc=t16)], strategy="Resource", reuse_factor=512).extrapolated
    assert narrow == ["fc: input_bits=8 is outside the calibrated range 16..16"]
    exact = est([dense_node(random_codes(64, 64, 8), 8)], strategy="Resource", reuse_factor=512).extrapolated
    assert exact == ["fc: accum_bits=30 is outside the calibrated range 16..16", "fc: result_bits=30 is outside the calibrated range 16..16"]
    big = est([dense_node(random_codes(512, 64, 16), 16)], strategy="Resource", reuse_factor=2048).extrapolated
    assert any("n_in=512 is outside" in n for n in big) and any("weight_bits=16 is outside" in n for n in big)
    assert any("reuse_factor_resource_gt1=2048 is outside" in n for n in big)
    leq = est([inside], strategy="Resource", reuse_factor=8).extrapolated
    assert any("RF <= n_in" in n or "reuse_factor=8 <= n_in=64" in n for n in leq)


# ------------------------------------------------------------------ calibration

@needs_reports
def test_calibrate_refits_to_the_committed_json(tmp_path):
    out = hls4ml.calibrate(out=tmp_path / "model.json", progress=False)
    assert out.read_text() == hls4ml.MODEL_FILE.read_text()


@needs_reports
def test_weight_stats_of_the_pilot_are_derived_from_codes(rows):
    """The committed statistics are what weight_stats gives for codes of the pilot's grid: check the
    invariants every row's statistics must keep."""
    for row in list(rows.values())[::50]:
        s, layer = row.layer.stats, row.layer
        assert s["n_in"] == layer.n_in and s["n_out"] == layer.n_out
        assert 0 < s["nnz"] <= layer.n_in * layer.n_out
        assert sum(s["pairs"]) <= s["nnz"] and s["code_bits"] <= layer.b_w


def test_missing_reports_are_one_line(tmp_path):
    with pytest.raises(EstimateError, match=r"no wa_pilot_dense_resource.csv"):
        hls4ml.wa_rows(tmp_path)


# ------------------------------------------------------------------ the csynth report reader

def test_vivado_report_and_its_module_files():
    total, modules = vitis_report.read(DATA / "vivado" / "csynth.xml")
    assert (total.name, total.source, total.lut, total.ff, total.dsp, total.bram) == ("myproject", "vitis-report", 6740, 653, 2, 2)
    assert (total.latency_cycles, total.ii) == (514, 512)  # worst-case latency, Interval-min
    assert [m.name for m in modules] == ["dense_resource_rf_gt_nin_rem0_ap_fixed_ap_fixed_config2_s"]
    assert modules[0].lut == 6488 and modules[0].source == "vitis-report"
    assert vitis_report.read(DATA / "vivado")[0] == total  # a report directory


def test_vitis_report_modules_in_one_file():
    total, modules = vitis_report.read(DATA / "vitis" / "csynth.xml")
    assert (total.lut, total.ff, total.dsp, total.bram, total.latency_cycles, total.ii) == (2840, 18, 61, 0, 0, 1)
    assert len(modules) == 2 and modules[1].name.startswith("relu_") and modules[1].lut == 1630


@pytest.mark.parametrize("name,message", [
    ("malformed.xml", "not a csynth report: no AreaEstimates/Resources"),
    ("entity.xml", "refused: the XML declares a DOCTYPE or ENTITY"),
    ("truncated.xml", "not well-formed XML"),
    ("missing.xml", "cannot read the HLS report"),
])
def test_bad_reports_are_refused_in_one_line(name, message):
    with pytest.raises(EstimateError) as err:
        vitis_report.read(DATA / name)
    text = str(err.value)
    assert "\n" not in text and text.startswith(str(DATA / name)) and message in text
