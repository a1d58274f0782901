"""`ledger up` (what `make run` runs) from outside: started in an empty directory on a free
port, it loads the demo and prints an admin key and curl lines; each line, run as printed,
gets the answer the contract promises. A restart keeps the data and the key."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.licensefile import public_keys_from_published, verify_license_file

LEDGER = str(Path(sys.executable).with_name("ledger"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Up:
    def __init__(self, directory: Path, port: int):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        self.process = subprocess.Popen([LEDGER, "up", "--port", str(port)], cwd=directory,
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.printed = self._read_banner()

    def _read_banner(self, timeout: float = 60) -> str:
        assert self.process.stdout is not None
        deadline, lines = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise AssertionError(f"ledger up exited: {self.process.stderr.read()}")  # type: ignore[union-attr]
            lines.append(line)
            if "Ctrl-C" in line:
                return "".join(lines)
        raise AssertionError("ledger up printed no banner in time")

    @property
    def key(self) -> str:
        return next(w for w in self.printed.split() if w.startswith("ldg_"))

    @property
    def curl_lines(self) -> list[str]:
        return [line.strip() for line in self.printed.splitlines() if line.strip().startswith("curl ")]

    def stop(self, how: signal.Signals = signal.SIGINT) -> int:
        self.process.send_signal(how)
        try:
            return self.process.wait(20)
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def up(directory: Path) -> Iterator[Up]:
    started = Up(directory, free_port())
    yield started
    if started.process.poll() is None:
        started.stop()


def run(line: str) -> Any:
    """Run a printed curl line: with curl if installed, else the same request with httpx."""
    words = shlex.split(line)
    assert words[0] == "curl"
    if shutil.which("curl"):
        done = subprocess.run(words, capture_output=True, text=True, timeout=30, check=True)
        return json.loads(done.stdout)
    headers, data, url = {}, None, None
    rest = iter(words[1:])
    for word in rest:
        if word == "-H":
            name, _, value = next(rest).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            data = next(rest)
        elif not word.startswith("-"):
            url = word
    assert url is not None
    answer = httpx.request("POST" if data else "GET", url, headers=headers, content=data)
    return answer.json()


def paths(up: Up) -> dict[str, str]:
    """The printed lines by what they ask, so the test reads like the README."""
    found = {}
    for line in up.curl_lines:
        url = next(w for w in shlex.split(line) if w.startswith("http"))
        key = url.split("/", 3)[3].split("?")[0]
        found[key + ("?as_of" if "as_of=" in url else "")] = line
    return found


def test_ledger_up_serves_the_demo_and_every_printed_curl_line_works(up: Up) -> None:
    lines = paths(up)
    assert len(lines) >= 7, up.printed
    assert run(lines["healthz"])["status"] == "ok"

    check = run(lines["v1/check"])
    assert check["allowed"] is True and check["license_id"] == "lic-acme-1"
    assert check["limit"] == 100000 and check["used"] >= 1200

    current = run(lines["v1/customers/cust-acme/entitlements"])
    assert [(s["plan"], s["status"], s["seats"]) for s in current["licenses"]] == [("pro", "active", 10)]
    past = run(lines["v1/customers/cust-acme/entitlements?as_of"])
    assert [s["plan"] for s in past["licenses"]] == ["basic"]

    history = run(lines["v1/licenses/lic-umbrella-1/history"])
    assert "superseded" in [e["status"] for e in history["events"]]

    posted = run(lines["v1/events"])
    assert posted["results"][0]["status"] == "accepted"
    assert run(lines["v1/events"])["results"][0]["status"] == "duplicate"
    assert run(lines["v1/check"])["used"] == check["used"] + 5  # read your writes

    document = run(lines["v1/customers/cust-acme/license-file"])
    base = lines["healthz"].split()[-1].rsplit("/", 1)[0]
    published = httpx.get(f"{base}/v1/license-files/keys").json()
    verified = verify_license_file(document, public_keys_from_published(published))
    assert verified.license["customer_id"] == "cust-acme"


def test_a_restart_keeps_the_data_and_the_admin_key(up: Up, directory: Path) -> None:
    first_key = up.key
    lines = paths(up)
    run(lines["v1/events"])
    assert up.stop() == 0
    again = Up(directory, free_port())
    try:
        assert again.key == first_key
        history = run(paths(again)["v1/licenses/lic-umbrella-1/history"])
        assert len(history["events"]) == 3  # the demo was not loaded twice
        assert run(paths(again)["v1/check"])["used"] >= 1205
    finally:
        assert again.stop(signal.SIGTERM) == 0
