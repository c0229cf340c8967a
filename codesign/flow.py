"""A run's stages in order: data -> train -> convert (hls4ml) -> C-simulation check -> accelerator RTL.

Each stage reads and writes the run directory, so the CLI, scripts and sweeps share one layout:

    runs/NAME/config.yaml    the validated run config
    runs/NAME/model.h5       the stripped, trained QKeras model
    runs/NAME/train.json     training accuracies, history and each pruned layer's sparsity per epoch (sparsity_steps)
    runs/NAME/report.json    the run's report (written last by each stage: it holds the stages that finished;
                             the RTL stage adds its `rtl` section)
    runs/NAME/report.md      the same, for people
    runs/NAME/rtl_build/     the accelerator's simulator build (or $CODESIGN_RTL_BUILDS/, shared by runs:
                             one build per array configuration); runs/NAME/synth/ its Yosys/nextpnr runs
    runs/NAME/logs/STAGE.log what the tools of a stage printed (TensorFlow, hls4ml and g++, Verilator and cocotb)
    hls_projects/NAME/       the hls4ml project
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from codesign import analysis, config as run_config, data, hls, reference, report
from codesign.config import RtlConfig, RunConfig
from codesign.errors import CodesignError
from codesign.fixedpoint import FixedType

REPORT_FILES = ("report.json", "report.md")


@dataclass(frozen=True)
class Inputs:
    """The data set's splits on the model's input grid, shaped as the model takes them."""

    dataset: data.Dataset
    x_train: np.ndarray
    x_val: np.ndarray
    x_test: np.ndarray


def put_on_grid(x: np.ndarray, input_type: FixedType, split: str) -> np.ndarray:
    """Round data to the input type's grid; refuse data the type cannot hold (it would wrap)."""
    codes = np.round(np.asarray(x, dtype=np.float64) * 2.0**input_type.frac)
    if codes.size and (codes.min() < input_type.min_code or codes.max() > input_type.max_code):
        raise CodesignError(
            f"input: the {split} data spans [{x.min():g}, {x.max():g}] but the input type {input_type} holds "
            f"[{input_type.min_value:g}, {input_type.max_value:g}]; raise input.integer (or input.signed) to cover the data"
        )
    return codes * input_type.lsb


def load_inputs(cfg: RunConfig, model_input_shape: tuple[int, ...] | None = None) -> Inputs:
    d = cfg.dataset
    ds = data.load(d.name, path=d.path, seed=d.seed, test_fraction=d.test_fraction, val_fraction=d.val_fraction,
                   max_train=d.max_train, max_test=d.max_test)
    if model_input_shape is None:
        from codesign.models import model_input_shape as shape_for

        model_input_shape = shape_for(cfg, ds.input_shape)
    if int(np.prod(model_input_shape)) != int(np.prod(ds.input_shape)):
        raise CodesignError(f"the model takes inputs of shape {model_input_shape} but data set {d.name} gives {ds.input_shape}")
    shaped = lambda split, name: put_on_grid(split.x, cfg.input.type, name).reshape((len(split.x), *model_input_shape))  # noqa: E731
    return Inputs(ds, shaped(ds.train, "training"), shaped(ds.val, "validation"), shaped(ds.test, "test"))


# The console while a stage's tool output goes to its log (see ``stage_log``); unset, it is sys.stderr.
_CONSOLE: contextvars.ContextVar = contextvars.ContextVar("codesign_console", default=None)


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"[codesign] {message}", file=_CONSOLE.get() or sys.stderr, flush=True)


def _one_line(err: BaseException, limit: int = 300) -> str:
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else ""
    return text if len(text) <= limit else text[:limit] + "..."


