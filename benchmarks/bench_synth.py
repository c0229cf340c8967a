"""Synthesize and place the accelerator (rtl/accel_top.sv) at several sizes; print Markdown rows.

    .venv/bin/python benchmarks/bench_synth.py [--sizes 4x4,8x8] [--bits 8,4] [--seeds 1]
        [--freq 200] [--targets ecp5,xc7] [--sparse 2:4] [--out build/bench_synth]
        [--timeout 1800] [--no-pnr]

ECP5 numbers are post-place-and-route (nextpnr-ecp5, LFE5U-85F CABGA381), xc7 numbers are
post-synthesis (Yosys synth_xilinx); BRAM in 18 Kb blocks. Each run keeps its logs and
synth.json under --out/<name>/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codesign.synth import SynthError, accel_spec, parse_sparse, synthesize_accel  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="4x4,8x8", help="ROWSxCOLS list (default 4x4,8x8)")
    ap.add_argument("--bits", type=_ints, default=[8, 4], help="operand bits (weights = acts)")
    ap.add_argument("--seeds", type=_ints, default=[1], help="nextpnr seeds (default 1)")
    ap.add_argument("--freq", type=float, default=200.0, help="nextpnr target MHz")
    ap.add_argument("--targets", default="ecp5,xc7")
    ap.add_argument("--sparse", default=None, metavar="N:M")
    ap.add_argument("--out", default="build/bench_synth")
    ap.add_argument("--timeout", type=float, default=1800.0,
                    help="seconds per tool run; a P&R that times out leaves Yosys-only numbers")
    ap.add_argument("--no-pnr", action="store_true", help="Yosys-only numbers (no nextpnr)")
    args = ap.parse_args(argv)

    targets = tuple(t for t in args.targets.split(",") if t)
    sparse = parse_sparse(args.sparse)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    header = ["array", "bits", "sparse", "ECP5 LUT", "ECP5 FF", "ECP5 DSP", "ECP5 BRAM",
              "ECP5 Fmax MHz", "seed", "xc7 LUT", "xc7 FF", "xc7 DSP", "xc7 BRAM18", "time s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    summary = []
    for rows, cols in sizes:
        for bits in args.bits:
            for seed in args.seeds:
                spec = accel_spec(rows, cols, bits, bits, sparse=sparse)
                tag = f"{rows}x{cols}_int{bits}" + (f"_{sparse[0]}of{sparse[1]}" if sparse
                                                    else "") + f"_s{seed}"
                t0 = time.monotonic()
                out = Path(args.out) / tag
                try:
                    r = synthesize_accel(spec, out, targets=targets, seed=seed,
                                         freq_mhz=args.freq, timeout_s=args.timeout,
                                         place_route=not args.no_pnr)
                except SynthError as err:  # e.g. nextpnr did not finish routing in time
                    print(f"<!-- {tag}: {err}; Yosys-only numbers below -->", flush=True)
                    r = synthesize_accel(spec, out, targets=targets, seed=seed,
                                         place_route=False, timeout_s=args.timeout)
                dt = time.monotonic() - t0
                e, x = r.get("ecp5", {}), r.get("xc7", {})
                fmax = e.get("fmax_mhz")
                cells = [f"{rows}×{cols}", f"int{bits}",
                         f"{sparse[0]}:{sparse[1]}" if sparse else "dense",
                         *(str(e.get(k, "-")) for k in ("lut", "ff", "dsp", "bram")),
                         "-" if fmax is None else f"{fmax:.1f}",
                         str(seed) if e.get("source") == "nextpnr" else "(yosys, no P&R)",
                         *(str(x.get(k, "-")) for k in ("lut", "ff", "dsp", "bram")),
                         f"{dt:.0f}"]
                print("| " + " | ".join(cells) + " |", flush=True)
                summary.append({"tag": tag, "seconds": round(dt, 1), **r})
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nCommand: python benchmarks/bench_synth.py {' '.join(argv or sys.argv[1:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
