"""What the report and notebook tests share: rendering a page in headless Chromium (Debian's
chromium) and running a notebook top to bottom with nbclient."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_IMAGE = '<img src="data:image/png;base64,'
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Appended to a copy of the page: once it has loaded, the body says of each image whether it decoded.
IMAGE_PROBE = ("<script>window.addEventListener('load',()=>{document.body.setAttribute('data-images',"
               "[...document.images].map(i=>i.complete&&i.naturalWidth>0?'ok':'broken').join(','))})</script>")


def chromium(*args, profile: Path) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def image_states(page_path: Path, tmp: Path) -> list[str]:
    """'ok' or 'broken' for each image of the page, as Chromium loaded it."""
    wrapper = tmp / "wrapper.html"
    wrapper.write_text(page_path.read_text().replace("</body>", IMAGE_PROBE + "</body>"))
    dom = chromium("--dump-dom", wrapper.as_uri(), profile=tmp / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<body[^>]*data-images="([^"]*)"', dom.stdout)
    assert found, dom.stdout[:2000]
    return found.group(1).split(",")


def screenshot_spread(page_path: Path, tmp: Path) -> float:
    """The standard deviation of a 1200x3000 screenshot's pixels: 0 for a blank page."""
    import matplotlib.image

    shot = tmp / "shot.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1200,3000", page_path.as_uri(), profile=tmp / "profile2")
    assert shot.is_file(), result.stderr[-2000:]
    return float(matplotlib.image.imread(shot).std())


def run_notebook(name: str) -> list:
    """Execute notebooks/NAME top to bottom (in notebooks/, as a user opens it); return every cell's outputs."""
    import nbclient
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    assert all(cell.get("outputs", []) == [] and cell.get("execution_count") is None for cell in nb.cells if cell.cell_type == "code"), \
        f"{name} is stored with outputs"
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    return outputs


def png_outputs(outputs: list) -> int:
    return sum("image/png" in out.get("data", {}) for out in outputs)
