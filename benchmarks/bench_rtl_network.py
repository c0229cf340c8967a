"""Whole-network RTL benchmark: a trained model's full test split through the accelerator in Verilator.

    .venv/bin/python benchmarks/bench_rtl_network.py [--config configs/fashion-mlp.yaml] [--rows 8 --cols 8]
                                                     [--samples N] [--out runs/bench-rtl-fashion] [--reuse]

Trains the config's model and converts it with hls4ml (`codesign flow` without the RTL stage; C
simulation of the whole test split, timed), then runs the same samples through the RTL
(`codesign rtl-sim`) and prints a Markdown row: samples, exactness of RTL against QKeras and
hls4ml, cycles per inference (measured and predicted), the RTL simulation's wall time, the hls4ml
C simulation's wall time on the same samples, and their ratio. `--reuse` skips training when the
run directory already holds a finished run.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codesign import config, flow  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "fashion-mlp.yaml"))
    p.add_argument("--out", default=str(ROOT / "runs" / "bench-rtl-fashion"))
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--cols", type=int, default=8)
    p.add_argument("--samples", type=int, help="first N test samples (default: all)")
    p.add_argument("--reuse", action="store_true", help="reuse a finished run in --out instead of training")
    args = p.parse_args()

    out = Path(args.out)
    cfg = config.load(args.config)
    if not (args.reuse and (out / "report.json").is_file()):
        cfg = dataclasses.replace(cfg, rtl=dataclasses.replace(cfg.rtl, enabled=False))
        flow.run_flow(cfg, out, ROOT / "hls_projects", progress=True)
    csim_seconds = json.loads((out / "report.json").read_text())["seconds"]["csim"]
    options = config.RtlConfig(rows=args.rows, cols=args.cols, samples=args.samples, synth=False)
    start = time.perf_counter()
    rep = flow.rtl_stage(out, options, progress=True)
    wall = time.perf_counter() - start
    r, e = rep["rtl"], rep["exactness"]
    samples = e["qkeras_vs_rtl"]["samples"]
    hls_samples = rep["exactness"]["qkeras_vs_hls4ml"]["samples"]
    # C-sim ran the whole split; scale it to the RTL's samples when --samples cut them
    csim_same = csim_seconds * samples / hls_samples
    print(f"\n{cfg.name} on a {args.rows}x{args.cols} array, {platform.node()} ({platform.machine()}), "
          f"{dt.date.today().isoformat()}")
    print("| model | array | samples | QKeras vs RTL mismatched | hls4ml vs RTL mismatched | cycles/inference (measured / predicted) "
          "| RTL sim s | rtl-sim wall s (incl. build, load) | hls4ml C-sim s | RTL sim / C-sim |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {cfg.name} | {args.rows}x{args.cols} | {samples} | {e['qkeras_vs_rtl']['mismatched']} | {e['hls4ml_vs_rtl']['mismatched']} "
          f"| {r['cycles_per_inference']} / {r['cycles_predicted']} | {r['sim_seconds']:.1f} | {wall:.1f} | {csim_same:.2f} "
          f"| {r['sim_seconds'] / csim_same:.0f}x |")
    return 0 if e["qkeras_vs_rtl"]["mismatched"] == 0 and e["hls4ml_vs_rtl"]["mismatched"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
