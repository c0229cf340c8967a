"""Parameters of one build of the accelerator (``rtl/accel_top.sv``) and their allowed ranges."""

from __future__ import annotations

from dataclasses import dataclass

from codesign.errors import CodesignError

SPARSE_M_CHOICES = (0, 4)   # the RTL is written for any power of two; these two builds are verified
GROUP_FIELD_BITS = 16   # group index / step count field of a weight-memory word
DESCRIPTOR_BITS = 320   # ten 32-bit fields
MAX_DEPTH = 1 << 20
# ROWS and COLS up to 16 are simulated (sim/test_params.py draws 1..16 and builds 16x16); larger
# arrays are refused until a simulated test covers them.
MAX_ARRAY_DIM = 16


def sparse_m_for(sparse: bool) -> int:
    """SPARSE_M of a build with (N:4 compressed weights) or without sparse support."""
    return 4 if sparse else 0


def _check(name: str, value: int, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise CodesignError(f"accelerator parameter {name}={value!r} is outside the allowed range {lo}..{hi}")


@dataclass(frozen=True)
class AccelSpec:
    """An array configuration: the RTL parameters of ``accel_top`` in lower case."""

    rows: int = 4
    cols: int = 4
    weight_bits: int = 8
    act_bits: int = 8
    acc_bits: int = 32
    sparse_m: int = 4
    amem_depth: int = 1024
    wmem_depth: int = 1024
    bmem_depth: int = 64
    omem_depth: int = 1024
    dmem_depth: int = 16

    def __post_init__(self) -> None:
        _check("rows", self.rows, 1, MAX_ARRAY_DIM)
        _check("cols", self.cols, 1, MAX_ARRAY_DIM)
        _check("weight_bits", self.weight_bits, 2, 16)
        _check("act_bits", self.act_bits, 2, 16)
        _check("acc_bits", self.acc_bits, self.weight_bits + self.act_bits + 1, 32)
        if self.sparse_m not in SPARSE_M_CHOICES:
            raise CodesignError(f"accelerator parameter sparse_m={self.sparse_m!r} is not one of {SPARSE_M_CHOICES} (0 = dense-only build)")
        for name in ("amem_depth", "wmem_depth", "bmem_depth", "omem_depth", "dmem_depth"):
            depth = getattr(self, name)
            _check(name, depth, 2, MAX_DEPTH)
            if depth & (depth - 1):
                raise CodesignError(f"accelerator parameter {name}={depth} must be a power of two (2..{MAX_DEPTH})")
        if self.amem_depth < 2 * self.amem_write_words:
            raise CodesignError(f"accelerator parameter amem_depth={self.amem_depth} must hold at least two rows of "
                                f"{self.amem_write_words} activation words (allowed: {2 * self.amem_write_words}..{MAX_DEPTH})")

    # ---- derived widths (the localparams of accel_top) ----
    @property
    def lanes(self) -> int:
        """Activations per group along K: SPARSE_M, or 1 in a dense-only build."""
        return max(1, self.sparse_m)

    @property
    def idx_bits(self) -> int:
        return max(1, (self.lanes - 1).bit_length())

    @property
    def weight_entry_bits(self) -> int:
        return self.weight_bits + self.idx_bits

    @property
    def amem_width(self) -> int:
        """One activation-memory word: a group of SPARSE_M activations of one sample or pixel (every
        array row has its own bank holding the same words)."""
        return self.lanes * self.act_bits

    @property
    def wmem_width(self) -> int:
        return GROUP_FIELD_BITS + self.cols * self.weight_entry_bits

    @property
    def bmem_width(self) -> int:
        return self.cols * self.acc_bits

    @property
    def omem_width(self) -> int:
        return self.cols * self.acc_bits

    @property
    def writeback_words(self) -> int:
        """Activation words one output tile writes back (COLS / SPARSE_M groups)."""
        return max(1, self.cols // self.lanes)

    @property
    def amem_write_words(self) -> int:
        """Words of one activation-memory row (accel_amem's write width): writeback_words rounded up
        to a power of two. A layer's write-back starts every output row at the start of a row."""
        return 1 << (self.writeback_words - 1).bit_length()

    def writeback_stride(self, n: int) -> int:
        """Activation words between consecutive written-back output rows of an N-column layer: whole
        column tiles (ceil(N / COLS) * COLS / SPARSE_M), so every write-back is one aligned row."""
        return -(-n // self.cols) * self.writeback_words

    def check_writeback(self) -> None:
        """Writing results back into the activation memory needs whole groups per output tile, and
        output tiles that fill activation-memory rows."""
        if self.cols % self.lanes:
            raise CodesignError(f"writing results back to the activation memory needs cols={self.cols} to be a multiple "
                                f"of the group size {self.lanes}")
        if self.writeback_words != self.amem_write_words:
            raise CodesignError(f"writing results back to the activation memory needs cols / {self.lanes} = "
                                f"{self.writeback_words} words per output row to be a power of two "
                                f"(cols={self.cols}; allowed: {self.lanes} * 2^k)")

    def parameters(self) -> dict[str, int]:
        """Verilog parameters of accel_top."""
        return {
            "ROWS": self.rows, "COLS": self.cols, "WEIGHT_BITS": self.weight_bits,
            "ACT_BITS": self.act_bits, "ACC_BITS": self.acc_bits, "SPARSE_M": self.sparse_m,
            "AMEM_DEPTH": self.amem_depth, "WMEM_DEPTH": self.wmem_depth,
            "BMEM_DEPTH": self.bmem_depth, "OMEM_DEPTH": self.omem_depth,
            "DMEM_DEPTH": self.dmem_depth,
        }

    def max_product(self, act_signed: bool = True) -> int:
        """Largest |a * w| over all activation and weight codes."""
        w = 1 << (self.weight_bits - 1)
        a = (1 << (self.act_bits - 1)) if act_signed else (1 << self.act_bits) - 1
        return a * w

    def max_depth(self, act_signed: bool = True) -> int:
        """Largest reduction depth K for which the accumulator can never overflow."""
        return ((1 << (self.acc_bits - 1)) - 1) // self.max_product(act_signed)

    def tag(self) -> str:
        """A short name for build directories, e.g. ``r4c4w8a8acc32m4``."""
        return f"r{self.rows}c{self.cols}w{self.weight_bits}a{self.act_bits}acc{self.acc_bits}m{self.sparse_m}"
