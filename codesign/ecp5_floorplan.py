"""Floorplan the accelerator on the ECP5-85: the systolic array's multipliers in array order.

nextpnr's analytic placer legalizes the MULT18X18D cells one by one onto the DSP rows, which
scatters the systolic array: in an 8×8 int8 build, PE (1, 7) and its neighbour (1, 6) sat 24 rows
apart, every PE's fabric registers were pulled between far-away neighbours, and router1 did not
finish routing (131 MHz with router2). Vendor flows fix a systolic array's shape with relative
placement (RLOC, Pblocks); this pass does the same with nextpnr's `BEL` attribute, which locks a
cell onto a site before placement. PE (i, j)'s multiplier goes to DSP block j of a centred run
of blocks, site i % 4 of the block, on DSP row i // 4: a column of four PEs shares one DSP
block, so the weight link between rows and the activation link between columns are a few tiles
long. Every other cell is left to the placer (locking the activation banks beside the rows they
feed as well made the 8×8 build harder to route, docs/BENCHMARKS.md).

The site grid is the LFE5U-85F's as nextpnr 0.11 names it, read from a design that filled every
MULT18X18D site.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

DSP = "MULT18X18D"

# Left X of the 13 DSP blocks in each DSP row (the centre clock spine adds a gap).
BLOCK_X = (4, 13, 22, 31, 40, 49, 58, 69, 78, 87, 96, 105, 114)
# (X offset in the block, site name) of the four sites of a block, left to right.
DSP_SLOTS = ((0, "MULT18_0"), (1, "MULT18_1"), (4, "MULT18_4"), (5, "MULT18_5"))
# The DSP rows used by arrays of 1-4, 5-8 and 9-12 rows, nearest the die's centre first.
_STRIPS = {1: (34,), 2: (34, 58), 3: (10, 34, 58)}

_PE = re.compile(r"u_array\.g_row\[(\d+)\]\.g_col\[(\d+)\]\.u_pe\.")


def floorplan(netlist: dict[str, Any], top: str) -> dict[str, Any]:
    """Lock the array's multipliers onto DSP sites in array order (`BEL`), in place.

    Returns how many were placed, or why none were: an array wider than 13 columns or taller
    than 12 rows, a PE with more than one multiplier, or multipliers not named in their PEs
    are left to the placer.
    """
    cells = netlist["modules"][top]["cells"]
    pes: dict[tuple[int, int], list[str]] = defaultdict(list)
    for name, cell in cells.items():
        # A DSP is named after a register it absorbed; the PE's own product register
        # (`u_pe.prod`) gives every multiplier of accel_top a name inside its PE.
        if cell["type"] == DSP and (m := _PE.match(name)):
            pes[int(m[1]), int(m[2])].append(name)
    if not pes:
        return {"dsp_placed": 0, "skipped": "no PE multipliers"}
    rows = 1 + max(i for i, _ in pes)
    cols = 1 + max(j for _, j in pes)
    strips = _STRIPS.get(-(-rows // len(DSP_SLOTS)))
    if strips is None or cols > len(BLOCK_X) or any(len(v) != 1 for v in pes.values()):
        return {"dsp_placed": 0,
                "skipped": f"{rows}x{cols} array does not fit one multiplier per DSP site"}
    if len(pes) != rows * cols:
        return {"dsp_placed": 0,
                "skipped": f"{len(pes)} of the {rows}x{cols} PEs have a multiplier named in them"}
    first_block = (len(BLOCK_X) - cols) // 2
    for (i, j), (name,) in pes.items():
        dx, site = DSP_SLOTS[i % len(DSP_SLOTS)]
        y = strips[i // len(DSP_SLOTS)]
        cells[name]["attributes"]["BEL"] = f"X{BLOCK_X[first_block + j] + dx}/Y{y}/{site}"
    return {"dsp_placed": len(pes), "skipped": None}
