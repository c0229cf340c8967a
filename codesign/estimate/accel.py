"""Cost model of the ``accel`` target (our systolic array, ``rtl/accel_top.sv``).

Resources are a sum of parts (``codesign.estimate.accel_parts``): the PE array, COLS PPUs, the
activation, weight, bias, output and descriptor memories, the controller, loader, streamer, pooling
unit, write-back buffer and accel_top's own glue. For each part and family (``ecp5``: Yosys
``synth_ecp5``; ``xc7``: Yosys ``synth_xilinx -family xc7 -flatten``):

* LUT and FF are ``sum(coefficient * feature)`` over the features in ``features()``: register and
  datapath bit counts read off the RTL (for example the array's ``pe_acc`` = ROWS * COLS *
  ACC_BITS), with non-negative coefficients fitted on Yosys runs of that module alone
  (``codesign.estimate.calibrate_accel``). The glue is fitted on whole-top runs: what accel_top adds
  around its modules, less what flattening removes across their boundaries (a signed fit).
* DSP is exact: one multiplier per PE (ACT_BITS + 1 by WEIGHT_BITS, at most 17 x 16, one
  MULT18X18D or DSP48E1).
* BRAM is exact, in 18 Kb blocks, from each RAM array's width and depth: ``map_memory`` computes
  Yosys memory_libmap's cost of every block-RAM and LUT-RAM cell and base width of the family and
  takes the cheapest, as Yosys does (its flip-flop fallback is not modelled: Yosys chose it for no
  memory of the calibrated builds, whose memories are at least four words deep).

Cycles are the compiler's (``codesign.accel.compiler``, equal to the RTL's ``perf_cycles``): per
layer and in total for ``samples`` samples run in chunks of the program's batch. Fmax is a range
over placement seeds from nextpnr measurements (``fmax_range``); latency in µs = cycles / Fmax.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from codesign.accel.spec import AccelSpec
from codesign.errors import CodesignError
from codesign.estimate import Cost, EstimateError, TargetEstimate, load_data, outside
from codesign.estimate.accel_parts import Memory, amem_layout, clog2, glue_ff, part_memories, parts, widths

FAMILIES = ("ecp5", "xc7")
DATA_FILE = Path(__file__).resolve().parent / "data" / "accel_model.json"

@dataclass(frozen=True)
class RamCell:
    """One RAM cell type of a Yosys memory library (``memory_libmap``): its cost, widthscale, address
    bits at its narrowest width, data widths, byte-enable width (0: none) and 18 Kb blocks per cell."""

    name: str
    kind: str           # block | distributed
    cost: float
    widthscale: float
    abits: int
    widths: tuple[int, ...]
    byte: int = 0
    blocks: int = 1


# The cells synth_ecp5 and synth_xilinx -family xc7 map a simple dual-port RAM to
# (share/lattice/brams_16kd.txt, lutrams_trellis.txt; share/xilinx/brams_xc4v.txt, lutrams_xc5v.txt).
RAM_CELLS: dict[str, tuple[RamCell, ...]] = {
    "ecp5": (
        RamCell("DP16KD", "block", 128, 0, 14, (1, 2, 4, 9, 18), byte=9),
        RamCell("PDPW16KD", "block", 128, 0, 14, (9, 18, 36), byte=9),
        RamCell("TRELLIS_DPR16X4", "distributed", 4, 0, 4, (4,)),
    ),
    "xc7": (
        RamCell("RAMB18E1", "block", 129, 0, 14, (1, 2, 4, 9, 18, 36), byte=9),
        RamCell("RAMB36E1", "block", 257, 0, 15, (1, 2, 4, 9, 18, 36, 72), byte=9, blocks=2),
        RamCell("RAM32M", "distributed", 8, 7, 5, (6,)),
        RamCell("RAM64M", "distributed", 8, 7, 6, (3,)),
        RamCell("RAM32X1D", "distributed", 8, 8, 5, (4,)),
        RamCell("RAM64X1D", "distributed", 8, 8, 6, (2,)),
        RamCell("RAM128X1D", "distributed", 8, 8, 7, (1,)),
    ),
}
FACTOR_MUX = 0.5     # memory_libmap's cost of one read-mux input bit
FACTOR_DEMUX = 0.5   # and of one write-enable decode output


def _cell_options(cell: RamCell, width: int, depth: int) -> list[tuple[float, int]]:
    """(memory_libmap cost, cells) of ``width`` x ``depth`` on ``cell`` at each of its base widths."""
    out = []
    for b, unit in enumerate(cell.widths):
        byte = unit if not cell.byte or cell.byte > unit else cell.byte
        padded = -(-width // byte) * byte
        cell_depth = 1 << (cell.abits - _width_index(cell, b))
        mult_a = -(-depth // cell_depth)
        repl = -(-mult_a * padded // unit)
        cost = (cell.cost - cell.widthscale) * repl + cell.widthscale * mult_a * width / unit
        cost += FACTOR_MUX * (mult_a - 1) * width + (FACTOR_DEMUX * mult_a if mult_a > 1 else 0.0)
        out.append((cost, repl))
    return out


def _width_index(cell: RamCell, b: int) -> int:
    """How many times a block RAM's depth halves from its narrowest width to base width ``b`` (its
    widths 1, 2, 4, 9, 18, 36, 72 are consecutive halvings; a LUT RAM cell has one width)."""
    ladder = (1, 2, 4, 9, 18, 36, 72)
    return ladder.index(cell.widths[b]) if cell.widths[b] in ladder and cell.kind == "block" else b


def map_memory(family: str, mem: Memory) -> tuple[str, str, int]:
    """Where Yosys puts one RAM array: (kind "block" | "distributed", cell, cells per copy), the
    cheapest configuration by memory_libmap's cost (ties to the first in library order)."""
    best: tuple[float, str, str, int] | None = None
    for cell in RAM_CELLS[family]:
        if mem.block and cell.kind != "block":
            continue
        for cost, repl in _cell_options(cell, mem.width, mem.depth):
            if best is None or cost < best[0]:
                best = (cost, cell.kind, cell.name, repl * cell.blocks)
    assert best is not None
    return best[1], best[2], best[3]


