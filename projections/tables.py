"""The read-model tables, in SQL that runs on SQLite and PostgreSQL alike.

What the fold needs is stored as facts (a license's own facts, bounded because usage is not
among them; a tenant's catalog versions) and usage as running totals per (license, feature,
month). The other tables are denormalised for people who query with SQL; the answers of the
API come from the fold at request time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ledger.store.sql import Cursor, Database
from projections import changes

TABLES = (
    # one row per tenant: the lock a catalog change takes to exclude license writers
    "CREATE TABLE IF NOT EXISTS rm_tenants (tenant TEXT PRIMARY KEY)",
    """CREATE TABLE IF NOT EXISTS rm_licenses (
        tenant TEXT NOT NULL, license_id TEXT NOT NULL, customer_id TEXT,
        facts TEXT NOT NULL, first_position BIGINT NOT NULL, last_position BIGINT NOT NULL,
        PRIMARY KEY (tenant, license_id))""",
    "CREATE INDEX IF NOT EXISTS rm_licenses_by_customer ON rm_licenses (tenant, customer_id)",
    """CREATE TABLE IF NOT EXISTS rm_catalogs (
        tenant TEXT NOT NULL, version TEXT NOT NULL, position BIGINT NOT NULL,
        record TEXT NOT NULL, PRIMARY KEY (tenant, version))""",
    """CREATE TABLE IF NOT EXISTS rm_usage_totals (
        tenant TEXT NOT NULL, license_id TEXT NOT NULL, feature TEXT NOT NULL,
        month TEXT NOT NULL, quantity BIGINT NOT NULL, first_us BIGINT NOT NULL,
        last_us BIGINT NOT NULL, PRIMARY KEY (tenant, license_id, feature, month))""",
    # single usage facts, read only when a grant, revocation or the moment asked about falls
    # inside a month's span (a late revocation, say); the totals answer everything else
    """CREATE TABLE IF NOT EXISTS rm_usage (
        position BIGINT PRIMARY KEY, tenant TEXT NOT NULL, license_id TEXT NOT NULL,
        feature TEXT NOT NULL, month TEXT NOT NULL, effective_us BIGINT NOT NULL,
        sequence BIGINT NOT NULL, quantity BIGINT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS rm_usage_by_month ON rm_usage (tenant, license_id, feature, month)",
    # the check's cache asks for the first usage still ahead: a seek, not a scan of the past
    "CREATE INDEX IF NOT EXISTS rm_usage_by_time ON rm_usage (tenant, license_id, effective_us)",
    """CREATE TABLE IF NOT EXISTS rm_license_states (
        tenant TEXT NOT NULL, license_id TEXT NOT NULL, customer_id TEXT NOT NULL,
        status TEXT NOT NULL, as_of TEXT NOT NULL, state TEXT NOT NULL,
        PRIMARY KEY (tenant, license_id))""",
    "CREATE INDEX IF NOT EXISTS rm_license_states_by_customer ON rm_license_states "
    "(tenant, customer_id)",
    """CREATE TABLE IF NOT EXISTS rm_seats (
        tenant TEXT NOT NULL, license_id TEXT NOT NULL, user_id TEXT NOT NULL,
        customer_id TEXT NOT NULL, PRIMARY KEY (tenant, license_id, user_id))""",
    """CREATE TABLE IF NOT EXISTS rm_features (
        tenant TEXT NOT NULL, license_id TEXT NOT NULL, feature TEXT NOT NULL,
        customer_id TEXT NOT NULL, enabled INTEGER NOT NULL,
        PRIMARY KEY (tenant, license_id, feature))""",
    "CREATE INDEX IF NOT EXISTS rm_features_by_customer ON rm_features (tenant, customer_id)",
    "CREATE TABLE IF NOT EXISTS rm_applied (position BIGINT PRIMARY KEY)",
    """CREATE TABLE IF NOT EXISTS rm_tracking (
        tracking_key TEXT PRIMARY KEY, value BIGINT NOT NULL, changes BIGINT NOT NULL)""",
    *changes.TABLES,
)

NAMES = ("rm_tenants", "rm_licenses", "rm_catalogs", "rm_usage_totals", "rm_usage",
         "rm_license_states", "rm_seats", "rm_features", "rm_applied", "rm_tracking")
# not rm_changes: `clear` keeps the feed, so its numbering goes on and a reader never mistakes
# the rows of a rebuild for the ones it has already seen

def create(db: Database) -> None:
    db.create_tables(TABLES)


_PARAMS = 1000  # per statement; far below SQLite's and PostgreSQL's limits


def insert(cur: Cursor, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
           suffix: str = "") -> list[tuple[Any, ...]]:
    """Multi-row INSERTs of up to a thousand values: one round trip instead of one per row.
    `suffix` is e.g. "ON CONFLICT ... DO NOTHING RETURNING ..." (SQLite 3.35 or later); the
    returned rows are collected."""
    found: list[tuple[Any, ...]] = []
    row = "(" + ", ".join("?" * len(columns)) + ")"
    if cur.postgres:
        # One statement whatever the row count, one array per column: a multi-row VALUES
        # changes its text with the row count, and psycopg would parse each one afresh.
        if not rows:
            return found
        arrays = [list(column) for column in zip(*rows, strict=True)]
        unnest = ", ".join(_pg_array(a) for a in arrays)
        cur.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({unnest}) "
                    f"{suffix}", arrays, prepare=True)
        return cur.fetchall() if "RETURNING" in suffix else found
    for chunk in chunks(rows, _PARAMS // len(columns)):
        cur.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                    f"{', '.join([row] * len(chunk))} {suffix}",
                    [value for r in chunk for value in r])
        if "RETURNING" in suffix:
            found += cur.fetchall()
    return found


def _pg_type(values: Sequence[Any]) -> str:
    """The array type of a column's values: integers are bigint, anything else is text."""
    present = [v for v in values if v is not None]
    return "bigint" if present and all(isinstance(v, int) for v in present) else "text"


def _pg_array(values: Sequence[Any]) -> str:
    """The placeholder of one column's array, with its type. In binary (`%b`) when every value
    is exactly of the array's own type (or null): psycopg then sends each as it is, where the
    text format escapes element by element in Python, a regular expression for each (~1/4 of
    a projector's CPU per event). Anything else (a bool, a float, a time in a text column) keeps
    the text format, whose spelling of it the tables have always held."""
    kinds = set(map(type, values))  # one pass in C: a column holds one or two types
    kinds.discard(type(None))
    if kinds == {int}:
        return "%b::bigint[]"
    if kinds <= {str}:  # strings, or nothing but nulls
        return "%b::text[]"
    return f"?::{_pg_type(values)}[]"


def chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def marks(items: Sequence[Any]) -> str:
    """`?, ?, ?` for an IN list."""
    return ", ".join("?" * len(items))


def clear(db: Database) -> None:
    """Empty every read model (rows, not tables, so concurrent readers never see one missing)."""
    with db.transaction() as cur:
        for name in NAMES:
            cur.execute(f"DELETE FROM {name}")
