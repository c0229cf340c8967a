"""Run-config validation: every bad value gets an error naming it and the allowed values."""

import pytest

from codesign import config
from codesign.errors import CodesignError


def _with_layer(**changes):
    base = config.default_config("digits").to_dict()
    base["layers"][0].update(changes)
    return base


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"weight_bits": 0}, r"fc1.*bits=0 is outside the allowed range 1\.\.32"),
        ({"weight_bits": 33}, r"bits=33 is outside the allowed range 1\.\.32"),
        ({"act_bits": 6, "act_integer": 7}, r"activation: integer=7 is outside the allowed range 0\.\.6"),
        ({"weight_bits": 4, "weight_integer": 4}, r"weights: integer=4 is outside the allowed range 0\.\.3"),
        ({"sparsity": 1.0}, r"sparsity=1\.0 is outside the allowed range \[0\.0, 1\.0\)"),
        ({"sparsity": -0.1}, r"sparsity=-0\.1 is outside"),
        ({"sparsity": 0.0, "nm": "4:4"}, r"nm='4:4' needs 1 <= N < M"),
        ({"sparsity": 0.0, "nm": "5:4"}, r"N < M"),
        ({"sparsity": 0.0, "nm": "two of four"}, r"must be written N:M"),
        ({"activation": "tanh"}, r"activation='tanh' is not allowed; choose one of: relu, linear"),
        ({"type": "lstm"}, r"type='lstm' is not allowed"),
        ({"colour": "red"}, r"unknown key\(s\) colour"),
    ],
)
def test_bad_layer_values_name_the_layer_and_the_range(changes, message):
    with pytest.raises(CodesignError, match=message):
        config.from_dict(_with_layer(**changes))


def test_unknown_dataset_and_top_level_key():
    with pytest.raises(CodesignError, match=r"unknown data set 'mnist'; allowed: digits, fashion-mnist, jets"):
        config.default_config("mnist")
    with pytest.raises(CodesignError, match=r"dataset: name='cifar' is not allowed"):
        config.from_dict({"dataset": {"name": "cifar"}})
    with pytest.raises(CodesignError, match=r"unknown key\(s\) optimiser"):
        config.from_dict({"optimiser": "sgd"})


def test_last_layer_must_give_logits():
    data = config.default_config("digits").to_dict()
    data["layers"][-1]["activation"] = "relu"
    with pytest.raises(CodesignError, match="last layer must be a dense layer with activation linear"):
        config.from_dict(data)


