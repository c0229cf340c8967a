"""Compile a described QKeras model (``codesign.analysis.describe``) into an accelerator program.

A dense or conv2d node, optionally followed by its activation node (``relu``: quantized_relu,
unsigned; ``quantize``: quantized_bits, signed), becomes one accelerator GEMM layer (one descriptor):

* products carry ``input frac + weight frac`` fractional bits; the bias is aligned to them by a
  left shift (``bias_shift = product frac - bias frac``; a bias finer than the products is refused);
* the activation requantizes with ``shift = product frac - output frac`` and its rounding, then
  saturates to its width (an output finer than the products is refused);
* a final dense without activation outputs the full accumulator (shift 0, signed, accumulator width).

Conv2D (valid padding, stride 1) is the same GEMM over the pixels of the stored input grid: the
accelerator's address generation does im2col (each array row reads its own pixel's words, the
kernel offset (kh*W + kw)*CG + cg travels with each weight step). Outputs are computed for every
pixel of the stored grid (those whose window leaves the valid region are garbage and never read),
so a conv's output grid keeps the input's stored size; its valid region shrinks by the kernel.
MaxPooling2D (stride = pool size) is a pool descriptor that writes a compact grid. Flatten is free:
feature maps are stored pixel-major (h, w, channel groups), Keras flattens (h, w, c), so the next
dense layer's weight rows are only re-indexed to the stored layout (zero rows for padding lanes and
garbage pixels; compressed packing skips them).

The batch is the M dimension of every GEMM (times the pixels per image for a conv): a chunk of
samples runs through all layers from one start, each layer writing its results back into the
activation memory as the next one's inputs. Other layers, 'same' padding, strides and a model that
does not end in a dense layer are refused with an error naming the layer.

``Program.golden`` is the bit- and cycle-exact prediction (``codesign.accel.golden``); it must equal
``codesign.reference.run`` on every input, and ``codesign.accel.network.run_program`` must equal it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from codesign.accel import golden
from codesign.accel.golden import Bases, Layer, PackedWeights, ceil_div
from codesign.accel.spec import DESCRIPTOR_BITS, AccelSpec, sparse_m_for
from codesign.analysis import Node, fold_scale
from codesign.errors import CodesignError
from codesign.fixedpoint import FixedType

DEFAULT_BATCH = 32     # samples per chunk (one start) the memories are sized for
SUPPORTED = ("dense, conv1d/conv2d/depthwise2d (valid, stride 1) with per-channel power-of-two scales, maxpool2d, flatten, "
             "relu, quantize (quantized_bits, quantized_tanh)")


def lower(nodes: list[Node]) -> list[Node]:
    """The nodes as the accelerator runs them: a conv1d is a conv2d on a 1-row map, and a depthwise2d
    a conv2d whose kernel is zero off each channel's own (exact: the zeros add nothing). Refuses,
    naming the layer, the geometry the address generation does not run ('same' padding, strides)."""
    first = next((n for n in nodes[1:] if n.kind in ("dense", "conv1d", "conv2d", "depthwise2d", "maxpool2d", "avgpool2d")), None)
    lowered = []
    for node in nodes:
        if node.kind == "batchnorm":
            raise CodesignError(f"batchnorm layer {node.name!r} is not supported on the accelerator, which has no per-channel multiplier "
                                f"(its exact scale needs {node.weight_type.width} bits); fold it into the layer before with QConv2DBatchnorm, which runs here")
        if node.kind in ("conv1d", "conv2d", "depthwise2d") and (node.padding != "valid" or any(s != 1 for s in node.strides or ())):
            raise CodesignError(f"{node.kind} layer {node.name!r}: padding={node.padding!r}, strides={node.strides} is not supported on the "
                                f"accelerator, whose address generation runs padding='valid', strides=1 windows")
        if node.kind == "conv1d":
            node = replace(node, kind="conv2d", kernel=node.kernel[None], output_shape=(1, *node.output_shape), strides=None)
        elif node.kind == "depthwise2d":
            kh, kw, c = node.kernel.shape
            full = np.zeros((kh, kw, c, c))
            full[:, :, np.arange(c), np.arange(c)] = node.kernel
            node = replace(node, kind="conv2d", kernel=full, strides=None)
        elif node.kind == "input" and first is not None and first.kind == "conv1d":
            node = replace(node, output_shape=(1, *node.output_shape))
        lowered.append(node)
    return lowered


@dataclass(frozen=True)
class Grid:
    """A feature map per image: valid h x w x c inside the stored hs x ws grid of pixel words."""

    h: int
    w: int
    c: int
    hs: int
    ws: int

    def groups(self, lanes: int) -> int:
        return ceil_div(self.c, lanes)


@dataclass(frozen=True)
class LayerPlan:
    """One accelerator GEMM layer in fixed-point terms, before it meets a particular spec."""

    name: str                      # the dense / conv2d node's name
    weights: np.ndarray            # K x N weight codes (Keras order: for a conv rows run kh, kw, c)
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
    kind: str = "dense"            # dense | conv2d
    grid: Grid | None = None       # conv: its input grid; dense: the grid it flattens (None: flat input)
    kernel_hw: tuple[int, int] = (1, 1)

    @property
    def k(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n(self) -> int:
        return int(self.weights.shape[1])

    @property
    def out_grid(self) -> Grid | None:
        if self.kind != "conv2d":
            return None
        g = self.grid
        return Grid(g.h - self.kernel_hw[0] + 1, g.w - self.kernel_hw[1] + 1, self.n, g.hs, g.ws)


@dataclass(frozen=True)
class PoolPlan:
    """A MaxPooling2D layer (stride = pool size, valid) on a feature map of activation codes."""

    name: str
    pool: tuple[int, int]
    grid: Grid                     # its input
    input_type: FixedType

    @property
    def output_type(self) -> FixedType:
        return self.input_type

    @property
    def out_grid(self) -> Grid:
        h, w = self.grid.h // self.pool[0], self.grid.w // self.pool[1]
        return Grid(h, w, self.grid.c, h, w)

    @property
    def activation(self) -> str:   # pooled codes are activations (they can be written back)
        return self.name


def plan_layers(nodes: list[Node]) -> list[LayerPlan | PoolPlan]:
    """Group nodes into accelerator layers; refuses what the accelerator cannot run, naming the layer."""
    if not nodes or nodes[0].kind != "input":
        raise CodesignError("the node list must start with an input node (codesign.analysis.describe)")
    nodes = lower(nodes)
    plans: list[LayerPlan | PoolPlan] = []
    shape = tuple(nodes[0].output_shape)
    # The input is loaded as a grid only when a conv or pool reads it; an MLP's input is loaded flat.
    first = next((n.kind for n in nodes[1:] if n.kind in ("dense", "conv2d", "maxpool2d")), None)
    grid = Grid(*shape, shape[0], shape[1]) if len(shape) == 3 and first in ("conv2d", "maxpool2d") else None
    flat_from: Grid | None = None     # a grid flattened on chip (the next dense reads it in its stored layout)
    current = nodes[0].output_type
    i = 1
    while i < len(nodes):
        node = nodes[i]
        if node.kind == "flatten":
            if grid is not None:
                flat_from, grid = grid, None
            i += 1
            continue
        if node.kind == "maxpool2d":
            if grid is None:
                raise CodesignError(f"maxpool2d layer {node.name!r} needs a feature map (H, W, C) as its input")
            ph, pw = node.pool_size
            if grid.h < ph or grid.w < pw:
                raise CodesignError(f"maxpool2d layer {node.name!r}: pool {ph}x{pw} is larger than its {grid.h}x{grid.w} input")
            if ph * pw == 1:   # the identity: nothing to run (a pool descriptor needs two window elements)
                i += 1
                continue
            plan = PoolPlan(node.name, (int(ph), int(pw)), grid, current)
            plans.append(plan)
            grid = plan.out_grid
            i += 1
            continue
        if node.kind in ("relu", "quantize"):
            raise CodesignError(f"activation layer {node.name!r} does not follow a dense or conv2d layer directly; "
                                f"the accelerator applies an activation only in a layer's post-processing")
        if node.kind not in ("dense", "conv2d"):
            raise CodesignError(f"layer {node.name!r} of kind {node.kind!r} is not supported on the accelerator "
                                f"(supported: {SUPPORTED})")
        scaled = i + 1 < len(nodes) and nodes[i + 1].kind == "scale"
        if scaled:  # per-channel power-of-two scales ride in the weights (wider, exact)
            node = fold_scale(node, nodes[i + 1])
            i += 1
        act = nodes[i + 1] if i + 1 < len(nodes) and nodes[i + 1].kind in ("relu", "quantize") else None
        relu_first = False
        if act is not None and _is_exact_relu(act) and i + 2 < len(nodes) and nodes[i + 2].kind == "relu":
            # relu then quantized_relu is the quantized_relu alone: one post-processing
            relu_first, act = True, nodes[i + 2]
            i += 1
        if node.kind == "conv2d":
            if grid is None:
                raise CodesignError(f"conv2d layer {node.name!r} needs a feature map (H, W, C) as its input")
            kh, kw = int(node.kernel.shape[0]), int(node.kernel.shape[1])
            expect = (grid.h - kh + 1, grid.w - kw + 1, int(node.kernel.shape[-1]))
            if tuple(node.output_shape) != expect:
                raise CodesignError(f"conv2d layer {node.name!r}: output shape {tuple(node.output_shape)} is not the "
                                    f"valid-padding, stride-1 shape {expect}; only padding='valid', strides=1 are supported")
            plan = _plan_weighted(node, act, "conv2d", grid, (kh, kw), relu_first)
            grid = plan.out_grid
        else:
            if grid is not None:
                raise CodesignError(f"dense layer {node.name!r} reads a feature map; put a Flatten layer before it")
            plan = _plan_weighted(node, act, "dense", flat_from, relu_first=relu_first)
            flat_from = None
        plans.append(plan)
        current = plan.output_type
        i += 2 if act is not None else 1
    if not plans:
        raise CodesignError("the model has no dense layer to run on the accelerator")
    if not isinstance(plans[-1], LayerPlan) or plans[-1].kind != "dense":
        raise CodesignError(f"layer {plans[-1].name!r} is the model's last accelerator layer; the accelerator streams "
                            f"one result row per sample, so the model must end with a dense layer")
    for plan in plans[:-1]:
        if isinstance(plan, LayerPlan) and plan.activation is None:
            raise CodesignError(f"{plan.kind} layer {plan.name!r} has no activation but is not the last layer: its raw "
                                f"accumulator cannot be written back as the next layer's activations")
    return plans


def _is_exact_relu(act: Node) -> bool:
    """An unsigned activation that keeps every non-negative input value (Keras' float relu)."""
    t, src = act.output_type, act.input_type
    return act.kind == "relu" and t.frac == src.frac and t.max_value >= src.max_value


def _plan_weighted(node: Node, act: Node | None, kind: str, grid: Grid | None,
                   kernel_hw: tuple[int, int] = (1, 1), relu_first: bool = False) -> LayerPlan:
    name = node.name
    what = f"{kind} layer {name!r}"
    in_t, w_t, b_t = node.input_type, node.weight_type, node.bias_type
    finer = b_t.frac - (in_t.frac + w_t.frac)
    if finer > 0:  # the bias is finer than the products: the weights get that many more (zero) fractional bits
        w_t = FixedType(w_t.width + finer, w_t.integer, w_t.signed, w_t.rounding, w_t.saturation)
    weights = w_t.to_codes(node.kernel_matrix())
    bias = b_t.to_codes(np.asarray(node.bias).reshape(-1))
    product_frac = in_t.frac + w_t.frac
    bias_shift = product_frac - b_t.frac
    if grid is not None and kind == "dense" and weights.shape[0] != grid.h * grid.w * grid.c:
        raise CodesignError(f"{what}: {weights.shape[0]} inputs, but the flattened feature map has "
                            f"{grid.h * grid.w * grid.c}")
    extra = dict(kind=kind, grid=grid, kernel_hw=kernel_hw)
    if act is None:
        acc_t = node.accum_type
        if acc_t.frac != product_frac:
            raise CodesignError(f"{what}: accumulator type {acc_t} does not have the products' "
                                f"{product_frac} fractional bits")
        return LayerPlan(name, weights, bias, w_t, in_t, acc_t, bias_shift, 0, "TRN", acc_t.width, True, False, None,
                         **extra)
    out_t = act.output_type
    shift = product_frac - out_t.frac
    if shift < 0:
        raise CodesignError(f"activation {act.name!r} of {what}: output type {out_t} has {out_t.frac} "
                            f"fractional bits, more than the {product_frac} of the accumulator (allowed: <= {product_frac})")
    if out_t.saturation != "SAT":
        raise CodesignError(f"activation {act.name!r} of {what}: output type {out_t} wraps; the "
                            f"accelerator always saturates (allowed saturation: SAT)")
    return LayerPlan(name, weights, bias, w_t, in_t, out_t, bias_shift, shift, out_t.rounding, out_t.width,
                     out_t.signed, relu_first or act.kind == "relu", act.name, **extra)


def hw_weights(spec: AccelSpec, plan: LayerPlan, pixel_words: int) -> tuple[np.ndarray, list[int] | None]:
    """The weight matrix the array runs (rows in activation-memory order) and, where its K groups are
    not consecutive words (a conv; a dense reading a feature map), the activation offset of each K
    group. ``pixel_words``: words per stored pixel of the layer's input grid."""
    if plan.kind == "conv2d":
        g = plan.grid
        kh, kw = plan.kernel_hw
        kernel = plan.weights.reshape(kh, kw, g.c, plan.n)
        return golden.conv_weights(spec, kernel), golden.conv_offsets(spec, kh, kw, g.c, g.ws, pixel_words)
    if plan.grid is None:
        return plan.weights, None
    g, lanes = plan.grid, spec.lanes
    cg = g.groups(lanes)
    w = np.zeros((g.hs, g.ws, cg * lanes, plan.n), dtype=np.int64)
    w[:g.h, :g.w, :g.c, :] = plan.weights.reshape(g.h, g.w, g.c, plan.n)   # Keras flattens (h, w, c)
    offsets = [p * pixel_words + c for p in range(g.hs * g.ws) for c in range(cg)]
    return w.reshape(-1, plan.n), offsets


# ------------------------------------------------------------------ spec selection

def _pow2(n: int, lo: int = 16) -> int:
    return max(lo, 1 << max(0, int(n) - 1).bit_length())


def _rows_per_sample(plan: LayerPlan) -> int:
    """GEMM rows per sample: 1 for a dense layer, the stored grid's pixels for a conv."""
    return plan.grid.hs * plan.grid.ws if plan.kind == "conv2d" else 1


def _row_words(spec: AccelSpec, plans: list) -> list[int]:
    """Activation-memory words per stored pixel (a grid input) or per sample (a flat input) of each
    layer's input, as its producer lays them out: the host and the pool unit compactly (the channel
    groups), a layer's write-back in whole column tiles (``AccelSpec.writeback_stride``)."""
    words = []
    for i, plan in enumerate(plans):
        prev = plans[i - 1] if i else None
        if isinstance(prev, LayerPlan):
            words.append(spec.writeback_stride(prev.n))
        elif plan.grid is not None:
            words.append(plan.grid.groups(spec.lanes))
        else:
            words.append(ceil_div(plan.k, spec.lanes))
    return words


def _in_words(plan: LayerPlan | PoolPlan, row_words: int) -> int:
    """Activation-memory words of one sample's input to this layer."""
    if plan.grid is not None:
        return plan.grid.hs * plan.grid.ws * row_words
    return row_words


def a_bases(spec: AccelSpec, in_words: list[int], m: int) -> tuple[list[int], int]:
    """Activation-memory bases of each layer's input for a chunk of ``m`` samples, each on a row of
    the memory (where write-backs start), and the end of the last."""
    bases, at, row = [], 0, spec.amem_write_words
    for words in in_words:
        at = ceil_div(at, row) * row
        bases.append(at)
        at += m * words
    return bases, at


def _memory_needs(spec: AccelSpec, plans: list, row_words: list[int], packed: list[PackedWeights],
                  batch: int) -> dict[str, int]:
    gemms = [p for p in plans if isinstance(p, LayerPlan)]
    in_words = [_in_words(p, w) for p, w in zip(plans, row_words)]
    return {
        # AccelSpec holds at least two rows of the activation memory
        "amem_depth": max(a_bases(spec, in_words, batch)[1], 2 * spec.amem_write_words),
        "wmem_depth": sum(len(pk.words) for pk in packed),
        "bmem_depth": sum(ceil_div(p.n, spec.cols) for p in gemms),
        "omem_depth": batch * _rows_per_sample(gemms[-1]) * ceil_div(gemms[-1].n, spec.cols),   # only the last keeps its results
        "dmem_depth": len(plans),
    }


def _check_chain(spec: AccelSpec, plans) -> None:
    """Several layers run from one start only when results can be written back into activation memory."""
    if len(plans) > 1:
        try:
            spec.check_writeback()
        except CodesignError as exc:
            raise CodesignError(f"layer {plans[0].name!r}: chaining layers on the accelerator: {exc}") from None


def spec_for(nodes: list[Node], rtl) -> AccelSpec:
    """The build a run's ``rtl`` section (``codesign.config.RtlConfig``) asks for: its fixed ``array``
    (``compile_model`` then refuses, naming the layer, what does not fit it), else ``choose_spec``."""
    if rtl.array:
        return AccelSpec(rtl.rows, rtl.cols, sparse_m=sparse_m_for(rtl.sparse), **rtl.array)
    return choose_spec(nodes, rows=rtl.rows, cols=rtl.cols, sparse=rtl.sparse)


def choose_spec(nodes: list[Node], rows: int = 8, cols: int = 8, sparse: bool = True, *,
                batch: int = DEFAULT_BATCH) -> AccelSpec:
    """The smallest build that runs the model exactly: weight/activation bits as wide as the widest
    weight / activation type (at least 2), the narrowest accumulator that holds every layer without
    overflow and the final raw accumulator, and memory depths (powers of two) that hold the whole
    program and a chunk of ``batch`` samples. ``sparse``: SPARSE_M = 4 (N:4 compressed weights), else 0."""
    plans = plan_layers(nodes)
    gemms = [p for p in plans if isinstance(p, LayerPlan)]
    weight_bits = max(2, max(p.weight_type.width for p in gemms))
    act_bits = max(2, max(p.input_type.width for p in plans))
    sparse_m = sparse_m_for(sparse)
    need_out = max(p.out_bits for p in gemms)
    for acc_bits in range(max(weight_bits + act_bits + 1, need_out), 33):
        spec = AccelSpec(rows, cols, weight_bits, act_bits, acc_bits, sparse_m)
        if all(_fits_accumulator(spec, p, p.input_type.signed) for p in gemms):
            break
    else:
        bad = next(p for p in gemms if not _fits_accumulator(
            AccelSpec(rows, cols, weight_bits, act_bits, 32, sparse_m), p, True))
        raise CodesignError(f"{bad.kind} layer {bad.name!r} (K={bad.k}) cannot run without accumulator overflow on a "
                            f"{weight_bits}-bit x {act_bits}-bit array with acc_bits up to 32")
    _check_chain(spec, plans)
    row_words = _row_words(spec, plans)
    packed = [golden.pack_weights(spec, hw_weights(spec, p, w)[0], skip_zeros=False)   # worst case
              for p, w in zip(plans, row_words) if isinstance(p, LayerPlan)]
    needs = _memory_needs(spec, plans, row_words, packed, batch)
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
    """One GEMM descriptor of the program (everything but M, which follows from the chunk's sample count)."""

    name: str
    k: int                         # the model's reduction depth (conv: kh * kw * c)
    n: int
    sparse: bool                   # weights packed in compressed (zero-skipping) mode
    packed: PackedWeights
    weights: np.ndarray = field(repr=False)    # K x N in the model's order (the numerics)
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
    kind: str = "dense"            # dense | conv2d
    grid: Grid | None = None       # conv: input grid; dense: the on-chip grid it flattens
    kernel_hw: tuple[int, int] = (1, 1)
    hw_k: int = 0                  # rows of the weight matrix the array runs (activation-memory order)
    rows_per_sample: int = 1       # GEMM rows (M) per sample: the stored grid's pixels for a conv
    in_words: int = 0              # activation-memory words of one sample's input
    row_stride: int = 0            # the descriptor's KG field: words between consecutive GEMM rows (pixels / samples)
    dense_steps: int = 0           # weight steps of the same layer packed densely

    @property
    def steps(self) -> list[int]:
        return self.packed.steps()

    def gemm(self, inputs: np.ndarray) -> Layer:
        return Layer(inputs, self.weights, self.bias, self.bias_shift, self.shift, self.rounding, self.out_bits,
                     self.out_signed, self.relu, self.act_signed)

    def hw_layer(self, m: int) -> Layer:
        """The layer's shape as the descriptor sees it (for Descriptor.for_layer)."""
        return Layer(np.zeros((m, self.hw_k), dtype=np.int64), np.zeros((self.hw_k, self.n), dtype=np.int64), None,
                     self.bias_shift, self.shift, self.rounding, self.out_bits, self.out_signed, self.relu, self.act_signed)

    def cycles(self, spec: AccelSpec, samples: int) -> int:
        return golden.layer_cycles(spec, samples * self.rows_per_sample, self.steps)

    def run(self, spec: AccelSpec, codes: np.ndarray) -> np.ndarray:
        """Output codes for input codes (samples, features) or (samples, H, W, C) feature maps."""
        if self.kind == "conv2d":
            kh, kw = self.kernel_hw
            b, h, w, _ = codes.shape
            out = golden.compute(spec, self.gemm(golden.im2col(codes, kh, kw)))[1]
            return out.reshape(b, h - kh + 1, w - kw + 1, self.n)
        return golden.compute(spec, self.gemm(codes.reshape(len(codes), -1)))[1]   # Keras flattens (h, w, c)


@dataclass(frozen=True)
class PoolLayer:
    """One pool descriptor of the program."""

    name: str
    pool: tuple[int, int]
    grid: Grid
    act_signed: bool
    output_type: FixedType
    in_words: int
    pixel_words: int               # words per stored pixel of its input
    kind: str = "maxpool2d"
    sparse: bool = False
    steps: tuple[int, ...] = ()

    def out_grid(self) -> Grid:
        h, w = self.grid.h // self.pool[0], self.grid.w // self.pool[1]
        return Grid(h, w, self.grid.c, h, w)

    def descriptor(self, spec: AccelSpec, samples: int, a_base: int, wb_base: int) -> golden.PoolDescriptor:
        g, out = self.grid, self.out_grid()
        cg = g.groups(spec.lanes)
        kg = self.pixel_words
        return golden.PoolDescriptor(samples, cg, out.h, out.w, self.pool[0], self.pool[1], a_base, wb_base,
                                     g.ws * kg, g.hs * g.ws * kg, self.act_signed, last=False, pixel_stride=kg)

    def cycles(self, spec: AccelSpec, samples: int) -> int:
        out = self.out_grid()
        return golden.pool_cycles(samples, self.grid.groups(spec.lanes), out.h, out.w, *self.pool)

    def run(self, spec: AccelSpec, codes: np.ndarray) -> np.ndarray:
        del spec
        return golden.maxpool(codes, *self.pool)


@dataclass
class Program:
    """Weights, biases and descriptors of a compiled model for one AccelSpec; inputs are (batch, features)
    codes of the model's input type (or (batch, H, W, C)), outputs (batch, n_out) codes of the last
    layer's output type."""

    spec: AccelSpec
    layers: list
    input_type: FixedType
    output_type: FixedType
    batch: int                     # largest chunk (samples per start) the memories hold
    input_shape: tuple[int, ...] = ()
    grid_input: bool = False       # inputs are loaded as a feature map (pixel words), else flat

    @property
    def gemm_layers(self) -> list[ProgramLayer]:
        return [layer for layer in self.layers if isinstance(layer, ProgramLayer)]

    @property
    def sparse_layers(self) -> list[str]:
        return [layer.name for layer in self.gemm_layers if layer.sparse]

    def summary(self) -> list[dict]:
        """Per accelerator layer, for reports: shape (M = GEMM rows per chunk), mode, weight steps, cycles of one sample."""
        rows = []
        for layer in self.layers:
            if isinstance(layer, PoolLayer):
                out = layer.out_grid()
                rows.append({"name": layer.name, "kind": layer.kind, "pool": list(layer.pool),
                             "in": [layer.grid.h, layer.grid.w, layer.grid.c], "out": [out.h, out.w, out.c],
                             "cycles_one_sample": layer.cycles(self.spec, 1)})
                continue
            rows.append({"name": layer.name, "kind": layer.kind, "m": self.batch * layer.rows_per_sample,
                         "k": layer.k, "n": layer.n, "sparse": layer.sparse,
                         "weight_steps": sum(layer.steps), "dense_steps": layer.dense_steps, "out_bits": layer.out_bits,
                         "out_signed": layer.out_signed, "shift": layer.shift, "bias_shift": layer.bias_shift,
                         "rounding": layer.rounding, "cycles_one_sample": layer.cycles(self.spec, 1)})
        return rows

    @property
    def n_in(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def n_out(self) -> int:
        return self.layers[-1].n

    # ---- memory placement for a chunk of m samples (inputs of layer i at a_base(i))
    def a_bases(self, m: int) -> list[int]:
        return a_bases(self.spec, [layer.in_words for layer in self.layers], m)[0]

    def o_bases(self, m: int) -> list[int]:
        """Only the last layer keeps its results in the output memory (the others write them back only)."""
        del m
        return [0] * len(self.layers)

    def check_chunk(self, m: int) -> None:
        if not 1 <= m <= self.batch:
            raise CodesignError(f"a chunk of {m} samples is outside the allowed range 1..{self.batch} of this program")

    def descriptors(self, m: int) -> list:
        """The descriptor chain for a chunk of ``m`` samples: write-back between layers, the last streams out."""
        self.check_chunk(m)
        a, o = self.a_bases(m), self.o_bases(m)
        out = []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if isinstance(layer, PoolLayer):
                out.append(layer.descriptor(self.spec, m, a[i], a[i + 1]))
                continue
            out.append(golden.Descriptor.for_layer(
                self.spec, layer.hw_layer(m), Bases(a[i], layer.w_base, layer.b_base, o[i]), stream_out=i == last,
                last=i == last, write_back=a[i + 1] if i < last else None, m=m * layer.rows_per_sample,
                row_stride=layer.row_stride, keep_outputs=i == last))
        return out

    def weight_beats(self) -> list[int]:
        """Load commands for weights and biases (once per program)."""
        spec = self.spec
        beats: list[int] = []
        for layer in self.gemm_layers:
            beats += golden.load_command(golden.TARGET_WEIGHTS, layer.w_base, list(layer.packed.words), spec.wmem_width)
            beats += golden.load_command(golden.TARGET_BIASES, layer.b_base,
                                         golden.bias_words(spec, layer.bias, layer.n, layer.bias_shift), spec.bmem_width)
        return beats

    def input_words(self, x_codes: np.ndarray) -> list[int]:
        """Activation-memory words of a chunk's inputs: per sample (flat) or per pixel (feature map)."""
        x = self._inputs(x_codes)
        if self.grid_input:
            x = x.reshape(-1, self.input_shape[-1])
        return golden.activation_words(self.spec, x)

    def chunk_beats(self, x_codes: np.ndarray) -> list[int]:
        """Load commands for one chunk: its inputs and the descriptor chain sized for it."""
        m = len(self._inputs(x_codes))
        spec = self.spec
        descs = self.descriptors(m)
        return (golden.load_command(golden.TARGET_ACTIVATIONS, 0, self.input_words(x_codes), spec.amem_width)
                + golden.load_command(golden.TARGET_DESCRIPTORS, 0, [d.word() for d in descs], DESCRIPTOR_BITS))

    def chunk_cycles(self, m: int) -> int:
        """perf_cycles of one start that runs ``m`` samples through every layer."""
        self.check_chunk(m)
        return sum(layer.cycles(self.spec, m) for layer in self.layers)

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
            if self.grid_input:
                codes = codes.reshape((len(codes),) + tuple(self.input_shape))
            for layer in self.layers:
                codes = layer.run(self.spec, codes)
            outs.append(codes)
        out = np.concatenate(outs) if outs else np.zeros((0, self.n_out), dtype=np.int64)
        return out, self.cycles_per_inference


def compile_model(nodes: list[Node], spec: AccelSpec, *, sparse: bool | None = None,
                  batch: int | None = None) -> Program:
    """Lower the nodes onto ``spec``. ``sparse``: None = a layer is packed in compressed mode when that
    saves weight steps (N:M-pruned or all-zero groups, padding lanes of a conv), True = every layer
    compressed, False = every layer packed densely (the baseline). ``batch``: samples per start
    (default: what the memories hold, at most 1024). Errors name the offending layer."""
    nodes = lower(nodes)
    plans = plan_layers(nodes)
    if sparse and spec.sparse_m == 0:
        raise CodesignError(f"sparse=True needs a build with sparse_m=4 (N:4 compressed weights); this one has "
                            f"sparse_m={spec.sparse_m}")
    _check_chain(spec, plans)
    layers: list = []
    w_at = b_at = 0
    for plan, row_words in zip(plans, _row_words(spec, plans)):
        in_t = plan.input_type
        in_words = _in_words(plan, row_words)
        if isinstance(plan, PoolPlan):
            if in_t.width > spec.act_bits:
                raise CodesignError(f"maxpool2d layer {plan.name!r}: input type {in_t} needs act_bits >= {in_t.width}, "
                                    f"the build has act_bits={spec.act_bits}")
            layers.append(PoolLayer(plan.name, plan.pool, plan.grid, in_t.signed, plan.output_type, in_words, row_words))
            continue
        where = f"{plan.kind} layer {plan.name!r}"
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
        weights, offsets = hw_weights(spec, plan, row_words)
        try:
            dense_pack = golden.pack_weights(spec, weights, skip_zeros=False, offsets=offsets)
            if sparse is False:
                packed, is_sparse = dense_pack, False
            else:
                compressed = golden.pack_weights(spec, weights, skip_zeros=True, offsets=offsets)
                is_sparse = bool(sparse) or sum(compressed.steps()) < sum(dense_pack.steps())
                packed = compressed if is_sparse else dense_pack
        except CodesignError as exc:
            raise CodesignError(f"{where}: {exc}") from None
        row_stride = row_words if plan.kind == "conv2d" else in_words
        layers.append(ProgramLayer(plan.name, plan.k, plan.n, is_sparse, packed, plan.weights, plan.bias,
                                   plan.bias_shift, plan.shift, plan.rounding, plan.out_bits, plan.out_signed,
                                   plan.relu, in_t.signed, w_at, b_at, plan.output_type, plan.kind, plan.grid,
                                   plan.kernel_hw, int(weights.shape[0]), _rows_per_sample(plan),
                                   in_words, row_stride, sum(dense_pack.steps())))
        w_at += len(packed.words)
        b_at += ceil_div(plan.n, spec.cols)
    for name, used, depth in (("weight", w_at, spec.wmem_depth), ("bias", b_at, spec.bmem_depth),
                              ("descriptor", len(layers), spec.dmem_depth)):
        if used > depth:
            raise CodesignError(f"the program needs {used} {name} memory words, more than wmem/bmem/dmem depth "
                                f"{depth} of this build (layers {[p.name for p in plans]})")
    # the largest chunk the activation and output memories hold
    in_words = [layer.in_words for layer in layers]
    per_sample_a = a_bases(spec, in_words, 1)[1]
    per_sample_o = layers[-1].rows_per_sample * ceil_div(layers[-1].n, spec.cols)   # only the last is kept
    max_batch = min(1024, spec.amem_depth // sum(in_words), spec.omem_depth // per_sample_o)
    while max_batch > 0 and a_bases(spec, in_words, max_batch)[1] > spec.amem_depth:   # bases start on rows
        max_batch -= 1
    if max_batch < 1:
        raise CodesignError(f"one sample needs {per_sample_a} activation / {per_sample_o} output "
                            f"memory words; the build has amem_depth={spec.amem_depth}, omem_depth={spec.omem_depth}")
    if batch is not None:
        if not 1 <= batch <= max_batch:
            raise CodesignError(f"batch={batch} is outside the allowed range 1..{max_batch} for this build's memories")
        max_batch = batch
    grid_input = isinstance(plans[0], PoolPlan) or plans[0].kind == "conv2d"
    return Program(spec, layers, plans[0].input_type, plans[-1].output_type, max_batch,
                   tuple(int(d) for d in nodes[0].output_shape), grid_input)
