"""The accel cost model against fresh Yosys runs on its held-out configurations, and its speed.

For every held-out configuration (``codesign.estimate.calibrate_accel.TOP_HELD_OUT``, in no fit)
and family: Yosys of the whole accel_top (flattened ``synth_ecp5`` / ``synth_xilinx``, what
``codesign synth`` reports for Yosys) beside the estimate, LUT / FF / DSP / BRAM, the MAPE per
resource, and the time of one estimate (resources and cycles of a model) against the Yosys run it
replaces.

    .venv/bin/python benchmarks/bench_estimate_accel.py [--points 3x3,4x4] [--families ecp5,xc7]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codesign.estimate import EstimateError  # noqa: E402
from codesign.estimate import accel as model  # noqa: E402
from codesign.estimate.calibrate_accel import TOP_HELD_OUT, run_top  # noqa: E402

RESOURCES = ("lut", "ff", "dsp", "bram")


def _model_nodes(widths: tuple[int, ...]):
    """An MLP with 4-bit weights and activations (built without TensorFlow)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_estimate_accel import small_mlp

    return small_mlp(np.random.default_rng(0), widths)


def time_estimate(spec, family: str, repeat: int = 200) -> tuple[float, str]:
    """Seconds of one estimate (resources and cycles of 8 samples) and the model it ran: the
    64-32-10 MLP, or a single 64-10 layer where the build cannot chain layers (COLS not a power of
    two)."""
    for widths in ((64, 32, 10), (64, 10)):
        nodes = _model_nodes(widths)
        try:
            model.estimate(nodes, spec, family=family)   # the data file's load, once
        except EstimateError:
            continue
        t0 = time.perf_counter()
        for _ in range(repeat):
            model.estimate(nodes, spec, samples=8, family=family)
        return (time.perf_counter() - t0) / repeat, "-".join(map(str, widths))
    raise EstimateError(f"no bench model runs on {spec.tag()}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", default="", help="held-out configurations by RxC (default: all)")
    ap.add_argument("--families", default="ecp5,xc7")
    args = ap.parse_args(argv)
    wanted = {p for p in args.points.split(",") if p}
    specs = [s for s in TOP_HELD_OUT if not wanted or f"{s.rows}x{s.cols}" in wanted]
    families = [f for f in args.families.split(",") if f]
    print("| configuration | family | LUT est / Yosys | FF est / Yosys | DSP est / Yosys | BRAM est / Yosys "
          "| Yosys s | model | estimate ms | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    errors: dict[str, dict[str, list[float]]] = {f: {r: [] for r in RESOURCES} for f in families}
    with TemporaryDirectory(prefix="bench-estimate-accel-") as tmp:
        for spec in specs:
            for fam in families:
                measured = run_top(spec, fam, Path(tmp))
                seconds, net = time_estimate(spec, fam)
                est = model.estimate(None, spec, family=fam).total
                cells = []
                for r in RESOURCES:
                    e, m = getattr(est, r), measured[r]
                    errors[fam][r].append(abs(e - m) / max(1, m))
                    cells.append(f"{e:,.0f} / {m:,}")
                print(f"| {spec.tag()} a{spec.amem_depth} o{spec.omem_depth} | {fam} | " + " | ".join(cells)
                      + f" | {measured['seconds']:.0f} | {net} | {seconds * 1e3:.2f} | {measured['seconds'] / seconds:,.0f}x |",
                      flush=True)
    print()
    print("| family | LUT MAPE | FF MAPE | DSP MAPE | BRAM MAPE |")
    print("|---|---|---|---|---|")
    for fam in families:
        print(f"| {fam} | " + " | ".join(f"{100 * np.mean(errors[fam][r]):.2f}%" for r in RESOURCES) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
