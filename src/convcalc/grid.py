"""A long table drawn directly, line by line, as rich draws ``Table(show_footer=True)``.

rich lays out a table by measuring and rendering every cell through its renderable machinery,
about 1.3 ms a row: a 380-layer network's table took half a second, more than reading its ONNX
file. This module sizes the columns by rich's rules and draws the same lines (the tests compare
the two at many widths) in a fraction of that. Where the console is too narrow to give every
column a character, ``draw_grid`` answers None and the caller lays out a rich Table.

Part of the rendering edge: it imports rich, and nothing of the core imports it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from convcalc.gridlayout import (
    GridColumn,
    Part,
    framed,
    layout,
    narrow,
    natural_widths,
    wrap,
)

_BOLD = Style(bold=True)  # rich's table.header and table.footer

Cell = str | Text


def draw_grid(
    console: Console, columns: Sequence[GridColumn], rows: Sequence[Sequence[Cell]]
) -> Grid | None:
    """The table, ready for ``console.print(grid, crop=False)``, or None where the console is
    too narrow to give every column one character."""
    texts = [[cell.plain if isinstance(cell, Text) else cell for cell in row] for row in rows]
    widths = layout(console.width, columns, natural_widths(columns, texts, cell_len))
    if widths is None:
        return None

    def row(box: tuple[str, str, str], cells: Sequence[Cell], part: Part) -> list[list[Piece]]:
        style = None if part is Part.BODY else _BOLD
        return _row(console, box, columns, widths, cells, style, part is Part.HEAD)

    return Grid(framed(columns, widths, rows, row, lambda text: [(text, None)]))


Piece = tuple[str, Style | None]


class Grid:
    """Drawn lines, each a list of (text, style) pieces: a rich renderable of plain segments."""

    def __init__(self, lines: list[list[Piece]]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        line_end = Segment.line()
        for line in self.lines:
            for text, style in line:
                yield Segment(text, style)
            yield line_end


def _row(
    console: Console,
    box: tuple[str, str, str],
    columns: Sequence[GridColumn],
    widths: list[int],
    cells: Sequence[Cell],
    style: Style | None,
    bottom: bool = False,
) -> list[list[Piece]]:
    """One table row's lines: each cell wrapped to its column's width, padded one space each
    side, and as tall as the tallest (at the top, or at the ``bottom`` as rich sets headers)."""
    blocks = [
        _lines(console, cell, width, column.right)
        for cell, width, column in zip(cells, widths, columns, strict=True)
    ]
    left, between, right = box
    height = max(len(b) for b in blocks)
    lines: list[list[Piece]] = []
    for number in range(height):
        row: list[list[Piece]] = []
        for block, width in zip(blocks, widths):
            at = number - (height - len(block) if bottom else 0)
            row.append(block[at] if 0 <= at < len(block) else [(" " * width, None)])
        if style is None and all(s is None for cell in row for _, s in cell):  # most lines
            texts = (" " + "".join(t for t, _ in cell) + " " for cell in row)
            lines.append([(left + between.join(texts) + right, None)])
            continue
        pieces: list[Piece] = []
        plain = [left]  # unstyled text gathered into one piece
        for i, cell in enumerate(row):
            if i:
                plain.append(between)
            for text, piece_style in [(" ", None), *cell, (" ", None)]:
                combined = piece_style if style is None else style + piece_style
                if combined is None:
                    plain.append(text)
                else:
                    pieces += [("".join(plain), None), (text, combined)]
                    plain = []
        plain.append(right)
        pieces.append(("".join(plain), None))
        lines.append([p for p in pieces if p[0]])
    return lines


def _lines(console: Console, cell: Cell, width: int, right: bool) -> list[list[Piece]]:
    """The cell's lines, each exactly ``width`` cells, as (text, style) pieces: as rich wraps
    a Text in that column (justified, folded where a word is longer than the width)."""
    plain = cell.plain if isinstance(cell, Text) else cell
    if "\n" not in plain and (length := cell_len(plain)) <= width:  # the common case: one line
        gap = (" " * (width - length), None)
        pieces = _pieces(console, cell) if isinstance(cell, Text) else [(cell, None)]
        return [[gap, *pieces] if right else [*pieces, gap]]
    if isinstance(cell, str) or (not cell.spans and not cell.style):
        if narrow(plain):  # a character a cell: wrapped here, faster
            return [[(line, None)] for line in wrap(plain, width, right)]
    text = cell if isinstance(cell, Text) else Text(cell)
    lines = text.wrap(console, width, justify="right" if right else "left", overflow="fold")
    return [_pieces(console, line) for line in lines]


def _pieces(console: Console, text: Text) -> list[Piece]:
    if not text.spans and not text.style:
        return [(text.plain, None)]
    return [(segment.text, segment.style) for segment in text.render(console, end="")]
