"""Direct SQL on the event store, as an attacker or a careless DBA would do it."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ledger.store.database import library_settings


def run(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    settings = library_settings(url)
    if settings["PERSISTENCE_MODULE"].endswith("sqlite"):
        with sqlite3.connect(settings["SQLITE_DBNAME"]) as conn:
            return conn.execute(statement.replace("%s", "?"), params).fetchall()
    import psycopg

    schema = settings.get("POSTGRES_SCHEMA", "public")
    with psycopg.connect(host=settings["POSTGRES_HOST"], port=settings["POSTGRES_PORT"],
                         user=settings["POSTGRES_USER"], password=settings["POSTGRES_PASSWORD"],
                         dbname=settings["POSTGRES_DBNAME"], autocommit=True,
                         options=f"-csearch_path={schema}") as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def fact_rows(url: str) -> list[tuple[Any, int, dict[str, Any]]]:
    """(originator_id, version, record) of every fact, in ledger order."""
    rows = run(url, "SELECT originator_id, originator_version, state FROM stored_events "
                    "WHERE topic LIKE 'fact:%%' ORDER BY originator_id, originator_version")
    facts = [(r[0], r[1], json.loads(bytes(r[2]))) for r in rows]
    return sorted(facts, key=lambda f: f[2]["sequence"])


def rewrite(url: str, originator_id: Any, version: int, record: dict[str, Any]) -> None:
    run(url, "UPDATE stored_events SET state = %s WHERE originator_id = %s AND originator_version = %s",
        (json.dumps(record).encode(), originator_id, version))


def delete(url: str, originator_id: Any, version: int) -> None:
    run(url, "DELETE FROM stored_events WHERE originator_id = %s AND originator_version = %s",
        (originator_id, version))


def move(url: str, originator_id: Any, version: int, to_stream: Any, to_version: int) -> None:
    run(url, "UPDATE stored_events SET originator_id = %s, originator_version = %s "
             "WHERE originator_id = %s AND originator_version = %s",
        (to_stream, to_version, originator_id, version))


def cut_tail(url: str, from_position: int) -> None:
    """Remove every record from a ledger position on, as a restore from an old backup would."""
    column = "rowid" if library_settings(url)["PERSISTENCE_MODULE"].endswith("sqlite") else "notification_id"
    run(url, f"DELETE FROM stored_events WHERE {column} >= %s", (from_position,))
    run(url, "DELETE FROM ledger_facts WHERE position >= %s", (from_position,))


def rewrite_index(url: str, tenant: str, sequence: int, column: str, value: Any) -> None:
    """Change one column of a fact's index row (its receipt and index entry)."""
    run(url, f"UPDATE ledger_facts SET {column} = %s WHERE tenant = %s AND sequence = %s",
        (value, tenant, sequence))


def delete_index(url: str, tenant: str, sequence: int) -> None:
    run(url, "DELETE FROM ledger_facts WHERE tenant = %s AND sequence = %s", (tenant, sequence))
