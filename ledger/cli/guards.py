"""What reading commands check before they open anything, so that a typo never reads as a
clean answer: a missing store is an error naming its path (opening it would create an empty
one, and `verify` would call it intact), and a head asked of a tenant without events is not a
cut-off chain."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from ledger.cli.output import fail
from ledger.settings import Settings


def require_store(settings: Settings) -> None:
    """Exit non-zero, naming the path or schema, unless the event store already exists.
    Only writing commands (`ingest`, `catalog publish`, `up`, `serve`, the workers) create one."""
    url = settings.database_url
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
        if path and path != ":memory:" and not Path(path).is_file():
            fail(f"no event store at {Path(path).resolve()} ({url}, from --database-url or "
                 "LEDGER_DATABASE_URL): check "
                 "the path; reading commands never create one ('ledger ingest' or 'ledger up' do)")
    elif parsed.scheme in ("postgresql", "postgres"):
        schema = parse_qs(parsed.query).get("schema", [None])[0]
        if schema and not _schema_exists(url, schema):
            fail(f"no schema {schema!r} in that PostgreSQL database (LEDGER_DATABASE_URL): check "
                 "?schema=; reading commands never create one")


def _schema_exists(url: str, schema: str) -> bool:
    from ledger.store.database import connect

    with connect(url) as conn:
        row = conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                           (schema,)).fetchone()
    return row is not None
