"""The run config's convolution pieces, trained by the flow: 'same' padding and strides, depthwise2d,
avgpool2d and folded batch norm (conv2d batchnorm) build, pretrain in float, prune, convert exactly in
hls4ml, and (valid, stride 1) run bit for bit on the accelerator RTL."""

import dataclasses

import numpy as np
import pytest

from codesign import analysis, config, flow, models, train
from codesign.data import SHAPES
from codesign.estimate.network import nodes_from_config

L = config.LayerSpec
# 'same' and strided convolutions (plain and depthwise), a folded batch norm, average pooling
GEOMETRY = (
    L("conv2d", name="conv_bn", filters=6, batchnorm=True, padding="same", sparsity=0.3),
    L("conv2d", name="conv_s2", filters=8, padding="same", strides=2),
    L("depthwise2d", name="dw_s2", padding="same", strides=2, sparsity=0.3),
    L("avgpool2d", name="avg", pool_size=2),
    L("flatten"),
    L("dense", activation="linear"),
)
# what the accelerator runs: folded batch norms (one 2:4 sparse) around a depthwise conv, valid, stride 1
ACCEL = (
    L("conv2d", filters=8, batchnorm=True, sparsity=0.3),
    L("depthwise2d", sparsity=0.3),
    L("conv2d", filters=8, batchnorm=True, nm="2:4"),
    L("flatten"),
    L("dense", activation="linear"),
)
SAME = ("name", "kind", "output_type", "output_shape", "input_type", "accum_type", "weight_type", "bias_type", "fan_in",
        "pool_size", "strides", "padding", "keras_class")


def _cfg(name: str, layers, *, max_test: int, **train_options) -> config.RunConfig:
    return config.validate(config.RunConfig(
        name=name, dataset=config.DatasetConfig(max_train=600, max_test=max_test), layers=layers,
        train=config.TrainConfig(**{"epochs": 2, "float_epochs": 0, **train_options}), rtl=config.RtlConfig(enabled=False)))


def _pruned(layer: dict, target: float) -> bool:
    """At least the target's zeros (tfmot prunes floor(target * weights) of them; quantizing only adds zeros)."""
    return layer["weights"] - layer["nonzero_weights"] >= int(target * layer["weights"])


def _exact(rep: dict, keys: tuple[str, ...], samples: int) -> None:
    for key in keys:
        assert rep["exactness"][key] == {"samples": samples, "mismatched": 0, "max_abs_diff": 0.0}, key


