"""The `codesign` command on bad input: one line naming the problem and the allowed values, a
non-zero exit, and nothing half-written that looks complete. Plus importing saved models."""

import dataclasses
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


def test_flags_are_spelled_in_full(tmp_path):
    """`--data` is its own flag, not an abbreviation of `--dataset`; no prefix of a flag is accepted."""
    for args in (["convert", "--model", "m.h5", "--dat", "digits"], ["flow", "--epoch", "3"], ["rtl-sim", "--run", "r", "--sample", "3"]):
        result = codesign(*args, cwd=tmp_path)
        assert result.returncode == 2 and f"unrecognized arguments: {args[-2]}" in result.stderr, result.stderr


def test_data_flag_names_a_missing_or_wrong_file(tmp_path):
    from codesign.data import write_jets_sample

    result = codesign("train", "--dataset", "jets", "--data", "missing.parquet", "--quiet", cwd=tmp_path)
    _assert_one_line_error(result, "jets: file missing.parquet does not exist")
    (tmp_path / "broken.csv").write_text("zlogz,class\n1.0,g\n")
    result = codesign("flow", "--dataset", "jets", "--data", "broken.csv", "--quiet", cwd=tmp_path)
    _assert_one_line_error(result, "jets: broken.csv lacks the column(s) c1_b0_mmdt", "multiplicity")
    write_jets_sample(tmp_path / "jets.csv", samples=50)
    result = codesign("flow", "--data", "jets.csv", "--quiet", cwd=tmp_path)  # digits is the default data set
    _assert_one_line_error(result, "path='jets.csv' (--data)", "digits ships with scikit-learn")
    result = codesign("train", "--dataset", "fashion-mnist", "--data", "jets.csv", "--quiet", cwd=tmp_path)
    _assert_one_line_error(result, "fashion-mnist: jets.csv is a file")
    _nothing_complete(tmp_path)


def test_flags_beside_config_override_its_fields(tmp_path):
    from codesign import cli, config

    (tmp_path / "run.yaml").write_text(config.dump(config.default_config("digits")))
    args = cli.parser().parse_args([
        "flow", "--config", str(tmp_path / "run.yaml"), "--dataset", "jets", "--data", "j.csv", "--input-type", "fixed<16,4>",
        "--name", "other", "--epochs", "3", "--rows", "4", "--cols", "2", "--dense", "--simulator", "icarus", "--no-synth",
        "--pnr", "--rtl-samples", "7", "--no-rtl"])
    cfg = cli._run_config(args)
    assert (cfg.name, cfg.dataset.name, cfg.dataset.path, cfg.input, cfg.train.epochs) == ("other", "jets", "j.csv", config.InputConfig(16, 4, True), 3)
    base = config.load(tmp_path / "run.yaml")
    assert cfg.rtl == dataclasses.replace(base.rtl, enabled=False, rows=4, cols=2, sparse=False, samples=7, simulator="icarus", synth=False, place_route=True)
    assert cli._run_config(cli.parser().parse_args(["train", "--config", str(tmp_path / "run.yaml")])) == base


