"""Every error the API answers is JSON `{"code": ..., "message": ...}`: a stable code for
machines and a sentence for people. Bad input is a 4xx, never a 500."""

from __future__ import annotations

import json
from collections import Counter
from email.message import Message
from typing import Annotated, Any

import structlog
from eventsourcing.persistence import InterfaceError as PersistenceInterfaceError
from eventsourcing.persistence import OperationalError as PersistenceOperationalError
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.store.sql import unavailable
from schemas.envelope import unbuildable

log = structlog.get_logger()

JSON = "application/json"

# Starlette's own refusals (unknown route, wrong method, ...) in our words.
_HTTP_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "invalid_request", 415: "invalid_request"}


class Answer(JSONResponse):
    """JSON as UTF-8; text that cannot be UTF-8 (a lone surrogate a sender put in an id it
    gets echoed back) goes out \\u-escaped, rather than failing the answer."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False,
                              separators=(",", ":")).encode("ascii")


class ApiError(Exception):
    """A refusal with a stable code; raised anywhere below a route, answered as JSON."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def invalid_request(message: str) -> ApiError:
    return ApiError(400, "invalid_request", message)


def unauthorized(message: str = "send a valid API key as 'Authorization: Bearer KEY'") -> ApiError:
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(code: str, message: str) -> ApiError:
    return ApiError(404, code, message)


def refuse_unknown_query(request: Request) -> None:
    """A typo is not silence: `?asof=` must not quietly answer about now instead; nor may
    `?as_of=A&as_of=B` quietly answer about one of them. Without a query there is nothing
    to refuse, and the check (issue 10) is asked without one: answered before any parsing."""
    if not request.scope.get("query_string"):
        return
    dependant = getattr(request.scope.get("route"), "dependant", None)
    known = _query_names(dependant) if dependant is not None else set()
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        expected = ", ".join(sorted(known)) or "none"
        raise invalid_request(f"unknown query parameter {unknown[0]!r}; expected: {expected}")
    given = Counter(name for name, _ in request.query_params.multi_items())
    repeated = sorted(name for name, count in given.items() if count > 1)
    if repeated:
        raise invalid_request(f"query parameter {repeated[0]!r} is given {given[repeated[0]]} "
                              "times; give it once")


def _query_names(dependant: Any) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def media_type(request: Request) -> tuple[str | None, str | None]:
    """The body's media type in lower case, and its charset if one is named."""
    header = request.headers.get("content-type")
    if header is None:
        return None, None
    message = Message()
    message["content-type"] = header
    charset = message.get_param("charset")
    return message.get_content_type(), charset.lower() if isinstance(charset, str) else None


def unsupported_media_type(request: Request, accepted: tuple[str, ...] = (JSON,)) -> ApiError | None:
    """415 naming what was sent and what is taken, or None for a JSON body in UTF-8."""
    sent, charset = media_type(request)
    if len(request.headers.getlist("content-type")) > 1:
        said = "more than one Content-Type"
    elif request.headers.get("content-type") is None:
        said = "no Content-Type"
    elif sent not in accepted:
        said = f"Content-Type {request.headers['content-type']!r}"
    elif charset not in (None, "utf-8", "utf8"):
        return ApiError(415, "invalid_request", f"the body must be UTF-8 JSON; it says "
                        f"charset={charset}")
    else:
        return None
    wanted = f"'Content-Type: {accepted[0]}'" + (
        f" (or {', '.join(accepted[1:])})" if len(accepted) > 1 else "")
    return ApiError(415, "invalid_request",
                    f"the body must be JSON sent with {wanted}; this request has {said}")


async def json_sent(request: Request) -> None:
    """A dependency of the routes whose body FastAPI reads: that body sent as JSON in UTF-8,
    as `POST /v1/events` checks its own (FastAPI itself reads a body as JSON with no
    Content-Type, with any `application/*+json` and whatever its charset says). A request
    without a key is 401 before this runs: `auth.Guarded` answers it before FastAPI reads the
    body. `async`: a sync dependency would move every check that did not take the fast path
    to a worker thread, which the route spends only on a cache miss."""
    has_body = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers)
    refusal = unsupported_media_type(request) if has_body else None
    if refusal is not None:
        raise refusal


