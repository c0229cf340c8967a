"""Cost model of the ``hls4ml`` target: the HLS design hls4ml writes for a network, as Vivado/Vitis HLS
would report it after C synthesis (csynth), fitted on public synthesis reports.

There is no vendor tool on our machines, so every number here is a prediction of a *csynth estimate*
(not of place-and-route), from a model whose structure follows what hls4ml generates and how HLS
maps it, and whose coefficients are fitted by least squares on the public reports of
``shared/data/hls4ml-reports/`` (see the hls4ml section of docs/ESTIMATOR.md):

* **Which multiplications exist.** In the Latency strategy (and in Resource with reuse factor 1) the
  weights are constants: a zero weight costs nothing, a power of two is wiring, and a product by
  any other constant is shared per (input, constant) and becomes either shift-and-add logic or a DSP.
  HLS puts it on a DSP when the constant needs at least three signed digits (CSD) and the variable
  operand is wide enough; that rule reproduces the DSP count of the fully unrolled reports to ~1 %.
  In the Resource strategy with reuse factor > 1 the weights sit in a ROM: ``block_factor =
  ceil(n_in * n_out / RF)`` generic multipliers, each a DSP when both operands are at least
  ``t_var`` bits wide (pruned weights still occupy their slot there).
* **LUT and FF** are linear in physical quantities (shift-add adder bits, adder-tree bits, the
  accumulator write multiplexers the Resource loop needs, registers per pipeline stage), with
  non-negative coefficients per regime, fitted on relative error.
* **BRAM** is the ROM of the Resource strategy tiled on 18 Kb blocks (depth RF, width
  block_factor * weight bits), plus the block of the output-index table where HLS put one.
* **Cycles and II** follow hls4ml's loops where they decide them: the Resource loop runs RF
  iterations at II 1 (II = RF, latency = RF + pipeline depth); the Latency strategy at RF 1 is one
  pipeline at II 1. The pipeline depth of an unrolled layer, and the schedule of the Latency
  strategy under a multiplier limit (RF > 1), are the HLS scheduler's: modelled, not exact.

``estimate`` takes the network's fixed-point nodes (``codesign.analysis.Node``) and ``HlsConfig``;
``calibrate`` refits the committed coefficients (``data/hls4ml_model.json``) on all but the held-out
architectures; ``heldout`` scores the model on those, ``cross_validate`` over folds of all of them.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codesign.estimate import Cost, EstimateError, TargetEstimate, outside

DATA = Path(__file__).resolve().parent / "data"
MODEL_FILE = DATA / "hls4ml_model.json"
WEIGHTS_FILE = DATA / "hls4ml_wa_weights.json"
REPORTS_DIR = Path(os.environ.get("CODESIGN_HLS4ML_REPORTS", Path(__file__).resolve().parents[3] / "shared" / "data" / "hls4ml-reports"))
WA_FILES = {"resource": "wa_pilot_dense_resource.csv", "latency": "wa_pilot_dense_latency.csv"}
CI_FILE = "hls4ml_1.3.0_ci_baselines.csv"
MODEL_VERSION = 1
MAX_CSD = 8  # weight statistics keep CSD digit counts 1..MAX_CSD (more digits are counted as MAX_CSD)

# BRAM18 aspect ratios (depth, width) of a ROM port; HLS takes the cheapest tiling.
BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


# --------------------------------------------------------------------------------------------------
# Weight statistics: what the constant multiplications of a layer cost depends on its weights' codes.

def csd_digits(values: np.ndarray) -> np.ndarray:
    """Non-zero digits of each integer's canonical signed-digit form (0 for 0, 1 for powers of two)."""
    k = np.abs(np.asarray(values, dtype=np.int64)).copy()
    digits = np.zeros_like(k)
    while np.any(k):
        odd = (k & 1).astype(bool)
        step = np.where(odd, np.where((k & 3) == 3, -1, 1), 0)  # the digit that makes k - d divisible by 4
        digits += odd
        k = (k - step) >> 1
    return digits


def bit_length(values: np.ndarray) -> np.ndarray:
    """Bits of |value| (0 for 0)."""
    k = np.abs(np.asarray(values, dtype=np.int64)).copy()
    out = np.zeros(k.shape, dtype=np.int64)
    while np.any(k):
        out += k > 0
        k >>= 1
    return out


