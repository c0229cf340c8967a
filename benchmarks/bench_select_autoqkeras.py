"""codesign select against AutoQKeras (qkeras.autoqkeras, in the pinned qkeras) on the same model, data,
cost figure and wall-clock budget.

AutoQKeras searches per-layer quantizers with its own goal (a forgiving factor on bits); every design
it trained is then scored as codesign scores its own: cost is the hls4ml estimate's LUT + 55·DSP on
the trial's trained weights, accuracy is that of the bit-exact integer model (the bits hls4ml's C
simulation gives). Its choices are the quantizers our flow maps exactly: kernels
quantized_bits(b, 0, alpha=1) and activations quantized_relu(b, 1) for b in 2, 3, 4, 5, 6, 8, biases
quantized_bits(8, 3, alpha=1), layer widths fixed (tune_filters="none"), weights transferred from the
same float model, as codesign's fine-tunes start from its float checkpoint.

    python benchmarks/bench_select_autoqkeras.py --select-json runs/digits-mlp-select/select.json

runs `codesign select` first when --select-json is not given, then AutoQKeras for as long as
codesign's search took (checkpoint + sensitivity + search + fine-tunes) times --time-factor, and
writes OUT/autoqkeras.json, OUT/fronts.png (both fronts, test accuracy against cost) and a Markdown
table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BITS = (2, 3, 4, 5, 6, 8)
SEARCH_STEPS = ("checkpoint", "sensitivity", "search", "finetune")


def quantization_config() -> dict:
    kernel = {f"quantized_bits({b},0,alpha=1)": b for b in BITS}
    return {"kernel": kernel, "bias": {"quantized_bits(8,3,alpha=1)": 8},
            "activation": {f"quantized_relu({b},1)": b for b in BITS}, "linear": kernel}


def pareto(points: list[dict], accuracy: str = "val_accuracy") -> list[dict]:
    """The points no other point beats in both lower cost and higher accuracy, by cost."""
    front, best = [], -1.0
    for p in sorted(points, key=lambda p: (p["cost"], -p[accuracy])):
        if p[accuracy] > best:
            front.append(p)
            best = p[accuracy]
    return front


def score_design(model, cfg, inputs) -> dict:
    """A trained QKeras model's cost (hls4ml estimate, LUT + 55·DSP) and bit-exact accuracies."""
    from codesign import analysis, reference
    from codesign.estimate import design

    nodes = analysis.describe(model, cfg.input.type)
    total = design.estimate_design(nodes, cfg, ["hls4ml"])["hls4ml"].total
    ds = inputs.dataset
    acc = lambda x, y: float(np.mean(np.argmax(reference.logits(nodes, x), axis=1) == y))  # noqa: E731
    layers = []
    for i, n in enumerate(nodes):
        if n.has_weights:
            act = nodes[i + 1] if i + 1 < len(nodes) and nodes[i + 1].kind in ("relu", "quantize") else None
            layers.append({"name": n.name, "weight_bits": n.weight_type.width, "act_bits": act.output_type.width if act else None})
    return {"layers": layers, "cost": float(total.lut + 55 * total.dsp), "lut": float(total.lut), "dsp": float(total.dsp),
            "val_accuracy": acc(inputs.x_val, ds.val.y), "test_accuracy": acc(inputs.x_test, ds.test.y)}


def _keras_214_model_quantize() -> None:
    """AutoQKeras renames Dense to QDense in the model's JSON but keeps Keras 2.14's ``module:
    keras.layers`` beside it, so deserialization looks for QDense in keras.layers and fails. Drop the
    module keys, and the layers resolve through QKeras' custom objects."""
    import qkeras.utils as qutils

    original = qutils.quantized_model_from_json
    if getattr(original, "drops_modules", False):
        return

    def from_json(json_string, custom_objects=None):
        architecture = json.loads(json_string)
        for layer in architecture["config"]["layers"]:
            layer.pop("module", None)
            layer.pop("registered_name", None)
        return original(json.dumps(architecture), custom_objects)

    from_json.drops_modules = True
    qutils.quantized_model_from_json = from_json


