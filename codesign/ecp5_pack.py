"""Pack flip-flops into the registers of ECP5 DSP and block-RAM cells (a Yosys JSON netlist pass).

Yosys `synth_ecp5` maps multipliers to MULT18X18D and memories to DP16KD with every internal
register off, and leaves the flip-flops around them in the fabric. nextpnr then times a
MULT18X18D as 3.9 ns of combinational logic between two long routes, and a DP16KD read as
5.8 ns clock-to-out. Vendor tools pack those flip-flops into the hard blocks; this pass does
the same on the netlist Yosys wrote, before nextpnr reads it:

* MULT18X18D: when every non-constant A (or B) input is the Q of a flip-flop, the DSP's input
  register (REG_INPUTA/B_CLK = CLK0) takes over (a flip-flop that also fed other logic stays
  there as the register's twin); when every used P output feeds exactly one flip-flop, those
  become its output register (REG_OUTPUT_CLK = CLK0).
* DP16KD: when every used read-data output of a port feeds exactly one flip-flop, those become
  the port's output register (REGMODE = OUTREG). Both ports at once for the 36-bit
  pseudo-dual-port mode, whose read data spans DOA and DOB.

A flip-flop qualifies when it is plain: clocked on the rising edge by the block's clock, reset
(if at all) to zero, with either no clock enable or no reset (the hard registers' enable-versus-reset
priority is not the fabric's, so the pass never relies on it). All flip-flops packed into one
block share clock, enable and reset. The behaviour is unchanged: each register keeps its
clock, enable, reset and position in the pipeline.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

FF = "TRELLIS_FF"
DSP = "MULT18X18D"
BRAM = "DP16KD"
_CONST = ("0", "1", "x", "z")


@dataclass(frozen=True)
class _Control:
    """What a flip-flop shares with the hard register it is packed into."""

    clk: Any
    ce: Any      # net, or "1" for no clock enable
    rst: Any     # net, or "0" for no reset
    sync: bool   # reset is synchronous


def _param(cell: dict[str, Any], name: str, default: str) -> str:
    # Yosys appends a space to string parameters that would read as binary ("1 " for "1").
    return str(cell.get("parameters", {}).get(name, default)).strip()


def _int_param(cell: dict[str, Any], name: str) -> int:
    text = _param(cell, name, "0")
    return int(text, 2) if set(text) <= {"0", "1"} else int(text)


class _Netlist:
    def __init__(self, module: dict[str, Any]):
        self.cells: dict[str, dict[str, Any]] = module["cells"]
        self.driver: dict[Any, tuple[str, str]] = {}
        self.loads: dict[Any, list[tuple[str, str]]] = defaultdict(list)
        for name, cell in self.cells.items():
            dirs = cell.get("port_directions", {})
            for port, bits in cell["connections"].items():
                for bit in bits:
                    if bit in _CONST:
                        continue
                    if dirs.get(port) == "output":
                        self.driver[bit] = (name, port)
                    else:
                        self.loads[bit].append((name, port))
        self.port_bits = {b for p in module.get("ports", {}).values() for b in p["bits"]}

    def plain_ff(self, name: str) -> _Control | None:
        cell = self.cells[name]
        if cell["type"] != FF:
            return None
        if (_param(cell, "CLKMUX", "CLK") != "CLK" or _param(cell, "LSRMUX", "LSR") != "LSR"
                or _param(cell, "REGSET", "RESET") != "RESET"):
            return None
        conn = cell["connections"]
        cemux = _param(cell, "CEMUX", "1")
        if cemux == "1":
            ce: Any = "1"
        elif cemux == "CE":
            ce = conn.get("CE", ["1"])[0]
        else:
            return None
        rst = conn.get("LSR", ["0"])[0]
        if ce != "1" and rst != "0":
            return None
        sync = _param(cell, "SRMODE", "LSR_OVER_CE") != "ASYNC"
        return _Control(conn["CLK"][0], ce, rst, sync)

    def ffs_in_front(self, cell: str, pins: list[str]) -> dict[str, str] | None:
        """pin -> flip-flop, when every non-constant pin is a plain flip-flop's Q."""
        conn = self.cells[cell]["connections"]
        found = {}
        for pin in pins:
            bit = conn[pin][0]
            if bit in _CONST:
                if bit != "0":  # a packed register would read 0, not 1, while in reset
                    return None
                continue
            drv = self.driver.get(bit)
            if drv is None or drv[1] != "Q" or self.plain_ff(drv[0]) is None:
                return None
            found[pin] = drv[0]
        return found

    def ffs_behind(self, cell: str, pins: list[str]) -> dict[str, str] | None:
        """pin -> flip-flop, when every loaded pin feeds exactly one plain FF (its D) and nothing else."""
        conn = self.cells[cell]["connections"]
        found = {}
        for pin in pins:
            bit = conn[pin][0]
            if bit in _CONST or not self.loads[bit] and bit not in self.port_bits:
                continue
            loads = self.loads[bit]
            if bit in self.port_bits or len(loads) != 1 or loads[0][1] != "DI":
                return None
            if self.plain_ff(loads[0][0]) is None:
                return None
            found[pin] = loads[0][0]
        return found

    def control(self, ffs: list[str]) -> _Control | None:
        ctrls = {self.plain_ff(ff) for ff in ffs}
        return ctrls.pop() if len(ctrls) == 1 else None

    def connect(self, cell: str, pin: str, bit: Any) -> None:
        """Connect `cell`.`pin` to `bit`, keeping the driver and load indexes current."""
        conn = self.cells[cell]["connections"]
        # nextpnr needs a direction for every connected pin; the pins the pass adds are inputs.
        output = self.cells[cell].setdefault("port_directions", {}).setdefault(pin, "input") == "output"
        old = conn.get(pin, [None])[0]
        if old is not None and old not in _CONST:
            if output:
                self.driver.pop(old, None)
            else:
                self.loads[old].remove((cell, pin))
        conn[pin] = [bit]
        if bit not in _CONST:
            if output:
                self.driver[bit] = (cell, pin)
            else:
                self.loads[bit].append((cell, pin))

    def remove(self, cell: str) -> None:
        for pin in list(self.cells[cell]["connections"]):
            self.connect(cell, pin, "x")
        del self.cells[cell]

    def pack_in_front(self, cell: str, pin_ffs: dict[str, str]) -> None:
        """The block's pins take the flip-flops' D. A flip-flop that fed only the block goes; one
        that also feeds other logic stays (the block's register is then a duplicate of it)."""
        for pin, ff in pin_ffs.items():
            self.connect(cell, pin, self.cells[ff]["connections"]["DI"][0])
        for ff in set(pin_ffs.values()):
            q = self.cells[ff]["connections"]["Q"][0]
            if not self.loads[q] and q not in self.port_bits:
                self.remove(ff)

    def pack_behind(self, cell: str, pin_ffs: dict[str, str]) -> None:
        """The block's pins drive the flip-flops' Q nets; the flip-flops go."""
        for pin, ff in pin_ffs.items():
            q = self.cells[ff]["connections"]["Q"][0]
            self.connect(ff, "Q", "x")
            self.connect(cell, pin, q)
        for ff in set(pin_ffs.values()):
            self.remove(ff)


