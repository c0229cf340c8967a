"""Saved QKeras models, Sequential or functional, keep the input type the flow gives them in hls4ml."""

import numpy as np

from codesign import flow


def _dense_layers():
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    return [
        QDense(12, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1), name="fc1"),
        QActivation(quantized_relu(12, 4), name="act1"),  # 8 fractional bits: a change in the input's low bits shows
        QDense(5, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1), name="logits"),
    ]


def _convert(model, tmp_path, name, dataset, input_type, data_path=None):
    import dataclasses

    model.save(tmp_path / f"{name}.h5")
    cfg = flow.config_for_model(tmp_path / f"{name}.h5", dataset, input_type, name)
    cfg = dataclasses.replace(cfg, dataset=dataclasses.replace(cfg.dataset, path=data_path))
    return flow.run_convert(tmp_path / f"{name}.h5", cfg, tmp_path / "runs" / name, tmp_path / "hls", progress=False)


def _defines(tmp_path, name):
    """The input type hls4ml wrote into the project (what its C simulation reads the data as)."""
    return (tmp_path / "hls" / name / "firmware" / "defines.h").read_text()


def _assert_exact(rep):
    for key in ("qkeras_vs_hls4ml", "qkeras_vs_reference"):
        e = rep["exactness"][key]
        assert e["samples"] > 0 and e["mismatched"] == 0 and e["max_abs_diff"] == 0.0, (key, e)


def test_sequential_and_functional_twins_keep_a_fine_input_type(tmp_path):
    """fixed<16,4> keeps 12 fractional bits of the standardized jet features; hls4ml's default
    fixed<16,6> keeps 10, so the input type must reach hls4ml under the Sequential model's input name."""
    import tensorflow as tf

    from codesign.data import write_jets_sample

    data_path = str(write_jets_sample(tmp_path / "jets.parquet", samples=400))
    sequential = tf.keras.Sequential([tf.keras.layers.Input((16,), name="features"), *_dense_layers()])
    rng = np.random.default_rng(0)
    sequential.set_weights([rng.normal(0, 0.5, w.shape) for w in sequential.get_weights()])
    inputs = tf.keras.layers.Input((16,), name="x")
    x = inputs
    for layer in _dense_layers():
        x = layer(x)
    functional = tf.keras.Model(inputs, x)
    functional.set_weights(sequential.get_weights())
    reports = {name: _convert(model, tmp_path, name, "jets", "fixed<16,4>", data_path)
               for name, model in (("sequential", sequential), ("functional", functional))}
    for rep in reports.values():
        _assert_exact(rep)
        assert rep["input_type"] == "ap_fixed<16,4>"
        assert rep["types"][0] == {"name": "features" if rep["name"] == "sequential" else "x", "kind": "input", "output_type": "ap_fixed<16,4>"}
        assert "typedef ap_fixed<16,4> input_t;" in _defines(tmp_path, rep["name"])
    logits = [np.load(tmp_path / "runs" / name / "hls4ml_logits.npy") for name in reports]
    np.testing.assert_array_equal(*logits)


def test_a_sequential_model_starting_with_flatten(tmp_path):
    import tensorflow as tf

    from qkeras import QDense, quantized_bits

    model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=(8, 8, 1), name="flat"),
        QDense(10, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1), name="logits"),
    ])
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    rep = _convert(model, tmp_path, "flat", "digits", "ufixed<8,1>")
    _assert_exact(rep)
    assert rep["types"][0] == {"name": "flat_input", "kind": "input", "output_type": "ap_ufixed<8,1>"}
    assert "typedef ap_ufixed<8,1> input_t;" in _defines(tmp_path, "flat")
