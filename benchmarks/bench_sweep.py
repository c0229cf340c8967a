"""Sweep scaling: the same 12-trial digits sweep on a 1-worker and on a 2-worker local cluster, side by side.

    .venv/bin/python benchmarks/bench_sweep.py [--spec configs/sweep-digits.yaml] [--workers 1,2] [--out build/bench_sweep]

The sweep is ``--spec`` (default configs/sweep-digits.yaml: 12 trials of train, estimate, hls4ml
convert and C-sim check). Each run is a fresh sweep in its own database (trials are keyed by their config, so a shared
database would answer the second run from the first). The wall time counts from the driver's start
to its last record, cluster start-up included. Prints one Markdown row per worker count: wall time,
trials done and failed, the median trial time, and the speedup over the first row.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codesign.sweep import SweepOptions, run_sweep, spec as sweep_spec  # noqa: E402
from codesign.sweep.db import Store  # noqa: E402



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "configs" / "sweep-digits.yaml"), help="the sweep (default configs/sweep-digits.yaml)")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, the first is the reference (default 1,2)")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench_sweep"), help="scratch directory (emptied first)")
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    rows = []
    for workers in counts:
        spec = dataclasses.replace(sweep_spec.load(args.spec), name=f"bench-{workers}w")
        start = time.monotonic()
        result = run_sweep(spec, SweepOptions(out / spec.name, workers=workers, quiet=True))
        wall = time.monotonic() - start
        seconds = [r.seconds for r in Store(result["database"]).trials(spec.name) if r.seconds]
        rows.append((workers, wall, result, statistics.median(seconds)))
        print(f"{workers} worker(s): {wall:.1f} s, {result['done']} done, {result['failed']} failed", file=sys.stderr, flush=True)
    print(f"\n{args.spec}: {spec.grid_size} trials ({spec.method}), stages {', '.join(spec.stages)}\n")
    print("| workers | wall s | done | failed | median trial s | speedup |")
    print("|---|---|---|---|---|---|")
    for workers, wall, result, median in rows:
        print(f"| {workers} | {wall:.1f} | {result['done']} | {result['failed']} | {median:.1f} | {rows[0][1] / wall:.2f}x |")
    return 0 if all(r[2]["failed"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
