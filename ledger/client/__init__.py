"""An in-process client for products: checks answered locally, from the customer's states as
the ledger last streamed them (`GET /v1/customers/{id}/changes`, server-sent events), with a
verified offline license file as the fallback while the ledger cannot be reached.

    client = EntitlementClient("http://127.0.0.1:8000", key, license_files={"cust-7": doc},
                               public_keys=published)
    client.watch("cust-7")                      # connects, waits for the first state
    client.check("cust-7", "sso").allowed       # no I/O: the decision of POST /v1/check

Every answer says which `source` gave it: "ledger" (the stream is live), "ledger_stale" (the
stream broke: the last states streamed, newer than any license file held), "license_file"
(the stream broke; a verified file of the customer, newer than what was streamed), or "none"
(nothing known: `no_license`). Offline answers are aged to the moment asked by the clock
alone (`LicenseState.aged`). The stream is read with urllib; verifying a license file needs
the package's `cryptography` and the ledger's pure domain (which imports pydantic).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.domain.check import Decision, decide
from ledger.domain.state import LicenseState
from ledger.licensefile import LicenseFileError, verify_license_file
from schemas.times import parse_time

RETRY = 0.5  # seconds between reconnections while the ledger cannot be reached


@dataclass(frozen=True, slots=True)
class Answer:
    """A decision and the source it was made from."""

    decision: Decision
    source: str

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    @property
    def reason(self) -> str:
        return self.decision.reason


@dataclass
class _Customer:
    states: list[LicenseState]
    live: bool
    updated: float  # monotonic time of the last state streamed
    arrived: threading.Event
    as_of: datetime | None = None  # the ledger's time of the last states streamed


class EntitlementClient:
    def __init__(self, base_url: str, key: str, *,
                 license_files: Mapping[str, dict[str, Any] | str | bytes] | None = None,
                 public_keys: dict[str, str] | str | None = None, timeout: float = 5.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        """`license_files`: customer id -> a license file (as `GET .../license-file` gave it);
        `public_keys`: what to verify them with (`GET /v1/license-files/keys` or one key)."""
        self.base_url, self._key, self.timeout, self._clock = base_url.rstrip("/"), key, timeout, clock
        self._files = dict(license_files or {})
        self._public_keys = public_keys
        self._customers: dict[str, _Customer] = {}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.on_change: Callable[[str], None] = lambda customer_id: None

    def watch(self, customer_id: str, wait: float | None = None) -> bool:
        """Follow the customer's changes from now on; True once a first state arrived within
        `wait` seconds (default: the timeout), False if the ledger could not be reached."""
        if (known := self._customers.get(customer_id)) is not None:
            return known.arrived.is_set()  # only the first watch waits
        with self._lock:
            known = self._customers.get(customer_id)
            if known is None:
                known = self._customers[customer_id] = _Customer([], False, 0.0, threading.Event())
                thread = threading.Thread(target=self._follow, args=(customer_id,), daemon=True,
                                          name=f"ledger-client-{customer_id}")
                self._threads.append(thread)
                thread.start()
        return known.arrived.wait(self.timeout if wait is None else wait)

    def check(self, customer_id: str, feature: str, quantity: int = 1) -> Answer:
        """The decision of `POST /v1/check`, made here from what is held (no I/O). Offline,
        from the newer of the last states streamed and a verified license file, each aged
        to now by the clock alone (`LicenseState.aged`: a term's end, a new usage month)."""
        held = self._customers.get(customer_id)
        if held is not None and held.live:
            return Answer(decide(held.states, feature, quantity), "ledger")
        now = self._clock()
        streamed_at = held.as_of if held is not None else None
        offline = self._license_file_states(customer_id, now)
        if offline is not None and (streamed_at is None or offline[0] > streamed_at):
            return Answer(decide([s.aged(now) for s in offline[1]], feature, quantity),
                          "license_file")
        if held is not None and streamed_at is not None:
            return Answer(decide([s.aged(now) for s in held.states], feature, quantity),
                          "ledger_stale")
        return Answer(decide([], feature, quantity), "none")

    def close(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(2 * self.timeout)

    def _license_file_states(self, customer_id: str, now: datetime
                             ) -> tuple[datetime, list[LicenseState]] | None:
        """When the customer's file was issued and its states, if it verifies at `now`."""
        document = self._files.get(customer_id)
        if document is None or self._public_keys is None:
            return None
        try:
            verified = verify_license_file(document, self._public_keys, now)
        except (LicenseFileError, ValueError, KeyError):
            return None  # expired, forged or malformed: not an answer
        issued = parse_time(verified.license["issued_at"])
        return issued, [LicenseState.from_dict(s, issued) for s in verified.licenses
                        if s.get("customer_id") == customer_id]

    def _follow(self, customer_id: str) -> None:
        """Read the stream, reconnecting every RETRY seconds while the ledger is unreachable."""
        path = f"/v1/customers/{urllib.parse.quote(customer_id, safe='')}/changes"
        request = urllib.request.Request(self.base_url + path, headers={
            "Authorization": f"Bearer {self._key}", "Accept": "text/event-stream"})
        held = self._customers[customer_id]
        while not self._stopping.is_set():
            try:
                with urllib.request.urlopen(request, timeout=self.timeout + 20) as stream:
                    self._read(customer_id, held, stream)
            except (OSError, urllib.error.URLError, ValueError):
                pass
            held.live = False
            self._stopping.wait(RETRY)

    def _read(self, customer_id: str, held: _Customer, stream: Any) -> None:
        event, data = "", []
        for raw in stream:
            if self._stopping.is_set():
                return
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line and event == "stale":  # the server cannot keep them fresh now
                held.live = False
                event, data = "", []
            elif not line and event == "entitlements" and data:
                document = json.loads("\n".join(data))
                as_of = parse_time(document["as_of"])
                held.states = [LicenseState.from_dict(s, as_of) for s in document["licenses"]]
                held.live, held.updated, held.as_of = True, time.monotonic(), as_of
                held.arrived.set()
                self.on_change(customer_id)
                event, data = "", []
            elif not line:
                event, data = "", []
