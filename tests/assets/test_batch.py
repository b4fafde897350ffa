"""AssetBatch (the bulk registration behind imports): the rules of create_asset, the same numbers,
labels, scope and audit events, written at once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.assets import services
from registry.assets.models import Asset, RegistryCounter
from registry.core.audit import AuditEvent, verify
from registry.core.errors import Forbidden, RuleViolation, ValidationFailed
from registry.core.labels import Label, find_label
from registry.extensions import db
from tests.assets import helpers as h


def item(**kw) -> dict:
    data = {"kind": "media", "subtype": "paper", "title": "Batch item", "level": "confidential",
            "registry_no": "", "secrecy_years": None, "declassify_on": None, "custodian_id": None, "room_id": None,
            "serial_no": "", "model": "", "doc_no": "", "originator": "", "pages": None, "copies": None,
            "copy_no": None, "hdd_serial": "", "mac": "", "network": "", "os": "", "ip": "", "capacity": "",
            "foreign_supplied": False, "scope_departments": [], "scope_person_ids": [], "notes": ""}
    data.update(kw)
    return data


def comparable(asset: Asset) -> dict:
    snap = services.snapshot(asset)
    snap.pop("registry_no")
    return snap


def test_numbers_continue_the_counter_and_skip_taken_ones(ctx):
    year = h.asset(kind="storage").registered_on.year                     # YD-…-00001
    h.asset(kind="storage", registry_no=f"YD-{year}-00002")
    batch = services.AssetBatch(db.session, actor=None)
    first = batch.add(item(kind="storage", subtype="usb_flash"))
    batch.add(item(kind="storage", subtype="usb_flash", registry_no=f"yd-{year}-00004"))
    last = batch.add(item(kind="storage", subtype="usb_flash"))
    other = batch.add(item(kind="media"))
    ids = batch.write()
    db.session.commit()
    assert len(ids) == 4
    assert (first["registry_no"], last["registry_no"]) == (f"YD-{year}-00003", f"YD-{year}-00005")
    assert other["registry_no"] == f"ZT-{year}-00001"
    numbers = db.session.scalars(sa.select(Asset.registry_no).where(Asset.id.in_(ids)).order_by(Asset.id)).all()
    assert numbers == [f"YD-{year}-00003", f"yd-{year}-00004", f"YD-{year}-00005", f"ZT-{year}-00001"]
    assert db.session.scalar(sa.select(RegistryCounter.last).where(RegistryCounter.kind == "storage")) == 5
    assert h.asset(kind="storage").registry_no == f"YD-{year}-00006"     # the single path goes on from there


def test_the_rules_of_create_asset(world):
    officer = world["officer"]
    batch = services.AssetBatch(db.session, actor=officer)
    with pytest.raises(ValidationFailed) as info:
        batch.add(item(kind="computer", subtype="paper"))
    assert "subtype" in info.value.details
    with pytest.raises(ValidationFailed) as info:
        batch.add(item(custodian_id=999999, room_id=999998, scope_person_ids=[world["borrower"].id, 999997]))
    assert set(info.value.details) == {"custodian_id", "room_id", "scope_person_ids"}
    with pytest.raises(RuleViolation) as info:
        batch.add(item(kind="equipment", subtype="printer", foreign_supplied=True, room_id=world["room_secret"].id))
    assert info.value.code == "inspection_required"
    h.asset(registry_no="OLD-1")
    with pytest.raises(ValidationFailed) as info:
        batch.add(item(registry_no="old-1"))
    assert "registry_no" in info.value.details
    batch.add(item(registry_no="NEW-1"))
    with pytest.raises(ValidationFailed):
        batch.add(item(registry_no="new-1"))
    with pytest.raises(Forbidden):
        services.AssetBatch(db.session, actor=world["staff"]).add(item())
    assert len(batch.items) == 1


def test_write_creates_what_create_asset_creates(world):
    officer = world["officer"]
    variants = [
        item(level="top_secret", custodian_id=world["borrower"].id, room_id=world["room_secret"].id,
             pages=12, copies=2, copy_no=1, doc_no="D-1", originator="一室", scope_departments=["Lab 1", "Lab 2"],
             scope_person_ids=[world["borrower"].id, world["general"].id], notes="note"),
        item(kind="computer", subtype="laptop", level="secret", mac="00:11:22:33:44:55", ip="10.0.0.1", os="Kylin",
             hdd_serial="HD-1", network=""),
        item(kind="storage", subtype="usb_flash", level="internal", capacity="64 GB", secrecy_years=3),
        item(kind="equipment", subtype="printer", level="internal", foreign_supplied=True,
             room_id=world["room_internal"].id),
    ]
    singles = [services.create_asset(db.session, dict(v), actor=officer) for v in variants]
    batch = services.AssetBatch(db.session, actor=officer)
    for v in variants:
        batch.add(dict(v))
    ids = batch.write()
    db.session.commit()
    db.session.expire_all()
    bulk = [db.session.get(Asset, i) for i in ids]
    assert [comparable(a) for a in bulk] == [comparable(a) for a in singles]
    for a in bulk:
        label = find_label(db.session, a.label_code)
        assert label.target_type == "asset" and label.target_id == a.id and not label.is_revoked
        assert label.issued_by == officer.username
        assert db.session.scalar(sa.select(sa.func.count(Label.id)).where(
            Label.target_type == "asset", Label.target_id == a.id)) == 1
        events = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.entity_type == "assets", AuditEvent.entity_id == a.id)).all()
        assert [(e.action, e.actor, e.actor_id) for e in events] == [("asset.create", officer.username, officer.id)]
        assert events[0].data["after"]["registry_no"] == a.registry_no
    single_events = [db.session.scalar(sa.select(AuditEvent.data).where(
        AuditEvent.entity_type == "assets", AuditEvent.entity_id == a.id)) for a in singles]
    bulk_events = [db.session.scalar(sa.select(AuditEvent.data).where(
        AuditEvent.entity_type == "assets", AuditEvent.entity_id == a.id)) for a in bulk]
    for s, b in zip(single_events, bulk_events):
        s["after"].pop("registry_no"), b["after"].pop("registry_no")
        assert s == b
    seqs = db.session.scalars(sa.select(AuditEvent.seq).where(AuditEvent.entity_type == "assets",
                                                              AuditEvent.entity_id.in_(ids))
                              .order_by(AuditEvent.entity_id)).all()
    assert seqs == sorted(seqs) and seqs[-1] - seqs[0] == len(ids) - 1   # in order, one after the other
    assert verify(db.session).ok


def test_an_empty_batch_writes_nothing(ctx):
    before = db.session.scalar(sa.select(sa.func.count(AuditEvent.seq)))
    assert services.AssetBatch(db.session, actor=None).write() == []
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.seq))) == before