JsonSent = Annotated[None, Depends(json_sent)]


def body(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def describe_validation(errors: Any) -> str:
    """Name each offending field in the words of the request: `body.quantity`, `query.as_of`."""
    parts = []
    for item in errors:
        where = ".".join(str(p) for p in item.get("loc", ()))
        message = item.get("msg", "is not valid")
        if item.get("type") == "json_invalid":
            message = "the body is not valid JSON"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts[:5]) or "the request is not valid"


def _allowed(request: Request) -> str:
    """Every method some route of this path takes (a path may be served by several routes)."""
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for route in request.app.router.routes:
        pattern = getattr(route, "path_regex", None)
        if pattern is not None and pattern.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    """Register the handlers that keep every answer, even a failure, in the contract's shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Answer:
        return Answer(body(exc.code, exc.message), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Answer:
        errors = exc.errors()
        # FastAPI reads a body as JSON only when it says so; say that, not "not a dict".
        refusal = unsupported_media_type(request) if any(
            tuple(item.get("loc", ()))[:1] == ("body",) for item in errors) else None
        if refusal is not None:
            return Answer(body(refusal.code, refusal.message), refusal.status)
        return Answer(body("invalid_request", describe_validation(errors)), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Answer:
        code = _HTTP_CODES.get(exc.status_code, "invalid_request" if exc.status_code < 500
                               else "internal_error")
        message = exc.detail if isinstance(exc.detail, str) else "the request cannot be served"
        reason = unbuildable(exc.__cause__) if exc.__cause__ is not None else None
        if exc.status_code == 400 and reason is not None:  # FastAPI's "error parsing the body"
            message = f"the body is JSON this API cannot read: {reason}"
        elif exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            refusal = unsupported_media_type(request)  # say what it was sent as, if not JSON
            if refusal is not None:
                return Answer(body(refusal.code, refusal.message), refusal.status)
            message = (f"body: the body is not UTF-8 text ({exc.__cause__.reason} at byte "
                       f"{exc.__cause__.start}); send JSON in UTF-8, not compressed")
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path!r} (the routes are in /docs)"
        headers = exc.headers
        if exc.status_code == 405:  # Starlette names only the first route of the path
            headers = {**(headers or {}), "Allow": _allowed(request)}
        return Answer(body(code, message), exc.status_code, headers=headers)

    async def _store_unavailable(request: Request, exc: Exception) -> Answer:
        log.error("api.event_store_unavailable", path=request.url.path, error=str(exc)[:300])
        return Answer(body("event_store_unavailable", "the ledger's event store could not be "
                           "reached; retry shortly (envelopes sent again that were recorded "
                           "come back as duplicates)"), 503, headers={"Retry-After": "5"})

    # The library's words for a database that cannot be reached or dropped the connection
    # (ConnectionUnavailableError, a pool that could not hand one out, is one of these).
    app.add_exception_handler(PersistenceOperationalError, _store_unavailable)
    app.add_exception_handler(PersistenceInterfaceError, _store_unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Answer:
        if unavailable(exc):  # our own tables' (the event store's are the library's errors)
            log.error("api.read_database_unavailable", path=request.url.path,
                      error=str(exc)[:300])
            return Answer(body("read_models_unavailable", "a database of this API's own tables "
                               "(read models, API keys, trace contexts) could not be used now "
                               "(down, restarting, hanging, or every connection busy); retry "
                               "shortly (envelopes sent again that were recorded come back as "
                               "duplicates), and see /healthz"), 503, headers={"Retry-After": "1"})
        log.error("api.unexpected_error", path=request.url.path, error=repr(exc), exc_info=exc)
        return Answer(body("internal_error", "the ledger could not answer; see its log"), 500)
