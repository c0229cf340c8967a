"""End to end: QAT with pruning -> hls4ml project -> C simulation, bit-exact against QKeras."""

import dataclasses
import json

import numpy as np
import pytest

from codesign import config, flow
from codesign.errors import CodesignError

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _quick(cfg, rtl=config.RtlConfig(enabled=False), **train):
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **train), rtl=rtl)


def _assert_exact(rep, keys=("qkeras_vs_hls4ml", "qkeras_vs_reference")):
    for key in keys:
        e = rep["exactness"][key]
        assert e["samples"] > 0
        assert e["mismatched"] == 0, (key, e)
        assert e["max_abs_diff"] == 0.0, (key, e)


def _assert_rtl_exact(rep, samples):
    """QKeras, hls4ml C-sim and the accelerator RTL agree; the RTL took the predicted cycles."""
    _assert_exact(rep, ("qkeras_vs_rtl", "hls4ml_vs_rtl"))
    assert rep["exactness"]["qkeras_vs_rtl"]["samples"] == samples
    assert rep["rtl"]["cycles_per_inference"] == rep["rtl"]["cycles_predicted"] > 0


def test_demo_default_meets_the_targets(tmp_path):
    """What `make demo` runs: 6-bit weights, >= 50% sparsity, >= 0.95 accuracy in C-sim, QKeras, hls4ml and
    the 8x8 accelerator RTL exact on the whole test split, Yosys resource counts in the report."""
    cfg = config.default_config("digits")
    rep = flow.run_flow(cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    _assert_exact(rep)
    _assert_rtl_exact(rep, 360)  # the whole digits test split
    assert rep["exactness"]["qkeras_vs_hls4ml"]["samples"] == 360
    assert rep["rtl"]["array"]["rows"] == rep["rtl"]["array"]["cols"] == 8
    for target in ("ecp5", "xc7"):
        resources = rep["rtl"]["resources"][target]
        assert resources["source"] == "yosys" and resources["lut"] > 1000 and resources["ff"] > 1000, resources
        assert resources["dsp"] >= 64, resources  # one multiplier per PE at least
    # The estimate of the array that was built sits beside what Yosys measured on it.
    accel = rep["estimate"]["accel"]
    assert accel["total"]["source"] == "estimate" and accel["total"]["latency_cycles"] == rep["rtl"]["cycles_predicted"]
    measured = accel["measured"]["yosys"]
    assert measured["source"] == "yosys" and measured["dsp"] == accel["total"]["dsp"] and measured["bram"] == accel["total"]["bram"]
    assert abs(accel["total"]["lut"] - measured["lut"]) <= 0.05 * measured["lut"], (accel["total"], measured)
    for target in ("hls4ml", "unrolled"):
        assert rep["estimate"][target]["total"]["lut"] > 0 and rep["estimate"][target]["total"]["source"] == "estimate"
    assert rep["accuracy"]["hls4ml_csim"] >= 0.95
    assert all(layer["weight_bits"] <= 6 for layer in rep["layers"])
    assert rep["totals"]["sparsity"] >= 0.5
    on_disk = json.loads((tmp_path / "run" / "report.json").read_text())
    assert on_disk["accuracy"] == rep["accuracy"]
    assert {"name", "type", "weight_bits", "act_bits", "sparsity", "bops"} <= set(on_disk["layers"][0])
    project = tmp_path / "hls" / cfg.name
    assert (project / "build_prj.tcl").is_file() and (project / "firmware" / "parameters.h").is_file()
    assert not [p for p in (tmp_path / "hls").iterdir() if p.name.startswith(".")], "staging directories left behind"


def test_digits_cnn_is_exact(tmp_path):
    cfg = _quick(config.load(ROOT / "configs" / "digits-cnn.yaml"), epochs=8, float_epochs=0)
    rep = flow.run_flow(cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    _assert_exact(rep)
    assert [layer["type"] for layer in rep["layers"]] == ["conv2d", "dense", "dense"]
    assert rep["accuracy"]["float"] is None and rep["accuracy"]["hls4ml_csim"] > 0.5


def test_fashion_mnist_mlp_with_2_4_sparsity_and_distillation_is_exact(tmp_path):
    cfg = config.load(ROOT / "configs" / "fashion-mlp.yaml")
    rtl = config.RtlConfig(rows=4, cols=4, samples=64, synth=False)
    cfg = _quick(dataclasses.replace(cfg, dataset=dataclasses.replace(cfg.dataset, max_train=3000)), rtl, epochs=4, float_epochs=2)
    rep = flow.run_flow(cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    _assert_exact(rep)
    assert rep["exactness"]["qkeras_vs_hls4ml"]["samples"] == 10_000  # the official test split, all of it
    _assert_rtl_exact(rep, 64)
    fc1 = rep["layers"][0]
    assert fc1["nm"] == "2:4" and fc1["nm_compliance"] == 1.0 and fc1["sparsity"] >= 0.5
    assert "fc1" in rep["rtl"]["sparse_layers"]  # the 2:4 layer runs compressed on the array
    assert rep["accuracy"]["hls4ml_csim"] > 0.6


def test_jets_from_a_local_file_is_exact(tmp_path):
    from codesign.data import write_jets_sample

    sample = write_jets_sample(tmp_path / "jets.parquet", samples=600)
    cfg = config.load(ROOT / "configs" / "jets-mlp.yaml")
    cfg = _quick(dataclasses.replace(cfg, dataset=dataclasses.replace(cfg.dataset, path=str(sample))), epochs=5, float_epochs=0)
    rep = flow.run_flow(cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    _assert_exact(rep)
    assert rep["input_type"] == "ap_fixed<16,6>"


def test_data_outside_the_input_type_is_refused_before_anything_is_written(tmp_path):
    cfg = dataclasses.replace(config.default_config("digits"), input=config.InputConfig(8, 0, False))  # [0, 0.996]: 1.0 does not fit
    with pytest.raises(CodesignError, match=r"input: the training data spans \[0, 1\] but the input type ap_ufixed<8,0> holds \[0, 0.996094\]"):
        flow.run_flow(cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    assert not (tmp_path / "run").exists() and not (tmp_path / "hls").exists()
