"""Visitor register: creation, documents, foreign flag, block list, badges, look-up (services)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.core import settings
from registry.core.audit import AuditEvent
from registry.core.errors import ValidationFailed
from registry.core.labels import Label, find_label
from registry.extensions import db
from registry.visits import services


def test_create_issues_a_badge_and_audits_a_masked_document(world):
    v = world.visitor(id_doc_no="e 1234 5678", nationality="de")
    assert v.id_doc_no == "E12345678" and v.nationality == "DE"
    label = find_label(db.session, v.badge_code)
    assert label.target_type == "visitor" and label.target_id == v.id
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "visitor.create",
                                                           AuditEvent.entity_id == v.id)).one()
    assert event.data["after"]["id_doc_no"] == "****5678"
    assert "E12345678" not in repr(event.data)


def test_document_is_unique_per_type(world):
    world.visitor(id_doc_type="passport", id_doc_no="X9999999")
    with pytest.raises(ValidationFailed) as info:
        world.visitor(id_doc_type="passport", id_doc_no="x 9999999")
    assert "id_doc_no" in info.value.details
    assert world.visitor(id_doc_type="national_id", id_doc_no="X9999999").id  # another document type


@pytest.mark.parametrize("nationality,home,foreign", [("CN", "CN", False), ("DE", "CN", True), ("HK", "CN", True),
                                                      ("MO", "CN", True), ("TW", "CN", True), ("DE", "DE", False)])
def test_foreign_follows_the_home_country_setting(world, nationality, home, foreign):
    settings.update(db.session, {"home_country": home}, actor=None)
    v = world.visitor(nationality=nationality)
    assert services.serialize_visitor(v, None)["foreign"] is foreign
    assert v.id in {x.id for x in db.session.scalars(services.visitors_query(foreign=foreign))}


def test_block_and_unblock_are_their_own_audit_actions(world):
    v = world.visitor()
    with pytest.raises(ValidationFailed):
        services.block_visitor(db.session, v, "  ", actor=world.officer)
    services.block_visitor(db.session, v, "took photos", actor=world.officer)
    assert v.blocked and v.blocked_reason == "took photos" and v.blocked_by == world.officer.username
    assert v.id in {x.id for x in db.session.scalars(services.visitors_query(blocked=True))}
    services.unblock_visitor(db.session, v, actor=world.officer)
    assert not v.blocked and v.blocked_reason == "" and v.blocked_at is None
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.entity_type == "visitors",
                                                                    AuditEvent.entity_id == v.id)
                                 .order_by(AuditEvent.seq)).all()
    assert actions == ["visitor.create", "visitor.block", "visitor.unblock"]


def test_changing_the_document_number_is_recorded_even_when_the_mask_looks_alike(world):
    v = world.visitor(id_doc_no="A00001234")
    changed = services.update_visitor(db.session, v, {"id_doc_no": "B99991234"}, actor=world.officer)
    assert changed == {"id_doc_no": "****1234"}


def test_reissued_badge_revokes_the_old_code(world):
    v = world.visitor()
    old = v.badge_code
    services.reissue_badge(db.session, v, actor=world.officer, reason="lost")
    assert v.badge_code != old
    assert find_label(db.session, old).is_revoked
    visitor, revoked, _ = services.find_visitors(db.session, old, base_url="https://r.test")
    assert visitor is None and revoked is not None
    visitor, revoked, _ = services.find_visitors(db.session, f"https://r.test/s/{v.badge_code}", base_url="https://r.test")
    assert visitor is v and revoked is None


@pytest.mark.parametrize("text,found", [("Zhang", "one"), ("张三丰", "one"), ("Acme", "many"), ("P7654321", "one"),
                                        ("p 765 4321", "one"), ("nobody", "none"), ("%", "none"), ("", "none")])
def test_find_visitors(world, text, found):
    world.visitor(name="Zhang Sanfeng", name_alt="张三丰", organization="Acme", id_doc_no="P7654321")
    world.visitor(name="Li Si", organization="Acme Ltd")
    visitor, revoked, candidates = services.find_visitors(db.session, text, base_url="https://r.test")
    assert revoked is None
    if found == "one":
        assert visitor is not None and visitor.name == "Zhang Sanfeng"
    elif found == "many":
        assert visitor is None and len(candidates) == 2
    else:
        assert visitor is None and candidates == []


def test_find_by_visitor_id_and_unknown_label(world):
    v = world.visitor()
    assert services.find_visitors(db.session, str(v.id), base_url="")[0] is v
    assert services.find_visitors(db.session, "A" * 20, base_url="")[0] is None
    assert db.session.scalar(sa.select(sa.func.count(Label.id))) >= 1


def test_expected_today_excludes_blocked_and_inside(world):
    from registry.core.models import utcnow

    a, b, c = world.visitor(), world.visitor(blocked=True, blocked_reason="x"), world.visitor()
    services.enter(db.session, c, world.room(foreign_policy="open"), actor=world.officer)
    ids = {v.id for v in services.expected_on(db.session, utcnow().date())}
    assert a.id in ids and b.id not in ids and c.id not in ids


def test_a_document_number_wins_over_a_visitor_id(world):
    a = world.visitor()
    b = world.visitor(id_doc_no=str(a.id))  # a (short) number that equals another visitor's id
    assert services.find_visitors(db.session, str(a.id), base_url="")[0] is b
    assert services.find_visitors(db.session, f"#{a.id}", base_url="")[0] is a
