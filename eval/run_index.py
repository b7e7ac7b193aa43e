"""The run index: an embedded SQLite database (`eval/runs/runs.sqlite`) listing every sweep and its results.

One row per run (id = the run folder's UTC timestamp, config hash, model, git commit, status) and one row per
(run, model, setting) with grounded accuracy and its CI. `python -m eval.report --trend` draws from it, and
`--fail-on-regression` finds the previous comparable run and the pinned reference (one per config hash) in it. Opening it marks runs whose process died
(killed, machine restarted) as `interrupted` instead of leaving them `running` forever.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

HEARTBEAT_FILE = "heartbeat"  # touched by a running sweep; its age tells a dead run on another host
STALE_HEARTBEAT_S = 30 * 60

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
CREATE TABLE IF NOT EXISTS pins (
    config_hash TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    pinned_at TEXT NOT NULL
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
        self.interrupted = self._mark_dead_runs()  # run ids found dead and marked

    def close(self) -> None:
        self.db.close()

    def _mark_dead_runs(self) -> list[str]:
        dead = []
        for row in self.db.execute("SELECT run_id, run_dir FROM runs WHERE status = 'running'").fetchall():
            why = run_is_dead(Path(row["run_dir"]))
            if why:
                with self.db:
                    self.db.execute("UPDATE runs SET status = 'interrupted' WHERE run_id = ?", (row["run_id"],))
                dead.append(row["run_id"])
        return dead

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

    def pin(self, run_id: str, pinned_at: str) -> None:
        """Make `run_id` the pinned reference of its config (the same config hash); replaces an earlier pin."""
        run = self.run(run_id)
        if run is None:
            raise ValueError(f"run {run_id} is not in {self.path}")
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO pins (config_hash, run_id, pinned_at) VALUES (?, ?, ?)",
                            (run["config_hash"], run_id, pinned_at))

    def pinned_reference(self, run_id: str) -> dict[str, Any] | None:
        """The run pinned as the reference of `run_id`'s config, unless that is `run_id` itself."""
        row = self.db.execute(
            "SELECT r.* FROM pins p JOIN runs r ON r.run_id = p.run_id JOIN runs c ON c.config_hash = p.config_hash"
            " WHERE c.run_id = ? AND p.run_id != ?", (run_id, run_id),
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_is_dead(run_dir: Path) -> str | None:
    """Why a run registered as running cannot still be running, or None when it may be.

    On this host the run's process id decides; for a run started on another host (a shared runs folder), a
    heartbeat older than 30 minutes does.
    """
    try:
        meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its run folder is gone or unreadable"
    pid, host = meta.get("pid"), meta.get("host")
    if host == socket.gethostname() and isinstance(pid, int):
        return None if _pid_alive(pid) else f"its process {pid} is gone"
    beat = run_dir / HEARTBEAT_FILE
    age = time.time() - (beat if beat.exists() else run_dir / "run.json").stat().st_mtime
    return f"no heartbeat for {age / 60:.0f} min" if age > STALE_HEARTBEAT_S else None


class Heartbeat:
    """Touches a run's heartbeat file, at most every `every_s` seconds."""

    def __init__(self, run_dir: Path, every_s: float = 30.0):
        self.path, self.every_s, self.last = run_dir / HEARTBEAT_FILE, every_s, 0.0

    def beat(self) -> None:
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.path.touch()
            self.last = now
