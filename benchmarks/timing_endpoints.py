"""Group the failing endpoints of a nextpnr-ecp5 run by register; print a Markdown table.

    .venv/bin/python benchmarks/bench_synth.py --sizes 8x8 --bits 8 --sparse dense --seeds 1 \\
        --pnr-args="--router router2 --detailed-timing-report" --out build/bench_synth
    .venv/bin/python benchmarks/timing_endpoints.py build/bench_synth/8x8_int8_dense_s1/ecp5/report.json
    .venv/bin/python benchmarks/timing_endpoints.py --by-block RUN_A/report.json RUN_B/report.json

nextpnr prints only the worst path. With --detailed-timing-report its JSON report holds, for every
net that drives a register input, the arrival time at that input; this groups the inputs that
arrive later than the clock period allows (data, clock-enable and block-RAM / DSP inputs; LSR is
left out, it is mostly the reset pin) by the register they belong to (bit indices folded), worst
first. Arrivals include paths from input pins, which nextpnr does not count in Fmax: a group
whose worst arrival is above the reported critical path is fed from a pin; --register-paths leaves
those arrivals out (what remains may still include pin-fed ones below it). With --by-block, the
counts are summed per block of accel_top (the array split into its PEs and its column collect),
one column per report, to compare placements side by side.
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


def register_path_ns(report: dict) -> float:
    """The delay of nextpnr's worst register-to-register path (clock edge to clock edge)."""
    for path in report.get("critical_paths", []):
        if path["from"].startswith("posedge") and path["to"].startswith("posedge"):
            return sum(step["delay"] for step in path["path"])
    raise SystemExit("the report has no register-to-register critical path")


def failing_groups(report: dict, period_ns: float, register_paths: bool = False) -> list[tuple[str, float, int]]:
    """(group, worst arrival ns, endpoints) for register inputs arriving after ``period_ns``;
    with ``register_paths``, arrivals later than the worst register-to-register path (pin-fed) are left out."""
    if "detailed_net_timings" not in report:
        raise SystemExit("the report has no detailed_net_timings: run nextpnr with --detailed-timing-report")
    ceiling = register_path_ns(report) + 1e-6 if register_paths else float("inf")
    worst: dict[tuple[str, str], float] = {}
    for net in report["detailed_net_timings"]:
        for end in net["endpoints"]:
            if REGISTER_INPUT.match(end["port"]):
                key = (end["cell"], end["port"])
                worst[key] = max(worst.get(key, 0.0), float(end["delay"][-1]))
    groups: dict[str, list[float]] = defaultdict(list)
    for (cell, _port), arrival in worst.items():
        if period_ns < arrival <= ceiling:
            groups[register_group(cell)].append(arrival)
    return sorted(((g, max(a), len(a)) for g, a in groups.items()), key=lambda row: -row[1])


def block_of(group: str) -> str:
    """The accel_top block a register group sits in (the array split into PEs and the rest)."""
    top = group.split(".", 1)[0]
    if not top.startswith(("u_", "g_")):
        return "top level"
    if top == "u_array":
        return "u_array (PEs)" if ".u_pe." in group else "u_array (collect, skew)"
    return top


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path, nargs="+", help="nextpnr --report JSON written with --detailed-timing-report")
    ap.add_argument("--by-block", action="store_true", help="late endpoints per block, one column per report")
    ap.add_argument("--period-ns", type=float, default=5.0, help="clock period to check against (default 5.0 = 200 MHz)")
    ap.add_argument("--top", type=int, default=40, help="groups to print (default 40)")
    ap.add_argument("--register-paths", action="store_true",
                    help="leave out arrivals later than the worst register-to-register path (fed from pins)")
    args = ap.parse_args(argv)
    runs = [failing_groups(json.loads(path.read_text()), args.period_ns, args.register_paths)
            for path in args.report]
    if args.by_block:
        counts = [defaultdict(int) for _ in runs]
        for rows, count in zip(runs, counts):
            for group, _arrival, n in rows:
                count[block_of(group)] += n
        blocks = sorted(set().union(*counts), key=lambda b: -max(c[b] for c in counts))
        print("| block | " + " | ".join(str(p) for p in args.report) + " |")
        print("|---|" + "---|" * len(runs))
        for block in blocks:
            print(f"| `{block}` | " + " | ".join(f"{c[block]:,}" for c in counts) + " |")
        print("| total | " + " | ".join(f"{sum(c.values()):,}" for c in counts) + " |")
        return 0
    if len(runs) > 1:
        ap.error("several reports need --by-block")
    rows = runs[0]
    print(f"| register | worst arrival ns | endpoints over {args.period_ns:g} ns |")
    print("|---|---|---|")
    for group, arrival, count in rows[:args.top]:
        print(f"| `{group}` | {arrival:.2f} | {count} |")
    print(f"\n{sum(c for _, _, c in rows)} endpoints in {len(rows)} groups arrive after {args.period_ns:g} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