def bram_blocks(family: str, width: int, depth: int) -> int:
    """18 Kb blocks of a ``width`` x ``depth`` RAM mapped to block RAM (the cheapest block mode)."""
    return map_memory(family, Memory("", width, depth, block=True))[2]


def memory_bram(family: str, mem: Memory) -> int:
    """18 Kb blocks of ``mem`` (all its copies); 0 where it goes to LUT RAM."""
    if mem.write_words > 1:
        # A write port of several words (accel_amem): the block is sized for the write width.
        return mem.count * bram_blocks(family, mem.width * mem.write_words, mem.depth // mem.write_words)
    kind, _, blocks = map_memory(family, mem)
    return mem.count * blocks if kind == "block" else 0


def part_bram(module: str, params: Mapping[str, int], family: str) -> int:
    """18 Kb blocks of one module with its parameters."""
    return sum(memory_bram(family, m) for m in part_memories(module, dict(params)))


# --------------------------------------------------------------------------- features


def _mem_features(family: str, width: int, depth: int, slice_regs: int, raddr_regs: int) -> dict[str, float]:
    kind, cell, _ = map_memory(family, Memory("", width, depth))
    lut = kind == "distributed"
    cell_depth = next(1 << c.abits for c in RAM_CELLS[family] if c.name == cell)
    return {
        "write_port": float(slice_regs),
        "read_addr": float(raddr_regs),
        "lutram_out": float(width) if lut else 0.0,
        "lutram_mux": float(width * (math.ceil(depth / cell_depth) - 1)) if lut else 0.0,
    }


def _beat_ram_features(family: str, p: Mapping[str, int]) -> dict[str, float]:
    """accel_beat_ram: 32-bit slices, each with its registered write port (and read address)."""
    width, depth, raddr = p["WIDTH"], p["DEPTH"], p["RADDR_REG"]
    aw = clog2(depth)
    out = {k: 0.0 for k in ("write_port", "read_addr", "lutram_out", "lutram_mux")}
    full, rest = divmod(width, 32)
    for w, n in ((32, full), (rest, 1 if rest else 0)):
        if n:
            f = _mem_features(family, w, depth, n * (1 + aw + w), raddr * n * aw)
            for k, v in f.items():
                out[k] += v * (1 if k in ("write_port", "read_addr") else n)
    return out


def _sdpram_features(family: str, p: Mapping[str, int]) -> dict[str, float]:
    return _mem_features(family, p["WIDTH"], p["DEPTH"], 0, 0)


def _array_features(family: str, p: Mapping[str, int]) -> dict[str, float]:
    r, c, a, w, acc, lanes, idx = (p[k] for k in ("ROWS", "COLS", "ACT_BITS", "WEIGHT_BITS", "ACC_BITS",
                                                  "LANES", "IDX_BITS"))
    ax = a + 1
    pe = r * c
    return {
        "pe": float(pe),
        "pe_act": float(pe * ax),
        "pe_lanes": float(pe * ax * (lanes - 1)),
        "pe_weight": float(pe * (w + idx)),
        "pe_acc": float(pe * acc),
        "skew": r * (r - 1) / 2 * lanes * ax + c * (c - 1) / 2 * (w + idx + 1),
        "deskew": c * (c - 1) / 2 * (acc + 1),
        "col": float(c * acc),
        "collect": float(c * (acc + 1) * ((r + 3) // 4)) if r > 1 else 0.0,
        "edge": float(r * lanes * a + c * (w + idx)),
    }


def _ppu_features(family: str, p: Mapping[str, int]) -> dict[str, float]:
    s = p["ACC_BITS"] + 2
    return {"one": 1.0, "bits": float(s), "bits_bytes": float(s * math.ceil(s / 8))}


def _amem_features(family: str, p: Mapping[str, int]) -> dict[str, float]:
    rows, width, words, depth, aa = (p[k] for k in ("ROWS", "WIDTH", "WORDS", "DEPTH", "AA"))
    sb = clog2(words)
    rs, nram = amem_layout(width, words)
    nb = sb - clog2(rs)
    g = min(nram, 4)
    ng = nram // g
    pairs = (rows + 1) // 2
    return {
        "write_regs": float((1 + pairs) * (words * width + words + aa - sb)),
        "bank_regs": float(rows * nram * (rs * width + rs + (aa - sb) + (aa - nb))),
        "ram_out": float(rows * nram * 2 * width),
        "bank_out": float(rows * width * (ng + 1)),
        "bank_addr": float(rows * aa),
        "sel_regs": float(rows * (4 * nb + (nb - clog2(g) if ng > 1 else 0))) if nb else 0.0,
        "select_group": float(rows * width * ng) if g > 1 else 0.0,
        "select_groups": float(rows * width * (ng - 1)),
    }


def _ctrl_features(family: str, p: Mapping[str, int]) -> dict[str, float]:
    addr = p["DA"] + p["AA"] + p["WA"] + p["BA"] + p["OA"]
    return {"one": 1.0, "rows": float(p["ROWS"]), "cols": float(p["COLS"]), "addr": float(addr),
            "step_word": float(p["COLS"] * p["WE"]), "row_addr": float(p["ROWS"] * p["AA"])}


def _loader_features(family: str, p: Mapping[str, int]) -> dict[str, float]:
    return {"one": 1.0, "beats": float(p["BUF_BEATS"])}


def _streamer_features(family: str, p: Mapping[str, int]) -> dict[str, float]:
    return {"one": 1.0, "row_bits": float(p["COLS"] * p["ACC_BITS"]), "addr": float(p["ADDR_BITS"]),
            "cols": float(p["COLS"])}


def _pool_features(family: str, p: Mapping[str, int]) -> dict[str, float]:
    return {"one": 1.0, "word": float(p["LANES"] * p["ACT_BITS"]), "addr": float(p["AA"])}


def _abuf_features(family: str, p: Mapping[str, int]) -> dict[str, float]:
    sb = clog2(p["WORDS"])
    return {"regs": float(p["WORDS"] * (1 + p["LANES"] * p["ACT_BITS"]) + p["AA"] - sb)}


def glue_features(family: str, spec: AccelSpec) -> dict[str, float]:
    """accel_top's own logic: its registers (``glue_ff``) and the activation memory's OR-ed write
    port (its words and address bits)."""
    w = widths(spec)
    return {"regs": float(glue_ff(spec)), "amem_port": float(w["AMEM_WR"] * w["AMEM_W"] + w["AA"])}


FEATURES = {
    "accel_array": _array_features,
    "accel_ppu": _ppu_features,
    "accel_amem": _amem_features,
    "accel_beat_ram": _beat_ram_features,
    "accel_sdpram": _sdpram_features,
    "accel_ctrl": _ctrl_features,
    "accel_loader": _loader_features,
    "accel_streamer": _streamer_features,
    "accel_pool": _pool_features,
    "accel_abuf": _abuf_features,
}


# Modules fitted together (one coefficient set): the RAM wrappers share their mapping.
FIT_GROUPS = {"accel_beat_ram": "memory", "accel_sdpram": "memory"}


def fit_group(module: str) -> str:
    """The coefficient set of ``module``."""
    return FIT_GROUPS.get(module, module)


def features(module: str, params: Mapping[str, int], family: str) -> dict[str, float]:
    """The features of one module with its Verilog parameters (the fit's columns)."""
    return FEATURES[module](family, params)


# --------------------------------------------------------------------------- the model


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise EstimateError(f"accel estimate: family {family!r} is not one of {', '.join(FAMILIES)}")
    return family


def load_model(path: str | Path | None = None) -> dict[str, Any]:
    """The calibration data (coefficients, ranges, measured points)."""
    return load_data(str(path or DATA_FILE), "accel")


def _apply(coefs: Mapping[str, float], feats: Mapping[str, float]) -> float:
    return sum(coefs.get(k, 0.0) * v for k, v in feats.items())


def component_costs(spec: AccelSpec, family: str, data: Mapping[str, Any] | None = None) -> dict[str, dict[str, float]]:
    """Per component: lut, ff, dsp, bram (all instances of it) on ``family``."""
    data = data or load_model()
    fam = data["coefficients"][family]
    out: dict[str, dict[str, float]] = {}
    for part in parts(spec):
        params = dict(part.params)
        f = features(part.module, params, family)
        c = fam[fit_group(part.module)]
        bram = part.count * part_bram(part.module, params, family)
        out[part.name] = {
            "lut": part.count * _apply(c["lut"], f),
            "ff": part.count * _apply(c["ff"], f),
            "dsp": float(spec.rows * spec.cols) if part.name == "array" else 0.0,
            "bram": float(bram),
        }
    g = glue_features(family, spec)
    out["glue"] = {"lut": _apply(fam["glue"]["lut"], g), "ff": _apply(fam["glue"]["ff"], g), "dsp": 0.0, "bram": 0.0}
    return out


def extrapolation(spec: AccelSpec, data: Mapping[str, Any] | None = None) -> list[str]:
    """One note per parameter outside the range the components and the whole top were fitted on."""
    data = data or load_model()
    notes = []
    for name, (lo, hi) in data["ranges"].items():
        if name == "pes":
            value = spec.rows * spec.cols
        else:
            value = getattr(spec, name)
        note = outside(name, value, lo, hi)
        if note:
            notes.append(note)
    return notes


def fmax_range(spec: AccelSpec, data: Mapping[str, Any] | None = None) -> tuple[float, float]:
    """ECP5 Fmax (MHz) as (lowest, highest) over the measured placements of the nearest measured
    array size (by PE count on a log scale)."""
    data = data or load_model()
    points = data["fmax"]["points"]
    pes = spec.rows * spec.cols
    sizes = sorted({p["rows"] * p["cols"] for p in points})
    near = min(sizes, key=lambda s: abs(math.log(s) - math.log(pes)))
    values = [p["fmax_mhz"] for p in points if p["rows"] * p["cols"] == near]
    return (min(values), max(values))


def _layer_cycles(nodes: list, spec: AccelSpec, samples: int) -> tuple[list[Cost], int, int]:
    """(per-layer costs with their cycles, total cycles, batch) for ``samples`` samples."""
    from codesign.accel.compiler import compile_model

    try:
        program = compile_model(nodes, spec)
    except CodesignError as exc:
        raise EstimateError(f"accel estimate: {exc}") from None
    chunks = program.chunks(samples)
    layers = []
    for layer in program.layers:
        cycles = sum(layer.cycles(spec, stop - start) for start, stop in chunks)
        layers.append(Cost(layer.name, latency_cycles=int(cycles)))
    total = sum(program.chunk_cycles(stop - start) for start, stop in chunks)
    return layers, int(total), program.batch


def estimate(nodes: list | None, spec: AccelSpec, *, samples: int = 1, family: str = "ecp5",
             data_file: str | Path | None = None) -> TargetEstimate:
    """Resources of the ``spec`` build on ``family`` as a sum of its components; with ``nodes``, the
    cycles of ``samples`` samples per layer and in total (exact), and the latency range in µs."""
    check_family(family)
    if not isinstance(spec, AccelSpec):
        raise EstimateError(f"accel estimate: spec must be an AccelSpec, not {type(spec).__name__}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise EstimateError(f"accel estimate: samples={samples!r} must be an integer >= 1")
    data = load_model(data_file)
    comps = component_costs(spec, family, data)
    totals = {k: sum(c[k] for c in comps.values()) for k in ("lut", "ff", "dsp", "bram")}
    fmax = fmax_range(spec, data)
    params: dict[str, Any] = {
        "spec": asdict(spec),
        "family": family,
        "samples": samples,
        "components": {name: {k: round(v, 1) for k, v in c.items()} for name, c in comps.items()},
        "fmax_note": data["fmax"]["note"],
    }
    layers: list[Cost] = []
    cycles = None
    if nodes is not None:
        layers, cycles, batch = _layer_cycles(nodes, spec, samples)
        params["batch"] = batch
        params["latency_us"] = [round(cycles / fmax[1], 3), round(cycles / fmax[0], 3)]
    total = Cost("accel", lut=round(totals["lut"]), ff=round(totals["ff"]), dsp=round(totals["dsp"]),
                 bram=round(totals["bram"]), latency_cycles=cycles, fmax_mhz=fmax)
    notes = extrapolation(spec, data)
    if family == "xc7":
        params["fmax_family"] = "ecp5 (nextpnr); no xc7 place and route here"
    return TargetEstimate("accel", layers, total, params, notes)


def calibrate(out: Path | None = None, jobs: int = 1, progress: bool = True) -> Path:
    """Regenerate the calibration data (Yosys runs, fits, held-out check): see calibrate_accel."""
    from codesign.estimate.calibrate_accel import run_calibration

    return run_calibration(out or DATA_FILE, jobs=jobs, progress=progress)
