"""The options and parameter types every `ledger` command shares: --format, --tenant, times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from schemas.events import tenant_problem
from schemas.times import ZonelessTimeError, parse_time

FORMAT = click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="table",
                      show_default=True,
                      help="json: one JSON document on standard output, for machines; table: for people.")


class TenantParam(click.ParamType):
    """A tenant as envelopes name one (`schemas.events.tenant_problem`): `--tenant ""` is an
    error, not the default tenant."""

    name = "TENANT"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        if (problem := tenant_problem(value)) is not None:
            self.fail(problem, param, ctx)
        return str(value)


TENANT = TenantParam()


def tenant_option(fn: Any) -> Any:
    return click.option("--tenant", type=TENANT, default=None,
                        help="Tenant to act for (default: LEDGER_TENANT or 'default').")(fn)


class TimeParam(click.ParamType):
    name = "TIME"
    help = "RFC 3339 with a zone, e.g. 2026-03-01T00:00:00Z"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_time(value)
        except ZonelessTimeError as exc:
            self.fail(str(exc), param, ctx)
        except OverflowError:
            self.fail(f"{value!r} lies out of range once converted to UTC", param, ctx)
        except ValueError:
            self.fail(f"{value!r} is not an RFC 3339 time like 2026-03-01T00:00:00Z", param, ctx)


TIME = TimeParam()
