"""QKeras models written the usual way (docs/COMPATIBILITY.md): each feature is exact between QKeras,
hls4ml's C simulation and the integer reference, and on the accelerator RTL where it runs there."""

import dataclasses

import numpy as np
import pytest

from codesign import config, flow


def _digits_x_y(samples: int = 400):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x[:samples] / 16.0).astype(np.float32), y[:samples]


def _train_briefly(model, epochs: int = 2):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    x, y = _digits_x_y()
    softmax_head = getattr(model.layers[-1], "activation", None) is tf.keras.activations.softmax
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax_head)
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3), loss=loss)
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model


def _convert(model, tmp_path, name: str, input_type: str = "ufixed<8,1>", *, rtl_samples: int | None = None):
    path = tmp_path / f"{name}.h5"
    model.save(path)
    cfg = flow.config_for_model(path, "digits", input_type, name)
    cfg = dataclasses.replace(cfg, dataset=dataclasses.replace(cfg.dataset, max_test=120))
    rep = flow.run_convert(path, cfg, tmp_path / "runs" / name, tmp_path / "hls", progress=False)
    for key in ("qkeras_vs_hls4ml", "qkeras_vs_reference"):
        e = rep["exactness"][key]
        assert e["samples"] == 120 and e["mismatched"] == 0, (key, e)
    if rtl_samples:
        rep = flow.rtl_stage(tmp_path / "runs" / name, config.RtlConfig(rows=4, cols=4, samples=rtl_samples, synth=False), progress=False)
        for key in ("qkeras_vs_rtl", "hls4ml_vs_rtl"):
            assert rep["exactness"][key] == {"samples": rtl_samples, "mismatched": 0, "max_abs_diff": 0.0}, key
    return rep


def test_a_tutorial_mlp_runs_three_way_exact(tmp_path):
    """Default quantizers (alpha=None: per-channel power-of-two scales), a string 'relu', dropout and a
    softmax head, as QKeras' tutorials write them: QKeras == hls4ml == RTL on the logits."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    model = tf.keras.Sequential([
        tf.keras.layers.Input((64,), name="pixels"),
        QDense(24, kernel_quantizer=quantized_bits(6, 0), bias_quantizer=quantized_bits(6, 0), name="fc1"),
        QActivation(quantized_relu(6, 2), name="relu1"),
        tf.keras.layers.Dropout(0.2, name="drop1"),
        QDense(16, kernel_quantizer=quantized_bits(4, 0), use_bias=False, activation="relu", name="fc2"),
        QActivation(quantized_relu(8, 3), name="relu2"),
        QDense(10, kernel_quantizer=quantized_bits(6, 0), bias_quantizer=quantized_bits(8, 3), name="logits"),
        tf.keras.layers.Activation("softmax", name="softmax"),
    ])
    kernel, bias = model.get_layer("fc1").get_weights()
    model.get_layer("fc1").set_weights([kernel * 2.0 ** (np.arange(24) % 4 - 2), bias])  # channels of different scales
    _train_briefly(model)
    quantizer = model.get_layer("fc1").kernel_quantizer_internal
    quantizer(model.get_layer("fc1").kernel)  # its scale is that of its last call: make it an eager one
    scales = quantizer.scale
    assert len(np.unique(np.asarray(scales))) > 1, "the test needs channels with different scales"
    rep = _convert(model, tmp_path, "tutorial", rtl_samples=64)
    kinds = [t["kind"] for t in rep["types"]]
    assert kinds.count("scale") == 3 and "softmax" not in [t["name"] for t in rep["types"]]
    # the run's saved nodes keep the scales: estimates of the run compile the same accelerator
    from codesign.accel import compiler
    from codesign.estimate import network

    nodes = network.load_nodes(tmp_path / "runs" / "tutorial" / network.NODES_FILE)
    assert compiler.choose_spec(nodes, 4, 4).weight_bits == rep["rtl"]["array"]["weight_bits"] > 6


@pytest.mark.parametrize("alpha", ["auto", 0.5])
def test_a_kernel_scale_that_is_not_a_power_of_two_is_refused_before_converting(tmp_path, alpha):
    import tensorflow as tf
    from qkeras import QDense, quantized_bits

    from codesign.errors import CodesignError

    model = tf.keras.Sequential([tf.keras.layers.Input((64,)),
                                 QDense(10, kernel_quantizer=quantized_bits(6, 0, alpha=alpha), bias_quantizer=quantized_bits(6, 0), name="fc")])
    model.save(tmp_path / "m.h5")
    cfg = flow.config_for_model(tmp_path / "m.h5", "digits", "ufixed<8,1>", "m")
    with pytest.raises(CodesignError, match=r"layer 'fc' kernel_quantizer: quantized_bits with alpha="):
        flow.run_convert(tmp_path / "m.h5", cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    assert not (tmp_path / "run").exists() and not (tmp_path / "hls").exists()


def test_binary_and_ternary_kernels_run_three_way_exact(tmp_path):
    import tensorflow as tf
    from qkeras import QActivation, QDense, binary, quantized_bits, quantized_relu, ternary

    model = tf.keras.Sequential([
        tf.keras.layers.Input((64,), name="pixels"),
        QDense(16, kernel_quantizer=ternary(alpha=1), bias_quantizer=quantized_bits(6, 2), name="tern"),
        QActivation(quantized_relu(4, 2), name="relu1"),
        QDense(16, kernel_quantizer=binary(alpha=1), bias_quantizer=quantized_bits(4, 2), name="bin"),  # on the products grid
        QActivation(quantized_relu(4, 2), name="relu2"),
        QDense(10, kernel_quantizer="ternary", bias_quantizer=quantized_bits(8, 3), name="logits"),  # auto_po2 scales
    ])
    _train_briefly(model)
    _convert(model, tmp_path, "binary_ternary", rtl_samples=64)


def test_an_input_quantizer_and_an_activation_after_pooling_are_exact_in_hls4ml_and_refused_on_the_accelerator(tmp_path):
    """The accelerator applies activations only in a layer's post-processing: it refuses these by name."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    from codesign.errors import CodesignError

    model = tf.keras.Sequential([
        tf.keras.layers.Input((8, 8, 1), name="image"),
        QActivation(quantized_bits(6, 0), name="input_q"),
        QConv2D(4, 3, kernel_quantizer=quantized_bits(6, 0), bias_quantizer=quantized_bits(6, 2), name="conv"),
        QActivation(quantized_relu(6, 2), name="relu1"),
        tf.keras.layers.MaxPooling2D(2, name="pool"),
        QActivation(quantized_relu(4, 1), name="relu2"),
        tf.keras.layers.Flatten(name="flat"),
        QDense(10, kernel_quantizer=quantized_bits(6, 0), bias_quantizer=quantized_bits(8, 3), name="logits"),
    ])
    x, y = _digits_x_y()
    model.compile(optimizer="adam", loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x.reshape(-1, 8, 8, 1), y, epochs=1, verbose=0)
    assert np.isfinite(model.predict(x[:4].reshape(-1, 8, 8, 1), verbose=0)).all()
    _convert(model, tmp_path, "input_q")
    with pytest.raises(CodesignError, match=r"activation layer 'input_q' does not follow a dense or conv2d layer"):
        flow.rtl_stage(tmp_path / "runs" / "input_q", config.RtlConfig(rows=4, cols=4, samples=8, synth=False), progress=False)