def test_convert_with_config_keeps_every_flag(tmp_path):
    """--config with --dataset, --data, --input-type and --name: each flag wins, and the run's config.yaml says so."""
    import tensorflow as tf
    import yaml
    from qkeras import QDense, quantized_bits

    from codesign import config
    from codesign.data import write_jets_sample

    write_jets_sample(tmp_path / "jets.csv", samples=300)
    (tmp_path / "run.yaml").write_text(config.dump(config.default_config("digits")))
    model = tf.keras.Sequential([tf.keras.layers.Input((16,)), QDense(5, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1), name="logits")])
    model.save(tmp_path / "m.h5")
    result = codesign("convert", "--config", "run.yaml", "--model", "m.h5", "--dataset", "jets", "--data", "jets.csv",
                      "--input-type", "fixed<16,4>", "--name", "other", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    recorded = yaml.safe_load((tmp_path / "runs" / "other" / "config.yaml").read_text())
    assert recorded["name"] == "other" and recorded["dataset"]["name"] == "jets" and recorded["dataset"]["path"] == "jets.csv"
    assert recorded["input"] == {"bits": 16, "integer": 4, "signed": True}
    report = json.loads((tmp_path / "runs" / "other" / "report.json").read_text())
    assert report["input_type"] == "ap_fixed<16,4>" and report["exactness"]["qkeras_vs_hls4ml"]["mismatched"] == 0


def test_a_refused_model_lists_every_problem(tmp_path):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    layers = tf.keras.layers
    model = tf.keras.Sequential([layers.Input((64,)), layers.Dense(8, name="plain"), layers.Reshape((8, 1)), layers.Conv1D(2, 3, name="conv"), layers.Flatten(), layers.Dense(10)])
    model.save(tmp_path / "float.h5")
    result = codesign("convert", "--model", "float.h5", "--quiet", cwd=tmp_path)
    _assert_one_line_error(result, "layer 'plain' of type Dense is not supported", "of type Reshape", "layer 'conv' of type Conv1D is not supported", "of type Dense is not supported (allowed: InputLayer")
    model = tf.keras.Sequential([
        layers.Input((64,)),
        QDense(8, kernel_quantizer=quantized_bits(6, 0, alpha="auto"), bias_quantizer=quantized_bits(8, 3, alpha=1), name="po2"),  # scales on no grid
        QActivation(quantized_relu(4, 0, negative_slope=0.25), name="leaky"),
        QDense(10, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1, symmetric=1), activation=quantized_relu(4, 1), name="sym"),
    ])
    model.save(tmp_path / "quantizers.h5")
    result = codesign("convert", "--model", "quantizers.h5", "--quiet", cwd=tmp_path)
    _assert_one_line_error(result, "3 problems", "layer 'po2' kernel_quantizer: quantized_bits with alpha='auto' is not supported", "layer 'leaky': quantized_relu with negative_slope=0.25 (leaky) is not supported",
                           "layer 'sym' bias_quantizer: quantized_bits must have symmetric=0")
    _nothing_complete(tmp_path)


def test_console_is_short_and_tool_logs_go_to_the_run(tmp_path):
    """A small flow prints its own stage lines and summary; TensorFlow, hls4ml/g++ and Verilator/cocotb
    write to RUN/logs/<stage>.log. A stage that fails names its log."""
    (tmp_path / "run.yaml").write_text("train: {epochs: 2, float_epochs: 0}\n")
    result = codesign("flow", "--config", "run.yaml", "--out", "runs/small", "--no-synth", "--rtl-samples", "5", "--rows", "4", "--cols", "4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    console = (result.stdout + result.stderr).splitlines()
    assert len(console) < 25, "\n".join(console)
    noise = ("cuDNN", "cuda", "WARNING", "Verilation", "cocotb", "c++ ", "make:", "INFO")
    assert not [line for line in console if any(word in line for word in noise)], "\n".join(console)
    logs = tmp_path / "runs" / "small" / "logs"
    assert {p.name for p in logs.iterdir()} >= {"train.log", "convert.log", "rtl.log"}
    assert "cocotb" in (logs / "rtl.log").read_text() and "Verilator" in (logs / "rtl.log").read_text()
    # a g++ that fails: hls4ml's C simulation build stops, and the error names the log that holds the compiler's words
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "g++").write_text("#!/bin/sh\necho 'fake g++: refusing to compile' >&2\nexit 1\n")
    (fake / "g++").chmod(0o755)
    env = {**__import__("os").environ, "PATH": f"{fake}:{__import__('os').environ['PATH']}"}
    result = subprocess.run([sys.executable, "-m", "codesign", "convert", "--model", "runs/small/model.h5", "--out", "runs/broken", "--quiet"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
    _assert_one_line_error(result, "hls4ml conversion or C simulation failed", "tool log: runs/broken/logs/convert.log")
    assert "fake g++: refusing to compile" in (tmp_path / "runs" / "broken" / "logs" / "convert.log").read_text()
    assert "fake g++" not in result.stderr
