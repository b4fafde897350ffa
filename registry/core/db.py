"""Database wiring: SQLite pragmas and BEGIN IMMEDIATE for writes; write-intent helpers.

SQLite's Python driver opens deferred transactions lazily, so two workers can both read
"available" and both write a checkout. Every transaction that may write therefore starts
with BEGIN IMMEDIATE (SPEC §9): the write lock is taken before the first read. Reads
(GET/HEAD requests) start a plain BEGIN so that they never queue behind writers (WAL).
"""

from __future__ import annotations

import contextvars
import time

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy.orm import scoped_session

_force_write: contextvars.ContextVar[bool | None] = contextvars.ContextVar("force_write", default=None)

READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def wants_write() -> bool:
    """Whether a transaction starting now should take the write lock at once."""
    forced = _force_write.get()
    if forced is not None:
        return forced
    if has_request_context():
        return request.method not in READ_METHODS
    return True  # CLI, shell, tests outside a request: assume writes


def setup_engine(engine: sa.Engine, app) -> None:
    """Install per-connection settings for our engine (not the global Engine class)."""
    if engine.dialect.name != "sqlite":
        _ping_idle_connections(engine, float(app.config.get("DB_PING_IDLE_SECONDS", 10)))
        _refuse_writes_without_transaction(engine)
        return
    busy = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy):d}")  # PRAGMA takes no bound parameters; an int from config
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = wants_write()
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        conn.info["write_locked"] = immediate


def _ping_idle_connections(engine: sa.Engine, idle_seconds: float) -> None:
    """A pooled connection that has been idle for more than `idle_seconds` is pinged before a request
    uses it; a dead one (the server restarted, a firewall dropped it) is replaced, so the request does
    not fail. SQLAlchemy's documented pessimistic check (`DisconnectionError` from the pool's checkout
    event: the pool discards the connection and takes another), except that a connection back in the
    pool for less than `idle_seconds` is used without the extra round trip: under load that ping was
    ~5 % of a scan on PostgreSQL (issue 8). 0 pings at every checkout, as `pool_pre_ping` does."""

    @sa.event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy):
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since <= idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)  # the dialect's own ping (psycopg: in autocommit, no transaction left open)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DisconnectionError(str(exc)) from exc


AUTOCOMMIT = "AUTOCOMMIT"
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "MERGE")


def _without_transaction(connection: sa.Connection) -> bool:
    return connection.get_execution_options().get("isolation_level") == AUTOCOMMIT


def _refuse_writes_without_transaction(engine: sa.Engine) -> None:
    """A read request's statements on PostgreSQL run without a transaction (`begin_request`); a write
    among them would commit on its own, statement by statement. Refused loudly instead, as SQLite
    refuses an audit append outside BEGIN IMMEDIATE: a route that writes calls `begin_write()` first."""

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _check(connection, _cursor, statement, _parameters, _context, _executemany):
        if _without_transaction(connection) and (
                statement.lstrip()[:6].upper() in _WRITE_VERBS or "pg_advisory_xact_lock" in statement
                or " FOR UPDATE" in statement):
            raise RuntimeError("a write in a read request without begin_write(): " + statement[:60])


def begin_request(session) -> None:
    """At the start of a request. On PostgreSQL a read request (GET, HEAD, OPTIONS) runs its
    statements without a transaction (autocommit): under READ COMMITTED each statement reads its own
    snapshot either way, so nothing a page sees changes, and a scan saves the BEGIN and ROLLBACK
    round trips (2 of its 4; docs/PERFORMANCE.md, fifth pass). A route that writes during a read
    request calls `begin_write()`, which ends that mode; a write without it is refused
    (`_refuse_writes_without_transaction`). SQLite: nothing to do (its `begin` event decides)."""
    if wants_write():
        return
    if isinstance(session, scoped_session):
        session = session()
    if session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return
    session.connection(execution_options={"isolation_level": AUTOCOMMIT})


