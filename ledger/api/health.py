"""What GET /healthz checks. Each store is asked on a thread of its own (`asking.Asks`), all at
once and within one wait, so a store that hangs is reported as not answering, within a load
balancer's timeout, instead of holding the probe (and a thread per probe) for as long as it
hangs. A store that fails says why; the others are still checked."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from ledger.api.asking import STORE_WAIT
from ledger.api.ports import Ports

LAG_PROBE = 1000  # facts looked at beyond the newest applied one
STALE_AFTER = timedelta(seconds=60)  # an event not projected by then means a worker is missing


def health(ports: Ports, wait: float = STORE_WAIT) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + wait
    asks = ports.asks
    position = asks.start("event_store", ports.store.newest_position)
    models = asks.start("read_models", lambda: _read_models_answer(ports))
    kafka = asks.start("kafka", ports.kafka_probe) if ports.kafka_probe is not None else None
    at = position.answer(deadline)
    checks = {"event_store": _failed(at) if isinstance(at, BaseException) else
              {"ok": True, "position": at},
              "read_models": _read_models(ports, models.answer(deadline), at, deadline)}
    if kafka is not None:
        probed = kafka.answer(deadline)
        checks["kafka"] = _failed(probed) if isinstance(probed, BaseException) else probed
    stale = ports.cache.stale_for()
    checks["check_cache"] = {"ok": True, "entries": len(ports.cache)} if stale is None else {
        "ok": False, "entries": len(ports.cache), "stale_seconds": round(stale, 3),
        "error": "the check answers marked stale: " + (
            ports.cache.last_error or "the read models are not following the ledger")}
    return checks


def _failed(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


def _read_models_answer(ports: Ports) -> tuple[int, int | None]:
    """What the read database says: its watermark and, in the Kafka mode, the newest ledger
    position applied (the embedded follower keeps its own)."""
    applied = ports.models.newest_applied() if ports.follower is None else None
    return ports.models.watermark(), applied


def _read_models(ports: Ports, answer: Any, position: Any, deadline: float) -> dict[str, Any]:
    """The read models answer; in the embedded mode also how far the follower lags the ledger,
    and not ok while its rounds keep failing (it retries a failing batch forever). The lag is
    counted against the event store: None while that does not answer."""
    if isinstance(answer, BaseException):
        return _failed(answer)
    watermark, applied = answer
    check: dict[str, Any] = {"ok": True, "watermark": watermark, "lag": None}
    follower = ports.follower
    if isinstance(position, BaseException):
        pass
    elif follower is None:  # Kafka mode: are the relay and the projection workers keeping up?
        pending = ports.asks.start("lag", lambda: ports.store.facts_after(applied, LAG_PROBE)
                                   ).answer(deadline)
        if isinstance(pending, BaseException):  # the store answered, then failed this read
            check.update(_failed(pending))
        else:
            check["lag"] = len(pending)
            if pending and ports.clock() - pending[0].recorded_at > STALE_AFTER:
                check.update(ok=False, error=(
                    f"{len(pending)}{'+' if len(pending) == LAG_PROBE else ''} ledger events are "
                    f"not in the read models, the oldest recorded "
                    f"{pending[0].recorded_at:%Y-%m-%dT%H:%M:%SZ}: are `ledger relay` and "
                    "`ledger project` running and reaching Kafka?"))
    else:
        check["lag"] = follower.lag_behind(position)
    if follower is not None:
        error = follower.last_error
        if error is not None:
            rounds = max(1, follower.failures)  # read after the error: a success may come between
            check.update(ok=False, error=f"projecting the ledger failed {rounds} time"
                         f"{'' if rounds == 1 else 's'} in a row; last: {error}")
    return check
