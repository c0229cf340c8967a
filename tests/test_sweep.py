"""codesign sweep: specs, the trial database, Dask workers, and what survives a kill.

Every sweep here runs the real flow (TensorFlow training, the estimators) in real Dask worker
processes against a real database; the trials are tiny so each takes seconds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from rendering import DATA_IMAGE, image_states, png_outputs, run_notebook, screenshot_spread

from codesign import cli
from codesign.errors import CodesignError
from codesign.sweep import SweepOptions, run_sweep, spec as sweep_spec
from codesign.sweep.db import Store
from codesign.sweep.trial import WORKER_FILE

TINY = {"dataset": {"max_train": 200, "max_test": 50}, "train": {"epochs": 2, "float_epochs": 0}, "rtl": {"enabled": False}}


def write_spec(tmp_path: Path, name: str, parameters: dict, **extra) -> Path:
    data = {"name": name, "dataset": "digits", "config": TINY, "stages": ["train", "estimate"], "parameters": parameters}
    data.update(extra)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def rows_by_status(db: Path, name: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for row in Store(db).trials(name):
        out.setdefault(row.status, []).append(row)
    return out


# -- the spec ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"stages": ["estimate"]}, "stage estimate needs stage train"),
    ({"stages": ["train", "synth"]}, "hls4ml designs are synthesized by Vitis HLS"),
    ({"parameters": {"layers.fc9.weight_bits": [4]}}, "no layer named 'fc9'"),
    ({"parameters": {"train.no_such": [1]}}, "unknown field"),
    ({"parameters": {"layers.fc1.weight_bits": [4, 99]}}, "value 99"),
    ({"parameters": {"layers.fc1.weight_bits": []}}, "non-empty list"),
    ({"parameters": {"target": ["hls4ml", "fpga"]}}, "unknown target"),
    ({"search": {"method": "random"}}, "search.trials=None"),
    ({"search": {"method": "annealing"}}, "allowed: grid, random, nsga2"),
    ({"search": {"method": "nsga2", "trials": 4, "objectives": {"speed": "max"}}}, "objective(s) speed unknown"),
    ({"timeout_s": 0}, "timeout_s=0"),
    ({"colour": "red"}, "unknown key(s) colour"),
])
def test_bad_specs_are_one_line_errors(tmp_path, change, message):
    data = {"name": "bad", "config": TINY, "parameters": {"layers.fc1.weight_bits": [4]}, **change}
    with pytest.raises(CodesignError) as err:
        sweep_spec.from_dict(data)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_trials_are_keyed_by_what_decides_their_result(tmp_path):
    spec = sweep_spec.load(write_spec(tmp_path, "keys", {"layers.*.act_bits": [4, 6], "train.pruning.schedule": ["constant", "polynomial"]}))
    trials = [spec.trial(p) for p in spec.grid()]
    assert len({t.key for t in trials}) == 4
    assert all(layer["act_bits"] == trials[1].params["layers.*.act_bits"] for layer in trials[1].config["layers"])
    assert spec.trial(spec.grid()[1]).key == trials[1].key  # the same point, the same key
    other = sweep_spec.from_dict({**yaml.safe_load((tmp_path / "keys.yaml").read_text()), "name": "renamed"})
    assert other.trial(spec.grid()[1]).key == trials[1].key  # the sweep's name is not part of the design
    random_spec = sweep_spec.from_dict({**yaml.safe_load((tmp_path / "keys.yaml").read_text()), "search": {"method": "random", "trials": 3, "seed": 5}})
    points = random_spec.random_points()
    assert len(points) == 3 and len({json.dumps(p, sort_keys=True) for p in points}) == 3 and points == random_spec.random_points()


@pytest.mark.parametrize("path, value, field", [
    ("train.pruning.schedule", "constant", ("train", "pruning", "schedule")),
    ("train.distill.enabled", True, ("train", "distill", "enabled")),
    ("hls.reuse_factor", 4, ("hls", "reuse_factor")),
    ("hls.strategy", "Resource", ("hls", "strategy")),
    ("rtl.rows", 4, ("rtl", "rows")),
    ("dataset.name", "fashion-mnist", ("dataset", "name")),
    ("input.bits", 6, ("input", "bits")),
])
def test_any_run_config_field_is_a_parameter(path, value, field):
    spec = sweep_spec.from_dict({"name": "fields", "config": {**TINY, "train": {"float_epochs": 2}}, "parameters": {path: [value]}})
    config = spec.trial({path: value}).config
    for part in field:
        config = config[part]
    assert config == value


# -- sweeps -----------------------------------------------------------------------------------------

# A tiny network on a 1x4 array, so that every stage, Yosys included, takes seconds.
SMALL = {**TINY, "layers": [{"type": "dense", "units": 8, "sparsity": 0.5}, {"type": "dense", "activation": "linear", "sparsity": 0.5}],
         "rtl": {"enabled": False, "rows": 1, "cols": 4, "samples": 20}}


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    """A finished grid sweep through every stage on both hardware targets. input.integer 0 cannot
    hold the digits' pixel value 1.0: those two trials raise in the worker."""
    root = tmp_path_factory.mktemp("grid")
    spec_path = write_spec(root, "grid4", {"target": ["accel", "unrolled"], "input.integer": [1, 0]}, config=SMALL,
                           target="accel", stages=["train", "estimate", "convert", "rtl", "synth"])
    out = root / "out"
    result = run_sweep(sweep_spec.load(spec_path), SweepOptions(out, workers=2, quiet=True))
    return spec_path, out, result


