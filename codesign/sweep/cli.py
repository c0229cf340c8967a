"""``codesign sweep SPEC.yaml``: a design-space sweep on Dask (see ``codesign.sweep``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"{value} workers: allowed 1..256")
    return value


def cmd_sweep(args: argparse.Namespace) -> int:
    from codesign.errors import CodesignError
    from codesign.sweep import SweepOptions, run_sweep, spec as sweep_spec

    spec = sweep_spec.load(args.spec)
    if args.workers and args.scheduler:
        raise CodesignError("--workers sizes the local cluster; with --scheduler the cluster has its own workers: give one of them")
    out = Path(args.out) if args.out else Path("runs") / "sweeps" / spec.name
    result = run_sweep(spec, SweepOptions(out, args.db, args.workers, args.scheduler, args.resume, args.quiet))
    print(f"{spec.name}: {result['done']} done, {result['failed']} failed of {result['total']} trials in {result['seconds']} s; "
          f"database {result['database']}")
    return 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a design-space sweep (grid, random or NSGA-II) on Dask; every trial goes into a database")
    p.add_argument("spec", help="the sweep spec (YAML): base config, parameters and their values, stages, search")
    p.add_argument("--out", help="where trial run directories go (default runs/sweeps/NAME)")
    p.add_argument("--db", help="SQLite file or postgresql:// URL (default OUT/sweep.db)")
    p.add_argument("--workers", type=_workers, help="worker processes of the local cluster (default: one per core)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler (e.g. tcp://host:8786) instead of a local cluster")
    p.add_argument("--resume", action="store_true", help="continue a sweep of this name in the database: redo only its unfinished trials")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    p.set_defaults(func=cmd_sweep)
