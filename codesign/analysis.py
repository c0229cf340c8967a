"""What a QKeras model computes, layer by layer, in fixed-point types: the bridge to hardware.

``describe`` walks a (built or imported) QKeras model and gives one ``Node`` per layer as hls4ml
names them, with the exact type of every output (from the quantizers, or from exact bit growth
for accumulators), the quantized weights, and pruning statistics (sparsity, N:M compliance, BOPs).
hls4ml's config, the report and the accelerator compiler all read these nodes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from codesign.errors import CodesignError
from codesign.models import BATCHNORM_LAYERS, WEIGHTED_LAYERS
from codesign.fixedpoint import FixedType, accumulator_type, quantized_bits_type, quantized_relu_type, signed_width_for, sum_type


@dataclass(frozen=True)
class Node:
    name: str  # the hls4ml layer name
    kind: str  # input | dense | conv1d | conv2d | depthwise2d | scale | batchnorm | relu | quantize | hard_sigmoid | maxpool2d | avgpool2d | flatten
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
    strides: tuple[int, ...] | None = None  # convolutions and pools (None: 1 for convolutions, the pool size for pools)
    padding: str = "valid"  # convolutions: 'valid' or 'same' (TensorFlow's split: the odd pixel at the bottom/right)
    part_of: str | None = None  # the Keras layer hls4ml splits into this node and others (QSeparableConv2D)
    keras_class: str | None = None  # weighted nodes: the QKeras layer class they come from
    scale: np.ndarray | None = None  # batchnorm: each channel's multiplier, on the weight_type grid

    @property
    def has_weights(self) -> bool:
        return self.kernel is not None

    def kernel_matrix(self) -> np.ndarray:
        """The kernel as a (reduction, outputs) matrix; for conv the reduction runs kh, kw, cin (depthwise:
        kh, kw, each column its own channel's)."""
        return self.kernel.reshape(-1, self.kernel.shape[-1])

    @property
    def positions(self) -> int:
        """Output positions that each apply the whole kernel (1 for dense)."""
        return int(np.prod(self.output_shape[:-1])) if self.kind in CONV_KINDS else 1


CONV_KINDS = ("conv1d", "conv2d", "depthwise2d")


ACTIVATION_QUANTIZERS = "quantized_bits (alpha=1), quantized_relu, quantized_tanh, quantized_sigmoid"


def quantizer_type(quantizer, where: str) -> FixedType:
    """The fixed-point type of a QKeras quantizer object; refuses the ones we cannot reproduce exactly.

    The hard ``quantized_tanh(b)`` is ``clip(x, -1, 1)`` rounded to b-1 fractional bits, i.e.
    ``fixed<b, 1>`` rounding half to even and saturating; the hard ``quantized_sigmoid(b)`` is that of
    ``0.5 * x + 0.5`` in ``ufixed<b, 0>`` (a ``hard_sigmoid`` node applies the affine step)."""
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
        if quantizer.negative_slope:
            raise CodesignError(f"{where}: quantized_relu with negative_slope={quantizer.negative_slope} (leaky) is not supported: QKeras clips "
                                f"negative values at -negative_slope*2**integer, hls4ml's leaky_relu does not, so the two differ")
        if quantizer.use_sigmoid or quantizer.relu_upper_bound is not None or quantizer.use_stochastic_rounding:
            raise CodesignError(f"{where}: quantized_relu must have use_sigmoid=0, no relu_upper_bound and no stochastic rounding")
        return quantized_relu_type(int(quantizer.bits), int(quantizer.integer))
    if cls in ("quantized_tanh", "quantized_sigmoid"):
        real = quantizer.use_real_tanh if cls == "quantized_tanh" else quantizer.use_real_sigmoid
        if real or quantizer.symmetric or quantizer.use_stochastic_rounding or int(quantizer.bits) < 2:
            raise CodesignError(f"{where}: {cls} must be the hard one (use_real_{cls[10:]}=False), with symmetric=False, "
                                f"no stochastic rounding and bits >= 2 (the real function has no exact fixed-point form)")
        if cls == "quantized_tanh":
            return FixedType(int(quantizer.bits), 1, True, "RND_CONV", "SAT")
        return FixedType(int(quantizer.bits), 0, False, "RND_CONV", "SAT")
    raise CodesignError(f"{where}: quantizer {cls} is not supported; allowed: {ACTIVATION_QUANTIZERS}")


def activation_node(quantizer, name: str, shape: tuple[int, ...], input_t: FixedType, where: str) -> Node:
    """The node of an activation quantizer on ``input_t`` values."""
    out_t = quantizer_type(quantizer, where)
    kind = "hard_sigmoid" if type(quantizer).__name__ == "quantized_sigmoid" else "quantize" if out_t.signed else "relu"
    return Node(name, kind, out_t, shape, input_t)


KERNEL_QUANTIZERS = "quantized_bits (alpha=1, None or 'auto_po2'), binary (alpha=1 or 'auto_po2'), ternary (alpha=1 or 'auto_po2'), quantized_po2"


def kernel_grid(quantizer, where: str) -> FixedType | None:
    """The type of a kernel quantizer's values before any per-channel scale (``channel_exponents``);
    None for ``quantized_po2``, whose powers of two span a range the values themselves give.

    QDense and QConv2D turn ``alpha=None`` into ``'auto_po2'`` (and make quantized_bits symmetric):
    per-output-channel power-of-two scales, which are exact shifts of values on this grid."""
    cls, alpha = type(quantizer).__name__, getattr(quantizer, "alpha", None)
    if cls == "quantized_po2":
        if quantizer.use_stochastic_rounding or quantizer.quadratic_approximation or quantizer.log2_rounding != "rnd":
            raise CodesignError(f"{where}: quantized_po2 must have no stochastic rounding, no quadratic_approximation and log2_rounding='rnd'")
        return None
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


def _kernel(quantizer, weights, name: str, what: str, problems: _Problems, per_channel: bool):
    """(grid, values on the grid, per-channel exponents or None) of a quantized kernel; None on a problem."""
    where = f"layer {name!r} {what}"
    if quantizer is None:
        problems.append(f"layer {name!r} has no {what}; every weight must be quantized")
        return None
    known = len(problems)
    grid = problems.check(kernel_grid, quantizer, where)
    if len(problems) > known:
        return None
    values = np.asarray(quantizer(weights).numpy(), dtype=np.float64)
    if grid is None:  # quantized_po2: signed powers of two (never zero), exactly on the grid of the ones present
        grid = values_type(values)
    exponents = channel_exponents(quantizer, values, where)
    if exponents is not None and np.any(exponents != 0):
        if not per_channel:
            problems.append(f"{where}: per-channel scales (alpha=None or 'auto_po2', QKeras' default) are not supported on this layer, "
                            f"whose scales hls4ml does not factor out; use alpha=1")
            return None
        values = values / 2.0 ** exponents.astype(np.float64)
    return grid, values, exponents if per_channel else None


def _check_po2_products(grid: FixedType, input_t: FixedType, bits: int, name: str) -> None:
    """hls4ml multiplies by a power-of-two weight as a shift into ap_fixed<2*(bits + input width), bits + input width>:
    exact only when every shifted input fits it."""
    keep = bits + input_t.width
    if input_t.frac + grid.frac > keep or input_t.integer + grid.integer > keep:
        raise CodesignError(f"layer {name!r} kernel_quantizer: quantized_po2({bits}) weights {grid} times inputs {input_t} need "
                            f"{input_t.integer + grid.integer} integer and {input_t.frac + grid.frac} fractional bits, but hls4ml's shift keeps "
                            f"{keep} of each; use fewer small exponents (a larger max_value) or a narrower input")


def _conv_geometry(layer, cls: str, problems: _Problems) -> dict | None:
    """strides/padding of a convolution; None (recorded) for what the flow does not support."""
    dilation = tuple(getattr(layer, "dilation_rate", (1,)))
    if any(d != 1 for d in dilation) or getattr(layer, "data_format", "channels_last") != "channels_last":
        problems.append(f"layer {layer.name!r} ({cls}): only dilation 1 and channels_last are supported")
        return None
    if layer.padding not in ("valid", "same"):
        problems.append(f"layer {layer.name!r} ({cls}): padding {layer.padding!r} is not supported; allowed: 'valid', 'same'")
        return None
    if cls == "QDepthwiseConv2D" and layer.depth_multiplier != 1 or cls == "QSeparableConv2D" and layer.depth_multiplier != 1:
        problems.append(f"layer {layer.name!r} ({cls}): only depth_multiplier=1 is supported")
        return None
    return {"strides": tuple(int(v) for v in layer.strides), "padding": layer.padding}


def _weighted_nodes(layer, input_type: FixedType, problems: _Problems) -> list[Node]:
    """The layer's nodes; none when it has problems (recorded in ``problems``).

    A kernel with per-channel power-of-two scales (QKeras' default ``alpha=None``) becomes, as in
    hls4ml, the layer on the unscaled grid with a zero bias, then a ``scale`` node ``<name>_alpha``
    that shifts each channel exactly and adds the bias. A QSeparableConv2D becomes hls4ml's
    ``<name>_depthwise`` (no bias) and ``<name>_pointwise`` (a 1x1 conv2d with the bias)."""
    cls, name = type(layer).__name__, layer.name
    known = len(problems)
    folded = cls == "QConv2DBatchnorm"  # QKeras folds the batch norm into the kernel and bias, then quantizes them
    bq = layer.bias_quantizer_internal if layer.use_bias or folded else None
    if folded and bq is None:
        problems.append(f"layer {name!r} (QConv2DBatchnorm) has no bias_quantizer; its folded bias must be quantized (e.g. quantized_bits(8, 3, alpha=1))")
    elif layer.use_bias and bq is None:
        problems.append(f"layer {name!r} ({cls}) has a bias without a bias_quantizer; give it one (e.g. quantized_bits(8, 3, alpha=1)) or use_bias=False")
    geometry = _conv_geometry(layer, cls, problems) if cls != "QDense" else {}
    if cls == "QSeparableConv2D":
        depthwise = _kernel(layer.depthwise_quantizer_internal, layer.depthwise_kernel, name, "depthwise_quantizer", problems, False)
        kernel = _kernel(layer.pointwise_quantizer_internal, layer.pointwise_kernel, name, "pointwise_quantizer", problems, False)
    elif cls == "QDepthwiseConv2D":
        depthwise, kernel = _kernel(layer.depthwise_quantizer_internal, layer.depthwise_kernel, name, "depthwise_quantizer", problems, False), None
    elif folded:
        folded_kernel, folded_bias = layer.get_folded_weights()
        depthwise, kernel = None, _kernel(layer.kernel_quantizer_internal, folded_kernel, name, "kernel_quantizer", problems, True)
    else:
        depthwise, kernel = None, _kernel(layer.kernel_quantizer_internal, layer.kernel, name, "kernel_quantizer", problems, True)
    if bq is not None:
        problems.check(quantizer_type, bq, f"layer {name!r} bias_quantizer")
    activation = layer.activation
    act_name = getattr(activation, "__name__", "")
    if activation is not None and act_name not in ("linear", "relu"):
        if type(activation).__name__ not in ("quantized_relu", "quantized_bits", "quantized_tanh", "quantized_sigmoid"):
            problems.append(f"layer {name!r} ({cls}): activation {activation!r} is not supported; use 'relu' or a QActivation with {ACTIVATION_QUANTIZERS}")
        else:
            problems.check(quantizer_type, activation, f"layer {name!r} activation")
    kernel_quantizer = layer.pointwise_quantizer_internal if cls == "QSeparableConv2D" else getattr(layer, "kernel_quantizer_internal", None)
    if kernel is not None and type(kernel_quantizer).__name__ == "quantized_po2":
        problems.check(_check_po2_products, kernel[0], input_type, int(kernel_quantizer.bits), name)
    if len(problems) > known:
        return []
    shape = tuple(int(d) for d in layer.output_shape[1:])
    nodes: list[Node] = []
    if depthwise is not None:  # QDepthwiseConv2D, or the first half of QSeparableConv2D
        grid, values, _ = depthwise
        values = values[..., 0]  # (kh, kw, C): depth_multiplier 1
        dw_name, dw_bias = (f"{name}_depthwise", None) if kernel is not None else (name, bq)
        dw_shape = shape[:-1] + (values.shape[-1],)
        nodes.append(_weighted_node(dw_name, "depthwise2d", values, grid, dw_bias, layer.bias, layer, input_type, dw_shape, geometry,
                                    name if kernel is not None else None))
        input_type = nodes[-1].output_type
    if kernel is not None:
        grid, values, exponents = kernel
        kind = {"QDense": "dense", "QConv1D": "conv1d"}.get(cls, "conv2d")
        if cls == "QSeparableConv2D":
            node_name, geometry, part_of = f"{name}_pointwise", {}, name
        else:
            node_name, part_of = name, None
        bias = folded_bias if folded else layer.bias if bq is not None else None
        nodes.append(_weighted_node(node_name, kind, values, grid, bq, bias, layer, input_type, shape, geometry, part_of))
        if exponents is not None:
            node = nodes[-1]
            bias_t, bias = node.bias_type, node.bias
            scaled_t = scaled_type(node.accum_type, exponents, values, bias_t)
            nodes[-1] = dataclasses.replace(node, bias=np.zeros_like(bias))
            nodes.append(Node(f"{name}_alpha", "scale", scaled_t, shape, node.accum_type, bias_type=bias_t, bias=bias, exponents=exponents))
    if act_name == "relu":  # Keras' float relu of the exact sum: exact in the unsigned type one bit narrower
        t = nodes[-1].output_type
        nodes.append(Node(f"{name}_relu", "relu", FixedType(max(t.width - 1, 1), t.integer - 1, False, "TRN", "SAT"), shape, t))
    elif activation is not None and act_name != "linear":
        nodes.append(activation_node(activation, f"{name}_{type(activation).__name__}", shape, nodes[-1].output_type, f"layer {name!r} activation"))
    return nodes


def _weighted_node(name: str, kind: str, kernel: np.ndarray, grid: FixedType, bq, float_bias, layer, input_type: FixedType,
                   shape: tuple[int, ...], geometry: dict, part_of: str | None) -> Node:
    """One weighted node with its exact accumulator; with ``bq`` None the bias is zero, on the products' grid."""
    units = kernel.shape[-1]
    if bq is not None:
        bias_t = quantizer_type(bq, f"layer {layer.name!r} bias_quantizer")
        bias = np.asarray(bq(float_bias).numpy(), dtype=np.float64)
    else:  # no bias: zeros, on the products' grid (no shift aligns them)
        bias_t, bias = FixedType(2, 2 - grid.frac - input_type.frac), np.zeros(units)
    fan_in = int(np.prod(kernel.shape[:-1]))
    accum_t = accumulator_type(input_type, grid, fan_in, bias_t if bq is not None else None)
    return Node(name, kind, accum_t, shape, input_type, accum_t, grid, bias_t, kernel, bias, fan_in,
                strides=geometry.get("strides"), padding=geometry.get("padding", "valid"), part_of=part_of, keras_class=type(layer).__name__)


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


def _pool_node(layer, cls: str, shape: tuple[int, ...], input_t: FixedType) -> Node:
    """A 2-D pool with stride = pool size, 'valid'. The average of a window of 2**k values is its sum
    with k more fractional bits: exact in ``input_t`` widened by k fractional bits (hls4ml sums in
    ``accum``, k more integer bits as well, then divides there)."""
    pool = tuple(int(v) for v in layer.pool_size)
    if tuple(layer.strides) != pool or layer.padding != "valid":
        raise CodesignError(f"layer {layer.name!r} ({cls}): only strides equal to pool_size and padding='valid' are supported")
    if cls == "MaxPooling2D":
        return Node(layer.name, "maxpool2d", input_t, shape, input_t, pool_size=pool)
    k = (pool[0] * pool[1]).bit_length() - 1
    if pool[0] * pool[1] != 1 << k:
        raise CodesignError(f"layer {layer.name!r} (AveragePooling2D): pool {pool[0]}x{pool[1]} has {pool[0] * pool[1]} pixels; only a power of two "
                            f"divides exactly in fixed point (e.g. 2x2)")
    out_t = FixedType(input_t.width + k, input_t.integer, input_t.signed)
    accum_t = FixedType(input_t.width + 2 * k, input_t.integer + k, input_t.signed)
    return Node(layer.name, "avgpool2d", out_t, shape, input_t, accum_type=accum_t, pool_size=pool)


BATCHNORM_MAX_VALUES = 1 << 24  # input values a batch norm is checked on, over all channels
BATCHNORM_SCALE_BITS = (8, 12, 16, 20, 24, 28)  # significant bits of the scale tried, narrowest first


def channel_code_ranges(nodes: list[Node]) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel, the lowest and highest code the last of ``nodes`` can give: the extremes of
    a weighted node's dot products plus bias (and of a scale node's shifts of them), else its type's range."""
    node = nodes[-1]
    t = node.output_type
    channels = node.output_shape[-1]
    if node.kind == "scale" and len(nodes) > 1:
        lo, hi = channel_code_ranges(nodes[:-1])
        shifts = t.frac - node.input_type.frac + node.exponents
        bias = node.bias_type.to_codes(node.bias) << (t.frac - node.bias_type.frac)
        return (lo << np.maximum(shifts, 0)) + bias, (hi << np.maximum(shifts, 0)) + bias
    if node.kind != "dense" and node.kind not in CONV_KINDS:
        return np.full(channels, t.min_code), np.full(channels, t.max_code)
    w = node.weight_type.to_codes(node.kernel_matrix())
    lo_in, hi_in = node.input_type.min_code, node.input_type.max_code
    lo = np.minimum(w * lo_in, w * hi_in).sum(axis=0)
    hi = np.maximum(w * lo_in, w * hi_in).sum(axis=0)
    shift = node.accum_type.frac - node.input_type.frac - node.weight_type.frac
    bias = node.bias_type.to_codes(node.bias) << (node.accum_type.frac - node.bias_type.frac)
    return np.maximum((lo << shift) + bias, t.min_code), np.minimum((hi << shift) + bias, t.max_code)