def run_autoqkeras(cfg, inputs, budget_s: float, epochs: int, max_trials: int, seed: int, work: Path) -> dict:
    """AutoQKeras for at most ``budget_s`` seconds (no new trial starts after it); every trial scored."""
    import tensorflow as tf
    from qkeras.autoqkeras import AutoQKeras

    from codesign import models, train

    _keras_214_model_quantize()
    ds = inputs.dataset
    n_classes = len(ds.classes)
    start = time.monotonic()
    tf.keras.utils.set_random_seed(seed)
    float_model, _ = train.float_model(cfg, inputs.x_train, ds.train.y, inputs.x_val, ds.val.y, n_classes, progress=False)
    # AutoQKeras compiles every trial with this model's optimizer object: Keras 2.14's Adam binds to the
    # first model's variables, the legacy Adam takes any model's
    float_model.compile(optimizer=tf.keras.optimizers.legacy.Adam(cfg.train.learning_rate),
                        loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True), metrics=["acc"])
    goal = {"type": "bits", "params": {"delta_p": 8.0, "delta_n": 8.0, "rate": 2.0, "stress": 1.0, "input_bits": cfg.input.bits,
                                       "output_bits": 8, "ref_bits": 8, "config": {"default": ["parameters", "activations"]}}}
    # AutoQKeras clones models through their configs: QKeras' layers must be known by name meanwhile
    scope = tf.keras.utils.custom_object_scope(models.custom_objects())
    with scope:
        autoqk = AutoQKeras(float_model, metrics=["acc"], custom_objects=models.custom_objects(), goal=goal,
                            output_dir=str(work / "autoqkeras"), mode="random", transfer_weights=True, tune_filters="none", tune_filters_exceptions="^$",
                            quantization_config=quantization_config(), limit={"Dense": [8, 8, 8], "Conv2D": [8, 8, 8], "Activation": [8]}, max_trials=max_trials, seed=seed)
    oracle = autoqk.tuner.oracle
    deadline = start + budget_s

    class StopAtDeadline(tf.keras.callbacks.Callback):
        """Starting no trial after the deadline: AutoQKeras has no time limit of its own."""

        def on_train_end(self, logs=None):
            if time.monotonic() > deadline:
                oracle.max_trials = len(oracle.trials)

    onehot = lambda y: tf.keras.utils.to_categorical(y, n_classes)  # noqa: E731
    with scope:
        autoqk.fit(inputs.x_train, onehot(ds.train.y), validation_data=(inputs.x_val, onehot(ds.val.y)), epochs=epochs,
                   batch_size=cfg.train.batch_size, callbacks=[StopAtDeadline()], verbose=0)
    seconds = time.monotonic() - start
    points = []
    for trial in oracle.trials.values():
        if trial.status != "COMPLETED":
            continue
        with scope:
            model = autoqk.tuner.load_model(trial)
        points.append({"trial": trial.trial_id, **score_design(model, cfg, inputs)})
        tf.keras.backend.clear_session()
    front = {id(p) for p in pareto(points)}
    for p in points:
        p["pareto"] = id(p) in front
    return {"tool": "autoqkeras", "config": cfg.name, "seconds": round(seconds, 1), "budget_s": round(budget_s, 1),
            "trials": len(points), "epochs": epochs, "points": sorted(points, key=lambda p: p["cost"])}


def search_seconds(select: dict) -> float:
    return float(sum(select["seconds"].get(k, 0.0) for k in SEARCH_STEPS))


