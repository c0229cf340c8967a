"""``codesign report --run DIR``: a finished run's report with its plots.

It writes DIR/report.md (the run's report, then each plot as a link to DIR/plots/NAME.png) and
DIR/report.html, the same content in one self-contained file: the plots are embedded as ``data:``
URIs, and the page has no scripts and loads nothing from anywhere. Every file is written atomically
and only inside DIR.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

from codesign import insight, report, viz

PLOTS_DIR = "plots"
SAMPLES = 500  # test samples the quantization and range plots run on


@dataclass(frozen=True)
class Plot:
    name: str  # the PNG's file name stem under PLOTS_DIR
    title: str
    text: str  # what the plot shows and how to read it
    figure: object | None  # None: skipped, ``text`` says why


def _sparsity_plot(run: insight.Run) -> Plot:
    title = "Sparsity over training"
    if run.sparsity_steps is None:
        return Plot("sparsity", title, "Skipped: train.json records no per-epoch sparsity of a pruned layer "
                    "(a `codesign convert` run, a run from before it was recorded, or a model without pruned layers).", None)
    return Plot("sparsity", title, "Each pruned layer's fraction of zero weights as tfmot's masks made it, before the first "
                "epoch and at the end of each; the schedule ramps it from 0 to the layer's target.", viz.sparsity_heatmap(run.sparsity_steps))


def plots(run: insight.Run, ranges: list[dict]) -> list[Plot]:
    """The report's plots, in order; ``ranges`` are the run's ``insight.activation_ranges``."""
    errors = insight.quantization_errors(run.model, run.x)
    return [
        _sparsity_plot(run),
        Plot("layers", "Bits and sparsity per layer", "Each weighted layer's bit-widths and the sparsity of its quantized weights.",
             viz.layer_bits_and_sparsity(run.report["layers"])),
        Plot("quantization_error", "Quantization error",
             f"Quantized minus float, in LSBs of each type, on the first {len(run.x)} test samples: rounding keeps "
             "errors within ±0.5 LSB (dotted lines); beyond them a value was clipped at the type's range.",
             viz.quantization_error_histograms(errors)),
        Plot("activation_ranges", "Activation ranges",
             f"The integer reference's values of each layer on the first {len(run.x)} test samples against its type. A layer "
             "that reaches its type's bound saturates (its values are clipped there); unused top bits are integer bits no value "
             "needed, which a narrower type at the same LSB would save.", viz.activation_ranges(ranges)),
    ]


def ranges_table(ranges: list[dict]) -> str:
    lines = ["| layer | kind | type | observed min | observed max | type min | type max | saturates | unused top bits |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in ranges:
        saturates = f"yes ({r['at_bound_fraction']:.1%})" if r["saturates"] else "no"
        lines.append(f"| {r['name']} | {r['kind']} | `{r['type']}` | {r['observed_min']:.6g} | {r['observed_max']:.6g} | "
                     f"{r['type_min']:.6g} | {r['type_max']:.6g} | {saturates} | {r['unused_integer_bits']} |")
    return "\n".join(lines)


def markdown(rep: dict, figures: list[Plot], ranges: list[dict]) -> str:
    """report.md: the run's report, then each plot's section with a link to its PNG under PLOTS_DIR."""
    lines = [report.markdown(rep), "# Plots", ""]
    for plot in figures:
        lines += [f"## {plot.title}", "", plot.text, ""]
        if plot.figure is not None:
            lines += [f"![{plot.title}]({PLOTS_DIR}/{plot.name}.png)", ""]
        if plot.name == "activation_ranges":
            lines += [ranges_table(ranges), ""]
    return "\n".join(lines)


_IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)\s]+)\)$")
_HEADING = re.compile(r"^(#{1,6}) (.*)$")
_SEPARATOR = re.compile(r"^:?-+:?$")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text: str) -> str:
    """HTML of one line of Markdown text: ``code`` spans and **bold**, everything else escaped."""
    parts = text.split("`")
    out = []
    for i, part in enumerate(parts):
        escaped = html.escape(part)
        out.append(f"<code>{escaped}</code>" if i % 2 and i < len(parts) - 1 else _BOLD.sub(r"<strong>\1</strong>", escaped))
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    rows = [_cells(line) for line in lines]
    head, body = (rows[0], rows[2:]) if len(rows) > 1 and all(_SEPARATOR.match(c) for c in rows[1]) else (None, rows)
    out = ["<table>"]
    if head:
        out.append("<thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead>")
    out += ["<tbody>"] + ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in body] + ["</tbody></table>"]
    return "\n".join(out)


def _blocks(text: str):
    """Markdown lines grouped into blocks: (kind, lines) with kind heading, image, table, list or paragraph."""
    kind, block = None, []
    for line in text.splitlines():
        line = line.rstrip()
        this = ("heading" if _HEADING.match(line) else "image" if _IMAGE.match(line) else "table" if line.startswith("|")
                else "list" if line.startswith("- ") else "paragraph" if line else None)
        if block and (this != kind or this in ("heading", "image")):
            yield kind, block
            block = []
        kind = this
        if this is not None:
            block.append(line)
    if block:
        yield kind, block


def markdown_to_html(text: str, images: dict[str, str]) -> str:
    """The HTML body of the Markdown subset the reports use (headings, | tables, - lists, paragraphs,
    image lines). ``images`` maps an image line's link to the ``src`` the page uses (a data URI)."""
    out = []
    for kind, lines in _blocks(text):
        if kind == "heading":
            hashes, title = _HEADING.match(lines[0]).groups()
            out.append(f"<h{len(hashes)}>{_inline(title)}</h{len(hashes)}>")
        elif kind == "image":
            alt, link = _IMAGE.match(lines[0]).groups()
            out.append(f'<p><img src="{html.escape(images[link])}" alt="{html.escape(alt)}"></p>')
        elif kind == "table":
            out.append(_table(lines))
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in lines) + "</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(out)


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f0f0f0; }
code { background: #f4f4f4; padding: 0 0.2em; }
img { max-width: 100%; height: auto; }
"""


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write(run_dir: str | Path, samples: int = SAMPLES) -> list[Plot]:
    """DIR/report.md with DIR/plots/*.png and a self-contained DIR/report.html; returns the plots."""
    run = insight.load_run(run_dir, samples)
    ranges = insight.activation_ranges(run.nodes, run.x)
    figures = plots(run, ranges)
    (run.path / PLOTS_DIR).mkdir(exist_ok=True)
    images = {}
    for plot in figures:
        if plot.figure is not None:
            png = viz.figure_png(plot.figure)
            link = f"{PLOTS_DIR}/{plot.name}.png"
            write_atomic(run.path / link, png)
            images[link] = viz.data_uri(png)
    text = markdown(run.report, figures, ranges)
    write_atomic(run.path / "report.md", text.encode())
    body = markdown_to_html(text, images)
    write_atomic(run.path / "report.html", page(f"codesign run {run.report.get('name', run.path.name)}", body).encode())
    return figures


def cmd_report(args) -> int:
    from codesign import flow
    from codesign.errors import CodesignError

    if (args.run is None) == (args.sweep is None):
        raise CodesignError("report: give --run DIR (a run's report) or --sweep DB (a sweep's summary), one of them")
    if args.sweep is not None:
        return _sweep_report(args)
    if args.name or args.out:
        raise CodesignError("report: --name and --out are for --sweep; a run's report goes into its own directory")
    with flow.tool_output(os.devnull, verbose=args.verbose):  # TensorFlow's logs while the model loads and runs
        figures = write(Path(args.run), args.samples)
    run = Path(args.run)
    drawn = sum(plot.figure is not None for plot in figures)
    print(f"report: {run / 'report.html'} (self-contained) and {run / 'report.md'} with {drawn} plots in {run / PLOTS_DIR}")
    for plot in figures:
        if plot.figure is None:
            print(f"{plot.title}: {plot.text}")
    return 0


def _sweep_report(args) -> int:
    from codesign.errors import CodesignError
    from codesign.sweep import report as sweep_report

    if args.out is None and "://" in args.sweep:
        raise CodesignError("report --sweep URL: give --out DIR for the report (a database URL has no directory)")
    out = Path(args.out) if args.out else Path(args.sweep).parent
    page = sweep_report.write(args.sweep, out, args.name)
    print(f"sweep report: {page} (self-contained) and {out / 'report.md'} with its plots in {out / PLOTS_DIR}")
    return 0


def register_cli(sub) -> None:
    p = sub.add_parser("report", help="plots and tables: of a finished run (--run: RUN/report.html and report.md) or of a sweep (--sweep DB)")
    p.add_argument("--run", help="run directory (from codesign flow or convert)")
    p.add_argument("--sweep", help="a sweep database (SQLite file or postgresql:// URL)")
    p.add_argument("--name", help="with --sweep: which sweep, when the database holds several")
    p.add_argument("--out", help="with --sweep: where the report goes (default: the database file's directory)")
    p.add_argument("--samples", type=int, default=SAMPLES, help=f"first N test samples for the quantization and range plots (default {SAMPLES})")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's output instead of discarding it")
    p.set_defaults(func=cmd_report)
