"""The ``codesign`` command; its subcommands mirror the Python API in ``codesign.flow``."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import warnings
from pathlib import Path

from codesign.errors import CodesignError


class _Parser(argparse.ArgumentParser):
    """Options are taken only as spelled in full (``--data`` is not a prefix of ``--dataset``)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def _run_config(args: argparse.Namespace):
    """The run config: ``--config`` (else the data set's default), then every flag given on the command line."""
    from codesign import config

    cfg = config.load(args.config) if args.config else config.default_config(args.dataset or "digits")
    return _overrides(args, cfg)


def _overrides(args: argparse.Namespace, cfg):
    """``cfg`` with each field the command line names replaced; the result is validated."""
    from codesign import config
    from codesign.fixedpoint import parse_hls_type

    replace = dataclasses.replace
    if args.dataset is not None and args.dataset != cfg.dataset.name:
        config.default_config(args.dataset)  # an unknown name fails here, naming the allowed ones
        cfg = replace(cfg, dataset=replace(cfg.dataset, name=args.dataset, path=None))  # another data set's file does not carry over
    if getattr(args, "data", None) is not None:
        cfg = replace(cfg, dataset=replace(cfg.dataset, path=args.data))
    if getattr(args, "input_type", None) is not None:
        t = parse_hls_type(args.input_type)
        cfg = replace(cfg, input=config.InputConfig(t.width, t.integer, t.signed))
    if getattr(args, "epochs", None) is not None:
        cfg = replace(cfg, train=replace(cfg.train, epochs=args.epochs))
    if getattr(args, "name", None) is not None:
        cfg = replace(cfg, name=args.name)
    hls = {key: getattr(args, key) for key in ("io_type", "strategy", "reuse_factor", "backend")
           if getattr(args, key, None) is not None}
    return config.validate(replace(cfg, hls=replace(cfg.hls, **hls), rtl=_rtl_options(args, cfg.rtl)))


def _rtl_options(args: argparse.Namespace, rtl):
    """The run config's rtl section with the command line's overrides."""
    flags = {"rows": "rows", "cols": "cols", "samples": "rtl_samples", "simulator": "simulator"}
    changes = {key: getattr(args, flag) for key, flag in flags.items() if getattr(args, flag, None) is not None}
    for key, flag, value in (("enabled", "no_rtl", False), ("sparse", "dense", False), ("synth", "no_synth", False), ("place_route", "pnr", True), ("unrolled", "unrolled", True)):
        if getattr(args, flag, False):
            changes[key] = value
    return dataclasses.replace(rtl, **changes)


