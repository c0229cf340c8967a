"""Unrolled target benchmark: held-out error of the cost model against Yosys, bit-exactness, speed.

    .venv/bin/python benchmarks/bench_unrolled.py [--families ecp5,xc7] [--samples 2000] [--from-data]
    .venv/bin/python benchmarks/bench_unrolled.py --pipeline mlp12-12-8-4_w4 [--cutoffs 0,4,2]
    .venv/bin/python benchmarks/bench_unrolled.py --config configs/jets-mlp.yaml

For every held-out network of codesign.estimate.unrolled (networks and bit-width assignments used
in no fit): generates the fully unrolled design (codesign.unrolled.generate, da4ml), runs
``--samples`` random inputs through it in Verilator and compares them with codesign.reference,
synthesizes it with Yosys for each family (one run at a time), and estimates it. Prints one
Markdown row per network and family: estimated and measured LUT and FF, the LUT error, samples
bit-exact, the estimate's time and Yosys' time. ``--from-data`` prints the same table from the
committed measurements (codesign/estimate/data/unrolled_model.json) without running any tool.
``--pipeline NAME`` instead places and routes that held-out network on ECP5 (nextpnr, seed 1, out
of context) at each latency cutoff (adder levels per stage; 0 = one stage per layer) and prints
cycles, LUT, FF and Fmax. ``--config RUN.yaml`` runs the same row for a run config's network
(codesign.estimate.network.nodes_from_config: its layers and bit-widths with synthetic weights at
the configured sparsity), and lists what the estimate flags as extrapolated.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codesign import reference, unrolled  # noqa: E402
from codesign.estimate import unrolled as model  # noqa: E402


def estimate_ms(nodes, family: str, repeats: int = 20) -> tuple[object, float]:
    est = model.estimate(nodes, family=family)
    t0 = time.perf_counter()
    for _ in range(repeats):
        model.estimate(nodes, family=family)
    return est, (time.perf_counter() - t0) / repeats * 1000.0


def exact_samples(nodes, design, n: int, seed: int) -> tuple[int, int]:
    t = nodes[0].output_type
    x = np.random.default_rng(seed).integers(t.min_code, t.max_code + 1, size=(n, *nodes[0].output_shape))
    got = unrolled.simulate(design, x)
    want = reference.run(nodes, t.from_codes(x))
    return int(np.sum(np.all(got.reshape(n, -1) == want.reshape(n, -1), axis=1))), n


def row(name: str, family: str, est, ms: float, measured: dict, exact: str, yosys_s: float | None) -> str:
    err = est.total.lut / measured["lut"] - 1.0
    speed = f"{yosys_s:.1f} s ({yosys_s * 1000 / ms:,.0f}x)" if yosys_s else "—"
    return (f"| {name} | {family} | {est.total.lut:,.0f} | {measured['lut']:,} | {err:+.1%} | {est.total.ff:,.0f} | "
            f"{measured['ff']:,} | {est.total.latency_cycles} | {exact} | {ms:.1f} ms | {speed} |")


HEADER = ("| network | family | LUT est. | LUT Yosys | LUT error | FF est. | FF Yosys | cycles | bit-exact | "
          "estimate | Yosys |\n|---|---|---|---|---|---|---|---|---|---|---|")


def pipeline(name: str, cutoffs: list[float], timeout_s: float) -> None:
    point = {p.name: p for p in model.held_out_networks()}[name]
    print("| network | latency cutoff | cycles | LUT (nextpnr) | FF | Fmax MHz |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench_unrolled_pipe_") as tmp:
        for cutoff in cutoffs:
            work = Path(tmp) / f"c{cutoff:g}"
            design = unrolled.generate(point.nodes(), work / "rtl", latency_cutoff=cutoff or None)
            r = unrolled.synthesize(design, work / "pnr", ("ecp5",), place_route=True, seeds=(1,),
                                    pnr_args=("--out-of-context",), timeout_s=timeout_s)
            e = r["synth"]["ecp5"]
            fmax = "—" if e["fmax_mhz"] is None else f"{e['fmax_mhz']:.1f}"
            print(f"| {name} | {cutoff:g} | {design.latency_cycles} | {e['lut']:,} | {e['ff']:,} | {fmax} |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="ecp5,xc7", help="device families (comma-separated; default ecp5,xc7)")
    ap.add_argument("--samples", type=int, default=2000, help="random inputs checked in Verilator per network")
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--from-data", action="store_true", help="print the committed measurements; run no tool")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per Yosys run")
    ap.add_argument("--config", metavar="RUN.yaml", help="estimate, simulate and synthesize a run config's network")
    ap.add_argument("--pipeline", metavar="NAME", help="place and route this held-out network at each --cutoffs")
    ap.add_argument("--cutoffs", default="0,4,2", help="latency cutoffs for --pipeline (0 = one stage per layer)")
    args = ap.parse_args()
    if args.pipeline:
        pipeline(args.pipeline, [float(c) for c in args.cutoffs.split(",")], args.timeout)
        return 0
    if args.config:
        from codesign.config import load
        from codesign.estimate.network import nodes_from_config

        cfg = load(Path(args.config))
        nodes = nodes_from_config(cfg)
        print(HEADER)
        with tempfile.TemporaryDirectory(prefix="bench_unrolled_cfg_") as tmp:
            design = unrolled.generate(nodes, Path(tmp) / "rtl")
            ok, n = exact_samples(nodes, design, args.samples, args.seed)
            for family in args.families.split(","):
                t0 = time.monotonic()
                r = unrolled.synthesize(design, Path(tmp) / family, (family,), timeout_s=args.timeout)
                yosys_s = time.monotonic() - t0
                est, ms = estimate_ms(nodes, family)
                print(row(cfg.name, family, est, ms, r["total"][family], f"{ok}/{n}", yosys_s), flush=True)
                for note in est.extrapolated:
                    print(f"- extrapolated: {note}")
        return 0
    families = [f for f in args.families.split(",") if f]
    print(HEADER)
    errors: dict[str, list[float]] = {f: [] for f in families}
    if args.from_data:
        data = model.model_data()
        for p in data["held_out"]:
            nodes = model.point_from_dict(p["point"]).nodes()
            for family in families:
                est, ms = estimate_ms(nodes, family)
                m = p["measured"][family]
                errors[family].append(abs(est.total.lut / m["lut"] - 1.0))
                print(row(p["point"]["name"], family, est, ms, m, "—", m.get("yosys_s")), flush=True)
    else:
        with tempfile.TemporaryDirectory(prefix="bench_unrolled_") as tmp:
            for point in model.held_out_networks():
                nodes = point.nodes()
                work = Path(tmp) / point.name
                design = unrolled.generate(nodes, work / "rtl")
                ok, n = exact_samples(nodes, design, args.samples, args.seed)
                for family in families:
                    t0 = time.monotonic()
                    r = unrolled.synthesize(design, work / family, (family,), timeout_s=args.timeout)
                    yosys_s = time.monotonic() - t0
                    est, ms = estimate_ms(nodes, family)
                    m = r["total"][family]
                    errors[family].append(abs(est.total.lut / m["lut"] - 1.0))
                    print(row(point.name, family, est, ms, m, f"{ok}/{n}", yosys_s), flush=True)
    for family, errs in errors.items():
        print(f"\n{family}: LUT MAPE {np.mean(errs):.1%} over {len(errs)} held-out networks (max {np.max(errs):.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
