"""report.json (stable, documented in the README) and report.md beside it."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from codesign import __version__
from codesign.analysis import Node
from codesign.config import RunConfig

SCHEMA_VERSION = 1


def _relative(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("tensorflow", "qkeras", "tensorflow-model-optimization", "hls4ml", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def build(*, cfg: RunConfig, nodes: list[Node], layers: list[dict], accuracy: dict, exactness: dict, hls_project: Path, seconds: dict) -> dict:
    weights = sum(layer["weights"] for layer in layers)
    nonzero = sum(layer["nonzero_weights"] for layer in layers)
    return {
        "schema_version": SCHEMA_VERSION,
        "codesign_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "name": cfg.name,
        "dataset": cfg.dataset.name,
        "input_type": str(cfg.input.type),
        "layers": layers,
        "totals": {"weights": weights, "nonzero_weights": nonzero, "sparsity": round(1 - nonzero / weights, 6) if weights else 0.0, "bops": sum(layer["bops"] for layer in layers)},
        "types": [{"name": n.name, "kind": n.kind, "output_type": str(n.output_type)} for n in nodes],
        "accuracy": accuracy,
        "exactness": exactness,
        "hls_project": _relative(hls_project),
        "hls": {"backend": cfg.hls.backend, "io_type": cfg.hls.io_type, "strategy": cfg.hls.strategy, "reuse_factor": cfg.hls.reuse_factor, "part": cfg.hls.part},
        "seconds": seconds,
        "versions": _versions(),
    }


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def markdown(rep: dict) -> str:
    lines = [f"# codesign run `{rep['name']}`", "", f"Data set **{rep['dataset']}**, input type `{rep['input_type']}`, created {rep['created']}.", ""]
    lines += ["## Accuracy (test split)", "", "| float | QKeras | hls4ml C-sim |", "|---|---|---|",
              "| " + " | ".join(_fmt(rep["accuracy"].get(k)) for k in ("float", "qkeras", "hls4ml_csim")) + " |", ""]
    if "rtl" in rep["accuracy"]:
        lines[-1:-1] = ["", f"RTL (accelerator, {rep['exactness']['qkeras_vs_rtl']['samples']} samples): {_fmt(rep['accuracy']['rtl'])}"]
    lines += ["## Bit-exactness", "", "| comparison | samples | mismatched | max abs diff |", "|---|---|---|---|"]
    lines += [f"| {name} | {e['samples']} | {e['mismatched']} | {e['max_abs_diff']:g} |" for name, e in rep["exactness"].items()]
    if "softmax" in rep:
        sm = rep["softmax"]
        lines += ["", f"The model's softmax head, in hls4ml (lookup tables, compared with QKeras' float32 softmax of the same logits, "
                      f"{sm['samples']} samples): largest probability difference {sm['max_abs_diff']:.4g}, same top-1 class on "
                      f"{sm['same_top1']:.1%}, accuracy {sm['hls4ml_accuracy']:.4f}."]
    lines += ["", "## Layers", "", "| layer | type | weight bits | act bits | input bits | accumulator | sparsity | N:M compliance | BOPs |", "|---|---|---|---|---|---|---|---|---|"]
    for layer in rep["layers"]:
        nm = f"{layer['nm']}: {layer['nm_compliance']:.1%}" if "nm" in layer else "—"
        lines.append(f"| {layer['name']} | {layer['type']} | {layer['weight_bits']} | {_fmt(layer['act_bits'])} | {layer['input_bits']} | `{layer['accum_type']}` | {layer['sparsity']:.1%} | {nm} | {layer['bops']:,} |")
    t = rep["totals"]
    lines += ["", f"Total: {t['weights']:,} weights, {t['nonzero_weights']:,} non-zero (sparsity {t['sparsity']:.1%}), {t['bops']:,} BOPs.", ""]
    if "rtl" in rep:
        r = rep["rtl"]
        a = r["array"]
        lines += ["## Accelerator RTL", "",
                  f"{a['rows']}x{a['cols']} array, {a['weight_bits']}-bit weights, {a['act_bits']}-bit activations, "
                  f"SPARSE_M={a['sparse_m']}; sparse layers: {', '.join(r['sparse_layers']) or 'none'}; simulator {r['simulator']}.", "",
                  f"Cycles per inference: {r['cycles_per_inference']:,} measured, {r['cycles_predicted']:,} predicted by the reference model; "
                  f"{r['sim_cycles_per_second'] or 0:,} simulated cycles/s.", ""]
        if "resources" in r:
            lines += ["| target | LUT | FF | DSP | BRAM | Fmax MHz | source |", "|---|---|---|---|---|---|---|"]
            for target, res in r["resources"].items():
                lines.append(f"| {target} | {res.get('lut')} | {res.get('ff')} | {res.get('dsp')} | {res.get('bram')} | {_fmt(res.get('fmax_mhz'))} | {res.get('source')} |")
            lines.append("")
    if "estimate" in rep:
        from codesign.estimate.design import tables

        lines += ["## Estimated cost (before synthesis; measured numbers beside, with their source)", "", tables(rep["estimate"])]
    lines += ["## HLS project", "", f"`{rep['hls_project']}` ({rep['hls']['backend']}, {rep['hls']['io_type']}, {rep['hls']['strategy']}, reuse factor {rep['hls']['reuse_factor']}, part {rep['hls']['part']}).",
              f"With Vitis HLS installed: `cd {rep['hls_project']} && vitis_hls -f build_prj.tcl \"csim=1 synth=1\"`.", ""]
    return "\n".join(lines)


def write(out_dir: Path, rep: dict) -> None:
    """report.md first, report.json last and atomically: report.json's presence means the run finished."""
    out_dir = Path(out_dir)
    for name, text in (("report.md", markdown(rep)), ("report.json", json.dumps(rep, indent=2) + "\n")):
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out_dir / name)
