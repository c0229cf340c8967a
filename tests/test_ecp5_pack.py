"""codesign.ecp5_pack: flip-flops into MULT18X18D / DP16KD registers.

The rules are checked on small hand-written netlists; the whole path (Yosys, the pass, nextpnr)
on a registered multiplier and a registered RAM read, where nextpnr must time the packed
blocks as registered and find a faster clock than without packing.
"""

from __future__ import annotations

import copy
import json

import pytest

from codesign.ecp5_pack import pack_registers
from codesign.synth import synthesize

CLK, RST, CE = 2, 3, 4


def _ff(d, q, ce="1", rst="0", **params):
    cell = {
        "type": "TRELLIS_FF",
        "parameters": {"CEMUX": "CE" if ce != "1" else "1 ", "CLKMUX": "CLK", "GSR": "DISABLED",
                       "LSRMUX": "LSR", "REGSET": "RESET", "SRMODE": "LSR_OVER_CE", **params},
        "port_directions": {"CLK": "input", "DI": "input", "LSR": "input", "CE": "input",
                            "Q": "output"},
        "connections": {"CLK": [CLK], "DI": [d], "LSR": [rst], "Q": [q]},
    }
    if ce != "1":
        cell["connections"]["CE"] = [ce]
    return cell


def _lut(inputs, out):
    return {"type": "LUT4", "parameters": {},
            "port_directions": {**{p: "input" for p in "ABCD"}, "Z": "output"},
            "connections": {**{p: [b] for p, b in zip("ABCD", inputs)}, "Z": [out]}}


def _mult(a_bits, b_bits, p_bits):
    conn = {f"A{i}": [a_bits[i] if i < len(a_bits) else "0"] for i in range(18)}
    conn.update({f"B{i}": [b_bits[i] if i < len(b_bits) else "0"] for i in range(18)})
    conn.update({f"P{i}": [b] for i, b in enumerate(p_bits)})
    dirs = {p: ("output" if p.startswith("P") else "input") for p in conn}
    dirs.update({p: "input" for p in ("CLK0", "CE0", "RST0")})
    return {"type": "MULT18X18D", "parameters": {}, "port_directions": dirs, "connections": conn}


def _design(*, b_ce=None, b_rst="0", p_extra_load=False, a_shared=False):
    """2-bit a x 2-bit b: a, b registered in front of the multiplier, p registered behind it."""
    cells = {}
    a_d, a_q, b_d, b_q = [10, 11], [20, 21], [12, 13], [22, 23]
    p, p_q = [30, 31, 32, 33], [40, 41, 42, 43]
    for i in range(2):
        cells[f"a{i}"] = _ff(a_d[i], a_q[i], rst=RST)
        cells[f"b{i}"] = _ff(b_d[i], b_q[i], ce=b_ce or "1", rst=b_rst if b_ce else RST)
    for i in range(4):
        cells[f"p{i}"] = _ff(p[i], p_q[i], rst=RST)
    cells["mul"] = _mult(a_q, b_q, p)
    if p_extra_load:
        cells["peek"] = _lut([p[0], "0", "0", "0"], 50)
    if a_shared:
        cells["other"] = _lut([a_q[0], "0", "0", "0"], 51)
    ports = {"y": {"direction": "output", "bits": p_q}}
    return {"modules": {"top": {"ports": ports, "cells": cells}}}


def _cells(netlist):
    return netlist["modules"]["top"]["cells"]


def test_registers_around_a_multiplier_are_packed():
    net = _design()
    counts = pack_registers(net, "top")
    assert counts["dsp_packed"] == 1
    assert counts["dsp_input_ff"] == 4 and counts["dsp_output_ff"] == 4
    cells = _cells(net)
    assert sorted(cells) == ["mul"]  # every flip-flop went into the DSP
    mul = cells["mul"]
    params, conn = mul["parameters"], mul["connections"]
    for reg in ("REG_INPUTA", "REG_INPUTB", "REG_OUTPUT"):
        assert params[f"{reg}_CLK"] == "CLK0" and params[f"{reg}_RST"] == "RST0"
    assert params["RESETMODE"] == "SYNC"
    assert conn["CLK0"] == [CLK] and conn["RST0"] == [RST] and conn["CE0"] == ["1"]
    assert [conn[f"A{i}"][0] for i in range(2)] == [10, 11]   # the flip-flops' D
    assert [conn[f"P{i}"][0] for i in range(4)] == [40, 41, 42, 43]   # their Q: the port bits


