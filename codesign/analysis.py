"""What a QKeras model computes, layer by layer, in fixed-point types: the bridge to hardware.

``describe`` walks a (built or imported) QKeras model and gives one ``Node`` per layer as hls4ml
names them, with the exact type of every output (from the quantizers, or from exact bit growth
for accumulators), the quantized weights, and pruning statistics (sparsity, N:M compliance, BOPs).
hls4ml's config, the report and the accelerator compiler all read these nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codesign.errors import CodesignError
from codesign.fixedpoint import FixedType, accumulator_type, quantized_bits_type, quantized_relu_type


@dataclass(frozen=True)
class Node:
    name: str  # the hls4ml layer name
    kind: str  # input | dense | conv2d | relu | quantize | maxpool2d | flatten
    output_type: FixedType
    output_shape: tuple[int, ...]
    input_type: FixedType | None = None
    accum_type: FixedType | None = None
    weight_type: FixedType | None = None
    bias_type: FixedType | None = None
    kernel: np.ndarray | None = None  # quantized values, Keras layout
    bias: np.ndarray | None = None
    fan_in: int = 0
    pool_size: tuple[int, int] | None = None

    @property
    def has_weights(self) -> bool:
        return self.kernel is not None

    def kernel_matrix(self) -> np.ndarray:
        """The kernel as a (reduction, outputs) matrix; for conv the reduction runs kh, kw, cin."""
        return self.kernel.reshape(-1, self.kernel.shape[-1])


def quantizer_type(quantizer, where: str) -> FixedType:
    """The fixed-point type of a QKeras quantizer object; refuses the ones we cannot reproduce exactly."""
    cls = type(quantizer).__name__
    if cls == "quantized_bits":
        alpha = quantizer.alpha
        if not (alpha is None or (not isinstance(alpha, str) and float(alpha) == 1.0)):
            raise CodesignError(f"{where}: quantized_bits with alpha={alpha!r} is not supported; use alpha=1 (a power-of-two scale is not an ap_fixed type)")
        if quantizer.symmetric or not quantizer.keep_negative or quantizer.use_stochastic_rounding:
            raise CodesignError(f"{where}: quantized_bits must have symmetric=0, keep_negative=1 and no stochastic rounding")
        if quantizer.integer > quantizer.bits - 1:
            raise CodesignError(f"{where}: quantized_bits(bits={quantizer.bits}, integer={quantizer.integer}) needs integer <= bits - 1")
        return quantized_bits_type(int(quantizer.bits), int(quantizer.integer))
    if cls == "quantized_relu":
        if quantizer.negative_slope or quantizer.use_sigmoid or quantizer.relu_upper_bound is not None or quantizer.use_stochastic_rounding:
            raise CodesignError(f"{where}: quantized_relu must have negative_slope=0, use_sigmoid=0, no relu_upper_bound and no stochastic rounding")
        return quantized_relu_type(int(quantizer.bits), int(quantizer.integer))
    raise CodesignError(f"{where}: quantizer {cls} is not supported; allowed: quantized_bits (alpha=1), quantized_relu")


class _Problems(list):
    """Every reason a model cannot be mapped, so one error lists them all."""

    def check(self, fn, *args):
        """``fn(*args)``, or None with its CodesignError recorded."""
        try:
            return fn(*args)
        except CodesignError as err:
            self.append(str(err))
            return None

    def raise_any(self) -> None:
        if len(self) == 1:
            raise CodesignError(self[0])
        if self:
            raise CodesignError(f"the model cannot be mapped exactly ({len(self)} problems): " + "; ".join(self))


def _weighted_nodes(layer, input_type: FixedType, problems: _Problems) -> list[Node]:
    """The layer's nodes; none when it has problems (recorded in ``problems``)."""
    cls, name = type(layer).__name__, layer.name
    known = len(problems)
    if layer.kernel_quantizer_internal is None:
        problems.append(f"layer {name!r} ({cls}) has no kernel_quantizer; every weight must be quantized")
    if not layer.use_bias or layer.bias_quantizer_internal is None:
        problems.append(f"layer {name!r} ({cls}) needs a bias with a bias_quantizer")
    if cls == "QConv2D" and (layer.strides != (1, 1) or layer.padding != "valid" or layer.dilation_rate != (1, 1)):
        problems.append(f"layer {name!r} (QConv2D): only strides=1, padding='valid', dilation=1 are supported")
    if layer.kernel_quantizer_internal is not None:
        problems.check(quantizer_type, layer.kernel_quantizer_internal, f"layer {name!r} kernel_quantizer")
    if layer.use_bias and layer.bias_quantizer_internal is not None:
        problems.check(quantizer_type, layer.bias_quantizer_internal, f"layer {name!r} bias_quantizer")
    activation = layer.activation
    if activation is not None and getattr(activation, "__name__", "") != "linear":
        if type(activation).__name__ not in ("quantized_relu", "quantized_bits"):
            problems.append(f"layer {name!r} ({cls}): activation {activation!r} is not supported; use a QActivation with quantized_relu or quantized_bits")
        else:
            problems.check(quantizer_type, activation, f"layer {name!r} activation")
    if len(problems) > known:
        return []
    weight_t = quantizer_type(layer.kernel_quantizer_internal, f"layer {name!r} kernel_quantizer")
    bias_t = quantizer_type(layer.bias_quantizer_internal, f"layer {name!r} bias_quantizer")
    kernel = np.asarray(layer.kernel_quantizer_internal(layer.kernel).numpy(), dtype=np.float64)
    bias = np.asarray(layer.bias_quantizer_internal(layer.bias).numpy(), dtype=np.float64)
    fan_in = int(np.prod(kernel.shape[:-1]))
    accum_t = accumulator_type(input_type, weight_t, fan_in, bias_t)
    shape = tuple(int(d) for d in layer.output_shape[1:])
    nodes = [Node(name, "dense" if cls == "QDense" else "conv2d", accum_t, shape, input_type, accum_t, weight_t, bias_t, kernel, bias, fan_in)]
    if activation is not None and getattr(activation, "__name__", "") != "linear":
        act_t = quantizer_type(activation, f"layer {name!r} activation")
        nodes.append(Node(f"{name}_{type(activation).__name__}", "relu" if not act_t.signed else "quantize", act_t, shape, accum_t))
    return nodes


