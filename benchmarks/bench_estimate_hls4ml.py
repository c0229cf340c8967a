"""The hls4ml cost model against the public synthesis reports it was not fitted on, beside rule4ml 0.2.0.

    .venv/bin/python benchmarks/bench_estimate_hls4ml.py [--data DIR] [--no-rule4ml] [--out FILE]

Scores, per resource (LUT, FF, DSP, BRAM18, worst-case latency in cycles, II), the committed model
(``codesign/estimate/data/hls4ml_model.json``) on the held-out architectures of the wa-hls4ml pilot
(its Resource and Latency sets), and rule4ml 0.2.0 on the same rows; then the hls4ml 1.3.0 CI
baselines the model covers, a 5-fold cross-validation over every architecture, and the time of one
estimate of a 3-layer MLP. Labels are Vivado HLS csynth estimates, not place-and-route numbers.

rule4ml is GPL-3.0: it runs only as a tool, in its own virtual environment (``build/rule4ml-venv``,
created on first use with ``python3 -m venv``: rule4ml==0.2.0, tensorflow>=2.15, torch==2.13.0 from
the CPU wheel pip finds on this machine), fed equivalent Keras models by a small script in
``build/``; none of its code is imported here. If it cannot be installed or run, the table says why
and shows ours alone.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from codesign.estimate import hls4ml  # noqa: E402

VENV = Path(os.environ.get("RULE4ML_VENV", REPO / "build" / "rule4ml-venv"))
RUNNER = VENV.parent / "rule4ml_runner.py"
RESOURCES = ("lut", "ff", "dsp", "bram", "latency_cycles", "ii")
NAMES = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "bram": "BRAM18", "latency_cycles": "cycles", "ii": "II"}
PUBLISHED_RULE4ML = {"lut": 14.4, "ff": 15.3, "dsp": 103, "bram": 52, "latency_cycles": 13.7, "ii": None}
WA_SURROGATES = {"lut": 2.9, "ff": 2.9, "dsp": 10.8, "bram": 14.1, "latency_cycles": 10.1, "ii": 13.4}
RULE4ML_KEYS = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "bram": "BRAM", "latency_cycles": "CYCLES", "ii": "INTERVAL"}

# The script run inside rule4ml's own environment: one plain Keras Dense model per architecture (the
# pilot's QDense without its quantizers; rule4ml reads the precision from the configuration), every
# (strategy, precision, reuse factor) of that architecture's rows, hls4ml 0.8.1 and Vivado 2020.1 on
# the Alveo U250 (xcu250, the pilot's part). Reads designs as JSON on stdin, writes predictions.
RUNNER_SOURCE = '''
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
from keras.layers import Dense, Input
from rule4ml.models.wrappers import MultiModelWrapper

designs = json.load(sys.stdin)
estimator = MultiModelWrapper()
estimator.load_default_models()
by_arch = {}
for d in designs:
    by_arch.setdefault((d["d_in"], d["d_out"]), []).append(d)
out = {}
for (d_in, d_out), rows in sorted(by_arch.items()):
    inputs = Input(shape=(d_in,))
    model = keras.Model(inputs, Dense(d_out)(inputs), name=f"dense_{d_in}_{d_out}")
    model.build((None, d_in))
    configs, keys = [], []
    for d in rows:
        key = (d["strategy"], d["precision"], d["rf"])
        if key not in keys:
            keys.append(key)
            configs.append({"board": "alveo-u250", "model": {"strategy": d["strategy"], "precision": d["precision"], "reuse_factor": d["rf"]}})
    df = estimator.predict(model, hls_configs=configs, hls4ml_versions=["0.8.1"], vivado_versions=["2020.1"])
    table = {}
    for _, rec in df.iterrows():
        table[(str(rec["Strategy"]).lower(), str(rec["Precision"]), int(rec["Reuse Factor"]))] = {
            k: float(rec[k]) for k in ("LUT", "FF", "DSP", "BRAM", "CYCLES", "INTERVAL")}
    for d in rows:
        out[d["name"]] = table[(d["strategy"].lower(), d["precision"], d["rf"])]
json.dump(out, sys.stdout)
'''


def _local_torch_wheel() -> Path | None:
    """The torch 2.13.0 CPU wheel of this machine's pip find-links, if there is one."""
    dirs = [p for p in os.environ.get("PIP_FIND_LINKS", "").split() if p]
    try:
        conf = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.find-links"], capture_output=True, text=True)
        dirs += conf.stdout.split()
    except OSError:
        pass
    for d in dirs:
        d = d.removeprefix("file://")
        for wheel in sorted(Path(d).glob("torch-2.13.0+cpu-*.whl")) if Path(d).is_dir() else []:
            return wheel
    return None


