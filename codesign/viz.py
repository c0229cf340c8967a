"""Plots of a run, for the HTML report and the notebooks. Each function draws only the data it is
given (see ``codesign.insight`` for where it comes from) and returns a matplotlib Figure, made
without pyplot (no global figure state) and rendered with Agg."""

from __future__ import annotations

import base64
import io

import numpy as np

from codesign.errors import CodesignError

SATURATED = "tab:red"
OBSERVED = "tab:blue"
TYPE_RANGE = "0.85"


def new_figure(width: float, height: float):
    """A pyplot-free figure (no global state), laid out to fit, of ``width`` x ``height`` inches."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def embed(fig) -> str:
    """A ``data:`` URI of the figure as PNG, for an ``<img src>`` that needs no file."""
    return data_uri(figure_png(fig))


def _step_ticks(ax, steps: list[int]) -> None:
    """At most ten column ticks, labelled with their training step."""
    ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 10)).round().astype(int))
    ax.set_xticks(ticks, [str(steps[i]) for i in ticks])


def sparsity_heatmap(sparsity_steps: dict):
    """Each pruned layer's weight sparsity (rows) at each recorded training step (columns): the
    ``sparsity_steps`` entry of a run's train.json."""
    layers = list(sparsity_steps.get("layers", {}))
    steps = list(sparsity_steps.get("step", []))
    if not layers or not steps:
        raise CodesignError("sparsity_steps records no pruned layer; nothing to plot")
    data = np.array([sparsity_steps["layers"][name] for name in layers], dtype=float)
    if data.shape[1] != len(steps):
        raise CodesignError(f"sparsity_steps: {data.shape[1]} values per layer but {len(steps)} steps")
    fig = new_figure(8, 1.2 + 0.45 * len(layers))
    ax = fig.add_subplot()
    image = ax.imshow(data, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_yticks(range(len(layers)), layers)
    _step_ticks(ax, steps)
    if data.shape[1] <= 24:  # few enough columns to print each value
        for (row, col), value in np.ndenumerate(data):
            ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value < 0.6 else "black")
    ax.set_xlabel("training step (before the first epoch, then at the end of each)")
    ax.set_title("weight sparsity of each pruned layer during training")
    fig.colorbar(image, ax=ax, label="fraction of zero weights")
    return fig


def _histogram(ax, error: np.ndarray, lsb: float, title: str) -> None:
    """Errors in LSBs of their type: rounding stays within ±0.5, clipping lies beyond."""
    ax.hist(error / lsb, bins=60, color=OBSERVED, log=True)
    for edge in (-0.5, 0.5):
        ax.axvline(edge, color="0.4", ls=":", lw=0.8)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("quantized - float (LSBs)", fontsize=8)
    ax.tick_params(labelsize=7)


def quantization_error_histograms(errors):
    """Per weighted layer (rows), the histograms of its weights' and of its activations' quantization
    error (``codesign.insight.quantization_errors``), in LSBs of each type."""
    if not errors:
        raise CodesignError("no weighted layer to plot quantization errors of")
    fig = new_figure(9, 0.4 + 2.2 * len(errors))
    axes = fig.subplots(len(errors), 2, squeeze=False)
    for (weights_ax, act_ax), e in zip(axes, errors):
        _histogram(weights_ax, e.weight_error, e.weight_type.lsb, f"{e.layer} weights: {e.weight_clipped:.1%} clipped\n{e.weight_type}")
        if e.activation_error is None:
            act_ax.text(0.5, 0.5, f"{e.layer}: linear (no activation quantizer)", ha="center", va="center", fontsize=9)
            act_ax.set_axis_off()
        else:
            _histogram(act_ax, e.activation_error, e.activation_type.lsb,
                       f"{e.activation} activations: {e.activation_clipped:.1%} saturated\n{e.activation_type}")
    axes[0][0].set_ylabel("count")
    return fig


def _range_note(row: dict) -> str:
    span = f"[{row['observed_min']:.4g}, {row['observed_max']:.4g}] of [{row['type_min']:.4g}, {row['type_max']:.4g}]"
    if row["saturates"]:
        return f"{span}; saturates ({row['at_bound_fraction']:.1%} at the bound)"
    return f"{span}; {row['unused_integer_bits']} unused top bits"


def activation_ranges(ranges: list[dict]):
    """Per node (rows, as ``codesign.insight.activation_ranges`` gives them), the observed range of
    its values (red when a value reaches the type's bound) against its type's range, both scaled by
    the type's largest magnitude so every row spans the same width."""
    if not ranges:
        raise CodesignError("no layer ranges to plot")
    fig = new_figure(10, 1.0 + 0.42 * len(ranges))
    ax = fig.add_subplot()
    for row_index, row in enumerate(ranges):
        scale = max(abs(row["type_min"]), abs(row["type_max"])) or 1.0
        y = len(ranges) - 1 - row_index
        ax.barh(y, (row["type_max"] - row["type_min"]) / scale, left=row["type_min"] / scale, height=0.8, color=TYPE_RANGE)
        width = max((row["observed_max"] - row["observed_min"]) / scale, 0.004)  # a constant node still shows
        ax.barh(y, width, left=row["observed_min"] / scale, height=0.45, color=SATURATED if row["saturates"] else OBSERVED)
        ax.text(1.05, y, _range_note(row), va="center", fontsize=7)
    ax.set_yticks(range(len(ranges)), [f"{row['name']} ({row['kind']})\n{row['type']}" for row in reversed(ranges)], fontsize=7)
    ax.set_xlim(-1.05, 2.6)
    ax.set_xticks([-1, -0.5, 0, 0.5, 1])
    ax.axvline(0, color="0.5", lw=0.6)
    ax.set_xlabel("value / largest magnitude of the type (grey: type range, blue: observed, red: reaches the bound)")
    ax.set_title("observed values of each layer in its fixed-point type (integer reference)")
    return fig


def layer_bits_and_sparsity(layers: list[dict]):
    """Per weighted layer (report.json ``layers``): weight, activation and input bits, and the
    achieved sparsity of its quantized weights."""
    if not layers:
        raise CodesignError("no weighted layer to plot bits and sparsity of")
    names = [layer["name"] for layer in layers]
    fig = new_figure(9, 3.2)
    bits_ax, sparsity_ax = fig.subplots(1, 2)
    positions = np.arange(len(layers))
    for offset, (key, label) in zip((-0.27, 0.0, 0.27), (("weight_bits", "weights"), ("act_bits", "activations"), ("input_bits", "inputs"))):
        bits_ax.bar(positions + offset, [layer.get(key) or 0 for layer in layers], width=0.26, label=label)
    bits_ax.set_xticks(positions, names)
    bits_ax.set_ylabel("bits")
    bits_ax.legend(fontsize=7)
    bits_ax.set_title("bit-widths (0: linear, no activation quantizer)", fontsize=9)
    sparsity_ax.bar(positions, [layer["sparsity"] for layer in layers], color="tab:green")
    sparsity_ax.set_xticks(positions, names)
    sparsity_ax.set_ylim(0, 1)
    sparsity_ax.set_ylabel("fraction of zero weights")
    sparsity_ax.set_title("sparsity of the quantized weights", fontsize=9)
    return fig
