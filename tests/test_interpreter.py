"""The program interpreter (``codesign.accel.interpreter``) against the reference model.

* single layers, three-layer chains and pools on random builds over the whole accepted parameter
  space (rows / cols 1..16, operand widths 2..16, accumulator from its minimum to 32 bits, dense-only
  and 2:4 builds, small memories, random placement): outputs and cycles equal ``golden``'s;
* compiled programs (random MLPs and CNNs on random builds): the packed program's beats, interpreted,
  equal ``Program.golden`` and ``codesign.reference.run``;
* the loader (beats split anywhere, address wrap, ignored targets, read-out) and every error-status
  case of ``codesign.accel.status``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign import reference
from codesign.accel import compiler, golden, status
from codesign.accel.golden import Bases, Layer, ceil_div
from codesign.accel.interpreter import Accelerator, run_program
from codesign.accel.spec import DESCRIPTOR_BITS, AccelSpec
from codesign.fixedpoint import FixedType
from test_compiler import cnn_nodes, lowered_nodes, mlp_nodes, random_input

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))
from stimulus import act_range, prune_n_of_m, random_layer  # noqa: E402

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=40)


def pow2(n: int) -> int:
    return 1 << max(1, n - 1).bit_length()


@st.composite
def builds(draw, chain: bool = False) -> AccelSpec:
    """An AccelSpec anywhere in the accepted space (memory depths set later, for the program).
    ``chain``: one that can write results back (COLS = group size * 2^k)."""
    sparse_m = draw(st.sampled_from([0, 4]))
    rows = draw(st.integers(1, 16))
    cols = draw(st.sampled_from([c for c in (1, 2, 4, 8, 16) if c % max(1, sparse_m) == 0])) if chain \
        else draw(st.integers(1, 16))
    weight_bits = draw(st.integers(2, 16))
    act_bits = draw(st.integers(2, min(16, 31 - weight_bits)))
    acc_bits = draw(st.integers(weight_bits + act_bits + 1, 32))
    return AccelSpec(rows, cols, weight_bits, act_bits, acc_bits, sparse_m)


def sized(spec: AccelSpec, rng: np.random.Generator, **needs: int) -> AccelSpec:
    """The spec with each memory a power of two holding ``needs[name]`` words, sometimes twice that."""
    depths = {f"{name}_depth": pow2(max(2, need)) << int(rng.integers(0, 2)) for name, need in needs.items()}
    depths["amem_depth"] = max(depths["amem_depth"], 2 * spec.amem_write_words)
    return replace(spec, **depths)


def layer_for(spec: AccelSpec, rng: np.random.Generator, max_dim: int = 20) -> Layer:
    m, n = (int(v) for v in rng.integers(1, max_dim + 1, 2))
    k = int(rng.integers(1, min(max_dim, spec.max_depth(False)) + 1))    # no accumulator overflow either way
    nm = (int(rng.integers(1, 5)), 4) if spec.sparse_m == 4 and rng.random() < 0.5 else None
    layer = random_layer(spec, rng, shape=(m, k, n))
    if nm:
        layer = replace(layer, weights=prune_n_of_m(layer.weights, nm[0], 4, rng))
    return layer


def outputs(accel: Accelerator, beats: list[int], layer: Layer) -> np.ndarray:
    return golden.decode_outputs(beats, layer.m, layer.n, layer.out_bits, layer.out_signed)


# ---------------------------------------------------------------- layers on random builds

@FAST
@given(builds(), st.integers(0, 2**31 - 1), st.booleans(), st.booleans())
def test_single_layer(spec, seed, skip_zeros, stream_out):
    rng = np.random.default_rng(seed)
    layer = layer_for(spec, rng)
    packed = golden.pack_weights(spec, layer.weights, skip_zeros=skip_zeros)
    _, nt, kg = golden.tile_counts(spec, layer)
    spec = sized(spec, rng, amem=layer.m * kg, wmem=len(packed.words), bmem=nt, omem=layer.m * nt, dmem=1)

    def pick(depth: int, need: int) -> int:
        return int(rng.integers(0, depth - need + 1))

    bases = Bases(pick(spec.amem_depth, layer.m * kg), pick(spec.wmem_depth, len(packed.words)),
                  pick(spec.bmem_depth, nt), pick(spec.omem_depth, layer.m * nt))
    image = golden.layer_image(spec, layer, bases, packed, stream_out=stream_out)
    accel = Accelerator(spec)
    accel.load(image.beats)
    # the memories hold the words golden built, where golden put them
    assert accel.dmem.word(0) == image.descriptor.word()
    assert [accel.wmem.word(bases.w + i) for i in range(len(packed.words))] == list(packed.words)
    assert [accel.bmem.word(bases.b + t) for t in range(nt)] == golden.bias_words(spec, layer.bias, layer.n, layer.bias_shift)
    assert [accel.amem.word(bases.a + i) for i in range(layer.m * kg)] == golden.activation_words(spec, layer.inputs)
    res = accel.run()
    assert res.status == 0
    assert res.cycles == image.expected.cycles
    assert [d.steps for d in res.descriptors] == [tuple(packed.steps())]
    if not stream_out:
        assert res.beats == []
        accel.load(golden.readout_command(bases.o, layer.m, layer.n))
        beats = accel.stream
    else:
        beats = res.beats
    np.testing.assert_array_equal(outputs(accel, beats, layer), image.expected.outputs)
    # results stream sign-extended to 32 bits from ACC_BITS
    raw = np.asarray(beats, dtype=np.int64)
    assert np.all((raw >> (spec.acc_bits - 1) == 0) | (raw >> (spec.acc_bits - 1) == (1 << (33 - spec.acc_bits)) - 1))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=30)
@given(builds(chain=True), st.integers(0, 2**31 - 1))
def test_three_layer_chain(spec, seed):
    """Each layer's results written back into AMEM are the next one's inputs (as sim/test_top.py's
    layer_chain); layers 1 and 2 stream out, layer 0 is read out afterwards."""
    rng = np.random.default_rng(seed)
    kmax = min(14, spec.max_depth(False))
    m, dims = int(rng.integers(1, 14)), [int(rng.integers(1, kmax + 1)) for _ in range(3)] + [int(rng.integers(1, 14))]
    layers = []
    for i in range(3):
        layer = random_layer(spec, rng, shape=(m, dims[i], dims[i + 1]))
        if layers:
            prev = layers[-1]
            layer = replace(layer, inputs=golden.compute(spec, prev)[1], act_signed=prev.out_signed)
        layers.append(layer)
    row = spec.amem_write_words
    a_bases, stride = [0], None
    w_need = b_need = o_need = 0
    for layer in layers:
        _, nt, kg = golden.tile_counts(spec, layer)
        a_bases.append(ceil_div(a_bases[-1] + layer.m * (stride or kg) + 1, row) * row)
        stride = spec.writeback_stride(layer.n)
        w_need += len(golden.pack_weights(spec, layer.weights).words)
        b_need, o_need = b_need + nt, o_need + layer.m * nt
    spec = sized(spec, rng, amem=a_bases[-1], wmem=w_need, bmem=b_need, omem=o_need, dmem=3)
    w_next = b_next = o_next = 0
    beats, images, stride = [], [], None
    for i, layer in enumerate(layers):
        _, nt, _ = golden.tile_counts(spec, layer)
        img = golden.layer_image(spec, layer, Bases(a_bases[i], w_next, b_next, o_next), stream_out=i > 0,
                                 descriptor_index=i, last=i == 2, write_back=a_bases[i + 1] if i < 2 else None,
                                 load_inputs=i == 0, row_stride=stride)
        stride = spec.writeback_stride(layer.n)
        w_next, b_next, o_next = w_next + len(img.packed.words), b_next + nt, o_next + layer.m * nt
        beats += img.beats
        images.append(img)
    accel = Accelerator(spec)
    accel.load(beats)
    res = accel.run()
    assert res.status == 0
    assert [d.cycles for d in res.descriptors] == [img.expected.cycles for img in images]
    assert res.cycles == sum(img.expected.cycles for img in images)
    split = layers[1].m * layers[1].n
    np.testing.assert_array_equal(outputs(accel, res.beats[:split], layers[1]), images[1].expected.outputs)
    np.testing.assert_array_equal(outputs(accel, res.beats[split:], layers[2]), images[2].expected.outputs)
    accel.load(golden.readout_command(0, layers[0].m, layers[0].n))
    np.testing.assert_array_equal(outputs(accel, accel.stream[len(res.beats):], layers[0]), images[0].expected.outputs)


@settings(deadline=None, max_examples=30)
@given(builds(), st.integers(0, 2**31 - 1))
def test_pool(spec, seed):
    """Random max pools over stored grids larger than their valid region, pixels possibly more words
    apart than their channel groups (as sim/test_conv.py's random_pools)."""
    rng = np.random.default_rng(seed)
    b, (ph, pw) = int(rng.integers(1, 4)), (int(v) for v in rng.integers(1, 4, 2))
    if ph * pw == 1:
        pw = 2
    h, w = int(rng.integers(ph, 9)), int(rng.integers(pw, 9))
    hs, ws = h + int(rng.integers(0, 3)), w + int(rng.integers(0, 3))
    c, signed = int(rng.integers(1, 10)), bool(rng.integers(2))
    x = rng.integers(*act_range(spec, signed), size=(b, hs, ws, c), endpoint=True)
    oh, ow, cg = h // ph, w // pw, ceil_div(c, spec.lanes)
    kg = cg + int(rng.integers(0, 3))
    a_words = golden.activation_words(spec, x.reshape(-1, c), kg)
    a0 = int(rng.integers(0, 16))
    out = a0 + len(a_words) + int(rng.integers(0, 16))
    spec = sized(spec, rng, amem=out + b * oh * ow * cg, wmem=2, bmem=2, omem=2, dmem=1)
    pool = golden.PoolDescriptor(b, cg, oh, ow, ph, pw, a0, out, ws * kg, hs * ws * kg, signed, last=True,
                                 pixel_stride=kg)
    accel = Accelerator(spec)
    accel.load(golden.load_command(golden.TARGET_ACTIVATIONS, a0, a_words, spec.amem_width)
               + golden.load_command(golden.TARGET_DESCRIPTORS, 0, [pool.word()], DESCRIPTOR_BITS))
    res = accel.run()
    assert (res.status, res.cycles, res.beats) == (0, pool.cycles, [])
    lanes = accel.amem.fields[out:out + pool.out_words].reshape(b, oh, ow, cg * spec.lanes)[..., :c]
    got = np.where(lanes >= 1 << (spec.act_bits - 1), lanes - (1 << spec.act_bits), lanes) if signed else lanes
    np.testing.assert_array_equal(got, golden.maxpool(x[:, :h, :w], ph, pw))
    # nothing but the pooled words was written
    untouched = np.ones(spec.amem_depth, dtype=bool)
    untouched[a0:a0 + len(a_words)] = untouched[out:out + pool.out_words] = False
    assert not accel.amem.fields[untouched].any()


# ---------------------------------------------------------------- compiled programs on random builds

def widened(spec: AccelSpec, nodes, draw, rng: np.random.Generator) -> AccelSpec:
    """``spec`` with wider operands and accumulator drawn at random (as wide as the model still fits)
    and each memory sometimes twice as deep."""
    gemms = [p for p in compiler.plan_layers(nodes) if isinstance(p, compiler.LayerPlan)]
    wb = draw(st.integers(spec.weight_bits, min(16, 31 - spec.act_bits)))
    ab = draw(st.integers(spec.act_bits, min(16, 31 - wb)))
    fits = [acc for acc in range(wb + ab + 1, 33)
            if all(compiler._fits_accumulator(replace(spec, weight_bits=wb, act_bits=ab, acc_bits=acc), p,
                                              p.input_type.signed) for p in gemms)]
    if not fits:
        return spec
    deeper = {name: getattr(spec, name) << int(rng.integers(0, 2))
              for name in ("amem_depth", "wmem_depth", "bmem_depth", "omem_depth", "dmem_depth")}
    return replace(spec, weight_bits=wb, act_bits=ab, acc_bits=draw(st.sampled_from(fits)), **deeper)


def check_program(program: compiler.Program, nodes, x: np.ndarray) -> None:
    codes = nodes[0].output_type.to_codes(x)
    run = run_program(program, codes)
    expected, cycles = program.golden(codes)
    np.testing.assert_array_equal(run.outputs, expected)
    np.testing.assert_array_equal(run.outputs, reference.run(nodes, x))
    assert run.cycles_per_inference == cycles
    assert run.chunk_cycles == [program.chunk_cycles(s) for s in run.chunk_sizes]
    assert run.total_cycles == sum(run.chunk_cycles) and run.status == 0
    assert sum(run.chunk_sizes) == len(x)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=40)
