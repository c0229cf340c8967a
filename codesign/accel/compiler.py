"""Compile a described QKeras model (``codesign.analysis.describe``) into an accelerator program.

A dense node, optionally followed by its activation node (``relu``: quantized_relu, unsigned;
``quantize``: quantized_bits, signed), becomes one accelerator layer (one descriptor):

* products carry ``input frac + weight frac`` fractional bits; the bias is aligned to them by a
  left shift (``bias_shift = product frac - bias frac``; a bias finer than the products is refused);
* the activation requantizes with ``shift = product frac - output frac`` and its rounding, then
  saturates to its width (an output finer than the products is refused);
* a final dense without activation outputs the full accumulator (shift 0, signed, accumulator width).

The batch is the M dimension of every GEMM: a chunk of samples runs through all layers from one
start, each layer writing its results back into the activation memory as the next one's inputs.
Flatten is a no-op on (batch, features) codes. Conv2D and MaxPooling2D are not lowered yet: they
are refused with an error naming the layer.

``Program.golden`` is the bit- and cycle-exact prediction (``codesign.accel.golden``); it must equal
``codesign.reference.run`` on every input, and ``codesign.accel.network.run_program`` must equal it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codesign.accel import golden
from codesign.accel.golden import Bases, Layer, PackedWeights, ceil_div
from codesign.accel.spec import DESCRIPTOR_BITS, AccelSpec
from codesign.analysis import Node
from codesign.errors import CodesignError
from codesign.fixedpoint import FixedType

DEFAULT_BATCH = 32     # samples per chunk (one start) the memories are sized for


@dataclass(frozen=True)
class LayerPlan:
    """One accelerator layer in fixed-point terms, before it meets a particular spec."""

    name: str                      # the dense node's name
    weights: np.ndarray            # K x N weight codes
    bias: np.ndarray               # N bias codes
    weight_type: FixedType
    input_type: FixedType
    output_type: FixedType         # activation type, or the accumulator type of a final dense
    bias_shift: int
    shift: int
    rounding: str
    out_bits: int
    out_signed: bool
    relu: bool
    activation: str | None         # the activation node's name (None: raw accumulator out)

    @property
    def k(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n(self) -> int:
        return int(self.weights.shape[1])


def plan_layers(nodes: list[Node]) -> list[LayerPlan]:
    """Group nodes into accelerator layers; refuses what the accelerator cannot run, naming the layer."""
    if not nodes or nodes[0].kind != "input":
        raise CodesignError("the node list must start with an input node (codesign.analysis.describe)")
    plans: list[LayerPlan] = []
    i = 1
    while i < len(nodes):
        node = nodes[i]
        if node.kind == "flatten":
            i += 1
            continue
        if node.kind in ("conv2d", "maxpool2d"):
            what = "conv2d" if node.kind == "conv2d" else "maxpool2d"
            raise CodesignError(f"{what} layer {node.name!r} is not supported on the accelerator yet "
                                f"(supported: dense, relu, quantize, flatten)")
        if node.kind in ("relu", "quantize"):
            raise CodesignError(f"activation layer {node.name!r} does not follow a dense layer directly; "
                                f"the accelerator applies an activation only in a dense layer's post-processing")
        if node.kind != "dense":
            raise CodesignError(f"layer {node.name!r} of kind {node.kind!r} is not supported on the accelerator "
                                f"(supported: dense, relu, quantize, flatten)")
        act = nodes[i + 1] if i + 1 < len(nodes) and nodes[i + 1].kind in ("relu", "quantize") else None
        plans.append(_plan_dense(node, act))
        i += 2 if act is not None else 1
    if not plans:
        raise CodesignError("the model has no dense layer to run on the accelerator")
    last = plans[-1]
    for plan in plans[:-1]:
        if plan.activation is None:
            raise CodesignError(f"dense layer {plan.name!r} has no activation but is not the last layer: its raw "
                                f"accumulator cannot be written back as the next layer's activations")
    del last
    return plans


def _plan_dense(node: Node, act: Node | None) -> LayerPlan:
    name = node.name
    in_t, w_t, b_t = node.input_type, node.weight_type, node.bias_type
    weights = w_t.to_codes(node.kernel_matrix())
    bias = b_t.to_codes(np.asarray(node.bias).reshape(-1))
    product_frac = in_t.frac + w_t.frac
    bias_shift = product_frac - b_t.frac
    if bias_shift < 0:
        raise CodesignError(f"dense layer {name!r}: bias type {b_t} has {b_t.frac} fractional bits, more than the "
                            f"{product_frac} of the products ({in_t} x {w_t}); the accelerator aligns the bias only "
                            f"by a left shift (allowed: bias frac <= {product_frac})")
    if act is None:
        acc_t = node.accum_type
        if acc_t.frac != product_frac:
            raise CodesignError(f"dense layer {name!r}: accumulator type {acc_t} does not have the products' "
                                f"{product_frac} fractional bits")
        return LayerPlan(name, weights, bias, w_t, in_t, acc_t, bias_shift, 0, "TRN", acc_t.width, True, False, None)
    out_t = act.output_type
    shift = product_frac - out_t.frac
    if shift < 0:
        raise CodesignError(f"activation {act.name!r} of dense layer {name!r}: output type {out_t} has {out_t.frac} "
                            f"fractional bits, more than the {product_frac} of the accumulator (allowed: <= {product_frac})")
    if out_t.saturation != "SAT":
        raise CodesignError(f"activation {act.name!r} of dense layer {name!r}: output type {out_t} wraps; the "
                            f"accelerator always saturates (allowed saturation: SAT)")
    return LayerPlan(name, weights, bias, w_t, in_t, out_t, bias_shift, shift, out_t.rounding, out_t.width,
                     out_t.signed, act.kind == "relu", act.name)


# ------------------------------------------------------------------ spec selection

def _pow2(n: int, lo: int = 16) -> int:
    return max(lo, 1 << max(0, int(n) - 1).bit_length())


def _memory_needs(spec: AccelSpec, plans: list[LayerPlan], packed: list[PackedWeights], batch: int) -> dict[str, int]:
    mt = ceil_div(batch, spec.rows)
    amem = sum(mt * ceil_div(p.k, spec.lanes) for p in plans)
    return {
        "amem_depth": amem,
        "wmem_depth": sum(len(pk.words) for pk in packed),
        "bmem_depth": sum(ceil_div(p.n, spec.cols) for p in plans),
        "omem_depth": sum(batch * ceil_div(p.n, spec.cols) for p in plans),
        "dmem_depth": len(plans),
    }



def _check_chain(spec: AccelSpec, plans) -> None:
    """Several layers run from one start only when results can be written back into activation memory."""
    if len(plans) > 1:
        try:
            spec.check_writeback()
        except CodesignError as exc:
            raise CodesignError(f"layer {plans[0].name!r}: chaining layers on the accelerator: {exc}") from None

def choose_spec(nodes: list[Node], rows: int = 8, cols: int = 8, sparse: bool = True, *,
                batch: int = DEFAULT_BATCH) -> AccelSpec:
    """The smallest build that runs the model exactly: weight/activation bits as wide as the widest
    weight / activation type (at least 2), the narrowest accumulator that holds every layer without
    overflow and the final raw accumulator, and memory depths (powers of two) that hold the whole
    program and a chunk of ``batch`` samples. ``sparse``: SPARSE_M = 4 (N:4 compressed weights), else 0."""
    plans = plan_layers(nodes)
    weight_bits = max(2, max(p.weight_type.width for p in plans))
    act_types = [plans[0].input_type] + [p.output_type for p in plans[:-1]]
    act_bits = max(2, max(t.width for t in act_types))
    sparse_m = 4 if sparse else 0
    need_out = max(p.out_bits for p in plans)
    for acc_bits in range(max(weight_bits + act_bits + 1, need_out), 33):
        spec = AccelSpec(rows, cols, weight_bits, act_bits, acc_bits, sparse_m)
        if all(_fits_accumulator(spec, p, signed) for p, signed in zip(plans, [t.signed for t in act_types])):
            break
    else:
        bad = next(p for p in plans if not _fits_accumulator(
            AccelSpec(rows, cols, weight_bits, act_bits, 32, sparse_m), p, True))
        raise CodesignError(f"dense layer {bad.name!r} (K={bad.k}) cannot run without accumulator overflow on a "
                            f"{weight_bits}-bit x {act_bits}-bit array with acc_bits up to 32")
    _check_chain(spec, plans)
    packed = [golden.pack_weights(spec, p.weights, skip_zeros=False) for p in plans]   # worst case: dense packing
    needs = _memory_needs(spec, plans, packed, batch)
    return AccelSpec(rows, cols, weight_bits, act_bits, spec.acc_bits, sparse_m,
                     **{name: _pow2(value) for name, value in needs.items()})


def _fits_accumulator(spec: AccelSpec, plan: LayerPlan, act_signed: bool) -> bool:
    if plan.k > spec.max_depth(act_signed) or plan.out_bits > spec.acc_bits:
        return False
    lim = 1 << (spec.acc_bits - 1)
    aligned = plan.bias.astype(np.int64) << plan.bias_shift
    return not aligned.size or (aligned.min() >= -lim and aligned.max() < lim)


# ------------------------------------------------------------------ the program

@dataclass(frozen=True)
class ProgramLayer:
    """One descriptor of the program (everything but M, which is the chunk's sample count)."""

    name: str
    k: int
    n: int
    sparse: bool                   # weights packed in compressed (zero-skipping) mode
    packed: PackedWeights
    weights: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)
    bias_shift: int
    shift: int
    rounding: str
    out_bits: int
    out_signed: bool
    relu: bool
    act_signed: bool
    w_base: int
    b_base: int
    output_type: FixedType

    @property
    def steps(self) -> list[int]:
        return self.packed.steps()

    def gemm(self, inputs: np.ndarray) -> Layer:
        return Layer(inputs, self.weights, self.bias, self.bias_shift, self.shift, self.rounding, self.out_bits,
                     self.out_signed, self.relu, self.act_signed)