@contextlib.contextmanager
def tool_output(path: str | Path, *, verbose: bool = False):
    """Redirect file descriptors 1 and 2 to ``path``, so Python's streams, C++ libraries (TensorFlow's
    logs) and subprocesses (g++, Verilator, cocotb) all write there; ``_say`` keeps the console.
    ``verbose``: no redirection, the tools print live."""
    if verbose:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(saved[1]), "w", buffering=1)
    with open(path, "wb") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
    token = _CONSOLE.set(console)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        _CONSOLE.reset(token)
        console.close()


@contextlib.contextmanager
def stage_log(out_dir: Path, stage: str, *, verbose: bool = False):
    """A stage's tool output goes to ``out_dir/logs/<stage>.log`` (see ``tool_output``). An error leaving
    the stage names the log; any other exception becomes a CodesignError, its traceback in the log."""
    log = Path(out_dir) / "logs" / f"{stage}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    where = "" if verbose else f" (tool log: {log})"
    with tool_output(log, verbose=verbose):
        try:
            yield log
        except CodesignError as err:
            raise CodesignError(f"{err}{where}") from err
        except Exception as err:
            traceback.print_exc()
            raise CodesignError(f"{stage} stage failed: {type(err).__name__}: {_one_line(err)}{where}") from err


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _start_run(out_dir: Path) -> Path:
    """Make the run directory; a stale report from an earlier run goes first, so a failure never looks finished."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in REPORT_FILES:
        (out_dir / name).unlink(missing_ok=True)
    return out_dir


def train_stage(cfg: RunConfig, out_dir: Path, inputs: Inputs, *, progress: bool = True):
    """Train float baseline and quantized pruned model; save model.h5, config.yaml, train.json."""
    from codesign import models, train

    _say(progress, f"training {cfg.name} on {cfg.dataset.name} ({len(inputs.x_train)} training samples)")
    start = time.monotonic()
    ds = inputs.dataset
    result = train.train(cfg, inputs.x_train, ds.train.y, inputs.x_val, ds.val.y, inputs.x_test, ds.test.y, len(ds.classes), progress=progress)
    models.save(result.model, out_dir / "model.h5")
    _write_text(out_dir / "config.yaml", run_config.dump(cfg))
    summary = {"float": result.float_accuracy, "qkeras": result.qkeras_accuracy, "seconds": round(time.monotonic() - start, 1), "history": result.history,
               "sparsity_steps": result.sparsity_steps}
    _write_text(out_dir / "train.json", json.dumps(summary, indent=1))
    baseline = "none" if result.float_accuracy is None else f"{result.float_accuracy:.4f}"
    _say(progress, f"trained: QKeras accuracy {result.qkeras_accuracy:.4f} (float baseline {baseline})")
    return result.model, summary


def compare(reference: np.ndarray, other: np.ndarray) -> dict:
    """Bit-exactness of two executions' logits, sample by sample."""
    reference, other = np.asarray(reference, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if reference.shape != other.shape:
        raise CodesignError(f"cannot compare logits of shapes {reference.shape} and {other.shape}")
    differs = np.any(reference != other, axis=tuple(range(1, reference.ndim)))
    return {"samples": int(len(reference)), "mismatched": int(differs.sum()), "max_abs_diff": float(np.max(np.abs(reference - other))) if reference.size else 0.0}


def softmax_section(qkeras_logits: np.ndarray, hls4ml_softmax: np.ndarray, labels: np.ndarray) -> dict:
    """hls4ml's softmax (lookup tables: an approximation, never bit-exact) against QKeras' float32 softmax
    of the same logits: the largest difference of a probability, and how often both pick the same class."""
    import tensorflow as tf

    from codesign import train

    qkeras_softmax = tf.nn.softmax(tf.constant(qkeras_logits, tf.float32)).numpy().astype(np.float64)
    return {"samples": int(len(labels)), "max_abs_diff": float(np.max(np.abs(qkeras_softmax - hls4ml_softmax))),
            "same_top1": float(np.mean(qkeras_softmax.argmax(1) == hls4ml_softmax.argmax(1))),
            "hls4ml_accuracy": train.accuracy(hls4ml_softmax, labels)}


def convert_stage(cfg: RunConfig, model, out_dir: Path, inputs: Inputs, hls_root: Path, *, progress: bool = True, float_accuracy=None,
                  train_seconds=None, softmax_head: bool = False) -> dict:
    """hls4ml project + C simulation of the whole test split, compared with QKeras; writes the report.

    ``model`` gives logits; ``softmax_head``: the model it came from ends in a softmax, and the report
    sets hls4ml's softmax of the exact logits beside QKeras' (``softmax_section``)."""
    from codesign import train
    from codesign.estimate import design, network

    nodes = analysis.describe(model, cfg.input.type)
    project_dir = Path(hls_root) / cfg.name
    _say(progress, f"converting with hls4ml ({cfg.hls.backend}, {cfg.hls.io_type}, {cfg.hls.strategy}) into {project_dir}")
    start = time.monotonic()
    qkeras_logits = model.predict(inputs.x_test, verbose=0, batch_size=4096).astype(np.float64)
    result = hls.build_and_simulate(model, nodes, cfg.hls, project_dir, cfg.name, inputs.x_test)
    labels = inputs.dataset.test.y
    np.save(out_dir / "qkeras_logits.npy", qkeras_logits)
    np.save(out_dir / "hls4ml_logits.npy", result.logits)
    exactness = compare(qkeras_logits, result.logits)
    # The integer model the accelerator implements: a third opinion that says which side is wrong.
    reference_exactness = compare(qkeras_logits, reference.logits(nodes, inputs.x_test))
    _say(progress, f"C simulation of {exactness['samples']} test samples: {exactness['mismatched']} differ from QKeras")
    nm = {spec.name: spec.nm_pair for spec in cfg.layers if spec.nm_pair}
    rep = report.build(
        cfg=cfg,
        nodes=nodes,
        layers=analysis.layer_stats(nodes, nm),
        accuracy={"float": float_accuracy, "qkeras": train.accuracy(qkeras_logits, labels), "hls4ml_csim": train.accuracy(result.logits, labels)},
        exactness={"qkeras_vs_hls4ml": exactness, "qkeras_vs_reference": reference_exactness},
        hls_project=result.project_dir,
        seconds={"train": train_seconds, "convert_and_csim": round(time.monotonic() - start, 1), "csim": round(result.csim_seconds, 2)},
    )
    if softmax_head:
        rep["softmax"] = softmax_section(qkeras_logits, hls.softmax_csim(result.logits, nodes[-1].output_type, cfg.hls, hls_root), labels)
    network.save_nodes(nodes, out_dir / network.NODES_FILE)
    rep["estimate"] = design.report_section(nodes, cfg)
    report.write(out_dir, rep)
    if exactness["mismatched"] or reference_exactness["mismatched"]:
        raise CodesignError(
            f"exactness check failed: of {exactness['samples']} samples, hls4ml C simulation differs from QKeras on "
            f"{exactness['mismatched']} and the integer reference on {reference_exactness['mismatched']}; see {out_dir / 'report.md'}"
        )
    return rep


def run_flow(cfg: RunConfig, out_dir: Path, hls_root: Path = Path("hls_projects"), *, progress: bool = True, verbose: bool = False) -> dict:
    """train -> convert -> C-simulation check -> accelerator RTL (unless ``cfg.rtl.enabled`` is off) -> report.

    Each stage's tool output goes to ``out_dir/logs/<stage>.log`` (``verbose``: to the console)."""
    inputs = load_inputs(cfg)  # bad data or an input type too narrow fails here, before anything is written
    out_dir = _start_run(out_dir)
    with stage_log(out_dir, "train", verbose=verbose):
        model, summary = train_stage(cfg, out_dir, inputs, progress=progress)
    with stage_log(out_dir, "convert", verbose=verbose):
        rep = convert_stage(cfg, model, out_dir, inputs, hls_root, progress=progress, float_accuracy=summary["float"], train_seconds=summary["seconds"])
    return rtl_stage(out_dir, cfg.rtl, progress=progress, verbose=verbose) if cfg.rtl.enabled else rep


def run_train(cfg: RunConfig, out_dir: Path, *, progress: bool = True, verbose: bool = False) -> dict:
    inputs = load_inputs(cfg)
    out_dir = _start_run(out_dir)
    with stage_log(out_dir, "train", verbose=verbose):
        return train_stage(cfg, out_dir, inputs, progress=progress)[1]


def run_convert(model_path: Path, cfg: RunConfig, out_dir: Path, hls_root: Path = Path("hls_projects"), *,
                weights: Path | None = None, allow_custom: bool = False, progress: bool = True, verbose: bool = False) -> dict:
    """Convert and check a saved QKeras model (a run's model.h5, or one made elsewhere)."""
    from codesign import models

    with tool_output(os.devnull, verbose=verbose):  # TensorFlow's import logs, before the run directory exists
        loaded = models.load(model_path, weights, allow_custom=allow_custom)
        model = models.logits_model(loaded)
    hls.hls_config(analysis.describe(model, cfg.input.type), cfg.hls)  # unsupported layers, quantizers and settings fail before any write
    inputs = load_inputs(cfg, tuple(int(d) for d in model.input_shape[1:]))
    if model.output_shape[-1] != len(inputs.dataset.classes):
        raise CodesignError(f"the model gives {model.output_shape[-1]} outputs but data set {cfg.dataset.name} has {len(inputs.dataset.classes)} classes")
    out_dir = _start_run(out_dir)
    with stage_log(out_dir, "convert", verbose=verbose):
        return _convert_saved(model, model_path, cfg, out_dir, inputs, hls_root, progress, softmax_head=model is not loaded)


def _convert_saved(model, model_path: Path, cfg: RunConfig, out_dir: Path, inputs: Inputs, hls_root: Path, progress: bool,
                   softmax_head: bool = False) -> dict:
    from codesign import models

    _write_text(out_dir / "config.yaml", run_config.dump(cfg))
    if Path(model_path).resolve() != (out_dir / "model.h5").resolve():
        models.save(model, out_dir / "model.h5")  # the run holds the model it checked (the RTL stage reads it)
    train_json = Path(model_path).parent / "train.json"
    float_accuracy = json.loads(train_json.read_text()).get("float") if train_json.is_file() else None
    return convert_stage(cfg, model, out_dir, inputs, hls_root, progress=progress, float_accuracy=float_accuracy, softmax_head=softmax_head)


def config_for_model(model_path: Path, dataset: str | None, input_type: str | None, name: str | None) -> RunConfig:
    """The run config of a saved model: its run's config.yaml when it has one, else built from the flags."""
    from codesign.fixedpoint import parse_hls_type

    beside = Path(model_path).parent / "config.yaml"
    cfg = run_config.load(beside) if beside.is_file() else run_config.default_config(dataset or "digits")
    if dataset is not None and dataset != cfg.dataset.name:
        cfg = replace(cfg, dataset=replace(cfg.dataset, name=dataset))
    if input_type is not None:
        t = parse_hls_type(input_type)
        cfg = replace(cfg, input=run_config.InputConfig(t.width, t.integer, t.signed))
    if name is not None:
        cfg = replace(cfg, name=name)
    elif not beside.is_file():
        cfg = replace(cfg, name=re.sub(r"[^A-Za-z0-9_.-]", "_", Path(model_path).stem).lstrip("._-") or "model")
    return run_config.validate(cfg)


class _Background:
    """A call in a daemon thread (an error in the foreground must not wait for it)."""

    def __init__(self, fn, *args, **kwargs) -> None:
        import threading

        self._value, self._error = None, None
        context = contextvars.copy_context()  # the caller's console (see tool_output)
        self._thread = threading.Thread(target=context.run, args=(self._run, fn, args, kwargs), daemon=True)
        self._thread.start()

    def _run(self, fn, args, kwargs) -> None:
        try:
            self._value = fn(*args, **kwargs)
        except BaseException as err:  # handed to the caller of result()
            self._error = err

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


RTL_BUILDS_ENV = "CODESIGN_RTL_BUILDS"


def rtl_build_root(out_dir: Path) -> Path:
    """Where the accelerator's simulator builds go: ``$CODESIGN_RTL_BUILDS`` when set (runs on the same
    array configuration reuse one build; builds of one configuration take turns under a file lock),
    else the run's own ``rtl_build/``."""
    shared = os.environ.get(RTL_BUILDS_ENV)
    return Path(shared) if shared else out_dir / "rtl_build"


def _start_synthesis(spec, out_dir: Path, options: RtlConfig, progress: bool) -> _Background:
    """Yosys (and nextpnr) of the array: the tools are subprocesses, so they overlap with the
    simulator's build and run instead of adding to them."""
    from codesign import synth

    _say(progress, "synthesizing the array with Yosys" + (" and placing it with nextpnr" if options.place_route else "") + " meanwhile")
    return _Background(synth.synthesize_accel, spec, out_dir, tuple(options.synth_targets), place_route=options.place_route, seeds=tuple(options.pnr_seeds),
                       timeout_s=options.pnr_timeout_s, progress=lambda line: _say(progress, line))


def rtl_stage(out_dir: Path, options: RtlConfig | None = None, *, progress: bool = True, verbose: bool = False) -> dict:
    """Run a finished run's test split through the accelerator RTL; add the results to its report.

    ``options`` default to the ``rtl`` section of the run's config. Verilator's and cocotb's output
    goes to ``out_dir/logs/rtl.log`` (``verbose``: to the console)."""
    out_dir = Path(out_dir)
    if not (out_dir / "report.json").is_file() or not (out_dir / "model.h5").is_file():
        raise CodesignError(f"{out_dir} is not a finished run (no report.json and model.h5); run `codesign flow` or `codesign convert` first")
    with stage_log(out_dir, "rtl", verbose=verbose):
        return _rtl_stage(out_dir, options, progress)


def _accel_estimate(nodes, cfg: RunConfig, spec, measured: dict | None) -> dict:
    """The accel estimate of the array that was built, with the ECP5 numbers measured on it beside it."""
    from codesign.estimate import Cost, design

    try:
        est = design.estimate_design(nodes, cfg, ["accel"], accel_spec=spec)["accel"]
    except CodesignError as err:
        return {"target": "accel", "error": str(err)}
    if measured:
        est.measured[measured["source"]] = Cost(f"ecp5 ({measured['source']})", measured["source"], measured.get("lut"),
                                                measured.get("ff"), measured.get("dsp"), measured.get("bram"),
                                                fmax_mhz=measured.get("fmax_mhz"))
    return est.to_dict()


def _unrolled_check(rep: dict, nodes, x: np.ndarray, qkeras_logits: np.ndarray, hls_logits: np.ndarray, out_dir: Path, progress: bool) -> None:
    """The fourth execution: the fully unrolled Verilog (da4ml) in Verilator, against QKeras and hls4ml."""
    from codesign import unrolled

    _say(progress, f"running {len(x)} test samples through the fully unrolled design (da4ml, Verilator)")
    design = unrolled.generate(nodes, out_dir / "unrolled")
    logits = unrolled.logits(design, x)
    np.save(out_dir / "unrolled_logits.npy", logits)
    rep["exactness"]["qkeras_vs_unrolled"] = compare(qkeras_logits, logits)
    rep["exactness"]["hls4ml_vs_unrolled"] = compare(hls_logits, logits)
    rep["unrolled"] = {"latency_cycles": design.latency_cycles, "ii": 1, "verilog": str(out_dir / "unrolled")}


def _rtl_stage(out_dir: Path, options: RtlConfig | None, progress: bool) -> dict:
    from codesign import models, train
    from codesign.accel import compiler, network

    report_file = out_dir / "report.json"
    rep = json.loads(report_file.read_text())
    cfg = run_config.load(out_dir / "config.yaml")
    options = run_config.validate_rtl(options or cfg.rtl)
    model = models.logits_model(models.load(out_dir / "model.h5"))
    nodes = analysis.describe(model, cfg.input.type)
    inputs = load_inputs(cfg, tuple(int(d) for d in model.input_shape[1:]))
    count = len(inputs.x_test) if options.samples is None else min(options.samples, len(inputs.x_test))
    x = inputs.x_test[:count]
    spec = compiler.spec_for(nodes, options)
    program = compiler.compile_model(nodes, spec)
    _, cycles_predicted = program.golden(cfg.input.type.to_codes(x[:1]))
    synthesis = _start_synthesis(spec, out_dir / "synth", options, progress) if options.synth else None
    _say(progress, f"running {count} test samples through the {spec.rows}x{spec.cols} accelerator RTL ({options.simulator})")
    run = network.run_program(program, cfg.input.type.to_codes(x), rtl_build_root(out_dir), simulator=options.simulator)
    rtl_logits = program.output_type.from_codes(run.outputs)
    np.save(out_dir / "rtl_logits.npy", rtl_logits)
    qkeras_logits = np.load(out_dir / "qkeras_logits.npy")[:count]
    hls_logits = np.load(out_dir / "hls4ml_logits.npy")[:count]
    rep["accuracy"]["rtl"] = train.accuracy(rtl_logits, inputs.dataset.test.y[:count])
    rep["exactness"]["qkeras_vs_rtl"] = compare(qkeras_logits, rtl_logits)
    rep["exactness"]["hls4ml_vs_rtl"] = compare(hls_logits, rtl_logits)
    rep["rtl"] = {
        "array": dict(spec.__dict__),
        "simulator": options.simulator,
        "sparse_layers": list(program.sparse_layers),
        "cycles_per_inference": run.cycles_per_inference,
        "cycles_predicted": cycles_predicted,
        "total_cycles": run.total_cycles,
        "sim_seconds": round(run.sim_seconds, 2),
        "sim_cycles_per_second": round(run.total_cycles / run.sim_seconds) if run.sim_seconds else None,
    }
    if synthesis:
        result = synthesis.result()
        rep["rtl"]["resources"] = {target: result[target] for target in options.synth_targets if target in result}
        rep["rtl"]["synth_status"] = result["status"]  # "incomplete": no placement finished, ECP5 numbers from Yosys
        if result["status"] != "complete":
            _say(progress, f"synthesis: {result.get('message', result['status'])}")
    if options.unrolled:
        _unrolled_check(rep, nodes, x, qkeras_logits, hls_logits, out_dir, progress)
    rep.setdefault("estimate", {})["accel"] = _accel_estimate(nodes, cfg, spec, rep["rtl"].get("resources", {}).get("ecp5"))
    report.write(out_dir, rep)
    mismatched = rep["exactness"]["qkeras_vs_rtl"]["mismatched"]
    unrolled_mismatched = rep["exactness"].get("qkeras_vs_unrolled", {}).get("mismatched", 0)
    if mismatched or unrolled_mismatched or run.cycles_per_inference != cycles_predicted:
        unrolled_note = f"; the unrolled design differs on {unrolled_mismatched}" if options.unrolled else ""
        raise CodesignError(
            f"RTL check failed: {mismatched} of {count} samples differ from QKeras{unrolled_note}; cycles per inference "
            f"measured {run.cycles_per_inference}, predicted {cycles_predicted}; see {out_dir / 'report.md'}"
        )
    return rep