def _pins(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def _pack_dsp(net: _Netlist, name: str) -> dict[str, int]:
    cell = net.cells[name]
    conn, params = cell["connections"], cell.setdefault("parameters", {})
    a = net.ffs_in_front(name, _pins("A", 18))
    b = net.ffs_in_front(name, _pins("B", 18))
    p = net.ffs_behind(name, [pin for pin in _pins("P", 36) if pin in conn])
    groups = {k: g for k, g in (("A", a), ("B", b), ("P", p)) if g}
    if not groups:
        return {}
    ctrl = net.control([ff for g in groups.values() for ff in g.values()])
    if ctrl is None:
        return {}
    for pin, bit in (("CLK0", ctrl.clk), ("CE0", ctrl.ce), ("RST0", ctrl.rst)):
        net.connect(name, pin, bit)
    params["RESETMODE"] = "SYNC" if ctrl.sync else "ASYNC"
    params["GSR"] = "DISABLED"
    packed = {}
    for key, group in groups.items():
        reg = {"A": "REG_INPUTA", "B": "REG_INPUTB", "P": "REG_OUTPUT"}[key]
        params[f"{reg}_CLK"], params[f"{reg}_CE"], params[f"{reg}_RST"] = "CLK0", "CE0", "RST0"
        (net.pack_behind if key == "P" else net.pack_in_front)(name, group)
        count = "dsp_output_ff" if key == "P" else "dsp_input_ff"
        packed[count] = packed.get(count, 0) + len(set(group.values()))
    return packed


def _pack_bram(net: _Netlist, name: str) -> dict[str, int]:
    cell = net.cells[name]
    conn, params = cell["connections"], cell["parameters"]
    pdp = 36 in (_int_param(cell, "DATA_WIDTH_A"), _int_param(cell, "DATA_WIDTH_B"))
    ports = [("A", "B")] if pdp else [("A",), ("B",)]
    packed = 0
    reset_mode = None   # set by the first port packed with a reset
    for letters in ports:
        pins = [pin for x in letters for pin in _pins(f"DO{x}", 18) if pin in conn]
        group = net.ffs_behind(name, pins)
        if not group:
            continue
        ctrl = net.control(list(group.values()))
        # The read clock: port B's in pseudo-dual-port mode, else the port's own. The port's reset
        # must be free: it becomes the output register's reset (one mode for the whole block).
        clock_pin = "CLKB" if pdp else f"CLK{letters[0]}"
        if (ctrl is None or conn[clock_pin][0] != ctrl.clk
                or any(conn[f"RST{x}"][0] != "0" for x in letters)
                or ctrl.rst != "0" and reset_mode not in (None, ctrl.sync)):
            continue
        for x in letters:
            params[f"REGMODE_{x}"] = "OUTREG"
            net.connect(name, f"OCE{x}", ctrl.ce)
            net.connect(name, f"RST{x}", ctrl.rst)
        if ctrl.rst != "0":
            reset_mode = ctrl.sync
            params["RESETMODE"] = params["ASYNC_RESET_RELEASE"] = "SYNC" if ctrl.sync else "ASYNC"
        net.pack_behind(name, group)
        packed += len(group)
    return {"bram_output_ff": packed} if packed else {}


def pack_registers(netlist: dict[str, Any], top: str) -> dict[str, int]:
    """Pack flip-flops into the DSP and block-RAM cells of `top`, in place.

    Returns counts: blocks changed and flip-flops packed, by kind.
    """
    net = _Netlist(netlist["modules"][top])
    totals: dict[str, int] = defaultdict(int)
    for name in [n for n, c in net.cells.items() if c["type"] in (DSP, BRAM)]:
        kind = net.cells[name]["type"]
        got = (_pack_dsp if kind == DSP else _pack_bram)(net, name)
        if got:
            totals["dsp_packed" if kind == DSP else "bram_packed"] += 1
            for key, n in got.items():
                totals[key] += n
    return {k: totals.get(k, 0) for k in ("dsp_packed", "dsp_input_ff", "dsp_output_ff",
                                           "bram_packed", "bram_output_ff")}