def test_enable_and_reset_together_are_not_packed():
    # The DSP's enable-versus-reset priority is not the fabric's: such flip-flops stay.
    net = _design(b_ce=CE, b_rst=RST)
    before = copy.deepcopy(net)
    pack_registers(net, "top")
    cells = _cells(net)
    assert "b0" in cells and "b1" in cells
    assert "REG_INPUTB_CLK" not in cells["mul"]["parameters"]
    assert cells["mul"]["connections"]["B0"] == _cells(before)["mul"]["connections"]["B0"]


def test_mixed_control_sets_are_not_packed():
    net = _design(b_ce=CE)  # b: enable, no reset; a and p: reset, no enable
    counts = pack_registers(net, "top")
    assert counts["dsp_packed"] == 0 and len(_cells(net)) == 9


def test_output_that_feeds_other_logic_is_not_packed():
    net = _design(p_extra_load=True)
    pack_registers(net, "top")
    cells = _cells(net)
    assert all(f"p{i}" in cells for i in range(4))
    assert "REG_OUTPUT_CLK" not in cells["mul"]["parameters"]
    assert cells["mul"]["parameters"]["REG_INPUTA_CLK"] == "CLK0"


def test_shared_input_flip_flop_stays_as_a_twin():
    net = _design(a_shared=True)
    pack_registers(net, "top")
    cells = _cells(net)
    assert "a0" in cells and "a1" not in cells  # a0 still feeds the LUT
    assert cells["mul"]["connections"]["A0"] == [10]


PACK_DEMO = """\
`default_nettype none
module pack_demo (
  input  wire logic               clk,
  input  wire logic               rst,
  input  wire logic signed [7:0]  a,
  input  wire logic signed [7:0]  b,
  input  wire logic               we,
  input  wire logic [8:0]         waddr,
  input  wire logic [8:0]         raddr,
  output logic signed [23:0]      acc,
  output logic [15:0]             r
);
  logic signed [7:0] a_q, b_q;
  logic signed [15:0] p;
  (* no_rw_check *) logic [15:0] mem [512];
  logic [15:0] rdata;
  always_ff @(posedge clk) begin
    if (rst) begin
      a_q <= '0;
      b_q <= '0;
      p <= '0;
      acc <= '0;
    end else begin
      a_q <= a;
      b_q <= b;
      p <= a_q * b_q;
      acc <= acc + 24'(p);
    end
    if (we) mem[waddr] <= {a, b};
    rdata <= mem[raddr];
    r <= rdata;
  end
endmodule
`default_nettype wire
"""


@pytest.mark.slow
def test_packed_blocks_are_timed_as_registered(tmp_path):
    src = tmp_path / "pack_demo.sv"
    src.write_text(PACK_DEMO)
    packed = synthesize([src], "pack_demo", {}, tmp_path / "packed", targets=("ecp5",), seed=1)
    plain = synthesize([src], "pack_demo", {}, tmp_path / "plain", targets=("ecp5",), seed=1,
                       pack_registers=False)
    assert packed["pack_registers"] and not plain["pack_registers"]
    assert plain["ecp5"]["packed_registers"] is None
    assert packed["ecp5"]["packed_registers"] == {
        "dsp_packed": 1, "dsp_input_ff": 16, "dsp_output_ff": 16,
        "bram_packed": 1, "bram_output_ff": 16}
    # 48 flip-flops left the fabric; the DSP and the block RAM stay one each.
    assert plain["ecp5"]["ff"] - packed["ecp5"]["ff"] == 48
    assert packed["ecp5"]["dsp"] == plain["ecp5"]["dsp"] == 1
    assert packed["ecp5"]["bram"] == plain["ecp5"]["bram"] == 1
    net = json.loads((tmp_path / "packed" / "ecp5" / "net_packed.json").read_text())
    cells = net["modules"]["pack_demo"]["cells"].values()
    (ram,) = [c for c in cells if c["type"] == "DP16KD"]
    assert "OUTREG" in (ram["parameters"]["REGMODE_A"], ram["parameters"]["REGMODE_B"])
    # Unpacked, the multiplier is 3.9 ns of logic between two routed nets; packed, nextpnr
    # times it from its registers and the slowest path is the accumulator's.
    assert packed["ecp5"]["fmax_mhz"] > 1.3 * plain["ecp5"]["fmax_mhz"]
