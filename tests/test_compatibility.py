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


def _train_briefly(model, epochs: int = 2, shape: tuple[int, ...] = (64,)):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    x, y = _digits_x_y()
    x = x.reshape((-1, *shape))
    softmax_head = getattr(model.layers[-1], "activation", None) is tf.keras.activations.softmax
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax_head)
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3), loss=loss)
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model


# One fixed build (rtl.array) for every model here: wide enough for each, so they share one simulator build.
ARRAY = {"weight_bits": 9, "act_bits": 8, "acc_bits": 32, "amem_depth": 16384, "wmem_depth": 16384, "bmem_depth": 64,
         "omem_depth": 256, "dmem_depth": 16}


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
        rtl = config.RtlConfig(rows=4, cols=4, samples=rtl_samples, synth=False, array=ARRAY)
        rep = flow.rtl_stage(tmp_path / "runs" / name, rtl, progress=False)
        assert {k: rep["rtl"]["array"][k] for k in ARRAY} == ARRAY
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
    # hls4ml's softmax head (lookup tables) beside QKeras' on the exact logits; a briefly trained model
    # has near-ties, so the top-1 agreement is reported but not bounded here
    assert rep["softmax"]["samples"] == 120 and rep["softmax"]["max_abs_diff"] < 0.02 and 0 < rep["softmax"]["same_top1"] <= 1, rep["softmax"]
    # the run's saved nodes keep the scales (kernels widened by their shifts): estimates of the run see the same layers
    from codesign.accel import compiler
    from codesign.estimate import network

    nodes = network.load_nodes(tmp_path / "runs" / "tutorial" / network.NODES_FILE)
    assert compiler.choose_spec(nodes, 4, 4).weight_bits > 6


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
    _train_briefly(model, epochs=1, shape=(8, 8, 1))
    x, _ = _digits_x_y()
    assert np.isfinite(model.predict(x[:4].reshape(-1, 8, 8, 1), verbose=0)).all()
    _convert(model, tmp_path, "input_q")
    with pytest.raises(CodesignError, match=r"activation layer 'input_q' does not follow a dense or conv2d layer"):
        flow.rtl_stage(tmp_path / "runs" / "input_q", config.RtlConfig(rows=4, cols=4, samples=8, synth=False), progress=False)


def _refused_on_the_accelerator(tmp_path, name: str, match: str):
    from codesign.errors import CodesignError

    with pytest.raises(CodesignError, match=match):
        flow.rtl_stage(tmp_path / "runs" / name, config.RtlConfig(rows=4, cols=4, samples=8, synth=False), progress=False)