@dataclass
class Program:
    """Weights, biases and descriptors of a compiled model for one AccelSpec; inputs are (batch, features)
    codes of the model's input type, outputs (batch, n_out) codes of the last layer's output type."""

    spec: AccelSpec
    layers: list[ProgramLayer]
    input_type: FixedType
    output_type: FixedType
    batch: int                     # largest chunk (samples per start) the memories hold

    @property
    def sparse_layers(self) -> list[str]:
        return [layer.name for layer in self.layers if layer.sparse]

    def summary(self) -> list[dict]:
        """Per accelerator layer, for reports: shape (M = samples per chunk), mode, weight steps, cycles of one sample."""
        last = len(self.layers) - 1
        return [{"name": layer.name, "m": self.batch, "k": layer.k, "n": layer.n, "sparse": layer.sparse,
                 "weight_steps": sum(layer.steps), "dense_steps": ceil_div(layer.k, self.spec.lanes) * self.spec.lanes
                 * ceil_div(layer.n, self.spec.cols), "out_bits": layer.out_bits, "out_signed": layer.out_signed,
                 "shift": layer.shift, "bias_shift": layer.bias_shift, "rounding": layer.rounding,
                 "cycles_one_sample": golden.layer_cycles(self.spec, 1, layer.steps, layer.n if i < last else None)}
                for i, layer in enumerate(self.layers)]

    @property
    def n_in(self) -> int:
        return self.layers[0].k

    @property
    def n_out(self) -> int:
        return self.layers[-1].n

    # ---- memory placement for a chunk of m samples (inputs of layer i at a_base(i))
    def a_bases(self, m: int) -> list[int]:
        mt = ceil_div(m, self.spec.rows)
        bases, at = [], 0
        for layer in self.layers:
            bases.append(at)
            at += mt * ceil_div(layer.k, self.spec.lanes)
        return bases

    def o_bases(self, m: int) -> list[int]:
        bases, at = [], 0
        for layer in self.layers:
            bases.append(at)
            at += m * ceil_div(layer.n, self.spec.cols)
        return bases

    def check_chunk(self, m: int) -> None:
        if not 1 <= m <= self.batch:
            raise CodesignError(f"a chunk of {m} samples is outside the allowed range 1..{self.batch} of this program")

    def descriptors(self, m: int) -> list[golden.Descriptor]:
        """The descriptor chain for a chunk of ``m`` samples: write-back between layers, the last streams out."""
        self.check_chunk(m)
        a, o = self.a_bases(m), self.o_bases(m)
        out = []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            gemm = layer.gemm(np.zeros((m, layer.k), dtype=np.int64))
            out.append(golden.Descriptor.for_layer(
                self.spec, gemm, Bases(a[i], layer.w_base, layer.b_base, o[i]), stream_out=i == last,
                last=i == last, write_back=a[i + 1] if i < last else None))
        return out

    def weight_beats(self) -> list[int]:
        """Load commands for weights and biases (once per program)."""
        spec = self.spec
        beats: list[int] = []
        for layer in self.layers:
            beats += golden.load_command(golden.TARGET_WEIGHTS, layer.w_base, list(layer.packed.words), spec.wmem_width)
            beats += golden.load_command(golden.TARGET_BIASES, layer.b_base,
                                         golden.bias_words(spec, layer.bias, layer.n), spec.bmem_width)
        return beats

    def chunk_beats(self, x_codes: np.ndarray) -> list[int]:
        """Load commands for one chunk: its inputs and the descriptor chain sized for it."""
        x = self._inputs(x_codes)
        m = len(x)
        spec = self.spec
        descs = self.descriptors(m)
        return (golden.load_command(golden.TARGET_ACTIVATIONS, 0, golden.activation_words(spec, x), spec.amem_width)
                + golden.load_command(golden.TARGET_DESCRIPTORS, 0, [d.word() for d in descs], DESCRIPTOR_BITS))

    def chunk_cycles(self, m: int) -> int:
        """perf_cycles of one start that runs ``m`` samples through every layer."""
        self.check_chunk(m)
        last = len(self.layers) - 1
        return sum(golden.layer_cycles(self.spec, m, layer.steps, layer.n if i < last else None)
                   for i, layer in enumerate(self.layers))

    @property
    def cycles_per_inference(self) -> int:
        return self.chunk_cycles(1)

    def chunks(self, count: int) -> list[tuple[int, int]]:
        """(start, stop) sample ranges of the chunks a batch of ``count`` samples runs in."""
        return [(s, min(s + self.batch, count)) for s in range(0, count, self.batch)]

    def _inputs(self, x_codes: np.ndarray) -> np.ndarray:
        x = np.asarray(x_codes)
        if not np.issubdtype(x.dtype, np.integer):
            if not np.all(x == np.round(x)):
                raise CodesignError("inputs must be integer codes of the input type (use FixedType.to_codes)")
        x = x.astype(np.int64).reshape(len(x), -1)
        if x.shape[1] != self.n_in:
            raise CodesignError(f"inputs have {x.shape[1]} features per sample, the first layer "
                                f"{self.layers[0].name!r} expects {self.n_in}")
        t = self.input_type
        if x.size and (x.min() < t.min_code or x.max() > t.max_code):
            raise CodesignError(f"input codes [{x.min()}, {x.max()}] are outside the allowed range "
                                f"{t.min_code}..{t.max_code} of the input type {t}")
        return x

    def golden(self, x_codes: np.ndarray) -> tuple[np.ndarray, int]:
        """(output codes (batch, n_out), cycles per inference of a one-sample run), bit- and cycle-exact."""
        x = self._inputs(x_codes)
        outs = []
        for start, stop in self.chunks(len(x)):
            codes = x[start:stop]
            for layer in self.layers:
                codes = golden.compute(self.spec, layer.gemm(codes))[1]
            outs.append(codes)
        out = np.concatenate(outs) if outs else np.zeros((0, self.n_out), dtype=np.int64)
        return out, self.cycles_per_inference


