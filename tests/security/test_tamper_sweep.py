"""The tamper sweep: one altered byte in any stored record of the event store, chosen at random,
is found by `ledger verify`, every time. Each try alters one value in place (a character of a
text, a byte of a blob, a bit of an integer, a null made a value), runs verify, and restores it.

Covered: every column of every row of the library's events table (the facts, their stream,
version, topic, position) and of our `ledger_facts` index table, and of the verifiable log's two
tables (`merkle_nodes`, `tree_heads`: what `ledger verify` checks once the chains hold). Not
covered, and why, is listed in docs/ledger.md ("What verify covers")."""

from __future__ import annotations

import copy
import random
import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from ledger.bootstrap import Wiring
from ledger.cli.proofs import audit_logs
from ledger.governance.releases import Releases
from ledger.integrity import verify
from ledger.licensefile import KeyRing, SigningKey
from ledger.proofs import VerifiableLog
from ledger.store.eventstore import CorruptStoreError
from tests.builders import CATALOG, catalog_envelope, envelope, t
from tests.integration import tampering

Make = Callable[..., Wiring]
TABLES = {"stored_events": "originator_id, originator_version, topic, state",
          "ledger_facts": "tenant, sequence, position, kind, subject, month, customer, source, "
                          "source_event_id, feature, quantity, effective_at, recorded_at"}
TREE_TABLES = {"merkle_nodes": ("tenant, level, idx, hash", "tenant, level, idx"),
               "tree_heads": ("tenant, tree_size, key_id, document", "tenant, tree_size, key_id")}
TRIES = {"sqlite": 1000, "postgres": 100}
TREE_TRIES = {"sqlite": 300, "postgres": 50}
REFUSED = (sqlite3.IntegrityError, psycopg.errors.UniqueViolation)
# An altered integer too big for the column (PostgreSQL INTEGER) is refused as well.
TREE_REFUSED = (*REFUSED, psycopg.errors.NumericValueOutOfRange)


def prepared(make: Make, url: str, **settings: object) -> Wiring:
    """Every kind of fact, two tenants, usage in two months, grants with customers, a trial,
    payments, and every release step and policy change (recorded by the release workflow),
    including the withdrawal of a scheduled version."""
    wiring = make(url, **settings)
    for tenant in ("acme", "globex"):
        outcomes = wiring.ledger.ingest([
            catalog_envelope(),
            envelope("license.granted", "2026-03-01", "lic-1", customer_id="cust-7", plan="pro", seats=3),
            envelope("license.trial_started", "2026-03-01", "lic-2", customer_id="cust-8",
                     plan="basic", ends_at="2026-04-01T00:00:00Z"),
            envelope("seat.assigned", "2026-03-02", "lic-1", user_id="u1"),
            envelope("usage.recorded", "2026-03-03", "lic-1", feature="api_calls", quantity=5),
            envelope("usage.recorded", "2026-04-03", "lic-1", feature="api_calls", quantity=7),
            envelope("license.suspended", "2026-04-05", "lic-1", reason="payment_failed"),
            *(envelope(kind, "2026-04-01", "lic-1", amount=4900, currency="EUR",
                       period_start="2026-04-01T00:00:00Z", period_end="2026-05-01T00:00:00Z",
                       invoice_id=f"inv-{n}", **extra)
              for n, (kind, extra) in enumerate([("payment.succeeded", {}),
                                                 ("payment.failed", {"reason": "card_declined"})])),
        ], tenant)
        assert {o.status for o in outcomes} == {"accepted"}, outcomes
        releases = Releases(wiring.ledger)
        releases.configure(tenant, "root", approvals_required=1, failed_payment_days=3)
        for version, last in (("v2", "publish"), ("v3", "reject"), ("v4", "withdraw")):
            releases.draft(tenant, "alice", {**copy.deepcopy(CATALOG), "version": version},
                           t("2026-05-01"))
            if last == "publish":
                releases.approve(tenant, version, "bob")
                releases.publish(tenant, version, "bob")
            elif last == "reject":
                releases.reject(tenant, version, "bob", "not now")
            else:
                releases.withdraw(tenant, version, "alice", "superseded")
        # published for a time still ahead, then withdrawn: a catalog.unscheduled
        releases.draft(tenant, "alice", {**copy.deepcopy(CATALOG), "version": "v5"},
                       t("2099-01-01"))
        releases.approve(tenant, "v5", "bob")
        releases.publish(tenant, "v5", "bob")
        releases.withdraw(tenant, "v5", "alice", "postponed")
    assert verify(wiring.store).ok
    return wiring


