"""The accelerator compiler against the integer reference model: random MLPs (shapes, bit-widths,
signedness, N:M sparsity) must give exactly ``codesign.reference.run``'s codes; sparse programs
take fewer predicted cycles; unsupported models are refused with the layer's name."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign import reference
from codesign.accel import golden
from codesign.accel.compiler import Grid, choose_spec, compile_model, plan_layers
from codesign.accel.spec import AccelSpec
from codesign.analysis import Node, scaled_type
from codesign.errors import CodesignError
from codesign.fixedpoint import FixedType, accumulator_type, quantized_bits_type, quantized_relu_type


def prune_2_of_4(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    w = w.copy()
    for g in range(0, w.shape[0], 4):
        for c in range(w.shape[1]):
            rows = np.arange(g, min(g + 4, w.shape[0]))
            w[rng.permutation(rows)[2:], c] = 0
    return w


def mlp_nodes(rng: np.random.Generator, widths: list[int], input_type: FixedType, weight_bits: list[int],
              act_bits: list[int], *, nm: bool = False, final_activation: str | None = None,
              bias_frac_extra: int = 0, flatten_shape: tuple[int, ...] | None = None) -> list[Node]:
    """An MLP as ``analysis.describe`` gives it: input [flatten] (dense relu)* dense [activation]."""
    nodes = [Node("inputs", "input", input_type, flatten_shape or (widths[0],))]
    if flatten_shape:
        nodes.append(Node("flatten", "flatten", input_type, (widths[0],), input_type))
    current = input_type
    n_layers = len(widths) - 1
    for i in range(n_layers):
        k, n = widths[i], widths[i + 1]
        wb = weight_bits[i]
        w_t = quantized_bits_type(wb, int(rng.integers(0, wb)))
        codes = rng.integers(w_t.min_code, w_t.max_code, size=(k, n), endpoint=True)
        if nm:
            codes = prune_2_of_4(codes, rng)
        product_frac = current.frac + w_t.frac
        b_bits = int(rng.integers(4, 11))
        b_frac = min(product_frac, b_bits - 1) + (bias_frac_extra if i == 0 else 0)
        b_t = quantized_bits_type(b_bits, b_bits - b_frac - 1) if b_bits - b_frac - 1 >= 0 else FixedType(b_bits, b_bits - b_frac, True, "RND_CONV", "SAT")
        b_codes = rng.integers(b_t.min_code, b_t.max_code, size=n, endpoint=True)
        acc_t = accumulator_type(current, w_t, k, b_t)
        name = f"fc{i + 1}"
        nodes.append(Node(name, "dense", acc_t, (n,), current, acc_t, w_t, b_t, w_t.from_codes(codes),
                          b_t.from_codes(b_codes), k))
        current = acc_t
        kind = "relu" if i < n_layers - 1 else final_activation
        if kind:
            ab = act_bits[i]
            integer = int(rng.integers(0, ab + 1)) if kind == "relu" else int(rng.integers(0, ab))
            out_t = quantized_relu_type(ab, integer) if kind == "relu" else quantized_bits_type(ab, integer)
            if out_t.frac > product_frac:          # keep the output no finer than the accumulator
                out_t = (quantized_relu_type(ab, ab - product_frac) if kind == "relu"
                         else quantized_bits_type(ab, ab - product_frac - 1))
            nodes.append(Node(f"{name}_{kind}", kind, out_t, (n,), acc_t))
            current = out_t
    return nodes


def random_input(rng: np.random.Generator, nodes: list[Node], count: int) -> np.ndarray:
    t = nodes[0].output_type
    codes = rng.integers(t.min_code, t.max_code, size=(count,) + nodes[0].output_shape, endpoint=True)
    return t.from_codes(codes)


@st.composite
def mlps(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    depth = draw(st.integers(1, 3))
    widths = draw(st.lists(st.integers(1, 40), min_size=depth + 1, max_size=depth + 1))
    in_bits = draw(st.integers(2, 8))
    in_signed = draw(st.booleans())
    in_int = draw(st.integers(0, in_bits - 1 if in_signed else in_bits))
    input_type = FixedType(in_bits, in_int, in_signed)
    weight_bits = draw(st.lists(st.integers(2, 8), min_size=depth, max_size=depth))
    act_bits = draw(st.lists(st.integers(2, 8), min_size=depth, max_size=depth))
    nm = draw(st.booleans())
    final = draw(st.sampled_from([None, None, "relu", "quantize"]))
    rows, cols = draw(st.sampled_from([(4, 4), (8, 8), (8, 4), (2, 4)]))
    sparse = draw(st.sampled_from([None, True, False, "dense-build"]))
    if sparse == "dense-build":          # SPARSE_M = 0: write-back needs cols <= rows
        cols = min(cols, rows)
    finer_bias = draw(st.sampled_from([0, 0, 2]))  # a bias finer than the products: the weights get more fractional bits
    return seed, widths, input_type, weight_bits, act_bits, nm, final, rows, cols, sparse, finer_bias


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mlps())
def test_golden_equals_reference(case):
    seed, widths, input_type, weight_bits, act_bits, nm, final, rows, cols, sparse, finer_bias = case
    rng = np.random.default_rng(seed)
    nodes = mlp_nodes(rng, widths, input_type, weight_bits, act_bits, nm=nm, final_activation=final, bias_frac_extra=finer_bias)
    spec = choose_spec(nodes, rows, cols, sparse=sparse != "dense-build", batch=16)
    sparse = None if sparse == "dense-build" else sparse
    program = compile_model(nodes, spec, sparse=sparse)
    x = random_input(rng, nodes, int(rng.integers(1, 40)))
    out, cycles = program.golden(input_type.to_codes(x))
    expected = reference.run(nodes, x)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)
    assert cycles == program.chunk_cycles(1)
    assert sum(row["cycles_one_sample"] for row in program.summary()) == cycles
    # the spec is as narrow as the model allows: a bias finer than a layer's products widens its weights
    first = next(n for n in nodes if n.kind == "dense")
    widen = max(0, first.bias_type.frac - first.input_type.frac - first.weight_type.frac)
    assert spec.weight_bits == max(2, weight_bits[0] + widen, *weight_bits[1:])
    assert spec.act_bits >= input_type.width
    if sparse is False:
        assert program.sparse_layers == []


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([(4, 4), (8, 8)]))
def test_two_of_four_takes_fewer_cycles(seed, shape):
    rows, cols = shape
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(4 * rows, 80)), int(rng.integers(4 * rows, 48)), int(rng.integers(1, 12))]
    nodes = mlp_nodes(rng, widths, FixedType(8, 1, False), [6, 6], [8, 8], nm=True)
    spec = choose_spec(nodes, rows, cols, batch=8)
    sparse, dense = compile_model(nodes, spec), compile_model(nodes, spec, sparse=False)
    assert sparse.sparse_layers == ["fc1", "fc2"]
    assert dense.sparse_layers == []
    x = random_input(rng, nodes, 11)
    codes = nodes[0].output_type.to_codes(x)
    (out_s, cyc_s), (out_d, cyc_d) = sparse.golden(codes), dense.golden(codes)
    np.testing.assert_array_equal(out_s, reference.run(nodes, x))
    np.testing.assert_array_equal(out_d, out_s)
    assert cyc_s < cyc_d
    assert sparse.chunk_cycles(8) < dense.chunk_cycles(8)


def test_flatten_unsigned_input_and_spec():
    rng = np.random.default_rng(3)
    nodes = mlp_nodes(rng, [64, 16, 10], FixedType(8, 1, False), [6, 6], [6, 6], flatten_shape=(8, 8, 1))
    spec = choose_spec(nodes, 8, 8)
    assert (spec.weight_bits, spec.act_bits, spec.sparse_m) == (6, 8, 4)
    program = compile_model(nodes, spec)
    assert not program.layers[0].act_signed and not program.layers[1].act_signed
    assert program.batch >= 32
    x = random_input(rng, nodes, 50)
    out, _ = program.golden(nodes[0].output_type.to_codes(x))   # 50 samples: two chunks
    np.testing.assert_array_equal(out, reference.run(nodes, x))
    assert program.chunks(50)[0] == (0, program.batch)


def test_a_fixed_array_runs_what_fits_and_refuses_the_rest_by_layer():
    """rtl.array: the model compiles onto the given build (wider than it needs, same outputs); a layer
    wider than the build is refused by name."""
    from codesign.accel.compiler import spec_for
    from codesign.config import RtlConfig

    rng = np.random.default_rng(5)
    nodes = mlp_nodes(rng, [64, 16, 10], FixedType(8, 1, False), [6, 6], [6, 6])
    array = {"weight_bits": 8, "act_bits": 8, "acc_bits": 32, "amem_depth": 4096, "wmem_depth": 1024, "bmem_depth": 64,
             "omem_depth": 1024, "dmem_depth": 16}
    spec = spec_for(nodes, RtlConfig(rows=4, cols=4, array=array))
    assert spec == AccelSpec(4, 4, sparse_m=4, **array) and spec != choose_spec(nodes, 4, 4)
    x = random_input(rng, nodes, 20)
    out, _ = compile_model(nodes, spec).golden(nodes[0].output_type.to_codes(x))
    np.testing.assert_array_equal(out, reference.run(nodes, x))
    narrow = spec_for(nodes, RtlConfig(rows=4, cols=4, array={**array, "weight_bits": 4, "acc_bits": 24}))
    with pytest.raises(CodesignError, match=r"dense layer 'fc1': weight type .* needs weight_bits >= 6, the build has weight_bits=4"):
        compile_model(nodes, narrow)


def weighted_node(rng: np.random.Generator, name: str, kind: str, current: FixedType, kernel_shape: tuple[int, ...],
                  out_shape: tuple[int, ...], wb: int, act: str | None, ab: int) -> list[Node]:
    """A dense / conv2d node with random codes and types as ``analysis.describe`` gives it, and its activation."""
    w_t = quantized_bits_type(wb, int(rng.integers(0, wb)))
    codes = rng.integers(w_t.min_code, w_t.max_code, size=kernel_shape, endpoint=True)
    codes[rng.random(kernel_shape) < 0.2] = 0
    product_frac = current.frac + w_t.frac
    b_bits = int(rng.integers(4, 11))
    b_frac = min(product_frac, b_bits - 1)
    b_t = quantized_bits_type(b_bits, b_bits - b_frac - 1)
    n = kernel_shape[-1]
    fan_in = int(np.prod(kernel_shape[:-1]))
    acc_t = accumulator_type(current, w_t, fan_in, b_t)
    nodes = [Node(name, kind, acc_t, out_shape, current, acc_t, w_t, b_t, w_t.from_codes(codes),
                  b_t.from_codes(rng.integers(b_t.min_code, b_t.max_code, size=n, endpoint=True)), fan_in)]
    if act:
        integer = int(rng.integers(0, ab + 1)) if act == "relu" else int(rng.integers(0, ab))
        out_t = quantized_relu_type(ab, integer) if act == "relu" else quantized_bits_type(ab, integer)
        if out_t.frac > product_frac:
            out_t = quantized_relu_type(ab, ab - product_frac) if act == "relu" else quantized_bits_type(ab, ab - product_frac - 1)
        nodes.append(Node(f"{name}_{act}", act, out_t, out_shape, acc_t))
    return nodes


def cnn_nodes(rng: np.random.Generator, hw: tuple[int, int], channels: int, input_type: FixedType,
              convs: list[tuple[int, int, int]], pool: tuple[int, int] | None, dense: list[int],
              bits: int = 6, act: str = "relu") -> list[Node]:
    """input (H, W, C) -> conv (kh, kw, filters)+act ... [-> maxpool] [-> conv+act] -> flatten -> dense+relu ... -> dense."""
    h, w = hw
    nodes = [Node("inputs", "input", input_type, (h, w, channels))]
    current, c = input_type, channels
    for i, (kh, kw, f) in enumerate(convs):
        if i == 1 and pool:                  # the pool sits between the first and second conv (or after the only one)
            h, w = h // pool[0], w // pool[1]
            nodes.append(Node("pool1", "maxpool2d", current, (h, w, c), current, pool_size=pool))
        h, w = h - kh + 1, w - kw + 1
        nodes += weighted_node(rng, f"conv{i + 1}", "conv2d", current, (kh, kw, c, f), (h, w, f), bits,
                               act, int(rng.integers(2, bits + 1)))
        current, c = nodes[-1].output_type, f
    if pool and len(convs) == 1:
        h, w = h // pool[0], w // pool[1]
        nodes.append(Node("pool1", "maxpool2d", current, (h, w, c), current, pool_size=pool))
    nodes.append(Node("flatten", "flatten", current, (h * w * c,), current))
    k = h * w * c
    for i, n in enumerate(dense):
        last = i == len(dense) - 1
        nodes += weighted_node(rng, f"fc{i + 1}", "dense", current, (k, n), (n,), bits, None if last else "relu", bits)
        current, k = nodes[-1].output_type, n
    return nodes


@st.composite
def cnns(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    h, w = draw(st.integers(3, 9)), draw(st.integers(3, 9))
    channels = draw(st.integers(1, 6))
    in_bits = draw(st.integers(2, 8))
    signed = draw(st.booleans())
    input_type = FixedType(in_bits, draw(st.integers(0, in_bits - 1)), signed)
    kh, kw = draw(st.integers(1, min(3, h))), draw(st.integers(1, min(3, w)))
    convs = [(kh, kw, draw(st.integers(1, 9)))]
    oh, ow = h - kh + 1, w - kw + 1
    pool = draw(st.sampled_from([None, (2, 2), (1, 2), (2, 1), (1, 1)]))
    if pool and (oh < pool[0] or ow < pool[1]):
        pool = None
    ph, pw = (oh // pool[0], ow // pool[1]) if pool else (oh, ow)
    if draw(st.booleans()) and ph >= 2 and pw >= 2:
        convs.append((2, draw(st.integers(1, 2)) if pw >= 2 else 1, draw(st.integers(1, 6))))
    dense = draw(st.lists(st.integers(1, 12), min_size=1, max_size=2))
    act = draw(st.sampled_from(["relu", "quantize"]))
    rows, cols = draw(st.sampled_from([(4, 4), (8, 8), (2, 4), (4, 8)]))
    sparse = draw(st.sampled_from([True, False]))
    return seed, (h, w), channels, input_type, convs, pool, dense, act, rows, cols, sparse


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cnns())
def test_cnn_golden_equals_reference(case):
    seed, hw, channels, input_type, convs, pool, dense, act, rows, cols, sparse = case
    rng = np.random.default_rng(seed)
    nodes = cnn_nodes(rng, hw, channels, input_type, convs, pool, dense, act=act)
    spec = choose_spec(nodes, rows, cols, sparse=sparse, batch=5)
    program = compile_model(nodes, spec)
    x = random_input(rng, nodes, int(rng.integers(1, 12)))
    out, cycles = program.golden(input_type.to_codes(x))
    np.testing.assert_array_equal(out, reference.run(nodes, x))
    assert cycles == program.chunk_cycles(1) == sum(row["cycles_one_sample"] for row in program.summary())
    kinds = [type(d).__name__ for d in program.descriptors(3)]
    assert kinds.count("PoolDescriptor") == (pool not in (None, (1, 1)))   # a 1x1 pool is the identity
    assert program.grid_input


def lowered_nodes(rng: np.random.Generator) -> list[Node]:
    """A conv1d or depthwise2d layer (the compiler lowers both to conv2d), sometimes with per-channel
    power-of-two scales after it (they ride in the weights, at most 3 bits wider: 8-bit weights in all),
    its relu or quantize, then flatten and a dense."""
    kind = ("conv1d", "depthwise2d")[int(rng.integers(2))]
    c = int(rng.integers(1, 6))
    in_bits, signed = int(rng.integers(2, 9)), bool(rng.integers(2))
    input_type = FixedType(in_bits, int(rng.integers(0, in_bits)), signed)
    if kind == "conv1d":
        length, f = int(rng.integers(2, 13)), int(rng.integers(1, 7))
        k = int(rng.integers(1, min(4, length) + 1))
        in_shape, kernel_shape, out_shape = (length, c), (k, c, f), (length - k + 1, f)
        fan_in = k * c
    else:
        h, w = (int(v) for v in rng.integers(2, 8, 2))
        kh, kw = int(rng.integers(1, min(3, h) + 1)), int(rng.integers(1, min(3, w) + 1))
        in_shape, kernel_shape, out_shape = (h, w, c), (kh, kw, c), (h - kh + 1, w - kw + 1, c)
        fan_in = kh * kw
    wb, ab = int(rng.integers(2, 6)), int(rng.integers(2, 9))
    act = ("relu", "quantize")[int(rng.integers(2))]
    layer = weighted_node(rng, "conv", kind, input_type, kernel_shape, out_shape, wb, None, ab)[0]
    acc_t = accumulator_type(input_type, layer.weight_type, fan_in, layer.bias_type)
    layer = replace(layer, fan_in=fan_in, accum_type=acc_t, output_type=acc_t)
    nodes = [Node("inputs", "input", input_type, in_shape), layer]
    before_act = acc_t
    if rng.integers(2):  # QKeras' auto_po2 scales: the bias is added after the shift
        exponents = rng.integers(-2, 2, size=out_shape[-1])
        before_act = scaled_type(acc_t, exponents, layer.kernel, layer.bias_type)
        nodes[-1] = replace(layer, bias=np.zeros_like(layer.bias))
        nodes.append(Node("conv_alpha", "scale", before_act, out_shape, acc_t, bias_type=layer.bias_type, bias=layer.bias, exponents=exponents))
    integer = int(rng.integers(0, ab + 1)) if act == "relu" else int(rng.integers(0, ab))
    out_t = quantized_relu_type(ab, integer) if act == "relu" else quantized_bits_type(ab, integer)
    if out_t.frac > before_act.frac:
        out_t = quantized_relu_type(ab, ab - before_act.frac) if act == "relu" else quantized_bits_type(ab, ab - before_act.frac - 1)
    nodes.append(Node(f"conv_{act}", act, out_t, out_shape, before_act))
    flat = int(np.prod(out_shape))
    nodes.append(Node("flatten", "flatten", out_t, (flat,), out_t))
    units = int(rng.integers(1, 9))
    return nodes + weighted_node(rng, "fc1", "dense", out_t, (flat, units), (units,), 6, None, 6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1), st.sampled_from([(4, 4), (8, 8), (2, 4)]))
def test_lowered_conv1d_depthwise_and_scaled_layers_golden_equals_reference(seed, shape):
    rng = np.random.default_rng(seed)
    nodes = lowered_nodes(rng)
    program = compile_model(nodes, choose_spec(nodes, *shape, sparse=False, batch=8))
    x = random_input(rng, nodes, int(rng.integers(1, 12)))
    out, cycles = program.golden(nodes[0].output_type.to_codes(x))
    np.testing.assert_array_equal(out, reference.run(nodes, x))
    assert cycles == program.chunk_cycles(1)


def test_pool_descriptor_needs_two_window_elements():
    with pytest.raises(CodesignError, match=r"window 1x1: needs at least two elements"):
        golden.PoolDescriptor(1, 1, 2, 2, 1, 1, 0, 64, 2, 4)
    assert golden.PoolDescriptor(1, 1, 2, 2, 1, 2, 0, 64, 4, 8).reads == 8


def test_digits_cnn_shapes_and_cycles():
    """The digits CNN of configs/digits-cnn.yaml: conv 3x3x8 on the stored 8x8 grid, pool to 3x3x8,
    flatten into fc1 whose weight rows follow the stored (h, w, channel group) layout."""
    rng = np.random.default_rng(7)
    nodes = cnn_nodes(rng, (8, 8), 1, FixedType(8, 1, False), [(3, 3, 8)], (2, 2), [32, 10])
    spec = choose_spec(nodes, 8, 8)
    program = compile_model(nodes, spec)
    conv, pool, fc1, out = program.layers
    assert (conv.kind, pool.kind, fc1.kind) == ("conv2d", "maxpool2d", "dense")
    assert conv.rows_per_sample == 64 and conv.row_stride == 1 and conv.sparse      # 1 channel: 1 step per (kh, kw)
    assert sum(conv.steps) <= 9 and conv.dense_steps == 9 * 4
    assert pool.out_grid() == Grid(3, 3, 8, 3, 3)
    assert fc1.hw_k == 3 * 3 * 8 and fc1.row_stride == 18
    descs = program.descriptors(4)
    assert descs[0].m == 4 * 64 and descs[0].kg == 1 and descs[0].write_back == program.a_bases(4)[1]
    assert descs[1].fields()[2] >> 22 & 1 and descs[1].wb_base == program.a_bases(4)[2]
    assert program.chunk_cycles(4) == (golden.layer_cycles(spec, 256, conv.steps) + golden.pool_cycles(4, 2, 3, 3, 2, 2)
                                       + golden.layer_cycles(spec, 4, fc1.steps) + golden.layer_cycles(spec, 4, out.steps))
    x = random_input(rng, nodes, 40)
    np.testing.assert_array_equal(program.golden(nodes[0].output_type.to_codes(x))[0], reference.run(nodes, x))


def test_written_back_rows_fill_activation_memory_rows():
    """On a dense-only 8-column build the activation memory is written in rows of 8 words: a layer's
    written-back pixel or sample takes whole column tiles from a row's start (a 5-filter conv's
    pixels are 8 words apart, a 10-unit dense layer's samples 16), the pool reads that layout and
    writes a compact one (5 words per pixel)."""
    rng = np.random.default_rng(11)
    nodes = cnn_nodes(rng, (6, 6), 1, FixedType(8, 1, False), [(3, 3, 5)], (2, 2), [10, 3])
    spec = choose_spec(nodes, 4, 8, sparse=False)
    program = compile_model(nodes, spec)
    conv, pool, fc1, out = program.layers
    assert spec.amem_write_words == 8
    assert (pool.pixel_words, pool.in_words, fc1.row_stride, out.row_stride) == (8, 6 * 6 * 8, 2 * 2 * 5, 16)
    bases = program.a_bases(3)
    assert all(b % 8 == 0 for b in bases)
    descs = program.descriptors(3)
    assert (descs[0].write_back, descs[0].kg_out) == (bases[1], 8)
    assert (descs[1].pixel_words, descs[1].row_stride, descs[1].fields()[9]) == (8, 6 * 8, 2 * 8)
    assert (descs[2].write_back, descs[2].kg_out, descs[3].kg) == (bases[3], 16, 16)
    x = random_input(rng, nodes, 7)
    np.testing.assert_array_equal(program.golden(nodes[0].output_type.to_codes(x))[0], reference.run(nodes, x))


def test_unsupported_cnns_are_refused_by_name():
    t = FixedType(8, 1, False)
    rng = np.random.default_rng(2)
    nodes = cnn_nodes(rng, (6, 6), 2, t, [(3, 3, 4)], None, [5])
    # 'same' padding: the output keeps the input's size
    same = nodes[1].__class__(**{**nodes[1].__dict__, "output_shape": (6, 6, 4)})
    with pytest.raises(CodesignError, match="conv2d layer 'conv1'.*padding='valid', strides=1"):
        plan_layers([nodes[0], same] + nodes[2:])
    # a model that ends with a conv
    with pytest.raises(CodesignError, match="'conv1'.*must end with a dense layer"):
        plan_layers(nodes[:3])
    # a dense on a feature map without Flatten
    with pytest.raises(CodesignError, match="dense layer 'fc1' reads a feature map; put a Flatten"):
        plan_layers([n for n in nodes if n.kind != "flatten"])
    # a pool on flat features
    pool = Node("pool1", "maxpool2d", t, (2, 2, 1), t, pool_size=(2, 2))
    with pytest.raises(CodesignError, match="maxpool2d layer 'pool1' needs a feature map"):
        plan_layers([Node("inputs", "input", t, (16,)), pool])
    # anything else
    odd = Node("up1", "upsample2d", t, (12, 12, 1), t)
    with pytest.raises(CodesignError, match="layer 'up1' of kind 'upsample2d' is not supported"):
        plan_layers([nodes[0], odd])
    # a conv without activation in the middle
    raw = [n for n in nodes if n.name != "conv1_relu"]
    with pytest.raises(CodesignError, match="conv2d layer 'conv1' has no activation"):
        plan_layers(raw)


def test_bad_cases_name_the_layer():
    rng = np.random.default_rng(5)
    # output finer than the accumulator
    nodes = mlp_nodes(rng, [8, 4, 3], FixedType(4, 4, False), [3, 3], [8, 8])
    fine = Node("fc1_relu", "relu", quantized_relu_type(8, 0), (4,), nodes[1].accum_type)
    nodes = nodes[:2] + [fine] + nodes[3:]
    with pytest.raises(CodesignError, match="'fc1_relu' of dense layer 'fc1'"):
        choose_spec(nodes)
    # a spec too narrow for the model
    nodes = mlp_nodes(rng, [8, 4, 3], FixedType(8, 1, False), [6, 6], [6, 6])
    with pytest.raises(CodesignError, match="dense layer 'fc1'.*act_bits"):
        compile_model(nodes, AccelSpec(4, 4, 6, 6, 20, 4))
    with pytest.raises(CodesignError, match="dense layer 'fc1'.*weight_bits"):
        compile_model(nodes, AccelSpec(4, 4, 4, 8, 20, 4))
    # sparse mode on a dense-only build
    with pytest.raises(CodesignError, match="sparse_m"):
        compile_model(nodes, AccelSpec(4, 4, 8, 8, 24, 0), sparse=True)
    # a hidden dense layer without an activation
    nodes = mlp_nodes(rng, [8, 4, 3], FixedType(8, 1, False), [6, 6], [6, 6])
    nodes = [n for n in nodes if n.name != "fc1_relu"]
    with pytest.raises(CodesignError, match="dense layer 'fc1' has no activation"):
        choose_spec(nodes)


def test_cycles_match_the_descriptor_chain():
    rng = np.random.default_rng(11)
    nodes = mlp_nodes(rng, [20, 12, 7], FixedType(6, 2, True), [5, 4], [5, 6])
    spec = choose_spec(nodes, 4, 4, batch=9)
    program = compile_model(nodes, spec)
    descs = program.descriptors(9)
    assert [d.write_back is not None for d in descs] == [True, False]
    assert descs[-1].last and descs[-1].stream_out and not descs[0].stream_out
    expected = sum(golden.layer_cycles(spec, 9, layer.steps) for layer in program.layers)
    assert program.chunk_cycles(9) == expected