def compile_model(nodes: list[Node], spec: AccelSpec, *, sparse: bool | None = None,
                  batch: int | None = None) -> Program:
    """Lower the nodes onto ``spec``. ``sparse``: None = a layer is packed in compressed mode when that
    saves weight steps (N:M-pruned or all-zero groups), True = every layer compressed, False = every
    layer packed densely (the baseline). ``batch``: samples per start (default: what the memories hold,
    at most 1024). Errors name the offending layer."""
    plans = plan_layers(nodes)
    if sparse and spec.sparse_m == 0:
        raise CodesignError(f"sparse=True needs a build with sparse_m=4 (N:4 compressed weights); this one has "
                            f"sparse_m={spec.sparse_m}")
    _check_chain(spec, plans)
    act_types = [plans[0].input_type] + [p.output_type for p in plans[:-1]]
    layers: list[ProgramLayer] = []
    w_at = b_at = 0
    for plan, in_t in zip(plans, act_types):
        where = f"dense layer {plan.name!r}"
        if in_t.width > spec.act_bits:
            raise CodesignError(f"{where}: input type {in_t} needs act_bits >= {in_t.width}, the build has act_bits={spec.act_bits}")
        if plan.weight_type.width > spec.weight_bits:
            raise CodesignError(f"{where}: weight type {plan.weight_type} needs weight_bits >= {plan.weight_type.width}, "
                                f"the build has weight_bits={spec.weight_bits}")
        if plan is not plans[-1] and plan.out_bits > spec.act_bits:
            raise CodesignError(f"{where}: output type {plan.output_type} is the next layer's input and needs "
                                f"act_bits >= {plan.out_bits}, the build has act_bits={spec.act_bits}")
        if not _fits_accumulator(spec, plan, in_t.signed):
            raise CodesignError(f"{where}: K={plan.k} products, the aligned bias or the {plan.out_bits}-bit output do "
                                f"not fit acc_bits={spec.acc_bits} (allowed K: 1..{spec.max_depth(in_t.signed)})")
        dense_pack = golden.pack_weights(spec, plan.weights, skip_zeros=False)
        if sparse is False:
            packed, is_sparse = dense_pack, False
        else:
            compressed = golden.pack_weights(spec, plan.weights, skip_zeros=True)
            is_sparse = bool(sparse) or sum(compressed.steps()) < sum(dense_pack.steps())
            packed = compressed if is_sparse else dense_pack
        layers.append(ProgramLayer(plan.name, plan.k, plan.n, is_sparse, packed, plan.weights, plan.bias,
                                   plan.bias_shift, plan.shift, plan.rounding, plan.out_bits, plan.out_signed,
                                   plan.relu, in_t.signed, w_at, b_at, plan.output_type))
        w_at += len(packed.words)
        b_at += ceil_div(plan.n, spec.cols)
    for name, used, depth in (("weight", w_at, spec.wmem_depth), ("bias", b_at, spec.bmem_depth),
                              ("descriptor", len(layers), spec.dmem_depth)):
        if used > depth:
            raise CodesignError(f"the program needs {used} {name} memory words, more than wmem/bmem/dmem depth "
                                f"{depth} of this build (layers {[p.name for p in plans]})")
    # the largest chunk the activation and output memories hold
    per_row_tile_a = sum(ceil_div(p.k, spec.lanes) for p in plans)
    per_sample_o = sum(ceil_div(p.n, spec.cols) for p in plans)
    max_batch = min(1024, (spec.amem_depth // per_row_tile_a) * spec.rows, spec.omem_depth // per_sample_o)
    if max_batch < 1:
        raise CodesignError(f"one sample needs {per_row_tile_a * spec.rows} activation / {per_sample_o} output "
                            f"memory words; the build has amem_depth={spec.amem_depth}, omem_depth={spec.omem_depth}")
    if batch is not None:
        if not 1 <= batch <= max_batch:
            raise CodesignError(f"batch={batch} is outside the allowed range 1..{max_batch} for this build's memories")
        max_batch = batch
    return Program(spec, layers, plans[0].input_type, plans[-1].output_type, max_batch)
