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
from codesign.fixedpoint import FixedType, accumulator_type, quantized_bits_type, quantized_relu_type, sum_type


@dataclass(frozen=True)
class Node:
    name: str  # the hls4ml layer name
    kind: str  # input | dense | conv2d | scale | relu | quantize | maxpool2d | flatten
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
    exponents: np.ndarray | None = None  # scale: log2 of each channel's power-of-two scale

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
            raise CodesignError(f"{where}: quantized_bits with alpha={alpha!r} is not supported here; use alpha=1 (per-channel scales are supported on kernels only)")
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


KERNEL_QUANTIZERS = "quantized_bits (alpha=1, None or 'auto_po2'), binary (alpha=1 or 'auto_po2'), ternary (alpha=1 or 'auto_po2')"


def kernel_grid(quantizer, where: str) -> FixedType:
    """The type of a kernel quantizer's values before any per-channel scale (``channel_exponents``).

    QDense and QConv2D turn ``alpha=None`` into ``'auto_po2'`` (and make quantized_bits symmetric):
    per-output-channel power-of-two scales, which are exact shifts of values on this grid."""
    cls, alpha = type(quantizer).__name__, getattr(quantizer, "alpha", None)
    if isinstance(alpha, str) and alpha != "auto_po2":
        raise CodesignError(f"{where}: {cls} with alpha={alpha!r} is not supported: its per-channel scales are not powers of two, "
                            f"so the weights lie on no fixed-point grid (allowed alpha: 1, None, 'auto_po2')")
    if not isinstance(alpha, str) and alpha is not None and float(alpha) != 1.0:
        raise CodesignError(f"{where}: {cls} with alpha={alpha!r} is not supported (allowed alpha: 1, None, 'auto_po2')")
    if cls == "quantized_bits":
        if not quantizer.keep_negative or quantizer.use_stochastic_rounding:
            raise CodesignError(f"{where}: quantized_bits must have keep_negative=1 and no stochastic rounding")
        if quantizer.integer > quantizer.bits - 1:
            raise CodesignError(f"{where}: quantized_bits(bits={quantizer.bits}, integer={quantizer.integer}) needs integer <= bits - 1")
        return quantized_bits_type(int(quantizer.bits), int(quantizer.integer))
    if cls in ("binary", "ternary"):
        if getattr(quantizer, "use_01", False) or getattr(quantizer, "use_stochastic_rounding", False):
            raise CodesignError(f"{where}: {cls} must have use_01=False and no stochastic rounding")
        return FixedType(2, 2, True, "RND_CONV", "SAT")  # -1, 0, 1
    raise CodesignError(f"{where}: kernel quantizer {cls} is not supported; allowed: {KERNEL_QUANTIZERS}")


