"""The one spelling of a credential: `Authorization: Bearer KEY`.

Lenient where HTTP is (RFC 9110: the scheme is case-insensitive, `bearer` will do; one or
more spaces before the key; trailing spaces or tabs), strict everywhere else: the key is the
characters keys are made of, nothing around it, and one Authorization header only. So no other
spelling of a key (with a no-break space, a control character, a second word) ever reaches a
key lookup, where a lenient parser's clean-up could make it match."""

from __future__ import annotations

import re

_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9_-]{1,200})[ \t]*", re.ASCII)


def bearer_key(headers: list[str]) -> str | None:
    """The key of the request's Authorization headers, or None unless there is exactly one
    and it is spelled as above."""
    if len(headers) != 1:
        return None
    found = _BEARER.fullmatch(headers[0])
    return found.group(1) if found else None
