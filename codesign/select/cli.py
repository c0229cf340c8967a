"""``codesign select``: per-layer bit-widths and sparsity under a hardware budget (see ``codesign.select``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from codesign.select.space import DEFAULT_COST, FLAGS, SPARSITIES, SearchSpace, parse_bits, parse_sparsity


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def cmd_select(args: argparse.Namespace) -> int:
    from codesign.cli import _run_config
    from codesign.select import SelectOptions, run_select

    cfg = _run_config(args)
    space = SearchSpace(parse_bits(args.weight_bits, "--weight-bits"), parse_bits(args.act_bits, "--act-bits"),
                        tuple(dict.fromkeys(parse_sparsity(s) for s in args.sparsity.split(","))))
    options = SelectOptions(
        target=args.target, budgets={name: getattr(args, flag[2:].replace("-", "_")) for name, flag in FLAGS.items()},
        cost=args.cost, min_accuracy=args.min_accuracy, space=space, family=args.family, seed=args.seed,
        finetune_epochs=args.finetune_epochs, candidates=args.candidates, front_points=args.front_points,
        eval_seeds=args.eval_seeds, flow=not args.no_flow,
    )
    out = Path(args.out) if args.out else Path("runs") / f"{cfg.name}-select"
    result = run_select(cfg, options, out, Path(args.hls_dir), progress=not args.quiet, verbose=args.verbose)
    chosen = result["chosen"]
    base = result["baseline"]
    ratio = f", 1/{base['cost'] / chosen['trained_cost']:.1f} of the ap_fixed<16,6> baseline" if base.get("cost") else ""
    seeds = chosen["test_accuracy_seeds"]
    print(f"{cfg.name}: chose [{chosen['key']}] on {options.target}: {result['cost_metric']} {chosen['trained_cost']:,.0f}{ratio}; "
          f"test accuracy {seeds['mean']:.4f} ± {seeds['std']:.4f} over {len(seeds['seeds'])} seed(s) "
          f"(baseline {base['test_accuracy_seeds']['mean']:.4f}); {result['status']}; report {out / 'report.md'}")
    return 0 if result["status"] == "chosen" else 2


def register_cli(sub: argparse._SubParsersAction, common) -> None:
    p = sub.add_parser("select", help="choose each layer's bit-widths and sparsity under a LUT/FF/DSP/BRAM/latency budget, then build and check the design")
    common(p, training=True)
    p.add_argument("--hls-dir", default="hls_projects", help="where the chosen design's HLS project goes (default hls_projects)")
    p.add_argument("--target", choices=("hls4ml", "unrolled", "accel"), default="hls4ml", help="the target whose cost model drives the search (default hls4ml)")
    for name, flag in FLAGS.items():
        p.add_argument(flag, type=_number, metavar="N", help=f"budget on the target's estimated {name.replace('_', ' ')}")
    p.add_argument("--cost", default=DEFAULT_COST, help=f"the cost figure of the front and of --min-accuracy, a weighted sum of resources or bops (default {DEFAULT_COST})")
    p.add_argument("--min-accuracy", type=_number, help="instead of (or beside) a budget: the cheapest design whose validation accuracy reaches this fraction")
    p.add_argument("--weight-bits", default="2,3,4,5,6,8", help="weight bit-width choices (default 2,3,4,5,6,8)")
    p.add_argument("--act-bits", default="2,3,4,5,6,8", help="activation bit-width choices (default 2,3,4,5,6,8)")
    p.add_argument("--sparsity", default=",".join(SPARSITIES), help=f"sparsity choices: fractions and N:M (default {','.join(SPARSITIES)}; e.g. add 2:4)")
    p.add_argument("--family", choices=("ecp5", "xc7"), default="ecp5", help="FPGA family of the accel and unrolled costs (default ecp5)")
    p.add_argument("--rows", type=int, help="accelerator array rows for --target accel (default: the run config's rtl.rows)")
    p.add_argument("--cols", type=int, help="accelerator array columns for --target accel (default: the run config's rtl.cols)")
    p.add_argument("--dense", action="store_true", help="a dense-only accelerator build (no N:M support)")
    p.add_argument("--seed", type=int, default=0, help="seed of the checkpoint, the fine-tunes and the first final training (default 0)")
    p.add_argument("--finetune-epochs", type=int, default=10, help="epochs of each candidate's fine-tune (default 10)")
    p.add_argument("--candidates", type=int, default=4, help="best designs under the budget to fine-tune (default 4)")
    p.add_argument("--front-points", type=int, default=8, help="designs along the front to fine-tune (default 8)")
    p.add_argument("--eval-seeds", type=int, default=5, help="seeds of the final trainings of the chosen design and the baseline (default 5)")
    p.add_argument("--no-flow", action="store_true", help="choose only: do not build, check and synthesize the chosen design")
    p.set_defaults(func=cmd_select)
