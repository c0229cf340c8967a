"""Synthesize and place the accelerator (rtl/accel_top.sv) at several sizes; print Markdown rows.

    .venv/bin/python benchmarks/bench_synth.py [--sizes 4x4,8x8] [--bits 8,4]
        [--sparse dense,2:4] [--seeds 1,2] [--freq 200] [--targets ecp5]
        [--pnr-args "--router router1 --placer-heap-timingweight 40"]
        [--fallback-pnr-args "--router router2"] [--synth-args -nodsp] [--out build/bench_synth]
        [--timeout 3600] [--no-pnr] [--no-pack] [--no-floorplan]

Builds: every size x bits (weights = activations) x sparsity; `dense` is the dense-only array
(SPARSE_M=0), `2:4` the N:M-capable array (SPARSE_M=4). ECP5 numbers are post-place-and-route
(nextpnr-ecp5, LFE5U-85F CABGA381, speed grade 6), one run per seed; the row shows the resources of
the first seed and the min / median Fmax over the seeds that finished. xc7 numbers (with
`--targets ecp5,xc7`) are post-synthesis (Yosys synth_xilinx); BRAM in 18 Kb blocks. Each run
keeps its logs and synth.json under --out/<name>/; all results go to --out/summary.json.

nextpnr's router1 times 15-25% faster than router2 on the same placement but does not always
finish routing an 8x8 build: each seed is placed once and
routed with the --router of --pnr-args (router1 by default); where that stalls, times out or
fails, the same placement is routed with the --router of --fallback-pnr-args, and its seed is
marked "(fallback)" in the row. --timeout is the budget of one build and seed, Yosys included
(codesign.synth.synthesize).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codesign.synth import accel_spec, parse_sparse, synthesize_accel  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _router(args: list[str]) -> tuple[str | None, list[str]]:
    """The value of `--router` in nextpnr options, and the other options."""
    rest, router, i = [], None, 0
    while i < len(args):
        if args[i] == "--router" and i + 1 < len(args):
            router, i = args[i + 1], i + 2
        elif args[i].startswith("--router="):
            router, i = args[i].split("=", 1)[1], i + 1
        else:
            rest.append(args[i])
            i += 1
    return router, rest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="4x4,8x8", help="ROWSxCOLS list (default 4x4,8x8)")
    ap.add_argument("--bits", type=_ints, default=[8, 4], help="operand bits (weights = acts)")
    ap.add_argument("--sparse", default="dense,2:4",
                    help="comma-separated builds: dense (SPARSE_M=0) and/or N:M (default dense,2:4)")
    ap.add_argument("--seeds", type=_ints, default=[1, 2], help="nextpnr seeds (default 1,2)")
    ap.add_argument("--freq", type=float, default=200.0, help="nextpnr target MHz")
    ap.add_argument("--targets", default="ecp5")
    ap.add_argument("--pnr-args", default="--router router1 --placer-heap-timingweight 40",
                    help="extra nextpnr-ecp5 options (default: --router router1 "
                         "--placer-heap-timingweight 40)")
    ap.add_argument("--fallback-pnr-args", default="--router router2",
                    help="the router for a placement the first router did not finish "
                         "(default: --router router2; empty: no second try)")
    ap.add_argument("--synth-args", default="",
                    help="extra Yosys synth_ecp5 flags, e.g. -nodsp (multipliers in LUTs)")
    ap.add_argument("--out", default="build/bench_synth")
    ap.add_argument("--timeout", type=float, default=3600.0,
                    help="seconds per build and seed, Yosys included; a P&R that does not "
                         "finish leaves Yosys-only numbers")
    ap.add_argument("--no-pnr", action="store_true", help="Yosys-only numbers (no nextpnr)")
    ap.add_argument("--no-pack", action="store_true",
                    help="leave flip-flops out of the DSP / block-RAM registers (codesign.ecp5_pack)")
    ap.add_argument("--no-floorplan", action="store_true",
                    help="leave the array's multipliers to the placer "
                         "(codesign.ecp5_floorplan)")
    args = ap.parse_args(argv)

    targets = tuple(t for t in args.targets.split(",") if t)
    first, pnr_args = _router(shlex.split(args.pnr_args))
    routers = [first or "router1"]
    if args.fallback_pnr_args.strip():
        fallback, rest = _router(shlex.split(args.fallback_pnr_args))
        if rest or not fallback:
            ap.error("--fallback-pnr-args routes the same placement again: only --router ROUTER")
        if fallback != routers[0]:
            routers.append(fallback)
    synth_args = {"ecp5": shlex.split(args.synth_args)} if args.synth_args.strip() else None
    builds = [parse_sparse(s) for s in args.sparse.split(",")]
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    header = ["array", "bits", "build", "ECP5 LUT", "ECP5 FF", "ECP5 DSP", "ECP5 BRAM",
              "Fmax MHz min", "Fmax MHz median", "seeds", "critical path (worst seed)"]
    if "xc7" in targets:
        header += ["xc7 LUT", "xc7 FF", "xc7 DSP", "xc7 BRAM18"]
    header += ["time s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    summary = []
    for rows, cols in sizes:
        for bits in args.bits:
            for sparse in builds:
                spec = accel_spec(rows, cols, bits, bits, sparse=sparse)
                name = f"{rows}x{cols}_int{bits}_" + (f"{sparse[0]}of{sparse[1]}" if sparse
                                                      else "dense")
                runs, fmaxes, t0 = [], [], time.monotonic()
                unrouted = None
                for seed in args.seeds:
                    out = Path(args.out) / f"{name}_s{seed}"
                    r = synthesize_accel(spec, out, targets=targets, seeds=[seed],
                                         freq_mhz=args.freq, timeout_s=args.timeout,
                                         routers=routers, place_route=not args.no_pnr,
                                         pnr_args=pnr_args, pack_registers=not args.no_pack,
                                         floorplan=not args.no_floorplan,
                                         synth_args=synth_args)
                    if r["status"] != "complete":  # e.g. no router finished in time
                        print(f"<!-- {name} seed {seed}: {r.get('message')} -->", flush=True)
                        unrouted = unrouted or r
                        continue
                    e = r.get("ecp5", {})
                    fallback = bool(e.get("router")) and e.get("router") != routers[0]
                    label = f"{seed} (fallback)" if fallback else str(seed)
                    runs.append((label, r))
                    if e.get("fmax_mhz") is not None:
                        fmaxes.append((e["fmax_mhz"], label, r))
                    summary.append({"name": name, "seed": seed, "fallback": fallback, **r})
                dt = time.monotonic() - t0
                if not runs:   # no seed finished: Yosys-only numbers
                    r = unrouted or synthesize_accel(spec, Path(args.out) / f"{name}_yosys",
                                                     targets=targets, place_route=False,
                                                     timeout_s=args.timeout,
                                                     synth_args=synth_args)
                    runs.append((None, r))
                    summary.append({"name": name, "seed": None, **r})
                first = runs[0][1]
                e, x = first.get("ecp5", {}), first.get("xc7", {})
                values = [f for f, _, _ in fmaxes]
                worst = min(fmaxes, key=lambda t: t[0])[2]["ecp5"].get("critical_path") if fmaxes else None
                path = f"{worst['from']} -> {worst['to']} ({worst['delay_ns']} ns)" if worst else "-"
                cells = [f"{rows}×{cols}", f"int{bits}",
                         f"{sparse[0]}:{sparse[1]} (SPARSE_M={sparse[1]})" if sparse
                         else "dense (SPARSE_M=0)",
                         *(str(e.get(k, "-")) for k in ("lut", "ff", "dsp", "bram")),
                         _fmt(min(values) if values else None),
                         _fmt(statistics.median(values) if values else None),
                         ",".join(str(s) for _, s, _ in fmaxes) or "(yosys only, no P&R)",
                         path.replace("|", "/")]
                if "xc7" in targets:
                    cells += [str(x.get(k, "-")) for k in ("lut", "ff", "dsp", "bram")]
                cells += [f"{dt:.0f}"]
                print("| " + " | ".join(cells) + " |", flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nCommand: python benchmarks/bench_synth.py {' '.join(argv or sys.argv[1:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
