"""The accelerator's sticky error status: ``accel_top``'s ``error`` port, one bit per kind of fault.

The status is cleared by reset and by ``start`` and holds every fault seen since. A program fault
(bits 0-2) ends the run at the faulty descriptor and ``done`` rises: a bad field or base stops it
before anything of it is computed; a weight list with no steps stops it at that column tile (the
tiles before it are computed and stored, nothing of the descriptor is streamed). A command during
a run (bit 3) is dropped and the run goes on.
"""

from __future__ import annotations

from codesign.errors import CodesignError

BAD_DESCRIPTOR = 1 << 0    # a zero size or count field (GEMM: M, N, MT, NT, KG; pool: B, CG, out_h, out_w, PH, PW)
ZERO_STEPS = 1 << 1        # a weight-list header with a step count of 0
ADDRESS_RANGE = 1 << 2     # a base address past its memory's depth, or the chain past DMEM without `last`
BUSY_COMMAND = 1 << 3      # a memory-load beat or a read-out command arrived during a run (dropped)
STATUS_BITS = 4

MEANINGS = {
    BAD_DESCRIPTOR: "a descriptor has a zero size or count",
    ZERO_STEPS: "a weight list has zero steps",
    ADDRESS_RANGE: "an address is past its memory's depth (or the chain has no `last` descriptor)",
    BUSY_COMMAND: "a load or read-out command arrived while a run was going (it was dropped)",
}


class AcceleratorFault(CodesignError):
    """The accelerator ended a run with a non-zero error status."""

    def __init__(self, status: int, where: str = "") -> None:
        self.status = status
        super().__init__(f"{where + ': ' if where else ''}accelerator error status {status:#x}: {describe(status)}")


def describe(status: int) -> str:
    """The faults a status word names, in bit order; 'none' for 0."""
    names = [text for bit, text in MEANINGS.items() if status & bit]
    unknown = status & ~((1 << STATUS_BITS) - 1)
    if unknown:
        names.append(f"unknown bits {unknown:#x}")
    return "; ".join(names) or "none"


def check(status: int, where: str = "") -> None:
    """Raise AcceleratorFault when status is not 0."""
    if status:
        raise AcceleratorFault(status, where)
