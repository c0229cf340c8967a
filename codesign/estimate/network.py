"""The fixed-point nodes of a run config's network, without TensorFlow: what an estimate needs before training.

``nodes_from_config`` gives the same chain of ``codesign.analysis.Node`` that ``analysis.describe``
gives for the built QKeras model: the same kinds, names, shapes and exact types (from the layer
specs and ``fixedpoint``). The weights are synthetic: drawn as the builder initializes them
(lecun_uniform), put on the weight type's grid, then pruned as configured (the smallest magnitudes
to ``sparsity``, or the N largest of every M along the reduction axis). Costs that depend on the
weights' values (zeros, bit patterns) are therefore those of a typical network of that spec; after
training, estimate the run's own model instead (``codesign estimate --run``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np

from codesign.analysis import Node
from codesign.config import LayerSpec, RunConfig
from codesign.data import SHAPES
from codesign.errors import CodesignError
from codesign.fixedpoint import FixedType, accumulator_type


def prune(kernel: np.ndarray, spec: LayerSpec) -> np.ndarray:
    """``kernel`` pruned as ``spec`` says: the smallest magnitudes to ``sparsity``, or the N largest of
    every M consecutive weights along the reduction axis."""
    shape = kernel.shape
    matrix = np.array(kernel, dtype=np.float64).reshape(-1, shape[-1])
    fan_in = matrix.shape[0]
    if spec.nm_pair is not None:
        n, m = spec.nm_pair
        for start in range(0, fan_in, m):
            group = matrix[start:start + m]
            smallest = np.argsort(np.abs(group), axis=0, kind="stable")[: max(0, group.shape[0] - n)]
            np.put_along_axis(group, smallest, 0.0, axis=0)
    elif spec.sparsity > 0:
        order = np.argsort(np.abs(matrix), axis=None, kind="stable")
        matrix.flat[order[: int(round(spec.sparsity * matrix.size))]] = 0.0
    return matrix.reshape(shape)


def _synthetic_kernel(shape: tuple[int, ...], fan_in: int, spec: LayerSpec, rng: np.random.Generator) -> np.ndarray:
    limit = math.sqrt(3.0 / fan_in)
    return prune(spec.weight_type.quantize(rng.uniform(-limit, limit, size=shape)), spec)


def _bias(units: int, spec: LayerSpec, rng: np.random.Generator) -> np.ndarray:
    return spec.bias_type.quantize(rng.uniform(-0.1, 0.1, size=units))


KERAS_CLASSES = {"dense": "QDense", "conv2d": "QConv2D", "depthwise2d": "QDepthwiseConv2D"}


def conv_output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """One spatial axis of a convolution's output, as TensorFlow computes it."""
    return -(-size // stride) if padding == "same" else (size - kernel) // stride + 1


def _weighted_shapes(spec: LayerSpec, shape: tuple[int, ...], n_classes: int) -> tuple[tuple[int, ...], tuple[int, ...], int, int]:
    """(kernel shape as the node holds it, output shape, fan-in of each output, fan-in of Keras' initializer)."""
    if spec.type == "dense":
        units = spec.units if spec.units is not None else n_classes
        return (shape[-1], units), (units,), shape[-1], shape[-1]
    if len(shape) != 3:
        raise CodesignError(f"layer {spec.name!r} ({spec.type}) needs a feature map (H, W, C) as its input, not shape {shape}")
    k, s = spec.kernel_size, spec.strides
    h, w = (conv_output_size(d, k, s, spec.padding) for d in shape[:2])
    if h < 1 or w < 1:
        raise CodesignError(f"layer {spec.name!r} ({spec.type}): its {k}x{k} window does not fit its input of shape {shape}")
    if spec.type == "depthwise2d":  # one k x k kernel per channel; Keras initializes its (k, k, C, 1) kernel
        return (k, k, shape[-1]), (h, w, shape[-1]), k * k, k * k * shape[-1]
    return (k, k, shape[-1], spec.filters), (h, w, spec.filters), k * k * shape[-1], k * k * shape[-1]


def nodes_from_config(cfg: RunConfig, seed: int = 0, weights: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> list[Node]:
    """The network of ``cfg`` as fixed-point nodes, with synthetic weights (seeded), or with ``weights``
    (layer name -> float kernel and bias, e.g. of a float checkpoint; a depthwise kernel as (k, k, C), a
    conv2d with batchnorm's with the batch norm folded in) pruned and put on the layer's types. A conv2d
    with batchnorm is one conv2d node of its folded weights, as QConv2DBatchnorm is."""
    sample_shape, n_classes = SHAPES[cfg.dataset.name]
    shape = (int(np.prod(sample_shape)),) if cfg.layers[0].type == "dense" else tuple(sample_shape)
    rng = np.random.default_rng(seed)
    current: FixedType = cfg.input.type
    nodes = [Node("inputs", "input", current, shape)]
    for spec in cfg.layers:
        if spec.has_weights:
            kernel_shape, out_shape, fan_in, init_fan_in = _weighted_shapes(spec, shape, n_classes)
            units = out_shape[-1]
            if weights is None:
                kernel, bias = _synthetic_kernel(kernel_shape, init_fan_in, spec, rng), _bias(units, spec, rng)
            else:
                kernel, bias = weights[spec.name]
                if tuple(kernel.shape) != kernel_shape:
                    raise CodesignError(f"layer {spec.name!r}: weights of shape {tuple(kernel.shape)}, the config needs {kernel_shape}")
                kernel, bias = spec.weight_type.quantize(prune(kernel, spec)), spec.bias_type.quantize(np.asarray(bias, dtype=np.float64))
            accum = accumulator_type(current, spec.weight_type, fan_in, spec.bias_type)
            geometry = {} if spec.type == "dense" else {"strides": (spec.strides, spec.strides), "padding": spec.padding}
            keras_class = "QConv2DBatchnorm" if spec.batchnorm else KERAS_CLASSES[spec.type]
            nodes.append(Node(spec.name, spec.type, accum, out_shape, current, accum, spec.weight_type, spec.bias_type,
                              kernel, bias, fan_in, keras_class=keras_class, **geometry))
            shape, current = out_shape, accum
            if spec.activation == "relu":
                nodes.append(Node(f"{spec.name}_relu", "relu", spec.act_type, shape, current))
                current = spec.act_type
        elif spec.type in ("maxpool2d", "avgpool2d"):
            p = spec.pool_size
            if len(shape) != 3 or shape[0] < p or shape[1] < p:
                raise CodesignError(f"layer {spec.name!r} ({spec.type}): its {p}x{p} window does not fit its input of shape {shape}")
            shape = (shape[0] // p, shape[1] // p, shape[2])
            if spec.type == "maxpool2d":
                nodes.append(Node(spec.name, "maxpool2d", current, shape, current, pool_size=(p, p)))
            else:  # the average of 2**k pixels: k more fractional bits hold it exactly (as analysis._pool_node)
                k = (p * p).bit_length() - 1
                out_t = FixedType(current.width + k, current.integer, current.signed)
                accum_t = FixedType(current.width + 2 * k, current.integer + k, current.signed)
                nodes.append(Node(spec.name, "avgpool2d", out_t, shape, current, accum_type=accum_t, pool_size=(p, p)))
                current = out_t
        elif spec.type == "flatten":
            shape = (int(np.prod(shape)),)
            nodes.append(Node(spec.name, "flatten", current, shape, current))
        else:
            raise CodesignError(f"layer {spec.name!r}: layer type {spec.type!r} has no synthetic network here")
    return nodes


_TYPE_FIELDS = ("output_type", "input_type", "accum_type", "weight_type", "bias_type")
NODES_FILE = "nodes.npz"


def save_nodes(nodes: list[Node], path: Path) -> None:
    """The nodes (types, shapes, quantized weights) in one .npz, so estimates of a run need no TensorFlow."""
    arrays: dict[str, np.ndarray] = {}
    meta = []
    for i, node in enumerate(nodes):
        entry = {"name": node.name, "kind": node.kind, "output_shape": list(node.output_shape), "fan_in": node.fan_in,
                 "pool_size": list(node.pool_size) if node.pool_size else None,
                 "strides": list(node.strides) if node.strides else None, "padding": node.padding, "part_of": node.part_of,
                 "keras_class": node.keras_class}
        for key in _TYPE_FIELDS:
            t = getattr(node, key)
            entry[key] = None if t is None else dataclasses.asdict(t)
        for key in ("kernel", "bias", "exponents", "scale"):
            if getattr(node, key) is not None:
                arrays[f"{key}{i}"] = getattr(node, key)
        meta.append(entry)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def load_nodes(path: Path) -> list[Node]:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {key: data[key] for key in data.files if key != "meta"}
    except (OSError, ValueError, KeyError) as err:
        raise CodesignError(f"{path}: not a codesign nodes file ({err})") from None
    nodes = []
    for i, e in enumerate(meta):
        types = {key: None if e[key] is None else FixedType(**e[key]) for key in _TYPE_FIELDS}
        nodes.append(Node(e["name"], e["kind"], types.pop("output_type"), tuple(e["output_shape"]), fan_in=e["fan_in"],
                          pool_size=tuple(e["pool_size"]) if e["pool_size"] else None,
                          strides=tuple(e["strides"]) if e.get("strides") else None, padding=e.get("padding", "valid"), part_of=e.get("part_of"), keras_class=e.get("keras_class"),
                          kernel=arrays.get(f"kernel{i}"), bias=arrays.get(f"bias{i}"), exponents=arrays.get(f"exponents{i}"),
                          scale=arrays.get(f"scale{i}"), **types))
    return nodes