@given(st.data())
def test_compiled_mlp(data):
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    depth = draw(st.integers(1, 3))
    widths = draw(st.lists(st.integers(1, 40), min_size=depth + 1, max_size=depth + 1))
    in_bits, in_signed = draw(st.integers(2, 8)), draw(st.booleans())
    input_type = FixedType(in_bits, draw(st.integers(0, in_bits - 1 if in_signed else in_bits)), in_signed)
    sparse_m = draw(st.sampled_from([0, 4]))
    rows = draw(st.integers(1, 16))
    cols = (draw(st.sampled_from([c for c in (1, 2, 4, 8, 16) if c % max(1, sparse_m) == 0])) if depth > 1
            else draw(st.integers(1, 16)))
    nodes = mlp_nodes(rng, widths, input_type, draw(st.lists(st.integers(2, 8), min_size=depth, max_size=depth)),
                      draw(st.lists(st.integers(2, 8), min_size=depth, max_size=depth)), nm=draw(st.booleans()),
                      final_activation=draw(st.sampled_from([None, "relu", "quantize"])))
    spec = compiler.choose_spec(nodes, rows, cols, sparse=sparse_m == 4, batch=draw(st.integers(1, 6)))
    spec = widened(spec, nodes, draw, rng)
    sparse = draw(st.sampled_from([None, True, False])) if sparse_m == 4 else draw(st.sampled_from([None, False]))
    program = compiler.compile_model(nodes, spec, sparse=sparse)
    check_program(program, nodes, random_input(rng, nodes, draw(st.integers(1, 20))))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=30)
