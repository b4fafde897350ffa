"""Registry numbers (per kind and year, editable prefixes, unique under concurrency), labels, batch."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from registry.assets import services
from registry.assets.models import Asset, RegistryCounter
from registry.core.labels import Label, find_label
from registry.core.settings import update as update_settings
from registry.extensions import db
from tests.assets import helpers as h


def test_numbers_per_kind_and_year(ctx):
    a1 = h.asset(kind="media")
    a2 = h.asset(kind="media")
    c1 = h.asset(kind="computer")
    year = a1.registered_on.year
    assert (a1.registry_no, a2.registry_no) == (f"ZT-{year}-00001", f"ZT-{year}-00002")
    assert c1.registry_no == f"JSJ-{year}-00001"
    older = services.create_asset(db.session, {"kind": "media", "subtype": "paper", "title": "old", "level": "internal"},
                                  actor=None, now=datetime(2025, 12, 31, 12, 0, tzinfo=timezone.utc))
    assert older.registry_no == "ZT-2025-00001"
    update_settings(db.session, {"registry_prefix_media": "MJ"}, actor=None)
    assert h.asset(kind="media").registry_no == f"MJ-{year}-00003"      # the count goes on under a new prefix


def test_number_taken_by_an_import_is_skipped(ctx):
    year = h.asset(kind="storage").registered_on.year
    h.asset(kind="storage", registry_no=f"YD-{year}-00002")              # e.g. imported from a spreadsheet
    assert h.asset(kind="storage").registry_no == f"YD-{year}-00003"


def test_numbers_unique_under_concurrent_registration(app):
    """Eight threads, each its own connection and transaction, register 5 items each."""
    errors, numbers = [], []

    def worker():
        try:
            with app.app_context():
                for _ in range(5):
                    a = services.create_asset(db.session, {"kind": "equipment", "subtype": "other", "title": "t",
                                                           "level": "internal"}, actor=None)
                    numbers.append(a.registry_no)
                    db.session.commit()
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len(numbers) == 40 and len(set(numbers)) == 40
    with app.app_context():
        assert db.session.scalar(sa.select(RegistryCounter.last).where(RegistryCounter.kind == "equipment")) == 40


def test_label_issued_and_reissued(ctx):
    a = h.asset()
    first = a.label_code
    label = find_label(db.session, first)
    assert label.target_type == "asset" and label.target_id == a.id and not label.is_revoked
    assert len(first) >= 20   # 120 bits, URL-safe
    new = services.reissue_label(db.session, a, actor=None, reason="torn")
    assert a.label_code == new.code != first
    old = find_label(db.session, first)
    assert old.is_revoked and old.revoked_reason == "torn"
    assert db.session.scalar(sa.select(sa.func.count(Label.id)).where(Label.target_id == a.id,
                                                                       Label.target_type == "asset")) == 2


def test_batch_runs_each_item_in_its_own_savepoint(ctx):
    from registry.core.security_events import SecurityEvent

    b = h.person(category="general")
    ok, refused, ok2 = h.asset(level="internal"), h.asset(level="secret"), h.asset(level="confidential")
    results = services.checkout_batch(db.session, [ok, refused, ok2], b, actor=None, purpose="x")
    db.session.commit()
    assert [bool(r.checkout) for r in results] == [True, False, True]
    assert results[1].refusal.code == "clearance_insufficient"
    assert results[0].checkout.batch == results[2].checkout.batch
    db.session.refresh(refused)
    assert refused.status.value == "available"
    ev = db.session.scalars(sa.select(SecurityEvent).where(SecurityEvent.kind == "checkout_denied")).all()
    assert len(ev) == 1 and ev[0].subject_id == refused.id


def test_audit_trail_of_a_checkout(ctx):
    from registry.core.audit import AuditEvent, verify

    b = h.person()
    a = h.asset(level="internal")
    services.checkout(db.session, a, b, actor=None, purpose="audit me")
    services.checkin(db.session, a, actor=None, condition="intact")
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.entity_type == "assets",
                                                                    AuditEvent.entity_id == a.id)
                                 .order_by(AuditEvent.seq)).all()
    assert actions == ["asset.create", "asset.checkout", "asset.checkin"]
    assert verify(db.session).ok


@pytest.mark.parametrize("kind,subtype", [("media", "laptop"), ("computer", "paper"), ("equipment", "usb_flash")])
def test_subtype_must_fit_the_kind(ctx, kind, subtype):
    from registry.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        services.create_asset(db.session, {"kind": kind, "subtype": subtype, "title": "x", "level": "internal"},
                              actor=None)


def test_default_secrecy_period(ctx):
    a = h.asset(level="top_secret")
    assert a.secrecy_years == 30 and a.declassify_on.year == a.registered_on.year + 30
    assert h.asset(level="internal").secrecy_years is None
    assert h.asset(level="secret", secrecy_years=5).secrecy_years == 5


def test_officer_only_registers(ctx):
    from registry.core.errors import Forbidden

    for role in ("staff", "approver", "inspector", "guard"):
        with pytest.raises(Forbidden):
            services.create_asset(db.session, {"kind": "media", "subtype": "paper", "title": "x", "level": "internal"},
                                  actor=h.user(role))
    assert db.session.scalar(sa.select(sa.func.count(Asset.id))) == 0
