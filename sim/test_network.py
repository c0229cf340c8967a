"""Whole networks on the RTL (Verilator): a QKeras digits MLP compiled by ``codesign.accel.compiler``
runs a batch of test digits from one start per chunk; outputs must equal the integer reference
(``codesign.reference.run``, which agrees with QKeras and hls4ml) code for code, and the measured
perf_cycles must equal the compiler's prediction. The same model 2:4-pruned runs in sparse mode,
exact and in fewer cycles than packed densely. Random small MLPs also run, exact on a few samples."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from codesign import reference
from codesign.accel.compiler import choose_spec, compile_model
from codesign.accel.network import run_program
from codesign.accel.spec import AccelSpec
from codesign.analysis import describe
from codesign.fixedpoint import FixedType

pytestmark = pytest.mark.slow   # builds and runs a simulator

INPUT_TYPE = FixedType(8, 1, False)     # digits pixels k/16 in [0, 1]
SAMPLES = int(os.environ.get("ACCEL_NETWORK_SAMPLES", "20"))


def check_run(run, program, expected: np.ndarray, predicted_cycles: int) -> None:
    """The RTL gave the expected outputs, one sample took the predicted cycles, and so did every chunk."""
    np.testing.assert_array_equal(run.outputs, expected)
    assert run.cycles_per_inference == predicted_cycles
    assert run.chunk_cycles == [program.chunk_cycles(m) for m in run.chunk_sizes]


def digits_mlp(seed: int):
    """64-16-10 QKeras MLP, 6-bit weights, quantized_relu(6, 0), trained (20 epochs) on digits."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    from sklearn.datasets import load_digits

    tf.keras.utils.set_random_seed(seed)
    bunch = load_digits()
    x = (bunch.images / 16.0)[..., None].astype(np.float32)
    y = bunch.target
    model = tf.keras.Sequential([
        tf.keras.layers.Input((8, 8, 1), name="inputs"),
        tf.keras.layers.Flatten(name="flatten"),
        QDense(16, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1), name="fc1"),
        QActivation(quantized_relu(6, 0), name="fc1_relu"),
        QDense(10, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1), name="logits"),
    ])
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x[:1400], y[:1400], epochs=20, batch_size=32, verbose=0)
    return model, x[1400:], y[1400:]


