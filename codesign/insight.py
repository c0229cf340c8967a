"""The numbers behind a finished run's plots: how pruning progressed over training, what quantization
does to each layer's weights and activations, and where each layer's observed values sit in its
fixed-point type. ``codesign.viz`` draws them; ``codesign report`` and the notebooks read them here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.analysis import Node
from codesign.config import RunConfig
from codesign.errors import CodesignError
from codesign.fixedpoint import FixedType, signed_width_for

RUN_FILES = ("report.json", "model.h5", "config.yaml")  # what every finished run holds (flow or convert)
WEIGHTED_LAYERS = ("QDense", "QConv2D")


@dataclass(frozen=True)
class Run:
    """A finished run as the plots read it."""

    path: Path
    cfg: RunConfig
    report: dict
    model: object  # the run's QKeras model
    nodes: list[Node]
    x: np.ndarray  # the first test samples, on the input type's grid, shaped as the model takes them
    sparsity_steps: dict | None  # train.json's per-epoch sparsity record; None when the run has none


def _sparsity_steps(run_dir: Path) -> dict | None:
    """train.json's ``sparsity_steps`` when it records at least one pruned layer."""
    path = run_dir / "train.json"
    if not path.is_file():
        return None
    try:
        steps = json.loads(path.read_text()).get("sparsity_steps")
    except (json.JSONDecodeError, AttributeError):
        raise CodesignError(f"{path} is not a codesign train.json (not a JSON object)") from None
    return steps if isinstance(steps, dict) and steps.get("layers") else None


def load_run(run_dir: str | Path, samples: int = 500) -> Run:
    """A finished run directory's config, report, model, fixed-point nodes and first ``samples`` test inputs."""
    from codesign import analysis, config, flow, models

    run_dir = Path(run_dir)
    if samples < 1:
        raise CodesignError(f"samples={samples}: need at least 1 test sample")
    if not run_dir.is_dir():
        raise CodesignError(f"run directory {run_dir} does not exist")
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    if missing:
        raise CodesignError(f"{run_dir} is not a finished run: no {', '.join(missing)}; run `codesign flow` or `codesign convert` first")
    try:
        rep = json.loads((run_dir / "report.json").read_text())
    except json.JSONDecodeError:
        raise CodesignError(f"{run_dir / 'report.json'} is not valid JSON") from None
    cfg = config.load(run_dir / "config.yaml")
    model = models.load(run_dir / "model.h5")
    nodes = analysis.describe(model, cfg.input.type)
    inputs = flow.load_inputs(cfg, tuple(int(d) for d in model.input_shape[1:]))
    return Run(run_dir, cfg, rep, model, nodes, inputs.x_test[:samples], _sparsity_steps(run_dir))


@dataclass(frozen=True)
class QuantizationError:
    """One weighted layer's quantization errors on sample data. Errors are quantized minus float;
    within a type's range they are at most half an LSB (round to nearest), beyond it they are clipping."""

    layer: str
    weight_type: FixedType
    weight_error: np.ndarray  # quantized kernel - float kernel, flattened
    activation: str | None  # the activation quantizer's layer name; None for a linear layer
    activation_type: FixedType | None
    activation_error: np.ndarray | None  # quantized activation - float activation of the same pre-activations, flattened

    @property
    def weight_clipped(self) -> float:
        """Fraction of weights outside the weight type's range."""
        return float(np.mean(np.abs(self.weight_error) > self.weight_type.lsb / 2))

    @property
    def activation_clipped(self) -> float | None:
        """Fraction of activations outside the activation type's range."""
        if self.activation_error is None:
            return None
        return float(np.mean(np.abs(self.activation_error) > self.activation_type.lsb / 2))


def _activation_quantizer(layer):
    """The quantizer of a weighted layer's own activation, or None when it is linear."""
    activation = layer.activation
    return None if activation is None or getattr(activation, "__name__", "") == "linear" else activation


def _preactivation(layer, x_in):
    """What a weighted layer computes before its own activation quantizer (QKeras' call without it)."""
    import tensorflow as tf

    kernel = layer.kernel_quantizer_internal(layer.kernel)
    bias = layer.bias_quantizer_internal(layer.bias)
    out = tf.tensordot(x_in, kernel, 1) if type(layer).__name__ == "QDense" else tf.nn.convolution(x_in, kernel, padding="VALID")
    return (out + bias).numpy()


