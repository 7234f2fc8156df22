"""A long table drawn directly, line by line, as rich draws ``Table(show_footer=True)``.

rich lays out a table by measuring and rendering every cell through its renderable machinery,
about 1.3 ms a row: a 380-layer network's table took half a second, more than reading its ONNX
file. This module sizes the columns by rich's rules and draws the same lines (the tests compare
the two at many widths) in a fraction of that. Where the console is too narrow to give every
column a character, ``draw_grid`` answers None and the caller lays out a rich Table.

Part of the rendering edge: it imports rich, and nothing of the core imports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

# rich's box.HEAVY_HEAD, a Table's default: (left, between, right, line) for each rule
_TOP = ("┏", "┳", "┓", "━")
_HEAD = ("┃", "┃", "┃")
_HEAD_RULE = ("┡", "╇", "┩", "━")
_BODY = ("│", "│", "│")
_FOOT_RULE = ("├", "┼", "┤", "─")
_BOTTOM = ("└", "┴", "┘", "─")
_BOLD = Style(bold=True)  # rich's table.header and table.footer
_PAD = 2  # a space each side of a cell


@dataclass(frozen=True)
class GridColumn:
    """A column: its header and footer, whether it is right-justified, and a fixed width (its
    cells wrap at spaces and fold long words) or None for the width of its widest cell."""

    header: str
    footer: str = ""
    right: bool = False
    width: int | None = None


Cell = str | Text


def draw_grid(
    console: Console, columns: Sequence[GridColumn], rows: Sequence[Sequence[Cell]]
) -> Grid | None:
    """The table, ready for ``console.print(grid, crop=False)``, or None where the console is
    too narrow to give every column one character."""
    widths = _layout(console.width, columns, rows)
    if widths is None:
        return None
    lines = [_rule(_TOP, widths)]
    lines += _row(console, _HEAD, columns, widths, [c.header for c in columns], _BOLD, True)
    lines.append(_rule(_HEAD_RULE, widths))
    for cells in rows:
        lines += _row(console, _BODY, columns, widths, cells, None)
    lines.append(_rule(_FOOT_RULE, widths))
    lines += _row(console, _BODY, columns, widths, [c.footer for c in columns], _BOLD)
    lines.append(_rule(_BOTTOM, widths))
    return Grid(lines)


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


def _layout(
    console_width: int, columns: Sequence[GridColumn], rows: Sequence[Sequence[Cell]]
) -> list[int] | None:
    """Each column's content width, shared out as rich's Table shares them: natural widths
    (padding included) where they fit; else the widest columns without a fixed width give way,
    down to the next widest, in turn; as a last resort every column shrinks evenly."""
    room = console_width - (len(columns) + 1)  # the vertical rules
    natural = [w + _PAD for w in natural_widths(columns, rows)]
    widths = [min(w, room) for w in natural]
    if sum(widths) > room:
        flexible = [column.width is None for column in columns]
        widths = _collapse(widths, flexible, room)
        if sum(widths) > room:
            widths = _ratio_reduce(sum(widths) - room, [1] * len(widths), widths, widths)
        widths = [min(n, w) if w >= 1 else 0 for n, w in zip(natural, widths)]
    content = [w - _PAD for w in widths]
    return content if min(content) >= 1 else None


def natural_widths(columns: Sequence[GridColumn], rows: Sequence[Sequence[Cell]]) -> list[int]:
    """Each column's width without padding: its fixed width, or its widest header, footer or
    cell (in terminal cells)."""
    return [
        column.width
        if column.width is not None
        else max([_width(column.header), _width(column.footer), *(_width(r[i]) for r in rows)])
        for i, column in enumerate(columns)
    ]


def _collapse(widths: list[int], flexible: list[bool], room: int) -> list[int]:
    """rich's Table._collapse_widths: the widest flexible columns give way to the next widest,
    until the table fits or they reach it."""
    excess = sum(widths) - room
    while excess > 0 and any(flexible):
        top = max(w for w, ok in zip(widths, flexible) if ok)
        second = max(w if ok and w != top else 0 for w, ok in zip(widths, flexible))
        ratios = [1 if ok and w == top else 0 for w, ok in zip(widths, flexible)]
        if not any(ratios) or top == second:
            break
        widths = _ratio_reduce(excess, ratios, [min(excess, top - second)] * len(widths), widths)
        excess = sum(widths) - room
    return widths


def _ratio_reduce(
    total: int, ratios: list[int], maximums: list[int], values: list[int]
) -> list[int]:
    """rich's ratio_reduce: take ``total`` off ``values`` in proportion to ``ratios``, at most
    ``maximums`` each (rounding as rich rounds)."""
    ratios = [r if m else 0 for r, m in zip(ratios, maximums)]
    left, share = total, sum(ratios)
    if not share:
        return values[:]
    result = []
    for ratio, maximum, value in zip(ratios, maximums, values):
        if ratio and share > 0:
            taken = min(maximum, round(ratio * left / share))
            result.append(value - taken)
            left -= taken
            share -= ratio
        else:
            result.append(value)
    return result


def _width(cell: Cell) -> int:
    text = cell.plain if isinstance(cell, Text) else cell
    return max(map(cell_len, text.split("\n")))


def _rule(box: tuple[str, str, str, str], widths: list[int]) -> list[Piece]:
    left, between, right, line = box
    return [(left + between.join(line * (w + _PAD) for w in widths) + right, None)]


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
        if plain.isascii() and "\n" not in plain:  # a character a cell: wrapped here, faster
            return [[(line, None)] for line in _wrap_ascii(plain, width, right)]
    text = cell if isinstance(cell, Text) else Text(cell)
    lines = text.wrap(console, width, justify="right" if right else "left", overflow="fold")
    return [_pieces(console, line) for line in lines]


_WORD = re.compile(r"\s*\S+\s*")


def _wrap_ascii(text: str, width: int, right: bool) -> list[str]:
    """``Text(text).wrap(console, width, justify, overflow="fold")`` for ASCII text, where a
    character is a cell: breaks before the word that does not fit, a word longer than the
    width folded (rich's divide_line), each line's whitespace past the width dropped, then
    padded (left) or stripped and right-aligned (right) to exactly ``width``."""
    breaks: list[int] = []
    offset = 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group()
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:  # folded across lines
            chunks = [word[i : i + width] for i in range(0, len(word), width)]
            for number, chunk in enumerate(chunks):
                if start:
                    breaks.append(start)
                if number == len(chunks) - 1:
                    offset = len(chunk)
                else:
                    start += len(chunk)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    lines = [text[a:b] for a, b in zip([0, *breaks], [*breaks, len(text)], strict=True)]
    out = []
    for line in lines:
        if len(line) > width:  # rstrip_end: whitespace beyond the width
            excess = len(line) - width
            trailing = len(line) - len(line.rstrip())
            line = line[: len(line) - min(trailing, excess)]
        if right:
            line = line.rstrip()[:width]
            out.append(" " * (width - len(line)) + line)
        else:
            out.append(line[:width].ljust(width))
    return out


def _pieces(console: Console, text: Text) -> list[Piece]:
    if not text.spans and not text.style:
        return [(text.plain, None)]
    return [(segment.text, segment.style) for segment in text.render(console, end="")]
