"""Settings, read once in main() from the environment and a `.env` file; flags override them."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.events import tenant_problem


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=".env", extra="ignore",
                                      frozen=True)

    database_url: str = "sqlite:///ledger.db"
    read_database_url: str | None = None
    kafka_bootstrap: str | None = None
    tenant: str = "default"
    data_dir: Path = Path(".ledger")
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")
    log_level: str = "info"
    license_file_days: int = Field(default=30, ge=1, le=36_500)  # past that: out of time's range
    ingest_max_line_bytes: int = Field(default=4 * 2**20, ge=1)  # `ledger ingest` refuses longer lines
    # Slow clients (ledger.api.connections): seconds to send a request's headers, seconds an
    # idle kept-alive connection stays open, connections open at once.
    http_header_timeout: float = Field(default=10.0, gt=0)
    http_keepalive_timeout: float = Field(default=5.0, gt=0)
    http_max_connections: int = Field(default=1000, ge=1)
    # the oldest data a check may answer from while the read models fail (docs/api.md)
    check_max_stale: float = Field(default=60.0, ge=0)
    # base64 Ed25519 private key; generated in data_dir if unset. Secret: repr() shows '**********'.
    signing_key: SecretStr | None = None
    inbound_topic: str = "billing.events"
    rejected_topic: str = "billing.events.rejected"
    outbound_topic: str = "entitlements.events"
    consumer_group: str = "ledger-consume"
    projection_group: str = "ledger-project"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)  # workers' /metrics; off if unset
    metrics_host: str = "127.0.0.1"

    @field_validator("tenant")
    @classmethod
    def _a_tenant(cls, tenant: str) -> str:
        """LEDGER_TENANT names a tenant as an envelope's `tenantid` does."""
        if (problem := tenant_problem(tenant)) is not None:
            raise ValueError(problem)
        return tenant

    @property
    def read_url(self) -> str:
        return self.read_database_url or self.database_url