def _batchnorm_node(layer, chain: list[Node], after: Node, quantizer) -> Node:
    """A BatchNormalization as a per-channel ``x * scale + bias`` in fixed point, followed by ``after``.

    QKeras computes it in float32, so no fixed-point form equals it by construction. The scale and bias
    are QKeras' own per-channel values rounded to a grid, the narrowest of BATCHNORM_SCALE_BITS for which
    ``after`` gives QKeras' result (the layer run by TensorFlow, then ``quantizer``) on every input value
    ``before`` can produce: an exhaustive check, so the layer is exact on every sample or refused."""
    import tensorflow as tf

    from codesign import reference

    name, before = layer.name, chain[-1]
    what = f"layer {name!r} ({type(layer).__name__})"
    if tuple(layer.axis) not in ((len(before.output_shape),), (-1,)):
        raise CodesignError(f"{what}: only the channel axis (-1) is supported")
    in_t = before.output_type
    lo, hi = channel_code_ranges(chain)
    span = int((hi - lo).max()) + 1
    if span * len(lo) > BATCHNORM_MAX_VALUES:
        raise CodesignError(f"{what}: its input {in_t} takes {span} values per channel, too many to check "
                            f"exhaustively (at most {BATCHNORM_MAX_VALUES} in all); quantize the layer before it more narrowly or fold the "
                            f"batch norm (QConv2DBatchnorm)")
    codes = np.minimum(lo + np.arange(span)[:, None], hi)  # (span, channels): every reachable input code
    x = in_t.from_codes(codes)
    shape = (span,) + (1,) * (len(before.output_shape) - 1) + (len(lo),)
    want = np.asarray(quantizer(layer(tf.constant(x.reshape(shape), tf.float32), training=False)).numpy(), dtype=np.float64).reshape(codes.shape)
    gamma, beta, mean, variance = _batchnorm_parameters(layer)
    inv = np.asarray(gamma / np.sqrt(variance + layer.epsilon), dtype=np.float64)
    offset = beta - mean * inv
    top = int(np.floor(np.log2(max(np.abs(inv).max(), 2.0**-60))))
    first_miss = None
    for bits in BATCHNORM_SCALE_BITS:
        scale_t = FixedType(bits + 2, top + 3, True)  # |inv| < 2**(top + 1), and rounding may reach it
        scale = np.round(inv * 2.0**scale_t.frac) * scale_t.lsb
        out_frac = in_t.frac + scale_t.frac
        bias_codes = np.round(offset * 2.0**out_frac).astype(np.int64)
        bias_t = FixedType(max(2, fixed_width(bias_codes)), max(2, fixed_width(bias_codes)) - out_frac, True)
        out_codes = codes * scale_t.to_codes(scale) + bias_codes
        out_t = sum_type(int(out_codes.min()), int(out_codes.max()), out_frac, None, what)
        node = Node(name, "batchnorm", out_t, before.output_shape, in_t, weight_type=scale_t, bias_type=bias_t,
                    bias=bias_t.from_codes(bias_codes), scale=scale)
        got = after.output_type.from_codes(reference.step(dataclasses.replace(after, input_type=out_t), out_codes))
        miss = np.argwhere(got != want)
        if not len(miss):
            return node
        first_miss = first_miss or (bits, len(miss), tuple(miss[0]))
    bits, count, (row, channel) = first_miss
    raise CodesignError(f"{what}: QKeras computes it in float32, and no fixed-point scale of up to "
                        f"{BATCHNORM_SCALE_BITS[-1]} bits gives the same {after.name!r} output on every input (with {bits} bits: {count} "
                        f"inputs differ, e.g. channel {channel} at {x[row, channel]:g}); fold it into the layer before (QConv2DBatchnorm)")


