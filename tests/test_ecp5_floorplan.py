"""codesign.ecp5_floorplan: the accelerator's multipliers locked onto DSP sites in array order.

The rules are checked on hand-written netlists named like accel_top's; the whole path (Yosys,
the pass, nextpnr) on a small stand-in with the same hierarchy names, where nextpnr must accept
every site and keep every locked cell on it.
"""

from __future__ import annotations

import json
import re

import pytest

from codesign.ecp5_floorplan import BLOCK_X, floorplan
from codesign.synth import synthesize


def _netlist(rows, cols, dsps_per_pe=1):
    cells = {}
    for i in range(rows):
        for j in range(cols):
            for k in range(dsps_per_pe):
                cells[f"u_array.g_row[{i}].g_col[{j}].u_pe.prod_MULT18X18D_P{k}"] = {
                    "type": "MULT18X18D", "attributes": {}}
    cells["u_omem.g_auto.mem.0.0"] = {"type": "DP16KD", "attributes": {}}
    cells["u_pool.mul_MULT18X18D_P0"] = {"type": "MULT18X18D", "attributes": {}}
    return {"modules": {"top": {"cells": cells}}}


def _site(cell):
    x, y, name = re.fullmatch(r"X(\d+)/Y(\d+)/(\w+)", cell["attributes"]["BEL"]).groups()
    return int(x), int(y), name


def test_pe_columns_share_dsp_blocks_and_rows_of_four_share_a_dsp_row():
    net = _netlist(8, 8)
    assert floorplan(net, "top") == {"dsp_placed": 64, "skipped": None}
    cells = net["modules"]["top"]["cells"]
    pe = {(i, j): _site(cells[f"u_array.g_row[{i}].g_col[{j}].u_pe.prod_MULT18X18D_P0"])
          for i in range(8) for j in range(8)}
    assert len(set(pe.values())) == 64
    for (i, j), (x, y, _) in pe.items():
        if i % 4:  # the PE above is in the same DSP block
            assert pe[i - 1, j][1] == y and 0 < x - pe[i - 1, j][0] <= 3
        if j:      # the PE to the left is one block to the left
            assert pe[i, j - 1][1] == y and x - pe[i, j - 1][0] in (9, 11)
    assert {y for _, y, _ in pe.values()} == {34, 58}
    assert all(y == (34 if i < 4 else 58) for (i, _), (_, y, _) in pe.items())
    assert "BEL" not in cells["u_omem.g_auto.mem.0.0"]["attributes"]   # left to the placer
    assert "BEL" not in cells["u_pool.mul_MULT18X18D_P0"]["attributes"]


@pytest.mark.parametrize("rows, cols, dsps", [(4, len(BLOCK_X) + 1, 1), (13, 4, 1), (2, 2, 2)])
def test_arrays_that_do_not_fit_are_left_to_the_placer(rows, cols, dsps):
    net = _netlist(rows, cols, dsps_per_pe=dsps)
    got = floorplan(net, "top")
    assert got["dsp_placed"] == 0 and got["skipped"]
    assert all("BEL" not in c["attributes"] for c in net["modules"]["top"]["cells"].values())


def test_an_array_with_a_multiplier_named_elsewhere_is_left_to_the_placer():
    net = _netlist(4, 4)
    cells = net["modules"]["top"]["cells"]
    cells["u_array.p_MULT18X18D_P0"] = cells.pop("u_array.g_row[2].g_col[1].u_pe.prod_MULT18X18D_P0")
    assert floorplan(net, "top") == {
        "dsp_placed": 0, "skipped": "15 of the 4x4 PEs have a multiplier named in them"}
    assert all("BEL" not in c["attributes"] for c in cells.values())


def test_a_design_without_an_array_is_left_alone():
    net = {"modules": {"top": {"cells": {"m": {"type": "MULT18X18D", "attributes": {}}}}}}
    assert floorplan(net, "top")["skipped"] == "no PE multipliers"
    assert net["modules"]["top"]["cells"]["m"]["attributes"] == {}


# A 6x3 array of registered multiply-accumulates fed by one block RAM per row, with accel_top's
# hierarchy names (u_array.g_row[i].g_col[j].u_pe), in a design that places in seconds.
FLOORPLAN_DEMO = """\
`default_nettype none
module fp_pe (input wire logic clk, input wire logic [8:0] a, b, output logic [19:0] acc);
  logic [8:0] a_q, b_q;
  logic [17:0] prod;
  always_ff @(posedge clk) begin
    a_q <= a; b_q <= b; prod <= a_q * b_q; acc <= acc + 20'(prod);
  end
endmodule
module fp_ram (input wire logic clk, input wire logic we, input wire logic [9:0] addr,
               input wire logic [17:0] d, output logic [17:0] q);
  (* ram_style = "block" *) logic [17:0] mem [1024];
  always_ff @(posedge clk) begin
    if (we) mem[addr] <= d;
    q <= mem[addr];
  end
endmodule
module fp_array (input wire logic clk, input wire logic [6*18-1:0] a, output logic [17:0] y);
  logic [19:0] p [6][3];
  logic [19:0] x;
  for (genvar i = 0; i < 6; i++) begin : g_row
    for (genvar j = 0; j < 3; j++) begin : g_col
      fp_pe u_pe (.clk, .a(a[i*18 +: 9] ^ 9'(j)), .b(a[i*18+9 +: 9] ^ 9'(j + 1)), .acc(p[i][j]));
    end
  end
  always_comb begin
    x = '0;
    for (int i = 0; i < 6; i++) for (int j = 0; j < 3; j++) x = x ^ p[i][j];
  end
  always_ff @(posedge clk) y <= x[19:2];
endmodule
module fp_amem (input wire logic clk, input wire logic we, input wire logic [9:0] addr,
                input wire logic [17:0] d, output logic [6*18-1:0] q);
  for (genvar r = 0; r < 6; r++) begin : g_bank
    fp_ram u_ram (.clk, .we, .addr(addr ^ 10'(r)), .d, .q(q[r*18 +: 18]));
  end
endmodule
module fp_demo (input wire logic clk, input wire logic we, input wire logic [9:0] addr,
                input wire logic [17:0] d, output logic [17:0] y);
  logic [6*18-1:0] q;
  fp_amem u_amem (.clk, .we, .addr, .d, .q);
  fp_array u_array (.clk, .a(q), .y);
endmodule
`default_nettype wire
"""


@pytest.mark.slow
def test_nextpnr_keeps_every_locked_cell_on_its_site(tmp_path):
    src = tmp_path / "fp_demo.sv"
    src.write_text(FLOORPLAN_DEMO)
    result = synthesize([src], "fp_demo", {}, tmp_path, targets=("ecp5",), floorplan=True)
    assert result["floorplan"] is True
    assert result["ecp5"]["floorplan"] == {"dsp_placed": 18, "skipped": None}
    assert result["ecp5"]["fmax_mhz"] > 0
    locked = json.loads((tmp_path / "ecp5" / "net_packed.json").read_text())
    # the placement that gave the numbers (every seed's is kept beside its logs)
    placed = json.loads((tmp_path / "ecp5" / f"placed_s{result['ecp5']['seed']}.json").read_text())
    locked_cells = locked["modules"]["fp_demo"]["cells"]
    placed_cells = placed["modules"]["top"]["cells"]
    wanted = {n: c["attributes"]["BEL"] for n, c in locked_cells.items() if "BEL" in c["attributes"]}
    assert len(wanted) == 18
    assert {n: placed_cells[n]["attributes"]["NEXTPNR_BEL"] for n in wanted} == wanted
