"""`ledger ingest` reads a line only up to its cap: longer lines are named by number and read
past in pieces, so no line, however long, is ever held whole (issue 7 item 7)."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from ledger.cli.lines import SKIP, read_lines


class Watched(io.BytesIO):
    """A file that remembers the largest piece it was asked for."""

    largest = 0

    def readline(self, size: int | None = -1) -> bytes:
        self.largest = max(self.largest, size if size is not None and size >= 0 else 10**12)
        return super().readline(size)


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=20),
       st.integers(min_value=1, max_value=30), st.booleans())
def test_every_line_comes_back_whole_or_as_too_long_by_its_number(lines: list[bytes], limit: int,
                                                                  final_newline: bool) -> None:
    text = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    read = list(read_lines(Watched(text), limit))
    expected = [] if not text else text.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert [n for n, _ in read] == list(range(1, len(expected) + 1))
    for (_, got), line in zip(read, expected, strict=True):
        assert got is None if len(line) > limit else got is not None and got.rstrip(b"\n") == line


def test_a_line_far_over_the_cap_is_read_past_in_pieces() -> None:
    file = Watched(b"a" * (50 * SKIP) + b"\n{}\n")
    assert list(read_lines(file, 1000)) == [(1, None), (2, b"{}\n")]
    assert file.largest <= max(1001, SKIP)


def test_a_line_exactly_at_the_cap_is_read() -> None:
    assert list(read_lines(Watched(b"abc\nabcd\nabc"), 3)) == [(1, b"abc\n"), (2, None), (3, b"abc")]
