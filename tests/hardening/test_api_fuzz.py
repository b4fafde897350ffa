"""Property-based fuzzing of the JSON API from its own OpenAPI document (schemathesis).

Every operation in /api/v1/openapi.json gets generated requests (valid and schema-violating),
sent with an officer's bearer token to the app (WSGI, in process) over a database holding the
demo data. Each answer must pass:
- not_a_server_error: never a 5xx;
- status_code_conformance: the status is one the document lists;
- response_schema_conformance: the body matches the documented schema;
- error_shape (ours): every 4xx/5xx body is exactly {"error": {"code", "message", "details"}}.

FUZZ_EXAMPLES sets the examples per operation and generation mode (default 6; the run is
derandomised, so a failure reproduces). Known domain defects are kept out of the generated
requests (AVOID_FIELDS) or out of one check (RELAXED), each pointing at a deterministic strict
xfail that turns red when the defect is fixed.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from registry import create_app
from registry.core import openapi
from registry.extensions import db
from tests.conftest import base_config
from tests.hardening.conftest import figure

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))

# Known domain defects that the generator would hit at random: the offending field is dropped
# from generated bodies so the rest of the operation is still fuzzed, and each defect has a
# deterministic strict xfail elsewhere that turns red once it is fixed.
AVOID_FIELDS: dict[str, dict[str, str]] = {}  # none left: the subtype defect was fixed
# A check left out for one operation, with the reason; each has a targeted strict xfail below.
RELAXED: dict[str, tuple] = {}  # none left: POST /api/v1/visits documents its 404 now


def _operations() -> list[str]:
    """The documented operations, read at collection time from the document the app builds."""
    os.environ.setdefault("REGISTRY_INSTANCE_PATH", tempfile.mkdtemp(prefix="fuzz-collect-"))
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI="sqlite://"))
    with app.app_context():
        doc = openapi.build(app)
        db.engine.dispose()
    # schemathesis leaves out the document's own endpoint; tests/core/test_http.py checks it
    return [f"{method.upper()} {path}" for path, ops in doc["paths"].items() for method in ops
            if path != "/api/v1/openapi.json"]


OPERATIONS = _operations()


def error_shape(ctx, response, case):
    """Every error answer of the API is JSON of exactly the documented shape (SPEC §6)."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except Exception:
        raise AssertionError(f"{response.status_code} answer is not JSON: {response.text[:200]!r}") from None
    if not (isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], dict)
            and set(body["error"]) == {"code", "message", "details"}
            and isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
            and isinstance(body["error"]["details"], dict)):
        raise AssertionError(f"{response.status_code} answer is not the error shape: {str(body)[:300]}")
    if "Traceback" in response.text:
        raise AssertionError("a traceback in an error answer")
    return None


@pytest.fixture(scope="module")
def fuzz_app(hardening_db, tmp_path_factory):
    os.environ["REGISTRY_INSTANCE_PATH"] = str(tmp_path_factory.mktemp("fuzz-instance"))
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=hardening_db))
    with app.app_context():
        from registry.core.demo import load_demo

        load_demo(db.session)
        db.session.commit()
    from tests.conftest import Factory

    make = Factory(app)
    app.fuzz_token = make.token(make.user("officer"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)
    ops = {}
    for result in schema.get_all_operations():
        op = result.ok()
        ops[f"{op.method.upper()} {op.path}"] = op
    return ops


def _params():
    for label in OPERATIONS:
        yield pytest.param(label, id=label, marks=[pytest.mark.slow])


@pytest.mark.parametrize("label", list(_params()))
def test_operation_survives_fuzzing(label, fuzz_app, fuzz_schema):
    op = fuzz_schema.get(label)
    assert op is not None, f"{label} is in the app's document but schemathesis did not load it"
    headers = {"Authorization": f"Bearer {fuzz_app.fuzz_token}"}
    checks = [c for c in (not_a_server_error, status_code_conformance, response_schema_conformance)
              if c is not RELAXED.get(label, (None,))[0]]
    modes = [GenerationMode.POSITIVE]
    if op.path_parameters or op.query or op.body:  # nothing to violate otherwise
        modes.append(GenerationMode.NEGATIVE)
    calls = []
    for mode in modes:
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
        @given(case=op.as_strategy(generation_mode=mode))
        def run(case):
            if isinstance(case.body, dict):
                for field in AVOID_FIELDS.get(label, {}):
                    case.body.pop(field, None)
            response = case.call(headers=headers)
            calls.append(response.status_code)
            case.validate_response(response, checks=checks, additional_checks=[error_shape])

        run()
    figure("api fuzz", operation=label.replace(" ", "_"), modes=len(modes), cases=len(calls),
           statuses="/".join(str(s) for s in sorted(set(calls))))


def test_visit_entry_documents_its_404(fuzz_app):
    doc = fuzz_app.test_client().get("/api/v1/openapi.json").get_json()
    documented = set(doc["paths"]["/api/v1/visits"]["post"]["responses"])
    resp = fuzz_app.test_client().post("/api/v1/visits", json={"visitor_id": 2**31 - 9, "room_id": 1},
                                       headers={"Authorization": f"Bearer {fuzz_app.fuzz_token}"})
    assert resp.status_code >= 400
    assert str(resp.status_code) in documented, (resp.status_code, sorted(documented))