@pytest.mark.slow
def test_grid_sweep_records_every_trial_and_failures(grid_sweep):
    _, out, result = grid_sweep
    rows = rows_by_status(out / "sweep.db", "grid4")
    assert result["done"] == 2 and result["failed"] == 2 and result["total"] == 4
    assert {r.params["input.integer"] for r in rows["done"]} == {1} and {r.params["input.integer"] for r in rows["failed"]} == {0}
    for row in rows["failed"]:
        assert "raise input.integer" in row.error and row.worker.startswith("tcp://")
    assert {r.target for r in rows["done"]} == {"accel", "unrolled"}
    for row in rows["done"]:
        m, target = row.metrics, row.target
        assert m["mismatched.hls4ml"] == 0 and m["mismatched.rtl"] == 0  # QKeras = hls4ml C-sim = the target's RTL
        assert m["accuracy"] == m["accuracy.rtl"] and 0 <= m["accuracy"] <= 1
        assert m["cost"] == pytest.approx(m[f"est.{target}.lut"] + 55 * m[f"est.{target}.dsp"]) and m["cost"] > 0
        assert m["est.hls4ml.cost"] == pytest.approx(m["est.hls4ml.lut"] + 55 * m["est.hls4ml.dsp"])
        assert 0.8 * m["synth.lut"] < m[f"est.{target}.lut"] < 1.25 * m["synth.lut"]  # Yosys measured the design estimated
        assert m["bits.layers"]["fc1"] == [6, 6]
        run = Path(row.artifact_path)
        assert (run / "model.h5").is_file() and (run / "report.json").is_file() and row.attempts == 1
        assert row.started <= row.finished and row.seconds > 0
    accel = next(r.metrics for r in rows["done"] if r.target == "accel")
    assert accel["synth.dsp"] == accel["est.accel.dsp"] == 4 and accel["rtl.cycles_per_inference"] > 0


@pytest.mark.slow
def test_a_finished_sweep_is_never_rerun(grid_sweep, tmp_path):
    spec_path, out, _ = grid_sweep
    spec = sweep_spec.load(spec_path)
    with pytest.raises(CodesignError, match="already in .* --resume"):
        run_sweep(spec, SweepOptions(out, workers=2, quiet=True))
    db = out / "sweep.db"
    before = {r.key: r.finished for r in Store(db).trials("grid4")}
    again = run_sweep(spec, SweepOptions(out, resume=True, quiet=True))  # nothing left to do: nothing runs
    assert again["done"] == 2 and {r.key: r.finished for r in Store(db).trials("grid4")} == before
    changed = sweep_spec.from_dict({**yaml.safe_load(spec_path.read_text()), "parameters": {"target": ["accel"]}})
    with pytest.raises(CodesignError, match="spec of sweep 'grid4' changed"):
        run_sweep(changed, SweepOptions(out, resume=True, quiet=True))