def _float_activation(pre: np.ndarray, t: FixedType) -> np.ndarray:
    """The function the activation quantizer rounds: ReLU for an unsigned type, the identity for a signed one."""
    return pre if t.signed else np.maximum(pre, 0.0)


def quantization_errors(model, x: np.ndarray) -> list[QuantizationError]:
    """Per QDense/QConv2D layer of ``model``: its kernel quantizer's error on the kernel, and its
    activation quantizer's error (the QActivation right after it, or its own activation) on the
    pre-activations ``x`` produces."""
    import tensorflow as tf

    from codesign.analysis import quantizer_type

    layers = list(model.layers)
    pairs = []  # (weighted layer, the QActivation right after it or None); describe() admits only chains
    for i, layer in enumerate(layers):
        if type(layer).__name__ in WEIGHTED_LAYERS:
            follower = layers[i + 1] if i + 1 < len(layers) else None
            pairs.append((layer, follower if type(follower).__name__ == "QActivation" else None))
    tensors = [t for layer, act in pairs for t in (layer.input, layer.output, *((act.output,) if act else ()))]
    values = iter(tf.keras.Model(model.inputs, tensors).predict(x, verbose=0, batch_size=4096))
    errors = []
    for layer, act in pairs:
        x_in, out = next(values), next(values)
        weight_t = quantizer_type(layer.kernel_quantizer_internal, f"layer {layer.name!r} kernel_quantizer")
        kernel = layer.kernel.numpy().astype(np.float64)
        weight_error = (layer.kernel_quantizer_internal(layer.kernel).numpy().astype(np.float64) - kernel).ravel()
        own = _activation_quantizer(layer)
        if act is not None:
            name, act_t, pre, quantized = act.name, quantizer_type(act.quantizer, f"layer {act.name!r}"), out, next(values)
        elif own is not None:
            name, act_t, pre, quantized = layer.name, quantizer_type(own, f"layer {layer.name!r} activation"), _preactivation(layer, x_in), out
        else:
            errors.append(QuantizationError(layer.name, weight_t, weight_error, None, None, None))
            continue
        pre = np.asarray(pre, dtype=np.float64)
        act_error = (np.asarray(quantized, dtype=np.float64) - _float_activation(pre, act_t)).ravel()
        errors.append(QuantizationError(layer.name, weight_t, weight_error, name, act_t, act_error))
    return errors


def _code_width(lo: int, hi: int, signed: bool) -> int:
    """Bits of a code that holds every observed code in [lo, hi] (two's complement when signed)."""
    return signed_width_for(lo, hi) if signed else max(1, int(hi).bit_length())


def activation_ranges(nodes: list[Node], x: np.ndarray) -> list[dict]:
    """Per node that computes (input, weighted layers' accumulators, activations), the values the
    integer reference holds on ``x`` against the node's type: the observed and the representable
    range, whether a value reaches the type's bound (``saturates``: the upper one, or the lower one
    of a signed type), and ``unused_integer_bits``: top bits no observed value needs, i.e. how far
    the type's integer bits could shrink at the same LSB."""
    from codesign import reference

    rows = []
    for node, codes in reference.outputs(nodes, x):
        if node.kind in ("flatten", "maxpool2d"):  # their type is their input's, their values a subset of it
            continue
        t = node.output_type
        lo, hi = int(codes.min()), int(codes.max())
        at_bound = codes == t.max_code
        if t.signed:
            at_bound |= codes == t.min_code
        rows.append({
            "name": node.name,
            "kind": node.kind,
            "type": str(t),
            "type_min": t.min_value,
            "type_max": t.max_value,
            "lsb": t.lsb,
            "observed_min": lo * t.lsb,
            "observed_max": hi * t.lsb,
            "saturates": bool(at_bound.any()),
            "at_bound_fraction": float(at_bound.mean()),
            "unused_integer_bits": t.width - _code_width(lo, hi, t.signed),
        })
    return rows
