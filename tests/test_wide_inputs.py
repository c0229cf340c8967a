"""16-bit inputs (hls4ml's default `fixed<16,6>`) on the default sparse 8x8 build: QKeras, hls4ml
C-sim and the accelerator RTL agree on every sample.

The first layer's activations are 16 bits wide, so on a SPARSE_M = 4 build an activation-memory word
is 64 bits and takes two loader beats: the case the RTL once got wrong on every sample."""

import dataclasses
from pathlib import Path

from codesign import config, flow

ROOT = Path(__file__).resolve().parents[1]
RTL = config.RtlConfig(samples=48, synth=False)   # rows, cols and sparse: the defaults (8x8, SPARSE_M 4)
WIDE_INPUT = config.InputConfig(16, 6, True)


def _assert_three_way_exact(rep, samples):
    for key in ("qkeras_vs_hls4ml", "qkeras_vs_rtl", "hls4ml_vs_rtl"):
        e = rep["exactness"][key]
        assert e["mismatched"] == 0 and e["max_abs_diff"] == 0.0, (key, e)
    assert rep["exactness"]["qkeras_vs_rtl"]["samples"] == samples
    array = rep["rtl"]["array"]
    assert array["rows"] == array["cols"] == 8 and array["sparse_m"] == 4 and array["act_bits"] == 16, array
    assert rep["rtl"]["cycles_per_inference"] == rep["rtl"]["cycles_predicted"] > 0


def test_jets_mlp_16_64_32_32_5_with_fixed_16_6_input(tmp_path):
    """quantized_bits(6, 0, alpha=1) weights and biases, quantized_relu(6) activations."""
    from codesign.data import write_jets_sample

    sample = write_jets_sample(tmp_path / "jets.parquet", samples=600)
    layers = tuple(config.LayerSpec("dense", name=f"fc{i + 1}", units=units, weight_bits=6, weight_integer=0,
                                    bias_bits=6, bias_integer=0, act_bits=6, act_integer=0, sparsity=0.5)
                   for i, units in enumerate((64, 32, 32)))
    layers += (config.LayerSpec("dense", name="output", activation="linear", weight_bits=6, weight_integer=0,
                                bias_bits=6, bias_integer=0, sparsity=0.3),)
    cfg = config.validate(dataclasses.replace(
        config.default_config("jets"), name="jets-wide", input=WIDE_INPUT, layers=layers,
        dataset=dataclasses.replace(config.default_config("jets").dataset, path=str(sample)),
        train=dataclasses.replace(config.TrainConfig(), epochs=3, float_epochs=0), rtl=RTL))
    rep = flow.run_flow(cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    assert rep["input_type"] == "ap_fixed<16,6>"
    _assert_three_way_exact(rep, 48)


def test_digits_cnn_with_fixed_16_6_input(tmp_path):
    cfg = config.load(ROOT / "configs" / "digits-cnn.yaml")
    cfg = config.validate(dataclasses.replace(cfg, name="digits-cnn-wide", input=WIDE_INPUT, rtl=RTL,
                                              train=dataclasses.replace(cfg.train, epochs=3, float_epochs=0)))
    rep = flow.run_flow(cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    assert rep["input_type"] == "ap_fixed<16,6>"
    _assert_three_way_exact(rep, 48)
