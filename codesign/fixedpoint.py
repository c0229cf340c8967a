"""Fixed-point semantics of QKeras quantizers and hls4ml ``ap_fixed`` types, in numpy.

This module is the one source of truth for the arithmetic every execution of a model shares
(QKeras, hls4ml's C simulation, the accelerator's RTL and its reference model). Values travel
either as floats that lie exactly on a type's grid, or as integer *codes* (value * 2**frac).

The mappings, checked against both QKeras and hls4ml by the test suite:

* ``quantized_bits(bits, integer, alpha=1)`` is ``ap_fixed<bits, integer + 1>``, rounding half to
  even (``tf.round``) and saturating;
* ``quantized_relu(bits, integer)`` is ``ap_ufixed<bits, integer>``, rounding half to even and
  saturating (so negative inputs become 0).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from codesign.errors import CodesignError

ROUNDING_MODES = ("TRN", "RND_CONV", "RND")
"""Truncate toward -inf (ap_fixed's default); round half to even (tf.round); round half up."""
SATURATION_MODES = ("WRAP", "SAT")
MAX_WIDTH = 64  # codes travel as int64; wider accumulators are not needed by any supported layer


@dataclass(frozen=True)
class FixedType:
    """``ap_fixed<width, integer>`` (signed) or ``ap_ufixed<width, integer>`` (unsigned)."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    saturation: str = "WRAP"

    def __post_init__(self) -> None:
        if not 1 <= self.width <= MAX_WIDTH:
            raise CodesignError(f"fixed-point width {self.width} is outside the allowed range 1..{MAX_WIDTH}")
        if self.rounding not in ROUNDING_MODES:
            raise CodesignError(f"rounding mode {self.rounding!r} is not one of {ROUNDING_MODES}")
        if self.saturation not in SATURATION_MODES:
            raise CodesignError(f"saturation mode {self.saturation!r} is not one of {SATURATION_MODES}")

    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.frac

    @property
    def min_code(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def min_value(self) -> float:
        return self.min_code * self.lsb

    @property
    def max_value(self) -> float:
        return self.max_code * self.lsb

    def hls(self) -> str:
        """The type as hls4ml's config writes it, e.g. ``ufixed<6,0,RND_CONV,SAT>``."""
        name = "fixed" if self.signed else "ufixed"
        if self.rounding == "TRN" and self.saturation == "WRAP":
            return f"{name}<{self.width},{self.integer}>"
        return f"{name}<{self.width},{self.integer},{self.rounding},{self.saturation}>"

    def __str__(self) -> str:
        return ("ap_fixed" if self.signed else "ap_ufixed") + self.hls()[len("fixed" if self.signed else "ufixed"):]

    def with_modes(self, rounding: str, saturation: str) -> FixedType:
        return FixedType(self.width, self.integer, self.signed, rounding, saturation)

    def holds(self, values: np.ndarray) -> bool:
        """True when every value lies on this type's grid and inside its range."""
        values = np.asarray(values, dtype=np.float64)
        scaled = values * 2.0**self.frac
        return bool(
            np.all(scaled == np.round(scaled))
            and np.all(values >= self.min_value)
            and np.all(values <= self.max_value)
        )

    def to_codes(self, values: np.ndarray) -> np.ndarray:
        """Exact integer codes of values that lie on this type's grid; refuses values that do not."""
        values = np.asarray(values, dtype=np.float64)
        scaled = values * 2.0**self.frac
        codes = np.round(scaled)
        if not np.all(codes == scaled):
            raise CodesignError(f"values are not on the grid of {self} (step {self.lsb:g})")
        if codes.size and (codes.min() < self.min_code or codes.max() > self.max_code):
            raise CodesignError(
                f"values [{values.min():g}, {values.max():g}] are outside the range of {self} "
                f"[{self.min_value:g}, {self.max_value:g}]"
            )
        return codes.astype(np.int64)

    def from_codes(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(codes, dtype=np.float64) * self.lsb

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """What assigning floats to a variable of this type gives (its rounding, then saturation or wrap)."""
        values = np.asarray(values, dtype=np.float64)
        scaled = values * 2.0**self.frac
        floor = np.floor(scaled)
        remainder = scaled - floor
        if self.rounding == "TRN":
            codes = floor
        elif self.rounding == "RND":
            codes = np.where(remainder >= 0.5, floor + 1, floor)
        else:  # RND_CONV: half to even
            codes = np.round(scaled)
        return self.from_codes(self.fit_codes(codes.astype(np.int64)))

    def fit_codes(self, codes: np.ndarray) -> np.ndarray:
        """Saturate or wrap integer codes into this type's range."""
        codes = np.asarray(codes, dtype=np.int64)
        if self.saturation == "SAT":
            return np.clip(codes, self.min_code, self.max_code)
        span = 1 << self.width
        wrapped = np.mod(codes - self.min_code, span) + self.min_code
        return wrapped.astype(np.int64)


_HLS_TYPE = re.compile(r"^\s*(?:ap_)?(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*(?:AP_)?(\w+)\s*)?(?:,\s*(?:AP_)?(\w+)\s*)?>\s*$")


def parse_hls_type(text: str) -> FixedType:
    """Parse ``fixed<16,6>``, ``ap_ufixed<8,0,AP_RND_CONV,AP_SAT>`` and the like."""
    match = _HLS_TYPE.match(text)
    if not match:
        raise CodesignError(f"cannot parse fixed-point type {text!r}; expected e.g. 'fixed<16,6>' or 'ufixed<8,0,RND_CONV,SAT>'")
    unsigned, width, integer, rounding, saturation = match.groups()
    return FixedType(int(width), int(integer), not unsigned, rounding or "TRN", saturation or "WRAP")


def validate_quantizer(where: str, bits: int, integer: int, signed: bool) -> None:
    """Refuse bit-widths that no QKeras quantizer and no ap_fixed type can take."""
    if not isinstance(bits, int) or not 1 <= bits <= 32:
        raise CodesignError(f"{where}: bits={bits!r} is outside the allowed range 1..32")
    sign_bit = 1 if signed else 0
    if not isinstance(integer, int) or not 0 <= integer <= bits - sign_bit:
        raise CodesignError(
            f"{where}: integer={integer!r} is outside the allowed range 0..{bits - sign_bit} "
            f"(integer bits cannot exceed bits{' minus the sign bit' if signed else ''})"
        )


def quantized_bits_type(bits: int, integer: int) -> FixedType:
    """``quantized_bits(bits, integer, alpha=1)``: signed, rounds half to even, saturates."""
    return FixedType(bits, integer + 1, True, "RND_CONV", "SAT")


def quantized_relu_type(bits: int, integer: int) -> FixedType:
    """``quantized_relu(bits, integer)``: unsigned, rounds half to even, saturates."""
    return FixedType(bits, integer, False, "RND_CONV", "SAT")


def shift_right_round(codes: np.ndarray, shift: int, rounding: str) -> np.ndarray:
    """Arithmetic shift of integer codes by ``shift`` bits (left when negative), with rounding.

    This is the requantization step of every layer: the hardware does exactly this.
    """
    codes = np.asarray(codes, dtype=np.int64)
    if shift <= 0:
        return codes << -shift
    floor = codes >> shift
    remainder = codes - (floor << shift)
    half = 1 << (shift - 1)
    if rounding == "TRN":
        return floor
    if rounding == "RND":
        return floor + (remainder >= half)
    if rounding == "RND_CONV":
        round_up = (remainder > half) | ((remainder == half) & ((floor & 1) == 1))
        return floor + round_up
    raise CodesignError(f"rounding mode {rounding!r} is not one of {ROUNDING_MODES}")


def requantize(acc_codes: np.ndarray, acc_frac: int, out: FixedType) -> np.ndarray:
    """Codes of ``out`` from accumulator codes with ``acc_frac`` fractional bits."""
    return out.fit_codes(shift_right_round(acc_codes, acc_frac - out.frac, out.rounding))


def signed_width_for(lo: int, hi: int) -> int:
    """Bits of a two's-complement integer that holds every value in [lo, hi]."""
    return max(1, int(hi).bit_length() + 1, int(-lo - 1).bit_length() + 1 if lo < 0 else 1)


def accumulator_type(input_t: FixedType, weight_t: FixedType, fan_in: int, bias_t: FixedType | None = None) -> FixedType:
    """The narrowest signed type that holds any dot product of ``fan_in`` terms plus the bias exactly.

    Exact bit growth (input bits + weight bits + log2(fan-in), aligned with the bias): hls4ml's
    ``auto`` types can lose bits here, so the flow writes these types into the hls4ml config.
    """
    if fan_in < 1:
        raise CodesignError(f"fan-in {fan_in} must be at least 1")
    corners = [a * b for a in (input_t.min_code, input_t.max_code) for b in (weight_t.min_code, weight_t.max_code)]
    frac = input_t.frac + weight_t.frac
    lo, hi = fan_in * min(corners), fan_in * max(corners)
    if bias_t is not None:
        frac = max(frac, bias_t.frac)
        lo <<= frac - (input_t.frac + weight_t.frac)
        hi <<= frac - (input_t.frac + weight_t.frac)
    return sum_type(lo, hi, frac, bias_t, "an exact accumulator", "; use fewer bits or a smaller fan-in")


def sum_type(lo: int, hi: int, frac: int, bias_t: FixedType | None, what: str, advice: str = "") -> FixedType:
    """The narrowest signed type with ``frac`` fractional bits that holds every code in [lo, hi] plus any
    bias code of ``bias_t`` aligned to ``frac`` (``frac >= bias_t.frac``)."""
    if bias_t is not None:
        lo += bias_t.min_code << (frac - bias_t.frac)
        hi += bias_t.max_code << (frac - bias_t.frac)
    width = signed_width_for(lo, hi)
    if width > MAX_WIDTH:
        raise CodesignError(f"{what} needs {width} bits, more than the {MAX_WIDTH} supported{advice}")
    return FixedType(width, width - frac, True)


def ceil_log2(n: int) -> int:
    return max(0, math.ceil(math.log2(n))) if n > 0 else 0
