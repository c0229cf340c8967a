"""``codesign estimate`` (the cost tables of a run or a run config) and ``codesign calibrate`` (regenerate
a target's committed calibration data)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from codesign.errors import CodesignError
from codesign.estimate import TARGETS, check_target
from codesign.estimate.design import FAMILIES

# `codesign calibrate` without --target: the refit on public reports first, then the Yosys grids.
CALIBRATION_ORDER = ("hls4ml", "unrolled", "accel")


def _targets(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"give one or more of {', '.join(TARGETS)}, comma-separated")
    return names


def _run_nodes(run: Path):
    """The run's config, nodes and accelerator array: nodes.npz when the flow wrote it, else the model."""
    from codesign import config
    from codesign.estimate import network

    if not (run / "config.yaml").is_file():
        raise CodesignError(f"{run}: not a run directory (no config.yaml); run `codesign flow` or `codesign convert` first")
    cfg = config.load(run / "config.yaml")
    if (run / network.NODES_FILE).is_file():
        nodes = network.load_nodes(run / network.NODES_FILE)
    elif (run / "model.h5").is_file():
        from codesign import analysis, models

        nodes = analysis.describe(models.load(run / "model.h5"), cfg.input.type)
    else:
        raise CodesignError(f"{run}: holds neither {network.NODES_FILE} nor model.h5; run `codesign train` or `codesign flow` first")
    spec = None
    report = run / "report.json"
    if report.is_file():
        array = json.loads(report.read_text()).get("rtl", {}).get("array")
        if array:
            from codesign.accel.spec import AccelSpec

            spec = AccelSpec(**array)
    return cfg, nodes, spec


def cmd_estimate(args: argparse.Namespace) -> int:
    from codesign.estimate import design, network

    targets = [check_target(t) for t in args.target]
    if args.run and (args.config or args.dataset):
        raise CodesignError("give either --run or --config/--dataset, not both")
    from codesign.cli import _overrides, _run_config

    if args.run:
        cfg, nodes, spec = _run_nodes(Path(args.run))
        cfg = _overrides(args, cfg)
        if args.rows or args.cols or args.dense:
            spec = None  # the array the flags name, not the one the run was simulated on
        what = f"run {args.run}"
    else:
        cfg, spec = _run_config(args), None
        nodes = network.nodes_from_config(cfg, seed=args.seed)
        what = f"config {args.config or cfg.name} (synthetic weights at the configured sparsity, seed {args.seed})"
    start = time.perf_counter()
    estimates = design.estimate_design(nodes, cfg, targets, family=args.family, accel_spec=spec,
                                       vitis_report=Path(args.vitis_report) if args.vitis_report else None)
    seconds = time.perf_counter() - start
    section = design.to_report(estimates)
    if args.json:
        print(json.dumps(section, indent=2))
    else:
        print(f"# Estimated cost of {cfg.name}: {what}\n")
        print(design.tables(section))
        print(f"{len(estimates)} target(s) estimated in {seconds * 1000:.1f} ms; every number is an estimate unless its source says otherwise.")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    import importlib

    if args.out and not args.target:
        raise CodesignError("--out names one data file: give --target too")
    for target in [args.target] if args.target else CALIBRATION_ORDER:
        module = importlib.import_module(f"codesign.estimate.{check_target(target)}")
        path = module.calibrate(out=Path(args.out) if args.out else None, jobs=args.jobs, progress=not args.quiet)
        print(f"{target}: calibration data written to {path}")
    return 0


def _jobs(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"--jobs {text}: need at least 1")
    return value


def register_cli(sub: argparse._SubParsersAction, common) -> None:
    """``common(p, training=False)`` adds the run-config flags the other subcommands take."""
    p = sub.add_parser("estimate", help="estimated LUT, FF, DSP, BRAM, cycles and Fmax of a run or a run config, per target and layer")
    p.add_argument("--run", help="a run directory (its model's real weights); else --config or --dataset")
    common(p, training=False)
    p.add_argument("--target", type=_targets, default=TARGETS, help=f"comma-separated targets (default all: {','.join(TARGETS)})")
    p.add_argument("--family", choices=FAMILIES, default="ecp5", help="FPGA family of the accel and unrolled resources (default ecp5)")
    p.add_argument("--vitis-report", help="a Vivado/Vitis HLS csynth.xml of this design, shown beside the hls4ml estimate")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic weights of a run config (default 0)")
    p.add_argument("--json", action="store_true", help="print the report.json estimate section instead of tables")
    p.add_argument("--io-type", choices=("io_parallel", "io_stream"))
    p.add_argument("--strategy", choices=("Latency", "Resource"))
    p.add_argument("--reuse-factor", type=int)
    p.add_argument("--rows", type=int, help="accelerator array rows (default: the run config's rtl.rows)")
    p.add_argument("--cols", type=int, help="accelerator array columns (default: the run config's rtl.cols)")
    p.add_argument("--dense", action="store_true", help="a dense-only accelerator build (no N:M support)")
    p.set_defaults(func=cmd_estimate)

    c = sub.add_parser("calibrate", help="regenerate a target's calibration data (runs Yosys / nextpnr, or refits on public reports)")
    c.add_argument("--target", choices=TARGETS, help="one target (default: every target, quickest first: about 80 minutes on 2 cores)")
    c.add_argument("--jobs", type=_jobs, default=1, help="parallel tool runs (default 1)")
    c.add_argument("--out", help="write the data here instead of the committed file")
    c.add_argument("--quiet", action="store_true", help="no progress output")
    c.set_defaults(func=cmd_calibrate)