def channel_exponents(quantizer, values: np.ndarray, where: str) -> np.ndarray | None:
    """log2 of each output channel's power-of-two scale after the quantizer ran on ``values`` (None: no scale)."""
    if getattr(quantizer, "alpha", None) != "auto_po2":
        return None
    scale = np.broadcast_to(np.asarray(quantizer.scale, dtype=np.float64), values.shape)
    scale = scale.reshape(-1, values.shape[-1])[0]
    exponents = np.log2(scale)
    if not np.all(exponents == np.round(exponents)):
        raise CodesignError(f"{where}: the auto_po2 scales {scale} are not powers of two")
    return exponents.astype(np.int64)


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
    """The layer's nodes; none when it has problems (recorded in ``problems``).

    A kernel with per-channel power-of-two scales (QKeras' default ``alpha=None``) becomes, as in
    hls4ml, the layer on the unscaled grid with a zero bias, then a ``scale`` node ``<name>_alpha``
    that shifts each channel exactly and adds the bias."""
    cls, name = type(layer).__name__, layer.name
    known = len(problems)
    kq = layer.kernel_quantizer_internal
    bq = layer.bias_quantizer_internal if layer.use_bias else None
    if kq is None:
        problems.append(f"layer {name!r} ({cls}) has no kernel_quantizer; every weight must be quantized")
    if layer.use_bias and bq is None:
        problems.append(f"layer {name!r} ({cls}) has a bias without a bias_quantizer; give it one (e.g. quantized_bits(8, 3, alpha=1)) or use_bias=False")
    if cls == "QConv2D" and (layer.strides != (1, 1) or layer.padding != "valid" or layer.dilation_rate != (1, 1)):
        problems.append(f"layer {name!r} (QConv2D): only strides=1, padding='valid', dilation=1 are supported")
    if kq is not None:
        problems.check(kernel_grid, kq, f"layer {name!r} kernel_quantizer")
    if bq is not None:
        problems.check(quantizer_type, bq, f"layer {name!r} bias_quantizer")
    activation = layer.activation
    act_name = getattr(activation, "__name__", "")
    if activation is not None and act_name not in ("linear", "relu"):
        if type(activation).__name__ not in ("quantized_relu", "quantized_bits"):
            problems.append(f"layer {name!r} ({cls}): activation {activation!r} is not supported; use 'relu' or a QActivation with quantized_relu or quantized_bits")
        else:
            problems.check(quantizer_type, activation, f"layer {name!r} activation")
    if len(problems) > known:
        return []
    grid = kernel_grid(kq, f"layer {name!r} kernel_quantizer")
    kernel = np.asarray(kq(layer.kernel).numpy(), dtype=np.float64)
    exponents = channel_exponents(kq, kernel, f"layer {name!r} kernel_quantizer")
    if exponents is not None:
        kernel = kernel / 2.0 ** exponents.astype(np.float64)
    units = kernel.shape[-1]
    if bq is not None:
        bias_t = quantizer_type(bq, f"layer {name!r} bias_quantizer")
        bias = np.asarray(bq(layer.bias).numpy(), dtype=np.float64)
    else:  # no bias: zeros, on the products' grid (no shift aligns them)
        bias_t, bias = FixedType(2, 2 - grid.frac - input_type.frac), np.zeros(units)
    fan_in = int(np.prod(kernel.shape[:-1]))
    accum_t = accumulator_type(input_type, grid, fan_in, bias_t if bq is not None else None)
    shape = tuple(int(d) for d in layer.output_shape[1:])
    kind = "dense" if cls == "QDense" else "conv2d"
    if exponents is None:
        nodes = [Node(name, kind, accum_t, shape, input_type, accum_t, grid, bias_t, kernel, bias, fan_in)]
    else:
        scaled_t = scaled_type(accum_t, exponents, kernel, bias_t)
        nodes = [Node(name, kind, accum_t, shape, input_type, accum_t, grid, bias_t, kernel, np.zeros(units), fan_in),
                 Node(f"{name}_alpha", "scale", scaled_t, shape, accum_t, bias_type=bias_t, bias=bias, exponents=exponents)]
    if act_name == "relu":  # Keras' float relu of the exact sum: exact in the unsigned type one bit narrower
        t = nodes[-1].output_type
        nodes.append(Node(f"{name}_relu", "relu", FixedType(max(t.width - 1, 1), t.integer - 1, False, "TRN", "SAT"), shape, t))
    elif activation is not None and act_name != "linear":
        act_t = quantizer_type(activation, f"layer {name!r} activation")
        nodes.append(Node(f"{name}_{type(activation).__name__}", "relu" if not act_t.signed else "quantize", act_t, shape, nodes[-1].output_type))
    return nodes


def scaled_type(accum_t: FixedType, exponents: np.ndarray, kernel: np.ndarray, bias_t: FixedType) -> FixedType:
    """The exact type of ``acc * 2**e + bias`` per channel (channels whose weights are all zero give 0 * 2**e)."""
    live = np.any(kernel.reshape(-1, kernel.shape[-1]) != 0, axis=0)
    shifts = exponents[live]
    frac = max([accum_t.frac - int(e) for e in shifts] + [bias_t.frac])
    lo = hi = 0
    for e in shifts:
        lo = min(lo, accum_t.min_code << (frac - accum_t.frac + int(e)))
        hi = max(hi, accum_t.max_code << (frac - accum_t.frac + int(e)))
    return sum_type(lo, hi, frac, bias_t, f"the exact result of per-channel scales 2**{exponents.min()}..2**{exponents.max()}")


def fold_scale(node: Node, scale: Node) -> Node:
    """``node`` followed by its ``scale`` node as one weighted node: each channel's power-of-two scale moves
    into its weights, on one grid wide enough for every live channel's shift (exact, wider weights)."""
    live = np.any(node.kernel_matrix() != 0, axis=0)
    e = scale.exponents[live] if live.any() else np.zeros(1, dtype=np.int64)
    lo, hi = int(e.min()), int(e.max())
    grid = node.weight_type
    wide = FixedType(grid.width + hi - lo, grid.integer + hi, True, grid.rounding, grid.saturation)
    kernel = np.where(live, node.kernel * 2.0 ** scale.exponents.astype(np.float64), 0.0)
    accum_t = accumulator_type(node.input_type, wide, node.fan_in, scale.bias_type)
    return Node(node.name, node.kind, accum_t, node.output_shape, node.input_type, accum_t, wide, scale.bias_type,
                kernel, scale.bias, node.fan_in)


def is_softmax(layer) -> bool:
    return getattr(layer.activation, "__name__", "") == "softmax"


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
        elif cls == "Dropout":  # the identity at inference; hls4ml drops it too
            continue
        elif cls == "Activation" and layer is model.layers[-1] and is_softmax(layer):
            continue  # the logits before it are what every execution computes exactly (see models.logits_model)
        else:
            problems.append(f"layer {name!r} of type {cls} is not supported; allowed: QDense, QConv2D, QActivation, MaxPooling2D, Flatten, "
                            f"Dropout, a final Activation('softmax')")
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
