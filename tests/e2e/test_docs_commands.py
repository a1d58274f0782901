"""Every command and curl line of README.md and docs/*.md, run as written against `ledger up`
(the demo, tenant `demo`) with the examples loaded (tenant `acme`), so none goes stale.

The docs name a few values a reader has by then; the test gives them real ones: `$KEY` (the
demo admin key `ledger up` prints), `$ACME_KEY` / `$AUDITOR_KEY` (keys of tenant acme),
`$KEY_ID` (a key to revoke), `$PUBLIC_KEY` / `$PUBLIC_KEY_ID` (of `ledger license-file keys`)
and `$HEAD` (`SEQUENCE:HASH` of acme's head). A block preceded by `<!-- not run: REASON -->`
is skipped: it starts long-running processes, and REASON says where those are tested.

A line runs if it starts with `ledger ` or `curl ` (with its `\\` continuations); it must exit
0, and an answer must not be an error document, a rejection or an empty list of licenses."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import run, run_json
from tests.e2e.test_up import Up, free_port

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
NOT_RUN = re.compile(r"<!-- not run: (.+?) -->\s*\Z")
SHELL_LANGUAGES = {"", "sh", "bash", "shell", "console"}


def commands(text: str) -> list[str]:
    """The runnable lines of a document's shell blocks, continuation lines joined."""
    found = []
    for match in FENCE.finditer(text):
        if match.group(1) not in SHELL_LANGUAGES:
            continue
        if NOT_RUN.search(text[:match.start()].rstrip()):
            continue
        lines = iter(match.group(2).splitlines())
        for line in lines:
            if not line.startswith(("ledger ", "curl ")):
                continue
            command = line
            while command.endswith("\\") or not _complete(command):
                command += "\n" + next(lines)
            found.append(command)
    return found


def _complete(command: str) -> bool:
    try:
        shlex.split(command, comments=True)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return True


def test_the_runner_finds_the_commands_and_honours_not_run() -> None:
    text = "```sh\nledger head --tenant a \\\n  --format json\ncurl -s -d '{\"a\":\n 1}' URL\n# out\n```\n" \
           "<!-- not run: slow -->\n```sh\nledger relay\n```\n```json\n{\"ledger \": 1}\n```\n"
    assert commands(text) == ["ledger head --tenant a \\\n  --format json", "curl -s -d '{\"a\":\n 1}' URL"]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("docs")
    shutil.copytree(ROOT / "examples", directory / "examples")
    port = free_port()
    up = Up(directory, port)
    try:
        run(directory, "catalog", "publish", "examples/catalog.json", "--tenant", "acme",
            "--effective-at", "2026-01-01T00:00:00Z")
        run(directory, "ingest", "examples/events.jsonl", "--tenant", "acme")
        keys = json.loads(run(directory, "license-file", "keys").stdout)["keys"][0]
        head = json.loads(run(directory, "head", "--tenant", "acme").stdout)
        values = {
            "KEY": up.key,
            "ACME_KEY": _key(directory, "admin"), "AUDITOR_KEY": _key(directory, "auditor"),
            "PUBLIC_KEY": keys["public_key"], "PUBLIC_KEY_ID": keys["key_id"],
            "HEAD": f"{head['sequence']}:{head['hash']}",
        }
        yield directory, f"http://127.0.0.1:{port}", values
    finally:
        up.stop()


def _key(directory: Path, role: str) -> str:
    return str(run_json(directory, "apikey", "create", "--tenant", "acme", "--role", role)["key"])


def check_answer(command: str, stdout: str) -> None:
    """An answer that is JSON must not be a refusal, a rejection or an empty list of licenses.
    A command that sends its answer to a file is checked by the commands that read the file."""
    if not stdout and re.search(r"\s>\s*\S+\s*(#.*)?$", command):
        return
    try:
        answer: Any = json.loads(stdout)
    except ValueError:
        assert not command.startswith("curl "), f"not JSON: {stdout[:300]}"
        return
    if isinstance(answer, dict):
        assert set(answer) != {"code", "message"}, answer
        assert all(r.get("status") != "rejected" for r in answer.get("results", [])), answer
        assert answer.get("licenses", [None]) != [], f"no licenses: {answer}"
        assert answer.get("events", [None]) != [], f"no events: {answer}"


@pytest.mark.parametrize("document", DOCS, ids=lambda p: p.name)
def test_every_command_of_the_document_runs_as_written(
        document: Path, system: tuple[Path, str, dict[str, str]]) -> None:
    directory, base, values = system
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment.update(values)
    text = document.read_text(encoding="utf-8")
    if "$KEY_ID" in text:  # a fresh key for the document to revoke
        environment["KEY_ID"] = run_json(directory, "apikey", "create", "--tenant", "acme",
                                         "--role", "service")["key_id"]
    for command in commands(text):
        line = command.replace("http://127.0.0.1:8000", base)
        done = subprocess.run(["bash", "-c", line], cwd=directory, env=environment, text=True,
                              capture_output=True, timeout=120)
        assert done.returncode == 0, f"{document.name}: {command}\nexit {done.returncode}: {done.stderr}"
        check_answer(command, done.stdout)
