"""hls4ml conversion with exact per-layer precisions, and hls4ml's C simulation.

Every precision in the hls4ml config is written by us from the model's nodes (see
``analysis.describe``): weights and biases from the quantizers, activations from their quantizers
(rounding half to even, saturating, as QKeras does), and accumulators and layer results from exact
bit growth. Nothing is left to hls4ml's ``auto`` types, which can drop bits.

The project is generated in a staging directory beside its destination and moved into place only
after it compiled and simulated, so a directory under ``hls_projects/`` is always complete.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.analysis import Node
from codesign.config import HlsConfig
from codesign.errors import CodesignError
from codesign.fixedpoint import FixedType


@dataclass
class HlsResult:
    project_dir: Path
    logits: np.ndarray  # hls4ml C-simulation outputs on the given samples (float64, exact)
    csim_seconds: float  # wall time of the C simulation of those samples (compilation excluded)


def project_name(run_name: str) -> str:
    """A C identifier for the HLS top function, from the run name."""
    name = re.sub(r"\W", "_", run_name)
    return name if name[:1].isalpha() else f"p_{name}"


def hls_config(nodes: list[Node], hls: HlsConfig) -> dict:
    """The hls4ml configuration dict, with every layer's precision spelled out."""
    if hls.strategy.lower() == "resource":
        for node in nodes:
            if node.kind == "depthwise2d" or node.keras_class == "QConv2DBatchnorm":
                what = "a depthwise convolution" if node.kind == "depthwise2d" else "QConv2DBatchnorm"
                raise CodesignError(f"layer {node.part_of or node.name!r}: hls4ml's Resource strategy does not compute {what} correctly "
                                    f"(allowed strategy for it: Latency)")
    layer_config: dict[str, dict] = {}
    for i, node in enumerate(nodes):
        if node.kind == "input":
            # The data already lies on the input grid; a plain type keeps hls4ml's conversion exact.
            t = node.output_type
            precision = {"result": t.with_modes("TRN", "WRAP").hls()}
        elif node.has_weights:
            precision = {
                "weight": node.weight_type.hls(),
                "bias": node.bias_type.hls(),
                "accum": node.accum_type.hls(),
                "result": node.accum_type.hls(),
            }
            if node.part_of is None or node.kind != "depthwise2d":
                # hls4ml splits a layer's linear activation into its own node (after the scale node, if any):
                # giving it its input's type keeps it exact and lets hls4ml remove it.
                scaled = i + 1 < len(nodes) and nodes[i + 1].kind == "scale"
                linear_t = nodes[i + 1].output_type if scaled else node.accum_type
                layer_config[f"{node.part_of or node.name}_linear"] = {"Precision": {"result": linear_t.hls()}}
        elif node.kind == "maxpool2d":
            precision = {"result": node.output_type.hls(), "accum": node.output_type.hls()}
        elif node.kind == "batchnorm":
            precision = {"scale": node.weight_type.hls(), "bias": node.bias_type.hls(), "result": node.output_type.hls()}
        elif node.kind == "avgpool2d":
            precision = {"result": node.output_type.hls(), "accum": node.accum_type.hls()}
        else:
            precision = {"result": node.output_type.hls()}
        entry = {"Precision": precision, "ReuseFactor": hls.reuse_factor, "Strategy": hls.strategy}
        if node.part_of is not None:
            # hls4ml gives the split nodes the config of the layer they come from, its keys prefixed
            part = "depthwise" if node.kind == "depthwise2d" else "pointwise"
            parent = layer_config.setdefault(node.part_of, {"Precision": {}, "ReuseFactor": hls.reuse_factor, "Strategy": hls.strategy})
            parent["Precision"].update({part: precision["weight"], f"{part}_accum": precision["accum"], f"{part}_result": precision["result"]})
            if part == "pointwise":
                parent["Precision"]["bias"] = precision["bias"]
            continue
        layer_config[node.name] = entry
    return {
        "Model": {"Precision": "fixed<16,6>", "ReuseFactor": hls.reuse_factor, "Strategy": hls.strategy, "BramFactor": 1_000_000_000, "TraceOutput": False},
        "LayerName": layer_config,
    }


def _replace_dir(staging: Path, final: Path) -> None:
    """Move a finished project into place; an older project of the same name goes away only now."""
    if final.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        os.replace(final, trash / final.name)
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(staging, final)
    config_file = final / "hls4ml_config.yml"
    if config_file.exists():  # hls4ml records where it wrote the project: point it at the final place
        config_file.write_text(config_file.read_text().replace(str(staging), str(final)))