def test_same_padding_strides_depthwise_separable_average_pooling_tanh_and_sigmoid_are_exact_in_hls4ml(tmp_path):
    """hls4ml's QConv2D 'same'/stride 2, QDepthwiseConv2D, QSeparableConv2D (split into _depthwise and
    _pointwise), AveragePooling2D and the hard quantized_tanh/quantized_sigmoid equal QKeras on every sample;
    the accelerator refuses 'same' padding by name."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, QDepthwiseConv2D, QSeparableConv2D, quantized_bits, quantized_relu, quantized_sigmoid, quantized_tanh

    q = lambda bits: quantized_bits(bits, 0, alpha=1)  # noqa: E731
    model = _train_briefly(tf.keras.Sequential([
        tf.keras.layers.Input((8, 8, 1), name="image"),
        QConv2D(4, 3, strides=2, padding="same", kernel_quantizer=q(6), bias_quantizer=quantized_bits(6, 2), name="conv_same"),
        QActivation(quantized_tanh(6), name="tanh"),
        QDepthwiseConv2D(3, padding="same", depthwise_quantizer=q(6), bias_quantizer=quantized_bits(6, 2), name="dw"),
        QActivation(quantized_relu(6, 2), name="relu1"),
        QSeparableConv2D(6, 3, padding="same", depthwise_quantizer=q(5), pointwise_quantizer=q(5), bias_quantizer=quantized_bits(6, 2), name="sep"),
        QActivation(quantized_sigmoid(6), name="sig"),
        tf.keras.layers.AveragePooling2D(2, name="avg"),
        tf.keras.layers.Flatten(name="flat"),
        QDense(10, kernel_quantizer=q(6), bias_quantizer=quantized_bits(8, 3), name="logits"),
    ]), shape=(8, 8, 1))
    rep = _convert(model, tmp_path, "geometry")
    kinds = {t["name"]: t["kind"] for t in rep["types"]}
    assert kinds["sep_depthwise"] == kinds["dw"] == "depthwise2d" and kinds["sep_pointwise"] == "conv2d"
    assert kinds["sig"] == "hard_sigmoid" and kinds["avg"] == "avgpool2d"
    # the activations are not saturated constants: each takes several values on the test samples
    from codesign import reference
    from codesign.estimate import network
    from codesign.fixedpoint import FixedType

    nodes = network.load_nodes(tmp_path / "runs" / "geometry" / network.NODES_FILE)
    x, _ = _digits_x_y(120)
    seen = {node.name: len(np.unique(codes)) for node, codes in reference.outputs(nodes, FixedType(8, 1, False).quantize(x).reshape(-1, 8, 8, 1))}
    assert min(seen["tanh"], seen["sig"], seen["avg"]) > 8, seen
    _refused_on_the_accelerator(tmp_path, "geometry", r"conv2d layer 'conv_same': padding='same', strides=\(2, 2\) is not supported on the accelerator")


def test_conv1d_with_same_padding_and_strides_is_exact_in_hls4ml_and_refused_on_the_accelerator(tmp_path):
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QDense, quantized_bits, quantized_relu

    model = _train_briefly(tf.keras.Sequential([
        tf.keras.layers.Input((64, 1), name="signal"),
        QConv1D(4, 5, strides=2, padding="same", kernel_quantizer=quantized_bits(6, 0), bias_quantizer=quantized_bits(6, 2), name="conv1"),
        QActivation(quantized_relu(6, 2), name="relu1"),
        tf.keras.layers.Flatten(name="flat"),
        QDense(10, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 3), name="logits"),
    ]), shape=(64, 1))
    _convert(model, tmp_path, "conv1d_same")
    _refused_on_the_accelerator(tmp_path, "conv1d_same", r"conv1d layer 'conv1': padding='same', strides=\(2,\) is not supported on the accelerator")


@pytest.mark.parametrize("layout", ["conv1d", "depthwise_tanh"])
def test_conv1d_and_depthwise_conv_run_three_way_exact(tmp_path, layout):
    """The compiler lowers a conv1d to a conv2d on a 1-row map and a depthwise conv to a conv2d whose
    kernel is zero off each channel's own; quantized_tanh is a quantize step of the post-processing."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QConv2D, QDense, QDepthwiseConv2D, quantized_bits, quantized_relu, quantized_tanh

    shape = (64, 1) if layout == "conv1d" else (8, 8, 1)
    if layout == "conv1d":  # default kernel quantizer: per-channel power-of-two scales
        body = [QConv1D(4, 5, kernel_quantizer=quantized_bits(6, 0), bias_quantizer=quantized_bits(6, 2), name="conv1"),
                QActivation(quantized_relu(6, 2), name="relu1")]
    else:
        body = [QConv2D(4, 3, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 2), name="conv"),
                QActivation(quantized_tanh(6), name="tanh"),
                QDepthwiseConv2D(3, depthwise_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 2), name="dw"),
                QActivation(quantized_relu(6, 2), name="relu1")]
    model = _train_briefly(tf.keras.Sequential([
        tf.keras.layers.Input(shape, name="x"), *body, tf.keras.layers.Flatten(name="flat"),
        QDense(10, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 3), name="logits"),
    ]), shape=shape)
    _convert(model, tmp_path, layout, rtl_samples=64)


