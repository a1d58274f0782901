"""The customer self-serve portal at `/portal`: server-rendered pages over the API's own
answers (the entitlements the check reads, the ledger's history, the signed license file),
with no build step, no CDN and no script.

The key is typed once into a form and kept in an HttpOnly, SameSite=Strict cookie scoped to
`/portal`, so it never appears in a URL, a page or the browser history. A customer key sees
only its customer; an admin key picks any customer of its tenant."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from ledger.api.auth import check_access
from ledger.api.errors import ApiError
from ledger.api.keys import Principal
from ledger.api.license_files import customer_license_file
from ledger.api.portal.view import HISTORY_SHOWN, license_view
from ledger.api.ports import Ports, PortsDep
from ledger.api.queries import current_states

COOKIE = "ledger_portal_key"
ROLES = frozenset({"customer", "admin"})
MAX_FORM = 4096  # a key and a customer id; anything longer is not our form

router = APIRouter(include_in_schema=False)
templates = Environment(loader=PackageLoader("ledger.api.portal", "templates"),
                        autoescape=select_autoescape(), trim_blocks=True, lstrip_blocks=True)


def install(app: FastAPI) -> None:
    """The portal's routes and its static files (CSS) on `app`."""
    app.include_router(router)
    static = files("ledger.api.portal").joinpath("static")
    app.mount("/portal/static", StaticFiles(directory=str(static)), name="portal-static")


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A rendered page that no shared cache keeps: it holds one customer's data."""
    html = templates.get_template(name).render(**context)
    return HTMLResponse(html, status, headers={"Cache-Control": "no-store"})


def signed_in(request: Request, ports: Ports) -> Principal | None:
    key = request.cookies.get(COOKIE)
    return ports.keys.authenticate(key) if key else None


@router.get("/portal")
def portal(request: Request, ports: PortsDep, customer: str | None = None) -> Response:
    """The customer's licenses, or the sign-in form while no valid key was given."""
    principal = signed_in(request, ports)
    if principal is None:
        error = "That key is unknown or was revoked." if COOKIE in request.cookies else None
        response = page("signin.html", 401 if error else 200, error=error)
        response.delete_cookie(COOKIE, path="/portal")
        return response
    if principal.role not in ROLES:
        return page("signin.html", 403, error=f"A {principal.role} key cannot open the portal: "
                    "use a customer key, or an admin key to look at any customer.")
    customer_id = principal.customer_id if principal.role == "customer" else customer
    if not customer_id:
        return page("choose.html", principal=principal)
    try:
        check_access(principal, "read_current", customer_id)
    except ApiError as exc:
        return page("choose.html", exc.status, principal=principal, error=exc.message)
    now = ports.clock()
    states = current_states(ports, principal.tenant, customer_id, now).states  # as GET .../entitlements
    catalog = ports.store.catalogs(principal.tenant).in_force(now)
    known = {f for plan in catalog.plans.values() for f in plan.features} if catalog else set()
    cards = []
    for state in states:  # its newest events only: a busy meter's license has thousands
        newest, total = ports.ledger.recent_history(principal.tenant, state.license_id, HISTORY_SHOWN)
        cards.append(license_view(state, newest, known, total))
    query = "" if principal.role == "customer" else f"?customer={quote(customer_id, safe='')}"
    return page("portal.html", principal=principal, customer_id=customer_id, licenses=cards,
                as_of=now.strftime("%Y-%m-%d %H:%M UTC"), download=f"/portal/license-file{query}")


@router.post("/portal/session")
async def sign_in(request: Request) -> Response:
    """Take the key from the form into the portal's cookie, then show the portal. A form
    posted from another site is refused, so no page elsewhere can sign a browser in."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host", request.url.netloc):
        return page("signin.html", 403, error="Sign in from this page only.")
    body = await request.body()
    fields = parse_qs(body[:MAX_FORM].decode("utf-8", "replace"))
    key = (fields.get("key") or [""])[0].strip()
    if not key:
        return page("signin.html", 400, error="Enter your API key.")
    if not (key.isascii() and key.isprintable()):  # a key is ASCII; a cookie holds no more
        return page("signin.html", 400, error="That is not an API key: a key is letters, digits, "
                    "'-' and '_' (check for quotes or an ellipsis copied with it).")
    response = RedirectResponse("/portal", status_code=303)
    response.set_cookie(COOKIE, key, path="/portal", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/portal/signout")
def sign_out() -> Response:
    response = RedirectResponse("/portal", status_code=303)
    response.delete_cookie(COOKIE, path="/portal")
    return response


@router.get("/portal/license-file")
def download_license_file(request: Request, ports: PortsDep, customer: str | None = None) -> Response:
    """The signed license file of `GET /v1/customers/{id}/license-file`, as a download."""
    principal = signed_in(request, ports)
    if principal is None:
        return RedirectResponse("/portal", status_code=303)
    customer_id = principal.customer_id if principal.role == "customer" else customer
    try:
        if not customer_id:
            raise ApiError(400, "invalid_request", "choose a customer first")
        check_access(principal, "license_file", customer_id)
    except ApiError as exc:
        return page("choose.html", exc.status, principal=principal, error=exc.message)
    document = customer_license_file(ports.ledger, ports.store, ports.keyring, principal.tenant,
                                     customer_id, ports.clock(), ports.license_validity)
    if document is None:
        return page("choose.html", 404, principal=principal,
                    error=f"Customer {customer_id} has no license to sign.")
    return Response(json.dumps(document, indent=2, ensure_ascii=False), media_type="application/json",
                    headers={"Content-Disposition": _attachment(f"license-{customer_id}.json"),
                             "Cache-Control": "no-store"})


def _attachment(filename: str) -> str:
    """A download's Content-Disposition (RFC 6266): an ASCII `filename` for every browser, and
    the name as it is in `filename*` (UTF-8, percent-encoded) where it is not ASCII; a header
    holds Latin-1 only, and a customer id is the billing system's own text."""
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in filename)
    if plain == filename:
        return f'attachment; filename="{plain}"'
    kept = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(kept, safe='')}"