def cells(url: str) -> list[tuple[str, str, Any, Any]]:
    """(table, column, row key, value) of every stored value; the key is the row's position."""
    position = "rowid" if url.startswith("sqlite") else "notification_id"
    found = []
    for table, columns in TABLES.items():
        key = position if table == "stored_events" else "position"
        names = [c.strip() for c in columns.split(",")] + ([position] if table == "stored_events" else [])
        for row in tampering.run(url, f"SELECT {key}, {', '.join(names)} FROM {table}"):
            found += [(table, name, row[0], value) for name, value in zip(names, row[1:], strict=True)]
    return found


# Integer columns that may hold a null (the usage columns of a row that is not usage): a null
# there is made a number, which PostgreSQL's BIGINT takes (a text it refuses before storing).
NULLABLE_INTEGERS = {"quantity", "effective_at", "recorded_at"}


def altered(value: Any, rng: random.Random, column: str = "") -> Any:
    """The value with one byte changed (for a null: made a one-character text, or a number)."""
    if value is None:
        return rng.randrange(0, 2**40) if column in NULLABLE_INTEGERS else rng.choice("xZ0")
    if isinstance(value, bool | int):
        return value ^ (1 << rng.randrange(0, 48))
    if isinstance(value, uuid.UUID):
        text = value.hex
        i = rng.randrange(len(text))
        return uuid.UUID(hex=text[:i] + rng.choice([c for c in "0123456789abcdef" if c != text[i]])
                         + text[i + 1:])
    if isinstance(value, str):
        if not value:
            return rng.choice("xZ0")
        i = rng.randrange(len(value))
        other = rng.choice([chr(c) for c in range(32, 127) if chr(c) != value[i]])
        return value[:i] + other + value[i + 1:]
    raw = bytearray(value)
    i = rng.randrange(len(raw))
    raw[i] = rng.choice([b for b in range(256) if b != raw[i]])
    return bytes(raw)


