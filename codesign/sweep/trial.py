"""One trial on a worker: run the stages its spec names in its run directory, return its metrics.

Workers only run ``evaluate``: no database, no search state. Whatever a trial raises becomes its
``failed`` result with a one-line error (the traceback is in the stage's log), so one bad design
point never takes the worker down.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

# Headline metrics a search can optimize: accuracy is the bit-exact accuracy of the last execution
# the trial ran (RTL, else hls4ml C-sim, else QKeras); the costs are the trial's target's estimate.
COST_METRICS = ("cost", "lut", "ff", "dsp", "bram", "latency_cycles", "latency_ns", "bops")
OBJECTIVE_METRICS = ("accuracy", "sparsity", *COST_METRICS)
WORKER_FILE = "worker.json"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _worker() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def evaluate(trial: dict[str, Any], run_dir: str, hls_root: str) -> dict[str, Any]:
    """Run ``trial`` (a ``Trial``'s fields as a dict) in ``run_dir``; its hls4ml project goes under ``hls_root``."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    started, start = _now(), time.monotonic()
    worker = _worker()
    # Who runs the trial, written first: if the worker dies, the driver still knows where it ran.
    (run / WORKER_FILE).write_text(json.dumps({"worker": worker, "host": socket.gethostname(), "pid": os.getpid(), "started": started}))
    metrics: dict[str, Any] = {}
    status, error = "done", None
    try:
        _run(trial, run, Path(hls_root), metrics)
    except Exception as err:  # the trial's result, not the worker's
        from codesign.errors import CodesignError
        from codesign.flow import _one_line

        status = "failed"
        error = _one_line(err) if isinstance(err, CodesignError) else f"{type(err).__name__}: {_one_line(err)}"
    finally:
        _release_tensorflow()
    return {"status": status, "error": error, "metrics": metrics, "worker": worker, "started": started, "finished": _now(),
            "seconds": round(time.monotonic() - start, 2)}


def _release_tensorflow() -> None:
    import sys

    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].keras.backend.clear_session()


def _run(trial: dict[str, Any], out: Path, hls_root: Path, metrics: dict[str, Any]) -> None:
    from codesign import analysis, config as run_config, flow

    cfg = run_config.from_dict(trial["config"])
    stages, target = tuple(trial["stages"]), trial["target"]
    inputs = flow.load_inputs(cfg)
    with flow.stage_log(out, "train"):
        model, summary = flow.train_stage(cfg, out, inputs, progress=False)
    metrics.update({"accuracy.float": summary["float"], "accuracy.qkeras": summary["qkeras"], "accuracy": summary["qkeras"],
                    "seconds.train": summary["seconds"]})
    nodes = analysis.describe(model, cfg.input.type)
    layers = analysis.layer_stats(nodes, {s.name: s.nm_pair for s in cfg.layers if s.nm_pair})
    weights, nonzero = sum(la["weights"] for la in layers), sum(la["nonzero_weights"] for la in layers)
    metrics.update({"weights": weights, "sparsity": 1 - nonzero / weights if weights else 0.0,
                    "sparsity.layers": {la["name"]: la["sparsity"] for la in layers},
                    "bits.layers": {la["name"]: [la["weight_bits"], la["act_bits"]] for la in layers}})
    if "estimate" in stages:
        _estimate(nodes, cfg, target, trial["cost"], metrics)
    if "convert" in stages:
        start = time.monotonic()
        try:
            with flow.stage_log(out, "convert"):
                rep = flow.convert_stage(cfg, model, out, inputs, hls_root, progress=False, float_accuracy=summary["float"])
        finally:  # an exactness failure still wrote its report: keep what it measured
            _from_report(out, metrics, "hls4ml")
        metrics["seconds.convert"] = round(time.monotonic() - start, 1)
        metrics["accuracy"] = rep["accuracy"]["hls4ml_csim"]
    if "rtl" in stages or "synth" in stages:
        _hardware(cfg, nodes, out, inputs, target, stages, metrics)


