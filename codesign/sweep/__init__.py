"""Design-space sweeps on Dask distributed, every trial recorded in a database.

The driver owns the database and the search; workers only run ``trial.evaluate`` (one trial, its
stages, its metrics). The driver keeps one trial in flight per worker thread and records each as
it finishes, so a killed driver loses nothing finished: ``resume`` redoes only the trials left
``pending`` or ``running``. A trial that raises is ``failed`` with its error; a trial whose worker
dies is ``failed`` too (the scheduler allows no retry: a crashing design point would take down
one worker after another), and the sweep goes on.

grid and random plan every trial up front; nsga2 asks Optuna's NSGA-II sampler for one trial at a
time (ask/tell in the driver; the study is rebuilt from the database on resume). Samplers on a
discrete space repeat themselves: a repeated trial is answered from the database, never rerun.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codesign.errors import CodesignError
from codesign.sweep import db as trial_db
from codesign.sweep.spec import SweepSpec, Trial
from codesign.sweep.trial import WORKER_FILE, evaluate

POLL_S = 1.0
# nsga2 stops once it has asked this many times per trial without finding a new one: the space is spent.
MAX_ASKS_PER_TRIAL = 50


@dataclass(frozen=True)
class SweepOptions:
    out_dir: Path
    db: str | None = None  # default: out_dir/sweep.db
    workers: int | None = None  # LocalCluster processes (default: one per core)
    scheduler: str | None = None  # an existing cluster's scheduler address instead
    resume: bool = False
    quiet: bool = False

    @property
    def database(self) -> str:
        return str(self.db) if self.db else str(Path(self.out_dir) / "sweep.db")


def _say(options: SweepOptions, message: str) -> None:
    if not options.quiet:
        print(f"[codesign] {message}", file=sys.stderr, flush=True)


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def _open(spec: SweepSpec, options: SweepOptions) -> trial_db.Store:
    """The database, with the sweep registered (new) or checked against the spec it started with (resume)."""
    store = trial_db.Store(options.database)
    row = store.sweep(spec.name)
    if row is None and options.resume:
        raise CodesignError(f"--resume: the database {options.database} holds no sweep named {spec.name!r}; start it without --resume")
    if row is not None and not options.resume:
        raise CodesignError(f"sweep {spec.name!r} is already in {options.database} ({store.count(spec.name)} trials); "
                            f"continue it with --resume, or choose another name or --db")
    if row is not None and _canonical(row.spec) != _canonical(spec.source):
        raise CodesignError(f"--resume: the spec of sweep {spec.name!r} changed since it started; resume it with the spec it "
                            f"started with, or start a new sweep under another name")
    if row is None:
        store.add_sweep(spec.name, spec.source, Path(options.out_dir).resolve())
    return store


@contextlib.contextmanager
def _client(options: SweepOptions):
    """A client of the given scheduler, or of a LocalCluster of worker processes (TensorFlow is not
    thread-safe to share, and forking it hangs: Dask spawns processes)."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        if options.scheduler:
            try:
                client = Client(options.scheduler, timeout="30s")
            except (OSError, TimeoutError) as err:
                raise CodesignError(f"--scheduler {options.scheduler}: cannot connect: {err}") from None
            with client:
                yield client
            return
        workers = options.workers or os.cpu_count() or 1
        threads = max(1, (os.cpu_count() or 1) // workers)
        # Each worker's TensorFlow gets its share of the cores (the nanny already pins OpenMP and BLAS to one).
        env = {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR, env=env) as cluster, Client(cluster) as client:
            yield client


def _capacity(client) -> int:
    return max(1, sum(client.nthreads().values()))


def run_dir_of(out: Path, trial: Trial) -> Path:
    """A trial's run directory under the sweep's output directory."""
    return out / "trials" / trial.key[:16]


def _worker_of(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / WORKER_FILE).read_text())["worker"]
    except (OSError, ValueError, KeyError):
        return None