def test_yaml_round_trip_and_safe_load(tmp_path):
    cfg = config.default_config("digits")
    path = tmp_path / "run.yaml"
    path.write_text(config.dump(cfg))
    assert config.load(path) == cfg
    path.write_text("!!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(CodesignError, match="not valid YAML"):
        config.load(path)


ARRAY = {"weight_bits": 8, "act_bits": 8, "acc_bits": 32, "amem_depth": 1024, "wmem_depth": 1024, "bmem_depth": 64,
         "omem_depth": 1024, "dmem_depth": 16}


@pytest.mark.parametrize(
    "rtl,message",
    [
        ({"rows": 0}, r"rtl: rows=0 is outside the allowed range 1\.\.16"),
        ({"cols": 17}, r"rtl: cols=17 is outside the allowed range 1\.\.16"),
        ({"samples": 0}, r"rtl: samples=0 is outside"),
        ({"simulator": "xsim"}, r"rtl: simulator='xsim' is not allowed; choose one of: verilator, icarus"),
        ({"synth": "yes"}, r"rtl: synth='yes' must be true or false"),
        ({"synth_targets": ["ice40"]}, r"rtl: synth_targets=\['ice40'\] must be a list of distinct families from ecp5, xc7"),
        ({"synth_targets": []}, r"rtl: synth_targets=\[\] must be a list"),
        ({"array": {"weight_bits": 8}}, r"rtl: array=\{'weight_bits': 8\} must give every one of weight_bits, act_bits, acc_bits, amem_depth"),
        ({"array": {**ARRAY, "amem_depth": 1000}}, r"rtl: array: accelerator parameter amem_depth=1000 must be a power of two"),
        ({"array": {**ARRAY, "acc_bits": 16}}, r"rtl: array: accelerator parameter acc_bits=16 is outside the allowed range 17\.\.32"),
        ({"fmax": 200}, r"rtl: unknown key\(s\) fmax"),
    ],
)
def test_bad_rtl_section(rtl, message):
    with pytest.raises(CodesignError, match=message):
        config.from_dict({"rtl": rtl})


def _cnn(**changes):
    """A small CNN run config (conv2d, depthwise2d, maxpool2d, avgpool2d, flatten, dense) as a mapping,
    ``changes`` given per layer name."""
    layers = [{"type": "conv2d", "name": "conv1", "filters": 4}, {"type": "depthwise2d", "name": "dw1"},
              {"type": "maxpool2d", "name": "pool1"}, {"type": "avgpool2d", "name": "avg1", "pool_size": 1},
              {"type": "flatten", "name": "flat"}, {"type": "dense", "name": "output", "activation": "linear"}]
    for layer in layers:
        layer.update(changes.get(layer["name"], {}))
    return {"name": "cnn", "layers": layers}


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"conv1": {"padding": "full"}}, r"^layers\[0\] \(conv1\): padding='full' is not allowed; choose one of: valid, same$"),
        ({"conv1": {"strides": 3}}, r"^layers\[0\] \(conv1\): strides=3 is not allowed; choose one of: 1, 2$"),
        ({"dw1": {"strides": True}}, r"^layers\[1\] \(dw1\): strides=True is not allowed; choose one of: 1, 2$"),
        ({"conv1": {"batchnorm": "yes"}}, r"^layers\[0\] \(conv1\): batchnorm='yes' must be true or false$"),
        ({"pool1": {"batchnorm": True}}, r"^layers\[2\] \(pool1\): batchnorm=true is allowed on conv2d layers only .*a maxpool2d layer takes batchnorm=false"),
        ({"output": {"batchnorm": True}}, r"^layers\[5\] \(output\): batchnorm=true is allowed on conv2d layers only .*BatchNormalization after a dense layer is exact in fixed point only for narrow layers"),
        ({"dw1": {"batchnorm": True}}, r"batchnorm=true is allowed on conv2d layers only"),
        ({"pool1": {"padding": "same"}}, r"^layers\[2\] \(pool1\): padding and strides apply to conv2d and depthwise2d layers only; a maxpool2d layer takes"),
        ({"output": {"strides": 2}}, r"^layers\[5\] \(output\): padding and strides apply to conv2d and depthwise2d layers only"),
        ({"dw1": {"filters": 8}}, r"^layers\[1\] \(dw1\): filters=8 is not allowed on depthwise2d, which keeps its input's channels"),
        ({"dw1": {"nm": "2:4"}}, r"^layers\[1\] \(dw1\): nm='2:4' is not allowed on depthwise2d: .*; use sparsity$"),
        ({"dw1": {"kernel_size": 0}}, r"^layers\[1\] \(dw1\): kernel_size=0 is outside the allowed range 1\.\.15$"),
        ({"avg1": {"pool_size": 3}}, r"^layers\[3\] \(avg1\): pool_size=3 is not allowed for avgpool2d; choose one of: 1, 2, 4, 8 "),
        ({"pool1": {"pool_size": 0}}, r"^layers\[2\] \(pool1\): pool_size=0 is outside the allowed range 1\.\.16$"),
        ({"conv1": {"type": "conv3d"}}, r"type='conv3d' is not allowed; choose one of: dense, conv2d, depthwise2d, maxpool2d, avgpool2d, flatten$"),
    ],
)
def test_bad_convolution_fields_name_the_layer_the_field_and_the_allowed_values(changes, message):
    with pytest.raises(CodesignError, match=message) as err:
        config.from_dict(_cnn(**changes))
    assert "\n" not in str(err.value)


def test_new_layer_fields_default_and_round_trip(tmp_path):
    data = _cnn(conv1={"padding": "same", "strides": 2, "batchnorm": True}, dw1={"padding": "same"}, avg1={"pool_size": 2})
    for layer in data["layers"]:
        layer.pop("name")
    cfg = config.from_dict(data)
    assert [s.name for s in cfg.layers] == ["conv1", "dw1", "pool1", "avgpool1", "flatten1", "output"]
    assert [s.has_weights for s in cfg.layers] == [True, True, False, False, False, True]
    conv, dw = cfg.layers[:2]
    assert (conv.padding, conv.strides, conv.batchnorm, dw.padding, dw.strides, dw.batchnorm) == ("same", 2, True, "same", 1, False)
    path = tmp_path / "run.yaml"
    path.write_text(config.dump(cfg))
    assert config.load(path) == cfg
