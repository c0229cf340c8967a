"""Place and route each block of the accelerator on its own (nextpnr --out-of-context); print Markdown rows.

    .venv/bin/python benchmarks/bench_blocks.py [--blocks accel_array,accel_ppu,...] [--seed 1]
        [--router router1] [--out build/bench_blocks]

Parameters are those of the 8x8 int8 dense-only build (accel_top ROWS=COLS=8, SPARSE_M=0). Out of
context, no pins pull the logic apart, so each number is the block's own register-to-register
Fmax: the ceiling the whole design can reach, and the place to find which block limits it.
Each report has nextpnr's detailed timing (benchmarks/timing_endpoints.py reads it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codesign.synth import RTL_DIR, SynthError, rtl_sources, synthesize  # noqa: E402

BLOCKS_8X8_INT8 = {
    "accel_array": {"ROWS": 8, "COLS": 8, "ACT_BITS": 8, "WEIGHT_BITS": 8, "ACC_BITS": 32, "LANES": 1, "IDX_BITS": 1},
    "accel_ppu": {"ACC_BITS": 32},
    "accel_ctrl": {"ROWS": 8, "COLS": 8, "LANES": 1, "WE": 9, "WMEM_W": 88, "DA": 4, "AA": 10, "WA": 10, "BA": 6, "OA": 10},
    "accel_amem": {"ROWS": 8, "WIDTH": 8, "WORDS": 8, "DEPTH": 1024, "AA": 10},
    "accel_loader": {"ADDR_BITS": 28, "BUF_BEATS": 10, "BEATS_D": 10, "BEATS_A": 1, "BEATS_W": 3, "BEATS_B": 8},
    "accel_streamer": {"COLS": 8, "ACC_BITS": 32, "ADDR_BITS": 10},
    "accel_pool": {"LANES": 1, "ACT_BITS": 8, "AA": 10},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", default=",".join(BLOCKS_8X8_INT8),
                    help=f"comma-separated, from {', '.join(BLOCKS_8X8_INT8)}")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--router", choices=("router1", "router2"), default="router1",
                    help="nextpnr router (default router1, as bench_synth.py)")
    ap.add_argument("--out", default="build/bench_blocks")
    args = ap.parse_args(argv)
    blocks = [b for b in args.blocks.split(",") if b]
    unknown = [b for b in blocks if b not in BLOCKS_8X8_INT8]
    if unknown:
        ap.error(f"--blocks {','.join(unknown)}: allowed {', '.join(BLOCKS_8X8_INT8)}")
    print("| block | LUT | FF | MULT18X18D | DP16KD | Fmax MHz | critical path |")
    print("|---|---|---|---|---|---|---|")
    for block in blocks:
        try:
            result = synthesize(rtl_sources(), block, BLOCKS_8X8_INT8[block], Path(args.out) / block,
                                targets=("ecp5",), seed=args.seed, include_dirs=[RTL_DIR],
                                pnr_args=["--router", args.router, "--out-of-context", "--detailed-timing-report"])
        except SynthError as err:
            print(f"| {block} | failed: {err} |||||")
            continue
        e = result["ecp5"]
        cp = e.get("critical_path") or {}
        path = f"{cp['from']} -> {cp['to']} ({cp['delay_ns']:.2f} ns)" if cp else "-"
        fmax = "-" if e["fmax_mhz"] is None else f"{e['fmax_mhz']:.1f}"
        print(f"| {block} | {e['lut']} | {e['ff']} | {e['dsp']} | {e['bram']} | {fmax} | {path} |", flush=True)
    print(f"\nCommand: python benchmarks/bench_blocks.py --blocks {','.join(blocks)} --seed {args.seed} "
          f"--router {args.router}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
