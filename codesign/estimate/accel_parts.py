"""The accelerator's components as ``accel_top`` instantiates them, for an ``AccelSpec``.

Each component is one RTL module with the parameters ``rtl/accel_top.sv`` gives it (the same
localparams, in the same order) and the number of instances: the cost model sums over these, and
the calibration synthesizes each one alone. ``memories`` lists every RAM array inside them (width,
depth, write words, forced block RAM) for the block-RAM rules of ``codesign.estimate.accel``.
"""

from __future__ import annotations

from dataclasses import dataclass

from codesign.accel.spec import DESCRIPTOR_BITS, GROUP_FIELD_BITS, AccelSpec

LOADER_ADDR_BITS = 28   # accel_top's LA
AMEM_READ = 7           # accel_top's AMEM_READ
COMPONENTS = ("array", "ppu", "amem", "wmem", "bmem", "omem", "dmem", "ctrl", "loader", "streamer",
              "pool", "abuf", "glue")


@dataclass(frozen=True)
class Part:
    """One component: ``count`` instances of ``module`` with Verilog ``params``."""

    name: str
    module: str
    params: tuple[tuple[str, int], ...]
    count: int = 1

    @property
    def key(self) -> str:
        """A name for this module and parameter set (build directories, measured-point keys)."""
        return self.module + "".join(f"_{k}{v}" for k, v in self.params)


@dataclass(frozen=True)
class Memory:
    """One RAM array: ``count`` copies of ``width`` x ``depth`` bits, written ``write_words`` words at a
    time; ``block`` when the RTL asks for block RAM (ram_style "block")."""

    part: str
    width: int
    depth: int
    count: int = 1
    write_words: int = 1
    block: bool = False


def clog2(n: int) -> int:
    return max(0, (n - 1).bit_length())