def begin_write(session) -> None:
    """Make sure the session's current transaction may write (used by GET routes that record).

    On SQLite a read transaction cannot safely be upgraded, so a read-only transaction in
    progress is ended (it has no changes) and the next one starts with BEGIN IMMEDIATE.
    On PostgreSQL a read request's connection without a transaction (`begin_request`) is given
    back the same way; the next statement starts a transaction.
    """
    _force_write.set(True)
    if not hasattr(session, "in_transaction"):  # a scoped_session: use the real one
        session = session()
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        if session.in_transaction() and _without_transaction(session.connection()):
            if session.new or session.dirty or session.deleted:
                raise RuntimeError("begin_write() after unflushed changes in a read request")
            session.rollback()
        return
    if session.in_transaction():
        conn = session.connection()
        if not conn.info.get("write_locked"):
            if session.new or session.dirty or session.deleted:
                raise RuntimeError("begin_write() after unflushed changes in a read transaction")
            session.rollback()


def begin_read(session) -> None:
    """Make what follows a read transaction, one consistent snapshot, that never blocks writers.

    For long reads started where writes are assumed (the CLI, a POST page): `audit verify`, exports.
    The transaction in progress is ended first (it must hold no changes: a write-locked one would
    otherwise keep the SQLite write lock through the read). SQLite: the next transaction starts with
    a plain BEGIN (WAL: readers and the writer do not wait for each other; the WAL file cannot be
    checkpointed past the reader's snapshot until it ends). PostgreSQL: REPEATABLE READ, one snapshot.
    Call begin_write() afterwards to record something (e.g. a broken chain)."""
    if isinstance(session, scoped_session):
        session = session()
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("begin_read() with unflushed changes")
    session.rollback()
    _force_write.set(False)
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def assert_write_locked(session) -> None:
    """Guard for code that appends to the audit chain: on SQLite the lock must be held."""
    conn = session.connection()
    if conn.dialect.name == "sqlite" and not conn.info.get("write_locked"):
        raise RuntimeError("audit append outside a write transaction (missing begin_write())")


def lock_audit_chain(session) -> None:
    """Serialise audit appends: SQLite holds BEGIN IMMEDIATE already; PostgreSQL takes a lock."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(7301)"))
    else:
        assert_write_locked(session)


def reset_write_intent() -> None:
    """Forget a forced write intent at the end of a request (threads serve many requests)."""
    _force_write.set(None)


def insert_rows(session, table: sa.Table, rows: list[dict]) -> None:
    """Insert many rows into `table` in the session's transaction. Every row has the same keys
    (columns of the table); values are what the ORM would bind (its column types convert them).

    On PostgreSQL the rows go in with COPY: one executor run for all of them instead of one per row
    (psycopg's pipelined executemany) — for 10,000 items of an import the server's time fell from
    ~1.3 s to ~0.5 s (docs/PERFORMANCE.md, fifth pass). The column types' bind processors are
    applied as SQLAlchemy applies them to parameters, so the stored values are the same
    (tests/assets/test_batch.py compares a bulk write with the ORM's, on both databases).
    Elsewhere: one executemany."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        connection.execute(table.insert(), rows)
        return
    if _without_transaction(connection):  # COPY bypasses the statement check
        raise RuntimeError(f"insert_rows into {table.name} in a read request without begin_write()")
    keys = list(rows[0])
    columns = [table.c[k] for k in keys]
    defaulted = [c.key for c in table.columns if c.key not in rows[0] and c.default is not None]
    if defaulted:  # an INSERT would fill these in from Python; COPY would not
        raise ValueError(f"insert_rows into {table.name}: no value for {', '.join(defaulted)}")
    processors = [(i, p) for i, p in enumerate(c.type._cached_bind_processor(dialect) for c in columns) if p]
    names = ", ".join(dialect.identifier_preparer.quote(c.name) for c in columns)
    target = dialect.identifier_preparer.format_table(table)
    cursor = connection.connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in rows:
                values = [row[k] for k in keys]  # KeyError for a row without a key: no silent NULL
                for i, process in processors:
                    values[i] = process(values[i])
                copy.write_row(values)
    finally:
        cursor.close()