class _Search:
    """Where the next trial comes from: the planned trials (grid, random; and on resume, the
    unfinished ones), then for nsga2 Optuna's NSGA-II sampler."""

    def __init__(self, spec: SweepSpec, store: trial_db.Store, out: Path) -> None:
        self.spec, self.store, self.out = spec, store, out
        self.queue: deque[Trial] = deque(spec.trial(row.params) for row in store.trials(spec.name, trial_db.UNFINISHED))
        self.study = None
        self.asks = 0
        if spec.method == "nsga2":
            self._start_study()

    def run_dir(self, trial: Trial) -> Path:
        return run_dir_of(self.out, trial)

    def _start_study(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.distributions = {name: optuna.distributions.CategoricalDistribution(values) for name, values in self.spec.parameters.items()}
        directions = ["maximize" if d == "max" else "minimize" for d in self.spec.objectives.values()]
        sampler = optuna.samplers.NSGAIISampler(population_size=self.spec.population, seed=self.spec.seed)
        self.study = optuna.create_study(directions=directions, sampler=sampler)
        self.asked: dict[str, list] = {}  # trial key -> the Optuna trials waiting for its result
        for row in self.store.trials(self.spec.name, ("done", "failed")):
            self.study.add_trial(self._frozen(row.params, row.status, row.metrics))

    def _values(self, status: str, metrics: dict | None) -> list[float] | None:
        if status != "done":
            return None
        values = [(metrics or {}).get(name) for name in self.spec.objectives]
        return None if any(v is None or v != v for v in values) else [float(v) for v in values]

    def _frozen(self, params: dict, status: str, metrics: dict | None):
        import optuna

        values = self._values(status, metrics)
        state = optuna.trial.TrialState.COMPLETE if values else optuna.trial.TrialState.FAIL
        return optuna.trial.create_trial(params=params, distributions=self.distributions, values=values, state=state)

    def tell(self, trial: Trial, status: str, metrics: dict | None) -> None:
        """A finished trial's result to the sampler: to each ask that gave it, or as a new point (resumed trials)."""
        if self.study is None:
            return
        import optuna

        values = self._values(status, metrics)
        asks = self.asked.pop(trial.key, None)
        if asks is None:
            self.study.add_trial(self._frozen(trial.params, status, metrics))
        for asked in asks or ():
            self.study.tell(asked, values) if values else self.study.tell(asked, state=optuna.trial.TrialState.FAIL)

    def next(self, in_flight: set[str]) -> Trial | None:
        """The next trial to run, or None when there is none for now (nsga2 may wait for results to breed from)."""
        if self.queue:
            return self.queue.popleft()
        if self.study is None:
            return None
        import optuna

        while self.store.count(self.spec.name) < self.spec.trials and not self.exhausted:
            asked = self.study.ask(self.distributions)
            self.asks += 1
            try:
                trial = self.spec.trial(asked.params)
            except CodesignError:  # a combination the run config refuses is not a design point
                self.study.tell(asked, state=optuna.trial.TrialState.FAIL)
                continue
            self.asked.setdefault(trial.key, []).append(asked)
            if trial.key in in_flight:
                continue
            row = self.store.trial(trial.key)
            if row is not None and row.status in ("done", "failed"):  # known, in this sweep or another: never rerun
                self.store.plan(self.spec.name, trial, Path(row.artifact_path))
                self.tell(trial, row.status, row.metrics)
                continue
            self.store.plan(self.spec.name, trial, self.run_dir(trial))
            return trial
        return None

    @property
    def exhausted(self) -> bool:
        return self.study is not None and self.asks >= MAX_ASKS_PER_TRIAL * self.spec.trials


def _plan(spec: SweepSpec) -> list[Trial] | None:
    """grid and random: every trial, each checked; nsga2 plans as it goes (None)."""
    points = {"grid": spec.grid, "random": spec.random_points}.get(spec.method)
    if points is None:
        return None
    trials = []
    for params in points():
        try:
            trials.append(spec.trial(params))
        except CodesignError as err:
            raise CodesignError(f"sweep point {params}: {err}") from None
    return trials


def run_sweep(spec: SweepSpec, options: SweepOptions) -> dict[str, Any]:
    """Run (or resume) the sweep; return its counts. Every trial ends ``done`` or ``failed`` in the database."""
    from distributed import wait
    from tqdm import tqdm

    out = Path(options.out_dir).resolve()
    planned = _plan(spec)  # a combination the run config refuses fails here, before anything is written
    store = _open(spec, options)
    for trial in planned or ():
        store.plan(spec.name, trial, run_dir_of(out, trial))
    search = _Search(spec, store, out)
    unfinished = len(search.queue)
    total = len(planned) if planned is not None else spec.trials
    counts = {"done": len(store.trials(spec.name, ("done",))), "failed": len(store.trials(spec.name, ("failed",)))}
    start = time.monotonic()
    hls_root = out / "hls_projects"
    _say(options, f"sweep {spec.name}: {total} trials ({spec.method}), {counts['done'] + counts['failed']} already finished, "
                  f"{unfinished} to (re)do; stages {', '.join(spec.stages)}; database {options.database}")
    if not search.queue and (spec.method != "nsga2" or store.count(spec.name) >= spec.trials):
        _say(options, f"sweep {spec.name}: every trial is finished")
        return {**counts, "total": store.count(spec.name), "seconds": 0.0, "database": options.database}
    with _client(options) as client, tqdm(total=total, initial=counts["done"] + counts["failed"], unit="trial", desc=spec.name,
                                          disable=options.quiet, file=sys.stderr) as bar:
        capacity = _capacity(client)
        in_flight: dict[Any, tuple[Trial, float]] = {}
        shown: list = []

        def show() -> None:
            state = [counts["done"], counts["failed"], len(in_flight)]
            if state != shown:
                shown[:] = state
                bar.set_postfix(done=state[0], failed=state[1], running=state[2], refresh=True)

        def record(trial: Trial, result: dict[str, Any]) -> None:
            store.finished(trial.key, result)
            search.tell(trial, result["status"], result.get("metrics"))
            counts[result["status"]] += 1
            bar.update(1)
            if result["status"] == "failed":
                bar.write(f"[codesign] trial {trial.key[:10]} {trial.params} failed: {result['error']}")

        while True:
            keys = {t.key for t, _ in in_flight.values()}
            while len(in_flight) < capacity:
                trial = search.next(keys)
                if trial is None:
                    break
                store.submitted(trial.key)
                future = client.submit(evaluate, asdict(trial), str(search.run_dir(trial)), str(hls_root),
                                       key=f"trial-{trial.key[:16]}-{time.time_ns()}", pure=False, retries=0)
                in_flight[future] = (trial, time.monotonic())
                keys.add(trial.key)
            show()
            if not in_flight:
                break
            try:
                finished, _ = wait(list(in_flight), timeout=POLL_S, return_when="FIRST_COMPLETED")
            except TimeoutError:  # none finished within the poll: check the time limits
                finished = ()
            for future in finished:
                trial, _ = in_flight.pop(future)
                record(trial, _result(future, search.run_dir(trial)))
            _expire(client, in_flight, spec.timeout_s, record, search)
        show()
    seconds = round(time.monotonic() - start, 1)
    if search.exhausted:
        _say(options, f"nsga2 found no new design point in {search.asks} asks: the space holds no more than these trials")
    _say(options, f"sweep {spec.name}: {counts['done']} done, {counts['failed']} failed, {seconds} s; "
                  f"`codesign report --sweep {options.database}` summarizes it")
    return {**counts, "total": store.count(spec.name), "seconds": seconds, "database": options.database}


def _result(future, run_dir: Path) -> dict[str, Any]:
    """The trial's result, or a failed one saying why it has none (its worker died, the task errored)."""
    from distributed import KilledWorker

    if future.status == "finished":
        return future.result()
    error = future.exception()
    if isinstance(error, KilledWorker):
        message = f"the worker running this trial died ({type(error).__name__}); its run directory {run_dir} holds what it wrote"
    else:
        message = f"{type(error).__name__}: {error}"
    return {"status": "failed", "error": message, "metrics": {}, "worker": _worker_of(run_dir),
            "started": None, "finished": None, "seconds": None}


def _expire(client, in_flight: dict, timeout_s: float, record, search: _Search) -> None:
    """Trials past the time limit are failed and their workers restarted (a running task cannot be stopped)."""
    now = time.monotonic()
    late = [f for f, (_, submitted) in in_flight.items() if now - submitted > timeout_s]
    if not late:
        return
    processing = client.processing()
    for future in late:
        trial, submitted = in_flight.pop(future)
        workers = [w for w, tasks in processing.items() if future.key in tasks]
        future.cancel()
        if workers:
            client.restart_workers(workers)
        record(trial, {"status": "failed", "error": f"timed out after {timeout_s:g} s (timeout_s); its worker was restarted",
                       "metrics": {}, "worker": _worker_of(search.run_dir(trial)), "started": None, "finished": None,
                       "seconds": round(now - submitted, 1)})
