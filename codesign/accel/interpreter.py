"""A program interpreter for the accelerator: runs the memory images as ``rtl/accel_top.sv`` reads them.

``Accelerator`` holds the five memories of one build (``AccelSpec``) as arrays of words and takes
the same AXI4-Stream command beats the host sends (``load``), then runs the descriptor chain
(``run``): it decodes every descriptor from its DMEM word, walks the weight lists in WMEM, reads
activation words at the per-row addresses the controller generates, accumulates exactly, adds the
BMEM bias word and post-processes (``golden.post_process``), writes OMEM words, writes results back
into AMEM in accel_abuf's row layout, pools as accel_pool does and streams results as the streamer
sends them (one sign-extended 32-bit beat per result). Addresses wrap to each memory's address
width, as the RTL's registers do. Cycles come from ``golden.layer_cycles`` / ``golden.pool_cycles``
with the step counts read from WMEM; the error status follows ``codesign.accel.status``.

What it does not model: the timing of individual reads and writes inside a descriptor (a program
whose write-back or pool output overlaps the region it reads gets a sequential answer: all reads of
a pool, or of a GEMM's column tile, before its writes), bit 3 of the status (a load cannot arrive
during a run here) and the cycle count of a run that ends in a fault (``cycles`` then sums the
descriptors that finished). A fault stops the chain at its descriptor as accel_ctrl does: a zero
size, count or out-of-range base before anything of it is computed, a weight list with no steps
after the column tiles before it (computed and written, not streamed). Descriptor fields the RTL has no defined behaviour for (``out_bits``
outside 1..ACC_BITS) are refused with an error naming the descriptor.

``run_program(program, x_codes)`` runs a compiled program chunk by chunk, like
``codesign.accel.network.run_program`` does on the RTL, in milliseconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from codesign.accel import golden, status
from codesign.accel.compiler import Program
from codesign.accel.golden import ROUNDING_CODES, ceil_div
from codesign.accel.spec import DESCRIPTOR_BITS, GROUP_FIELD_BITS, AccelSpec
from codesign.errors import CodesignError

LOADER_ADDRESS_BITS = 28      # beat 0 of a command: {target[31:28], address[27:0]}
DESCRIPTOR_FIELDS = DESCRIPTOR_BITS // 32
# Flags of descriptor field 2 (bit positions in the field).
RELU, OUT_SIGNED, ACT_SIGNED, STREAM_OUT, LAST, WRITE_BACK, POOL, NO_OMEM = (1 << (16 + i) for i in range(8))
# The PPU rounds up only for RND and RND_CONV: code 3 truncates like TRN.
ROUNDING_NAMES = {**{code: name for name, code in ROUNDING_CODES.items()}, 3: "TRN"}
# Elements of one gathered (rows x steps x columns) block of activations: bounds the memory a GEMM takes.
GATHER_BLOCK = 1 << 21

_H0, _H1, _DATA = range(3)


def _signed(raw: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement value of ``bits``-bit raw codes (0 <= raw < 2^bits)."""
    half = np.int64(1 << (bits - 1))
    return (np.asarray(raw, dtype=np.int64) ^ half) - half


class WordMemory:
    """``depth`` words of ``sum(field_bits)`` bits, word = its fields concatenated (field 0 in the low
    bits), kept as an integer array of the fields' raw bits (``fields``, depth x len(field_bits)).
    Every field is at most 32 bits wide, so it spans at most two 32-bit loader beats."""

    def __init__(self, name: str, depth: int, field_bits: tuple[int, ...]) -> None:
        if any(not 1 <= b <= 32 for b in field_bits):
            raise CodesignError(f"{name} memory: field widths {field_bits} are outside the allowed range 1..32")
        self.name = name
        self.depth = depth
        self.field_bits = tuple(field_bits)
        self.offsets = tuple(int(o) for o in np.cumsum((0,) + self.field_bits[:-1]))
        self.width = sum(self.field_bits)
        self.beats_per_word = ceil_div(self.width, 32)
        self.mask = depth - 1          # depths are powers of two: an address keeps its low bits
        self.fields = np.zeros((depth, len(self.field_bits)), dtype=np.int64)

    def word(self, address: int) -> int:
        row = self.fields[address & self.mask]
        return sum(int(v) << o for v, o in zip(row, self.offsets))

    def words(self) -> list[int]:
        return [self.word(a) for a in range(self.depth)]

    def set_word(self, address: int, value: int) -> None:
        self.fields[address & self.mask] = [(value >> o) & ((1 << b) - 1) for o, b in zip(self.offsets, self.field_bits)]

    def write_slice(self, address: int, beat: int, value: int) -> None:
        """Write 32 bits at bit 32*beat of a word (one loader beat; bits past the width are dropped)."""
        word = self.word(address) & ~(0xFFFFFFFF << (32 * beat))
        self.set_word(address, word | (value & 0xFFFFFFFF) << (32 * beat))

    def write_beats(self, address: int, beats: np.ndarray) -> None:
        """Write whole words from ``address`` (wrapping), ``beats`` (words x beats_per_word) least
        significant beat first."""
        count = len(beats)
        if count > self.depth:        # a wrapped write: the later words are what stays
            address, beats = address + count - self.depth, beats[count - self.depth:]
        beats = np.asarray(beats, dtype=np.uint64)
        values = np.empty((len(beats), len(self.field_bits)), dtype=np.int64)
        for f, (offset, bits) in enumerate(zip(self.offsets, self.field_bits)):
            b, s = divmod(offset, 32)
            v = beats[:, b] >> np.uint64(s)
            if s + bits > 32:
                v = v | (beats[:, b + 1] << np.uint64(32 - s))
            values[:, f] = (v & np.uint64((1 << bits) - 1)).astype(np.int64)
        self.fields[(address + np.arange(len(beats))) & self.mask] = values