def beats(width: int) -> int:
    return -(-width // 32)


def widths(spec: AccelSpec) -> dict[str, int]:
    """accel_top's localparams."""
    lanes = spec.lanes
    we = spec.weight_entry_bits
    d = {
        "LANES": lanes, "IDX_BITS": spec.idx_bits, "WE": we, "AMEM_W": spec.amem_width,
        "WB_WORDS": spec.writeback_words, "AMEM_WR": spec.amem_write_words,
        "WMEM_W": GROUP_FIELD_BITS + spec.cols * we, "BMEM_W": spec.bmem_width, "OMEM_W": spec.omem_width,
        "AA": clog2(spec.amem_depth), "WA": clog2(spec.wmem_depth), "BA": clog2(spec.bmem_depth),
        "OA": clog2(spec.omem_depth), "DA": clog2(spec.dmem_depth),
    }
    d["BEATS_A"] = beats(d["AMEM_W"])
    d["BEATS_W"] = beats(d["WMEM_W"])
    d["BEATS_B"] = beats(d["BMEM_W"])
    d["BEATS_D"] = DESCRIPTOR_BITS // 32
    d["BUF_BEATS"] = max(d["BEATS_A"], d["BEATS_W"], d["BEATS_B"], d["BEATS_D"])
    d["AMEM_SB"] = clog2(d["AMEM_WR"])
    return d


def parts(spec: AccelSpec) -> list[Part]:
    """Every synthesizable component of accel_top for ``spec`` (the glue, accel_top's own registers
    and write-port logic, is not a module: see ``glue_features``)."""
    w = widths(spec)
    p = lambda **kw: tuple(kw.items())  # noqa: E731
    return [
        Part("array", "accel_array", p(ROWS=spec.rows, COLS=spec.cols, ACT_BITS=spec.act_bits,
                                       WEIGHT_BITS=spec.weight_bits, ACC_BITS=spec.acc_bits,
                                       LANES=w["LANES"], IDX_BITS=w["IDX_BITS"])),
        Part("ppu", "accel_ppu", p(ACC_BITS=spec.acc_bits), count=spec.cols),
        Part("amem", "accel_amem", p(ROWS=spec.rows, WIDTH=w["AMEM_W"], WORDS=w["AMEM_WR"],
                                     DEPTH=spec.amem_depth, AA=w["AA"])),
        Part("wmem", "accel_beat_ram", p(WIDTH=w["WMEM_W"], DEPTH=spec.wmem_depth, RADDR_REG=0)),
        Part("bmem", "accel_beat_ram", p(WIDTH=w["BMEM_W"], DEPTH=spec.bmem_depth, RADDR_REG=0)),
        Part("omem", "accel_sdpram", p(WIDTH=w["OMEM_W"], DEPTH=spec.omem_depth)),
        Part("dmem", "accel_beat_ram", p(WIDTH=DESCRIPTOR_BITS, DEPTH=spec.dmem_depth, RADDR_REG=1)),
        Part("ctrl", "accel_ctrl", p(ROWS=spec.rows, COLS=spec.cols, LANES=w["LANES"],
                                     ABUF_WORDS=w["WB_WORDS"], WE=w["WE"], WMEM_W=w["WMEM_W"],
                                     DA=w["DA"], AA=w["AA"], WA=w["WA"], BA=w["BA"], OA=w["OA"],
                                     AMEM_READ=AMEM_READ)),
        Part("loader", "accel_loader", p(ADDR_BITS=LOADER_ADDR_BITS, BUF_BEATS=w["BUF_BEATS"],
                                         BEATS_D=w["BEATS_D"], BEATS_A=w["BEATS_A"],
                                         BEATS_W=w["BEATS_W"], BEATS_B=w["BEATS_B"])),
        Part("streamer", "accel_streamer", p(COLS=spec.cols, ACC_BITS=spec.acc_bits, ADDR_BITS=w["OA"])),
        Part("pool", "accel_pool", p(LANES=w["LANES"], ACT_BITS=spec.act_bits, AA=w["AA"],
                                     AMEM_READ=AMEM_READ)),
        Part("abuf", "accel_abuf", p(COLS=spec.cols, LANES=w["LANES"], ACT_BITS=spec.act_bits,
                                     ACC_BITS=spec.acc_bits, WORDS=w["AMEM_WR"], AA=w["AA"])),
    ]


def _beat_ram_slices(part: str, width: int, depth: int) -> list[Memory]:
    full, rest = divmod(width, 32)
    out = [Memory(part, 32, depth, count=full)] if full else []
    return out + ([Memory(part, rest, depth)] if rest else [])


def amem_layout(width: int, words: int) -> tuple[int, int]:
    """(words per RAM row RS, RAMs per bank NRAM) of accel_amem."""
    lanes9 = (width + 8) // 9
    rs_fit = 4 // lanes9 if lanes9 <= 4 else 1
    rs = min(words, rs_fit)
    return rs, words // rs


def part_memories(module: str, params: dict[str, int], name: str = "") -> list[Memory]:
    """Every RAM array of one module with its Verilog parameters, as the RTL declares it."""
    if module == "accel_amem":
        rs, nram = amem_layout(params["WIDTH"], params["WORDS"])
        return [Memory(name, params["WIDTH"], params["DEPTH"] // nram, count=params["ROWS"] * nram,
                       write_words=rs, block=True)]
    if module == "accel_beat_ram":
        return _beat_ram_slices(name, params["WIDTH"], params["DEPTH"])
    if module == "accel_sdpram":
        return [Memory(name, params["WIDTH"], params["DEPTH"])]
    return []


def memories(spec: AccelSpec) -> list[Memory]:
    """Every RAM array of the build."""
    return [m for part in parts(spec) for m in part_memories(part.module, dict(part.params), part.name)]


def glue_ff(spec: AccelSpec) -> int:
    """Flip-flops of accel_top's own registers: the weight and bias memories' write-port copies, the
    loader's activation write port (and the low beats of a wide word), the output memory's write
    port and the bias row register."""
    w = widths(spec)
    wb_copy = 2 + w["BEATS_W"] + w["BEATS_B"] + w["WA"] + w["BA"] + 64
    load = (w["BEATS_A"] - 1) * 32 + 1 + w["AA"] + w["AMEM_W"]
    omem = 1 + w["OA"] + w["OMEM_W"]
    return wb_copy + load + omem + w["BMEM_W"]