def input_name(model) -> str:
    """The name of the model's input layer, as hls4ml reads it from the model's architecture: the
    InputLayer's name (Keras calls a Sequential model's input ``<first layer>_input``), else ``input1``."""
    layers = model.get_config().get("layers") or [{}]
    first = layers[0]
    return first["config"]["name"] if first.get("class_name") == "InputLayer" else "input1"


def describe(model, input_type: FixedType) -> list[Node]:
    """The model as a chain of fixed-point nodes; refuses layers and topologies we cannot map."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise CodesignError("the model must have exactly one input and one output (a single chain of layers)")
    nodes: list[Node] = []
    problems = _Problems()
    current = input_type
    for layer in model.layers:
        cls, name = type(layer).__name__, layer.name
        if cls != "InputLayer" and isinstance(layer.input, list):
            problems.append(f"layer {name!r} ({cls}) has several inputs; only a single chain of layers is supported")
            continue
        shape = tuple(int(d) for d in (layer.output_shape[0] if isinstance(layer.output_shape, list) else layer.output_shape)[1:])
        if cls == "InputLayer":
            nodes.append(Node(name, "input", input_type, shape))
        elif cls in ("QDense", "QConv2D"):
            nodes.extend(_weighted_nodes(layer, current, problems))
        elif cls == "QActivation":
            act_t = problems.check(quantizer_type, layer.quantizer, f"layer {name!r}")
            if act_t is not None:
                nodes.append(Node(name, "relu" if not act_t.signed else "quantize", act_t, shape, current))
        elif cls == "MaxPooling2D":
            if layer.strides != layer.pool_size or layer.padding != "valid":
                problems.append(f"layer {name!r} (MaxPooling2D): only strides equal to pool_size and padding='valid' are supported")
            else:
                nodes.append(Node(name, "maxpool2d", current, shape, current, pool_size=tuple(layer.pool_size)))
        elif cls == "Flatten":
            nodes.append(Node(name, "flatten", current, shape, current))
        else:
            problems.append(f"layer {name!r} of type {cls} is not supported; allowed: QDense, QConv2D, QActivation, MaxPooling2D, Flatten")
        if nodes:  # after a refused layer the next ones are checked on the last known type
            current = nodes[-1].output_type
    problems.raise_any()
    if nodes and nodes[0].kind != "input":  # a Sequential model: its InputLayer is not among model.layers
        nodes.insert(0, Node(input_name(model), "input", input_type, tuple(int(d) for d in model.input_shape[1:])))
    return nodes


def nm_compliance(matrix: np.ndarray, n: int, m: int) -> float:
    """Fraction of groups of ``m`` consecutive weights along the reduction axis with at most ``n`` non-zeros."""
    rows, cols = matrix.shape
    padded = np.zeros((math.ceil(rows / m) * m, cols))
    padded[:rows] = matrix
    nonzeros = (padded.reshape(-1, m, cols) != 0).sum(axis=1)
    return float(np.mean(nonzeros <= n))


def bops(node: Node, input_bits: int) -> int:
    """Bit operations of a weighted layer, after Baskin et al. / Hawks et al. (quantization-aware pruning).

    BOPs = outputs * fan_in * ((1 - f_p) * b_a * b_w + b_a + b_w + log2(fan_in)), f_p the pruned fraction.
    """
    matrix = node.kernel_matrix()
    outputs_per_filter = int(np.prod(node.output_shape[:-1])) if node.kind == "conv2d" else 1
    dense_fraction = float(np.count_nonzero(matrix)) / matrix.size
    b_w, b_a = node.weight_type.width, input_bits
    per_output = node.fan_in * (dense_fraction * b_a * b_w + b_a + b_w + math.log2(node.fan_in))
    return int(round(outputs_per_filter * matrix.shape[1] * per_output))


def layer_stats(nodes: list[Node], nm: dict[str, tuple[int, int]] | None = None) -> list[dict]:
    """Per weighted layer: bit-widths, achieved sparsity of the quantized weights, N:M compliance, BOPs."""
    stats = []
    by_input = {node.name: i for i, node in enumerate(nodes)}
    for node in nodes:
        if not node.has_weights:
            continue
        following = nodes[by_input[node.name] + 1] if by_input[node.name] + 1 < len(nodes) else None
        act = following.output_type if following is not None and following.kind in ("relu", "quantize") else None
        matrix = node.kernel_matrix()
        entry = {
            "name": node.name,
            "type": node.kind,
            "weight_bits": node.weight_type.width,
            "act_bits": act.width if act is not None else None,
            "input_bits": node.input_type.width,
            "accum_type": str(node.accum_type),
            "weights": int(matrix.size),
            "nonzero_weights": int(np.count_nonzero(matrix)),
            "sparsity": round(1.0 - np.count_nonzero(matrix) / matrix.size, 6),
            "bops": bops(node, node.input_type.width),
        }
        if nm and node.name in nm:
            n, m = nm[node.name]
            entry["nm"] = f"{n}:{m}"
            entry["nm_compliance"] = nm_compliance(matrix, n, m)
        stats.append(entry)
    return stats
