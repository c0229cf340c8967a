"""The AutoQKeras side of benchmarks/bench_select_autoqkeras.py, small: it runs, and its trials are
scored on the bit-exact model and our cost figure."""

import importlib.util
import math
from pathlib import Path

from codesign import config, flow

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_select_autoqkeras", ROOT / "benchmarks" / "bench_select_autoqkeras.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_autoqkeras_trials_are_scored_and_plotted_beside_a_selection(tmp_path):
    cfg = config.validate(config.RunConfig(
        name="aqk-small", dataset=config.DatasetConfig(name="digits", max_train=300),
        layers=(config.LayerSpec("dense", name="fc1", units=8), config.LayerSpec("dense", name="output", activation="linear")),
        train=config.TrainConfig(float_epochs=2)))
    result = bench.run_autoqkeras(cfg, flow.load_inputs(cfg), budget_s=20.0, epochs=1, max_trials=2, seed=0, work=tmp_path)
    assert result["trials"] == 2 and result["seconds"] > 0  # a second trial reuses the model's optimizer
    for p in result["points"]:
        assert math.isfinite(p["cost"]) and p["cost"] > 0 and 0 <= p["test_accuracy"] <= 1
        assert all(layer["weight_bits"] in bench.BITS for layer in p["layers"])
        assert p["layers"][0]["act_bits"] in bench.BITS and p["layers"][-1]["act_bits"] in (None, *bench.BITS)
    front = [p for p in result["points"] if p["pareto"]]
    assert front and not any(q["cost"] <= p["cost"] and q["val_accuracy"] > p["val_accuracy"] for p in front for q in result["points"])
    select = {"config": cfg.name, "target": "hls4ml", "cost_metric": "lut+55*dsp", "baseline": {"cost": 5e4},
              "seconds": {"checkpoint": 1.0, "finetune": 2.0, "flow": 50.0},
              "points": [{"key": "w2a2s0 w2a-s0", "trained_cost": 900.0, "val_accuracy": 0.5, "test_accuracy": 0.45},
                         {"key": "w4a4s0 w4a-s0", "cost": 2000.0, "val_accuracy": None, "test_accuracy": None}]}
    bench.plot_fronts(select, result, tmp_path / "fronts.png")
    assert (tmp_path / "fronts.png").stat().st_size > 10_000
    table = bench.comparison_table(select, result)
    assert "| search wall-clock | 3 s |" in table and "`w2a2s0 w2a-s0`" in table