def put(url: str, table: str, column: str, key: Any, value: Any) -> None:
    where = ("rowid" if url.startswith("sqlite") else "notification_id") if table == "stored_events" \
        else "position"
    tampering.run(url, f"UPDATE {table} SET {column} = %s WHERE {where} = %s", (value, key))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_every_single_altered_byte_in_the_event_store_is_found_by_verify(
        backend: str, wiring_factory: Make, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    wiring = prepared(wiring_factory, url)
    rng = random.Random(20261201)
    everything = cells(url)
    assert {(t, c) for t, c, _, _ in everything} >= {
        ("stored_events", "state"), ("ledger_facts", "customer"), ("ledger_facts", "quantity"),
        ("ledger_facts", "effective_at"), ("ledger_facts", "recorded_at"), ("ledger_facts", "feature")}
    missed, done = [], 0
    for _ in range(3 * TRIES[backend]):  # bounded: some alterations the database itself refuses
        if done == TRIES[backend]:
            break
        table, column, key, value = rng.choice(everything)
        changed = altered(value, rng, column)
        try:
            put(url, table, column, key, changed)
        except REFUSED:
            continue  # a unique or primary key refused the change: nothing was altered
        done += 1
        changed_key = changed if column in ("rowid", "notification_id", "position") else key
        try:
            verdict = verify(wiring.store)
        finally:
            put(url, table, column, changed_key, value)
        if verdict.ok:
            missed.append((table, column, key, value, changed))
    assert done == TRIES[backend]
    assert not missed, f"verify passed with these alterations: {missed[:5]}"
    assert verify(wiring.store).ok, "every alteration was restored"


def tree_cells(url: str) -> list[tuple[str, str, tuple[Any, ...], Any]]:
    """(table, column, primary key, value) of every stored value of the verifiable log."""
    found = []
    for table, (columns, key) in TREE_TABLES.items():
        names, keys = [c.strip() for c in columns.split(",")], [c.strip() for c in key.split(",")]
        for row in tampering.run(url, f"SELECT {key}, {columns} FROM {table}"):
            found += [(table, name, tuple(row[:len(keys)]), value)
                      for name, value in zip(names, row[len(keys):], strict=True)]
    return found


def put_tree(url: str, table: str, column: str, key: tuple[Any, ...], value: Any) -> None:
    keys = [c.strip() for c in TREE_TABLES[table][1].split(",")]
    where = " AND ".join(f"{k} = %s" for k in keys)
    tampering.run(url, f"UPDATE {table} SET {column} = %s WHERE {where}", (value, *key))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_every_single_altered_byte_in_the_verifiable_log_is_found_by_verify(
        backend: str, wiring_factory: Make, request: pytest.FixtureRequest) -> None:
    """The same sweep over the Merkle tree nodes and the signed tree heads, checked as
    `ledger verify` does: the chains, then every tenant's tree and every head signed."""
    url = request.getfixturevalue(f"{backend}_url")
    private = SigningKey.generate().private_key_base64()  # verify reads the key from settings
    wiring = prepared(wiring_factory, url, signing_key=private)
    log = VerifiableLog(wiring.store, KeyRing.from_private_key(private))
    for tenant in ("acme", "globex"):
        first = log.tree_head(tenant)["tree_head"]["tree_size"]
        outcomes = wiring.ledger.ingest([envelope("usage.recorded", "2026-04-04", "lic-1",
                                                  id=f"late-{i}", feature="api_calls", quantity=1)
                                         for i in range(32)], tenant)
        assert {o.status for o in outcomes} == {"accepted"}
        # a second head 32 events on: the tree has stored nodes (subtrees of 16 leaves and up)
        assert log.tree_head(tenant)["tree_head"]["tree_size"] == first + 32

    def verified() -> bool:
        verdict = verify(wiring.store)
        return verdict.ok and audit_logs(wiring.settings, wiring.store, None, list(verdict.tenants)) is None

    assert verified()
    rng = random.Random(20261202)
    everything = tree_cells(url)
    assert {t for t, _, _, _ in everything} == set(TREE_TABLES)
    missed, done = [], 0
    for _ in range(3 * TREE_TRIES[backend]):
        if done == TREE_TRIES[backend]:
            break
        table, column, row_key, value = rng.choice(everything)
        changed = altered(value, rng)
        try:
            put_tree(url, table, column, row_key, changed)
        except TREE_REFUSED:
            continue
        done += 1
        keys = [c.strip() for c in TREE_TABLES[table][1].split(",")]
        changed_key = tuple(changed if k == column else v for k, v in zip(keys, row_key, strict=True))
        try:
            ok = verified()
        finally:
            put_tree(url, table, column, changed_key, value)
        if ok:
            missed.append((table, column, row_key, value, changed))
    assert done == TREE_TRIES[backend]
    assert not missed, f"verify passed with these alterations: {missed[:5]}"
    assert verified(), "every alteration was restored"


@pytest.mark.parametrize("newest", ["2096-01-01T00:00:00Z", "2026-13-99T00:00:00Z", "garbled"])
def test_a_corrupt_head_stops_ingest_with_a_sentence_that_says_to_run_verify(
        newest: str, wiring_factory: Make, sqlite_url: str) -> None:
    wiring = prepared(wiring_factory, sqlite_url)
    stream, version, record = [r for r in tampering.fact_rows(sqlite_url) if r[2]["tenant"] == "acme"][-1]
    tampering.rewrite(sqlite_url, stream, version, {**record, "recorded_at": newest})
    assert not verify(wiring.store).ok
    usage = envelope("usage.recorded", "2026-04-04", "lic-2", feature="api_calls", quantity=1)
    with pytest.raises(CorruptStoreError, match="run `ledger verify`"):
        wiring.ledger.ingest([usage], "acme")
    assert wiring.ledger.ingest([usage], "globex")[0].status == "accepted", "other tenants go on"
