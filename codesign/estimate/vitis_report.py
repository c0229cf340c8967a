"""Read a Vivado/Vitis HLS C-synthesis report (``csynth.xml``) into Costs with source ``vitis-report``.

The report of ``<project>/solution1/syn/report/csynth.xml`` holds the top function's estimates:
``AreaEstimates/Resources`` (LUT, FF, DSP — ``DSP48E`` in Vivado HLS — and BRAM_18K) and
``PerformanceEstimates/SummaryOfOverallLatency`` (best/worst latency in cycles, Interval-min).
Sub-functions come either as ``ModuleInformation/Module`` entries of the same file (Vitis HLS) or
as ``<module>_csynth.xml`` files beside it (Vivado HLS); both are read as per-module Costs.

The XML is parsed with the standard library after refusing any DOCTYPE or ENTITY declaration
(no external entities, no entity expansion); a file that is not such a report raises EstimateError
with one line naming the file and what is missing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from codesign.estimate import Cost, EstimateError

MAX_BYTES = 64 * 1024 * 1024
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
SOURCE = "vitis-report"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _parse(path: Path) -> ET.Element:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise EstimateError(_one_line(f"{path}: cannot read the HLS report: {err.strerror or err}")) from None
    if size > MAX_BYTES:
        raise EstimateError(f"{path}: {size} bytes is larger than any csynth report ({MAX_BYTES} bytes at most)")
    data = path.read_bytes()
    if _DECLARATION.search(data):
        raise EstimateError(f"{path}: refused: the XML declares a DOCTYPE or ENTITY (a csynth report has none)")
    try:
        return ET.fromstring(data)
    except ET.ParseError as err:
        raise EstimateError(_one_line(f"{path}: not well-formed XML ({err})")) from None


def _number(elem: ET.Element | None, what: str, path: Path, required: bool = True) -> float | None:
    if elem is None or elem.text is None or not elem.text.strip():
        if required:
            raise EstimateError(f"{path}: not a csynth report: no {what}")
        return None
    text = elem.text.strip()
    if text.lower() in ("undef", "?", "-", "n/a"):
        return None  # HLS could not bound it (e.g. a loop of unknown trip count)
    try:
        return float(text)
    except ValueError:
        raise EstimateError(_one_line(f"{path}: {what} is {text!r}, not a number")) from None


def _cost(node: ET.Element, name: str, path: Path, where: str) -> Cost:
    """A Cost from an element holding AreaEstimates and PerformanceEstimates (the report root or a Module)."""
    resources = node.find("AreaEstimates/Resources")
    if resources is None:
        raise EstimateError(f"{path}: not a csynth report: no {where}AreaEstimates/Resources")
    dsp_elem = resources.find("DSP")
    if dsp_elem is None:
        dsp_elem = resources.find("DSP48E")
    lut = _number(resources.find("LUT"), f"{where}AreaEstimates/Resources/LUT", path)
    ff = _number(resources.find("FF"), f"{where}AreaEstimates/Resources/FF", path)
    dsp = _number(dsp_elem, f"{where}AreaEstimates/Resources/DSP (or DSP48E)", path)
    bram = _number(resources.find("BRAM_18K"), f"{where}AreaEstimates/Resources/BRAM_18K", path)
    latency = node.find("PerformanceEstimates/SummaryOfOverallLatency")
    if latency is None:
        raise EstimateError(f"{path}: not a csynth report: no {where}PerformanceEstimates/SummaryOfOverallLatency")
    worst = _number(latency.find("Worst-caseLatency"), f"{where}SummaryOfOverallLatency/Worst-caseLatency", path)
    best = _number(latency.find("Best-caseLatency"), f"{where}SummaryOfOverallLatency/Best-caseLatency", path, required=False)
    interval = _number(latency.find("Interval-min"), f"{where}SummaryOfOverallLatency/Interval-min", path)
    cycles = worst if worst is not None else best
    return Cost(name, source=SOURCE, lut=lut, ff=ff, dsp=dsp, bram=bram,
                latency_cycles=int(cycles) if cycles is not None else None,
                ii=int(interval) if interval is not None else None)


def _report_file(path: Path) -> Path:
    """The csynth.xml a path names: the file itself, or inside a project / solution directory."""
    if path.is_dir():
        for candidate in (path / "csynth.xml", path / "syn" / "report" / "csynth.xml",
                          path / "solution1" / "syn" / "report" / "csynth.xml",
                          *sorted(path.glob("*_prj/solution1/syn/report/csynth.xml"))):
            if candidate.is_file():
                return candidate
        raise EstimateError(f"{path}: no csynth.xml (looked for solution1/syn/report/csynth.xml)")
    return path


def read(path: str | Path) -> tuple[Cost, list[Cost]]:
    """The top function's Cost and one Cost per sub-module of a csynth report (source ``vitis-report``)."""
    path = _report_file(Path(path))
    root = _parse(path)
    if root.tag != "profile":
        raise EstimateError(f"{path}: not a csynth report: the root element is <{root.tag}>, not <profile>")
    top = (root.findtext("UserAssignments/TopModelName") or "").strip() or "total"
    total = _cost(root, top, path, "")
    modules: list[Cost] = []
    info = root.find("ModuleInformation")
    if info is not None:  # Vitis HLS: every module in this file
        for module in info.findall("Module"):
            name = (module.findtext("Name") or "").strip()
            if not name:
                raise EstimateError(f"{path}: not a csynth report: a ModuleInformation/Module has no Name")
            if name == top:
                continue
            modules.append(_cost(module, name, path, f"Module {name}: "))
    elif path.name == "csynth.xml":  # Vivado HLS: <module>_csynth.xml beside the top's report
        for other in sorted(path.parent.glob("*_csynth.xml")):
            sub = _parse(other)
            if sub.tag != "profile":
                raise EstimateError(f"{other}: not a csynth report: the root element is <{sub.tag}>, not <profile>")
            name = (sub.findtext("UserAssignments/TopModelName") or "").strip() or other.name[: -len("_csynth.xml")]
            if name == top:
                continue
            modules.append(_cost(sub, name, other, ""))
    return total, modules