@pytest.mark.parametrize("layers", [GEOMETRY, ACCEL], ids=["geometry", "accel"])
def test_the_synthetic_network_and_the_float_twin_match_the_built_model(layers):
    """nodes_from_config gives describe's nodes of the built QKeras model; the float twin's weights (a
    depthwise kernel, a conv2d's batch norm statistics) move into it; selection's knobs and apply keep it valid."""
    from codesign.select import sensitivity, space

    cfg = _cfg("layers", layers, max_test=100)
    shape, classes = SHAPES[cfg.dataset.name]
    student = models.build(cfg, models.model_input_shape(cfg, shape), classes)
    twin = models.build(cfg, models.model_input_shape(cfg, shape), classes, quantized=False)
    for layer in twin.layers:  # batch statistics away from the initial ones, so a copy shows
        if type(layer).__name__ == "BatchNormalization":
            layer.moving_mean.assign(np.linspace(-0.5, 0.5, layer.moving_mean.shape[0]))
            layer.moving_variance.assign(np.linspace(0.5, 2.0, layer.moving_variance.shape[0]))
    train._copy_weights(student, twin)
    for spec in cfg.layers:
        if spec.type == "depthwise2d":
            assert np.array_equal(student.get_layer(spec.name).depthwise_kernel.numpy(), twin.get_layer(spec.name).depthwise_kernel.numpy())
        if spec.batchnorm:
            got, want = student.get_layer(spec.name), twin.get_layer(f"{spec.name}_bn")
            assert np.array_equal(got.kernel.numpy(), twin.get_layer(spec.name).kernel.numpy())
            assert np.array_equal(got.batchnorm.moving_variance.numpy(), want.moving_variance.numpy())
            assert np.array_equal(got.batchnorm.moving_mean.numpy(), want.moving_mean.numpy())

    built = analysis.describe(student, cfg.input.type)
    for weights in (None, sensitivity.float_weights(twin)):
        synthetic = nodes_from_config(cfg, weights=weights)
        assert [tuple(getattr(n, k) for k in SAME) for n in synthetic] == [tuple(getattr(n, k) for k in SAME) for n in built]
    # the float twin's weights, batch norm folded in, are those QConv2DBatchnorm folds at inference
    floats = sensitivity.float_weights(twin)
    for spec in cfg.layers:
        if spec.batchnorm:
            kernel, bias = (np.asarray(v) for v in student.get_layer(spec.name).get_folded_weights())
            np.testing.assert_allclose(floats[spec.name][0], kernel, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(floats[spec.name][1], bias, rtol=1e-5, atol=1e-6)

    knobs = [space.SearchSpace(sparsities=("0", "0.5", "2:4")).knobs(s, 8) for s in space.weighted_layers(cfg)]
    assert [s.name for s in space.weighted_layers(cfg)] == [s.name for s in cfg.layers if s.type in ("dense", "conv2d", "depthwise2d")]
    for spec, k in zip(space.weighted_layers(cfg), knobs):
        assert ("2:4" in k["sparsity"]) == (spec.type != "depthwise2d"), (spec.name, k)
    design = tuple(space.LayerOption(k["weight_bits"][-1], k["act_bits"][-1], k["sparsity"][-1]) for k in knobs)
    assert [s.type for s in space.apply(cfg, design).layers] == [s.type for s in cfg.layers]


def test_same_padding_strides_depthwise_average_pooling_and_folded_batch_norm_train_and_convert_exactly(tmp_path):
    """QKeras = hls4ml C simulation = the integer reference on every test sample; pruning reaches its
    target on the folded batch norm and the depthwise layer."""
    cfg = _cfg("geometry", GEOMETRY, max_test=120)
    rep = flow.run_flow(cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    _exact(rep, ("qkeras_vs_hls4ml", "qkeras_vs_reference"), 120)
    kinds = {t["name"]: t["kind"] for t in rep["types"]}
    assert kinds["conv_bn"] == kinds["conv_s2"] == "conv2d" and kinds["dw_s2"] == "depthwise2d" and kinds["avg"] == "avgpool2d"
    layers = {layer["name"]: layer for layer in rep["layers"]}
    assert _pruned(layers["conv_bn"], 0.3) and _pruned(layers["dw_s2"], 0.3), layers
    saved = models.load(tmp_path / "run" / "model.h5")
    assert [type(saved.get_layer(n)).__name__ for n in ("conv_bn", "conv_s2", "dw_s2", "avg")] == [
        "QConv2DBatchnorm", "QConv2D", "QDepthwiseConv2D", "AveragePooling2D"]
    assert saved.get_layer("conv_s2").strides == (2, 2) and saved.get_layer("dw_s2").padding == "same"


def test_folded_batch_norm_and_depthwise_conv_run_three_way_exact_on_the_accelerator(tmp_path):
    """Float pretraining moves into the QConv2DBatchnorm and QDepthwiseConv2D layers; magnitude and 2:4
    pruning hold on them; QKeras = hls4ml = the 4x4 accelerator RTL, the 2:4 layer run compressed."""
    cfg = _cfg("accel", ACCEL, max_test=64, float_epochs=1, init_from_float=True)
    out = tmp_path / "run"
    rep = flow.run_flow(cfg, out, tmp_path / "hls", progress=False)
    _exact(rep, ("qkeras_vs_hls4ml", "qkeras_vs_reference"), 64)
    assert rep["accuracy"]["float"] is not None
    layers = {layer["name"]: layer for layer in rep["layers"]}
    assert _pruned(layers["conv1"], 0.3) and _pruned(layers["dw1"], 0.3), layers
    assert layers["conv2"]["nm_compliance"] == 1.0 and layers["conv2"]["sparsity"] >= 0.5, layers["conv2"]
    rep = flow.rtl_stage(out, config.RtlConfig(rows=4, cols=4, samples=64, synth=False), progress=False)
    _exact(rep, ("qkeras_vs_rtl", "hls4ml_vs_rtl"), 64)
    assert rep["rtl"]["cycles_per_inference"] == rep["rtl"]["cycles_predicted"] > 0
    assert "conv2" in rep["rtl"]["sparse_layers"], rep["rtl"]["sparse_layers"]


@pytest.mark.parametrize("layers, message", [
    ((L("conv2d", filters=4, padding="same", strides=2), L("conv2d", filters=4, kernel_size=5)), r"layer 'conv2' \(conv2d\): its 5x5 window does not fit its input of shape \(4, 4, 4\)"),
    ((L("depthwise2d", strides=2), L("avgpool2d", pool_size=4)), r"layer 'avgpool1' \(avgpool2d\): its 4x4 window does not fit its input of shape \(3, 3, 1\)"),
], ids=["conv2d", "avgpool2d"])
def test_a_window_larger_than_its_input_is_refused_naming_the_layer(layers, message):
    from codesign.errors import CodesignError

    cfg = _cfg("small", (*layers, L("flatten"), L("dense", activation="linear")), max_test=100)
    with pytest.raises(CodesignError, match=message):
        models.build(cfg, (8, 8, 1), 10)
    with pytest.raises(CodesignError, match=message):
        nodes_from_config(cfg)