@given(st.data())
def test_compiled_cnn(data):
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    h, w = draw(st.integers(3, 8)), draw(st.integers(3, 8))
    channels = draw(st.integers(1, 6))
    in_bits, signed = draw(st.integers(2, 8)), draw(st.booleans())
    input_type = FixedType(in_bits, draw(st.integers(0, in_bits - 1)), signed)
    kh, kw = draw(st.integers(1, min(3, h))), draw(st.integers(1, min(3, w)))
    convs = [(kh, kw, draw(st.integers(1, 9)))]
    oh, ow = h - kh + 1, w - kw + 1
    pool = draw(st.sampled_from([None, (2, 2), (1, 2), (2, 1)]))
    if pool and (oh < pool[0] or ow < pool[1]):
        pool = None
    ph, pw = (oh // pool[0], ow // pool[1]) if pool else (oh, ow)
    if draw(st.booleans()) and ph >= 2 and pw >= 2:
        convs.append((2, 2, draw(st.integers(1, 6))))
    dense = draw(st.lists(st.integers(1, 12), min_size=1, max_size=2))
    nodes = cnn_nodes(rng, (h, w), channels, input_type, convs, pool, dense, act=draw(st.sampled_from(["relu", "quantize"])))
    sparse_m = draw(st.sampled_from([0, 4]))
    rows = draw(st.integers(1, 16))
    cols = draw(st.sampled_from([c for c in (1, 2, 4, 8, 16) if c % max(1, sparse_m) == 0]))
    spec = compiler.choose_spec(nodes, rows, cols, sparse=sparse_m == 4, batch=draw(st.integers(1, 4)))
    spec = widened(spec, nodes, draw, rng)
    program = compiler.compile_model(nodes, spec, sparse=draw(st.sampled_from([None, False])))
    check_program(program, nodes, random_input(rng, nodes, draw(st.integers(1, 9))))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=25)
