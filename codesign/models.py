"""QKeras model builders from a per-layer spec, and safe saving and loading of models.

Model files may come from strangers: before anything is deserialized, the stored architecture is
read as plain JSON and every layer class is checked against the layers the flow supports, so a
``Lambda`` layer (which carries Python bytecode) or an unknown custom object is refused unless the
user opts in with ``allow_custom=True``.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from codesign.config import LayerSpec, RunConfig
from codesign.errors import CodesignError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WEIGHTED_LAYERS = ("QDense", "QConv1D", "QConv2D", "QConv2DBatchnorm", "QDepthwiseConv2D", "QSeparableConv2D")
BATCHNORM_LAYERS = ("BatchNormalization", "QBatchNormalization")
SUPPORTED_LAYERS = ("InputLayer", *WEIGHTED_LAYERS, "QActivation", *BATCHNORM_LAYERS, "MaxPooling2D", "AveragePooling2D", "Flatten", "Dropout", "Activation")
UNSAFE_LAYERS = ("Lambda", "TFOpLambda")

LayerWrapper = Callable[[LayerSpec, Any], Any]


def custom_objects() -> dict[str, Any]:
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict[str, Any] = {}
    _add_supported_quantized_objects(objects)
    return objects


def model_input_shape(config: RunConfig, data_shape: tuple[int, ...]) -> tuple[int, ...]:
    """MLPs take the flattened sample; CNNs take the image as it is."""
    if config.layers[0].type == "dense":
        return (int(np.prod(data_shape)),)
    if len(data_shape) != 3:
        raise CodesignError(f"layers[0] ({config.layers[0].name}): {config.layers[0].type} needs image data (H, W, C); the data set gives shape {data_shape}")
    return tuple(data_shape)


def _apply(layer, x, spec: LayerSpec):
    """``layer(x)``; a window larger than its input map is refused naming the layer."""
    try:
        y = layer(x)
    except ValueError as err:
        if "dimension" not in str(err) and "Negative" not in str(err):
            raise
        size = spec.kernel_size if spec.has_weights else spec.pool_size
        raise CodesignError(f"layer {spec.name!r} ({spec.type}): its {size}x{size} window does not fit its input of shape {tuple(x.shape[1:])}") from None
    if any(d == 0 for d in y.shape[1:]):
        raise CodesignError(f"layer {spec.name!r} ({spec.type}): its input of shape {tuple(x.shape[1:])} gives an empty output {tuple(y.shape[1:])}")
    return y


def build(config: RunConfig, input_shape: tuple[int, ...], n_classes: int, *, quantized: bool = True,
          wrap: LayerWrapper | None = None):
    """The model of ``config.layers``: QKeras layers when ``quantized``, else its float twin.

    ``wrap`` is applied to every layer with weights (the trainer uses it to add pruning). A conv2d with
    ``batchnorm`` is one QConv2DBatchnorm (the batch norm folded into the kernel and bias before they are
    quantized); its float twin is a Conv2D named as the layer, then a BatchNormalization ``<name>_bn``.
    Outputs are logits: no softmax, so every execution can be compared before any rounding of exp().
    """
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QConv2DBatchnorm, QDense, QDepthwiseConv2D, quantized_bits, quantized_relu

    layers = tf.keras.layers
    x = inputs = layers.Input(shape=input_shape, name="inputs")
    for spec in config.layers:
        if spec.has_weights:
            init = "lecun_uniform"
            weights = quantized_bits(spec.weight_bits, spec.weight_integer, alpha=1)
            bias = dict(bias_quantizer=quantized_bits(spec.bias_bits, spec.bias_integer, alpha=1)) if quantized else {}
            geometry = dict(strides=spec.strides, padding=spec.padding)
            if spec.type == "dense":
                units = spec.units if spec.units is not None else n_classes
                layer = (QDense(units, kernel_quantizer=weights, **bias, kernel_initializer=init, name=spec.name) if quantized
                         else layers.Dense(units, kernel_initializer=init, name=spec.name))
            elif spec.type == "depthwise2d":
                layer = (QDepthwiseConv2D(spec.kernel_size, **geometry, depthwise_quantizer=weights, **bias, depthwise_initializer=init, name=spec.name)
                         if quantized else layers.DepthwiseConv2D(spec.kernel_size, **geometry, depthwise_initializer=init, name=spec.name))
            elif quantized:
                conv = QConv2DBatchnorm if spec.batchnorm else QConv2D
                layer = conv(spec.filters, spec.kernel_size, **geometry, kernel_quantizer=weights, **bias, kernel_initializer=init, name=spec.name)
            else:
                layer = layers.Conv2D(spec.filters, spec.kernel_size, **geometry, kernel_initializer=init, name=spec.name)
            x = _apply(wrap(spec, layer) if wrap else layer, x, spec)
            if spec.batchnorm and not quantized:
                x = layers.BatchNormalization(name=f"{spec.name}_bn")(x)
            if spec.activation == "relu":
                act_name = f"{spec.name}_relu"
                x = QActivation(quantized_relu(spec.act_bits, spec.act_integer), name=act_name)(x) if quantized else layers.Activation("relu", name=act_name)(x)
        elif spec.type == "maxpool2d":
            x = _apply(layers.MaxPooling2D(spec.pool_size, name=spec.name), x, spec)
        elif spec.type == "avgpool2d":
            x = _apply(layers.AveragePooling2D(spec.pool_size, name=spec.name), x, spec)
        elif spec.type == "flatten":
            x = layers.Flatten(name=spec.name)(x)
    model = tf.keras.Model(inputs, x, name=config.name.replace("-", "_").replace(".", "_"))
    if model.output_shape[-1] != n_classes:
        raise CodesignError(f"layers[-1] ({config.layers[-1].name}): gives {model.output_shape[-1]} outputs but the data set has {n_classes} classes")
    return model


def logits_model(model):
    """The model without a final ``Activation('softmax')``: its logits are what hls4ml, the reference and
    the accelerator reproduce bit for bit (hls4ml's softmax is a lookup-table approximation)."""
    import tensorflow as tf

    from codesign.analysis import is_softmax

    last = model.layers[-1]
    if type(last).__name__ == "Activation" and is_softmax(last):
        return tf.keras.Model(model.inputs, last.input, name=model.name)
    return model


def save(model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.h5")
    with warnings.catch_warnings():
        # HDF5 is the format hls4ml and QKeras tools read; Keras' notes about it are noise here.
        warnings.simplefilter("ignore", UserWarning)
        model.save(tmp, include_optimizer=False)
    os.replace(tmp, path)


def check_architecture(model_config: dict, source: str, allow_custom: bool) -> None:
    """Refuse layers that are unsafe to deserialize or that the flow cannot map to hardware."""
    layers = model_config.get("config", {}).get("layers")
    if not isinstance(layers, list):
        raise CodesignError(f"{source}: the stored architecture has no layer list; is this a Keras model?")
    if model_config.get("class_name") not in ("Sequential", "Functional", "Model"):
        raise CodesignError(f"{source}: model class {model_config.get('class_name')!r} is not supported; allowed: Sequential, Functional")
    if allow_custom:
        return
    problems = []  # every refused layer, in model order, in one message
    for layer in layers:
        cls, name = layer.get("class_name"), layer.get("config", {}).get("name", "?")
        if cls in UNSAFE_LAYERS:
            problems.append(f"layer {name!r} is a {cls} layer, which can run arbitrary code; refused")
        elif cls not in SUPPORTED_LAYERS:
            problems.append(f"layer {name!r} of type {cls} is not supported")
    if problems:
        opt_in = "; opt in with --allow-custom-layers" if any("arbitrary code" in p for p in problems) else ""
        raise CodesignError(f"{source}: {'; '.join(problems)} (allowed: {', '.join(SUPPORTED_LAYERS)}{opt_in})")


def _h5_architecture(path: Path) -> dict:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError:
        raise CodesignError(f"{path} is not a model file: not HDF5 (expected a Keras .h5 model, or JSON plus weights .h5)") from None
    if raw is None:
        raise CodesignError(f"{path} holds no model architecture (a weights-only .h5?); pass the architecture JSON with --weights {path}")
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def _quantizer_strings(architecture: dict) -> dict:
    """QActivation(quantizer object) serializes to a dict that Keras 2.14 cannot read back; QKeras'
    own string form (``quantized_relu(bits=4, integer=2)``) round-trips, so use that."""
    for layer in architecture["config"]["layers"]:
        activation = layer.get("config", {}).get("activation")
        if layer.get("class_name") == "QActivation" and isinstance(activation, dict):
            # QKeras parses "None" wrongly; None is every such argument's default, so leave it out.
            args = ", ".join(f"{key}={value!r}" for key, value in activation.get("config", {}).items() if value is not None)
            layer["config"]["activation"] = f"{activation['class_name']}({args})"
    return architecture


def load(path: str | Path, weights: str | Path | None = None, *, allow_custom: bool = False):
    """Load a saved QKeras model: a single .h5, or an architecture .json plus a weights .h5.

    The architecture is checked as plain JSON first; then the model is rebuilt from it and the
    weights are read, so nothing in the file is executed.
    """
    import tensorflow as tf

    path = Path(path)
    if not path.is_file():
        raise CodesignError(f"model file {path} does not exist")
    if path.suffix == ".json":
        try:
            architecture = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CodesignError(f"{path} is not a model file: not valid JSON") from None
        if not isinstance(architecture, dict):
            raise CodesignError(f"{path} is not a model file: expected a Keras architecture object")
        if weights is None:
            check_architecture(architecture, str(path), allow_custom)
            raise CodesignError(f"{path}: an architecture JSON needs its weights; pass --weights FILE.h5")
    else:
        architecture = _h5_architecture(path)
        weights = path
    check_architecture(architecture, str(path), allow_custom)
    try:
        model = tf.keras.models.model_from_json(json.dumps(_quantizer_strings(architecture)), custom_objects=custom_objects())
    except (ValueError, TypeError, KeyError) as err:
        raise CodesignError(f"{path}: cannot rebuild the model from its architecture: {err}") from None
    try:
        model.load_weights(str(weights))
    except (OSError, ValueError) as err:
        raise CodesignError(f"cannot load weights {weights} into the model of {path}: {err}") from None
    return model
