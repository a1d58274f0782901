"""The API's own description: the committed OpenAPI document is the app's, and it promises
refusals in the contract's shape."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.api import application
from ledger.api.auth import ACCESS
from ledger.api.errors import describe_validation
from ledger.api.keys import ROLES

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
OPEN = {"/healthz", "/v1/license-files/keys"}


def test_the_committed_openapi_document_is_the_apps() -> None:
    # Regenerate with: .venv/bin/python -m ledger.api docs/openapi.json
    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == application().openapi()


def test_every_refusal_is_documented_as_a_problem_never_as_a_422() -> None:
    document = application().openapi()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            assert "422" not in responses, path
            if path not in OPEN:
                assert {"401", "403"} <= set(responses), path
                assert operation["security"] == [{"HTTPBearer": []}], path
            for status, response in responses.items():
                if status.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}, (path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_contract_roles_are_the_only_ones_granted_anything() -> None:
    granted = set().union(*ACCESS.values())
    # catalog_editor: the release workflow's role (docs/governance.md, CHANGELOG)
    assert granted == {"admin", "billing", "service", "auditor", "customer", "catalog_editor"}
    assert ROLES == tuple(sorted(granted, key=ROLES.index))
    assert all("admin" in roles for roles in ACCESS.values())
    assert ACCESS["metrics"] == {"admin"}


def test_a_validation_error_names_the_field_in_the_words_of_the_request() -> None:
    errors = [{"loc": ("body", "quantity"), "msg": "Input should be greater than 0", "type": "x"},
              {"loc": ("body",), "msg": "JSON decode error", "type": "json_invalid"}]
    assert describe_validation(errors) == ("body.quantity: Input should be greater than 0; "
                                           "body: the body is not valid JSON")