def _accuracy(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _out_dir(args: argparse.Namespace, name: str) -> Path:
    return Path(args.out) if args.out else Path("runs") / name


def cmd_flow(args: argparse.Namespace) -> int:
    from codesign import flow

    cfg = _run_config(args)
    out = _out_dir(args, cfg.name)
    rep = flow.run_flow(cfg, out, Path(args.hls_dir), progress=not args.quiet, verbose=args.verbose)
    e = rep["exactness"]["qkeras_vs_hls4ml"]
    print(f"{cfg.name}: accuracy float {_accuracy(rep['accuracy']['float'])}, QKeras {rep['accuracy']['qkeras']:.4f}, "
          f"hls4ml C-sim {rep['accuracy']['hls4ml_csim']:.4f}; sparsity {rep['totals']['sparsity']:.1%}; "
          f"QKeras vs hls4ml: {e['mismatched']} of {e['samples']} samples differ")
    if "rtl" in rep:
        _print_rtl(rep)
    print(f"report: {out / 'report.json'} and {out / 'report.md'}; HLS project: {rep['hls_project']}")
    return 0


def _print_rtl(rep: dict) -> None:
    r, e = rep["rtl"], rep["exactness"]
    a = r["array"]
    print(f"accelerator {a['rows']}x{a['cols']} RTL ({r['simulator']}): accuracy {rep['accuracy']['rtl']:.4f}; "
          f"QKeras vs RTL: {e['qkeras_vs_rtl']['mismatched']} of {e['qkeras_vs_rtl']['samples']} differ, "
          f"hls4ml vs RTL: {e['hls4ml_vs_rtl']['mismatched']}; cycles per inference {r['cycles_per_inference']} "
          f"(predicted {r['cycles_predicted']})")
    ecp5 = r.get("resources", {}).get("ecp5")
    if ecp5:
        fmax = f", Fmax {ecp5['fmax_mhz']:.1f} MHz" if ecp5.get("fmax_mhz") else ""
        print(f"ECP5 ({ecp5['source']}): {ecp5['lut']} LUT, {ecp5['ff']} FF, {ecp5['dsp']} DSP, {ecp5['bram']} BRAM{fmax}")


def cmd_train(args: argparse.Namespace) -> int:
    from codesign import flow

    cfg = _run_config(args)
    out = _out_dir(args, cfg.name)
    summary = flow.run_train(cfg, out, progress=not args.quiet, verbose=args.verbose)
    print(f"{cfg.name}: accuracy float {_accuracy(summary['float'])}, QKeras {summary['qkeras']:.4f}; model: {out / 'model.h5'}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from codesign import config, flow

    if args.config:
        cfg = config.load(args.config)
    else:
        cfg = flow.config_for_model(Path(args.model), args.dataset, None, None)
    cfg = _overrides(args, cfg)
    out = _out_dir(args, cfg.name)
    rep = flow.run_convert(Path(args.model), cfg, out, Path(args.hls_dir), weights=args.weights, allow_custom=args.allow_custom_layers,
                           progress=not args.quiet, verbose=args.verbose)
    e = rep["exactness"]["qkeras_vs_hls4ml"]
    print(f"{cfg.name}: hls4ml C-sim accuracy {rep['accuracy']['hls4ml_csim']:.4f}; QKeras vs hls4ml: {e['mismatched']} of {e['samples']} samples differ")
    print(f"report: {out / 'report.json'}; HLS project: {rep['hls_project']}")
    return 0


def cmd_rtl_sim(args: argparse.Namespace) -> int:
    from codesign import config, flow

    config_file = Path(args.run) / "config.yaml"
    base = config.load(config_file).rtl if config_file.is_file() else config.RtlConfig()
    rep = flow.rtl_stage(Path(args.run), _rtl_options(args, base), progress=not args.quiet, verbose=args.verbose)
    _print_rtl(rep)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from codesign import config

    print(config.dump(config.default_config(args.dataset)), end="")
    return 0


def _common(p: argparse.ArgumentParser, *, training: bool) -> None:
    """The flags of flow, train and convert; each one given overrides its field of --config."""
    p.add_argument("--dataset", help="digits (default), fashion-mnist or jets (dataset.name)")
    p.add_argument("--data", "--data-path", dest="data", metavar="PATH",
                   help="local data (dataset.path): the jets parquet/CSV file or the fashion-mnist IDX directory")
    p.add_argument("--config", help="run config YAML (see `codesign config`)")
    p.add_argument("--out", help="run directory (default runs/NAME)")
    p.add_argument("--name", help="run name (default: from the config)")
    p.add_argument("--input-type", help="input fixed-point type, e.g. 'ufixed<8,1>' or 'fixed<16,6>' (input)")
    _output_flags(p)
    if training:
        p.add_argument("--epochs", type=int, help="override train.epochs")


def _output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--verbose", action="store_true", help="show the tools' output (TensorFlow, hls4ml, g++, Verilator, cocotb) live instead of in RUN/logs/")


def _array_flags(p: argparse.ArgumentParser) -> None:
    """Overrides of the run config's rtl section (see `codesign config`)."""
    p.add_argument("--rows", type=int, help="array rows (default 8)")
    p.add_argument("--cols", type=int, help="array columns (default 8)")
    p.add_argument("--dense", action="store_true", help="a dense-only build (no N:M support)")
    p.add_argument("--simulator", choices=("verilator", "icarus"))
    p.add_argument("--no-synth", action="store_true", help="skip the Yosys resource counts")
    p.add_argument("--pnr", action="store_true", help="also place and route with nextpnr for ECP5 Fmax (minutes)")
    p.add_argument("--unrolled", action="store_true", help="also run the fully unrolled Verilog (da4ml) in Verilator and check it bit for bit")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="codesign", description="Open hardware co-design flow for quantized, pruned neural networks.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    flow_p = sub.add_parser("flow", help="train -> hls4ml convert -> C-sim bit-exactness check -> report")
    _common(flow_p, training=True)
    flow_p.add_argument("--hls-dir", default="hls_projects", help="where HLS projects go (default hls_projects)")
    flow_p.add_argument("--no-rtl", action="store_true", help="skip the accelerator RTL stage")
    flow_p.add_argument("--rtl-samples", type=int, help="first N test samples through the RTL (default: all)")
    _array_flags(flow_p)
    flow_p.set_defaults(func=cmd_flow)

    train_p = sub.add_parser("train", help="quantization-aware training with pruning; saves model.h5")
    _common(train_p, training=True)
    train_p.set_defaults(func=cmd_train)

    convert_p = sub.add_parser("convert", help="convert a saved QKeras model with hls4ml and check it bit-exactly")
    _common(convert_p, training=False)
    convert_p.add_argument("--model", required=True, help="model .h5, or architecture .json (with --weights)")
    convert_p.add_argument("--weights", help="weights .h5 for an architecture .json")
    convert_p.add_argument("--hls-dir", default="hls_projects", help="where HLS projects go (default hls_projects)")
    convert_p.add_argument("--io-type", choices=("io_parallel", "io_stream"))
    convert_p.add_argument("--strategy", choices=("Latency", "Resource"))
    convert_p.add_argument("--reuse-factor", type=int)
    convert_p.add_argument("--backend", choices=("Vitis", "Vivado"))
    convert_p.add_argument("--allow-custom-layers", action="store_true", help="load layers outside the supported set (runs their code: only for models you trust)")
    convert_p.set_defaults(func=cmd_convert)

    rtl_p = sub.add_parser("rtl-sim", help="run a finished run's test split through the accelerator RTL (Verilator) and add it to the report")
    rtl_p.add_argument("--run", required=True, help="run directory (from codesign flow or convert)")
    rtl_p.add_argument("--samples", dest="rtl_samples", type=int, help="first N test samples (default: the run config's rtl.samples, else all)")
    _output_flags(rtl_p)
    _array_flags(rtl_p)
    rtl_p.set_defaults(func=cmd_rtl_sim)

    config_p = sub.add_parser("config", help="print the default run config for a data set as YAML")
    config_p.add_argument("--dataset", default="digits")
    config_p.set_defaults(func=cmd_config)

    from codesign import html_report

    html_report.register_cli(sub)

    from codesign import synth
    from codesign.estimate import cli as estimate_cli

    from codesign.select import cli as select_cli
    from codesign.sweep import cli as sweep_cli

    synth.register_cli(sub)
    estimate_cli.register_cli(sub, _common)
    select_cli.register_cli(sub, _common)
    sweep_cli.register_cli(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Keras warns when serializing QKeras quantizers; the flow checks the round trip itself.
    warnings.filterwarnings("ignore", message=r".*keras\.constraints\.serialize")
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except CodesignError as err:
        print(f"codesign: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("codesign: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
