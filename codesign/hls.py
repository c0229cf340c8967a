"""hls4ml conversion with exact per-layer precisions, and hls4ml's C simulation.

Every precision in the hls4ml config is written by us from the model's nodes (see
``analysis.describe``): weights and biases from the quantizers, activations from their quantizers
(rounding half to even, saturating, as QKeras does), and accumulators and layer results from exact
bit growth. Nothing is left to hls4ml's ``auto`` types, which can drop bits.

The project is generated in a staging directory beside its destination and moved into place only
after it compiled and simulated, so a directory under ``hls_projects/`` is always complete.
"""

from __future__ import annotations

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
