"""codesign.unrolled: da4ml's fully unrolled Verilog, run in Verilator, equals codesign.reference bit for bit;
refused layers give one-line errors; Yosys gives its statistics and the design's register count."""

from __future__ import annotations

import numpy as np
import pytest

from codesign import reference, unrolled
from codesign.analysis import Node
from codesign.fixedpoint import FixedType, accumulator_type, quantized_bits_type, quantized_relu_type

BIAS = quantized_bits_type(6, 2)


def _dense(name: str, rng: np.random.Generator, in_t: FixedType, n_in: int, n_out: int, w_bits: int,
           zeros: float, scale: float) -> Node:
    wt = quantized_bits_type(w_bits, 0)
    kernel = wt.quantize(rng.uniform(-scale, scale, (n_in, n_out)))
    kernel[rng.random(kernel.shape) < zeros] = 0.0
    acc = accumulator_type(in_t, wt, n_in, BIAS)
    return Node(name, "dense", acc, (n_out,), in_t, acc, wt, BIAS, kernel, BIAS.quantize(rng.uniform(-1, 1, n_out)), n_in)


def mlp_8_8_4(seed: int = 7) -> list[Node]:
    """8-8-4: 6-bit then 4-bit weights with zeros (one hidden output unread), relu(5, 1) between,
    quantized_bits(6, 0) at the end."""
    rng = np.random.default_rng(seed)
    in_t = FixedType(10, 4, True)
    d0 = _dense("d0", rng, in_t, 8, 8, 6, 0.25, 1.0)
    relu_t = quantized_relu_type(5, 1)
    d1 = _dense("d1", rng, relu_t, 8, 4, 4, 0.3, 1.0)
    d1.kernel[2] = 0.0  # hidden output 2 is read by no one: the generator leaves it out
    out_t = quantized_bits_type(6, 0)
    return [Node("x", "input", in_t, (8,)), d0, Node("d0_relu", "relu", relu_t, (8,), d0.output_type),
            d1, Node("d1_act", "quantize", out_t, (4,), d1.output_type)]


def _inputs(t: FixedType, shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(t.min_code, t.max_code + 1, size=(n, *shape))
    x[0], x[1] = t.max_code, t.min_code  # the corners
    return x


def _ties(acc: np.ndarray, acc_frac: int, out: FixedType) -> int:
    """Accumulators exactly half-way between two codes of ``out`` (where rounding half to even decides)."""
    shift = acc_frac - out.frac
    return int(np.sum((acc & ((1 << shift) - 1)) == (1 << (shift - 1)))) if shift > 0 else 0


def test_dense_network_is_bit_exact_with_the_reference(tmp_path):
    nodes = mlp_8_8_4()
    design = unrolled.generate(nodes, tmp_path / "mlp")
    x = _inputs(nodes[0].output_type, (8,), 3000, seed=11)
    got = unrolled.simulate(design, x)
    want = reference.run(nodes, nodes[0].output_type.from_codes(x))
    assert got.shape == want.shape == (3000, 4)
    assert np.array_equal(got, want), f"{np.mean(got != want):.1%} of outputs differ"
    # The stimulus reaches what the arithmetic must get right: saturation at both ends of the
    # signed output, the relu's upper bound, and ties that round half to even.
    acc0 = reference.weighted_layer(nodes[1], x)
    relu = reference.run(nodes[:3], nodes[0].output_type.from_codes(x))
    out_t = nodes[-1].output_type
    assert np.any(relu == nodes[2].output_type.max_code) and np.any(relu == 0)
    assert np.any(want == out_t.max_code) and np.any(want == out_t.min_code)
    assert _ties(acc0, nodes[1].accum_type.frac, nodes[2].output_type) > 0
    assert design.latency_cycles == 3  # input register, one stage per layer
    assert design.stages[0].out_bits == 7 * 5  # the unread hidden output has no register


def test_conv_pool_network_pipelined_is_bit_exact(tmp_path):
    rng = np.random.default_rng(3)
    in_t = quantized_relu_type(4, 0)
    wt = quantized_bits_type(4, 0)
    kernel = wt.quantize(rng.uniform(-1, 1, (3, 3, 1, 3)))
    acc = accumulator_type(in_t, wt, 9, BIAS)
    act = quantized_relu_type(4, 1)
    conv = Node("c0", "conv2d", acc, (4, 4, 3), in_t, acc, wt, BIAS, kernel, BIAS.quantize(rng.uniform(-1, 1, 3)), 9)
    nodes = [Node("x", "input", in_t, (6, 6, 1)), conv, Node("c0_relu", "relu", act, (4, 4, 3), acc),
             Node("p0", "maxpool2d", act, (2, 2, 3), act, pool_size=(2, 2)), Node("f", "flatten", act, (12,), act),
             _dense("d1", rng, act, 12, 3, 3, 0.2, 1.0)]
    design = unrolled.generate(nodes, tmp_path / "conv", latency_cutoff=3)
    assert design.latency_cycles > 3  # the cutoff split the layers into several stages
    x = in_t.from_codes(_inputs(in_t, (6, 6, 1), 1000, seed=5))
    got = unrolled.logits(design, x)
    want = reference.logits(nodes, x)
    assert np.array_equal(got, want), f"{np.mean(got != want):.1%} of outputs differ"


def test_refused_layers_give_one_line_errors(tmp_path):
    nodes = mlp_8_8_4()
    odd = [*nodes, Node("soft", "softmax", nodes[-1].output_type, (4,), nodes[-1].output_type)]
    with pytest.raises(unrolled.UnrolledError) as err:
        unrolled.generate(odd, tmp_path / "odd")
    assert "'soft'" in str(err.value) and "softmax" in str(err.value) and "\n" not in str(err.value)
    rng = np.random.default_rng(0)
    in_t = FixedType(8, 3, True)
    big = _dense("huge", rng, in_t, 512, 256, 8, 0.0, 1.0)
    with pytest.raises(unrolled.UnrolledError, match=r"layer 'huge': .* exceed the unrolled limit") as err:
        unrolled.generate([Node("x", "input", in_t, (512,)), big], tmp_path / "big")
    assert "\n" not in str(err.value)
    with pytest.raises(unrolled.UnrolledError, match="latency_cutoff"):
        unrolled.generate(nodes, tmp_path / "cut", latency_cutoff=0)


def test_yosys_measures_the_design_and_its_registers(tmp_path):
    rng = np.random.default_rng(1)
    in_t = FixedType(6, 2, True)
    d = _dense("tiny", rng, in_t, 4, 2, 4, 0.0, 1.0)
    nodes = [Node("x", "input", in_t, (4,)), d, Node("tiny_relu", "relu", quantized_relu_type(4, 1), (2,), d.output_type)]
    design = unrolled.generate(nodes, tmp_path / "tiny")
    r = unrolled.synthesize(design, tmp_path / "synth", ("ecp5",), timeout_s=300)
    ecp5 = r["synth"]["ecp5"]
    assert r["status"] == "complete" and ecp5["source"] == "yosys"
    assert r["total"]["ecp5"]["lut"] > 0 and r["total"]["ecp5"]["dsp"] == 0
    assert r["total"]["ecp5"]["ff"] == design.register_bits == 4 * 6 + 2 * 4
    assert r["latency_cycles"] == 2