def plot_fronts(select: dict, autoqkeras: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    ours = [{**p, "cost": p["trained_cost"]} for p in select["points"] if p.get("val_accuracy") is not None]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for name, points, seconds, color in (("codesign select", ours, search_seconds(select), "tab:blue"),
                                         ("AutoQKeras", autoqkeras["points"], autoqkeras["seconds"], "tab:orange")):
        ax.scatter([p["cost"] for p in points], [p["test_accuracy"] for p in points], color=color, alpha=0.25, s=14)
        front = pareto(points, "test_accuracy")
        ax.step([p["cost"] for p in front], [p["test_accuracy"] for p in front], where="post", color=color, marker="o",
                label=f"{name}: {len(points)} trained designs, {seconds:.0f} s of search")
    base = select.get("baseline", {})
    if base.get("cost"):
        ax.axvline(base["cost"], color="tab:gray", ls=":", label=f"ap_fixed<16,6> baseline ({base['cost']:,.0f})")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(f"{select['cost_metric']} on {select['target']} (estimate on trained weights)")
    ax.set_ylabel("test accuracy (bit-exact model)")
    ax.set_title(f"{select['config']}: Pareto fronts, test accuracy against cost")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _rivals(front: list[dict], others: list[dict], name: str, label) -> list[str]:
    """Rows: each front design, and the other tool's best test accuracy at equal or lower cost."""
    rows = []
    for p in front:
        rivals = [q["test_accuracy"] for q in others if q["cost"] <= p["cost"]]
        rows.append(f"| {name} | {label(p)} | {p['cost']:,.0f} | {p['test_accuracy']:.4f} | {f'{max(rivals):.4f}' if rivals else 'none that cheap'} |")
    return rows


def comparison_table(select: dict, autoqkeras: dict) -> str:
    """Markdown: the search effort of each tool, then for each front design of each, the other's best
    test accuracy at equal or lower cost."""
    ours = [{**p, "cost": p["trained_cost"]} for p in select["points"] if p.get("val_accuracy") is not None]
    theirs = autoqkeras["points"]
    bits = lambda p: " ".join(f"w{l['weight_bits']}a{l['act_bits'] or '-'}" for l in p["layers"])  # noqa: E731
    lines = ["| | codesign select | AutoQKeras |", "|---|---|---|",
             f"| search wall-clock | {search_seconds(select):.0f} s | {autoqkeras['seconds']:.0f} s |",
             f"| designs trained | {len(ours)} | {autoqkeras['trials']} |", "",
             "| front of | design | cost | test accuracy | the other's best test accuracy at ≤ this cost |", "|---|---|---|---|---|"]
    lines += _rivals(pareto(ours, "test_accuracy"), theirs, "codesign", lambda p: f"`{p['key']}`")
    lines += _rivals(pareto(theirs, "test_accuracy"), ours, "AutoQKeras", lambda p: f"`{bits(p)}` (unpruned)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--config", help="run config YAML (default: the data set's default MLP)")
    parser.add_argument("--select-json", help="codesign select's select.json (default: run codesign select first)")
    parser.add_argument("--select-args", default="--max-cost 29500", help="budget flags of that codesign select run")
    parser.add_argument("--time-factor", type=float, default=1.0, help="AutoQKeras' wall-clock budget as a multiple of codesign's search time")
    parser.add_argument("--budget-s", type=float, help="AutoQKeras' wall-clock budget in seconds (instead of --time-factor)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per AutoQKeras trial (codesign select's default fine-tune)")
    parser.add_argument("--max-trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "build" / "autoqkeras"))
    args = parser.parse_args(argv)

    from codesign import config, flow

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = config.load(args.config) if args.config else config.default_config(args.dataset)
    select_json = Path(args.select_json) if args.select_json else out / "select" / "select.json"
    if not args.select_json:
        command = [sys.executable, "-m", "codesign", "select", "--out", str(select_json.parent), "--no-flow", "--eval-seeds", "1", "--quiet",
                   *(["--config", args.config] if args.config else ["--dataset", args.dataset]), *args.select_args.split()]
        subprocess.run(command, check=True, timeout=7200)
    select = json.loads(select_json.read_text())
    budget = args.budget_s if args.budget_s is not None else args.time_factor * search_seconds(select)
    inputs = flow.load_inputs(cfg)
    result = run_autoqkeras(cfg, inputs, budget, args.epochs, args.max_trials, args.seed, out)
    (out / "autoqkeras.json").write_text(json.dumps(result, indent=1))
    plot_fronts(select, result, out / "fronts.png")
    print(comparison_table(select, result))
    print(f"\nwrote {out / 'autoqkeras.json'} and {out / 'fronts.png'}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
