"""Tamper-evident audit trail (SPEC §5): one record() for every service, a hash chain, verify.

Each event's hash is SHA-256 over the previous hash and a canonical JSON serialisation of
the event. Appends are serialised (BEGIN IMMEDIATE on SQLite, an advisory transaction lock
on PostgreSQL) so the chain never forks; database triggers refuse UPDATE and DELETE.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.core import context
from registry.core.db import insert_rows, lock_audit_chain
from registry.core.models import Base, JSONDocument, JSONText, UTCDateTime, canonical_json, utcnow

GENESIS = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.Integer)  # no FK: the log outlives rows
    actor: Mapped[str] = mapped_column(sa.String(120))
    action: Mapped[str] = mapped_column(sa.String(80), index=True)
    entity_type: Mapped[str | None] = mapped_column(sa.String(40))
    entity_id: Mapped[int | None] = mapped_column(sa.Integer)
    data: Mapped[dict | None] = mapped_column(JSONText)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    via: Mapped[str] = mapped_column(sa.String(8), default="cli")
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    # No unique index on the hash: the chain's integrity is `verify` recomputing every hash, and the
    # primary key on seq already refuses a fork. A unique index on random 64-character keys made every
    # append dirty a random page of a 3.3 M-entry index (10,000 appends at full data: 0.56 s → 0.05 s
    # on SQLite without it; docs/PERFORMANCE.md, fifth pass). Nothing looks an event up by its hash.
    hash: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (sa.Index("ix_audit_events_entity", "entity_type", "entity_id"),)

    def canonical(self) -> bytes:
        return canonical_bytes(
            seq=self.seq, at=self.at, actor_id=self.actor_id, actor=self.actor, action=self.action,
            entity_type=self.entity_type, entity_id=self.entity_id, data=self.data, ip=self.ip, via=self.via,
        )


_LEAVES = (str, int, float, bool, type(None))


def _plain(value):
    if type(value) in _LEAVES:  # most of an event's values: nothing to convert
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):  # leaves inline: a snapshot is mostly leaves (no call per value)
        return {(k if type(k) is str else str(k)): (v if type(v) in _LEAVES else _plain(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [v if type(v) in _LEAVES else _plain(v) for v in value]
    if hasattr(value, "value") and isinstance(getattr(value, "value"), str):
        return value.value
    return value


def canonical_bytes(**fields) -> bytes:
    return _canonical_plain(_plain(fields))


def _canonical_plain(fields: dict) -> bytes:
    """canonical_bytes of fields that are plain already (JSON types only, as `_plain` returns them)."""
    return canonical_json(fields).encode()


def _encode_value(value) -> str:
    """One plain value as `_canonical_plain` writes it inside the payload."""
    kind = type(value)
    if kind is str:
        return _ENCODE_STR(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    return canonical_json(value)


_ENCODE_STR = json.encoder.encode_basestring  # the C encoder's own string form when ensure_ascii=False


def chain_hash(prev_hash: str, payload: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + payload).hexdigest()


def actor_name(actor) -> str:
    if actor is None:
        return "system"
    return getattr(actor, "username", None) or str(actor)


def record(session, *, actor, action: str, entity=None, entity_type: str | None = None,
           entity_id: int | None = None, data: dict | None = None, at: datetime | None = None) -> AuditEvent:
    """Append one audit event in the caller's transaction (flushes, never commits).

    `entity` may be a model instance (its table name and id are used). `data` holds the
    change, usually {"before": {...}, "after": {...}} or the command's parameters.
    """
    if entity is not None:
        if getattr(entity, "id", None) is None:
            session.flush()
        entity_type = entity_type or entity.__tablename__
        entity_id = entity.id
    lock_audit_chain(session)
    head = session.execute(
        sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
    event = AuditEvent(
        seq=seq, at=at or utcnow(), actor_id=getattr(actor, "id", None), actor=actor_name(actor),
        action=action, entity_type=entity_type, entity_id=entity_id, data=_plain(data) if data else None,
        ip=context.client_ip(), via=context.channel(), prev_hash=prev,
    )
    event.hash = chain_hash(prev, event.canonical())
    session.add(event)
    session.flush()
    return event


def record_many(session, *, actor, events: list[dict], at: datetime | None = None) -> tuple[int, str]:
    """Append many events of one actor in the caller's transaction, in order: what `record()`
    called once per event would append (same serialisation lock, head, canonical bytes and hash),
    inserted together (`core.db.insert_rows`). Each event is a dict with `action` and optionally `entity_type`,
    `entity_id` (ids, not instances) and `data`: a dict, or a JSONDocument made by
    `canonical_json` of plain values (str keys; what `_plain` returns), serialised by the caller.
    Flushes pending changes first, never commits. Returns the new head (seq, hash).

    Each event's data is serialised once: the canonical text goes into the hashed payload and, as a
    JSONDocument, into the stored column (a 10,000-row import dumped every snapshot twice)."""
    session.flush()
    lock_audit_chain(session)
    seq, prev = head(session)
    if not events:
        return seq, prev
    at = at or utcnow()
    actor_id, name = getattr(actor, "id", None), actor_name(actor)
    ip, via = context.client_ip(), context.channel()
    enc = _encode_value
    # the canonical payload's keys in sorted order: action, actor, actor_id, at, data, entity_id,
    # entity_type, ip, seq, via (tests/core/test_audit.py compares it with _canonical_plain)
    actor_at = f',"actor":{enc(name)},"actor_id":{enc(actor_id)},"at":{enc(_plain(at))},"data":'
    ip_part, via_part = f',"ip":{enc(ip)},"seq":', f',"via":{enc(via)}}}'
    rows = []
    for ev in events:
        seq += 1
        action, entity_type, entity_id = ev["action"], ev.get("entity_type"), ev.get("entity_id")
        data = ev.get("data")
        if type(data) is not JSONDocument:
            data = JSONDocument(canonical_json(_plain(data))) if data else None
        payload = (f'{{"action":{enc(action)}{actor_at}{"null" if data is None else data},'
                   f'"entity_id":{enc(_plain(entity_id))},"entity_type":{enc(entity_type)}{ip_part}{seq}{via_part}')
        digest = chain_hash(prev, payload.encode())
        rows.append({"seq": seq, "at": at, "actor_id": actor_id, "actor": name, "action": action,
                     "entity_type": entity_type, "entity_id": entity_id, "data": data,
                     "ip": ip, "via": via, "prev_hash": prev, "hash": digest})
        prev = digest
    insert_rows(session, AuditEvent.__table__, rows)
    return seq, prev


@dataclass
class VerifyResult:
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None

    def as_json(self) -> dict:
        if self.ok:
            return {"ok": True, "events": self.events, "head": self.head_hash, "head_seq": self.head_seq}
        return {"ok": False, "first_bad_seq": self.first_bad_seq, "problem": self.problem, "events": self.events}


def parse_checkpoint(text: str) -> tuple[int, str]:
    """Parse 'SEQ:HASH' as printed by `audit checkpoint`."""
    seq_text, _, hash_text = text.strip().partition(":")
    hash_text = hash_text.strip().split()[0] if hash_text.strip() else ""
    if not seq_text.isdigit() or len(hash_text) != 64 or any(c not in "0123456789abcdef" for c in hash_text):
        raise ValueError("checkpoint must look like SEQ:HASH (64 lowercase hex digits)")
    return int(seq_text), hash_text


def verify(session, checkpoint: tuple[int, str] | None = None) -> VerifyResult:
    """Recompute the chain from the first event; report the first broken link.

    Detects edited, deleted, inserted and reordered events. Truncation of the tail (or a
    rewrite of the whole chain) is only detectable against a checkpoint kept elsewhere.
    Reads plain rows (the columns' own types, no ORM objects) in batches; callers run it in a read
    transaction (`core.db.begin_read`) so that it never holds the write lock.
    """
    prev = GENESIS
    expected_seq = 1
    count = 0
    cp_seen = checkpoint is None
    t = AuditEvent.__table__.c
    stmt = (sa.select(t.seq, t.at, t.actor_id, t.actor, t.action, t.entity_type, t.entity_id, t.data, t.ip, t.via,
                      t.prev_hash, t.hash).order_by(t.seq).execution_options(yield_per=5000))
    result = session.execute(stmt)
    try:
        for seq, at, actor_id, actor, action, entity_type, entity_id, data, ip, via, prev_hash, digest in result:
            if seq != expected_seq:
                return VerifyResult(False, count, expected_seq - 1, prev, expected_seq, "missing_or_reordered")
            payload = canonical_bytes(seq=seq, at=at, actor_id=actor_id, actor=actor, action=action,
                                      entity_type=entity_type, entity_id=entity_id, data=data, ip=ip, via=via)
            if prev_hash != prev or chain_hash(prev, payload) != digest:
                return VerifyResult(False, count, expected_seq - 1, prev, seq, "hash_mismatch")
            if checkpoint is not None and seq == checkpoint[0]:
                if digest != checkpoint[1]:
                    return VerifyResult(False, count, seq, digest, seq, "checkpoint_mismatch")
                cp_seen = True
            prev = digest
            expected_seq += 1
            count += 1
    finally:
        result.close()
    if not cp_seen:
        return VerifyResult(False, count, expected_seq - 1, prev, expected_seq, "truncated_before_checkpoint")
    return VerifyResult(True, count, expected_seq - 1, prev)


def head(session) -> tuple[int, str]:
    """The chain's head (seq, hash); (0, GENESIS) when empty."""
    row = session.execute(sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    return (row.seq, row.hash) if row else (0, GENESIS)


def checkpoint_text(session) -> str:
    seq, h = head(session)
    return f"{seq}:{h}"


# Triggers that make the log append-only in the database itself (used by the migration).
SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t}
       BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t}
       BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END""",
]
PG_FUNCTION = """CREATE OR REPLACE FUNCTION registry_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only'; END; $$ LANGUAGE plpgsql"""
PG_TRIGGERS = [
    "CREATE TRIGGER {t}_no_update_delete BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION registry_append_only()",
    "CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} FOR EACH STATEMENT EXECUTE FUNCTION registry_append_only()",
]
APPEND_ONLY_TABLES = ("audit_events", "security_events")


def install_append_only_triggers(connection) -> None:
    """Create the append-only triggers on the audit and security-event tables."""
    dialect = connection.dialect.name
    for table in APPEND_ONLY_TABLES:
        if dialect == "postgresql":
            connection.exec_driver_sql(PG_FUNCTION)
            for sql in PG_TRIGGERS:
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {sql.split()[2]} ON {table}".format(t=table))
                connection.exec_driver_sql(sql.format(t=table))
        else:
            for sql in SQLITE_TRIGGERS:
                connection.exec_driver_sql(sql.format(t=table))
