"""A sweep's results as a table and as pictures: what ``codesign report --sweep DB`` writes and what
``notebooks/design_space.ipynb`` shows.

``frame`` reads a sweep database into one row per trial (its parameters, its status and its scalar
metrics as columns); the plots draw from that frame only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codesign import viz
from codesign.errors import CodesignError
from codesign.select.search import pareto
from codesign.sweep.db import Store

# What a front is drawn against, per target: the estimate's LUT, DSP and latency.
FRONT_METRICS = (("lut", "LUT"), ("dsp", "DSP"), ("latency_cycles", "latency (cycles)"))
TARGET_ORDER = ("hls4ml", "unrolled", "accel")


def frame(db: str | Path, name: str | None = None):
    """The trials of sweep ``name`` (default: the database's only sweep) as a pandas DataFrame."""
    import pandas as pd

    store = Store(db, create=False)
    sweeps = [s.name for s in store.sweeps()]
    if name is None:
        if len(sweeps) != 1:
            raise CodesignError(f"{db} holds the sweeps {', '.join(sweeps) or '(none)'}: name one with --name")
        name = sweeps[0]
    elif name not in sweeps:
        raise CodesignError(f"{db} holds no sweep named {name!r}; it holds: {', '.join(sweeps) or '(none)'}")
    rows = []
    if not store.trials(name):
        raise CodesignError(f"sweep {name!r} in {db} has no trials yet")
    for row in store.trials(name):
        scalars = {k: v for k, v in (row.metrics or {}).items() if not isinstance(v, (dict, list))}
        rows.append({"sweep": name, "key": row.key, "status": row.status, "target": row.target, **{f"param:{k}": v for k, v in row.params.items()},
                     **scalars, "error": row.error, "worker": row.worker, "seconds": row.seconds, "started": row.started,
                     "finished": row.finished, "attempts": row.attempts, "artifact_path": row.artifact_path})
    return pd.DataFrame(rows)


def targets(df) -> list[str]:
    """The targets the sweep's trials have estimates for."""
    return [t for t in TARGET_ORDER if f"est.{t}.lut" in df.columns and df[f"est.{t}.lut"].notna().any()]


def front(df, cost_column: str):
    """The done trials not beaten on both accuracy (higher) and ``cost_column`` (lower), cheapest first."""
    done = df[(df["status"] == "done") & df[cost_column].notna() & df["accuracy"].notna()] if cost_column in df else df.iloc[0:0]
    points = list(zip(done[cost_column].astype(float), done["accuracy"].astype(float)))
    return done.iloc[pareto(points)] if points else done


def pareto_plots(df):
    """Accuracy against each target's estimated LUT, DSP and latency: every done trial, its front joined."""
    names = targets(df)
    if not names:
        raise CodesignError("no trial of this sweep has estimates: give the sweep the estimate stage")
    fig = viz.new_figure(4.2 * len(FRONT_METRICS), 3.4 * len(names))
    axes = fig.subplots(len(names), len(FRONT_METRICS), squeeze=False)
    done = df[df["status"] == "done"]
    for row, target in zip(axes, names):
        for ax, (metric, label) in zip(row, FRONT_METRICS):
            column = f"est.{target}.{metric}"
            ax.scatter(done[column], done["accuracy"], s=18, color="0.6", label="trial")
            best = front(df, column)
            ax.plot(best[column], best["accuracy"], "o-", color="tab:red", ms=5, label="Pareto front")
            ax.set_xlabel(f"{target} {label} (estimate)")
            ax.set_ylabel("test accuracy (bit-exact)")
            ax.grid(alpha=0.3)
        row[0].legend(loc="lower right", fontsize=8)
    return fig


def measured_pairs(df) -> list[tuple[str, str]]:
    """(estimate column, measured column) pairs the sweep has both of on some trial."""
    pairs = []
    for target in targets(df):
        for resource in ("lut", "ff", "dsp", "bram"):
            est, measured = f"est.{target}.{resource}", f"synth.{resource}"
            if est not in df or measured not in df:
                continue
            both = df.loc[df["target"] == target, [est, measured]].dropna()
            if len(both) and (both[measured] > 0).any():  # a resource the design uses (unrolled logic has no DSP)
                pairs.append((est, measured))
    return pairs


def estimate_vs_measured(df):
    """Each estimated resource against what synthesis measured on the same trial; None when none was measured."""
    pairs = measured_pairs(df)
    if not pairs:
        return None
    fig = viz.new_figure(4.0 * len(pairs), 3.6)
    for ax, (est, measured) in zip(fig.subplots(1, len(pairs), squeeze=False)[0], pairs):
        target = est.split(".")[1]
        both = df[(df["target"] == target)][[est, measured]].dropna()
        ax.scatter(both[measured], both[est], s=20)
        top = float(max(both.max().max(), 1))
        ax.plot([0, top], [0, top], ":", color="0.5", label="estimate = measured")
        ax.set_xlabel(f"{measured} (Yosys)")
        ax.set_ylabel(f"{est}")
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def _cell(value: Any) -> str:
    if value is None or value != value:
        return "—"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value).replace("|", "/")


