"""The network table's layout, without rich: how wide each column is and how a cell wraps, by
rich's rules (its Table's column sharing, its Text's word wrap), so that ``grid.py`` draws
rich's table on a terminal and ``netview.py`` draws the same characters as plain text for a
pipe without importing rich (about 30 ms of a run).

The rules hold for text whose every character is one terminal cell (``narrow``: rich's own
list of such characters); other text goes through rich.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

# rich's box.HEAVY_HEAD, a Table's default: (left, between, right, line) for each rule
TOP = ("┏", "┳", "┓", "━")
HEAD = ("┃", "┃", "┃")
HEAD_RULE = ("┡", "╇", "┩", "━")
BODY = ("│", "│", "│")
FOOT_RULE = ("├", "┼", "┤", "─")
BOTTOM = ("└", "┴", "┘", "─")
PAD = 2  # a space each side of a cell


@dataclass(frozen=True)
class GridColumn:
    """A column: its header and footer, whether it is right-justified, a fixed width (its
    cells wrap at spaces and fold long words) or None for the width of its widest cell, and
    whether it may give way first (see ``fitted``)."""

    header: str
    footer: str = ""
    right: bool = False
    width: int | None = None
    wraps: bool = False  # its text breaks at spaces into short words: it gives way first


# A cell's text in pieces, each with a rich style name ("cyan", "bold red") or None; one styled
# piece is a text of that style (rich's Text(text, style=...)).
Piece = tuple[str, str | None]
Styled = tuple[Piece, ...]
Cell = str | Styled


def plain(cell: Cell) -> str:
    return cell if isinstance(cell, str) else "".join(text for text, _ in cell)


# rich.cells' ranges of characters one cell wide (Latin, Greek, Cyrillic, box drawing, Braille)
_SINGLE_CELL = frozenset(
    chr(code)
    for start, end in (
        (0x20, 0x7E),
        (0xA0, 0xAC),
        (0xAE, 0x2FF),
        (0x370, 0x482),
        (0x2500, 0x25FC),
        (0x2800, 0x28FF),
    )
    for code in range(start, end + 1)
)


C = TypeVar("C")  # a cell, as a drawing holds it
L = TypeVar("L")  # a drawn line


def narrow(text: str) -> bool:
    """Whether every character of ``text`` is one terminal cell by rich's list (so its width
    is its length, and ``wrap`` wraps it as rich does)."""
    return _SINGLE_CELL.issuperset(text)


def natural_widths(
    columns: Sequence[GridColumn], rows: Sequence[Sequence[str]], measure: Callable[[str], int]
) -> list[int]:
    """Each column's width without padding: its fixed width, or its widest header, footer or
    cell text (``measure``: a line's width in terminal cells)."""

    def width(text: str) -> int:
        return max(map(measure, text.split("\n")))

    return [
        column.width
        if column.width is not None
        else max([width(column.header), width(column.footer), *(width(r[i]) for r in rows)])
        for i, column in enumerate(columns)
    ]


def share(room: int, natural: list[int], flexible: list[bool]) -> list[int]:
    """Columns' widths (padding included) as rich's Table shares ``room`` among them: natural
    widths where they fit; else the widest flexible columns give way, down to the next widest,
    in turn; as a last resort every column shrinks evenly; never wider than natural."""
    widths = [min(w, room) for w in natural]
    if sum(widths) > room:
        widths = _collapse(widths, flexible, room)
        if sum(widths) > room:
            widths = _ratio_reduce(sum(widths) - room, [1] * len(widths), widths, widths)
        widths = [min(n, w) if w >= 1 else 0 for n, w in zip(natural, widths)]
    return widths


def layout(
    console_width: int, columns: Sequence[GridColumn], natural: list[int]
) -> list[int] | None:
    """A boxed table's content widths (``natural`` without padding) within ``console_width``,
    or None where a column would get no character."""
    room = console_width - (len(columns) + 1)  # the vertical rules
    flexible = [column.width is None for column in columns]
    widths = share(room, [w + PAD for w in natural], flexible)
    content = [w - PAD for w in widths]
    return content if min(content) >= 1 else None


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
    left, share_left = total, sum(ratios)
    if not share_left:
        return values[:]
    result = []
    for ratio, maximum, value in zip(ratios, maximums, values):
        if ratio and share_left > 0:
            taken = min(maximum, round(ratio * left / share_left))
            result.append(value - taken)
            left -= taken
            share_left -= ratio
        else:
            result.append(value)
    return result


_WORD = re.compile(r"\s*\S+\s*")


def wrap(text: str, width: int, right: bool) -> list[str]:
    """``Text(text).wrap(console, width, justify, overflow="fold")`` for narrow text, where a
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


def fitted(
    console_width: int,
    columns: Sequence[GridColumn],
    rows: Sequence[Sequence[Cell]],
    measure: Callable[[str], int],
) -> list[GridColumn]:
    """A network table's columns with the widths that fit ``console_width``: the layer column
    (the second) takes what the others leave at their natural widths (headers and footers
    included), if that is LAYER_MIN or more, so numbers and shapes never fold. Narrower, the
    last column that wraps at its spaces (the receptive field) gives way toward the layer
    column's longest word (up to 24, so that ``convtranspose2d`` stays whole), and the others
    that do (the bytes) as far as LAYER_MIN, each down to its own longest word; the layer
    column takes what is left if that is LAYER_NARROWEST or more. Failing that, the layer
    column takes its longest word while the others wrap at their spaces; on a terminal too
    narrow even for that, no widths: the columns share the width as rich's Table shares it."""
    texts = [[plain(cell) for cell in row] for row in rows]
    natural = natural_widths(columns, texts, measure)
    others = sum(natural) - natural[1] + 3 * len(columns) + 1
    available = console_width - others
    if natural[1] <= available:
        return list(columns)

    def sized(widths: dict[int, int]) -> list[GridColumn]:
        return [
            replace(column, width=widths[i]) if i in widths else column
            for i, column in enumerate(columns)
        ]

    def longest_word(column: int) -> int:
        return max((len(w) for row in texts for w in row[column].split()), default=1)

    if available >= LAYER_MIN:  # the numbers stay whole; the names wrap (and fold) instead
        return sized({1: available})
    longest = min(longest_word(1), 24)
    wrapping = [i for i, column in enumerate(columns) if column.wraps and i != 1][::-1]
    widths: dict[int, int] = {}
    # the last wrapping column gives way toward the layer column's longest word, the others
    # only as far as LAYER_MIN: each down to its own longest word
    for number, i in enumerate(wrapping):
        wanted = max(LAYER_MIN, longest) if number == 0 else LAYER_MIN
        give = min(wanted - available, natural[i] - longest_word(i))
        if give > 0:
            widths[i] = natural[i] - give
            available += give
    if available >= LAYER_NARROWEST:  # the numbers stay whole; the names wrap instead
        return sized(widths | {1: available})
    # the other columns wrapped at their spaces, at the narrowest
    squeezed = sum(longest_word(i) for i in range(len(columns)) if i != 1) + 3 * len(columns) + 1
    if console_width - squeezed < longest:  # too narrow for whole words: rich's folding
        return list(columns)
    return sized({1: max(longest, available)})


# The narrowest layer column worth the other columns' keeping their natural widths: a folded
# number (`2,359,29` / `6`) misleads, a name wrapped over more lines does not.
LAYER_MIN = 10
# Narrower still, once the columns that wrap at spaces have given way: names fold over more
# lines, numbers stay whole; below it the layer column takes its longest word instead.
LAYER_NARROWEST = 8


def plain_grid(
    console_width: int, columns: Sequence[GridColumn], rows: Sequence[Sequence[Cell]]
) -> list[str] | None:
    """The boxed table's lines as ``grid.draw_grid`` draws them without styles, or None where
    a text is not narrow or a column would get no character."""
    texts = [[plain(cell) for cell in row] for row in rows]
    headers = [column.header for column in columns]
    footers = [column.footer for column in columns]
    if not all(narrow(t) for row in (headers, footers, *texts) for t in row):
        return None  # (a newline is not narrow either)
    widths = layout(console_width, columns, natural_widths(columns, texts, len))
    if widths is None:
        return None

    def row(box: tuple[str, str, str], cells: Sequence[str], part: Part) -> list[str]:
        return _row(box, columns, widths, cells, bottom=part is Part.HEAD)

    return framed(columns, widths, texts, row, lambda text: text)


class Part(enum.Enum):
    """A row's part of a boxed table: rich draws the header bold and aligned to its bottom,
    the footer bold."""

    HEAD = "head"
    BODY = "body"
    FOOT = "foot"


def framed(
    columns: Sequence[GridColumn],
    widths: list[int],
    rows: Sequence[Sequence[C]],
    row: Callable[[tuple[str, str, str], Sequence[C | str], Part], list[L]],
    line: Callable[[str], L],
) -> list[L]:
    """A boxed table's lines in rich's order: the top rule, the header, a rule, the rows, a
    rule, the footer, the bottom rule; ``row`` draws a row's lines, ``line`` makes a rule one."""
    lines = [line(rule(TOP, widths))]
    lines += row(HEAD, [column.header for column in columns], Part.HEAD)
    lines.append(line(rule(HEAD_RULE, widths)))
    for cells in rows:
        lines += row(BODY, cells, Part.BODY)
    lines.append(line(rule(FOOT_RULE, widths)))
    lines += row(BODY, [column.footer for column in columns], Part.FOOT)
    lines.append(line(rule(BOTTOM, widths)))
    return lines


def rule(box: tuple[str, str, str, str], widths: list[int]) -> str:
    left, between, right, line = box
    return left + between.join(line * (w + PAD) for w in widths) + right


def _row(
    box: tuple[str, str, str],
    columns: Sequence[GridColumn],
    widths: list[int],
    cells: Sequence[str],
    bottom: bool = False,
) -> list[str]:
    blocks = [
        [text.rjust(width) if column.right else text.ljust(width)]
        if len(text) <= width
        else wrap(text, width, column.right)
        for text, width, column in zip(cells, widths, columns, strict=True)
    ]
    left, between, right = box
    height = max(len(b) for b in blocks)
    lines = []
    for number in range(height):
        parts = []
        for block, width in zip(blocks, widths):
            at = number - (height - len(block) if bottom else 0)
            parts.append(" " + (block[at] if 0 <= at < len(block) else " " * width) + " ")
        lines.append(left + between.join(parts) + right)
    return lines


def plain_columns(
    console_width: int, title: str, rows: Sequence[Sequence[str]], right: Sequence[bool]
) -> list[str] | None:
    """A borderless table with a title (rich's ``Table(box=None, show_header=False,
    pad_edge=False, title_justify="left")``, every column folding) as plain lines, or None
    where a text is not narrow or a column would get no character."""
    if not narrow(title) or not all(narrow(t) for row in rows for t in row):
        return None
    count = len(right)
    pads = [(0 if i == 0 else 1, 0 if i == count - 1 else 1) for i in range(count)]
    natural = [
        max(len(row[i]) for row in rows) + sum(pads[i]) if rows else sum(pads[i])
        for i in range(count)
    ]
    widths = share(console_width, natural, [True] * count)
    content = [w - sum(pad) for w, pad in zip(widths, pads)]
    if min(content) < 1:
        return None
    lines = wrap(title, sum(widths), False) if title else []
    for row in rows:
        blocks = [wrap(t, w, r) for t, w, r in zip(row, content, right, strict=True)]
        for number in range(max(len(b) for b in blocks)):
            lines.append(
                "".join(
                    " " * pad[0] + (b[number] if number < len(b) else " " * w) + " " * pad[1]
                    for b, w, pad in zip(blocks, content, pads)
                )
            )
    return lines
