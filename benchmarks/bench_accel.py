"""Accelerator benchmark: PE utilization on a large dense GEMM, 2:4 speedup, Verilator speed.

    .venv/bin/python benchmarks/bench_accel.py [--rows 8 --cols 8 --m 256 --k 256 --n 64]

Runs whole layers on accel_top in Verilator (cocotb runner) and prints Markdown rows: measured
cycles (the accelerator's perf counter and start->done), the reference model's prediction,
PE utilization = useful MACs / (cycles x ROWS x COLS), the 2:4 speedup over the same layer packed
densely, and simulated cycles per wall-clock second of the compute phase.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codesign.accel import golden  # noqa: E402
from codesign.accel.spec import AccelSpec  # noqa: E402

OUT_ENV = "ACCEL_BENCH_OUT"
SHAPE_ENV = "ACCEL_BENCH_SHAPE"


def layers(spec: AccelSpec, m: int, k: int, n: int, seed: int = 0):
    """(name, layer, packed weights): dense, the 2:4-pruned weights packed densely and compressed."""
    sys.path.insert(0, str(ROOT / "sim"))
    from stimulus import prune_n_of_m

    rng = np.random.default_rng(seed)
    wmax = (1 << (spec.weight_bits - 1)) - 1
    a = rng.integers(-(1 << (spec.act_bits - 1)), 1 << (spec.act_bits - 1), size=(m, k))
    w = rng.integers(1, wmax + 1, size=(k, n)) * rng.choice([-1, 1], size=(k, n))   # no zeros: truly dense
    bias = rng.integers(-1000, 1000, size=n)
    pruned = prune_n_of_m(w, 2, 4, rng)
    common = dict(bias=bias, shift=10, rounding="RND_CONV", out_bits=spec.act_bits)
    dense = golden.Layer(a, w, **common)
    sparse = golden.Layer(a, pruned, **common)
    return [
        ("dense", dense, golden.pack_weights(spec, w)),
        ("2:4 packed densely", sparse, golden.pack_weights(spec, pruned, skip_zeros=False)),
        ("2:4 compressed", sparse, golden.pack_weights(spec, pruned, n_of_m=(2, 4))),
    ]


# ------------------------------------------------------------------ cocotb side

try:
    import cocotb
except ImportError:  # pragma: no cover
    cocotb = None

if cocotb is not None:

    @cocotb.test()
    async def bench(dut):
        from codesign.accel.harness import AccelTB
        from codesign.accel.sim import spec_from_env

        spec = spec_from_env()
        m, k, n = json.loads(os.environ[SHAPE_ENV])
        tb = AccelTB(dut, spec)
        await tb.reset()
        rows = []
        for name, layer, packed in layers(spec, m, k, n):
            img = golden.layer_image(spec, layer, packed=packed, stream_out=False)
            await tb.load(img.beats)
            t0 = time.perf_counter()
            res = await tb.run()
            wall = time.perf_counter() - t0
            await tb.load(golden.readout_command(0, m, n))
            got = golden.decode_outputs(await tb.collect(m * n), m, n, layer.out_bits, layer.out_signed)
            rows.append({"name": name, "cycles": res.cycles, "perf_cycles": res.perf_cycles,
                         "predicted": img.expected.cycles, "exact": bool(np.array_equal(got, img.expected.outputs)),
                         "steps": packed.steps()[0], "wall_s": wall,
                         "macs": int(np.count_nonzero(layer.weights)) * m})
        Path(os.environ[OUT_ENV]).write_text(json.dumps(rows))


# ------------------------------------------------------------------ command line

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--cols", type=int, default=8)
    parser.add_argument("--weight-bits", type=int, default=8)
    parser.add_argument("--act-bits", type=int, default=8)
    parser.add_argument("--m", type=int, default=256)
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--n", type=int, default=64)
    args = parser.parse_args(argv)

    from codesign.accel.sim import run_top

    nt, kg = -(-args.n // args.cols), -(-args.k // 4)

    def depth(words: int) -> int:
        return 1 << max(1, (words - 1).bit_length())

    spec = AccelSpec(rows=args.rows, cols=args.cols, weight_bits=args.weight_bits, act_bits=args.act_bits,
                     acc_bits=32, sparse_m=4, amem_depth=depth(args.m * kg), wmem_depth=depth(nt * (args.k + 1)),
                     bmem_depth=depth(nt), omem_depth=depth(args.m * nt))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        t0 = time.perf_counter()
        run_top(spec, "bench_accel", Path(__file__).resolve().parent, ROOT / "sim_build" / "bench",
                extra_env={OUT_ENV: str(out), SHAPE_ENV: json.dumps([args.m, args.k, args.n])})
        total = time.perf_counter() - t0
        rows = json.loads(out.read_text())

    pes = spec.rows * spec.cols
    dense_cycles = rows[0]["cycles"]
    shape = f"{args.m}x{args.k}x{args.n}"
    print(f"Accelerator {spec.rows}x{spec.cols} int{spec.weight_bits}/int{spec.act_bits}, SPARSE_M=4, "
          f"GEMM M x K x N = {shape}, Verilator {total:.0f} s wall including build\n")
    print("| layer | weight steps / column tile | cycles (measured) | cycles (reference model) | exact | "
          "PE utilization (useful MACs) | speedup vs dense | Verilator cycles/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        util = r["macs"] / (r["cycles"] * pes)
        print(f"| {r['name']} | {r['steps']} | {r['cycles']} | {r['predicted']} | {'yes' if r['exact'] else 'NO'} | "
              f"{100 * util:.2f}% | {dense_cycles / r['cycles']:.3f}x | {r['cycles'] / r['wall_s']:,.0f} |")
    ok = all(r["exact"] and r["cycles"] == r["predicted"] == r["perf_cycles"] for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
