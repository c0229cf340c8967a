"""A selection's report.md and its Pareto plot (pareto.png): accuracy against cost, every fine-tuned
design, the front, the choice, the budget and the 16-bit baseline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    trained = [p for p in result["points"] if p.get("val_accuracy") is not None]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for uniform, marker, label in ((False, "o", "mixed per-layer design"), (True, "s", "uniform design")):
        pts = [p for p in trained if p["uniform"] == uniform]
        if pts:
            ax.scatter([p["trained_cost"] for p in pts], [p["val_accuracy"] for p in pts], marker=marker, alpha=0.45, label=label)
    front = sorted((p for p in trained if p.get("pareto")), key=lambda p: p["trained_cost"])
    if front:
        ax.step([p["trained_cost"] for p in front], [p["val_accuracy"] for p in front], where="post", color="k", lw=1.2, label="Pareto front")
    chosen = result.get("chosen")
    if chosen:
        ax.scatter([chosen["trained_cost"]], [chosen["val_accuracy"]], marker="*", s=220, color="tab:red", zorder=5, label="chosen")
    base = result.get("baseline", {})
    if base.get("cost"):
        ax.axvline(base["cost"], color="tab:gray", ls=":", label=f"ap_fixed<16,6> baseline ({base['cost']:,.0f})")
        if base.get("val_accuracy_seeds"):
            ax.axhline(base["val_accuracy_seeds"]["mean"], color="tab:gray", ls="-.", lw=0.8, label="baseline validation accuracy (mean over seeds)")
    if "cost" in result["budgets"]:
        ax.axvline(result["budgets"]["cost"], color="tab:red", ls="--", lw=0.8, label=f"budget {result['budgets']['cost']:,.0f}")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(f"{result['cost_metric']} on {result['target']} (estimate on trained weights)")
    ax.set_ylabel("validation accuracy (bit-exact model)")
    ax.set_title(f"{result['config']}: {result['trained']} fine-tuned of {result['evaluated']} costed designs")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.4f}" if value < 1 else f"{value:,.0f}"
    return str(value)


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# Selection: {result['config']} on {result['target']}", ""]
    budgets = ", ".join(f"{k} ≤ {v:,.0f}" for k, v in result["budgets"].items()) or "none"
    lines += [f"- status: **{result['status']}**" + (f" ({result['message']})" if result.get("message") else ""),
              f"- cost figure: `{result['cost_metric']}`; budgets: {budgets}; accuracy floor: {_fmt(result['min_accuracy'])}",
              f"- {result['evaluated']} designs costed, {result['trained']} fine-tuned ({result['finetune_epochs']} epochs each); "
              f"layer widths {result['layer_widths']}",
              f"- time: " + ", ".join(f"{k} {v:.0f} s" for k, v in result["seconds"].items()), ""]
    base = result.get("baseline", {})
    chosen = result.get("chosen")
    if chosen:
        lines += ["## Chosen design", "", "| layer | weight bits | activation bits | sparsity |", "|---|---|---|---|"]
        lines += [f"| {l['name']} | {l['weight_bits']} | {l['act_bits'] or '—'} | {l['sparsity']} |" for l in chosen["layers"]]
        lines += ["", "| | cost | validation accuracy | test accuracy (mean over seeds) |", "|---|---|---|---|"]
        seeds = chosen.get("test_accuracy_seeds")
        lines.append(f"| chosen (estimate) | {chosen['trained_cost']:,.0f} | {chosen['val_accuracy']:.4f} | "
                     f"{_fmt(seeds and seeds['mean'])} ± {_fmt(seeds and seeds['std'])} |")
        uniform = result.get("best_uniform")
        if uniform:
            useeds = uniform.get("test_accuracy_seeds")
            lines.append(f"| best uniform design under the budget, `{uniform['key']}` | {uniform['trained_cost']:,.0f} | {uniform['val_accuracy']:.4f} | "
                         f"{_fmt(useeds and useeds['mean'])} ± {_fmt(useeds and useeds['std'])} |")
        if base.get("cost"):
            bseeds = base.get("test_accuracy_seeds")
            lines.append(f"| ap_fixed<16,6> baseline (estimate) | {base['cost']:,.0f} | — | {_fmt(bseeds and bseeds['mean'])} ± {_fmt(bseeds and bseeds['std'])} |")
            lines.append(f"\nThe chosen design costs 1/{base['cost'] / chosen['trained_cost']:.1f} of the baseline by this figure.")
        built = chosen.get("flow")
        if built:
            lines += ["", f"Flow run: `{built['run']}`; exactness: " + ", ".join(
                f"{k} {v['mismatched']} of {v['samples']} differ" for k, v in built["exactness"].items()), ""]
            lines += ["| budget | limit | estimate | measured |", "|---|---|---|---|"]
            for name, c in built["budget_checks"].items():
                lines.append(f"| {name} | {c['budget']:,.0f} | {c['estimate']:,.0f} {'ok' if c['estimate_ok'] else 'OVER'} | "
                             + (f"{c['measured']:,.0f} {'ok' if c['measured_ok'] else 'OVER'}" if "measured" in c else "—") + " |")
            if "cost_measured" in built:
                lines.append(f"\nMeasured {result['cost_metric']}: {built['cost_measured']:,.0f} (estimate {built['cost_estimate']:,.0f}).")
    lines += ["", "## Pareto front (fine-tuned designs)", "", "![Pareto front](pareto.png)", "",
              "| design | cost | validation accuracy | test accuracy | uniform |", "|---|---|---|---|---|"]
    by_key = {p["key"]: p for p in result["points"]}
    for key in result["front"]:
        p = by_key[key]
        lines.append(f"| `{key}` | {p['trained_cost']:,.0f} | {p['val_accuracy']:.4f} | {p['test_accuracy']:.4f} | {'yes' if p['uniform'] else ''} |")
    return "\n".join(lines) + "\n"


def write(out: Path, result: dict[str, Any]) -> None:
    plot(result, out / "pareto.png")
    tmp = out / "report.md.tmp"
    tmp.write_text(markdown(result))
    os.replace(tmp, out / "report.md")