@given(st.integers(0, 2**31 - 1), st.integers(1, 16), st.sampled_from([1, 2, 4, 8, 16]))
def test_compiled_lowered_layers(seed, rows, cols):
    """conv1d and depthwise2d run as conv2d lowerings, per-channel power-of-two scales in the weights."""
    rng = np.random.default_rng(seed)
    nodes = lowered_nodes(rng)
    program = compiler.compile_model(nodes, compiler.choose_spec(nodes, rows, cols, sparse=False, batch=4))
    check_program(program, nodes, random_input(rng, nodes, int(rng.integers(1, 9))))


def test_digits_sized_mlp_is_fast():
    """A 64-64-32-10 MLP (2:4 pruned) on an 8x8 build, 300 samples in ten chunks."""
    rng = np.random.default_rng(0)
    nodes = mlp_nodes(rng, [64, 64, 32, 10], FixedType(8, 1, False), [6, 6, 6], [8, 8, 8], nm=True)
    program = compiler.compile_model(nodes, compiler.choose_spec(nodes, 8, 8))
    x = random_input(rng, nodes, 300)
    codes = nodes[0].output_type.to_codes(x)
    t0 = time.perf_counter()
    run = run_program(program, codes)
    seconds = time.perf_counter() - t0
    np.testing.assert_array_equal(run.outputs, reference.run(nodes, x))
    assert run.cycles_per_inference == program.cycles_per_inference
    print(f"\n64-64-32-10 MLP, 300 samples: {seconds * 1e3:.0f} ms, {len(run.chunk_sizes)} chunks")
    assert seconds < 5.0     # about 0.05 s measured; the bound only catches a pathological slowdown


