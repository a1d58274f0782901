"""OpenAPI descriptions of the refusals each route may answer with."""

from __future__ import annotations

from typing import Any

from ledger.api.models import Problem

MEANING = {
    400: "Malformed request (`invalid_request`).",
    401: "No valid API key (`unauthorized`).",
    403: "The key's role may not do this (`forbidden`).",
    404: "Nothing by that id in the key's tenant.",
    409: "The step breaks the release workflow's rules (stable `code`, e.g. `own_draft`).",
    413: "The body is over 10 MiB (`invalid_request`).",
    415: "The body is not sent as JSON (`Content-Type: application/json`; `invalid_request`).",
    503: "A store the answer needs cannot be reached, or the ledger is too busy right now.",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": Problem, "description": MEANING[status]} for status in statuses}
