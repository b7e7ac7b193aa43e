"""The run index: an embedded SQLite database (`eval/runs/runs.sqlite`) listing every sweep and its results.

One row per run (id = the run folder's UTC timestamp, config hash, model, git commit, status) and one row per
(run, model, setting) with grounded accuracy and its CI. `python -m eval.report --trend` draws from it, and
`--fail-on-regression` finds the previous comparable run in it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    run_dir TEXT NOT NULL,
    name TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    models TEXT NOT NULL,
    backend TEXT NOT NULL,
    git_commit TEXT NOT NULL,
    index_hash TEXT,
    questions INTEGER,
    generated INTEGER,
    cached INTEGER
);
CREATE TABLE IF NOT EXISTS settings (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    model TEXT NOT NULL,
    setting_id TEXT NOT NULL,
    label TEXT NOT NULL,
    is_baseline INTEGER NOT NULL,
    grounded_accuracy REAL,
    ci_low REAL,
    ci_high REAL,
    hallucination REAL,
    agreement REAL,
    n_questions INTEGER,
    PRIMARY KEY (run_id, model, setting_id)
);
"""

SETTING_COLUMNS = (
    "model", "setting_id", "label", "is_baseline", "grounded_accuracy", "ci_low", "ci_high", "hallucination",
    "agreement", "n_questions",
)  # fmt: skip


class RunIndex:
    """Read and write the run index at `path` (created on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "RunIndex":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_run(self, *, run_id: str, run_dir: str, name: str, config_hash: str, started_at: str,
                  models: list[str], backend: str, git_commit: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO runs (run_id, run_dir, name, config_hash, started_at, status, models, backend, git_commit)"
                " VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?)",
                (run_id, run_dir, name, config_hash, started_at, ",".join(models), backend, git_commit),
            )

    def finish_run(self, run_id: str, *, status: str, finished_at: str, index_hash: str | None = None,
                   questions: int | None = None, generated: int | None = None, cached: int | None = None) -> None:
        with self.db:
            self.db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, index_hash = COALESCE(?, index_hash),"
                " questions = COALESCE(?, questions), generated = COALESCE(?, generated),"
                " cached = COALESCE(?, cached) WHERE run_id = ?",
                (status, finished_at, index_hash, questions, generated, cached, run_id),
            )

    def set_settings(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        """Replace the per-setting results of a run (a re-report overwrites them)."""
        with self.db:
            self.db.execute("DELETE FROM settings WHERE run_id = ?", (run_id,))
            self.db.executemany(
                f"INSERT INTO settings (run_id, {', '.join(SETTING_COLUMNS)}) VALUES (?{', ?' * len(SETTING_COLUMNS)})",
                [(run_id, *(row.get(c) for c in SETTING_COLUMNS)) for row in rows],
            )

    def run(self, run_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return dict(row) if row else None

    def runs(self, *, status: str | None = "complete", name: str | None = None) -> list[dict[str, Any]]:
        """Runs oldest first, optionally only those with the given status and config name."""
        query, args = "SELECT * FROM runs WHERE 1 = 1", []
        if status:
            query, args = query + " AND status = ?", [*args, status]
        if name:
            query, args = query + " AND name = ?", [*args, name]
        return [dict(r) for r in self.db.execute(query + " ORDER BY started_at, run_id", args)]

    def previous_run(self, run_id: str) -> dict[str, Any] | None:
        """The latest complete run before `run_id` with the same config hash (the same sweep, an earlier night)."""
        current = self.run(run_id)
        if current is None:
            return None
        row = self.db.execute(
            "SELECT * FROM runs WHERE config_hash = ? AND status = 'complete' AND run_id != ?"
            " AND (started_at, run_id) < (?, ?) ORDER BY started_at DESC, run_id DESC LIMIT 1",
            (current["config_hash"], run_id, current["started_at"], run_id),
        ).fetchone()
        return dict(row) if row else None

    def settings(self, run_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM settings WHERE run_id = ? ORDER BY rowid", (run_id,))]

    def baseline_trend(self, name: str | None = None) -> list[dict[str, Any]]:
        """Baseline grounded accuracy (with CI) of every complete run, oldest first, one row per (run, model)."""
        query = (
            "SELECT r.run_id, r.name, r.started_at, r.git_commit, s.model, s.label, s.grounded_accuracy, s.ci_low,"
            " s.ci_high FROM runs r JOIN settings s ON s.run_id = r.run_id"
            " WHERE r.status = 'complete' AND s.is_baseline = 1"
        )
        args: list[Any] = []
        if name:
            query, args = query + " AND r.name = ?", [name]
        return [dict(r) for r in self.db.execute(query + " ORDER BY r.started_at, r.run_id", args)]