# ---------------------------------------------------------------- the loader

def test_beats_split_anywhere_and_wide_words():
    """The loader's state carries over between load() calls: any split of the beats gives the same
    memories and results (AMEM words of 64 bits take two beats each)."""
    spec = AccelSpec(rows=3, cols=5, weight_bits=9, act_bits=16, acc_bits=30, sparse_m=4)
    rng = np.random.default_rng(4)
    layer = random_layer(spec, rng, shape=(7, 3, 11))
    image = golden.layer_image(spec, layer, Bases(5, 3, 1, 2))
    whole = Accelerator(spec)
    whole.load(image.beats)
    for trial in range(10):
        cuts = np.sort(rng.integers(0, len(image.beats) + 1, int(rng.integers(1, 12))))
        parts = np.split(np.asarray(image.beats), cuts)
        accel = Accelerator(spec)
        for part in parts:
            accel.load(part.tolist())
        for a, b in zip(accel.memories, whole.memories):
            np.testing.assert_array_equal(a.fields, b.fields)
        np.testing.assert_array_equal(outputs(accel, accel.run().beats, layer), image.expected.outputs)


def test_address_wrap_other_targets_and_readout():
    spec = AccelSpec(rows=2, cols=2, weight_bits=4, act_bits=4, acc_bits=12, sparse_m=0, amem_depth=8, omem_depth=4)
    accel = Accelerator(spec)
    # a load from the last word wraps to word 0; a loader address past the depth keeps its low bits
    accel.load(golden.load_command(golden.TARGET_ACTIVATIONS, 7, [1, 2, 3], spec.amem_width)
               + golden.load_command(golden.TARGET_ACTIVATIONS, 8 + 4, [9], spec.amem_width))
    assert accel.amem.words() == [2, 3, 0, 0, 9, 0, 0, 1]
    # targets 5..15 are consumed (count beats) and ignored; the next command is parsed
    accel.load([(5 << 28) | 1, 3, 11, 12, 13] + golden.load_command(golden.TARGET_ACTIVATIONS, 2, [6], spec.amem_width))
    assert accel.amem.words() == [2, 3, 6, 0, 9, 0, 0, 1]
    # a read-out: rows x cols results, words row after row, sign-extended from ACC_BITS to 32 bits
    accel.omem.set_word(3, 0x7FF | 0x800 << 12)     # results 2047, -2048
    accel.omem.set_word(0, 0xFFF | 5 << 12)         # -1, 5
    accel.load(golden.readout_command(3, 2, 2) + golden.readout_command(1, 0, 3))
    assert accel.stream == [2047, 0xFFFFF800, 0xFFFFFFFF, 5]
    assert golden.decode_outputs(accel.stream, 2, 2, 12, True).tolist() == [[2047, -2048], [-1, 5]]


# ---------------------------------------------------------------- the error status

