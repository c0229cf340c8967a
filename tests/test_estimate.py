"""The estimator's common parts: the network of a run config without TensorFlow, the nodes file of a
run, the `codesign estimate` / `codesign calibrate` command lines and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codesign import analysis, config, models
from codesign.cli import main
from codesign.data import SHAPES
from codesign.estimate import TARGETS, Cost, EstimateError, check_target
from codesign.estimate.network import load_nodes, nodes_from_config, save_nodes

REPO = Path(__file__).resolve().parent.parent
CONFIGS = [config.default_config("digits"), config.load(REPO / "configs" / "digits-cnn.yaml"), config.default_config("jets"),
           config.load(REPO / "configs" / "fashion-mlp.yaml")]
SAME = ("name", "kind", "output_type", "output_shape", "input_type", "accum_type", "weight_type", "bias_type", "fan_in", "pool_size")


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name)
def test_nodes_from_config_match_the_built_model(cfg):
    """Same nodes, names, shapes and exact types as analysis.describe of the QKeras model the flow builds."""
    shape, classes = SHAPES[cfg.dataset.name]
    built = analysis.describe(models.build(cfg, models.model_input_shape(cfg, shape), classes), cfg.input.type)
    synthetic = nodes_from_config(cfg)
    assert [tuple(getattr(n, k) for k in SAME) for n in synthetic] == [tuple(getattr(n, k) for k in SAME) for n in built]
    for node, spec in zip([n for n in synthetic if n.has_weights], [s for s in cfg.layers if s.type in ("dense", "conv2d")]):
        assert node.kernel.shape == next(n for n in built if n.name == node.name).kernel.shape
        assert np.all(node.weight_type.quantize(node.kernel) == node.kernel)  # on the weight grid
        matrix = node.kernel_matrix()
        if spec.nm_pair:
            n, m = spec.nm_pair
            assert analysis.nm_compliance(matrix, n, m) == 1.0
        else:
            assert abs((1 - np.count_nonzero(matrix) / matrix.size) - spec.sparsity) < 0.02


def test_nodes_file_round_trip(tmp_path):
    nodes = nodes_from_config(CONFIGS[1], seed=3)
    save_nodes(nodes, tmp_path / "nodes.npz")
    back = load_nodes(tmp_path / "nodes.npz")
    assert [tuple(getattr(n, k) for k in SAME) for n in back] == [tuple(getattr(n, k) for k in SAME) for n in nodes]
    for a, b in zip(nodes, back):
        assert (a.kernel is None) == (b.kernel is None)
        if a.kernel is not None:
            assert np.array_equal(a.kernel, b.kernel) and np.array_equal(a.bias, b.bias)
    (tmp_path / "bad.npz").write_text("not an archive")
    with pytest.raises(Exception, match="not a codesign nodes file"):
        load_nodes(tmp_path / "bad.npz")


def test_unknown_target_and_source_are_refused():
    assert check_target("accel") == "accel"
    with pytest.raises(EstimateError, match=r"unknown target 'vivado'; allowed: accel, hls4ml, unrolled"):
        check_target("vivado")
    with pytest.raises(EstimateError, match="source 'guess' is not one of"):
        Cost("x", source="guess")


def test_cli_estimate_errors_are_one_line(capsys, tmp_path):
    assert main(["estimate", "--dataset", "digits", "--target", "accel,fpga"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "codesign: error: unknown target 'fpga'; allowed: accel, hls4ml, unrolled"
    assert main(["estimate", "--run", str(tmp_path)]) == 1
    assert "not a run directory" in capsys.readouterr().err
    assert main(["estimate", "--run", str(tmp_path), "--dataset", "digits"]) == 1
    assert "either --run or --config" in capsys.readouterr().err
    assert main(["estimate", "--dataset", "digits", "--family", "xc7", "--vitis-report", str(tmp_path / "none.xml")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("codesign: error:") and "none.xml" in err and "\n" not in err
    assert main(["calibrate", "--out", str(tmp_path / "model.json")]) == 1
    assert "give --target too" in capsys.readouterr().err


def test_cli_calibrate_hls4ml_regenerates_the_committed_data(capsys, tmp_path):
    assert main(["calibrate", "--target", "hls4ml", "--out", str(tmp_path / "model.json"), "--quiet"]) == 0
    assert (tmp_path / "model.json").read_bytes() == (REPO / "codesign" / "estimate" / "data" / "hls4ml_model.json").read_bytes()


@pytest.mark.parametrize("cfg_file", ["digits-cnn.yaml", "jets-mlp.yaml"])
def test_cli_estimate_of_a_config_prints_every_target(capsys, cfg_file):
    assert main(["estimate", "--config", str(REPO / "configs" / cfg_file), "--json"]) == 0
    section = json.loads(capsys.readouterr().out)
    assert sorted(section) == sorted(TARGETS)
    for target, est in section.items():
        assert est["total"]["source"] == "estimate"
        assert est["total"]["latency_cycles"] > 0
        assert est["total"]["lut"] > 0
        weighted = [layer for layer in est["layers"] if layer.get("lut") is not None]
        if target != "accel":  # the accelerator's layers share its array: resources only in the total
            assert weighted, target
    assert main(["estimate", "--config", str(REPO / "configs" / cfg_file)]) == 0
    out = capsys.readouterr().out
    for target in TARGETS:
        assert f"### {target} (estimate" in out
