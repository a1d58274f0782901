"""Shared fixtures. Services are real: `make test` starts PostgreSQL and Kafka and exports
LEDGER_TEST_POSTGRES_URL and LEDGER_TEST_KAFKA_BOOTSTRAP. A test that needs one and cannot
reach it fails, loudly; it is never skipped."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ledger.bootstrap import Wiring, bootstrap
from ledger.settings import Settings


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def postgres_url() -> str:
    """A fresh schema on the real PostgreSQL server, so tests never share state."""
    base = os.environ.get("LEDGER_TEST_POSTGRES_URL")
    if not base:
        pytest.fail("LEDGER_TEST_POSTGRES_URL is not set: run `make test` (or "
                    "`bash scripts/services.sh up` and source .cache/services.env)")
    return f"{base}?schema={unique('t')}"


@pytest.fixture
def kafka_bootstrap() -> str:
    bootstrap_servers = os.environ.get("LEDGER_TEST_KAFKA_BOOTSTRAP")
    if not bootstrap_servers:
        pytest.fail("LEDGER_TEST_KAFKA_BOOTSTRAP is not set: run `make test` (or "
                    "`bash scripts/services.sh up` and source .cache/services.env)")
    return bootstrap_servers


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store contract suite runs over both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def wiring_factory() -> Iterator[Callable[..., Wiring]]:
    made: list[Wiring] = []

    def make(url: str, **settings: object) -> Wiring:
        wiring = bootstrap(Settings(database_url=url, _env_file=None, **settings))  # type: ignore[call-arg]
        made.append(wiring)
        return wiring

    yield make
    for wiring in made:
        wiring.close()
