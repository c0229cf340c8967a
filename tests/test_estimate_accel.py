"""The accel cost model against real tools: committed Yosys points (DSP and BRAM exact, LUT and FF
within 5%), a fresh Yosys run of the components of a small build, cycles equal to a Verilator run
of a small model, extrapolation flagged, bad input refused in one line."""

from __future__ import annotations

import time

import numpy as np
import pytest

from codesign.accel.compiler import compile_model
from codesign.accel.spec import AccelSpec
from codesign.analysis import Node
from codesign.estimate import EstimateError, TargetEstimate
from codesign.estimate import accel as model
from codesign.estimate.calibrate_accel import run_top
from codesign.fixedpoint import FixedType, accumulator_type, quantized_bits_type, quantized_relu_type

TOLERANCE = 0.05


def _close(estimate: float, measured: float) -> bool:
    return abs(estimate - measured) <= TOLERANCE * measured


def small_mlp(rng: np.random.Generator, widths: tuple[int, ...] = (8, 6, 3)) -> list[Node]:
    """input -> (dense relu)* -> dense, 4-bit weights and activations."""
    current = FixedType(4, 1, False)
    nodes = [Node("inputs", "input", current, (widths[0],))]
    for i, (k, n) in enumerate(zip(widths, widths[1:])):
        w_t = quantized_bits_type(4, 0)
        b_t = quantized_bits_type(6, 2)
        w = w_t.from_codes(rng.integers(w_t.min_code, w_t.max_code, size=(k, n), endpoint=True))
        b = b_t.from_codes(rng.integers(b_t.min_code, b_t.max_code, size=n, endpoint=True))
        acc_t = accumulator_type(current, w_t, k, b_t)
        nodes.append(Node(f"fc{i + 1}", "dense", acc_t, (n,), current, acc_t, w_t, b_t, w, b, k))
        current = acc_t
        if i < len(widths) - 2:
            out_t = quantized_relu_type(4, 1)
            nodes.append(Node(f"fc{i + 1}_relu", "relu", out_t, (n,), acc_t))
            current = out_t
    return nodes


@pytest.mark.parametrize("family", model.FAMILIES)
def test_committed_points(family: str) -> None:
    """Every whole-top Yosys point in the data file: DSP and BRAM exact, LUT and FF within 5%."""
    data = model.load_model()
    points = [r for key in ("top_fit", "top_held_out") for r in data["measured"][key] if r["family"] == family]
    assert len(points) >= 3
    for r in points:
        est = model.estimate(None, AccelSpec(**r["spec"]), family=family).total
        tag = AccelSpec(**r["spec"]).tag()
        assert est.dsp == r["dsp"], tag
        assert est.bram == r["bram"], tag
        assert _close(est.lut, r["lut"]), (tag, est.lut, r["lut"])
        assert _close(est.ff, r["ff"]), (tag, est.ff, r["ff"])


def test_block_ram_rules_on_every_measured_memory() -> None:
    """The block-RAM rule gives Yosys' count for every memory component measured alone."""
    data = model.load_model()
    rows = [r for r in data["measured"]["parts"] if r["module"] in ("accel_amem", "accel_beat_ram", "accel_sdpram")]
    assert len(rows) >= 20
    for r in rows:
        spec_free = model.part_bram(r["module"], r["params"], r["family"])
        assert spec_free == r["bram"], r


def test_fresh_yosys_top(tmp_path) -> None:
    """A fresh Yosys run (synth_ecp5, flattened) of a small build in no fit, against the estimate."""
    spec = AccelSpec(rows=2, cols=3, weight_bits=5, act_bits=6, acc_bits=22, sparse_m=0, amem_depth=256,
                     wmem_depth=512, bmem_depth=32, omem_depth=256, dmem_depth=8)
    est = model.estimate(None, spec, family="ecp5").total
    measured = run_top(spec, "ecp5", tmp_path)
    assert est.dsp == measured["dsp"] and est.bram == measured["bram"], measured
    assert _close(est.lut, measured["lut"]), (est.lut, measured)
    assert _close(est.ff, measured["ff"]), (est.ff, measured)