def _estimate(nodes, cfg, target: str, cost: str, metrics: dict[str, Any]) -> None:
    from codesign.errors import CodesignError
    from codesign.estimate import TARGETS
    from codesign.select import design_costs
    from codesign.select.space import parse_cost

    figure = parse_cost(cost)
    for name in TARGETS:
        try:
            costs = design_costs(nodes, cfg, name, "ecp5", figure)
        except CodesignError as err:  # e.g. the accelerator cannot run this model: the other targets still count
            metrics[f"est.{name}.error"] = str(err)
            continue
        metrics.update({f"est.{name}.{k}": v for k, v in costs.items()})
        if name == target:
            metrics.update({k: costs[k] for k in COST_METRICS})


def _from_report(out: Path, metrics: dict[str, Any], execution: str) -> None:
    path = out / "report.json"
    if not path.is_file():
        return
    rep = json.loads(path.read_text())
    key = {"hls4ml": "qkeras_vs_hls4ml", "rtl": "qkeras_vs_rtl"}[execution]
    if key in rep.get("exactness", {}):
        metrics[f"mismatched.{execution}"] = rep["exactness"][key]["mismatched"]
    accuracy = rep.get("accuracy", {}).get({"hls4ml": "hls4ml_csim", "rtl": "rtl"}[execution])
    if accuracy is not None:
        metrics[f"accuracy.{execution}"] = accuracy


def _measured(metrics: dict[str, Any], resources: dict[str, Any]) -> None:
    metrics.update({f"synth.{k}": resources.get(k) for k in ("lut", "ff", "dsp", "bram")})


def _hardware(cfg, nodes, out: Path, inputs, target: str, stages, metrics: dict[str, Any]) -> None:
    """The rtl stage (the test split through the target's Verilog in Verilator) and the synth stage (Yosys)."""
    import numpy as np

    from codesign import flow

    if target == "accel":
        if "rtl" in stages:
            # the trial's synth.* metrics are ECP5's: the other families are not synthesized
            rtl = replace(cfg.rtl, enabled=True, synth="synth" in stages, synth_targets=("ecp5",), place_route=False, unrolled=False)
            try:
                rep = flow.rtl_stage(out, rtl, progress=False)
            finally:
                _from_report(out, metrics, "rtl")
            metrics["accuracy"] = rep["accuracy"]["rtl"]
            metrics["rtl.cycles_per_inference"] = rep["rtl"]["cycles_per_inference"]
            if "ecp5" in rep["rtl"].get("resources", {}):
                _measured(metrics, rep["rtl"]["resources"]["ecp5"])
        else:
            from codesign import synth
            from codesign.accel.compiler import spec_for

            spec = spec_for(nodes, cfg.rtl)
            with flow.stage_log(out, "synth"):
                result = synth.synthesize_accel(spec, out / "synth", ("ecp5",), place_route=False, timeout_s=cfg.rtl.pnr_timeout_s)
            _measured(metrics, result["ecp5"])
        return
    from codesign import unrolled

    with flow.stage_log(out, "rtl" if "rtl" in stages else "synth"):
        design = unrolled.generate(nodes, out / "unrolled")
        if "rtl" in stages:
            logits = unrolled.logits(design, inputs.x_test)
            exact = flow.compare(np.load(out / "qkeras_logits.npy"), logits)
            metrics.update({"mismatched.rtl": exact["mismatched"], "rtl.latency_cycles": design.latency_cycles,
                            "accuracy.rtl": float(np.mean(np.argmax(logits, axis=1) == inputs.dataset.test.y))})
            metrics["accuracy"] = metrics["accuracy.rtl"]
        if "synth" in stages:
            result = unrolled.synthesize(design, out / "unrolled_synth", ("ecp5",), timeout_s=cfg.rtl.pnr_timeout_s)
            _measured(metrics, result["total"]["ecp5"])
    if metrics.get("mismatched.rtl"):
        from codesign.errors import CodesignError

        raise CodesignError(f"the unrolled Verilog differs from QKeras on {metrics['mismatched.rtl']} test samples; see {out}")
