"""The rtl-sim stage: QKeras, hls4ml C-sim and the accelerator RTL agree bit for bit."""

import dataclasses

from codesign import config, flow


def test_three_way_exactness_on_digits_cnn(tmp_path):
    """configs/digits-cnn.yaml (conv, maxpool, flatten, two dense) through the whole flow with its RTL
    stage on a 4x4 array: QKeras == hls4ml == RTL on every sample, cycles as predicted."""
    from pathlib import Path

    cfg = config.load(Path(__file__).resolve().parents[1] / "configs" / "digits-cnn.yaml")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=4, float_epochs=0),
                              rtl=config.RtlConfig(rows=4, cols=4, samples=24, synth=False))
    rep = flow.run_flow(cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    for key in ("qkeras_vs_rtl", "hls4ml_vs_rtl"):
        assert rep["exactness"][key] == {"samples": 24, "mismatched": 0, "max_abs_diff": 0.0}
    assert rep["rtl"]["cycles_per_inference"] == rep["rtl"]["cycles_predicted"] > 0


def test_four_way_exactness_with_the_unrolled_design(tmp_path, monkeypatch):
    """A small MLP with rtl.unrolled: QKeras == hls4ml == accelerator RTL == the fully unrolled Verilog (da4ml).
    Its accelerator build goes to $CODESIGN_RTL_BUILDS, where a second RTL run on the same array reuses it."""
    monkeypatch.setenv(flow.RTL_BUILDS_ENV, str(tmp_path / "builds"))
    layers = (config.LayerSpec("dense", name="fc1", units=8, weight_bits=4, sparsity=0.5),
              config.LayerSpec("dense", name="output", activation="linear", weight_bits=4))
    cfg = config.validate(dataclasses.replace(config.default_config("digits"), name="digits-tiny", layers=layers))
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=3, float_epochs=0),
                              rtl=config.RtlConfig(rows=4, cols=4, samples=64, synth=False, unrolled=True))
    rep = flow.run_flow(cfg, tmp_path / "run", tmp_path / "hls", progress=False)
    for key in ("qkeras_vs_rtl", "qkeras_vs_unrolled", "hls4ml_vs_unrolled"):
        assert rep["exactness"][key] == {"samples": 64, "mismatched": 0, "max_abs_diff": 0.0}, key
    assert rep["unrolled"]["latency_cycles"] == rep["estimate"]["unrolled"]["total"]["latency_cycles"] == 3
    assert not (tmp_path / "run" / "rtl_build").exists()
    (build,) = (tmp_path / "builds").glob("verilator_*")
    simulator = build / "accel_top"  # the Verilator executable
    built = simulator.stat().st_mtime_ns
    again = flow.rtl_stage(tmp_path / "run", config.RtlConfig(rows=4, cols=4, samples=8, synth=False), progress=False)
    assert again["exactness"]["qkeras_vs_rtl"]["mismatched"] == 0 and simulator.stat().st_mtime_ns == built
    monkeypatch.delenv(flow.RTL_BUILDS_ENV)
    assert flow.rtl_build_root(tmp_path / "run") == tmp_path / "run" / "rtl_build"
