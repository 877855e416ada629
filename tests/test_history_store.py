"""The history file: permissions, durability settings, migrations, and every way it can be
unusable (newer, damaged, foreign, read-only, full) without the file being touched."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from skill.history import store as store_mod
from skill.history.queries import HistoryReader
from skill.history.store import (SCHEMA_VERSION, HistoryStore, HistoryUnavailable,
                                 HistoryWriteFailed, db_path, default_data_dir)

REPO = Path(__file__).resolve().parents[1]
T0 = 1_760_000_000.0  # a fixed Tuesday-ish epoch; only differences matter here


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def fill_session(store: HistoryStore) -> None:
    store.record("session_start", {"routine": "morning"})
    store.record("screener", {"level": "ok", "yes": [], "unknown": [], "full": True})
    store.record("pain", {"when": "before", "score": 5})
    store.record("position", {"exercise": "bridge march", "set": 1, "sets": 3, "side": None})
    store.record("exercise", {"exercise": "bridge march", "status": "done", "reps": 20, "sets": 3,
                              "hold_seconds": 0})
    store.record("setting", {"name": "speech_rate", "value": 0.8})
    store.record("pain", {"when": "after", "score": 3})
    store.record("session_end", {"how": "completed"})


def fingerprint(directory: Path) -> dict[str, str]:
    """Name -> sha256 of every file in the directory (the -shm index excluded: it holds no
    data and SQLite rebuilds it; a read-only connection may touch it)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if not p.name.endswith("-shm")}


# ---------------------------------------------------------------- creation
def test_creates_owner_only_dir_and_files(tmp_path: Path) -> None:
    data_dir = tmp_path / "share" / "voice-coach"
    old = os.umask(0o022)  # a typical permissive umask must not leak into the history
    try:
        store = HistoryStore.open(data_dir, now=Clock())
        fill_session(store)
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        files = [p for p in data_dir.iterdir()]
        assert {p.name for p in files} >= {"history.sqlite3", "history.sqlite3-wal"}
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        store.close()
    finally:
        os.umask(old)
    # The parent was not ours to lock down.
    assert stat.S_IMODE((tmp_path / "share").stat().st_mode) == 0o755


def test_wal_full_sync_and_version(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path, now=Clock())
    conn = store.connection
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert conn.execute("PRAGMA application_id").fetchone()[0] == store_mod.APPLICATION_ID


def test_each_record_is_committed_before_record_returns(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path, now=Clock())
    store.record("session_start", {"routine": "morning"})
    store.record("pain", {"when": "before", "score": 4})
    # A second, independent connection sees it at once: nothing waits in a transaction.
    other = sqlite3.connect(db_path(tmp_path))
    assert other.execute("SELECT moment, score FROM pain").fetchall() == [("before", 4)]
    assert not store.connection.in_transaction


def test_records_land_in_their_tables_and_the_verbatim_log(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path, now=Clock())
    fill_session(store)
    store.record("screener", {"level": "urgent", "yes": ["saddle_numbness"], "unknown": ["fever"],
                              "full": False, "extra": "kept"})
    store.record("some_future_kind", {"anything": 1})
    c = store.connection
    assert c.execute("SELECT routine, how, ended_at > started_at FROM sessions").fetchall() == [
        ("morning", "completed", 1)]
    assert c.execute("SELECT exercise, status, reps, sets, hold_seconds, session_id FROM exercises"
                     ).fetchall() == [("bridge march", "done", 20, 3, 0, 1)]
    # After session_end, later records belong to no session.
    assert c.execute("SELECT level, yes_ids, unknown_ids, full, session_id FROM screeners "
                     "ORDER BY id").fetchall() == [
        ("ok", "[]", "[]", 1, 1), ("urgent", '["saddle_numbness"]', '["fever"]', 0, None)]
    kinds = [r[0] for r in c.execute("SELECT kind FROM records ORDER BY id")]
    assert kinds[-1] == "some_future_kind" and len(kinds) == 10
    last_screener = json.loads(c.execute(
        "SELECT data FROM records WHERE kind = 'screener' ORDER BY id DESC").fetchone()[0])
    assert last_screener["extra"] == "kept"


