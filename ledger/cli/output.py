"""What commands print: JSON alone on standard output for machines, tables for people,
and every message for people on standard error."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click


def printable(text: str) -> str:
    """Text that can be written as UTF-8: a lone surrogate someone sent becomes an escape
    instead of a crash halfway through a report."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def echo(message: str) -> None:
    click.echo(printable(message))


def emit_json(obj: Any) -> None:
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # valid JSON all the same: \ud800 escapes
        text = json.dumps(obj, indent=2, ensure_ascii=True)
    click.echo(text)


def say(message: str) -> None:
    click.echo(printable(message), err=True)


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    cells = [[printable(str(c)) if c is not None else "-" for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    line = "  ".join(h.upper().ljust(w) for h, w in zip(header, widths, strict=True))
    click.echo(line.rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if not cells:
        click.echo("(none)")


def fail(message: str, code: int = 1) -> None:
    """A one-line reason on standard error and a non-zero exit."""
    click.echo(f"ledger: {printable(message)}", err=True)
    sys.exit(code)