def ensure_rule4ml() -> Path:
    """rule4ml's interpreter, installing its environment on first use; raises RuntimeError with the
    step and the tool's last line when that fails."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".rule4ml-0.2.0"
    if stamp.is_file():
        return python
    VENV.parent.mkdir(parents=True, exist_ok=True)
    steps = [["python3", "-m", "venv", str(VENV)]]
    wheel = _local_torch_wheel()
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    if wheel is not None:  # the CPU build, never a CUDA one from an index
        steps.append([*pip, str(wheel)])
    steps.append([*pip, "rule4ml==0.2.0", "tensorflow>=2.15", "torch==2.13.0"])
    steps.append([str(python), "-c", "import torch, sys; sys.exit(1 if torch.version.cuda else 0)"])
    for step in steps:
        print(f"rule4ml environment: {' '.join(step[:6])}{' ...' if len(step) > 6 else ''}", file=sys.stderr, flush=True)
        run = subprocess.run(step, capture_output=True, text=True)
        if run.returncode:
            last = (run.stderr.strip().splitlines() or run.stdout.strip().splitlines() or ["(no output)"])[-1]
            if "torch.version.cuda" in " ".join(step):
                last = "the installed torch is a CUDA build; remove build/rule4ml-venv and install the CPU wheel"
            raise RuntimeError(f"`{' '.join(step[:5])}` failed (exit {run.returncode}): {last}")
    stamp.write_text("rule4ml==0.2.0 tensorflow>=2.15 torch==2.13.0\n")
    return python


def run_rule4ml(rows: list[dict]) -> dict[str, dict]:
    python = ensure_rule4ml()
    RUNNER.write_text(RUNNER_SOURCE)
    designs = [{"name": r["name"], "d_in": r["group"][0], "d_out": r["group"][1], "rf": int(r["rf"]),
                "strategy": r["strategy"].capitalize(), "precision": f"ap_fixed<{r['bits']}, 1>"} for r in rows]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([str(python), str(RUNNER)], input=json.dumps(designs), capture_output=True, text=True, env=env)
    if run.returncode:
        last = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"rule4ml's predict failed (exit {run.returncode}): {last}")
    raw = json.loads(run.stdout)
    return {name: {k: raw[name][v] for k, v in RULE4ML_KEYS.items()} for name in raw}


def fmt(value, digits=1) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}"


def heldout_table(rows: list[hls4ml.Row], model: dict, use_rule4ml: bool) -> tuple[str, str | None]:
    ho = hls4ml.heldout(rows, model)
    by_name = {r.name: r for r in rows}
    preds = {r["name"]: r["pred"] for r in ho["rows"]}
    theirs, error = None, None
    if use_rule4ml:
        try:
            theirs = run_rule4ml([{"name": r["name"], "group": r["group"], "rf": by_name[r["name"]].layer.rf,
                                   "strategy": by_name[r["name"]].layer.strategy, "bits": by_name[r["name"]].layer.b_w}
                                  for r in ho["rows"]])
        except (RuntimeError, OSError, json.JSONDecodeError, KeyError) as err:
            error = str(err)
    lines = []
    archs = ", ".join(f"{a}x{b}" for a, b in ho["architectures"])
    lines.append(f"Held-out architectures (d_in x d_out; every row of each, never fitted on): {archs}.\n")
    head = "| set | resource | rows | ours sMAPE % | ours R² | ours median % | ours p90 % |"
    sep = "|---|---|---|---|---|---|---|"
    if theirs is not None:
        head += " rule4ml sMAPE % | rule4ml R² | rule4ml median % | rule4ml p90 % |"
        sep += "---|---|---|---|"
    head += " rule4ml published sMAPE % | wa-hls4ml surrogate sMAPE % |"
    sep += "---|---|"
    lines += [head, sep]
    for dataset in hls4ml.WA_FILES:
        chosen = [r for r in ho["rows"] if r["dataset"] == dataset]
        if not chosen:
            continue
        ours = hls4ml.score([r["labels"] for r in chosen], [preds[r["name"]] for r in chosen])
        rule = hls4ml.score([r["labels"] for r in chosen], [theirs[r["name"]] for r in chosen]) if theirs else None
        for key in RESOURCES:
            o = ours[key]
            cells = [f"wa pilot {dataset.capitalize()}", NAMES[key], str(o["rows"]), fmt(o["smape"]), fmt(o["r2"], 3),
                     fmt(o["median_rel"]), fmt(o["p90_rel"])]
            if rule is not None:
                t = rule[key]
                cells += [fmt(t["smape"]), fmt(t["r2"], 3), fmt(t["median_rel"]), fmt(t["p90_rel"])]
            cells += [fmt(PUBLISHED_RULE4ML[key]), fmt(WA_SURROGATES[key])]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n", error


def ci_table(model: dict) -> str:
    covered, out = hls4ml.ci_rows()
    labels, preds = [], []
    lines = ["| baseline | tool | io | LUT | FF | DSP | BRAM18 | cycles | II |", "|---|---|---|---|---|---|---|---|---|"]
    for c in covered:
        e = hls4ml.estimate(c["nodes"], c["hls"]).total
        p = {"lut": e.lut, "ff": e.ff, "dsp": e.dsp, "bram": e.bram, "latency_cycles": e.latency_cycles, "ii": e.ii}
        labels.append(c["labels"])
        preds.append(p)
        l = c["labels"]
        what = "MaxPooling2D valid 18x15x3" if any(n.kind == "maxpool2d" for n in c["nodes"]) else "Dense(64) on 1 input + ReLU"
        lines.append(f"| {what} | {c['backend']} {c['version']} | {c['hls'].io_type} | " + " | ".join(
            f"{p[k]:.0f} / {l[k]:.0f}" for k in RESOURCES) + " |")
    s = hls4ml.score(labels, preds)
    lines.append("| **sMAPE %** | | | " + " | ".join(fmt(s[k]["smape"]) for k in RESOURCES) + " |")
    reasons: dict[str, int] = {}
    for o in out:
        reasons[o["reason"]] = reasons.get(o["reason"], 0) + 1
    lines.append("")
    lines.append(f"Cells: ours / report. {len(covered)} of {len(covered) + len(out)} baselines are in scope. Out of scope: "
                 + "; ".join(f"{n} x {reason}" for reason, n in sorted(reasons.items())) + ".")
    return "\n".join(lines) + "\n"


def cv_table(rows: list[hls4ml.Row]) -> str:
    cv = hls4ml.cross_validate(rows)
    lines = ["| set | " + " | ".join(NAMES[k] for k in RESOURCES) + " |", "|---|" + "---|" * len(RESOURCES)]
    for dataset, s in cv["sets"].items():
        lines.append(f"| wa pilot {dataset.capitalize()} (sMAPE % / R²) | " + " | ".join(
            f"{fmt(s[k]['smape'])} / {fmt(s[k]['r2'], 3)}" for k in RESOURCES) + " |")
    return "\n".join(lines) + "\n"


def mlp_speed() -> str:
    from codesign import config
    from codesign.estimate.network import nodes_from_config

    cfg = config.default_config("digits")
    nodes = nodes_from_config(cfg)
    hls4ml.estimate(nodes, cfg.hls)  # warm: the model file is read once
    times = []
    for _ in range(20):
        start = time.perf_counter()
        hls4ml.estimate(nodes, cfg.hls)
        times.append(time.perf_counter() - start)
    return f"{1000 * float(np.median(times)):.1f} ms (median of 20; the digits MLP 64-64-32-10, Latency, RF 1)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the public reports directory (default: <repo>/../shared/data/hls4ml-reports)")
    parser.add_argument("--no-rule4ml", action="store_true", help="skip rule4ml (ours alone)")
    parser.add_argument("--out", help="also write the Markdown here")
    args = parser.parse_args(argv)
    if args.data:
        hls4ml.REPORTS_DIR = Path(args.data)
    rows = hls4ml.wa_rows(args.data)
    model = hls4ml.load_model()
    start = time.perf_counter()
    table, error = heldout_table(rows, model, not args.no_rule4ml)
    parts = [
        f"## hls4ml cost model vs rule4ml 0.2.0 ({datetime.date.today().isoformat()}, {platform.node() or 'this machine'}: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()})",
        "",
        "Command: `.venv/bin/python benchmarks/bench_estimate_hls4ml.py`. Labels: Vivado HLS 2020.1 csynth estimates "
        "(hls4ml 0.8.1, xcu250, 5 ns), not place-and-route. DSP rounded to integers and BRAM to halves before scoring; "
        "median / p90: relative error over the rows with a non-zero label; cycles: worst-case latency.",
        "",
        table,
    ]
    if error:
        parts.append(f"rule4ml could not be run here: {error}\n")
    elif not args.no_rule4ml:
        parts.append("rule4ml 0.2.0 (its default GNN estimators) on the same rows: a plain Keras Dense(d_out) on d_in inputs, "
                     "board alveo-u250, hls4ml 0.8.1, Vivado 2020.1, precision ap_fixed<p, 1> (the pilot's weight type), "
                     "the row's strategy and reuse factor.\n")
    parts += ["### hls4ml 1.3.0 CI baselines (another tool version and other layers)", "", ci_table(model),
              "The MaxPooling2D per-comparison LUTs and registered inputs, the ReLU LUTs and the io_stream FIFO costs are taken "
              "from the Vivado 2020.1 rows, so those rows are in-sample; the Vitis rows are not.\n",
              "### 5-fold cross-validation over every architecture (ours; folds of architectures)", "", cv_table(rows),
              f"Estimate time of a 3-layer MLP: {mlp_speed()}.", "",
              f"Benchmark wall time: {time.perf_counter() - start:.0f} s."]
    text = "\n".join(parts) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
