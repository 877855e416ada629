"""The history database: every Record the dialog core emits, committed as it happens.

One SQLite file per person (`history.sqlite3` in the data directory), WAL journal,
`synchronous=FULL`: each `record()` is its own transaction and is on disk before it returns,
so a `kill -9` or a power cut loses at most the record in flight and never corrupts the file.
FULL rather than NORMAL because in WAL mode NORMAL only protects against a crashed *process*;
after a power cut it may drop the last few commits, and the issue allows losing only one.
Records arrive a few times a minute, so one fsync each costs nothing that matters.

Anything wrong with the file or the directory (newer schema, corrupt, read-only, full disk)
raises `HistoryUnavailable` with a message fit to print and speak; the caller then runs the
session without history. Nothing existing is ever overwritten on those paths: the file is
inspected through a read-only connection before anything is written to it.
"""
from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

DB_NAME = "history.sqlite3"
SIDE_FILES = ("-wal", "-shm", "-journal")
APPLICATION_ID = 0x56434831  # "VCH1": marks the file as ours in its header
SQLITE_HEADER = b"SQLite format 3\x00"

KINDS = ("session_start", "position", "exercise", "pain", "setting", "screener", "session_end")
EXERCISE_STATUSES = ("done", "skipped", "stopped", "stopped_for_pain")
PAIN_WHEN = ("before", "after", "check")
SETTING_NAMES = ("speech_rate", "tempo")
SCREENER_LEVELS = ("emergency", "urgent", "clinician", "ok")
END_HOW = ("completed", "stopped", "end_of_input", "pain", "screener")