def _batchnorm_parameters(layer) -> tuple:
    """gamma, beta, moving mean and variance as the layer computes with them at inference: a
    QBatchNormalization first passes each through its quantizer."""
    def value(name: str, enabled: bool, default: float):
        if not enabled:
            return default
        variable = getattr(layer, name)
        quantizer = getattr(layer, f"{name.removeprefix('moving_')}_quantizer_internal", None)
        return np.asarray(quantizer(variable) if quantizer is not None else variable, dtype=np.float64)

    return (value("gamma", layer.scale, 1.0), value("beta", layer.center, 0.0),
            value("moving_mean", True, 0.0), value("moving_variance", True, 1.0))


def values_type(values: np.ndarray) -> FixedType:
    """The narrowest signed type that holds every one of ``values`` (dyadic rationals) exactly."""
    values = np.asarray(values, dtype=np.float64)
    frac = 0
    while not np.all(values * 2.0**frac == np.round(values * 2.0**frac)):
        frac += 1
    codes = np.round(values * 2.0**frac).astype(np.int64)
    while frac > -60 and np.all(codes % 2 == 0) and np.any(codes):
        codes, frac = codes // 2, frac - 1
    width = max(2, fixed_width(codes))
    return FixedType(width, width - frac, True)


def fixed_width(codes: np.ndarray) -> int:
    return signed_width_for(int(np.min(codes, initial=0)), int(np.max(codes, initial=0)))


