"""Per-layer sensitivity: how much each layer's option alone moves the network's output, before any training.

The network runs in its exact integer arithmetic (``codesign.reference``) on the float checkpoint's
weights, pruned and quantized as the option says, with every other layer at 16 bits (the same integer
bits as the design would give it). A layer option's sensitivity is the mean KL divergence of that
network's softmax from the all-16-bit network's: the quantization and pruning noise that option adds. A design's *proxy* is the sum over its layers
(the additive model of HAWQ-style mixed-precision search).
"""

from __future__ import annotations

import numpy as np

from codesign import reference
from codesign.config import RunConfig
from codesign.estimate import network
from codesign.select.space import Design, LayerOption, apply

REFERENCE_BITS = 16


def float_weights(model) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Layer name -> (kernel, bias) of every weighted layer of a Keras model, as ``network.nodes_from_config``
    takes them: a depthwise kernel as (k, k, C); a layer followed by its BatchNormalization ``<name>_bn``
    (the float twin of a conv2d with batchnorm) with the batch norm's moving statistics folded in."""
    layers = {layer.name: layer for layer in model.layers}
    weights = {}
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None and getattr(layer, "depthwise_kernel", None) is not None:
            kernel = layer.depthwise_kernel[..., 0]
        if kernel is None:
            continue
        kernel, bias = np.asarray(kernel.numpy(), dtype=np.float64), np.asarray(layer.bias.numpy(), dtype=np.float64)
        bn = layers.get(f"{layer.name}_bn")
        if bn is not None:
            inv = bn.gamma.numpy().astype(np.float64) / np.sqrt(bn.moving_variance.numpy().astype(np.float64) + bn.epsilon)
            kernel, bias = kernel * inv, (bias - bn.moving_mean.numpy()) * inv + bn.beta.numpy()
        weights[layer.name] = (kernel, bias)
    return weights


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def kl_from(reference_logits: np.ndarray):
    """The mean KL(reference || q) over samples, as a function of q's logits."""
    log_p = _log_softmax(np.asarray(reference_logits, dtype=np.float64))
    p = np.exp(log_p)
    return lambda logits: float(np.mean(np.sum(p * (log_p - _log_softmax(np.asarray(logits, dtype=np.float64))), axis=1)))


def reference_design(cfg: RunConfig) -> Design:
    from codesign.select.space import weighted_layers

    return tuple(LayerOption(REFERENCE_BITS, REFERENCE_BITS if s.activation == "relu" else None, "0") for s in weighted_layers(cfg))


def table(cfg: RunConfig, knobs: list[dict[str, tuple]], weights: dict, x: np.ndarray) -> list[dict[LayerOption, float]]:
    """For each weighted layer, every option of its knobs -> its sensitivity (>= 0)."""
    ref = reference_design(cfg)

    def logits(design: Design) -> np.ndarray:
        return reference.logits(network.nodes_from_config(apply(cfg, design), weights=weights), x)

    divergence = kl_from(logits(ref))
    tables = []
    for i, k in enumerate(knobs):
        options = [LayerOption(w, a, s) for w in k["weight_bits"] for a in k["act_bits"] for s in k["sparsity"]]
        tables.append({o: max(0.0, divergence(logits(ref[:i] + (o,) + ref[i + 1:]))) for o in options})
    return tables


def proxy(tables: list[dict[LayerOption, float]], design: Design) -> float:
    return float(sum(t[o] for t, o in zip(tables, design)))