def patched(word: int, field: int, value: int, lo: int = 0, bits: int = 32) -> int:
    """A descriptor word with bits [lo, lo+bits) of 32-bit field ``field`` set to ``value``."""
    at = 32 * field + lo
    return word & ~(((1 << bits) - 1) << at) | (value & ((1 << bits) - 1)) << at


SPEC = AccelSpec(rows=4, cols=4, weight_bits=8, act_bits=8, acc_bits=24, sparse_m=4, amem_depth=256,
                 wmem_depth=128, bmem_depth=16, omem_depth=64, dmem_depth=4)


def fault_setup(last: bool = False):
    """A two-column-tile layer whose descriptor the tests break, and a good layer after it that streams."""
    rng = np.random.default_rng(9)
    bad = random_layer(SPEC, rng, shape=(5, 7, 6))
    good = random_layer(SPEC, rng, shape=(3, 4, 2))
    first = golden.layer_image(SPEC, bad, Bases(0, 0, 0, 0), stream_out=True, last=last)
    second = golden.layer_image(SPEC, good, Bases(64, 64, 8, 32), descriptor_index=1)
    return first, second


def run_with(descriptor: int, beats: list[int], extra: list[int] = ()) -> tuple[Accelerator, object]:
    accel = Accelerator(SPEC)
    accel.load(beats + golden.load_command(golden.TARGET_DESCRIPTORS, 0, [descriptor], DESCRIPTOR_BITS) + list(extra))
    before = accel.omem.fields.copy()
    res = accel.run()
    assert res.beats == [] and len(res.descriptors) == 1          # the chain stopped there, nothing streamed
    np.testing.assert_array_equal(accel.omem.fields, before)       # nothing of it was computed
    return accel, res


@pytest.mark.parametrize("field,lo,what", [(0, 0, "M"), (0, 16, "N"), (1, 0, "MT"), (1, 16, "NT"), (2, 0, "KG")])
def test_zero_gemm_field_is_a_bad_descriptor(field, lo, what):
    first, second = fault_setup()
    _, res = run_with(patched(first.descriptor.word(), field, 0, lo, 16), first.beats + second.beats)
    assert res.status == status.BAD_DESCRIPTOR, what


@pytest.mark.parametrize("field,lo,bits", [(0, 0, 16), (0, 16, 16), (1, 0, 16), (1, 16, 16), (2, 0, 8), (2, 8, 8)])
def test_zero_pool_field_is_a_bad_descriptor(field, lo, bits):
    pool = golden.PoolDescriptor(1, 1, 2, 2, 2, 2, 0, 32, 4, 16)
    _, second = fault_setup()
    _, res = run_with(patched(pool.word(), field, 0, lo, bits), second.beats)
    assert res.status == status.BAD_DESCRIPTOR


def test_zero_steps_on_the_first_tile():
    first, second = fault_setup()
    header = golden.load_command(golden.TARGET_WEIGHTS, 0, [0], SPEC.wmem_width)
    _, res = run_with(first.descriptor.word(), first.beats + second.beats, header)
    assert res.status == status.ZERO_STEPS


def test_zero_steps_after_a_column_tile():
    """As accel_ctrl: the column tiles before the empty list are computed and written, nothing is streamed."""
    first, second = fault_setup()
    steps = first.packed.steps()
    assert len(steps) == 2
    header = golden.load_command(golden.TARGET_WEIGHTS, steps[0] + 1, [0], SPEC.wmem_width)   # the second tile's
    accel = Accelerator(SPEC)
    accel.load(first.beats + second.beats + header)
    res = accel.run()
    assert (res.status, res.beats, len(res.descriptors)) == (status.ZERO_STEPS, [], 1)
    assert res.descriptors[0].steps == (steps[0],)
    accel.load(golden.readout_command(0, 5, 6))
    got = golden.decode_outputs(accel.stream, 5, 6, first.descriptor.out_bits, first.descriptor.out_signed)
    np.testing.assert_array_equal(got[:, :4], first.expected.outputs[:, :4])    # column tile 0
    assert not accel.omem.fields[np.arange(5) * 2 + 1].any()                     # column tile 1: not written


@pytest.mark.parametrize("field,depth", [(4, SPEC.amem_depth), (5, SPEC.wmem_depth), (6, SPEC.bmem_depth),
                                         (7, SPEC.omem_depth), (8, SPEC.amem_depth)])
