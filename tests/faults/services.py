"""A PostgreSQL server and a Kafka broker of the fault suite's own, on free ports, with their data
under `.cache/faults/`, so the suite can restart them without touching the services the other
tests share. Started and stopped with the project's own scripts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port(low: int = 20000, high: int = 30000) -> int:
    """A port below the ephemeral range (no client socket can hold it) that nothing listens on."""
    rng = uuid.uuid4().int
    for offset in range(high - low):
        port = low + (rng + offset * 7) % (high - low)
        if all(_free(p) for p in (port, port + 1)):
            return port
    raise RuntimeError("no free port pair between 20000 and 30000")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class OwnServices:
    pg_port: int = field(default_factory=free_port)
    kafka_port: int = 0
    home: Path = field(default_factory=lambda: ROOT / ".cache" / "faults" / uuid.uuid4().hex[:8])
    restarts: dict[str, int] = field(default_factory=lambda: {"postgres": 0, "kafka": 0})

    def __post_init__(self) -> None:
        if not self.kafka_port:
            self.kafka_port = free_port()
            while abs(self.kafka_port - self.pg_port) < 2:
                self.kafka_port = free_port()

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "LEDGER_PG_PORT": str(self.pg_port), "LEDGER_PG_DIR": str(self.home / "pg"),
               "LEDGER_KAFKA_PORT": str(self.kafka_port),
               "LEDGER_KAFKA_CONTROLLER_PORT": str(self.kafka_port + 1),
               "LEDGER_KAFKA_DIR": str(self.home / "kafka"), "LEDGER_KAFKA_HEAP": "384m"}
        return env

    @property
    def postgres_url(self) -> str:
        return f"postgresql://ledger:ledger@127.0.0.1:{self.pg_port}/ledger"

    @property
    def superuser_url(self) -> str:
        """Its superuser (trusted on loopback, as scripts/postgres.sh sets the server up)."""
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def _script(self, name: str, action: str) -> None:
        done = subprocess.run(["bash", f"scripts/{name}.sh", action], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"scripts/{name}.sh {action} failed:\n{done.stderr[-2000:]}")

    @classmethod
    def stop_leftovers(cls) -> None:
        """Stop the services of an earlier run whose test process was killed before its
        `down` (SIGKILL, a CI timeout): each run's own directory under .cache/faults/ holds
        its data and pid files, which is all the scripts' `down` needs."""
        for home in sorted((ROOT / ".cache" / "faults").glob("*")):
            if home.is_dir():
                cls(home=home).down()

    def up(self) -> None:
        self.up_postgres()
        shared_jars = ROOT / ".cache" / "kafka" / "libs"
        if any(shared_jars.glob(".complete-*")):  # resolved once, by `make test`'s own broker
            (self.home / "kafka").mkdir(exist_ok=True)
            (self.home / "kafka" / "libs").symlink_to(shared_jars)
        self._script("kafka", "up")

    def up_postgres(self) -> None:
        """The PostgreSQL server alone (`up` starts the broker after it; a test that changes
        server-wide settings needs only this)."""
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o755)  # the server runs as the `postgres` user when we are root
        self._script("postgres", "up")

    def restart(self, name: str) -> float:
        """Stop and start one of them; returns how long it was away, in seconds."""
        started = time.monotonic()
        self._script(name, "down")
        self._script(name, "up")
        self.restarts[name] += 1
        return time.monotonic() - started

    def down(self) -> None:
        for name in ("kafka", "postgres"):
            try:
                self._script(name, "down")
            except RuntimeError:
                pass
        shutil.rmtree(self.home, ignore_errors=True)
