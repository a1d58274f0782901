"""compose.yaml runs the same topology as the real-services scripts: Kafka, PostgreSQL, our roles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"

OUR_ROLES = {
    "consume": ["ledger", "consume"],
    "relay": ["ledger", "relay"],
    "project": ["ledger", "project"],
    "serve": ["ledger", "serve"],
}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # resolves the <<: merges
    return document["services"]


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return command.split() if isinstance(command, str) else list(command)


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def test_the_file_declares_kafka_postgres_and_each_of_our_roles(services: dict[str, Any]) -> None:
    assert {"kafka", "postgres", *OUR_ROLES} <= set(services)


@pytest.mark.parametrize("role", sorted(OUR_ROLES))
def test_each_of_our_services_runs_the_ledger_command_with_its_subcommand(
    services: dict[str, Any], role: str
) -> None:
    assert command_of(services[role])[:2] == OUR_ROLES[role]


def test_the_api_listens_on_all_interfaces_inside_its_container(services: dict[str, Any]) -> None:
    command = command_of(services["serve"])
    assert command[command.index("--host") + 1] == "0.0.0.0"


@pytest.mark.parametrize("role", sorted(OUR_ROLES))
def test_each_of_our_services_is_told_where_postgres_and_kafka_are(
    services: dict[str, Any], role: str
) -> None:
    environment = environment_of(services[role])
    assert environment["LEDGER_DATABASE_URL"] == "postgresql://ledger:ledger@postgres:5432/ledger"
    assert environment["LEDGER_KAFKA_BOOTSTRAP"] == "kafka:9092"


@pytest.mark.parametrize("role", sorted(OUR_ROLES))
def test_each_of_our_services_waits_for_healthy_kafka_and_postgres(
    services: dict[str, Any], role: str
) -> None:
    depends_on = services[role]["depends_on"]
    for dependency in ("kafka", "postgres"):
        assert depends_on[dependency]["condition"] == "service_healthy"


@pytest.mark.parametrize("infrastructure", ["kafka", "postgres"])
def test_kafka_and_postgres_have_health_checks(services: dict[str, Any], infrastructure: str) -> None:
    test = services[infrastructure]["healthcheck"]["test"]
    assert test and test[0] in {"CMD", "CMD-SHELL"}


def test_the_postgres_credentials_match_the_url_our_services_use(services: dict[str, Any]) -> None:
    environment = environment_of(services["postgres"])
    assert (environment["POSTGRES_USER"], environment["POSTGRES_PASSWORD"],
            environment["POSTGRES_DB"]) == ("ledger", "ledger", "ledger")


def test_kafka_runs_as_a_single_kraft_node_advertising_kafka_9092(services: dict[str, Any]) -> None:
    environment = environment_of(services["kafka"])
    assert environment["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT://kafka:9092" in environment["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert environment["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


def test_our_services_are_built_from_the_dockerfile_in_the_repository(
    services: dict[str, Any]
) -> None:
    assert (COMPOSE.parent / "Dockerfile").is_file()
    for role in OUR_ROLES:
        build = services[role]["build"]
        assert (build if isinstance(build, str) else build["context"]) == "."
