"""The unrolled cost model against its committed Yosys measurements: held-out error, monotonicity in
bits and sparsity, extrapolation flags, speed. No tool runs here (the data is committed)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from codesign.estimate import EstimateError
from codesign.estimate import unrolled as model
from codesign.fixedpoint import FixedType

DATA = json.loads(model.DATA_FILE.read_text())
FAMILIES = sorted(DATA["coefficients"])
LUT_MAPE = 0.10  # the bar for held-out networks against Yosys


@pytest.mark.parametrize("family", FAMILIES)
def test_held_out_networks_within_tolerance(family):
    errors = []
    for p in DATA["held_out"]:
        est = model.estimate(model.point_from_dict(p["point"]).nodes(), family=family)
        measured = p["measured"][family]
        errors.append(est.total.lut / measured["lut"] - 1.0)
        assert est.total.ff == pytest.approx(measured["ff"], rel=0.05), p["point"]["name"]
        assert est.total.dsp == measured["dsp"] == 0
        assert est.total.latency_cycles == p["latency_cycles"]
    assert np.mean(np.abs(errors)) <= LUT_MAPE, [round(e, 3) for e in errors]


def test_committed_data_matches_the_code():
    """The committed features and coefficients are what the code computes from the measured points,
    measured on the designs the generator writes today."""
    from codesign import unrolled

    assert DATA["generator"] == unrolled.generator_digest(), "the generator changed: run codesign calibrate --target unrolled"
    for p in DATA["fit_points"][:6] + DATA["held_out"][:2]:
        feats = model.network_features(model.point_from_dict(p["point"]).nodes())
        assert [model._features_dict(f) for f in feats] == p["features"]
    for family in FAMILIES:
        selection = model.select_terms(DATA["fit_points"], family)
        assert selection == DATA["selection"][family]
        coef = model.fit(DATA["fit_points"], family, selection["terms"])
        assert coef == pytest.approx(DATA["coefficients"][family], rel=1e-6)
        assert all(c > 0 for c in coef.values())  # every term costs LUTs


def _layer(weight_bits: int = 4, input_bits: int = 8, sparsity: float = 0.25, seed: int = 3):
    spec = model.DenseSpec(8, weight_bits, sparsity, 0.5, (6, 2))
    return model.synthetic_network(12, FixedType(input_bits, 3, True), [spec], seed)


@pytest.mark.parametrize("family", FAMILIES)
def test_lut_grows_with_bits_and_falls_with_sparsity(family):
    lut = lambda nodes: model.estimate(nodes, family=family).total.lut  # noqa: E731
    by_weight_bits = [lut(_layer(weight_bits=b)) for b in (2, 4, 6, 8)]
    assert by_weight_bits == sorted(by_weight_bits) and by_weight_bits[0] < by_weight_bits[-1] / 2
    by_input_bits = [lut(_layer(input_bits=b)) for b in (4, 8, 12, 16)]
    assert by_input_bits == sorted(by_input_bits) and by_input_bits[0] < by_input_bits[-1]
    by_sparsity = [lut(_layer(sparsity=s)) for s in (0.0, 0.5, 0.9)]
    assert by_sparsity == sorted(by_sparsity, reverse=True) and by_sparsity[-1] < by_sparsity[0] / 3


def test_extrapolation_is_flagged():
    inside = model.estimate(_layer())
    assert inside.extrapolated == []
    lo, hi = DATA["ranges"]["input_bits"]
    wide = model.estimate(_layer(input_bits=int(hi) + 8))
    assert any(f"input_bits={int(hi) + 8}" in note and "outside the calibrated range" in note for note in wide.extrapolated)
    big = model.synthetic_network(int(DATA["ranges"]["n_in"][1]) * 2, FixedType(8, 3, True), [model.DenseSpec(4, 4, 0.5)])
    assert any("n_in=" in note for note in model.estimate(big).extrapolated)


def test_bad_input_gives_one_line_errors():
    with pytest.raises(EstimateError, match="unknown device family 'ice40'") as err:
        model.estimate(_layer(), family="ice40")
    assert "\n" not in str(err.value)
    for family in sorted(set(model.FAMILIES) - set(FAMILIES)):
        with pytest.raises(EstimateError, match=f"not calibrated for {family}"):
            model.estimate(_layer(), family=family)
    nodes = _layer()
    with pytest.raises(EstimateError, match="must start with its input node"):
        model.estimate(nodes[1:])


def test_estimate_is_fast_and_needs_no_tensorflow_or_da4ml():
    nodes = model.point_from_dict(DATA["held_out"][0]["point"]).nodes()
    model.estimate(nodes)
    t0 = time.perf_counter()
    est = model.estimate(nodes)
    assert time.perf_counter() - t0 < 0.25
    assert est.total.source == "estimate" and len(est.layers) == 3
    code = ("import sys; from codesign.estimate import unrolled as u; "
            "p = u.held_out_networks()[0]; u.estimate(p.nodes()); "
            "assert 'tensorflow' not in sys.modules and 'da4ml' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
