"""Group the failing endpoints of a nextpnr-ecp5 run by register; print a Markdown table.

    .venv/bin/python benchmarks/bench_synth.py --sizes 8x8 --bits 8 --sparse dense --seeds 1 \\
        --pnr-args="--router router2 --detailed-timing-report" --out build/bench_synth
    .venv/bin/python benchmarks/timing_endpoints.py build/bench_synth/8x8_int8_dense_s1/ecp5/report.json

nextpnr prints only the worst path. With --detailed-timing-report its JSON report holds, for every
net that drives a register input, the arrival time at that input; this groups the inputs that
arrive later than the clock period allows (data, clock-enable and block-RAM / DSP inputs; LSR is
left out, it is mostly the reset pin) by the register they belong to (bit indices folded), worst
first. Arrivals include paths from input pins, which nextpnr does not count in Fmax: a group
whose worst arrival is above the reported critical path is fed from a pin.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

REGISTER_INPUT = re.compile(r"^(DI|CE|M|DI[AB]?\d+|AD[AB]\d+|WE[AB]?|CE[AB]|[AB]\d+|WD|WAD\d|WRE)$")


def register_group(cell: str) -> str:
    """The register (or RAM / DSP) a packed cell name belongs to, bit indices folded."""
    name = re.sub(r"_TRELLIS_FF_Q.*|_DI_.*|\.0\.\d+$", "", cell)
    return re.sub(r"\[\d+\]", "[*]", name)


def failing_groups(report: dict, period_ns: float) -> list[tuple[str, float, int]]:
    """(group, worst arrival ns, endpoints) for register inputs arriving after ``period_ns``."""
    if "detailed_net_timings" not in report:
        raise SystemExit("the report has no detailed_net_timings: run nextpnr with --detailed-timing-report")
    worst: dict[tuple[str, str], float] = {}
    for net in report["detailed_net_timings"]:
        for end in net["endpoints"]:
            if REGISTER_INPUT.match(end["port"]):
                key = (end["cell"], end["port"])
                worst[key] = max(worst.get(key, 0.0), float(end["delay"][-1]))
    groups: dict[str, list[float]] = defaultdict(list)
    for (cell, _port), arrival in worst.items():
        if arrival > period_ns:
            groups[register_group(cell)].append(arrival)
    return sorted(((g, max(a), len(a)) for g, a in groups.items()), key=lambda row: -row[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path, help="nextpnr --report JSON written with --detailed-timing-report")
    ap.add_argument("--period-ns", type=float, default=5.0, help="clock period to check against (default 5.0 = 200 MHz)")
    ap.add_argument("--top", type=int, default=40, help="groups to print (default 40)")
    args = ap.parse_args(argv)
    rows = failing_groups(json.loads(args.report.read_text()), args.period_ns)
    print(f"| register | worst arrival ns | endpoints over {args.period_ns:g} ns |")
    print("|---|---|---|")
    for group, arrival, count in rows[:args.top]:
        print(f"| `{group}` | {arrival:.2f} | {count} |")
    print(f"\n{sum(c for _, _, c in rows)} endpoints in {len(rows)} groups arrive after {args.period_ns:g} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