@pytest.mark.parametrize("kind,data", [
    ("pain", {"when": "before"}),
    ("pain", {"when": "during", "score": 3}),
    ("pain", {"when": "after", "score": 11}),
    ("exercise", {"exercise": "x", "status": "finished", "reps": 1, "sets": 1, "hold_seconds": 0}),
    ("exercise", {"exercise": "x", "status": "done", "reps": 2.5}),
    ("setting", {"name": "volume", "value": 1.0}),
    ("screener", {"level": "ok", "yes": "neck", "full": True}),
    ("session_end", {"how": "exploded"}),
    ("position", {"exercise": "x", "set": 1}),
])
def test_malformed_record_is_refused_and_nothing_written(tmp_path: Path, kind: str, data: dict) -> None:
    store = HistoryStore.open(tmp_path, now=Clock())
    with pytest.raises(ValueError):
        store.record(kind, data)
    assert store.connection.execute("SELECT count(*) FROM records").fetchone()[0] == 0


def test_default_data_dir_follows_xdg(tmp_path: Path) -> None:
    assert default_data_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "voice-coach"
    home = Path.home() / ".local" / "share" / "voice-coach"
    assert default_data_dir({}) == home
    assert default_data_dir({"XDG_DATA_HOME": "relative/path"}) == home  # invalid per the spec


