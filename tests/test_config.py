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


@pytest.mark.parametrize(
    "rtl,message",
    [
        ({"rows": 0}, r"rtl: rows=0 is outside the allowed range 1\.\.16"),
        ({"cols": 17}, r"rtl: cols=17 is outside the allowed range 1\.\.16"),
        ({"samples": 0}, r"rtl: samples=0 is outside"),
        ({"simulator": "xsim"}, r"rtl: simulator='xsim' is not allowed; choose one of: verilator, icarus"),
        ({"synth": "yes"}, r"rtl: synth='yes' must be true or false"),
        ({"fmax": 200}, r"rtl: unknown key\(s\) fmax"),
    ],
)
def test_bad_rtl_section(rtl, message):
    with pytest.raises(CodesignError, match=message):
        config.from_dict({"rtl": rtl})