def test_base_past_its_memory(field, depth):
    first, second = fault_setup()
    word = first.descriptor.word()
    if field == 8:
        word = patched(word, 2, 1, 21, 1)          # wb_base counts only with write_back
        accel = Accelerator(SPEC)
        accel.load(first.beats + second.beats
                   + golden.load_command(golden.TARGET_DESCRIPTORS, 0, [patched(first.descriptor.word(), 8, depth)],
                                         DESCRIPTOR_BITS))
        assert accel.run().status == 0
    _, res = run_with(patched(word, field, depth), first.beats + second.beats)
    assert res.status == status.ADDRESS_RANGE
    _, res = run_with(patched(word, field, depth + 12345), first.beats + second.beats)
    assert res.status == status.ADDRESS_RANGE


@pytest.mark.parametrize("field", [4, 8])
def test_pool_base_past_the_activation_memory(field):
    pool = golden.PoolDescriptor(1, 1, 2, 2, 2, 2, 0, 32, 4, 16)
    _, second = fault_setup()
    _, res = run_with(patched(pool.word(), field, SPEC.amem_depth), second.beats)
    assert res.status == status.ADDRESS_RANGE


def test_chain_without_last_runs_off_the_descriptor_memory():
    first, second = fault_setup()
    word = patched(first.descriptor.word(), 2, 0, 19, 1)       # no stream_out
    accel = Accelerator(SPEC)
    accel.load(first.beats + golden.load_command(golden.TARGET_DESCRIPTORS, 0, [word] * SPEC.dmem_depth, DESCRIPTOR_BITS))
    res = accel.run()
    assert res.status == status.ADDRESS_RANGE
    assert len(res.descriptors) == SPEC.dmem_depth and all(d.status == 0 for d in res.descriptors)
    assert res.cycles == SPEC.dmem_depth * first.expected.cycles
    with pytest.raises(status.AcceleratorFault, match="no `last` descriptor"):
        status.check(res.status, "chain")


def test_start_clears_the_status_and_a_good_chain_runs_on():
    first, second = fault_setup()
    accel = Accelerator(SPEC)
    accel.load(first.beats + second.beats
               + golden.load_command(golden.TARGET_DESCRIPTORS, 0, [patched(first.descriptor.word(), 0, 0, 0, 16)],
                                     DESCRIPTOR_BITS))
    assert accel.run().status == status.BAD_DESCRIPTOR
    accel.load(golden.load_command(golden.TARGET_DESCRIPTORS, 0, [first.descriptor.word()], DESCRIPTOR_BITS))
    res = accel.run()
    assert res.status == 0 and accel.status == 0
    layers = [first, second]
    assert res.cycles == sum(img.expected.cycles for img in layers)
    split = 5 * 6
    np.testing.assert_array_equal(golden.decode_outputs(res.beats[:split], 5, 6, first.descriptor.out_bits,
                                                        first.descriptor.out_signed), first.expected.outputs)
    np.testing.assert_array_equal(golden.decode_outputs(res.beats[split:], 3, 2, second.descriptor.out_bits,
                                                        second.descriptor.out_signed), second.expected.outputs)


def test_write_back_goes_to_the_row_of_its_address():
    """accel_abuf writes whole AMEM rows: a write-back address inside a row writes from the row's start."""
    spec = AccelSpec(rows=2, cols=8, weight_bits=4, act_bits=6, acc_bits=16, sparse_m=4, amem_depth=64)
    rng = np.random.default_rng(2)
    layer = random_layer(spec, rng, shape=(3, 5, 8))
    image = golden.layer_image(spec, layer, Bases(0, 0, 0, 0), write_back=32)
    for wb in (32, 33):
        accel = Accelerator(spec)
        accel.load(image.beats + golden.load_command(golden.TARGET_DESCRIPTORS, 0,
                                                      [patched(image.descriptor.word(), 8, wb)], DESCRIPTOR_BITS))
        assert accel.run().status == 0
        words = accel.amem.fields[32:32 + 3 * 2].reshape(3, 8)
        codes = np.where(words >= 32, words - 64, words) if layer.out_signed else words
        np.testing.assert_array_equal(codes, image.expected.outputs)
