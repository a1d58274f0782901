"""Small things a newcomer trips over: secrets in repr, misspelt settings, help on every
option, API docs that work offline, `make run` without the dev tools."""

from __future__ import annotations

import re
from pathlib import Path

import click
from fastapi.testclient import TestClient

from ledger.api.app import application
from ledger.cli.environment import unknown_variables, warnings
from ledger.cli.main import COMMAND_MODULES, cli
from ledger.settings import Settings

ROOT = Path(__file__).parents[2]


def test_the_settings_never_show_the_signing_key() -> None:
    settings = Settings(signing_key="c2VjcmV0LXNpZ25pbmcta2V5LW9mLTMyLWJ5dGVzISE=")
    assert "c2VjcmV0" not in repr(settings) and "c2VjcmV0" not in str(settings)
    assert settings.signing_key is not None
    assert settings.signing_key.get_secret_value().startswith("c2VjcmV0")


def test_a_misspelt_setting_is_named_with_the_one_it_probably_meant() -> None:
    found = unknown_variables(["LEDGER_DATABSE_URL", "LEDGER_TENANT", "LEDGER_FOO", "PATH",
                               "LEDGER_TEST_POSTGRES_URL", "LEDGER_PG_PORT", "LEDGER_KAFKA_HEAP"])
    assert found == [("LEDGER_DATABSE_URL", "LEDGER_DATABASE_URL"), ("LEDGER_FOO", None)]


def test_dotenv_typos_are_warned_about_with_the_file_named(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LEDGER_LOG_LEVL=debug\nLEDGER_TENANT=acme\n", encoding="utf-8")
    lines = warnings({}, tmp_path / ".env")
    assert lines == [f"warning: LEDGER_LOG_LEVL in {tmp_path / '.env'} is not a ledger setting "
                     "and is ignored (did you mean LEDGER_LOG_LEVEL?)"]


def _options(command: click.Command, path: str) -> list[tuple[str, click.Option]]:
    found = [(path, p) for p in command.params if isinstance(p, click.Option)]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += _options(sub, f"{path} {name}")
    return found


def test_every_option_of_every_command_has_help_and_times_say_rfc_3339_with_a_zone() -> None:
    context = click.Context(cli)
    options = _options(cli, "ledger")
    for name in COMMAND_MODULES:
        command = cli.get_command(context, name)
        assert command is not None
        options += _options(command, f"ledger {name}")
    assert len(options) > 30
    assert [f"{path} {o.opts[0]}" for path, o in options if not o.help] == []
    times = [o for _, o in options if o.opts[0] in ("--as-of", "--known-at", "--effective-at")]
    assert times and all("RFC 3339 with a zone" in (o.help or "") for o in times)


def test_the_api_docs_load_their_scripts_from_the_package_not_a_cdn() -> None:
    client = TestClient(application())
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/docs/static/") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200
    assert "http://" not in page.text.replace("http://www.w3.org", "") and "https://" not in page.text


def test_make_run_installs_the_project_without_its_dev_tools() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    run_target = re.search(r"^run: (\S+)", makefile, re.M)
    assert run_target and run_target.group(1) == "$(RUN_STAMP)"
    recipe = makefile.split("$(RUN_STAMP): pyproject.toml", 1)[1].split("\n\n", 1)[0]
    assert 'pip install -q -e .\n' in recipe + "\n" and "[dev]" not in recipe
