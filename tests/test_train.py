"""Pruning schedules, N:M structured sparsity and per-layer statistics of the trained model."""

import dataclasses

import numpy as np
import pytest

from codesign import analysis, config, flow, train


@pytest.fixture(scope="module")
def digits_inputs():
    return flow.load_inputs(config.default_config("digits"))


def _train(cfg, inputs):
    ds = inputs.dataset
    return train.train(cfg, inputs.x_train, ds.train.y, inputs.x_val, ds.val.y, inputs.x_test, ds.test.y, 10, progress=False)


@pytest.mark.parametrize("schedule", ["constant", "polynomial"])
def test_schedules_reach_each_layers_target_sparsity(schedule, digits_inputs):
    layers = (
        config.LayerSpec("dense", units=32, sparsity=0.75),
        config.LayerSpec("dense", units=32, sparsity=0.5, nm=None),
        config.LayerSpec("dense", activation="linear", sparsity=0.0),
    )
    cfg = config.validate(config.RunConfig(layers=layers, train=config.TrainConfig(epochs=6, float_epochs=0, pruning=config.PruningConfig(schedule=schedule, end_fraction=0.6))))
    result = _train(cfg, digits_inputs)
    stats = {s["name"]: s for s in analysis.layer_stats(analysis.describe(result.model, cfg.input.type))}
    # The quantizer can only add zeros, so achieved sparsity is at least the pruning target.
    assert stats["fc1"]["sparsity"] >= 0.75 - 1e-3
    assert stats["fc2"]["sparsity"] >= 0.5 - 1e-3
    assert stats["output"]["sparsity"] < 0.5
    assert result.qkeras_accuracy > 0.5


def test_nm_pruning_is_compliant_along_the_reduction_axis(digits_inputs):
    layers = (
        config.LayerSpec("dense", units=32, nm="2:4"),
        config.LayerSpec("dense", units=16, nm="1:4"),
        config.LayerSpec("dense", activation="linear"),
    )
    cfg = config.validate(config.RunConfig(layers=layers, train=config.TrainConfig(epochs=4, float_epochs=2, distill=config.DistillConfig(enabled=True))))
    result = _train(cfg, digits_inputs)
    nodes = analysis.describe(result.model, cfg.input.type)
    stats = {s["name"]: s for s in analysis.layer_stats(nodes, {"fc1": (2, 4), "fc2": (1, 4)})}
    assert stats["fc1"]["nm_compliance"] == 1.0 and stats["fc1"]["sparsity"] >= 0.5
    assert stats["fc2"]["nm_compliance"] == 1.0 and stats["fc2"]["sparsity"] >= 0.75
    fc1 = next(n for n in nodes if n.name == "fc1").kernel_matrix()
    groups = (fc1.reshape(-1, 4, fc1.shape[1]) != 0).sum(axis=1)
    assert groups.max() <= 2
    assert result.float_accuracy is not None


def test_bops_follow_the_quantization_aware_pruning_formula():
    from codesign.fixedpoint import FixedType, quantized_bits_type

    kernel = np.zeros((16, 4))
    kernel[::2] = 0.5  # half the weights pruned
    node = analysis.Node("fc", "dense", FixedType(20, 8), (4,), FixedType(8, 1, False), FixedType(20, 8), quantized_bits_type(6, 0), quantized_bits_type(8, 3), kernel, np.zeros(4), 16)
    expected = 4 * 16 * (0.5 * 8 * 6 + 8 + 6 + 4)
    assert analysis.bops(node, 8) == expected


def test_nm_on_channels_that_groups_cannot_tile_is_refused(digits_inputs):
    from codesign.errors import CodesignError

    layers = (config.LayerSpec("dense", units=30), config.LayerSpec("dense", activation="linear", nm="2:4"))
    cfg = config.validate(config.RunConfig(layers=layers, train=config.TrainConfig(epochs=1, float_epochs=0)))
    with pytest.raises(CodesignError, match=r"output: N:M pruning needs its input channels \(30\) to be a multiple of M=4"):
        _train(cfg, digits_inputs)


def test_init_from_float_starts_quantization_aware_training_from_the_float_twin(digits_inputs):
    """With a learning rate too small to move a weight, the student is the float twin's weights on
    the weight grid; without init_from_float it is a fresh initialization."""
    layers = (config.LayerSpec("dense", units=16, weight_bits=8, weight_integer=1), config.LayerSpec("dense", activation="linear", weight_bits=8, weight_integer=1))
    base = config.validate(config.RunConfig(layers=layers, train=config.TrainConfig(epochs=1, float_epochs=3)))
    ds = digits_inputs.dataset
    teacher, _ = train.float_model(base, digits_inputs.x_train, ds.train.y, digits_inputs.x_val, ds.val.y, 10, progress=False)
    frozen = dataclasses.replace(base, train=dataclasses.replace(base.train, learning_rate=1e-7))
    kernels = {}
    for init in (teacher, None):
        student, _ = train.quantized_model(frozen, digits_inputs.x_train, ds.train.y, digits_inputs.x_val, ds.val.y, 10, init=init, progress=False)
        kernels[init is None] = student.get_layer("fc1").kernel.numpy()
    grid = layers[0].weight_type
    np.testing.assert_allclose(grid.quantize(kernels[False]), grid.quantize(teacher.get_layer("fc1").kernel.numpy()), atol=grid.lsb)
    assert np.abs(grid.quantize(kernels[True]) - grid.quantize(teacher.get_layer("fc1").kernel.numpy())).max() > 4 * grid.lsb


def test_sparsity_is_recorded_per_epoch_as_the_schedule_ramps_it():
    """Before the first epoch and after each: the training step and each pruned layer's fraction of
    zero weights, named as in the run config; a polynomial ramp to 0.5 goes from 0 to 0.5, never down."""
    layers = (config.LayerSpec("dense", units=16, sparsity=0.5), config.LayerSpec("dense", activation="linear"))
    pruning = config.PruningConfig(schedule="polynomial", frequency=5)
    cfg = config.validate(config.RunConfig(dataset=config.DatasetConfig(max_train=300), layers=layers,
                                           train=config.TrainConfig(epochs=5, float_epochs=0, batch_size=16, pruning=pruning)))
    result = _train(cfg, flow.load_inputs(cfg))
    record = result.sparsity_steps
    steps_per_epoch = -(-300 // 16)
    assert record["step"] == [epoch * steps_per_epoch for epoch in range(6)]
    assert list(record["layers"]) == ["fc1"]  # the unpruned output layer has no pruning wrapper
    fc1 = np.array(record["layers"]["fc1"])
    assert fc1[0] < 0.01
    assert fc1[-1] == pytest.approx(0.5, abs=0.01)
    assert np.all(np.diff(fc1) >= 0), fc1
    stats = {s["name"]: s for s in analysis.layer_stats(analysis.describe(result.model, cfg.input.type))}
    assert stats["fc1"]["sparsity"] >= fc1[-1] - 1e-6  # the last record is the stripped model's mask; quantizing only adds zeros
    assert "sparsity_steps" not in result.history  # the history keeps Keras' per-epoch metrics only