class HistoryUnavailable(Exception):
    """History cannot be used; `message` says why in words for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class HistoryWriteFailed(HistoryUnavailable):
    """A record could not be committed (full disk, file gone read-only, ...)."""


# ---------------------------------------------------------------- schema
# Ordered migrations: MIGRATIONS[i] takes the schema from version i to i + 1.
# Each runs in one transaction together with the version bump, so a crash mid-migration
# leaves the old version intact. Never edit a released entry; append a new one.
MIGRATIONS: list[tuple[str, ...]] = [
    # 0 -> 1: the first schema.
    (
        """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            started_at REAL NOT NULL,
            ended_at REAL,
            routine TEXT NOT NULL,
            how TEXT)""",
        """CREATE TABLE positions (
            id INTEGER PRIMARY KEY,
            session_id INTEGER REFERENCES sessions(id),
            at REAL NOT NULL,
            exercise TEXT NOT NULL,
            set_no INTEGER NOT NULL,
            sets INTEGER NOT NULL,
            side TEXT)""",
        """CREATE TABLE exercises (
            id INTEGER PRIMARY KEY,
            session_id INTEGER REFERENCES sessions(id),
            at REAL NOT NULL,
            exercise TEXT NOT NULL,
            status TEXT NOT NULL,
            reps INTEGER NOT NULL,
            sets INTEGER NOT NULL,
            hold_seconds INTEGER NOT NULL)""",
        """CREATE TABLE pain (
            id INTEGER PRIMARY KEY,
            session_id INTEGER REFERENCES sessions(id),
            at REAL NOT NULL,
            moment TEXT NOT NULL,
            score INTEGER NOT NULL)""",
        """CREATE TABLE screeners (
            id INTEGER PRIMARY KEY,
            session_id INTEGER REFERENCES sessions(id),
            at REAL NOT NULL,
            level TEXT NOT NULL,
            yes_ids TEXT NOT NULL,
            full INTEGER NOT NULL)""",
        """CREATE TABLE settings (
            id INTEGER PRIMARY KEY,
            session_id INTEGER REFERENCES sessions(id),
            at REAL NOT NULL,
            name TEXT NOT NULL,
            value REAL NOT NULL)""",
    ),
    # 1 -> 2: keep the screener's unclear answers (an unclear answer is never a "no", so a
    # later reader must see them), and a verbatim log of every record, so fields and kinds
    # this version does not model are kept for a later version to use.
    (
        "ALTER TABLE screeners ADD COLUMN unknown_ids TEXT NOT NULL DEFAULT '[]'",
        """CREATE TABLE records (
            id INTEGER PRIMARY KEY,
            session_id INTEGER REFERENCES sessions(id),
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL)""",
        "CREATE INDEX sessions_started ON sessions(started_at)",
        "CREATE INDEX exercises_name_at ON exercises(exercise, at)",
        "CREATE INDEX positions_session ON positions(session_id, at)",
        "CREATE INDEX pain_at ON pain(at)",
        "CREATE INDEX screeners_at ON screeners(at)",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_DATA_HOME/voice-coach`, else `~/.local/share/voice-coach`."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or ""
    # The XDG spec says relative paths in XDG_DATA_HOME are invalid and must be ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "share"
    return root / "voice-coach"


def db_path(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / DB_NAME


def _sqlite_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # primary code, without the extended bits


def _describe(exc: BaseException, path: Path) -> str:
    """Words for the person: what went wrong. Callers add nothing: the file is never altered."""
    code = _sqlite_code(exc)
    errno_ = getattr(exc, "errno", None)
    if code == 13 or errno_ == 28:  # SQLITE_FULL, ENOSPC
        return f"The disk is full, so this session cannot be saved to {path}."
    writable = os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))
    if code == 8 or isinstance(exc, PermissionError) or errno_ in (1, 13, 30) or not writable:
        return f"The history folder {path.parent} cannot be written to, so nothing will be saved."
    if code in (11, 26):  # SQLITE_CORRUPT, SQLITE_NOTADB
        return (f"The history file {path} is damaged. It was left as it is; "
                "move it aside, or run 'forget --yes' to start a new one.")
    return f"The history file {path} could not be used ({exc})."


def _migrate(conn: sqlite3.Connection, current: int, target: int = SCHEMA_VERSION) -> None:
    """Apply MIGRATIONS[current:target], one transaction per step (DDL is transactional)."""
    for version in range(current, target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version == 0:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (version + 1,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _inspect(path: Path) -> int:
    """Read-only look at an existing file: its schema version, or HistoryUnavailable.

    Uses a `mode=ro` connection, so a file we refuse is never written to (a read-only
    connection may touch only the -shm index, which holds no data).
    """
    try:
        with open(path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise HistoryUnavailable(_describe(exc, path)) from exc
    if not header:
        return 0  # an empty file is an empty database: e.g. created, then the disk filled
    if header != SQLITE_HEADER:
        raise HistoryUnavailable(
            f"The history file {path} is damaged (it is not a database). It was left as it is; "
            "move it aside, or run 'forget --yes' to start a new one.")
    try:
        conn = _connect_read_only(path)
    except sqlite3.Error as exc:
        raise HistoryUnavailable(_describe(exc, path)) from exc
    try:
        check = [row[0] for row in conn.execute("PRAGMA quick_check")]
        if check != ["ok"]:
            raise HistoryUnavailable(
                f"The history file {path} is damaged ({check[0]}). It was left as it is; "
                "move it aside, or run 'forget --yes' to start a new one.")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "schema_version" not in tables:
            if tables:
                raise HistoryUnavailable(
                    f"{path} is a database that does not belong to this coach; it was left as it is.")
            return 0
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        version = int(row[0] or 0)
    except sqlite3.Error as exc:
        raise HistoryUnavailable(_describe(exc, path)) from exc
    finally:
        conn.close()
    if version > SCHEMA_VERSION:
        raise HistoryUnavailable(
            f"The history file {path} was written by a newer version of the coach "
            f"(schema {version}; this version knows up to {SCHEMA_VERSION}). It was left as it is; "
            "update the coach to use it.")
    return version


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot change the history.

    With no -wal or -journal beside it, the main file holds everything: read it as
    immutable, which creates no side files at all (and works in a read-only folder).
    Otherwise a `mode=ro` connection reads the WAL too; it may create or update the -shm
    index, which holds no data.
    """
    pending = any(Path(str(path) + s).exists() for s in ("-wal", "-journal"))
    mode = "ro" if pending else "ro&immutable=1"
    conn = sqlite3.connect(f"{path.as_uri()}?mode={mode}", uri=True, isolation_level=None)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _ensure_dir(data_dir: Path) -> None:
    if data_dir.is_dir():
        return
    try:
        # Only the last component is made owner-only: parents like ~/.local/share are shared.
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        data_dir.mkdir(mode=0o700)
        os.chmod(data_dir, 0o700)  # mkdir's mode is filtered by the umask
    except FileExistsError:
        if not data_dir.is_dir():
            raise HistoryUnavailable(f"{data_dir} exists and is not a folder, so history is off.")
    except OSError as exc:
        if exc.errno == 28:
            raise HistoryUnavailable(f"The disk is full, so the history folder {data_dir} "
                                     "cannot be created.") from exc
        raise HistoryUnavailable(
            f"The history folder {data_dir} cannot be created ({exc.strerror}).") from exc