def describe(model, input_type: FixedType) -> list[Node]:
    """The model as a chain of fixed-point nodes; refuses layers and topologies we cannot map."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise CodesignError("the model must have exactly one input and one output (a single chain of layers)")
    nodes: list[Node] = []
    problems = _Problems()
    batchnorms: dict[int, object] = {}  # node index -> its BatchNormalization layer
    current = input_type
    for layer in model.layers:
        cls, name = type(layer).__name__, layer.name
        if cls != "InputLayer" and isinstance(layer.input, list):
            problems.append(f"layer {name!r} ({cls}) has several inputs; only a single chain of layers is supported")
            continue
        shape = tuple(int(d) for d in (layer.output_shape[0] if isinstance(layer.output_shape, list) else layer.output_shape)[1:])
        if cls == "InputLayer":
            nodes.append(Node(name, "input", input_type, shape))
        elif cls in WEIGHTED_LAYERS:
            nodes.extend(_weighted_nodes(layer, current, problems))
        elif cls in BATCHNORM_LAYERS:  # fixed by _batchnorm_node once the activation after it is known
            batchnorms[len(nodes)] = layer
            nodes.append(Node(name, "batchnorm", current, shape, current))
        elif cls == "QActivation":
            node = problems.check(activation_node, layer.quantizer, name, shape, current, f"layer {name!r}")
            if node is not None:
                nodes.append(node)
        elif cls in ("MaxPooling2D", "AveragePooling2D"):
            node = problems.check(_pool_node, layer, cls, shape, current)
            if node is not None:
                nodes.append(node)
        elif cls == "Flatten":
            nodes.append(Node(name, "flatten", current, shape, current))
        elif cls == "Dropout":  # the identity at inference; hls4ml drops it too
            continue
        elif cls == "Activation" and layer is model.layers[-1] and is_softmax(layer):
            continue  # the logits before it are what every execution computes exactly (see models.logits_model)
        else:
            problems.append(f"layer {name!r} of type {cls} is not supported; allowed: {', '.join(WEIGHTED_LAYERS)}, QActivation, "
                            f"{', '.join(BATCHNORM_LAYERS)}, MaxPooling2D, AveragePooling2D, Flatten, Dropout, a final Activation('softmax')")
        if nodes:  # after a refused layer the next ones are checked on the last known type
            current = nodes[-1].output_type
    for i, layer in batchnorms.items():
        after = nodes[i + 1] if i + 1 < len(nodes) else None
        act_layer = next((a for a in model.layers if a.name == after.name), None) if after is not None else None
        if after is None or after.kind not in ("relu", "quantize", "hard_sigmoid") or act_layer is None:
            problems.append(f"layer {layer.name!r} ({type(layer).__name__}) must be followed by a QActivation (its float32 result is exact "
                            f"only once quantized)")
            continue
        chain = nodes[:i] or [Node(input_name(model), "input", input_type, tuple(int(d) for d in model.input_shape[1:]))]
        bn = problems.check(_batchnorm_node, layer, chain, after, act_layer.quantizer)
        if bn is not None:
            nodes[i], nodes[i + 1] = bn, dataclasses.replace(after, input_type=bn.output_type)
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
    outputs_per_filter = node.positions
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
