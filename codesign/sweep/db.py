"""The trial database (SQLAlchemy): SQLite by default, PostgreSQL by URL.

One row per trial, keyed by the hash of its config, so a trial is never run twice, in one sweep or
across sweeps sharing a database; ``sweep_trials`` says which sweeps hold it, in the order they
planned it. Only the driver writes (SQLite wants one writer); every change commits at once, so a
killed driver loses at most the trials in flight, which stay ``pending`` or ``running`` and are
what ``--resume`` redoes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from codesign.errors import CodesignError

STATUSES = ("pending", "running", "done", "failed")
UNFINISHED = ("pending", "running")


class Base(DeclarativeBase):
    pass


class SweepRow(Base):
    __tablename__ = "sweeps"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec: Mapped[dict] = mapped_column(JSON)
    out_dir: Mapped[str] = mapped_column(Text)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class TrialRow(Base):
    __tablename__ = "trials"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    params: Mapped[dict] = mapped_column(JSON)
    config: Mapped[dict] = mapped_column(JSON)
    target: Mapped[str] = mapped_column(String(16))
    stages: Mapped[list] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    metrics: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    artifact_path: Mapped[str] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(256), nullable=True)
    submitted: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class SweepTrialRow(Base):
    __tablename__ = "sweep_trials"
    sweep: Mapped[str] = mapped_column(ForeignKey("sweeps.name"), primary_key=True)
    key: Mapped[str] = mapped_column(ForeignKey("trials.key"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def parse_time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def url_of(db: str | Path) -> str:
    """A path is an SQLite file; ``postgresql://...`` (or any SQLAlchemy URL with ``://``) is used as given."""
    text = str(db)
    if "://" in text:
        if text.startswith("postgresql://"):
            text = "postgresql+psycopg://" + text[len("postgresql://"):]
        return text
    return f"sqlite:///{Path(text).resolve()}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (a notebook) never block the driver's writes
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Store:
    """The driver's handle on the database."""

    def __init__(self, db: str | Path, *, create: bool = True) -> None:
        url = url_of(db)
        if url.startswith("sqlite:///"):
            path = Path(url[len("sqlite:///"):])
            if not create and not path.is_file():
                raise CodesignError(f"no sweep database at {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = create_engine(url)
        except Exception as err:  # a malformed URL or a missing driver
            raise CodesignError(f"cannot open database {db}: {type(err).__name__}: {err}") from None
        self._transaction = sessionmaker(self.engine, expire_on_commit=False)  # each call: one unit of work, committed or rolled back
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            Base.metadata.create_all(self.engine)
        except Exception as err:
            raise CodesignError(f"cannot open database {db}: {type(err).__name__}: {str(err).splitlines()[0]}") from None


    def sweep(self, name: str) -> SweepRow | None:
        with self._transaction() as s:
            return s.get(SweepRow, name)

    def sweeps(self) -> list[SweepRow]:
        with self._transaction() as s:
            return list(s.scalars(select(SweepRow).order_by(SweepRow.created)))

    def add_sweep(self, name: str, spec: dict, out_dir: Path) -> None:
        with self._transaction() as s:
            s.add(SweepRow(name=name, spec=spec, out_dir=str(out_dir), created=now()))
            s.commit()

    def trial(self, key: str) -> TrialRow | None:
        with self._transaction() as s:
            return s.get(TrialRow, key)

    def trials(self, sweep: str, statuses: Iterable[str] = STATUSES) -> list[TrialRow]:
        """The sweep's trials in the order it planned them."""
        with self._transaction() as s:
            query = (select(TrialRow).join(SweepTrialRow, SweepTrialRow.key == TrialRow.key)
                     .where(SweepTrialRow.sweep == sweep, TrialRow.status.in_(tuple(statuses))).order_by(SweepTrialRow.number))
            return list(s.scalars(query))

    def count(self, sweep: str) -> int:
        with self._transaction() as s:
            return len(s.scalars(select(SweepTrialRow.key).where(SweepTrialRow.sweep == sweep)).all())

    def plan(self, sweep: str, trial, artifact_path: Path) -> TrialRow:
        """Add ``trial`` to the sweep (a new row is ``pending``); an existing row, finished or not, is kept."""
        with self._transaction() as s:
            row = s.get(TrialRow, trial.key)
            if row is None:
                row = TrialRow(key=trial.key, params=trial.params, config=trial.config, target=trial.target, stages=list(trial.stages),
                               status="pending", artifact_path=str(artifact_path), attempts=0)
                s.add(row)
            if s.get(SweepTrialRow, (sweep, trial.key)) is None:
                number = len(s.scalars(select(SweepTrialRow.key).where(SweepTrialRow.sweep == sweep)).all())
                s.add(SweepTrialRow(sweep=sweep, key=trial.key, number=number))
            s.commit()
            return row

    def submitted(self, key: str) -> None:
        with self._transaction() as s:
            row = s.get(TrialRow, key)
            row.status, row.submitted, row.attempts = "running", now(), (row.attempts or 0) + 1
            row.error = row.worker = row.started = row.finished = row.metrics = row.seconds = None
            s.commit()

    def finished(self, key: str, result: dict[str, Any]) -> None:
        with self._transaction() as s:
            row = s.get(TrialRow, key)
            row.status, row.error, row.metrics = result["status"], result.get("error"), result.get("metrics") or {}
            row.worker, row.seconds = result.get("worker"), result.get("seconds")
            row.started, row.finished = parse_time(result.get("started")), parse_time(result.get("finished")) or now()
            s.commit()