def weight_stats(codes: np.ndarray, bias_codes: np.ndarray | None = None, small_bits: int = 5) -> dict[str, Any]:
    """Statistics of a (reduction, outputs) matrix of integer weight codes that the cost model reads.

    ``pairs[d]``: distinct (input row, signed constant) pairs whose constant has ``d`` CSD digits
    (HLS computes each such product once per input); ``pairs_bl[d]``: the sum of their constants'
    bit lengths; ``small3``/``small3_bl``: the 3-digit pairs whose constant has at most ``small_bits``
    bits. ``terms``: additions of the adder trees (non-zero terms, and non-zero biases, minus one per
    output); ``max_terms``: the largest tree; ``code_bits``: the signed width of the largest |code|.
    """
    codes = np.asarray(codes, dtype=np.int64)
    if codes.ndim != 2:
        raise EstimateError(f"weight codes must be a (reduction, outputs) matrix, not shape {codes.shape}")
    n_in, n_out = codes.shape
    nonzero = codes != 0
    per_out = nonzero.sum(axis=0)
    if bias_codes is not None:
        per_out = per_out + (np.asarray(bias_codes).reshape(-1)[:n_out] != 0)
    rows, cols = np.nonzero(codes)
    values = codes[rows, cols]
    pairs = np.zeros(MAX_CSD + 1, dtype=np.int64)
    pairs_bl = np.zeros(MAX_CSD + 1, dtype=np.int64)
    small3 = small3_bl = 0
    if values.size:
        span = 2 * int(np.abs(values).max()) + 1
        keys = np.unique(rows.astype(np.int64) * span + (values + span // 2))
        distinct = keys % span - span // 2
        digits = np.minimum(csd_digits(distinct), MAX_CSD)
        bits = bit_length(distinct)
        np.add.at(pairs, digits, 1)
        np.add.at(pairs_bl, digits, bits)
        small = (digits == 3) & (bits <= small_bits)
        small3, small3_bl = int(small.sum()), int(bits[small].sum())
    max_code = int(np.abs(codes).max()) if codes.size else 0
    return {
        "n_in": int(n_in),
        "n_out": int(n_out),
        "nnz": int(nonzero.sum()),
        "terms": int(np.maximum(per_out - 1, 0).sum()),
        "max_terms": int(per_out.max()) if per_out.size else 0,
        "pairs": pairs.tolist(),
        "pairs_bl": pairs_bl.tolist(),
        "small3": small3,
        "small3_bl": small3_bl,
        "code_bits": int(max_code.bit_length() + 1) if max_code else 0,
    }


def kernel_codes(node) -> tuple[np.ndarray, np.ndarray | None]:
    """A weighted node's kernel (as a (reduction, outputs) matrix) and bias as integer codes."""
    kernel = node.weight_type.to_codes(node.kernel_matrix())
    bias = node.bias_type.to_codes(node.bias) if node.bias is not None and node.bias_type is not None else None
    return kernel, bias


def derive_weight_stats(models_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the weight statistics of the wa-hls4ml pilot models (``pregen_models/dense_<in>_<out>_<p>b.h5``
    of GitHub ``Dendendelen/wa-hls4ml-search``, Apache-2.0) to ``data/hls4ml_wa_weights.json``.

    The pilot's reports come without the weights they were synthesized with; their models are untrained
    QDense layers with ``quantized_bits(p, 0, alpha=1)`` kernels, so the constants HLS saw are these
    files' kernels on that grid (round half to even, saturating). Only the statistics are kept.
    """
    import h5py

    models_dir = Path(models_dir)
    files = sorted(models_dir.glob("dense_*_*_*b.h5"))
    if not files:
        raise EstimateError(f"{models_dir}: no dense_<in>_<out>_<bits>b.h5 model files")
    table = {}
    for path in files:
        name = path.stem
        _, d_in, d_out, bits = name.split("_")
        p = int(bits[:-1])
        with h5py.File(path, "r") as f:
            group = f["model_weights"][name][name]
            kernel = np.asarray(group["kernel:0"], dtype=np.float64)
            bias = np.asarray(group["bias:0"], dtype=np.float64)
        scale = 2.0 ** (p - 1)
        lo, hi = -scale, scale - 1
        codes = np.clip(np.round(kernel * scale), lo, hi).astype(np.int64)
        bias_codes = np.clip(np.round(bias * scale), lo, hi).astype(np.int64)
        if codes.shape != (int(d_in), int(d_out)):
            raise EstimateError(f"{path}: kernel shape {codes.shape} does not match its name")
        table[name] = weight_stats(codes, bias_codes)
    out = Path(out) if out is not None else WEIGHTS_FILE
    out.write_text(json.dumps({"source": "github.com/Dendendelen/wa-hls4ml-search pregen_models (Apache-2.0)",
                               "quantizer": "quantized_bits(p, 0, alpha=1): ap_fixed<p,1>, codes = round_half_even(w * 2**(p-1)) saturated",
                               "models": table}, indent=0, sort_keys=True) + "\n")
    return out


# --------------------------------------------------------------------------------------------------
# One weighted layer as the cost model sees it.

STRATEGY_NAMES = ("latency", "resource")


@dataclass(frozen=True)
class Layer:
    """A dense layer (or the per-pixel kernel of a conv2d) and how hls4ml builds it."""

    n_in: int
    n_out: int
    b_x: int  # input width
    b_w: int  # weight width
    b_acc: int  # accumulator width
    b_out: int  # result width
    rf: int
    strategy: str  # latency | resource
    stats: dict = field(hash=False, compare=False, default_factory=dict)
    io: str = "io_parallel"
    pixels: int = 1  # conv2d: output pixels computed with this kernel
    # the top function's registered ports this layer carries: its inputs when it is the first layer of
    # a pipelined (Latency) top, its outputs when it is the last of a dataflow one; a one-layer design both
    ports: tuple[str, ...] = field(default=("in", "out"), compare=False)

    @property
    def block_factor(self) -> int:
        return math.ceil(self.n_in * self.n_out / self.rf)

    @property
    def regime(self) -> str:
        if self.rf == 1:
            return "unrolled"
        return "reuse" if self.strategy == "resource" else "shared"

    @property
    def outscale(self) -> int:
        return self.rf // self.n_in if self.rf > self.n_in else 0


def valid_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """hls4ml's valid reuse factors of a dense layer (FPGABackend._validate_reuse_factor)."""
    total = n_in * n_out
    divisors = sorted({d for k in range(1, math.isqrt(total) + 1) if total % k == 0 for d in (k, total // k)})
    valid = []
    for rf in divisors:  # hls4ml's last condition: RF divides n_in * n_out
        mult = math.ceil(n_in * n_out / min(n_in, rf))
        ok = (mult % n_out == 0) or rf >= n_in
        ok = ok and ((rf % n_in == 0) or rf < n_in)
        if ok and (n_in * n_out) % rf == 0:
            valid.append(rf)
    return valid


def closest_reuse_factor(n_in: int, n_out: int, rf: int) -> int:
    """The reuse factor hls4ml uses for a requested one (its get_closest_reuse_factor: ties go down)."""
    valid = valid_reuse_factors(n_in, n_out)
    if rf in valid:
        return rf
    import bisect

    pos = bisect.bisect_left(valid, rf)
    if pos == 0:
        return valid[0]
    if pos == len(valid):
        return valid[-1]
    before, after = valid[pos - 1], valid[pos]
    return after if after - rf < rf - before else before


def multiplier_limit(layer: Layer) -> int:
    """hls4ml's ``multiplier_limit`` of the dense config: DIV_ROUNDUP(n_in*n_out, RF) - n_zeros / RF."""
    n = layer.n_in * layer.n_out
    zeros = n - layer.stats.get("nnz", n)
    return max(1, math.ceil(n / layer.rf) - zeros // layer.rf)


# --------------------------------------------------------------------------------------------------
# Rules: DSP mapping, BRAM tiling, cycles.

def dsp_per_multiplier(a_bits: int, b_bits: int, rules: dict) -> int:
    """DSP slices of one variable multiplier: none below ``t_var`` bits on either side, else DSP48E2
    (27 x 18) tiles."""
    lo, hi = sorted((a_bits, b_bits))
    if lo < rules["t_var"]:
        return 0
    wide, narrow = rules["dsp_port_bits"]
    return math.ceil(hi / wide) * math.ceil(lo / narrow)


def constant_split(layer: Layer, rules: dict) -> dict[str, float]:
    """How the distinct (input, constant) products of an unrolled layer split between DSPs and logic.

    Returns the DSP-mapped product count and the shift-and-add adder bits of the rest:
    a constant with d CSD digits needs d - 1 adders of about (input bits + constant bits) bits.
    """
    s = layer.stats
    pairs, pairs_bl = s["pairs"], s["pairs_bl"]
    theta = rules["theta_small3"]
    wide_enough = layer.b_x >= rules["t_var"]
    dsp = 0.0
    add_bits = 0.0
    adders = 0.0
    for d in range(2, MAX_CSD + 1):
        count, bl = pairs[d], pairs_bl[d]
        to_dsp = 0.0
        if wide_enough and d >= rules["const_dsp_digits"]:
            to_dsp = count
            if d == rules["const_dsp_digits"]:
                to_dsp = count - s["small3"] * (1 - theta)
        frac_lut = 1 - (to_dsp / count if count else 0)
        dsp += to_dsp
        add_bits += frac_lut * (d - 1) * (count * layer.b_x + bl)
        adders += frac_lut * (d - 1) * count
    per = dsp_per_multiplier(layer.b_x, max(layer.stats.get("code_bits", layer.b_w), 1), {**rules, "t_var": 0})
    return {"dsp_pairs": dsp, "dsp": dsp * per, "add_bits": add_bits, "adders": adders,
            "shift_pairs": float(pairs[1])}


def bram18(depth: int, width: int) -> int:
    """18 Kb blocks of a ROM of ``depth`` words of ``width`` bits, the cheapest aspect ratio."""
    if depth <= 0 or width <= 0:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in BRAM18_SHAPES)


def index_rom_bram(layer: Layer, rules: dict) -> int:
    """The block of the ``outidx`` table of dense_resource_rf_gt_nin_rem0 (RF entries of the output
    step) that HLS put in BRAM in the reports: one block when the table holds ``index_rom_bits`` or more."""
    if layer.regime != "reuse" or layer.rf <= layer.n_in or layer.rf % layer.n_in:
        return 0
    bits = max(1, math.ceil(math.log2(max(layer.outscale, 2)))) if layer.outscale > 1 else 0
    return 1 if layer.rf * bits >= rules["index_rom_bits"] else 0


def layer_dsp(layer: Layer, rules: dict) -> float:
    regime = layer.regime
    if regime == "reuse":
        per = dsp_per_multiplier(layer.b_x, layer.b_w, rules)
        dsp = layer.block_factor * per
        # Observed in Vivado HLS 2020.1: one ROM multiplier of the block goes to logic when the stored
        # codes fit in fewer than t_var bits although the declared weight type does not.
        if per and 0 < layer.stats.get("code_bits", layer.b_w) < rules["t_var"] and layer.block_factor > 1:
            dsp -= per
        return float(dsp)
    split = constant_split(layer, rules)
    if regime == "unrolled":
        return split["dsp"]
    limit = multiplier_limit(layer) + (rules["shared_extra_dsp"] if layer.rf >= rules["shared_extra_dsp_rf"] else 0)
    return float(min(split["dsp"], limit))


def layer_bram(layer: Layer, rules: dict) -> float:
    if layer.regime != "reuse":
        return 0.0
    return float(bram18(layer.rf, layer.block_factor * layer.b_w) + index_rom_bram(layer, rules))


def unrolled_depth(layer: Layer, timing: dict, split: dict | None = None, clock_ns: float = 5.0,
                   uncertainty: float = 0.125) -> int:
    """Pipeline registers of a fully unrolled layer: its combinational delay (multiplier, then a
    balanced adder tree) over the clock budget HLS schedules against."""
    split = split if split is not None else constant_split(layer, RULES_DEFAULT)
    delays = timing["depth"][layer.strategy]
    if split["dsp"] > 0:
        t_mul = delays["t_dsp"]
    elif split["adders"] > 0:
        t_mul = delays["t_lut_mul"]
    else:
        t_mul = 0.0
    # the adder tree's levels from the mean terms per output (fractional): it predicted the reports'
    # depths better than the largest tree on the training architectures (leave one Latency one out)
    terms = layer.stats["terms"] / max(layer.n_out, 1) + 1 if "terms" in layer.stats else layer.n_in
    levels = math.log2(max(terms, 1))
    # a wider accumulator has a longer carry chain: 2 % more delay per bit beyond the calibrated 16
    delay = t_mul + delays["t_add"] * levels * (1 + timing["t_add_per_bit"] * max(layer.b_acc - 16, 0))
    budget = clock_ns * (1 - uncertainty)
    return max(0, math.ceil(delay / budget - 1e-9) - 1)


def layer_cycles(layer: Layer, timing: dict, rules: dict, clock_ns: float = 5.0, uncertainty: float = 0.125) -> tuple[int, int]:
    """(latency, II) of one weighted layer on its own, in clock cycles."""
    regime = layer.regime
    split = constant_split(layer, rules) if regime != "reuse" else None
    if regime == "reuse":
        depth = timing["reuse_depth_dsp"] if dsp_per_multiplier(layer.b_x, layer.b_w, rules) else timing["reuse_depth_lut"]
        return layer.rf + depth, layer.rf
    depth = unrolled_depth(layer, timing, split, clock_ns, uncertainty)
    if regime == "unrolled":
        if layer.strategy == "resource":  # a dataflow region around one pipelined call
            return depth, depth + 1
        return depth, 1
    # Latency strategy under a multiplier limit (RF > 1): HLS serializes the DSP products on the
    # allocated multipliers and does not pipeline the call (II = latency + 1 in the reports).
    allocated = layer_dsp(layer, rules)
    if split["dsp"] > 0 and allocated > 0:
        latency = math.ceil(split["dsp"] / allocated) + timing["shared_overhead"]
    elif depth == 0 and split["adders"] == 0:
        latency = 0
    else:
        latency = depth + timing["shared_overhead_lut"]
    return latency, (latency + 1 if latency else 1)


# --------------------------------------------------------------------------------------------------
# LUT / FF features: the physical quantities the fitted coefficients multiply.

def features(layer: Layer, resource: str, rules: dict, timing: dict, clock_ns: float = 5.0, uncertainty: float = 0.125) -> dict[str, float]:
    regime = layer.regime
    n_in, n_out, b_x, b_w, b_acc, b_out = layer.n_in, layer.n_out, layer.b_x, layer.b_w, layer.b_acc, layer.b_out
    if regime == "reuse":
        bf = layer.block_factor
        per = dsp_per_multiplier(b_x, b_w, rules)
        rem0 = layer.rf > n_in and layer.rf % n_in == 0
        unresolved = rem0 and layer.outscale > 2
        padded = 2 ** math.ceil(math.log2(n_out))
        if resource == "lut":
            return {
                "const": 1.0,
                "in_bits": n_in * b_x if rem0 else 0.0,  # the input multiplexer the loop reads through
                "acc_bits": n_out * b_acc,
                "acc_mux": bf * b_acc * padded if unresolved else 0.0,  # dynamic acc[out_index] per multiplier
                "acc_mux_small": bf * b_acc if not unresolved else 0.0,
                "lut_mul": bf * b_x * b_w if not per else 0.0,
                "in_mux_leq": bf * b_x * (layer.rf - 1) / 3.0 if not rem0 else 0.0,  # RF <= n_in: an RF:1 mux per multiplier
            }
        return {
            "const": 1.0,
            "acc_bits": n_out * b_acc,
            "dsp_mul": bf * per if unresolved else 0.0,
            "dsp_mul_resolved": bf * per if not unresolved else 0.0,
            "lut_mul": bf * b_w if not per else 0.0,
            "in_count": n_in,
            "log_rf": math.log2(layer.rf),
            "acc_mux": bf * b_acc if unresolved else 0.0,
            "single": n_out * b_acc if bf == 1 else 0.0,
            # with the output index resolved (RF <= 2 n_in), the ROM word feeding the DSPs is registered
            "rom_word": bf * b_w if per and not unresolved else 0.0,
        }
    split = constant_split(layer, rules)
    tree_bits = layer.stats["terms"] * b_acc
    dsp_bits = split["dsp_pairs"] * b_acc
    res = 1.0 if layer.strategy == "resource" else 0.0
    if resource == "lut":
        return {
            "const": 1.0,
            "add_bits": split["add_bits"],
            "tree_bits": tree_bits,
            "dsp_bits": dsp_bits,
            "out_bits": n_out * b_out,
            "res_out_bits": res * n_out * b_out,
            "lat_dsp_bits": (1 - res) * dsp_bits,  # the strategies wire DSP products into the tree differently
            "res_tree_bits": res * tree_bits,
            "shared_tree_bits": tree_bits if regime == "shared" else 0.0,
            # a product in logic: shift-and-add (or a negation) about as wide as the input
            "lut_pairs_bits": (sum(layer.stats["pairs"][2:]) - split["dsp_pairs"]) * b_x,
            "shift_bits": layer.stats["pairs"][1] * b_x,
        }
    depth = unrolled_depth(layer, timing, split, clock_ns, uncertainty)
    pair_bits = sum(layer.stats["pairs"][1:]) * b_acc  # every distinct product, as wide as the accumulator
    if regime == "shared":
        serial = 1.0 if split["dsp"] > 0 else 0.0  # products serialized on the allocated DSPs
        return {
            "const": 1.0,
            "port_in": (1.0 if "in" in layer.ports else 0.0) * n_in * b_x,
            "sh_tree_bits": tree_bits,
            "sh_add_bits": split["add_bits"],
            "sh_serial_pairs": serial * pair_bits,
            "sh_serial_out": serial * n_out * b_acc,
            "sh_serial_in": serial * n_in * b_x,
        }
    port_in = 1.0 if "in" in layer.ports else 0.0
    port_out = 1.0 if "out" in layer.ports else 0.0
    stage = {  # registers of each pipeline stage an unrolled layer gets: what crosses the cut
        "acc": n_out * b_acc,
        "in": n_in * b_x,
        "dsp": dsp_bits,
        "tree": tree_bits,
        "add": split["add_bits"],
        "pairs": pair_bits,
    }
    # the top's registered ports: a pipelined (Latency) top registers its inputs, a dataflow one
    # (Resource) its outputs (the pilot: n_in x 16 + 2 and n_out x 16 + 2 FF at depth 0)
    feats = {"const": 1.0, "port_in": port_in * n_in * b_x, "port_out": port_out * n_out * b_out}
    for key, value in stage.items():  # the two strategies schedule the same logic differently
        feats[f"lat_stage_{key}"] = (1 - res) * depth * value
        feats[f"res_stage_{key}"] = res * depth * value
    return feats


# --------------------------------------------------------------------------------------------------
# The committed model.

RULES_DEFAULT = {
    "t_var": 5,  # narrowest operand HLS puts on a DSP (reports: 16 x 6 bits on DSPs, 16 x 4 in logic)
    "dsp_port_bits": [27, 18],  # DSP48E2 multiplier
    "const_dsp_digits": 3,  # a constant product goes to a DSP from this many CSD digits on
    "theta_small3": 0.85,  # fraction of short 3-digit constants on DSPs (fitted)
    "index_rom_bits": 1024,
    "shared_extra_dsp": 1,
    "shared_extra_dsp_rf": 1024,
}
TIMING_DEFAULT = {
    "depth": {"latency": {"t_dsp": 3.0, "t_lut_mul": 1.2, "t_add": 0.6}, "resource": {"t_dsp": 3.0, "t_lut_mul": 1.2, "t_add": 0.6}},
    "t_add_per_bit": 0.02,
    "reuse_depth_dsp": 2, "reuse_depth_lut": 2, "shared_overhead": 2, "shared_overhead_lut": 1,
}


_MODEL_CACHE: dict[Path, dict] = {}


def load_model(path: str | Path | None = None) -> dict:
    path = Path(path) if path is not None else MODEL_FILE
    if path not in _MODEL_CACHE:
        if not path.is_file():
            raise EstimateError(f"{path}: the hls4ml cost model is missing; run `codesign calibrate --target hls4ml`")
        model = json.loads(path.read_text())
        if model.get("version") != MODEL_VERSION:
            raise EstimateError(f"{path}: model version {model.get('version')!r}, this code reads {MODEL_VERSION}; rerun calibrate")
        _MODEL_CACHE[path] = model
    return _MODEL_CACHE[path]


def predict_layer(layer: Layer, model: dict, clock_ns: float = 5.0, uncertainty: float = 0.125) -> dict[str, float]:
    """LUT, FF, DSP, BRAM, latency and II of one weighted layer (for a conv2d: its kernel once, its
    cycles over all output pixels)."""
    rules, timing, coef = model["rules"], model["timing"], model["coef"]
    out: dict[str, float] = {}
    for resource in ("lut", "ff"):
        feats = features(layer, resource, rules, timing, clock_ns, uncertainty)
        weights = coef[resource][layer.regime]
        out[resource] = max(0.0, sum(weights.get(k, 0.0) * v for k, v in feats.items()))
    out["dsp"] = float(math.floor(layer_dsp(layer, rules) + 0.5))  # a count of DSP slices
    out["bram"] = layer_bram(layer, rules)
    latency, ii = layer_cycles(layer, timing, rules, clock_ns, uncertainty)
    out["latency_cycles"], out["ii"] = latency, ii
    return out


# --------------------------------------------------------------------------------------------------
# The public reports as calibration rows.

@dataclass
class Row:
    """One synthesized design of the public reports with its labels (csynth estimates)."""

    name: str
    group: tuple[int, int]  # (d_in, d_out): the architecture, the unit of the held-out split
    dataset: str  # resource | latency
    layer: Layer
    labels: dict[str, float]


def reports_dir(data_dir: str | Path | None = None) -> Path:
    path = Path(data_dir) if data_dir is not None else REPORTS_DIR
    if not (path / WA_FILES["resource"]).is_file():
        raise EstimateError(f"{path}: no {WA_FILES['resource']} (the public hls4ml reports; pass data_dir=)")
    return path


def wa_rows(data_dir: str | Path | None = None, weights_file: str | Path | None = None) -> list[Row]:
    """The synthesized rows of the wa-hls4ml pilot (hls4ml 0.8.1, Vivado HLS 2020.1, 5 ns): one QDense
    layer each, inputs, accumulators and results ap_fixed<16,6>, weights ap_fixed<p,1>."""
    import csv

    path = reports_dir(data_dir)
    stats = json.loads(Path(weights_file or WEIGHTS_FILE).read_text())["models"]
    rows = []
    for dataset, fname in WA_FILES.items():
        with open(path / fname, newline="") as f:
            for rec in csv.DictReader(f):
                if rec["hls_synth_success"].strip().lower() != "true":
                    continue
                d_in, d_out, p, rf = int(rec["d_in"]), int(rec["d_out"]), int(rec["prec"]), int(rec["rf"])
                name = rec["model_name"]
                if name not in stats:
                    raise EstimateError(f"{fname}: no weight statistics for {name} in {weights_file or WEIGHTS_FILE}")
                strategy = rec["strategy"].strip().lower()
                ports = ("in",) if strategy == "latency" else ("out",)  # a pipelined top, or a dataflow one
                layer = Layer(d_in, d_out, 16, p, 16, 16, rf, strategy, stats[name], ports=ports)
                labels = {
                    "lut": float(rec["LUT_hls"]), "ff": float(rec["FF_hls"]), "dsp": float(rec["DSP_hls"]),
                    "bram": float(rec["BRAM_18K_hls"]), "latency_cycles": float(rec["WorstLatency_hls"]),
                    "ii": float(rec["IntervalMin_hls"]),
                }
                rows.append(Row(f"{name}_rf{rf}_{dataset}", (d_in, d_out), dataset, layer, labels))
    return rows


# --------------------------------------------------------------------------------------------------
# Fitting.

def _nnls(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative least squares on relative error: min sum(((A x - y) / y)^2), x >= 0."""
    from scipy.optimize import nnls

    scale = np.where(y > 0, 1.0 / np.maximum(y, 1.0), 0.0)
    col = np.abs(A).max(axis=0)
    col[col == 0] = 1.0
    x, _ = nnls((A * scale[:, None]) / col, y * scale, maxiter=50 * A.shape[1])
    return x / col


def fit_linear(rows: list[Row], resource: str, regime: str, rules: dict, timing: dict) -> dict[str, float]:
    chosen = [r for r in rows if r.layer.regime == regime]
    if regime == "shared" and resource == "lut":  # the LUTs of the shared schedule are those of the unrolled one
        chosen = [r for r in rows if r.layer.regime in ("shared", "unrolled")]
    if not chosen:
        return {}
    feats = [features(r.layer, resource, rules, timing) for r in chosen]
    names = sorted(feats[0])
    A = np.array([[f[k] for k in names] for f in feats], dtype=np.float64)
    y = np.array([r.labels[resource] for r in chosen], dtype=np.float64)
    x = _nnls(A, y)
    coef = {k: float(round(v, 6)) for k, v in zip(names, x)}
    for k in names:  # a quantity no calibration row exercises keeps its physical prior
        if not np.any(A[:, names.index(k)]) and (resource, regime, k) in PRIORS:
            coef[k] = PRIORS[(resource, regime, k)]
    return coef


# Coefficients of quantities absent from the calibration data: an RF:1 multiplexer per ROM multiplier
# (Resource with RF <= n_in) costs about (RF - 1) / 3 LUT6 per bit, which the feature already counts.
PRIORS = {("lut", "reuse", "in_mux_leq"): 1.0, ("lut", "reuse", "lut_mul"): 0.5, ("ff", "reuse", "lut_mul"): 1.0}


def fit_theta(rows: list[Row], rules: dict) -> float:
    """The DSP fraction of short three-digit constants, from the unrolled rows' DSP counts."""
    chosen = [r for r in rows if r.layer.regime == "unrolled" and r.labels["dsp"] > 0]
    if not chosen:
        return rules["theta_small3"]
    base = np.array([constant_split(r.layer, {**rules, "theta_small3": 0.0})["dsp"] for r in chosen])
    full = np.array([constant_split(r.layer, {**rules, "theta_small3": 1.0})["dsp"] for r in chosen])
    y = np.array([r.labels["dsp"] for r in chosen])
    a = (full - base) / y
    b = (y - base) / y
    theta = float(np.dot(a, b) / np.dot(a, a)) if np.dot(a, a) > 0 else rules["theta_small3"]
    return float(round(min(1.0, max(0.0, theta)), 4))


def fit_timing(rows: list[Row], rules: dict, timing: dict) -> dict:
    """Delays of the unrolled pipeline-depth model and the cycle offsets of the other regimes, by grid
    search on the reports' worst-case latencies (deterministic: fixed grids, first best kept)."""
    timing = json.loads(json.dumps(timing))
    for strategy in ("latency", "resource"):
        unrolled = [r for r in rows if r.layer.regime == "unrolled" and r.layer.strategy == strategy]
        if not unrolled:
            continue
        best = None
        splits = [constant_split(r.layer, rules) for r in unrolled]
        for t_dsp in np.arange(1.0, 4.01, 0.25):
            for t_lut in np.arange(0.0, 3.01, 0.25):
                for t_add in np.arange(0.1, 1.21, 0.05):
                    delays = {"t_dsp": float(t_dsp), "t_lut_mul": float(t_lut), "t_add": float(round(t_add, 2))}
                    trial = {**timing, "depth": {**timing["depth"], strategy: delays}}
                    err = sum(abs(unrolled_depth(r.layer, trial, s) - r.labels["latency_cycles"]) for r, s in zip(unrolled, splits))
                    # ties go to the delays closest to typical UltraScale+ figures (DSP 2.5 ns, adder 0.6 ns)
                    err += 1e-3 * (abs(t_dsp - 2.5) + abs(t_lut - 1.0) + abs(t_add - 0.6))
                    if best is None or err < best[0]:
                        best = (err, trial)
        timing = best[1]
    reuse = [r for r in rows if r.layer.regime == "reuse"]
    for key, has_dsp in (("reuse_depth_dsp", True), ("reuse_depth_lut", False)):
        offs = [r.labels["latency_cycles"] - r.layer.rf for r in reuse
                if bool(dsp_per_multiplier(r.layer.b_x, r.layer.b_w, rules)) == has_dsp]
        if offs:
            timing[key] = int(np.median(offs))
    shared = [r for r in rows if r.layer.regime == "shared"]
    dsp_rows = [r for r in shared if constant_split(r.layer, rules)["dsp"] > 0]
    if dsp_rows:
        offs = [r.labels["latency_cycles"] - math.ceil(constant_split(r.layer, rules)["dsp"] / max(layer_dsp(r.layer, rules), 1)) for r in dsp_rows]
        timing["shared_overhead"] = int(np.median(offs))
    lut_rows = [r for r in shared if constant_split(r.layer, rules)["dsp"] == 0 and r.labels["latency_cycles"] > 0]
    if lut_rows:
        offs = [r.labels["latency_cycles"] - unrolled_depth(r.layer, timing) for r in lut_rows]
        timing["shared_overhead_lut"] = int(np.median(offs))
    return timing


def ranges_of(rows: list[Row]) -> dict[str, list[float]]:
    def span(values):
        values = list(values)
        return [min(values), max(values)]

    return {
        "n_in": span(r.layer.n_in for r in rows), "n_out": span(r.layer.n_out for r in rows),
        "weight_bits": span(r.layer.b_w for r in rows), "input_bits": span(r.layer.b_x for r in rows),
        "accum_bits": span(r.layer.b_acc for r in rows), "result_bits": span(r.layer.b_out for r in rows),
        "reuse_factor": span(r.layer.rf for r in rows),
        "reuse_factor_resource_gt1": span(r.layer.rf for r in rows if r.layer.regime == "reuse"),
        "reuse_factor_latency_gt1": span(r.layer.rf for r in rows if r.layer.regime == "shared"),
        "unrolled_multiplications": span(r.layer.n_in * r.layer.n_out for r in rows if r.layer.regime == "unrolled"),
    }


def fit(rows: list[Row]) -> dict:
    """Fit every coefficient of the model on ``rows`` (deterministic)."""
    rules = dict(RULES_DEFAULT)
    rules["theta_small3"] = fit_theta(rows, rules)
    timing = fit_timing(rows, rules, TIMING_DEFAULT)
    coef = {res: {regime: fit_linear(rows, res, regime, rules, timing) for regime in ("unrolled", "shared", "reuse")}
            for res in ("lut", "ff")}
    return {"rules": rules, "timing": timing, "coef": coef}


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    denom = np.abs(y) + np.abs(p)
    sm = np.where(denom > 0, 2 * np.abs(p - y) / np.where(denom > 0, denom, 1), 0.0)
    rel = np.abs(p - y) / np.maximum(np.abs(y), 1e-9)
    rel = rel[np.abs(y) > 0] if np.any(np.abs(y) > 0) else np.zeros(1)
    ss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1 - float(np.sum((y - p) ** 2)) / ss if ss > 0 else None  # undefined for a constant label
    return {"smape": float(100 * sm.mean()), "r2": r2, "median_rel": float(100 * np.median(rel)),
            "p90_rel": float(100 * np.percentile(rel, 90)), "rows": int(len(y))}


SCORED = ("lut", "ff", "dsp", "bram", "latency_cycles", "ii")


def score(labels: list[dict], preds: list[dict]) -> dict[str, dict[str, float]]:
    """sMAPE (DSP rounded to integers and BRAM to halves first), R², median and 90th-percentile
    relative error (rows with a zero label left out of the relative errors) per resource."""
    out = {}
    for key in SCORED:
        y = np.array([l[key] for l in labels], dtype=np.float64)
        p = np.array([q[key] for q in preds], dtype=np.float64)
        if key == "dsp":
            y, p = np.round(y), np.round(p)
        elif key == "bram":
            y, p = np.round(2 * y) / 2, np.round(2 * p) / 2
        out[key] = _metrics(y, p)
    return out


SPLIT_SEED = 20261202
TEST_ARCHITECTURES = 13  # about 20 % of the pilot's 64 architectures, one of them from the Latency set


def split_architectures(rows: list[Row], seed: int = SPLIT_SEED, n_test: int = TEST_ARCHITECTURES) -> list[tuple[int, int]]:
    """The held-out architectures (d_in, d_out): a seeded draw of ``n_test`` of them, never individual
    rows. Exactly one comes from those the Latency set synthesized (so both sets are scored); the
    others from architectures without fully unrolled (RF 1) rows, of which the pilot has only five."""
    groups = sorted({r.group for r in rows})
    latency = sorted({r.group for r in rows if r.dataset == "latency"})
    unrolled = {r.group for r in rows if r.layer.rf == 1}
    rng = np.random.default_rng(seed)
    chosen = [latency[int(rng.integers(len(latency)))]] if latency else []
    rest = [g for g in groups if g not in chosen and g not in unrolled]
    chosen += [rest[i] for i in sorted(rng.permutation(len(rest))[: n_test - len(chosen)])]
    return sorted(chosen)


def group_folds(rows: list[Row], folds: int = 5, seed: int = 0) -> list[list[tuple[int, int]]]:
    """Architectures (d_in, d_out) dealt into ``folds`` groups by a seeded shuffle (never rows)."""
    groups = sorted({r.group for r in rows})
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(groups))
    return [[groups[i] for i in order[k::folds]] for k in range(folds)]


def _scores_by_set(rows: list[Row], predictions: dict[str, dict]) -> dict:
    out = {}
    for dataset in WA_FILES:
        chosen = [r for r in rows if r.dataset == dataset and r.name in predictions]
        if chosen:
            out[dataset] = score([r.labels for r in chosen], [predictions[r.name] for r in chosen])
    return out


def heldout(rows: list[Row] | None = None, model: dict | None = None, data_dir=None) -> dict:
    """The committed split: predictions of the held-out architectures by ``model`` (default the
    committed one, fitted on the other architectures), scored per set."""
    rows = rows if rows is not None else wa_rows(data_dir)
    model = model if model is not None else load_model()
    test = {tuple(g) for g in model["split"]["test_architectures"]}
    chosen = [r for r in rows if r.group in test]
    predictions = {r.name: predict_layer(r.layer, model) for r in chosen}
    return {"architectures": sorted(test), "sets": _scores_by_set(chosen, predictions),
            "rows": [{"name": r.name, "dataset": r.dataset, "group": list(r.group), "labels": r.labels,
                      "pred": predictions[r.name]} for r in chosen]}


def cross_validate(rows: list[Row] | None = None, folds: int = 5, seed: int = 0, data_dir=None) -> dict:
    """Cross-validated held-out predictions over every architecture: each fold's architectures are
    predicted by a model fitted on the other folds' (both pilot sets together)."""
    rows = rows if rows is not None else wa_rows(data_dir)
    predictions: dict[str, dict] = {}
    for held in group_folds(rows, folds, seed):
        held = set(held)
        model = {**fit([r for r in rows if r.group not in held]), "version": MODEL_VERSION}
        for r in rows:
            if r.group in held:
                predictions[r.name] = predict_layer(r.layer, model)
    return {"folds": folds, "seed": seed, "sets": _scores_by_set(rows, predictions),
            "rows": [{"name": r.name, "dataset": r.dataset, "group": list(r.group), "labels": r.labels,
                      "pred": predictions[r.name]} for r in rows]}


# --------------------------------------------------------------------------------------------------
# The CI baselines of hls4ml 1.3.0: a different tool version and layers; the rows this model covers.

def ci_rows(data_dir: str | Path | None = None, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(covered, out_of_scope) CI baseline rows. Covered rows carry the network this module can
    estimate: Dense(64) on one input + ReLU (random lecun_uniform weights, redrawn here with a fixed
    seed since the baselines do not record them) and MaxPooling2D with padding 'valid'."""
    import csv

    from codesign.analysis import Node
    from codesign.config import HlsConfig
    from codesign.fixedpoint import FixedType

    path = reports_dir(data_dir) / CI_FILE
    covered, out = [], []
    t16 = FixedType(16, 6)
    with open(path, newline="") as f:
        for rec in csv.DictReader(f):
            model, backend = rec["model"], rec["backend"]
            reason = None
            if backend not in ("Vivado", "Vitis"):
                reason = f"{backend} backend (not Vivado/Vitis HLS; other resource units)"
            elif "Activation(relu)" not in model and "MaxPooling2D" not in model:
                layer = model.split("+")[-1].strip()
                kind = layer.split("(")[0]
                reason = f"layer not covered: {layer.split(')')[0] + ')' if kind == 'Activation' else kind}"
            elif "MaxPooling2D" in model and "padding=same" in model:
                reason = "MaxPooling2D with padding='same' (only 'valid')"
            if reason:
                out.append({"test": rec["test"], "backend": backend, "version": rec["vitis_version"], "reason": reason})
                continue
            hls = HlsConfig(backend=backend, io_type=rec["io_type"], strategy=rec["strategy"], reuse_factor=int(rec["reuse_factor"]))
            rng = np.random.default_rng(seed)
            if "MaxPooling2D" in model:
                nodes = [Node("input", "input", t16, (18, 15, 3)),
                         Node("pool", "maxpool2d", t16, (9, 7, 3), t16, pool_size=(2, 2))]
            else:
                limit = math.sqrt(3.0)
                kernel = t16.quantize(rng.uniform(-limit, limit, size=(1, 64)))
                nodes = [Node("input", "input", t16, (1,)),
                         Node("dense", "dense", t16, (64,), t16, t16, t16, t16, kernel, np.zeros(64), 1),
                         Node("dense_relu", "relu", t16, (64,), t16)]
            labels = {"lut": float(rec["lut"]), "ff": float(rec["ff"]), "dsp": float(rec["dsp"]), "bram": float(rec["bram"]),
                      "latency_cycles": float(rec["latency_max"]), "ii": float(rec["interval"])}
            covered.append({"test": rec["test"], "backend": backend, "version": rec["vitis_version"], "nodes": nodes,
                            "hls": hls, "labels": labels})
    return covered, out


# --------------------------------------------------------------------------------------------------
# Estimate of a network.

def _uncertainty(hls) -> float:
    return 0.27 if getattr(hls, "backend", "Vitis") == "Vitis" else 0.125


def _elementwise(node, kind: str, model: dict, hls, in_shape: tuple[int, ...] | None = None, ports: tuple[str, ...] = ()) -> Cost:
    n = int(np.prod(node.output_shape))
    n_in = int(np.prod(in_shape)) if in_shape else n
    ew = model["elementwise"]
    bits = node.output_type.width
    in_bits = node.input_type.width if node.input_type is not None else bits
    if kind == "flatten":
        return Cost(node.name, lut=0.0, ff=0.0, dsp=0.0, bram=0.0, latency_cycles=0, ii=1)
    if kind == "maxpool2d":
        ph, pw = node.pool_size
        comparisons = n * (ph * pw - 1)
        lut = ew["pool_lut_per_bit"] * comparisons * bits
        ff = ew["pool_ff_per_in_bit"] * n_in * in_bits if "in" in ports else 0.0  # the top's registered inputs
        ff += n * bits if "out" in ports else 0.0
        if hls.io_type == "io_stream":
            h, w, c = node.output_shape
            width_in = w * pw
            ff = (ph - 1) * width_in * c * in_bits  # line buffer
            return Cost(node.name, lut=lut / max(h * w, 1) + ew["stream_lut_per_bit"] * c * bits, ff=float(ff), dsp=0.0,
                        bram=0.0, latency_cycles=int(h * ph * width_in), ii=int(h * ph * width_in))
        return Cost(node.name, lut=lut, ff=ff, dsp=0.0, bram=0.0, latency_cycles=0, ii=1)
    # relu / quantize: a cast with rounding and saturation per element
    per_bit = ew["relu_lut_per_bit"] if kind == "relu" else ew["quantize_lut_per_bit"]
    lut = per_bit * n * max(bits, 1) + ew["cast_lut_per_in_bit"] * n * max(in_bits - bits, 0)
    ff = (n_in * in_bits if "in" in ports else 0.0) + (n * bits if "out" in ports else 0.0)
    return Cost(node.name, lut=lut, ff=ff, dsp=0.0, bram=0.0, latency_cycles=0, ii=1)


def layer_of(node, hls, rf: int, ports: tuple[str, ...] = ("in", "out")) -> Layer:
    """The cost model's view of a dense or conv2d node under ``hls`` with reuse factor ``rf``."""
    matrix_codes, bias_codes = kernel_codes(node)
    n_in, n_out = matrix_codes.shape
    pixels = int(np.prod(node.output_shape[:-1])) if node.kind == "conv2d" else 1
    strategy = hls.strategy.lower()
    if strategy not in STRATEGY_NAMES:
        raise EstimateError(f"hls4ml strategy {hls.strategy!r} is not one of Latency, Resource")
    return Layer(n_in, n_out, node.input_type.width, node.weight_type.width, node.accum_type.width,
                 node.output_type.width, rf, strategy, weight_stats(matrix_codes, bias_codes), hls.io_type, pixels, ports)


def _extrapolation(layer: Layer, node_name: str, model: dict) -> list[str]:
    ranges = model["ranges"]
    notes = []
    checks = [("n_in", layer.n_in), ("n_out", layer.n_out), ("weight_bits", layer.b_w), ("input_bits", layer.b_x),
              ("accum_bits", layer.b_acc), ("result_bits", layer.b_out)]
    if layer.regime == "reuse":
        checks.append(("reuse_factor_resource_gt1", layer.rf))
    elif layer.regime == "shared":
        checks.append(("reuse_factor_latency_gt1", layer.rf))
    else:
        checks.append(("unrolled_multiplications", layer.n_in * layer.n_out))
    for key, value in checks:
        lo, hi = ranges[key]
        note = outside(f"{node_name}: {key}", value, lo, hi)
        if note:
            notes.append(note)
    if layer.regime == "reuse" and layer.rf <= layer.n_in:
        notes.append(f"{node_name}: Resource with reuse_factor={layer.rf} <= n_in={layer.n_in} (dense_resource_rf_leq_nin): no calibration rows; its input multiplexers are modelled, not fitted")
    if layer.io != "io_parallel":
        notes.append(f"{node_name}: io_type={layer.io}: the calibration rows are io_parallel; stream FIFOs are modelled from 3 CI baselines")
    if layer.pixels > 1:
        notes.append(f"{node_name}: conv2d: no conv2d rows in the calibration data; its kernel is costed as a dense layer, its cycles over {layer.pixels} output pixels")
    return notes


def estimate(nodes: list, hls, reuse_factors: dict[str, int] | None = None, model_path: str | Path | dict | None = None) -> TargetEstimate:
    """The hls4ml design of ``nodes`` built as ``hls`` (HlsConfig) says: per layer and total LUT, FF,
    DSP, BRAM18, latency (cycles) and II, with every parameter outside the fitted ranges flagged.

    ``reuse_factors``: per layer name, overriding ``hls.reuse_factor``. In the Resource strategy each
    is replaced by the one hls4ml would use (its closest valid reuse factor), as hls4ml does.
    """
    if not nodes:
        raise EstimateError("the hls4ml estimate needs at least one layer")
    model = model_path if isinstance(model_path, dict) else load_model(model_path)
    if hls.io_type not in ("io_parallel", "io_stream"):
        raise EstimateError(f"io_type {hls.io_type!r} is not one of io_parallel, io_stream")
    reuse_factors = dict(reuse_factors or {})
    known = {n.name for n in nodes}
    unknown = sorted(set(reuse_factors) - known)
    if unknown:
        raise EstimateError(f"reuse_factors name layers that are not in the network: {', '.join(unknown)}")
    uncertainty = _uncertainty(hls)
    layers: list[Cost] = []
    extrapolated: list[str] = []
    params_rf: dict[str, int] = {}
    stream = model["stream"]
    in_shape: tuple[int, ...] | None = None
    body = [n for n in nodes if n.kind != "input"]
    pipelined = hls.io_type == "io_parallel" and hls.strategy.lower() == "latency" and not any(n.kind == "conv2d" for n in body)

    def ports_of(node) -> tuple[str, ...]:
        """hls4ml's pipeline style ('auto'): a pipelined top registers the first layer's inputs, a
        dataflow top (Resource, conv2d, io_stream) the last layer's outputs; stream ports are FIFOs."""
        if hls.io_type != "io_parallel":
            return ()
        if pipelined:
            return ("in",) if node is body[0] else ()
        return ("out",) if node is body[-1] else ()

    for node in nodes:
        shape, in_shape = in_shape, tuple(node.output_shape)
        if node.kind == "input":
            continue
        if node.has_weights:
            requested = int(reuse_factors.get(node.name, hls.reuse_factor))
            if requested < 1:
                raise EstimateError(f"layer {node.name!r}: reuse factor {requested} must be at least 1")
            n_in, n_out = node.kernel_matrix().shape
            # hls4ml moves a Resource layer's reuse factor to its closest valid one; Latency keeps it
            rf = closest_reuse_factor(n_in, n_out, requested) if hls.strategy.lower() == "resource" else requested
            params_rf[node.name] = rf
            layer = layer_of(node, hls, rf, ports_of(node))
            costs = predict_layer(layer, model, hls.clock_period_ns, uncertainty)
            latency, ii = costs["latency_cycles"], costs["ii"]
            if layer.pixels > 1:  # the kernel runs once per output pixel (a partition at a time)
                latency = layer.pixels * max(ii, 1) + latency
                ii = layer.pixels * max(ii, 1)
            lut, ff = costs["lut"], costs["ff"]
            if hls.io_type == "io_stream":
                lut += stream["lut_per_bit"] * n_out * layer.b_out
                ff += stream["ff_per_bit"] * n_out * layer.b_out
                latency += stream["cycles"]
            layers.append(Cost(node.name, lut=lut, ff=ff, dsp=costs["dsp"], bram=costs["bram"],
                               latency_cycles=int(latency), ii=int(ii)))
            extrapolated.extend(_extrapolation(layer, node.name, model))
        elif node.kind in ("relu", "quantize", "maxpool2d", "flatten"):
            layers.append(_elementwise(node, node.kind, model, hls, shape, ports_of(node)))
        else:
            raise EstimateError(f"layer {node.name!r} of kind {node.kind!r}: the hls4ml cost model covers dense, conv2d, relu, quantize, maxpool2d, flatten")
    total = _total(layers)
    params = {"backend": hls.backend, "io_type": hls.io_type, "strategy": hls.strategy, "reuse_factors": params_rf,
              "clock_period_ns": hls.clock_period_ns, "part": hls.part,
              "calibration": model["calibration"]["tool"]}
    return TargetEstimate("hls4ml", layers, total, params, extrapolated)


def _total(layers: list[Cost]) -> Cost:
    """The design's total: resources add; latencies add (a pipelined top chains its layers, a dataflow
    one passes each result on when it is done); II is the slowest layer's."""
    def add(key):
        return float(sum(getattr(c, key) or 0.0 for c in layers))

    latency = int(sum(c.latency_cycles or 0 for c in layers))
    ii = int(max([c.ii or 1 for c in layers] or [1]))
    return Cost("total", lut=add("lut"), ff=add("ff"), dsp=add("dsp"), bram=add("bram"), latency_cycles=latency, ii=ii)


# --------------------------------------------------------------------------------------------------
# Calibration: refit and write the committed JSON.

ELEMENTWISE_DEFAULT = {
    "relu_lut_per_bit": 1.0,  # an AND with the sign per result bit
    "quantize_lut_per_bit": 1.5,  # rounding and saturation
    "cast_lut_per_in_bit": 0.25,  # the overflow test over the dropped high bits
    "pool_lut_per_bit": 2.0,  # a compare and a select per bit per comparison
    "pool_ff_per_in_bit": 1.0,
    "stream_lut_per_bit": 1.0,
}
STREAM_DEFAULT = {"lut_per_bit": 1.0, "ff_per_bit": 2.0, "cycles": 2}


def _fit_ci_constants(data_dir, model: dict) -> tuple[dict, dict]:
    """The element-wise and stream constants, from the CI baselines of Vivado HLS 2020.1 (the tool of the
    pilot data): MaxPooling2D 'valid' gives the per-comparison LUTs and the registered inputs; the
    io_stream Dense+ReLU row against its io_parallel twin gives the stream FIFO costs."""
    ew, stream = dict(ELEMENTWISE_DEFAULT), dict(STREAM_DEFAULT)
    try:
        covered, _ = ci_rows(data_dir)
    except EstimateError:
        return ew, stream
    vivado = [c for c in covered if c["backend"] == "Vivado"]
    for c in vivado:
        pool = [n for n in c["nodes"] if n.kind == "maxpool2d"]
        if pool:
            node = pool[0]
            n = int(np.prod(node.output_shape))
            ph, pw = node.pool_size
            ew["pool_lut_per_bit"] = round(c["labels"]["lut"] / (n * (ph * pw - 1) * node.output_type.width), 4)
            ew["pool_ff_per_in_bit"] = round(c["labels"]["ff"] / (int(np.prod(c["nodes"][0].output_shape)) * node.input_type.width), 4)
    par = [c for c in vivado if c["hls"].io_type == "io_parallel" and any(n.kind == "relu" for n in c["nodes"])]
    identity = _ci_identity_lut(data_dir)
    if par and identity is not None:  # ReLU against the same Dense with LeakyReLU(alpha=1), the identity
        ew["relu_lut_per_bit"] = round(max(0.0, par[0]["labels"]["lut"] - identity) / (64 * 16), 4)
    st = [c for c in vivado if c["hls"].io_type == "io_stream" and any(n.kind == "relu" for n in c["nodes"])]
    if st:  # what the io_stream design costs beyond the model's own io_stream estimate without FIFOs
        bits = 64 * 16
        bare = estimate(st[0]["nodes"], st[0]["hls"], model_path={**model, "elementwise": ew,
                                                                   "stream": {"lut_per_bit": 0.0, "ff_per_bit": 0.0, "cycles": 0}}).total
        stream["lut_per_bit"] = round(max(0.0, st[0]["labels"]["lut"] - bare.lut) / bits, 4)
        stream["ff_per_bit"] = round(max(0.0, st[0]["labels"]["ff"] - bare.ff) / bits, 4)
        stream["cycles"] = int(max(0, st[0]["labels"]["latency_cycles"] - bare.latency_cycles))
    return ew, stream


def _ci_identity_lut(data_dir) -> float | None:
    """LUTs of the Vivado 2020.1 io_parallel baseline Dense(64) + LeakyReLU(alpha=1.0) (an identity)."""
    import csv

    with open(reports_dir(data_dir) / CI_FILE, newline="") as f:
        for rec in csv.DictReader(f):
            if (rec["backend"] == "Vivado" and rec["io_type"] == "io_parallel" and "LeakyReLU(alpha=1.0)" in rec["model"]):
                return float(rec["lut"])
    return None


def calibrate(out: str | Path | None = None, jobs: int = 1, progress: bool = True, data_dir: str | Path | None = None) -> Path:
    """Refit the hls4ml cost model on the public reports and write it (default: the committed
    ``data/hls4ml_model.json``). Deterministic: the same data give the same file byte for byte.
    ``jobs`` is accepted for the common calibrate interface (the fit takes seconds on one core)."""
    def say(msg):
        if progress:
            print(f"hls4ml calibrate: {msg}", flush=True)

    rows = wa_rows(data_dir)
    test = split_architectures(rows)
    train = [r for r in rows if r.group not in set(test)]
    say(f"{len(rows)} synthesized pilot rows from {reports_dir(data_dir)}; fitting on {len(train)} rows of "
        f"{len({r.group for r in train})} architectures, {len(test)} architectures held out")
    fitted = fit(train)
    model = {"version": MODEL_VERSION, **fitted}
    model["ranges"] = ranges_of(train)
    model["split"] = {"seed": SPLIT_SEED, "test_architectures": [list(g) for g in test],
                      "train_rows": len(train), "test_rows": len(rows) - len(train)}
    model["calibration"] = {
        "tool": "hls4ml 0.8.1 + Vivado HLS 2020.1 csynth (xcu250, 5 ns)",
        "labels": "HLS estimates (csynth), not place-and-route",
        "data": [WA_FILES["resource"], WA_FILES["latency"], CI_FILE + " (element-wise and stream constants, Vivado 2020.1 rows)"],
        "weights": WEIGHTS_FILE.name,
        "command": "codesign calibrate --target hls4ml",
    }
    model["elementwise"], model["stream"] = ELEMENTWISE_DEFAULT, STREAM_DEFAULT
    model["elementwise"], model["stream"] = _fit_ci_constants(data_dir, model)
    say("scoring the held-out architectures")
    scores = heldout(rows, model)
    model["heldout"] = {k: {r: {m: (round(v, 2) if v is not None else None) for m, v in s.items()} for r, s in sets.items()}
                        for k, sets in scores["sets"].items()}
    out = Path(out) if out is not None else MODEL_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(model, indent=1, sort_keys=True) + "\n")
    _MODEL_CACHE.pop(out.resolve(), None)
    _MODEL_CACHE.pop(out, None)
    say(f"wrote {out}")
    return out
