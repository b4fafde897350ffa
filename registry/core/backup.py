"""Online backup and validated restore (SQLite); pg_dump/pg_restore for PostgreSQL.

A backup is taken with SQLite's online backup API: one consistent snapshot that includes
every transaction committed before it started, taken while the registry keeps working.
A restore validates the file completely (SQLite header, integrity_check, schema version,
audit chain) before it touches the live database, then copies it in with the backup API
under SQLite's lock, so a failed or refused restore changes nothing (GHSA-4cr5).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

SQLITE_HEADER = b"SQLite format 3\x00"


class BackupError(Exception):
    """A backup or restore was refused; the message says why. Nothing was changed."""


@dataclass
class BackupInfo:
    path: str
    sha256: str
    size: int
    audit_events: int
    schema_revision: str | None


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sqlite_path(engine: sa.Engine) -> str:
    if engine.dialect.name != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        raise BackupError("the online SQLite backup needs a SQLite file database")
    return engine.url.database


def head_revision(app) -> str | None:
    from alembic.script import ScriptDirectory
    from flask_migrate import Config

    from registry.extensions import ensure_migrate

    directory = ensure_migrate(app).directory
    cfg = Config(os.path.join(directory, "alembic.ini"))
    cfg.set_main_option("script_location", directory)
    return ScriptDirectory.from_config(cfg).get_current_head()


def backup_sqlite(engine: sa.Engine, out: str) -> None:
    """Copy the live database into `out` with the online backup API (consistent snapshot)."""
    src_path = sqlite_path(engine)
    tmp = out + ".partial"
    if os.path.exists(tmp):
        os.unlink(tmp)
    src = sqlite3.connect(src_path, timeout=30)
    dst = sqlite3.connect(tmp)
    try:
        src.execute("PRAGMA busy_timeout = 30000")
        src.backup(dst)  # one pass under a read lock: a consistent snapshot
        dst.execute("PRAGMA journal_mode = DELETE")  # a self-contained file, no -wal beside it
        dst.commit()
    finally:
        dst.close()
        src.close()
    os.replace(tmp, out)


def inspect_sqlite_file(path: str, *, expected_revision: str | None) -> tuple[int, str | None]:
    """Validate a backup file without touching the live database. Returns (audit events, revision)."""
    p = Path(path)
    if not p.is_file() or p.stat().st_size < 512:
        raise BackupError("not a database backup (missing or too small)")
    with open(p, "rb") as fh:
        if fh.read(16) != SQLITE_HEADER:
            raise BackupError("not a SQLite database file")
    uri = f"file:{p.resolve()}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the file is damaged: {exc}") from None
    if result != [("ok",)]:
        raise BackupError(f"integrity check failed: {result[:3]}")
    engine = sa.create_engine(f"sqlite:///file:{p.resolve()}?mode=ro&immutable=1&uri=true")
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            if "alembic_version" not in tables or "audit_events" not in tables:
                raise BackupError("not a registry database (no schema version or audit trail)")
            revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            if expected_revision and revision != expected_revision:
                raise BackupError(f"schema version {revision} does not match this release ({expected_revision})")
        from sqlalchemy.orm import Session

        from registry.core import audit

        with Session(engine) as session:
            verdict = audit.verify(session)
        if not verdict.ok:
            raise BackupError(f"the audit chain in the backup is broken at sequence {verdict.first_bad_seq}")
        return verdict.events, revision
    except sa.exc.DatabaseError as exc:
        raise BackupError(f"the file cannot be read as a registry database: {exc.orig}") from None
    finally:
        engine.dispose()


def restore_sqlite(engine: sa.Engine, backup_file: str) -> None:
    """Copy a validated backup over the live database under SQLite's own locking."""
    live = sqlite_path(engine)
    engine.dispose()
    src = sqlite3.connect(f"file:{Path(backup_file).resolve()}?mode=ro", uri=True)
    dst = sqlite3.connect(live, timeout=30)
    try:
        dst.execute("PRAGMA busy_timeout = 30000")
        src.backup(dst)
        dst.execute("PRAGMA journal_mode = WAL")
    finally:
        src.close()
        dst.close()


def pg_dump(url: str, out: str) -> None:
    if not shutil.which("pg_dump"):
        raise BackupError("pg_dump is not installed: apt-get install postgresql-client")
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    proc = subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={out}", plain],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise BackupError(f"pg_dump failed: {proc.stderr.strip()[:500]}")
