"""The `codesign` command on bad input: one line naming the problem and the allowed values, a
non-zero exit, and nothing half-written that looks complete. Plus importing saved models."""

import json
import subprocess
import sys

import numpy as np
import pytest

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def codesign(*args, cwd):
    return subprocess.run([sys.executable, "-m", "codesign", *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def _assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("codesign: error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def _nothing_complete(tmp_path):
    assert not list(tmp_path.rglob("report.json"))
    hls = tmp_path / "hls_projects"
    assert not hls.exists() or not list(hls.iterdir())


def test_unknown_dataset(tmp_path):
    result = codesign("flow", "--dataset", "mnist", "--quiet", cwd=tmp_path)
    _assert_one_line_error(result, "unknown data set 'mnist'", "allowed: digits, fashion-mnist, jets")
    _nothing_complete(tmp_path)


@pytest.mark.parametrize(
    "layer,fragments",
    [
        ("{type: dense, units: 8, weight_bits: 0}", ["fc1", "bits=0", "1..32"]),
        ("{type: dense, units: 8, act_bits: 40}", ["fc1", "bits=40", "1..32"]),
        ("{type: dense, units: 8, weight_bits: 4, weight_integer: 6}", ["fc1", "integer=6", "0..3"]),
        ("{type: dense, units: 8, sparsity: 1.5}", ["fc1", "sparsity=1.5", "[0.0, 1.0)"]),
        ("{type: dense, units: 8, nm: '4:2'}", ["fc1", "nm='4:2'", "N < M"]),
    ],
)
def test_bad_run_config(tmp_path, layer, fragments):
    (tmp_path / "run.yaml").write_text(f"layers:\n  - {layer}\n  - {{type: dense, activation: linear}}\n")
    result = codesign("flow", "--config", "run.yaml", "--quiet", cwd=tmp_path)
    _assert_one_line_error(result, *fragments)
    _nothing_complete(tmp_path)


def test_data_outside_the_input_type(tmp_path):
    (tmp_path / "run.yaml").write_text("input: {bits: 6, integer: 0, signed: false}\n")
    result = codesign("flow", "--config", "run.yaml", "--quiet", cwd=tmp_path)
    _assert_one_line_error(result, "input", "ap_ufixed<6,0>", "[0, 0.984375]", "raise input.integer")
    _nothing_complete(tmp_path)


def test_a_file_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.h5").write_text("this is not HDF5")
    result = codesign("convert", "--model", "notes.h5", "--quiet", cwd=tmp_path)
    _assert_one_line_error(result, "notes.h5 is not a model file")
    (tmp_path / "arch.json").write_text("[1, 2, 3]")
    result = codesign("convert", "--model", "arch.json", "--quiet", cwd=tmp_path)
    _assert_one_line_error(result, "arch.json is not a model file")
    _nothing_complete(tmp_path)


def test_a_model_with_a_lambda_layer_is_refused(tmp_path):
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.layers.Input((64,)), tf.keras.layers.Lambda(lambda x: x * 2, name="evil"), tf.keras.layers.Dense(10)])
    model.save(tmp_path / "lambda.h5")
    result = codesign("convert", "--model", "lambda.h5", "--quiet", cwd=tmp_path)
    _assert_one_line_error(result, "layer 'evil' is a Lambda layer", "refused")
    _nothing_complete(tmp_path)


@pytest.mark.parametrize("form,hls_flags", [
    ("json", []),
    ("h5", ["--io-type", "io_stream", "--strategy", "Resource", "--reuse-factor", "4"]),
])
def test_import_a_foreign_qkeras_model(tmp_path, form, hls_flags):
    """A model made outside the flow (Sequential, fused activation, its own names) converts exactly,
    from JSON + weights or from a single .h5, in io_parallel/Latency and io_stream/Resource."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    tf.keras.utils.set_random_seed(1)
    model = tf.keras.Sequential([
        tf.keras.layers.Input((64,), name="pixels"),
        QDense(24, kernel_quantizer=quantized_bits(5, 0, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1), activation=quantized_relu(5, 1), name="hidden"),
        QDense(16, kernel_quantizer=quantized_bits(4, 0, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1), name="hidden2"),
        QActivation(quantized_relu(4, 2), name="act2"),
        QDense(10, kernel_quantizer=quantized_bits(6, 1, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1), name="logits"),
    ])
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])  # untrained, random: exactness still must hold
    if form == "json":
        (tmp_path / "model.json").write_text(model.to_json())
        model.save_weights(tmp_path / "weights.h5")
        model_args = ["--model", "model.json", "--weights", "weights.h5"]
    else:
        model.save(tmp_path / "model.h5")
        model_args = ["--model", "model.h5"]
    result = codesign("convert", *model_args, *hls_flags, "--dataset", "digits", "--input-type", "ufixed<8,1>", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "runs" / "model" / "report.json").read_text())
    assert report["exactness"]["qkeras_vs_hls4ml"] == {"samples": 360, "mismatched": 0, "max_abs_diff": 0.0}
    assert [layer["name"] for layer in report["layers"]] == ["hidden", "hidden2", "logits"]
    assert (tmp_path / "hls_projects" / "model" / "build_prj.tcl").is_file()
    if hls_flags:
        assert report["hls"]["io_type"] == "io_stream" and report["hls"]["reuse_factor"] == 4
    else:  # and on the accelerator RTL: its own widths per layer, a 4x4 array
        result = codesign("rtl-sim", "--run", "runs/model", "--rows", "4", "--cols", "4", "--samples", "30", "--no-synth", "--quiet", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads((tmp_path / "runs" / "model" / "report.json").read_text())
        for key in ("qkeras_vs_rtl", "hls4ml_vs_rtl"):
            assert report["exactness"][key] == {"samples": 30, "mismatched": 0, "max_abs_diff": 0.0}
        assert report["rtl"]["cycles_per_inference"] == report["rtl"]["cycles_predicted"]
        assert report["rtl"]["array"]["rows"] == 4 and "## Accelerator RTL" in (tmp_path / "runs" / "model" / "report.md").read_text()


def test_unsupported_layer_names_layer_and_type(tmp_path):
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.layers.Input((64,)), tf.keras.layers.Dense(10, name="plain")])
    model.save(tmp_path / "float.h5")
    result = codesign("convert", "--model", "float.h5", "--quiet", cwd=tmp_path)
    _assert_one_line_error(result, "layer 'plain' of type Dense is not supported", "allowed: InputLayer, QDense")
    _nothing_complete(tmp_path)
