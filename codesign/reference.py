"""Integer reference execution of a described model: the arithmetic the hardware does, in numpy.

Activations travel as integer codes of their node's output type; each weighted layer accumulates
exactly (int64) with the bias aligned by a left shift; activations requantize with their type's
rounding and saturation. It must agree with QKeras and hls4ml bit for bit, and the accelerator's
compiler lowers exactly these steps.
"""

from __future__ import annotations

import numpy as np

from codesign.analysis import Node
from codesign.errors import CodesignError
from codesign.fixedpoint import requantize


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding of one axis: (before, after), the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def im2col(x: np.ndarray, kernel_size: tuple[int, int], strides: tuple[int, int] = (1, 1), padding: str = "valid") -> np.ndarray:
    """(N, H, W, C) -> (N, OH, OW, kh*kw*C) patches, ordered (kh, kw, C) like Keras' kernel; 'same'
    padding adds zeros as TensorFlow does."""
    kh, kw = kernel_size
    sh, sw = strides
    if padding == "same":
        (top, bottom), (left, right) = same_padding(x.shape[1], kh, sh), same_padding(x.shape[2], kw, sw)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    n, h, w, c = x.shape
    rows, cols = (h - kh) // sh + 1, (w - kw) // sw + 1
    patches = np.empty((n, rows, cols, kh, kw, c), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            patches[:, :, :, i, j, :] = x[:, i:i + (rows - 1) * sh + 1:sh, j:j + (cols - 1) * sw + 1:sw, :]
    return patches.reshape(n, rows, cols, kh * kw * c)


def patches(node: Node, x_codes: np.ndarray) -> np.ndarray:
    """The input patches a convolution node multiplies with its kernel matrix (conv1d as a 1-row conv2d)."""
    strides = node.strides or (1,) * (node.kernel.ndim - 2 if node.kind != "depthwise2d" else 2)
    if node.kind == "conv1d":
        cols = im2col(x_codes[:, None], (1, node.kernel.shape[0]), (1, strides[0]), node.padding)
        return cols[:, 0]
    return im2col(x_codes, node.kernel.shape[:2], strides, node.padding)


def _exact_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` of integer codes, exactly: through float64 BLAS when every partial sum stays below
    2**53 (where doubles hold integers exactly), else in int64."""
    x, w = np.asarray(x, dtype=np.int64), np.asarray(w, dtype=np.int64)
    bound = float(np.abs(x).max(initial=0)) * float(np.abs(w).max(initial=0)) * w.shape[0]
    if bound < 2.0**53:
        return np.rint(x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)
    return x @ w


def weighted_layer(node: Node, x_codes: np.ndarray) -> np.ndarray:
    """Accumulator codes (frac = accum_type.frac) of a dense or conv2d node."""
    w = node.weight_type.to_codes(node.kernel_matrix())
    b = node.bias_type.to_codes(node.bias)
    product_frac = node.input_type.frac + node.weight_type.frac
    acc_frac = node.accum_type.frac
    if acc_frac < product_frac or acc_frac < node.bias_type.frac:
        raise CodesignError(f"layer {node.name!r}: accumulator type {node.accum_type} cannot align products and bias exactly")
    if node.kind == "depthwise2d":  # each channel its own kh*kw taps: patches (..., kh*kw, C) times (kh*kw, C)
        cols = patches(node, x_codes)
        cols = cols.reshape(cols.shape[:-1] + (-1, w.shape[-1]))
        acc = np.einsum("...kc,kc->...c", cols, w) << (acc_frac - product_frac)
        return acc + (b << (acc_frac - node.bias_type.frac))
    if node.kind in ("conv1d", "conv2d"):
        x_codes = patches(node, x_codes)
    acc = _exact_matmul(x_codes, w) << (acc_frac - product_frac)
    return acc + (b << (acc_frac - node.bias_type.frac))


def scale_channels(node: Node, acc_codes: np.ndarray) -> np.ndarray:
    """Codes of ``acc * 2**e + bias`` per output channel (last axis), exactly, in the node's output type.

    The type's fractional bits cover every channel with a non-zero weight; the others' sums are 0."""
    frac = node.output_type.frac
    shifts = frac - node.input_type.frac + node.exponents
    if np.any(acc_codes[..., shifts < 0]):
        raise CodesignError(f"layer {node.name!r}: output type {node.output_type} cannot hold the scaled sums exactly")
    return (acc_codes << np.maximum(shifts, 0)) + (node.bias_type.to_codes(node.bias) << (frac - node.bias_type.frac))


def step(node: Node, codes: np.ndarray) -> np.ndarray:
    """Output codes of ``node`` (in its output type) from the codes of its input."""
    if node.has_weights:
        return weighted_layer(node, codes)
    if node.kind == "scale":
        return scale_channels(node, codes)
    if node.kind == "batchnorm":  # x * scale + bias per channel, exactly (the output keeps every product bit)
        product_frac = node.input_type.frac + node.weight_type.frac
        frac = node.output_type.frac
        return (codes * node.weight_type.to_codes(node.scale) << (frac - product_frac)) + (node.bias_type.to_codes(node.bias) << (frac - node.bias_type.frac))
    if node.kind in ("relu", "quantize"):
        return requantize(codes, node.input_type.frac, node.output_type)
    if node.kind == "hard_sigmoid":  # 0.5 * x + 0.5: the same codes with one more fractional bit, plus a half
        return requantize(codes + (1 << node.input_type.frac), node.input_type.frac + 1, node.output_type)
    if node.kind in ("maxpool2d", "avgpool2d"):
        ph, pw = node.pool_size
        n, h, w, c = codes.shape
        rows, cols = h // ph, w // pw
        windows = codes[:, :rows * ph, :cols * pw, :].reshape(n, rows, ph, cols, pw, c)
        # the average of 2**k codes is their sum with k more fractional bits: the output type's codes
        return windows.max(axis=(2, 4)) if node.kind == "maxpool2d" else windows.sum(axis=(2, 4))
    if node.kind == "flatten":
        return codes.reshape(len(codes), -1)
    raise CodesignError(f"layer {node.name!r}: the reference cannot execute kind {node.kind!r}")


def outputs(nodes: list[Node], x: np.ndarray):
    """Each node with its output codes, in order (the input node first), for inputs ``x`` on the input type's grid."""
    codes = nodes[0].output_type.to_codes(x)
    yield nodes[0], codes
    for node in nodes[1:]:
        codes = step(node, codes)
        yield node, codes


def run(nodes: list[Node], x: np.ndarray) -> np.ndarray:
    """Output codes of the last node for float inputs ``x`` that lie on the input type's grid."""
    for _, codes in outputs(nodes, x):
        pass
    return codes


def logits(nodes: list[Node], x: np.ndarray) -> np.ndarray:
    return nodes[-1].output_type.from_codes(run(nodes, x))