@pytest.mark.slow
def test_sweep_report_renders_fronts_and_measurements(grid_sweep, tmp_path):
    _, out, _ = grid_sweep
    assert cli.main(["report", "--sweep", str(out / "sweep.db"), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "2 done, 2 failed" in text and "raise input.integer" in text
    for target in ("hls4ml", "unrolled", "accel"):
        assert f"## Pareto front on {target}" in text
    page = tmp_path / "report" / "report.html"
    images = page.read_text().count(DATA_IMAGE)
    assert images == 2  # the fronts, and the estimates against Yosys
    assert image_states(page, tmp_path) == ["ok"] * images
    assert screenshot_spread(page, tmp_path) > 0


@pytest.mark.slow
def test_design_space_notebook_runs_on_the_sweep(grid_sweep, monkeypatch):
    _, out, _ = grid_sweep
    monkeypatch.setenv("CODESIGN_SWEEP_DB", str(out / "sweep.db"))
    outputs = run_notebook("design_space.ipynb")
    assert png_outputs(outputs) == 2
    text = "".join(out.get("text", "") for out in outputs)
    assert "est.unrolled.lut against synth.lut" in text and "est.accel.lut against synth.lut" in text


def test_report_needs_one_of_run_or_sweep(tmp_path, capsys):
    assert cli.main(["report"]) == 1
    assert cli.main(["report", "--sweep", str(tmp_path / "none.db")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("codesign: error: report: give --run DIR") and err[1] == f"codesign: error: no sweep database at {tmp_path / 'none.db'}"
    assert not (tmp_path / "none.db").exists()


def _statuses(db: Path) -> dict[str, int]:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return dict(conn.execute("select status, count(*) from trials group by status").fetchall())
    except sqlite3.Error:  # not created yet
        return {}


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.slow
def test_a_killed_worker_and_a_killed_driver_lose_nothing(tmp_path):
    """One sweep, two kills. A worker is killed mid-trial: that trial is failed with its error and the
    sweep goes on. Then the driver is killed (SIGKILL): --resume finishes every unfinished trial, and
    every trial is recorded exactly once."""
    spec_path = write_spec(tmp_path, "killed", {"layers.fc1.weight_bits": [3, 4, 6], "layers.*.act_bits": [4, 6]})
    out, db = tmp_path / "out", tmp_path / "out" / "sweep.db"
    driver = subprocess.Popen([sys.executable, "-m", "codesign", "sweep", str(spec_path), "--out", str(out), "--workers", "2", "--quiet"],
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    killed = None
    while killed is None and driver.poll() is None and time.monotonic() < deadline:
        for marker in (out / "trials").glob(f"*/{WORKER_FILE}"):  # written as a trial starts: it is mid-trial now
            killed = json.loads(marker.read_text())
            os.kill(killed["pid"], signal.SIGKILL)
            break
        time.sleep(0.05)
    while (_statuses(db).get("done", 0) < 2 or not _statuses(db).get("failed")) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert killed is not None and driver.poll() is None, "the sweep finished before both kills"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    # The workers notice their scheduler is gone and exit: a killed sweep leaves nothing running.
    deadline = time.monotonic() + 90
    while _group_alive(driver.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    if _group_alive(driver.pid):
        os.killpg(driver.pid, signal.SIGKILL)
        pytest.fail("worker processes outlived the killed sweep by 90 s")
    store = Store(db)
    at_kill = {r.key: (r.status, r.finished) for r in store.trials("killed")}
    assert len(at_kill) == 6 and any(s in ("running", "pending") for s, _ in at_kill.values())

    result = run_sweep(sweep_spec.load(spec_path), SweepOptions(out, workers=2, resume=True, quiet=True))
    rows = store.trials("killed")
    assert len(rows) == len({r.key for r in rows}) == store.count("killed") == result["total"] == 6
    ran_there = {r.key for r in rows if json.loads((Path(r.artifact_path) / WORKER_FILE).read_text())["pid"] == killed["pid"]}
    failed = [r for r in rows if r.status == "failed"]
    assert failed and {r.key for r in failed} <= ran_there and result["failed"] == len(failed)
    for row in failed:  # a failed trial is a result: resume leaves it
        assert "worker running this trial died" in row.error and row.worker == killed["worker"] and row.attempts == 1
        assert at_kill[row.key][0] == "failed"
    assert result["done"] == 6 - len(failed) and all(r.status == "done" for r in rows if r.key not in {f.key for f in failed})
    for row in rows:  # what finished before the kill was not run again; what was in flight ran once more
        status, finished = at_kill[row.key]
        if status in ("done", "failed"):
            assert row.finished == finished and row.attempts == 1
        else:
            assert row.attempts == (2 if status == "running" else 1)


@pytest.mark.slow
def test_a_trial_past_its_time_limit_fails_and_the_sweep_ends(tmp_path):
    spec = sweep_spec.load(write_spec(tmp_path, "late", {"layers.fc1.weight_bits": [4]}, timeout_s=3))
    start = time.monotonic()
    result = run_sweep(spec, SweepOptions(tmp_path / "out", workers=1, quiet=True))
    (row,) = Store(tmp_path / "out" / "sweep.db").trials("late")
    assert result["failed"] == 1 and row.status == "failed" and row.error.startswith("timed out after 3 s")
    assert time.monotonic() - start < 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server (Debian's postgresql 15) on a Unix socket, for the tests that use it."""
    bindir = Path("/usr/lib/postgresql/15/bin")
    assert (bindir / "initdb").is_file(), "PostgreSQL 15 is a Debian package of `make test` (postgresql)"
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    home = Path(tempfile.mkdtemp(prefix="codesign-pg-"))
    if as_user:
        shutil.chown(home, "postgres")
    data, port = home / "data", _free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres"], check=True,
                   capture_output=True, timeout=120)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l", str(home / "log"), "-o",
                    f"-c listen_addresses='' -c unix_socket_directories={home} -p {port}", "start"], check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://postgres@/postgres?host={home}&port={port}"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
def test_nsga2_sweep_on_postgresql_and_an_existing_cluster_runs_distinct_trials(tmp_path, postgres_url):
    spec = sweep_spec.load(write_spec(tmp_path, "moo", {"layers.fc1.weight_bits": [3, 6], "layers.*.act_bits": [3, 6], "layers.fc1.sparsity": [0.0, 0.5]},
                                      search={"method": "nsga2", "trials": 4, "seed": 1, "population": 2,
                                              "objectives": {"accuracy": "max", "cost": "min"}}))
    # An existing cluster, by its scheduler's address (--scheduler), as on Slurm.
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = run_sweep(spec, SweepOptions(tmp_path / "out", db=postgres_url, scheduler=cluster.scheduler_address, quiet=True))
        workers = set(cluster.scheduler_info["workers"])
    rows = Store(postgres_url).trials("moo")
    assert {r.worker for r in rows} <= workers
    assert result["total"] == 4 and len({r.key for r in rows}) == 4
    assert all(r.status == "done" and r.metrics["cost"] > 0 and 0 < r.metrics["accuracy"] <= 1 for r in rows)
    assert not (tmp_path / "out" / "sweep.db").exists()  # the URL's database holds it
    # Resumed, the study is rebuilt from the rows; every trial is finished, so nothing runs.
    again = run_sweep(spec, SweepOptions(tmp_path / "out", db=postgres_url, resume=True, quiet=True))
    assert again["total"] == 4 and again["done"] == 4


def test_the_example_spec_is_a_12_trial_grid():
    spec = sweep_spec.load(Path(__file__).resolve().parents[1] / "configs" / "sweep-digits.yaml")
    assert spec.method == "grid" and spec.grid_size == 12 and len({spec.trial(p).key for p in spec.grid()}) == 12
