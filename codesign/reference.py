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


def im2col(x: np.ndarray, kernel_size: tuple[int, int]) -> np.ndarray:
    """(N, H, W, C) -> (N, H-kh+1, W-kw+1, kh*kw*C) patches, ordered (kh, kw, C) like Keras' kernel."""
    kh, kw = kernel_size
    n, h, w, c = x.shape
    rows, cols = h - kh + 1, w - kw + 1
    patches = np.empty((n, rows, cols, kh, kw, c), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            patches[:, :, :, i, j, :] = x[:, i:i + rows, j:j + cols, :]
    return patches.reshape(n, rows, cols, kh * kw * c)


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
    if node.kind == "conv2d":
        x_codes = im2col(x_codes, node.kernel.shape[:2])
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
    if node.kind in ("relu", "quantize"):
        return requantize(codes, node.input_type.frac, node.output_type)
    if node.kind == "maxpool2d":
        ph, pw = node.pool_size
        n, h, w, c = codes.shape
        rows, cols = h // ph, w // pw
        return codes[:, :rows * ph, :cols * pw, :].reshape(n, rows, ph, cols, pw, c).max(axis=(2, 4))
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
