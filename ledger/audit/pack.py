"""The audit pack: a directory an auditor takes home and checks with no access to the ledger.

`export` writes, for the events effective in [from, to) (one customer's, or the tenant's):

- `events.jsonl` and `events.csv`: each event as hashed (with `sequence`, `prev_hash`, `hash`,
  `position`), so its hash can be recomputed;
- `states-from.json`, `states-to.json`: every license's state at `from` and at `to`;
- `catalogs.json`: the catalog versions in force at some moment of the period;
- `tree-head.json`: the signed tree head of the tenant's log as exported, covering every event;
- `proofs.jsonl`: an inclusion proof of each exported event against that head;
- `manifest.json`: each file's SHA-256 and what the pack covers, signed like a tree head
  (Ed25519 over RFC 8785) with the license-file key.

The events are proven by the signed tree head (any auditor's RFC 9162 verifier agrees); the
other files by the signed manifest. `verify.py` beside this module checks all of it.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ledger.domain.chain import content
from ledger.domain.facts import Fact
from ledger.licensefile.keys import KeyRing
from ledger.licensefile.treehead import sign_document
from ledger.proofs import VerifiableLog
from ledger.service import Ledger
from schemas.times import format_time

FORMAT = "ledger-audit-pack/1"
CSV_COLUMNS = ["sequence", "position", "type", "subject", "effective_at", "recorded_at", "source",
               "source_event_id", "hash", "prev_hash", "data"]


def event_row(fact: Fact) -> dict[str, Any]:
    """The event as hashed (contract section 7), plus its own hash and ledger position."""
    return {**content(fact), "hash": fact.hash, "position": fact.position}


def export(ledger: Ledger, log: VerifiableLog, keyring: KeyRing, tenant: str, start: datetime,
           end: datetime, directory: Path, customer_id: str | None = None, *, now: datetime,
           progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write the pack to `directory` (made if missing, refused if not empty); its manifest."""
    if end <= start:
        raise ValueError("--to must be later than --from")
    made = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise ValueError(f"{directory} is not empty: give a new directory for the pack")
    try:
        head = log.tree_head(tenant)
    except Exception:
        if made:  # a pack refused before its first file leaves no directory behind
            directory.rmdir()
        raise
    size = head["tree_head"]["tree_size"]
    store = log.store
    facts = []
    for done, sequence in enumerate(_sequences(ledger, tenant, customer_id, size), start=1):
        fact = store.fact_at_sequence(tenant, sequence)
        if fact is not None and start <= fact.effective_at < end:
            facts.append(fact)
        if progress and done % 1000 == 0:
            progress(done, size)
    rows = [event_row(f) for f in facts]
    files: dict[str, bytes] = {
        "events.jsonl": "".join(_line(r) for r in rows).encode(),
        "events.csv": _csv(rows),
        "states-from.json": _json(ledger.replay(tenant, start, now, customer_id=customer_id)),
        "states-to.json": _json(ledger.replay(tenant, end, now, customer_id=customer_id)),
        "catalogs.json": _json(_catalogs(ledger, tenant, start, end, now)),
        "tree-head.json": _json(head),
    }
    proofs = []
    for start_at in range(0, len(facts), 1000):
        proofs += [_line(p) for p in log.proofs_of(facts[start_at:start_at + 1000], size)]
        if progress:
            progress(len(proofs), len(facts))
    files["proofs.jsonl"] = "".join(proofs).encode()
    body = {"format": FORMAT, "tenant": tenant, "customer_id": customer_id,
            "from": format_time(start), "to": format_time(end), "created_at": format_time(now),
            "tree_size": size, "events": len(rows),
            "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}}
    manifest = sign_document(keyring, "manifest", body)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    (directory / "manifest.json").write_bytes(_json(manifest))
    return manifest


def _sequences(ledger: Ledger, tenant: str, customer_id: str | None, size: int) -> list[int]:
    """Every sequence of the tenant's log, or those of the customer's licenses' events."""
    if customer_id is None:
        return list(range(1, size + 1))
    store = ledger.store
    found: set[int] = set()
    for license_id in store.licenses_of_customer(tenant, customer_id):
        found.update(f.sequence for f in store.license_facts(tenant, license_id))
        found.update(f.sequence for f in store.usage_facts(tenant, license_id))
    return sorted(s for s in found if s <= size)


def _catalogs(ledger: Ledger, tenant: str, start: datetime, end: datetime,
              now: datetime) -> list[dict[str, Any]]:
    history = ledger.store.catalogs(tenant)
    first = history.published_in_force(start, now)
    chosen = [f for f in history.facts if start < f.effective_at < end and f.recorded_at <= now]
    if first is not None:
        chosen.insert(0, first[0])
    return [{"version": f.subject, "in_force_from": format_time(f.effective_at),
             "recorded_at": format_time(f.recorded_at), "sequence": f.sequence, "hash": f.hash,
             "catalog": f.data} for f in chosen]


def _line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n"


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def _csv(rows: list[dict[str, Any]]) -> bytes:
    from io import StringIO

    out = StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "data": json.dumps(row["data"], ensure_ascii=False, sort_keys=True)})
    return out.getvalue().encode()