@dataclass(frozen=True)
class DescriptorRun:
    """One descriptor of a run: its index in DMEM, kind, weight steps per column tile (a GEMM),
    perf cycles (0 when it faulted) and the faults it raised."""

    index: int
    kind: str                      # "gemm" | "pool"
    cycles: int
    steps: tuple[int, ...] = ()
    status: int = 0


@dataclass
class RunResult:
    """A start: the result beats streamed, perf_cycles (sum over its descriptors), per descriptor, status."""

    beats: list[int]
    cycles: int
    descriptors: list[DescriptorRun]
    status: int


class Accelerator:
    """The memories and the loader of one build, and the controller's execution of a descriptor chain."""

    def __init__(self, spec: AccelSpec) -> None:
        self.spec = spec
        s = spec
        self.dmem = WordMemory("descriptor", s.dmem_depth, (32,) * DESCRIPTOR_FIELDS)
        self.amem = WordMemory("activation", s.amem_depth, (s.act_bits,) * s.lanes)
        self.wmem = WordMemory("weight", s.wmem_depth, (s.weight_entry_bits,) * s.cols + (GROUP_FIELD_BITS,))
        self.bmem = WordMemory("bias", s.bmem_depth, (s.acc_bits,) * s.cols)
        self.omem = WordMemory("output", s.omem_depth, (s.acc_bits,) * s.cols)
        self.memories = (self.dmem, self.amem, self.wmem, self.bmem)     # by load target 0..3
        self.stream: list[int] = []     # every result beat sent, in order (runs and read-outs)
        self.status = 0                 # the error status of the last run (cleared by run())
        # loader state, kept across load() calls as the RTL keeps it across beats
        self._state, self._target, self._addr, self._count, self._beat = _H0, 0, 0, 0, 0
        self._amem_low = [0] * self.amem.beats_per_word   # accel_top's load_low: an AMEM word's earlier beats

    # ------------------------------------------------------------ loader (accel_loader)

    def load(self, beats) -> None:
        """Take AXI4-Stream command beats: memory loads (targets 0-3), read-outs (target 4, results
        appended to ``stream``), other targets consumed and ignored."""
        data = np.asarray(list(beats) if not isinstance(beats, np.ndarray) else beats, dtype=np.uint64)
        data = data & np.uint64(0xFFFFFFFF)
        i, n = 0, len(data)
        while i < n:
            if self._state == _H0:
                beat = int(data[i])
                self._target, self._addr = beat >> 28, beat & ((1 << LOADER_ADDRESS_BITS) - 1)
                self._state = _H1
                i += 1
            elif self._state == _H1:
                count = int(data[i])
                i += 1
                if self._target == golden.TARGET_READOUT:
                    self._send(self._addr, count & 0xFFFF, count >> 16)
                    self._state = _H0
                elif count:
                    self._count, self._beat, self._state = count, 0, _DATA
                else:
                    self._state = _H0
            else:
                i = self._payload(data, i)

    def _payload(self, data: np.ndarray, i: int) -> int:
        mem = self.memories[self._target] if self._target < len(self.memories) else None
        per_word = mem.beats_per_word if mem is not None else 1
        n = len(data)
        while self._beat and i < n and self._state == _DATA:     # finish a word begun by an earlier call
            self._take_beat(mem, per_word, int(data[i]))
            i += 1
        if self._state != _DATA:
            return i
        whole = min(self._count, (n - i) // per_word)
        if whole:
            block = data[i:i + whole * per_word].reshape(whole, per_word)
            if mem is not None:
                mem.write_beats(self._addr, block)
                if mem is self.amem:
                    self._amem_low = [int(v) for v in block[-1]]
            i += whole * per_word
            self._addr = (self._addr + whole) & ((1 << LOADER_ADDRESS_BITS) - 1)
            self._count -= whole
            if not self._count:
                self._state = _H0
        while self._state == _DATA and i < n and (n - i) < per_word:   # a word the next call completes
            self._take_beat(mem, per_word, int(data[i]))
            i += 1
        return i

    def _take_beat(self, mem: WordMemory | None, per_word: int, value: int) -> None:
        """One payload beat: DMEM, WMEM and BMEM write it into its 32-bit slice at once; AMEM keeps
        it until the word's last beat and writes the whole word then."""
        if mem is self.amem:
            self._amem_low[self._beat] = value
            if self._beat == per_word - 1:
                mem.set_word(self._addr, sum(v << (32 * b) for b, v in enumerate(self._amem_low)))
        elif mem is not None:
            mem.write_slice(self._addr, self._beat, value)
        self._beat += 1
        if self._beat == per_word:
            self._beat = 0
            self._addr = (self._addr + 1) & ((1 << LOADER_ADDRESS_BITS) - 1)
            self._count -= 1
            if not self._count:
                self._state = _H0

    # ------------------------------------------------------------ streamer (accel_streamer)

    def _send(self, base: int, rows: int, cols: int) -> list[int]:
        """Stream ``rows`` x ``cols`` results from OMEM word ``base`` on: row r's words are
        base + r*ceil(cols/COLS) + w; one beat per result, sign-extended from ACC_BITS to 32 bits."""
        if rows == 0 or cols == 0:
            return []
        per_row = ceil_div(cols, self.spec.cols)
        addr = (base + np.arange(rows)[:, None] * per_row + np.arange(per_row)[None, :]) & self.omem.mask
        values = self.omem.fields[addr].reshape(rows, per_row * self.spec.cols)[:, :cols]
        beats = (_signed(values, self.spec.acc_bits) & 0xFFFFFFFF).reshape(-1).tolist()
        self.stream.extend(beats)
        return beats

    # ------------------------------------------------------------ controller (accel_ctrl)

    def run(self) -> RunResult:
        """``start``: run the chain from descriptor 0 until one has ``last`` set or a fault ends it."""
        self.status = 0
        first_beat = len(self.stream)
        done: list[DescriptorRun] = []
        index = 0
        while True:
            fields = [int(v) for v in self.dmem.fields[index]]
            record = self._pool(index, fields) if fields[2] & POOL else self._gemm(index, fields)
            done.append(record)
            self.status |= record.status
            if record.status or fields[2] & LAST:
                break
            index += 1
            if index == self.spec.dmem_depth:       # the chain ran past the last descriptor
                self.status |= status.ADDRESS_RANGE
                break
        return RunResult(self.stream[first_beat:], sum(r.cycles for r in done), done, self.status)

    def _gemm(self, index: int, f: list[int]) -> DescriptorRun:
        s = self.spec
        m, n, mt, nt, kg = f[0] & 0xFFFF, f[0] >> 16, f[1] & 0xFFFF, f[1] >> 16, f[2] & 0xFFFF
        flags = f[2]
        shift, rounding, out_bits = f[3] & 0x3F, (f[3] >> 8) & 3, (f[3] >> 16) & 0x3F
        a_base, w_base, b_base, o_base, wb_base, kg_out = f[4], f[5], f[6], f[7], f[8], f[9] & 0xFFFF
        write_back = bool(flags & WRITE_BACK)
        fault = status.BAD_DESCRIPTOR if 0 in (m, n, mt, nt, kg) else 0
        for base, depth in ((a_base, s.amem_depth), (w_base, s.wmem_depth), (b_base, s.bmem_depth),
                            (o_base, s.omem_depth), (wb_base if write_back else 0, s.amem_depth)):
            if base >= depth:
                fault |= status.ADDRESS_RANGE
        if fault:
            return DescriptorRun(index, "gemm", 0, (), fault)
        # The weight lists: per column tile a header (step count S in the top field), then S steps.
        # A header with no steps ends the descriptor there: the column tiles before it are complete.
        lists, wp, fault = [], w_base, 0
        for _ in range(nt):
            count = int(self.wmem.fields[wp & self.wmem.mask, -1])
            if count == 0:
                fault = status.ZERO_STEPS
                break
            lists.append((wp + 1 + np.arange(count)) & self.wmem.mask)
            wp += 1 + count
        if not 1 <= out_bits <= s.acc_bits:
            raise CodesignError(f"descriptor {index}: out_bits={out_bits} is outside the allowed range 1..{s.acc_bits} "
                                f"(the interpreter does not model it)")
        act_signed = bool(flags & ACT_SIGNED)
        rows_total = mt * s.rows                            # rows m >= M are computed, not written
        kept = np.arange(min(rows_total, m))
        row_base = (a_base + np.arange(rows_total, dtype=np.int64) * kg) & self.amem.mask
        wmask = (1 << s.weight_bits) - 1
        for t, steps in enumerate(lists):
            step_fields = self.wmem.fields[steps]
            offsets = step_fields[:, -1]                    # activation offset (group) of each step
            entries = step_fields[:, :s.cols]
            weights = _signed(entries & wmask, s.weight_bits)       # (S, COLS)
            lanes = entries >> s.weight_bits if s.lanes > 1 else np.zeros_like(entries)
            acc = self._accumulate(row_base, offsets, lanes, weights, act_signed)
            half = np.int64(1 << (s.acc_bits - 1))
            acc = ((acc + half) & np.int64((1 << s.acc_bits) - 1)) - half    # the column's sum, modulo 2^ACC_BITS
            bias = _signed(self.bmem.fields[(b_base + t) & self.bmem.mask], s.acc_bits)
            out = golden.post_process(acc[kept], bias[None, :], 0, shift, ROUNDING_NAMES[rounding], out_bits,
                                      bool(flags & OUT_SIGNED), bool(flags & RELU))
            if not flags & NO_OMEM:
                self.omem.fields[(o_base + kept * nt + t) & self.omem.mask] = out & ((1 << s.acc_bits) - 1)
            if write_back:
                self._write_back((wb_base + t * s.writeback_words + kept * kg_out) & self.amem.mask, out)
        step_counts = tuple(len(steps) for steps in lists)
        if fault:
            return DescriptorRun(index, "gemm", 0, step_counts, fault)
        if flags & STREAM_OUT:
            self._send(o_base, m, n)
        return DescriptorRun(index, "gemm", golden.layer_cycles(s, rows_total, list(step_counts)), step_counts)

    def _accumulate(self, row_base: np.ndarray, offsets: np.ndarray, lanes: np.ndarray, weights: np.ndarray,
                    act_signed: bool) -> np.ndarray:
        """Exact sums over the steps: row r, step s reads AMEM word row_base[r] + offset[s] and column
        j multiplies its lane lanes[s, j] by weights[s, j]."""
        s = self.spec
        count, cols = weights.shape
        acc = np.empty((len(row_base), cols), dtype=np.int64)
        block = max(1, GATHER_BLOCK // max(1, count * cols))
        for r0 in range(0, len(row_base), block):
            addr = (row_base[r0:r0 + block, None] + offsets[None, :]) & self.amem.mask        # (R, S)
            act = self.amem.fields[addr[:, :, None], lanes[None, :, :]]                        # (R, S, COLS)
            if act_signed:
                act = _signed(act, s.act_bits)
            acc[r0:r0 + block] = np.einsum("rsj,sj->rj", act, weights)
        return acc

    def _write_back(self, bases: np.ndarray, out: np.ndarray) -> None:
        """accel_abuf: output row m goes to the AMEM row holding bases[m] (its low bits are dropped),
        words w < COLS/LANES (at least one) enabled, word w holding results w*LANES + l truncated to
        ACT_BITS (zero past COLS)."""
        s = self.spec
        words, lanes = s.writeback_words, s.lanes
        packed = np.zeros((len(out), words * lanes), dtype=np.int64)
        k = min(s.cols, words * lanes)
        packed[:, :k] = out[:, :k] & ((1 << s.act_bits) - 1)
        row_start = bases & ~np.int64(s.amem_write_words - 1)
        self.amem.fields[row_start[:, None] + np.arange(words)[None, :]] = packed.reshape(len(out), words, lanes)

    def _pool(self, index: int, f: list[int]) -> DescriptorRun:
        """accel_pool: for every output word (n, ph, pw, cg) the lane-wise maximum of its PH x PW window
        words a_base + n*IMG + ph*(PH*ROW) + pw*(PW*KG) + cg + dy*ROW + dx*KG, written to
        wb_base, wb_base + 1, ..."""
        s = self.spec
        b, cg, oh, ow = f[0] & 0xFFFF, f[0] >> 16, f[1] & 0xFFFF, f[1] >> 16
        ph, pw = f[2] & 0xFF, (f[2] >> 8) & 0xFF
        kg, a_base, row, img, row_block, wb_base, col_block = f[3], f[4], f[5], f[6], f[7], f[8], f[9]
        fault = status.BAD_DESCRIPTOR if 0 in (b, cg, oh, ow, ph, pw) else 0
        if a_base >= s.amem_depth or wb_base >= s.amem_depth:
            fault |= status.ADDRESS_RANGE
        if fault:
            return DescriptorRun(index, "pool", 0, (), fault)
        ax = [np.arange(v, dtype=np.int64) for v in (b, oh, ow, cg, ph, pw)]
        grid = np.ix_(*ax)
        addr = (a_base + grid[0] * img + grid[1] * row_block + grid[2] * col_block + grid[3]
                + grid[4] * row + grid[5] * kg) & self.amem.mask
        flip = np.int64(1 << (s.act_bits - 1)) if f[2] & ACT_SIGNED else np.int64(0)
        keys = self.amem.fields[addr] ^ flip                # signed codes order as unsigned keys with the sign bit flipped
        best = keys.max(axis=(4, 5)) ^ flip                 # (B, OH, OW, CG, LANES)
        out_words = best.reshape(-1, s.lanes)
        self.amem.fields[(wb_base + np.arange(len(out_words))) & self.amem.mask] = out_words
        return DescriptorRun(index, "pool", golden.pool_cycles(b, cg, oh, ow, ph, pw))


# ---------------------------------------------------------------- whole programs


@dataclass
class InterpreterRun:
    """``codesign.accel.network.RtlRun``'s shape, from the interpreter: outputs, perf cycles of a
    one-sample run and of every chunk, wall time."""

    outputs: np.ndarray              # (samples, n_out) output codes
    cycles_per_inference: int        # perf cycles of a run of one sample (-1 when not run)
    total_cycles: int                # perf cycles summed over the chunks of the batch
    sim_seconds: float               # wall time of loading and running every chunk
    chunk_cycles: list[int] = field(default_factory=list)
    chunk_sizes: list[int] = field(default_factory=list)
    descriptor_cycles: list[list[int]] = field(default_factory=list)   # per chunk, per descriptor
    status: int = 0


def run_program(program: Program, x_codes: np.ndarray, *, one_sample: bool = True) -> InterpreterRun:
    """Run ``x_codes`` ((samples, features) input codes) through the interpreter as
    ``codesign.accel.network.run_program`` runs them through the RTL: weights and biases loaded
    once, then per chunk of ``program.batch`` samples its inputs and descriptors, a start, and the
    last layer's result stream decoded. ``one_sample``: first run sample 0 alone (cycles per
    inference). A non-zero error status raises ``status.AcceleratorFault``."""
    x = program._inputs(x_codes)
    if len(x) == 0:
        raise CodesignError("run_program needs at least one sample")
    t0 = time.perf_counter()
    accel = Accelerator(program.spec)
    accel.load(program.weight_beats())
    last = program.layers[-1]

    def run_chunk(codes: np.ndarray, where: str) -> tuple[np.ndarray, RunResult]:
        accel.load(program.chunk_beats(codes))
        res = accel.run()
        status.check(res.status, where)
        return golden.decode_outputs(res.beats, len(codes), last.n, last.out_bits, last.out_signed), res

    single_out, single_cycles = None, -1
    if one_sample:
        single_out, single = run_chunk(x[:1], "sample 0 alone")
        single_cycles = single.cycles
    outs, results = [], []
    for start, stop in program.chunks(len(x)):
        out, res = run_chunk(x[start:stop], f"samples {start}..{stop - 1}")
        outs.append(out)
        results.append(res)
    outputs = np.concatenate(outs)
    if single_out is not None and not np.array_equal(single_out.reshape(-1), outputs[0]):
        raise CodesignError("the one-sample run and the batched run of sample 0 disagree")
    return InterpreterRun(outputs, single_cycles, sum(r.cycles for r in results), time.perf_counter() - t0,
                          [r.cycles for r in results], [b - a for a, b in program.chunks(len(x))],
                          [[d.cycles for d in r.descriptors] for r in results])
