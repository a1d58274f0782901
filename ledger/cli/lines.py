"""Lines of a JSON Lines file, each at most so long: a 1 GB line must not take gigabytes of
memory to be refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

SKIP = 2**16  # the piece in which a too long line is read past


def read_lines(file: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(number, line) for each line of `file`, from 1; None for a line longer than `limit`
    bytes (its newline not counted), which is read past in pieces, never held whole."""
    number = 0
    while line := file.readline(limit + 1):
        number += 1
        if line.endswith(b"\n") or len(line) <= limit:
            yield number, line
            continue
        while line and not line.endswith(b"\n"):
            line = file.readline(SKIP)
        yield number, None
