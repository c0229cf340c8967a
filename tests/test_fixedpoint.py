"""fixedpoint.py against QKeras' quantizers and against plain integer arithmetic."""

import numpy as np
import pytest

from codesign.errors import CodesignError
from codesign.fixedpoint import (
    FixedType,
    accumulator_type,
    parse_hls_type,
    quantized_bits_type,
    quantized_relu_type,
    requantize,
    shift_right_round,
)


def _grid_values(t: FixedType, rng) -> np.ndarray:
    """Values on a grid 4x finer than the type's, so exact ties (half an LSB) occur, plus out-of-range ones."""
    span = (t.max_value - t.min_value) * 1.5
    fine = np.round(rng.uniform(t.min_value - span / 3, t.max_value + span / 3, 4000) * 4 / t.lsb) * t.lsb / 4
    ties = (np.arange(t.min_code, t.max_code) + 0.5) * t.lsb
    return np.concatenate([fine, ties])


@pytest.mark.parametrize("bits,integer", [(4, 0), (6, 0), (6, 2), (8, 3), (3, 1)])
def test_quantized_bits_matches_qkeras(bits, integer):
    from qkeras import quantized_bits

    t = quantized_bits_type(bits, integer)
    x = _grid_values(t, np.random.default_rng(bits * 10 + integer))
    expected = quantized_bits(bits, integer, alpha=1)(x.astype(np.float32)).numpy().astype(np.float64)
    np.testing.assert_array_equal(t.quantize(x), expected)
    assert t.hls() == f"fixed<{bits},{integer + 1},RND_CONV,SAT>"


@pytest.mark.parametrize("bits,integer", [(4, 0), (6, 1), (6, 2), (8, 0), (3, 3)])
def test_quantized_relu_matches_qkeras(bits, integer):
    from qkeras import quantized_relu

    t = quantized_relu_type(bits, integer)
    x = _grid_values(t, np.random.default_rng(bits * 10 + integer))
    x = np.concatenate([x, -x])
    expected = quantized_relu(bits, integer)(x.astype(np.float32)).numpy().astype(np.float64)
    np.testing.assert_array_equal(t.quantize(x), expected)


@pytest.mark.parametrize("rounding", ["TRN", "RND", "RND_CONV"])
@pytest.mark.parametrize("shift", [0, 1, 3, 7])
def test_shift_right_round_against_exact_fractions(rounding, shift):
    from fractions import Fraction

    codes = np.arange(-300, 301)
    got = shift_right_round(codes, shift, rounding)
    for c, g in zip(codes, got):
        exact = Fraction(int(c), 1 << shift)
        if rounding == "TRN":
            want = exact.numerator // exact.denominator
        elif rounding == "RND":
            want = int(np.floor(exact + Fraction(1, 2)))
        else:
            want = round(exact)  # Python's round is half to even
        assert g == want, (c, shift, rounding)


def test_requantize_saturates_unsigned_and_signed():
    relu6 = quantized_relu_type(6, 1)  # [0, 1.96875], step 1/32
    acc = np.array([-1000, -1, 0, 1, 2, 3, 10**6])  # acc_frac = 6: steps of 1/64
    np.testing.assert_array_equal(requantize(acc, 6, relu6), [0, 0, 0, 0, 1, 2, 63])  # 1/64 -> tie -> even 0; 3/64 -> tie -> 2
    signed = quantized_bits_type(4, 0)
    np.testing.assert_array_equal(requantize(np.array([-10**6, 10**6]), 6, signed), [-8, 7])


def test_accumulator_type_holds_extremes_exactly():
    x_t, w_t, b_t = FixedType(8, 1, False), quantized_bits_type(6, 0), quantized_bits_type(8, 3)
    acc = accumulator_type(x_t, w_t, 64, b_t)
    worst_hi = 64 * x_t.max_value * 1.0 * 0 + 64 * x_t.max_value * abs(w_t.min_value) + b_t.max_value
    worst_lo = 64 * x_t.max_value * w_t.min_value + b_t.min_value
    assert acc.signed and acc.frac == max(x_t.frac + w_t.frac, b_t.frac)
    assert acc.holds(np.array([worst_hi, worst_lo]))
    narrower = FixedType(acc.width - 1, acc.integer - 1)
    assert not narrower.holds(np.array([worst_hi, worst_lo]))


def test_parse_hls_type_round_trip():
    for text in ["fixed<16,6>", "ufixed<8,0,RND_CONV,SAT>", "ap_fixed<18,8>", "ap_ufixed<6,1,AP_RND_CONV,AP_SAT>"]:
        t = parse_hls_type(text)
        assert parse_hls_type(t.hls()) == t
    with pytest.raises(CodesignError, match="cannot parse"):
        parse_hls_type("float")


def test_to_codes_refuses_off_grid_and_out_of_range():
    t = FixedType(8, 1, False)
    np.testing.assert_array_equal(t.to_codes(np.array([0.0, 1.0, 0.5])), [0, 128, 64])
    with pytest.raises(CodesignError, match="not on the grid"):
        t.to_codes(np.array([0.001]))
    with pytest.raises(CodesignError, match="outside the range"):
        t.to_codes(np.array([2.0]))