def build_and_simulate(model, nodes: list[Node], hls: HlsConfig, project_dir: Path, name: str, x: np.ndarray) -> HlsResult:
    """Convert ``model`` to an HLS project at ``project_dir``, compile it (C simulation), run ``x``."""
    import hls4ml

    project_dir = Path(project_dir).resolve()
    project_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{project_dir.name}.partial-", dir=project_dir.parent))
    try:
        hls_model = hls4ml.converters.convert_from_keras_model(
            model,
            hls_config=hls_config(nodes, hls),
            output_dir=str(staging),
            project_name=project_name(name),
            backend=hls.backend,
            io_type=hls.io_type,
            part=hls.part,
            clock_period=hls.clock_period_ns,
        )
        _set_batchnorm_weights(hls_model, nodes)
        _check_precisions(hls_model, nodes)
        hls_model.compile()
        start = time.perf_counter()
        logits = np.asarray(hls_model.predict(np.ascontiguousarray(x, dtype=np.float64)), dtype=np.float64)
        csim_seconds = time.perf_counter() - start
        logits = logits.reshape(len(x), -1)
        _replace_dir(staging, project_dir)
    except CodesignError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except Exception as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise CodesignError(f"hls4ml conversion or C simulation failed: {err.__class__.__name__}: {err}") from err
    return HlsResult(project_dir, logits, csim_seconds)


def softmax_precisions(classes: int) -> dict[str, str]:
    """The types of hls4ml's stable softmax, which indexes each 1024-entry table with the top 10 bits of
    its input. hls4ml's defaults wrap x_max - x when it exceeds the logits' own range and step the
    inverse table's input by 1/4; these keep every table step at most 1/64.

    - inp_norm_t, x_max - x: saturates at 16 (exp(-16) < 1.2e-7), steps of 1/64;
    - exp_table_t, exp(x - x_max) in (0, 1]; accum_t, their sum, in [1, classes], exactly;
    - inv_inp_t, that sum: its integer bits hold ``classes``; inv_table_t, its inverse in (0, 1]."""
    sum_integer = max(1, math.ceil(math.log2(classes + 1)))
    return {"inp_norm_t": "ufixed<16,4,RND,SAT>", "exp_table_t": "ufixed<18,1,RND,SAT>", "accum_t": f"ufixed<{17 + sum_integer},{sum_integer}>",
            "inv_inp_t": f"ufixed<18,{sum_integer},RND,SAT>", "inv_table_t": "ufixed<18,1,RND,SAT>"}


def softmax_csim(logits: np.ndarray, logits_type: FixedType, hls: HlsConfig, work_root: Path) -> np.ndarray:
    """hls4ml's softmax (its stable lookup-table implementation, ``softmax_precisions``) of the exact ``logits``:
    a model of the softmax layer alone, its input of ``logits_type``, compiled in a temporary directory
    under ``work_root`` and removed after. Its outputs are what hls4ml's model with the softmax head gives."""
    import hls4ml
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.layers.Input((logits.shape[1],), name="logits"), tf.keras.layers.Activation("softmax", name="softmax")])
    config = {"Model": {"Precision": "fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
              "LayerName": {"logits": {"Precision": {"result": logits_type.hls()}},
                            "softmax": softmax_precisions(logits.shape[1])}}  # hls4ml reads a softmax's table types beside Precision
    Path(work_root).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".softmax-", dir=work_root) as tmp:
        try:
            hls_model = hls4ml.converters.convert_from_keras_model(model, hls_config=config, output_dir=tmp, project_name="softmax",
                                                                   backend=hls.backend, io_type="io_parallel", part=hls.part)
            hls_model.compile()
            return np.asarray(hls_model.predict(np.ascontiguousarray(logits, dtype=np.float64)), dtype=np.float64).reshape(logits.shape)
        except Exception as err:
            raise CodesignError(f"hls4ml softmax C simulation failed: {err.__class__.__name__}: {err}") from err


def _set_batchnorm_weights(hls_model, nodes: list[Node]) -> None:
    """A batch norm computes with the flow's fixed-point scale and bias (``analysis``), not with the
    float values hls4ml derives from the Keras weights and then rounds."""
    for node in nodes:
        if node.kind == "batchnorm":
            for key, values in (("scale", node.scale), ("bias", node.bias)):
                var = hls_model.graph[node.name].weights[key]  # on its type's grid: written digit for digit
                var.data = np.asarray(values, dtype=np.float64).reshape(var.data.shape)
                var.min, var.max = var.data.min(), var.data.max()
                var.nonzeros = int(np.count_nonzero(var.data))
                var.nzeros = var.data_length - var.nonzeros


def _check_precisions(hls_model, nodes: list[Node]) -> None:
    """hls4ml must have taken our result types and input type: a silently different type breaks exactness."""
    for node, variable in zip((n for n in nodes if n.kind == "input"), hls_model.get_input_variables()):
        got, want = variable.type.precision, node.output_type
        if (got.width, got.integer, got.signed) != (want.width, want.integer, want.signed):
            raise CodesignError(f"hls4ml gave the input {variable.name!r} the type {got} instead of {want} (input layer {node.name!r})")
    wanted = {node.name: node.output_type for node in nodes if node.kind != "input"}
    for layer in hls_model.get_layers():
        if layer.name not in wanted:
            continue
        got = layer.get_output_variable().type.precision
        want = wanted[layer.name]
        if (got.width, got.integer, got.signed) != (want.width, want.integer, want.signed):
            raise CodesignError(f"hls4ml gave layer {layer.name!r} the result type {got} instead of {want}")