# ---------------------------------------------------------------- migrations
def make_v1(path: Path) -> None:
    """A database exactly as version 1 of the schema left it, with a session in it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    store_mod._migrate(conn, 0, target=1)
    conn.execute("INSERT INTO sessions (started_at, ended_at, routine, how) VALUES (?, ?, 'morning', 'completed')",
                 (T0, T0 + 600))
    conn.execute("INSERT INTO screeners (session_id, at, level, yes_ids, full) VALUES (1, ?, 'ok', '[]', 1)",
                 (T0 + 10,))
    conn.execute("INSERT INTO exercises (session_id, at, exercise, status, reps, sets, hold_seconds) "
                 "VALUES (1, ?, 'bridge march', 'done', 16, 3, 0)", (T0 + 100,))
    conn.execute("INSERT INTO pain (session_id, at, moment, score) VALUES (1, ?, 'before', 6)", (T0 + 20,))
    conn.execute("INSERT INTO settings (session_id, at, name, value) VALUES (1, ?, 'tempo', 0.9)", (T0 + 30,))
    conn.close()


def test_migrates_v1_to_current_keeping_everything(tmp_path: Path) -> None:
    make_v1(db_path(tmp_path))
    v1 = sqlite3.connect(db_path(tmp_path))
    assert v1.execute("SELECT version FROM schema_version").fetchone()[0] == 1
    assert "unknown_ids" not in [r[1] for r in v1.execute("PRAGMA table_info(screeners)")]
    v1.close()

    store = HistoryStore.open(tmp_path, now=Clock(T0 + 86400))
    c = store.connection
    assert c.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert c.execute("SELECT level, unknown_ids FROM screeners").fetchall() == [("ok", "[]")]
    assert c.execute("SELECT reps FROM exercises").fetchall() == [(16,)]
    reader = HistoryReader(c)
    assert reader.settings() == {"tempo": 0.9}
    assert reader.screener_due(T0 + 86400) == "daily"
    # And the migrated file takes new records of every kind.
    fill_session(store)
    assert c.execute("SELECT count(*) FROM sessions").fetchone()[0] == 2
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_failed_migration_leaves_the_old_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_v1(db_path(tmp_path))
    broken = list(store_mod.MIGRATIONS)
    broken[1] = broken[1] + ("CREATE TABLE sessions (nonsense)",)  # fails after the ALTER
    monkeypatch.setattr(store_mod, "MIGRATIONS", broken)
    with pytest.raises(HistoryUnavailable):
        HistoryStore.open(tmp_path)
    conn = sqlite3.connect(db_path(tmp_path))
    assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == 1
    assert "unknown_ids" not in [r[1] for r in conn.execute("PRAGMA table_info(screeners)")]
    assert conn.execute("SELECT reps FROM exercises").fetchall() == [(16,)]


def test_newer_version_is_refused_and_untouched(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path, now=Clock())
    fill_session(store)
    store.connection.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    # Leave a -wal behind too, as a newer coach that was killed would.
    store.connection.execute("PRAGMA wal_autocheckpoint = 0")
    before = fingerprint(tmp_path)
    assert "history.sqlite3-wal" in before
    with pytest.raises(HistoryUnavailable, match="newer version"):
        HistoryStore.open(tmp_path)
    assert fingerprint(tmp_path) == before


# ---------------------------------------------------------------- damaged files
def test_garbage_file_is_refused_and_untouched(tmp_path: Path) -> None:
    db_path(tmp_path).write_bytes(b"this is a shopping list, not a database\n" * 200)
    before = fingerprint(tmp_path)
    with pytest.raises(HistoryUnavailable, match="damaged"):
        HistoryStore.open(tmp_path)
    assert fingerprint(tmp_path) == before


def test_damaged_pages_are_detected_and_untouched(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path, now=Clock())
    for _ in range(40):
        fill_session(store)
    store.close()  # checkpoints the WAL into the main file
    path = db_path(tmp_path)
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    # Scribble over pages 3..5 (the header page stays valid).
    for n in (2, 3, 4):
        data[n * page: (n + 1) * page] = os.urandom(page)
    path.write_bytes(bytes(data))
    before = fingerprint(tmp_path)
    with pytest.raises(HistoryUnavailable, match="damaged"):
        HistoryStore.open(tmp_path)
    assert fingerprint(tmp_path) == before


def test_foreign_database_is_refused_and_untouched(tmp_path: Path) -> None:
    conn = sqlite3.connect(db_path(tmp_path))
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    before = fingerprint(tmp_path)
    with pytest.raises(HistoryUnavailable, match="does not belong"):
        HistoryStore.open(tmp_path)
    assert fingerprint(tmp_path) == before


def test_empty_file_becomes_a_fresh_database(tmp_path: Path) -> None:
    # What a first start leaves if the disk filled right after creating the file.
    db_path(tmp_path).touch()
    store = HistoryStore.open(tmp_path, now=Clock())
    fill_session(store)
    assert store.connection.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "voice-coach").write_text("oops")
    with pytest.raises(HistoryUnavailable, match="not a folder"):
        HistoryStore.open(tmp_path / "voice-coach")


# ---------------------------------------------------------------- read-only directory
UNPRIVILEGED = 65534  # nobody


def run_without_write_access(code: str, data_dir: Path) -> subprocess.CompletedProcess:
    """Run `code` where `data_dir` is read-only for it.

    As root, permissions do not stop writes, so the child imports what it needs and then
    drops to an unprivileged user who owns the (read-only) directory, as a person would.
    """
    prelude = "import os, sys\nfrom skill.history import *\nfrom skill.history.queries import *\n"
    if os.geteuid() == 0:
        for p in [data_dir, *data_dir.iterdir()]:
            os.chown(p, UNPRIVILEGED, UNPRIVILEGED)
        prelude += f"os.setgroups([]); os.setgid({UNPRIVILEGED}); os.setuid({UNPRIVILEGED})\n"
    data_dir.chmod(0o500)
    try:
        return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    finally:
        data_dir.chmod(0o700)


@pytest.fixture
def open_tmp() -> Path:
    """A temp dir an unprivileged user can traverse (pytest's tmp_path is root-only)."""
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        yield Path(d)


def test_read_only_dir_with_history(open_tmp: Path) -> None:
    data_dir = open_tmp / "voice-coach"
    store = HistoryStore.open(data_dir, now=Clock())
    fill_session(store)
    store.close()
    before = fingerprint(data_dir)
    result = run_without_write_access(f"""
        try:
            HistoryStore.open({str(data_dir)!r})
        except HistoryUnavailable as exc:
            print("UNAVAILABLE:", exc.message)
        # Reading still works: the log can be printed from a read-only folder.
        conn = open_reader({str(data_dir)!r})
        print("SETTINGS:", HistoryReader(conn).settings())
    """, data_dir)
    assert result.returncode == 0, result.stderr
    assert "UNAVAILABLE: The history folder" in result.stdout
    assert "cannot be written to" in result.stdout
    assert "SETTINGS: {'speech_rate': 0.8}" in result.stdout
    assert fingerprint(data_dir) == before


def test_read_only_dir_without_history(open_tmp: Path) -> None:
    data_dir = open_tmp / "voice-coach"
    data_dir.mkdir()
    result = run_without_write_access(f"""
        try:
            HistoryStore.open({str(data_dir)!r})
        except HistoryUnavailable as exc:
            print("UNAVAILABLE:", exc.message)
    """, data_dir)
    assert result.returncode == 0, result.stderr
    assert "cannot be written to" in result.stdout
    assert list(data_dir.iterdir()) == []


# ---------------------------------------------------------------- full disk
def test_full_database_refuses_the_record_and_keeps_the_rest(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path, now=Clock())
    fill_session(store)
    store.close()
    # max_page_count is clamped to the current size: the file cannot grow any more.
    store = HistoryStore.open(tmp_path, now=Clock(T0 + 1000), _max_page_count=1)
    committed = 0
    with pytest.raises(HistoryWriteFailed, match="disk is full"):
        store.record("session_start", {"routine": "evening"})
        for i in range(100_000):
            store.record("pain", {"when": "check", "score": i % 11})
            committed += 1
    c = store.connection
    assert not c.in_transaction
    assert c.execute("SELECT count(*) FROM pain WHERE moment = 'check'").fetchone()[0] == committed
    assert c.execute("SELECT count(*) FROM records WHERE kind = 'pain'").fetchone()[0] == committed + 2
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()
    # A later run with room again carries on from the same file.
    store = HistoryStore.open(tmp_path, now=Clock(T0 + 5000))
    store.record("session_start", {"routine": "next day"})
    assert store.connection.execute("SELECT count(*) FROM sessions").fetchone()[0] == 3


@pytest.fixture
def tiny_fs(tmp_path: Path):
    """A real 512 KiB file system (tmpfs), so the disk really fills. Needs mount rights."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0755", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        # Lazy, so a failed test that left a file open does not leave the mount behind.
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def fill_disk(mnt: Path) -> Path:
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_really_full_disk(tiny_fs: Path) -> None:
    data_dir = tiny_fs / "voice-coach"
    store = HistoryStore.open(data_dir, now=Clock())
    fill_session(store)
    filler = fill_disk(tiny_fs)
    committed = 0
    with pytest.raises(HistoryWriteFailed, match="disk is full"):
        for i in range(100_000):
            store.record("pain", {"when": "check", "score": i % 11})
            committed += 1
    c = store.connection
    assert c.execute("SELECT count(*) FROM pain WHERE moment = 'check'").fetchone()[0] == committed
    store.close()
    # With the disk still full, opening says so instead of failing obscurely.
    with pytest.raises(HistoryUnavailable, match="disk is full"):
        HistoryStore.open(tiny_fs / "another")
    filler.unlink()
    store = HistoryStore.open(data_dir, now=Clock(T0 + 9000))
    assert store.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.connection.execute("SELECT count(*) FROM pain WHERE moment = 'check'").fetchone()[0] == committed
    store.record("session_start", {"routine": "after cleanup"})
    store.close()


def test_full_disk_on_first_start(tiny_fs: Path) -> None:
    filler = fill_disk(tiny_fs)
    with pytest.raises(HistoryUnavailable) as info:
        HistoryStore.open(tiny_fs / "voice-coach")
    assert "disk is full" in info.value.message
    filler.unlink()
    store = HistoryStore.open(tiny_fs / "voice-coach", now=Clock())
    fill_session(store)
    store.close()


def test_existing_file_with_loose_permissions_is_tightened(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path, now=Clock())
    fill_session(store)
    store.close()
    os.chmod(db_path(tmp_path), 0o644)
    store = HistoryStore.open(tmp_path, now=Clock())
    store.record("session_start", {"routine": "r"})
    for p in tmp_path.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
