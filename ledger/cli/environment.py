"""Misspelt settings are warned about, not silently ignored: a `LEDGER_*` variable in the
environment or `.env` that names no setting is most likely a typo of one that does."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from dotenv import dotenv_values

from ledger.settings import Settings

# Read by our scripts and tests, not by `ledger` itself.
TOOL_PREFIXES = ("LEDGER_TEST_", "LEDGER_PG_")
TOOL_VARIABLES = frozenset({"LEDGER_KAFKA_PORT", "LEDGER_KAFKA_CONTROLLER_PORT",
                            "LEDGER_KAFKA_TIMEOUT", "LEDGER_KAFKA_HEAP"})


def settings_names() -> list[str]:
    return [f"LEDGER_{name.upper()}" for name in Settings.model_fields]


def unknown_variables(names: Iterable[str]) -> list[tuple[str, str | None]]:
    """Each `LEDGER_*` name that is no setting, with the setting it probably meant."""
    known = settings_names()
    found = []
    for name in sorted(set(names)):
        upper = name.upper()
        if not upper.startswith("LEDGER_") or upper in known or upper in TOOL_VARIABLES \
                or upper.startswith(TOOL_PREFIXES):
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.75)
        found.append((name, close[0] if close else None))
    return found


def warnings(environ: Mapping[str, str] | None = None, dotenv: Path = Path(".env")) -> list[str]:
    """One line per misspelt variable, naming where it was found and what it may have meant."""
    sources = [("the environment", list(os.environ if environ is None else environ))]
    if dotenv.is_file():
        sources.append((str(dotenv), list(dotenv_values(dotenv))))
    lines = []
    for where, names in sources:
        for name, meant in unknown_variables(names):
            hint = f" (did you mean {meant}?)" if meant else ""
            lines.append(f"warning: {name} in {where} is not a ledger setting and is ignored{hint}")
    return lines
