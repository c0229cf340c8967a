"""Estimate one design on each target, and print the tables: what ``codesign estimate`` and the flow's
estimate stage call. No TensorFlow, no tool runs: each target's model answers in milliseconds."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from codesign.analysis import Node
from codesign.config import RunConfig
from codesign.estimate import TARGETS, EstimateError, TargetEstimate, check_target

FAMILIES = ("ecp5", "xc7")


def estimate_design(nodes: list[Node], cfg: RunConfig, targets: Iterable[str] = TARGETS, *, family: str = "ecp5",
                    accel_spec=None, vitis_report: Path | None = None) -> dict[str, TargetEstimate]:
    """Each target's estimate of the network ``nodes`` built as ``cfg`` says (its hls and rtl sections).

    ``accel_spec``: the array to estimate (default: the one the flow would build, ``compiler.spec_for``).
    ``vitis_report``: a Vivado/Vitis HLS csynth report of this design, placed beside the hls4ml estimate.
    """
    targets = [check_target(t) for t in targets]
    if family not in FAMILIES:
        raise EstimateError(f"unknown device family {family!r}; allowed: {', '.join(FAMILIES)}")
    out: dict[str, TargetEstimate] = {}
    for target in targets:
        if target == "accel":
            from codesign.accel.compiler import spec_for
            from codesign.estimate import accel

            spec = accel_spec or spec_for(nodes, cfg.rtl)
            out[target] = accel.estimate(nodes, spec, family=family)
        elif target == "hls4ml":
            from codesign.estimate import hls4ml

            est = hls4ml.estimate(nodes, cfg.hls)
            if vitis_report is not None:
                from codesign.estimate import vitis_report as vitis

                est.measured["vitis-report"] = vitis.read(Path(vitis_report))[0]
            out[target] = est
        else:
            from codesign.estimate import unrolled

            out[target] = unrolled.estimate(nodes, family=family)
    return out


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, (tuple, list)):
        return "–".join(f"{v:.0f}" for v in value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, float):
        return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}"


COLUMNS = ("lut", "ff", "dsp", "bram", "latency_cycles", "ii", "fmax_mhz")
HEADER = ("LUT", "FF", "DSP", "BRAM18", "cycles", "II", "Fmax MHz")


def table(est: dict) -> str:
    """One target's costs (``TargetEstimate.to_dict()``) as a Markdown table: a row per layer, the
    total, then the measured numbers beside it."""
    rows = [("layer", *HEADER, "source"), ("---",) * (len(HEADER) + 2)]
    if "error" in est:
        return f"### {est['target']}\n\nno estimate: {est['error']}\n"
    for cost in [*est["layers"], est["total"], *est["measured"].values()]:
        name = f"**{cost['name']}**" if cost is est["total"] else cost["name"]
        rows.append((name, *(_cell(cost.get(key)) for key in COLUMNS), cost["source"]))
    params = ", ".join(f"{k}={v}" for k, v in est["params"].items() if isinstance(v, (int, float)) or (isinstance(v, str) and len(v) <= 40))
    lines = [f"### {est['target']} (estimate{': ' + params if params else ''})", ""]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += [f"- extrapolated: {note}" for note in est["extrapolated"]]
    return "\n".join(lines) + "\n"


def tables(section: dict[str, dict]) -> str:
    """The report.json ``estimate`` section as one table per target."""
    return "\n".join(table(est) for est in section.values())


def to_report(estimates: dict[str, TargetEstimate]) -> dict:
    """The report.json ``estimate`` section: target -> its estimate (every number with its source)."""
    return {target: est.to_dict() for target, est in estimates.items()}


def report_section(nodes: list[Node], cfg: RunConfig, **options) -> dict:
    """The ``estimate`` section of a run's report: every target, each either its estimate or the
    one-line reason it has none (a model the accelerator cannot run still gets its hls4ml costs)."""
    from codesign.errors import CodesignError  # an estimate's own error, or the compiler refusing the model

    section = {}
    for target in TARGETS:
        try:
            section[target] = estimate_design(nodes, cfg, [target], **options)[target].to_dict()
        except CodesignError as err:
            section[target] = {"target": target, "error": str(err)}
    return section