def test_cycles_equal_verilator(tmp_path) -> None:
    """The estimate's cycles per layer sum to the RTL's perf_cycles of a Verilator run."""
    from codesign.accel.network import run_program

    rng = np.random.default_rng(7)
    nodes = small_mlp(rng)
    spec = AccelSpec(rows=2, cols=2, weight_bits=4, act_bits=4, acc_bits=16, sparse_m=0, amem_depth=64,
                     wmem_depth=64, bmem_depth=16, omem_depth=64, dmem_depth=4)
    est = model.estimate(nodes, spec, samples=3, family="ecp5")
    program = compile_model(nodes, spec)
    t = nodes[0].output_type
    codes = rng.integers(t.min_code, t.max_code, size=(3, 8), endpoint=True)
    run = run_program(program, codes, tmp_path)
    assert est.total.latency_cycles == run.total_cycles
    assert sum(layer.latency_cycles for layer in est.layers) == run.total_cycles
    assert [layer.name for layer in est.layers] == [layer.name for layer in program.layers]
    one = model.estimate(nodes, spec, samples=1)
    assert one.total.latency_cycles == run.cycles_per_inference


def test_estimate_shape_and_speed() -> None:
    spec = AccelSpec(rows=8, cols=8, weight_bits=8, act_bits=8, acc_bits=32, sparse_m=0)
    nodes = small_mlp(np.random.default_rng(1), (16, 8, 4))
    t0 = time.perf_counter()
    est = model.estimate(nodes, spec, samples=4, family="xc7")
    seconds = time.perf_counter() - t0
    assert isinstance(est, TargetEstimate) and est.target == "accel"
    comps = est.params["components"]
    for key in ("lut", "ff", "dsp", "bram"):
        assert abs(sum(c[key] for c in comps.values()) - getattr(est.total, key)) <= len(comps)
    assert est.total.dsp == 64
    low, high = est.total.fmax_mhz
    assert 0 < low <= high
    us_low, us_high = est.params["latency_us"]
    assert us_low == pytest.approx(est.total.latency_cycles / high, rel=1e-3)
    assert us_high == pytest.approx(est.total.latency_cycles / low, rel=1e-3)
    assert all(layer.lut is None and layer.latency_cycles > 0 for layer in est.layers)
    assert seconds < 0.5
    assert model.estimate(None, spec).total.latency_cycles is None


def test_extrapolation_flagged() -> None:
    inside = AccelSpec(rows=4, cols=4, weight_bits=8, act_bits=8, acc_bits=32, sparse_m=4)
    assert model.estimate(None, inside).extrapolated == []
    ranges = model.load_model()["ranges"]
    assert ranges["rows"] == [1, 16] and ranges["cols"] == [1, 16]
    big = AccelSpec(rows=16, cols=16, weight_bits=16, act_bits=8, acc_bits=32, sparse_m=4, amem_depth=1 << 16)
    notes = model.estimate(None, big).extrapolated
    assert any(n.startswith(f"weight_bits=16 is outside the calibrated range {ranges['weight_bits'][0]}..") for n in notes)
    assert any(n.startswith("amem_depth=65536 ") for n in notes)
    assert not any(n.startswith("rows=") for n in notes)


@pytest.mark.parametrize("call, words", [
    (lambda: model.estimate(None, AccelSpec(), family="ice40"), "family 'ice40'"),
    (lambda: model.estimate(None, {"rows": 4}), "AccelSpec"),
    (lambda: model.estimate(None, AccelSpec(), samples=0), "samples=0"),
])
def test_bad_input_one_line(call, words: str) -> None:
    with pytest.raises(EstimateError) as info:
        call()
    assert words in str(info.value) and "\n" not in str(info.value)


def test_unrunnable_model_one_line() -> None:
    nodes = small_mlp(np.random.default_rng(3))
    narrow = AccelSpec(rows=2, cols=2, weight_bits=2, act_bits=2, acc_bits=8, sparse_m=0)
    with pytest.raises(EstimateError) as info:
        model.estimate(nodes, narrow)
    assert "\n" not in str(info.value) and "fc1" in str(info.value)