def _create_file(path: Path) -> None:
    """Create the database file owner-only before SQLite opens it (its -wal and -shm
    files copy the main file's permissions)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise HistoryUnavailable(_describe(exc, path)) from exc
    os.close(fd)
    os.chmod(path, 0o600)


class HistoryStore:
    """Writes Records as they come. Read through `skill.history.queries`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, now: Callable[[], float]) -> None:
        self._conn = conn
        self.path = path
        self._now = now
        self._lock = threading.Lock()
        self._session_id: int | None = None

    # ------------------------------------------------------------ opening
    @classmethod
    def open(cls, data_dir: str | os.PathLike, now: Callable[[], float] = time.time,
             *, _max_page_count: int | None = None) -> "HistoryStore":
        """Open (creating or migrating) the history in `data_dir`.

        Raises HistoryUnavailable with a printable message when it cannot be used.
        `_max_page_count` caps the file size; tests use it to make SQLite report a full disk.
        """
        data_dir = Path(data_dir).expanduser()
        _ensure_dir(data_dir)
        path = db_path(data_dir)
        existed = path.exists() and path.stat().st_size > 0
        version = _inspect(path) if existed else 0
        if not path.exists():
            _create_file(path)
        elif stat.S_IMODE(path.stat().st_mode) & 0o077:
            try:
                os.chmod(path, 0o600)
            except OSError:
                pass  # not ours to fix (e.g. owned by another user); reading still works
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                                   timeout=5.0)
        except sqlite3.Error as exc:
            raise HistoryUnavailable(_describe(exc, path)) from exc
        try:
            if _max_page_count is not None:
                conn.execute(f"PRAGMA max_page_count = {int(_max_page_count)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                # e.g. a file system without shared memory: still atomic via the rollback
                # journal, just slower. Keep going rather than lose history.
                conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if version < SCHEMA_VERSION:
                _migrate(conn, version)
            # Probe that we can write at all (read-only directory or file, full disk)
            # now, so the session knows at the start whether it is being saved.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.close()
            raise HistoryUnavailable(_describe(exc, path)) from exc
        return cls(conn, path, now)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "HistoryStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """For the read API (`queries`, `report`)."""
        return self._conn

    @property
    def session_id(self) -> int | None:
        return self._session_id

    # ------------------------------------------------------------ writing
    def record(self, kind: str, data: Mapping[str, Any], at: float | None = None) -> None:
        """Commit one Record. Returns only once it is durable.

        Raises ValueError for a malformed record (nothing written) and HistoryWriteFailed
        when the disk refuses (nothing half-written: the transaction is rolled back).
        """
        at = self._now() if at is None else float(at)
        rows = _validate(kind, data)
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    session_id = self._write(kind, rows, data, at)
                    self._conn.execute(
                        "INSERT INTO records (session_id, at, kind, data) VALUES (?, ?, ?, ?)",
                        (session_id, at, kind, json.dumps(dict(data), sort_keys=True, default=str)))
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise HistoryWriteFailed(_describe(exc, self.path)) from exc
            # Only now that it is committed does the in-memory session follow.
            if kind == "session_start":
                self._session_id = session_id
            elif kind == "session_end":
                self._session_id = None

    def _write(self, kind: str, rows: dict, data: Mapping[str, Any], at: float) -> int | None:
        sid = self._session_id
        c = self._conn
        if kind == "session_start":
            if sid is not None:  # a second start without an end: close the first honestly
                c.execute("UPDATE sessions SET ended_at = ?, how = 'restarted' WHERE id = ?", (at, sid))
            cur = c.execute("INSERT INTO sessions (started_at, routine) VALUES (?, ?)",
                            (at, rows["routine"]))
            return cur.lastrowid
        if kind == "session_end":
            if sid is not None:
                c.execute("UPDATE sessions SET ended_at = ?, how = ? WHERE id = ?", (at, rows["how"], sid))
        elif kind == "position":
            c.execute("INSERT INTO positions (session_id, at, exercise, set_no, sets, side) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (sid, at, rows["exercise"], rows["set"], rows["sets"], rows["side"]))
        elif kind == "exercise":
            c.execute("INSERT INTO exercises (session_id, at, exercise, status, reps, sets, hold_seconds) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (sid, at, rows["exercise"], rows["status"], rows["reps"], rows["sets"],
                       rows["hold_seconds"]))
        elif kind == "pain":
            c.execute("INSERT INTO pain (session_id, at, moment, score) VALUES (?, ?, ?, ?)",
                      (sid, at, rows["when"], rows["score"]))
        elif kind == "setting":
            c.execute("INSERT INTO settings (session_id, at, name, value) VALUES (?, ?, ?, ?)",
                      (sid, at, rows["name"], rows["value"]))
        elif kind == "screener":
            c.execute("INSERT INTO screeners (session_id, at, level, yes_ids, unknown_ids, full) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (sid, at, rows["level"], json.dumps(rows["yes"]), json.dumps(rows["unknown"]),
                       int(rows["full"])))
        # Other kinds live only in the verbatim `records` log.
        return sid


# ---------------------------------------------------------------- validation
def _need(data: Mapping[str, Any], key: str, kind: str) -> Any:
    if key not in data:
        raise ValueError(f"record {kind!r} needs {key!r}: {dict(data)!r}")
    return data[key]


def _int(data: Mapping[str, Any], key: str, kind: str, default: int | None = None) -> int:
    value = data.get(key, default) if default is not None else _need(data, key, kind)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"record {kind!r}: {key!r} must be a whole number, got {value!r}")
    return int(value)


def _choice(data: Mapping[str, Any], key: str, kind: str, allowed: Sequence[str]) -> str:
    value = _need(data, key, kind)
    if value not in allowed:
        raise ValueError(f"record {kind!r}: {key!r} must be one of {allowed}, got {value!r}")
    return value


def _ids(data: Mapping[str, Any], key: str, kind: str) -> list[str]:
    value = data.get(key, [])
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError(f"record {kind!r}: {key!r} must be a list of ids, got {value!r}")
    return [str(v) for v in value]


def _validate(kind: str, data: Mapping[str, Any]) -> dict:
    """The typed fields of a record, or ValueError. Unknown kinds are kept verbatim only."""
    if not isinstance(data, Mapping):
        raise ValueError(f"record {kind!r}: data must be a mapping, got {data!r}")
    if kind == "session_start":
        return {"routine": str(_need(data, "routine", kind))}
    if kind == "session_end":
        return {"how": _choice(data, "how", kind, END_HOW)}
    if kind == "position":
        side = data.get("side")
        return {"exercise": str(_need(data, "exercise", kind)), "set": _int(data, "set", kind),
                "sets": _int(data, "sets", kind), "side": None if side is None else str(side)}
    if kind == "exercise":
        return {"exercise": str(_need(data, "exercise", kind)),
                "status": _choice(data, "status", kind, EXERCISE_STATUSES),
                "reps": _int(data, "reps", kind, 0), "sets": _int(data, "sets", kind, 0),
                "hold_seconds": _int(data, "hold_seconds", kind, 0)}
    if kind == "pain":
        score = _int(data, "score", kind)
        if not 0 <= score <= 10:
            raise ValueError(f"record 'pain': score must be 0..10, got {score}")
        return {"when": _choice(data, "when", kind, PAIN_WHEN), "score": score}
    if kind == "setting":
        value = _need(data, "value", kind)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"record 'setting': value must be a number, got {value!r}")
        return {"name": _choice(data, "name", kind, SETTING_NAMES), "value": float(value)}
    if kind == "screener":
        return {"level": _choice(data, "level", kind, SCREENER_LEVELS),
                "yes": _ids(data, "yes", kind), "unknown": _ids(data, "unknown", kind),
                "full": bool(_need(data, "full", kind))}
    return {}


def open_reader(data_dir: str | os.PathLike) -> sqlite3.Connection | None:
    """A read-only connection for `history` and `report`, or None if nothing is stored.

    Works while the assistant is writing (WAL readers do not block it). An older schema is
    migrated first, which needs write access; a newer or damaged file raises
    HistoryUnavailable and is left as it is.
    """
    path = db_path(Path(data_dir).expanduser())
    if not path.exists() or path.stat().st_size == 0:
        return None
    version = _inspect(path)
    if version < SCHEMA_VERSION:
        HistoryStore.open(path.parent).close()
    try:
        return _connect_read_only(path)
    except sqlite3.Error as exc:
        raise HistoryUnavailable(_describe(exc, path)) from exc


def forget(data_dir: str | os.PathLike) -> list[Path]:
    """Delete the history files (and only those) in `data_dir`; returns what was deleted.

    Deliberately works on damaged or newer files too: the person asked for everything to go.
    """
    path = db_path(Path(data_dir).expanduser())
    deleted = []
    # Side files first: a stale -wal left next to a new database could be replayed into it.
    for candidate in [Path(str(path) + s) for s in SIDE_FILES] + [path]:
        try:
            candidate.unlink()
            deleted.append(candidate)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise HistoryUnavailable(f"Could not delete {candidate} ({exc.strerror}).") from exc
    return deleted