def markdown(df, db: str, images: dict[str, str]) -> str:
    """The summary: counts, each target's front, failures, and the plots (``images``: title -> link)."""
    name = df["sweep"].iloc[0] if len(df) else "?"
    counts = df["status"].value_counts().to_dict() if len(df) else {}
    params = [c for c in df.columns if c.startswith("param:")]
    lines = [f"# Sweep `{name}`", "", f"Database `{db}`: {len(df)} trials, " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("done", "failed", "running", "pending")) + ".", ""]
    if "seconds" in df and df["seconds"].notna().any():
        lines += [f"Trial time: {df['seconds'].sum():,.0f} s in all, {df['seconds'].median():.1f} s median, on "
                  f"{df['worker'].nunique()} worker(s).", ""]
    for target in targets(df):
        column = f"est.{target}.cost" if f"est.{target}.cost" in df else f"est.{target}.lut"
        best = front(df, column)
        header = [*(p[len("param:"):] for p in params), "accuracy", f"{target} cost", "LUT", "DSP", "latency (cycles)"]
        lines += [f"## Pareto front on {target} (accuracy against the cost figure)", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for _, row in best.iterrows():
            cells = [*(row[p] for p in params), row["accuracy"], row[column], row.get(f"est.{target}.lut"), row.get(f"est.{target}.dsp"),
                     row.get(f"est.{target}.latency_cycles")]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    for title, link in images.items():
        lines += [f"## {title}", "", f"![{title}]({link})", ""]
    failed = df[df["status"] == "failed"] if len(df) else df
    if len(failed):
        lines += ["## Failed trials", "", "| trial | parameters | error |", "|---|---|---|"]
        for _, row in failed.iterrows():
            lines.append(f"| `{row['key'][:10]}` | {_cell(', '.join(f'{p[6:]}={row[p]}' for p in params))} | {_cell(row['error'])} |")
        lines.append("")
    return "\n".join(lines)


def write(db: str | Path, out_dir: str | Path, name: str | None = None) -> Path:
    """OUT/report.md with OUT/plots/*.png and the self-contained OUT/report.html; returns OUT/report.html."""
    from codesign import html_report

    df = frame(db, name)
    out = Path(out_dir)
    (out / html_report.PLOTS_DIR).mkdir(parents=True, exist_ok=True)
    figures = {"Accuracy against cost, per target": ("pareto", pareto_plots(df))}
    measured = estimate_vs_measured(df)
    if measured is not None:
        figures["Estimate against measurement"] = ("estimate_vs_measured", measured)
    links, uris = {}, {}
    for title, (stem, fig) in figures.items():
        png = viz.figure_png(fig)
        link = f"{html_report.PLOTS_DIR}/{stem}.png"
        html_report.write_atomic(out / link, png)
        links[title], uris[link] = link, viz.data_uri(png)
    text = markdown(df, str(db), links)
    html_report.write_atomic(out / "report.md", text.encode())
    page = html_report.page(f"codesign sweep {df['sweep'].iloc[0] if len(df) else ''}", html_report.markdown_to_html(text, uris))
    html_report.write_atomic(out / "report.html", page.encode())
    return out / "report.html"