@pytest.mark.parametrize("quantizer, match", [
    ("quantized_relu(6, 2, negative_slope=0.25)", r"layer 'act': quantized_relu with negative_slope=0.25 \(leaky\) is not supported"),
    ("quantized_tanh(6, use_real_tanh=True)", r"layer 'act': quantized_tanh must be the hard one"),
])
def test_activations_without_an_exact_fixed_point_form_are_refused_before_converting(tmp_path, quantizer, match):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits

    from codesign.errors import CodesignError

    model = tf.keras.Sequential([tf.keras.layers.Input((64,)),
                                 QDense(10, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0), name="fc"),
                                 QActivation(quantizer, name="act")])
    model.save(tmp_path / "m.h5")
    cfg = flow.config_for_model(tmp_path / "m.h5", "digits", "ufixed<8,1>", "m")
    with pytest.raises(CodesignError, match=match):
        flow.run_convert(tmp_path / "m.h5", cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    assert not (tmp_path / "run").exists() and not (tmp_path / "hls").exists()


def _tutorial_cnn():
    """QConv2DBatchnorm (QKeras folds the batch norm into the kernel and bias before quantizing them) with
    QKeras' default quantizers, max pooling, dropout and a softmax head."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2DBatchnorm, QDense, quantized_bits, quantized_relu

    return tf.keras.Sequential([
        tf.keras.layers.Input((8, 8, 1), name="image"),
        QConv2DBatchnorm(8, 3, kernel_quantizer=quantized_bits(6, 0), bias_quantizer=quantized_bits(8, 3), name="conv_bn"),
        QActivation(quantized_relu(6, 2), name="relu1"),
        tf.keras.layers.MaxPooling2D(2, name="pool"),
        tf.keras.layers.Flatten(name="flat"),
        tf.keras.layers.Dropout(0.25, name="drop"),
        QDense(10, kernel_quantizer=quantized_bits(6, 0), bias_quantizer=quantized_bits(8, 3), name="logits"),
        tf.keras.layers.Activation("softmax", name="softmax"),
    ])


def test_a_tutorial_cnn_with_folded_batch_norm_runs_three_way_exact(tmp_path):
    model = _train_briefly(_tutorial_cnn(), shape=(8, 8, 1))
    moving_variance = model.get_layer("conv_bn").batchnorm.moving_variance.numpy()
    assert not np.allclose(moving_variance, 1.0), "training must have moved the batch statistics"
    rep = _convert(model, tmp_path, "tutorial_cnn", rtl_samples=64)
    assert [t["kind"] for t in rep["types"]].count("scale") == 2


def test_hls4ml_resource_strategy_is_refused_for_the_layers_it_computes_wrongly(tmp_path):
    from codesign.errors import CodesignError

    path = tmp_path / "m.h5"
    _tutorial_cnn().save(path)
    cfg = flow.config_for_model(path, "digits", "ufixed<8,1>", "m")
    cfg = dataclasses.replace(cfg, hls=dataclasses.replace(cfg.hls, strategy="Resource"))
    with pytest.raises(CodesignError, match=r"layer 'conv_bn': hls4ml's Resource strategy does not compute QConv2DBatchnorm correctly"):
        flow.run_convert(path, cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    assert not (tmp_path / "run").exists()


def test_batch_normalization_is_exact_in_hls4ml_on_every_input_and_refused_on_the_accelerator(tmp_path):
    """QKeras computes a BatchNormalization in float32 (a QBatchNormalization from its quantized parameters);
    the flow finds a fixed-point scale and bias that give the following QActivation's result on every input
    value the layer before can produce, or refuses."""
    import tensorflow as tf
    from qkeras import QActivation, QBatchNormalization, QConv2D, QDense, quantized_bits, quantized_relu

    model = _train_briefly(tf.keras.Sequential([
        tf.keras.layers.Input((8, 8, 1), name="image"),
        QConv2D(4, 3, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 2), name="conv"),
        tf.keras.layers.BatchNormalization(name="bn1"),
        QActivation(quantized_relu(6, 2), name="relu1"),
        tf.keras.layers.Flatten(name="flat"),
        QDense(16, kernel_quantizer=quantized_bits(6, 0), bias_quantizer=quantized_bits(6, 2), name="fc"),  # per-channel scales
        QBatchNormalization(name="bn2"),  # QKeras' default quantizers of gamma, beta, mean and variance
        QActivation(quantized_relu(6, 2), name="relu2"),
        QDense(10, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 3), name="logits"),
    ]), shape=(8, 8, 1))
    assert not np.allclose(model.get_layer("bn2").moving_mean.numpy(), 0.0), "training must have moved the batch statistics"
    rep = _convert(model, tmp_path, "batchnorm")
    assert [t["name"] for t in rep["types"] if t["kind"] == "batchnorm"] == ["bn1", "bn2"]
    _refused_on_the_accelerator(tmp_path, "batchnorm", r"batchnorm layer 'bn1' is not supported on the accelerator")


def test_a_batch_normalization_without_a_quantizer_after_it_is_refused_before_converting(tmp_path):
    import tensorflow as tf
    from qkeras import QDense, quantized_bits

    from codesign.errors import CodesignError

    model = tf.keras.Sequential([tf.keras.layers.Input((64,)),
                                 QDense(10, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0), name="fc"),
                                 tf.keras.layers.BatchNormalization(name="bn")])
    model.save(tmp_path / "m.h5")
    cfg = flow.config_for_model(tmp_path / "m.h5", "digits", "ufixed<8,1>", "m")
    with pytest.raises(CodesignError, match=r"layer 'bn' \(BatchNormalization\) must be followed by a QActivation"):
        flow.run_convert(tmp_path / "m.h5", cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    assert not (tmp_path / "run").exists()


def test_power_of_two_kernels_run_three_way_exact(tmp_path):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_po2, quantized_relu

    model = _train_briefly(tf.keras.Sequential([
        tf.keras.layers.Input((64,), name="pixels"),
        QDense(16, kernel_quantizer=quantized_po2(4), bias_quantizer=quantized_bits(8, 3), name="fc1"),
        QActivation(quantized_relu(6, 2), name="relu1"),
        QDense(10, kernel_quantizer=quantized_po2(4), bias_quantizer=quantized_bits(8, 3), name="logits"),
    ]))
    _convert(model, tmp_path, "po2", rtl_samples=64)


def test_power_of_two_kernels_whose_shifts_hls4ml_would_truncate_are_refused_before_converting(tmp_path):
    import tensorflow as tf
    from qkeras import QDense, quantized_bits, quantized_po2

    from codesign.errors import CodesignError

    model = tf.keras.Sequential([tf.keras.layers.Input((64,)),
                                 QDense(10, kernel_quantizer=quantized_po2(5, max_value=1), bias_quantizer=quantized_bits(8, 3), name="fc")])
    model.save(tmp_path / "m.h5")
    cfg = flow.config_for_model(tmp_path / "m.h5", "digits", "ufixed<8,1>", "m")
    with pytest.raises(CodesignError, match=r"layer 'fc' kernel_quantizer: quantized_po2\(5\) weights .* but hls4ml's shift keeps 13"):
        flow.run_convert(tmp_path / "m.h5", cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    assert not (tmp_path / "run").exists()