def prune_2_of_4(model) -> None:
    """Keep the 2 largest-magnitude weights of every group of 4 along the input axis (in place)."""
    for layer in model.layers:
        if type(layer).__name__ != "QDense":
            continue
        kernel, bias = layer.get_weights()
        k, n = kernel.shape
        padded = np.zeros((-(-k // 4) * 4, n), dtype=kernel.dtype)
        padded[:k] = kernel
        groups = padded.reshape(-1, 4, n)
        order = np.argsort(-np.abs(groups), axis=1)
        mask = np.ones_like(groups, dtype=bool)
        np.put_along_axis(mask, order[:, 2:, :], False, axis=1)
        layer.set_weights([(groups * mask).reshape(-1, n)[:k], bias])


def test_digits_mlp_dense_and_2_of_4(build_root):
    model, x_test, y_test = digits_mlp(seed=1)
    x = x_test[:SAMPLES].astype(np.float64)
    nodes = describe(model, INPUT_TYPE)
    spec = choose_spec(nodes, rows=8, cols=8, sparse=True, batch=16)
    codes = INPUT_TYPE.to_codes(x)

    program = compile_model(nodes, spec, sparse=False)
    expected = reference.run(nodes, x)
    predicted_out, predicted_cycles = program.golden(codes)
    np.testing.assert_array_equal(predicted_out, expected)
    qkeras_logits = model(x.astype(np.float32)).numpy().astype(np.float64)
    np.testing.assert_array_equal(nodes[-1].output_type.from_codes(expected), qkeras_logits)
    t0 = time.perf_counter()
    run = run_program(program, codes, build_root)
    print(f"\ndense: spec {spec}, {len(x)} samples in chunks {run.chunk_sizes}: cycles/inference {run.cycles_per_inference} "
          f"(predicted {predicted_cycles}), chunk cycles {run.chunk_cycles}, sim {run.sim_seconds:.2f} s, "
          f"build {run.build_seconds:.1f} s, total {time.perf_counter() - t0:.1f} s, "
          f"accuracy {np.mean(np.argmax(run.outputs, 1) == y_test[:SAMPLES]):.2f}")
    check_run(run, program, expected, predicted_cycles)

    prune_2_of_4(model)
    pruned = describe(model, INPUT_TYPE)
    expected = reference.run(pruned, x)
    sparse_prog = compile_model(pruned, spec)               # sparse=None: picks compressed mode
    dense_prog = compile_model(pruned, spec, sparse=False)
    assert sparse_prog.sparse_layers == ["fc1", "logits"]
    sparse_run = run_program(sparse_prog, codes, build_root)
    dense_run = run_program(dense_prog, codes, build_root)
    print(f"2:4 sparse: cycles/inference {sparse_run.cycles_per_inference}, chunk cycles {sparse_run.chunk_cycles}; "
          f"same model dense: {dense_run.cycles_per_inference}, {dense_run.chunk_cycles}; "
          f"sim {sparse_run.sim_seconds:.2f} + {dense_run.sim_seconds:.2f} s")
    for prog, rtl in ((sparse_prog, sparse_run), (dense_prog, dense_run)):
        check_run(rtl, prog, expected, prog.golden(codes)[1])
    assert sparse_run.cycles_per_inference < dense_run.cycles_per_inference
    assert sparse_run.total_cycles < dense_run.total_cycles
    assert run.chunk_sizes == [16, 4] and run.chunk_cycles[0] > run.chunk_cycles[1]   # two row tiles, then one


FIXED_SPEC = AccelSpec(rows=4, cols=4, weight_bits=8, act_bits=8, acc_bits=32, sparse_m=4,
                       amem_depth=256, wmem_depth=1024, bmem_depth=32, omem_depth=256, dmem_depth=16)


def test_random_mlps_on_one_build(build_root, seed):
    """Random small MLPs (shapes, bit-widths, signedness, 2:4 or not) from the compiler's property
    tests, all on one 4x4 build, exact on a few samples each."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_compiler import mlp_nodes, random_input

    if not os.environ.get("SEED"):       # hypothesis may have left the global random state seeded
        seed = int.from_bytes(os.urandom(4), "little") >> 1
    print(f"\ntest_random_mlps_on_one_build: SEED={seed}")
    rng = np.random.default_rng(seed)
    for trial in range(int(os.environ.get("ACCEL_NETWORK_RANDOM", "3"))):
        depth = int(rng.integers(1, 4))
        widths = [int(w) for w in rng.integers(1, 30, depth + 1)]
        in_bits = int(rng.integers(2, 9))
        signed = bool(rng.integers(2))
        input_type = FixedType(in_bits, int(rng.integers(0, in_bits)), signed)
        nodes = mlp_nodes(rng, widths, input_type, [int(b) for b in rng.integers(2, 9, depth)],
                          [int(b) for b in rng.integers(2, 9, depth)], nm=bool(rng.integers(2)),
                          final_activation=[None, "relu", "quantize"][int(rng.integers(3))])
        program = compile_model(nodes, FIXED_SPEC, batch=6)
        x = random_input(rng, nodes, 9)
        codes = input_type.to_codes(x)
        run = run_program(program, codes, build_root)
        print(f"trial {trial} (seed {seed}): widths {widths}, sparse {program.sparse_layers}, "
              f"cycles {run.cycles_per_inference}, chunks {run.chunk_cycles}")
        check_run(run, program, reference.run(nodes, x), program.golden(codes)[1])


# ------------------------------------------------------------------ CNNs (Conv2D, MaxPooling2D, Flatten)

CNN_SAMPLES = int(os.environ.get("ACCEL_CNN_SAMPLES", "40"))


def digits_cnn(seed: int, epochs: int = 6):
    """The digits CNN of configs/digits-cnn.yaml, small and quickly trained: 8x8x1 -> conv 3x3x8 (6-bit
    weights, quantized_relu(6, 1)) -> maxpool 2x2 -> flatten -> dense 32 (relu) -> dense 10 (logits)."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu
    from sklearn.datasets import load_digits

    tf.keras.utils.set_random_seed(seed)
    bunch = load_digits()
    x = (bunch.images / 16.0)[..., None].astype(np.float32)
    y = bunch.target
    q6, b8 = quantized_bits(6, 0, alpha=1), quantized_bits(8, 3, alpha=1)
    model = tf.keras.Sequential([
        tf.keras.layers.Input((8, 8, 1), name="inputs"),
        QConv2D(8, 3, kernel_quantizer=q6, bias_quantizer=b8, name="conv1"),
        QActivation(quantized_relu(6, 1), name="conv1_relu"),
        tf.keras.layers.MaxPooling2D(2, name="pool1"),
        tf.keras.layers.Flatten(name="flatten"),
        QDense(32, kernel_quantizer=q6, bias_quantizer=b8, name="fc1"),
        QActivation(quantized_relu(6, 1), name="fc1_relu"),
        QDense(10, kernel_quantizer=q6, bias_quantizer=b8, name="output"),
    ])
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x[:1400], y[:1400], epochs=epochs, batch_size=32, verbose=0)
    return model, x[1400:], y[1400:]


def test_digits_cnn(build_root):
    """QKeras == integer reference == golden == RTL, code for code, on a few dozen test digits; the
    whole CNN (conv, pool, flatten, two dense) runs from one start per chunk, cycles as predicted."""
    model, x_test, y_test = digits_cnn(seed=3)
    x = x_test[:CNN_SAMPLES].astype(np.float64)
    nodes = describe(model, INPUT_TYPE)
    assert [n.kind for n in nodes] == ["input", "conv2d", "relu", "maxpool2d", "flatten", "dense", "relu", "dense"]
    spec = choose_spec(nodes, rows=8, cols=8, sparse=True, batch=16)
    program = compile_model(nodes, spec)
    codes = INPUT_TYPE.to_codes(x)
    expected = reference.run(nodes, x)
    qkeras_logits = model(x.astype(np.float32)).numpy().astype(np.float64)
    np.testing.assert_array_equal(nodes[-1].output_type.from_codes(expected), qkeras_logits)
    predicted_out, predicted_cycles = program.golden(codes)
    np.testing.assert_array_equal(predicted_out, expected)
    t0 = time.perf_counter()
    run = run_program(program, codes, build_root)
    print(f"\ndigits CNN: spec {spec}, layers {[(r['name'], r['cycles_one_sample']) for r in program.summary()]}, "
          f"{len(x)} samples in chunks {run.chunk_sizes}: cycles/inference {run.cycles_per_inference} "
          f"(predicted {predicted_cycles}), chunk cycles {run.chunk_cycles}, sim {run.sim_seconds:.2f} s, "
          f"build {run.build_seconds:.1f} s, total {time.perf_counter() - t0:.1f} s, "
          f"accuracy {np.mean(np.argmax(run.outputs, 1) == y_test[:CNN_SAMPLES]):.2f}")
    check_run(run, program, expected, predicted_cycles)


CNN_SPECS = {
    "4x4_2of4": AccelSpec(rows=4, cols=4, weight_bits=8, act_bits=8, acc_bits=32, sparse_m=4,
                          amem_depth=2048, wmem_depth=1024, bmem_depth=64, omem_depth=2048, dmem_depth=16),
    # dense-only, eight words per activation-memory row: written-back pixels take whole column
    # tiles (8 words for up to 8 channels), the pool reads and the next layers' offsets follow
    "4x8_dense": AccelSpec(rows=4, cols=8, weight_bits=8, act_bits=8, acc_bits=32, sparse_m=0,
                           amem_depth=8192, wmem_depth=1024, bmem_depth=64, omem_depth=2048, dmem_depth=16),
}


@pytest.mark.parametrize("name", list(CNN_SPECS))
def test_random_cnns_on_one_build(name, build_root, seed):
    """Random small CNNs (grid, channels, kernels, pool, a second conv, bit-widths) from the compiler's
    property tests on one build, exact on a few samples each, cycles as predicted."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_compiler import cnn_nodes, random_input

    if not os.environ.get("SEED"):
        seed = int.from_bytes(os.urandom(4), "little") >> 1
    print(f"\ntest_random_cnns_on_one_build: SEED={seed}")
    rng = np.random.default_rng(seed)
    for trial in range(int(os.environ.get("ACCEL_NETWORK_RANDOM_CNNS", "3"))):
        h, w = (int(v) for v in rng.integers(4, 9, 2))
        channels = int(rng.integers(1, 6))
        in_bits = int(rng.integers(2, 9))
        signed = bool(rng.integers(2))
        input_type = FixedType(in_bits, int(rng.integers(0, in_bits)), signed)
        convs = [(int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 9)))]
        pool = [(2, 2), (1, 2), None][int(rng.integers(3))]
        pooled = [(h - convs[0][0] + 1) // (pool or (1, 1))[0], (w - convs[0][1] + 1) // (pool or (1, 1))[1]]
        if rng.integers(2) and min(pooled) >= 2:     # a 2x2 second conv needs a 2x2 input
            convs.append((2, 2, int(rng.integers(1, 7))))
        nodes = cnn_nodes(rng, (h, w), channels, input_type, convs, pool, [int(rng.integers(2, 12))],
                          act=["relu", "quantize"][int(rng.integers(2))])
        program = compile_model(nodes, CNN_SPECS[name], batch=3)
        x = random_input(rng, nodes, 7)
        codes = input_type.to_codes(x)
        run = run_program(program, codes, build_root)
        print(f"trial {trial} (seed {seed}): {h}x{w}x{channels} convs {convs} pool {pool}, "
              f"cycles {run.cycles_per_inference}, chunks {run.chunk_cycles}")
        check_run(run, program, reference.run(nodes, x), program.golden(codes)[1])


def test_random_lowered_layers_on_one_build(build_root, seed):
    """Random conv1d and depthwise2d layers (conv2d lowerings), some with per-channel power-of-two
    scales, from the compiler's property tests on the 4x4 build, exact on a few samples each."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_compiler import lowered_nodes, random_input

    rng = np.random.default_rng(seed)
    for trial in range(int(os.environ.get("ACCEL_NETWORK_RANDOM_CNNS", "3"))):
        nodes = lowered_nodes(rng)
        program = compile_model(nodes, CNN_SPECS["4x4_2of4"], batch=3)
        x = random_input(rng, nodes, 7)
        codes = nodes[0].output_type.to_codes(x)
        run = run_program(program, codes, build_root)
        print(f"trial {trial} (seed {seed}): {[(n.name, n.kind, n.output_shape) for n in nodes[1:3]]}, cycles {run.cycles_per_inference}")
        check_run(run, program, reference.run(nodes, x), program.golden(codes)[1])
