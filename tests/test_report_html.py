"""`codesign report --run DIR` on a real (small) run: report.md with PNGs beside it, a self-contained
report.html that Chromium renders with every image loaded, and the notebook that shows the same plots."""

import dataclasses
import json
import re
import shutil

import numpy as np
import pytest
from rendering import DATA_IMAGE, image_states, png_outputs, run_notebook, screenshot_spread

from codesign import cli, config, flow, insight


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished digits run without the RTL stage: 300 training samples, 6 epochs, pruning every 5 steps."""
    base = config.default_config("digits")
    cfg = dataclasses.replace(
        base, name="report-html",
        dataset=dataclasses.replace(base.dataset, max_train=300),
        train=dataclasses.replace(base.train, epochs=6, float_epochs=0, pruning=dataclasses.replace(base.train.pruning, frequency=5)),
        rtl=config.RtlConfig(enabled=False),
    )
    root = tmp_path_factory.mktemp("report")
    flow.run_flow(config.validate(cfg), root / "run", root / "hls", progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def reported(run_dir):
    assert cli.main(["report", "--run", str(run_dir)]) == 0
    return run_dir


def test_report_writes_markdown_with_plots_and_a_self_contained_html(reported):
    page = (reported / "report.html").read_text()
    assert page.count(DATA_IMAGE) >= 3
    assert "<script" not in page and "http://" not in page and "https://" not in page  # nothing runs, nothing is fetched
    exactness = page[page.index("<h2>Bit-exactness</h2>"):]
    table = exactness[:exactness.index("</table>")]
    assert "<td>qkeras_vs_hls4ml</td><td>360</td><td>0</td>" in table
    assert "<h2>Sparsity over training</h2>" in page and "<h2>Activation ranges</h2>" in page
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (reported / "report.md").read_text())
    assert len(links) == page.count(DATA_IMAGE) >= 3
    for link in links:
        assert link.startswith("plots/") and (reported / link).read_bytes().startswith(b"\x89PNG"), link
    assert not list(reported.rglob(".*.tmp"))


def test_train_json_records_each_pruned_layers_sparsity_per_epoch(run_dir):
    record = json.loads((run_dir / "train.json").read_text())["sparsity_steps"]
    assert list(record["layers"]) == ["fc1", "fc2", "output"]
    assert len(record["step"]) == 7 and record["step"][0] == 0
    final = {layer["name"]: layer["sparsity"] for layer in json.loads((run_dir / "report.json").read_text())["layers"]}
    for name, values in record["layers"].items():
        assert values[0] == 0.0 and np.all(np.diff(values) >= 0), (name, values)
        assert final[name] >= values[-1] - 1e-6  # quantizing the pruned kernel only adds zeros


def test_activation_ranges_agree_with_the_types_and_the_data(run_dir):
    run = insight.load_run(run_dir, samples=100)
    ranges = insight.activation_ranges(run.nodes, run.x)
    assert [r["name"] for r in ranges] == ["inputs", "fc1", "fc1_relu", "fc2", "fc2_relu", "output"]
    for r in ranges:
        assert r["type_min"] <= r["observed_min"] <= r["observed_max"] <= r["type_max"], r
        assert r["saturates"] == (r["observed_max"] == r["type_max"] or (r["type_min"] < 0 and r["observed_min"] == r["type_min"])), r
        assert r["unused_integer_bits"] >= 0
    inputs = ranges[0]
    assert inputs["observed_min"] == run.x.min() and inputs["observed_max"] == run.x.max()
    # The exact accumulators are sized for the worst case: the data leaves their top bits unused.
    assert all(r["unused_integer_bits"] > 0 for r in ranges if r["kind"] == "dense")


def test_quantization_errors_are_half_an_lsb_inside_each_types_range(run_dir):
    run = insight.load_run(run_dir, samples=100)
    errors = insight.quantization_errors(run.model, run.x)
    assert [(e.layer, e.activation) for e in errors] == [("fc1", "fc1_relu"), ("fc2", "fc2_relu"), ("output", None)]
    for e in errors:
        assert e.weight_error.size == run.model.get_layer(e.layer).kernel.shape.num_elements()
        assert np.abs(e.weight_error).max() <= e.weight_type.lsb / 2 + 1e-12 or e.weight_clipped > 0
    fc1 = errors[0]
    assert fc1.activation_error.size == 100 * 64
    clipped = fc1.activation_error[np.abs(fc1.activation_error) > fc1.activation_type.lsb / 2]
    assert np.all(clipped < 0)  # a quantized ReLU saturates only at its upper bound, so clipping only lowers values


def test_a_run_without_a_sparsity_record_skips_that_plot_with_a_note(run_dir, tmp_path, capsys):
    converted = tmp_path / "converted"  # what `codesign convert` leaves: no train.json
    converted.mkdir()
    for name in ("report.json", "model.h5", "config.yaml"):
        shutil.copy(run_dir / name, converted / name)
    assert cli.main(["report", "--run", str(converted), "--samples", "50"]) == 0
    assert "Sparsity over training: Skipped" in capsys.readouterr().out
    page = (converted / "report.html").read_text()
    assert page.count(DATA_IMAGE) == 3 and "Skipped: train.json records no per-epoch sparsity" in page
    assert not (converted / "plots" / "sparsity.png").exists()


def test_a_directory_that_is_not_a_finished_run_is_refused_in_one_line(tmp_path, capsys):
    assert cli.main(["report", "--run", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"codesign: error: {tmp_path} is not a finished run: no report.json, model.h5, config.yaml; run `codesign flow` or `codesign convert` first"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_chromium_renders_the_html_report_with_every_image_loaded(reported, tmp_path):
    page = reported / "report.html"
    assert image_states(page, tmp_path) == ["ok"] * page.read_text().count(DATA_IMAGE)
    assert screenshot_spread(page, tmp_path) > 0  # not a blank page


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom_on_a_run(run_dir, monkeypatch):
    monkeypatch.setenv("CODESIGN_RUN", str(run_dir))
    assert png_outputs(run_notebook("optimization_insight.ipynb")) >= 3
