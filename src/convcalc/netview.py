"""What a network table shows, as plain data (``NetworkTable``), and its plain-text drawing.

``render.py`` draws a NetworkTable with rich on a terminal; where the output is piped (no
colour), ``network_text`` draws the same characters without importing rich, by the layout
rules of ``gridlayout``, and answers None where those rules do not cover the text (a character
wider than a cell): rich draws it then. The tests compare the two at many widths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from convcalc.boundary import display
from convcalc.gridlayout import (
    Cell,
    GridColumn,
    Styled,
    fitted,
    narrow,
    plain_columns,
    plain_grid,
    wrap,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from convcalc.memory import NetworkReport
    from convcalc.netlayers import LayerResult
    from convcalc.netopen import OpenResult

# A line printed under the table, and its rich style name (or None)
Line = tuple[str, str | None]


@dataclass(frozen=True)
class MemoryTable:
    """The memory figures under a network table: a title, and rows of (what, bytes, bytes
    in units, the rule); columns 2 and 3 right-justified, the rule dim."""

    title: str
    rows: tuple[tuple[str, str, str, str], ...]


@dataclass(frozen=True)
class NetworkTable:
    """A network table: the title (never wrapped), the columns and rows of the layer grid (the
    layer column's width is chosen per console width), the lines under it, the memory figures
    and the failed expectations."""

    title: str
    columns: tuple[GridColumn, ...]
    rows: tuple[tuple[Cell, ...], ...]
    lines: tuple[Line, ...]
    memory: MemoryTable | None = None
    failures: tuple[str, ...] = ()

    def sized_columns(self, console_width: int, measure: Callable[[str], int]) -> list[GridColumn]:
        """The columns with the widths that fit this console (see gridlayout.fitted)."""
        return fitted(console_width, self.columns, self.rows, measure)


FAILURE_STYLE = "bold red"

LEGEND = (
    "output: C×spatial (batch in the title); bytes: the output tensor, batch included; RF: "
    "receptive field in input pixels, j jump, s start (centre of output 0); MACs: "
    "multiply-accumulates with weights, whole batch"
)


def human(count: int) -> str:
    """``134217728`` -> ``134.2M`` (the table; JSON, CSV and markdown keep exact counts)."""
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= size:
            return f"{count / size:.1f}{unit}" if count < 100 * size else f"{count // size}{unit}"
    return str(count)


def table_dims(shape: tuple[int | None, ...]) -> str:
    """A network table's shape: the batch dropped (the title has it), ? where a size is open."""
    return "×".join("?" if d is None else str(d) for d in shape[1:])


def layer_label(index: int, name: str, summary: str, sources: tuple[str, ...]) -> Styled:
    """A network table's layer cell: ``name: summary`` (the summary alone for an unnamed
    layer), and where a merge or an explicit ``from`` reads from (``<- up3, enc1``)."""
    label = display(summary if name == str(index) else f"{name}: {summary}")
    if sources:
        return ((label, None), (f" <- {display(', '.join(sources))}", "cyan"))
    return ((label, None),)


# A network table shows its first TABLE_HEAD and last TABLE_TAIL layers; the rest are counted.
TABLE_HEAD = 400
TABLE_TAIL = 100


def network_table(report: NetworkReport) -> NetworkTable:
    """The layer table with totals, a legend, the counts, the memory figures with their rules,
    and the failed expectations.

    Shapes drop the batch (it is in the title) so the table fits 80 columns; named layers show
    their name before the layer; a layer that reads anything but the layer before it (every
    merge) shows where from (``<- up3, enc1``); an ``expect`` shows as ok or the wanted shape.
    """
    from convcalc.memory import human_bytes
    from convcalc.neteval import mismatch_text, rf_text
    from convcalc.serialize import count_lines, memory_rows

    result, memory = report.result, report.memory
    dims = table_dims
    title = (
        f"{display(result.source) or 'network'}: batch {result.input_shape[0]}, "
        f"{dims(result.input_shape)} -> {dims(result.output_shape)}"
    )
    rows: list[tuple[LayerResult, int] | None] = list(zip(result.layers, memory.output_bytes))
    hidden = len(rows) - TABLE_HEAD - TABLE_TAIL
    if hidden > 0:  # a table of 100,000 rows would take minutes to lay out and nobody reads it
        rows = rows[:TABLE_HEAD] + [None] + rows[-TABLE_TAIL:]
    cells: list[tuple[Cell, ...]] = []
    for row in rows:
        if row is None:
            more = f"{hidden:,} more layers (--format csv, --format markdown or --json list them)"
            cells.append(("...", ((more, "dim"),), "", "", "", "", ""))
            continue
        layer, output_bytes = row
        output: Cell = ((dims(layer.output_shape), None),)
        if layer.expect_ok is True:
            output = ((dims(layer.output_shape), None), (" ok", "green"))
        elif layer.expect_ok is False and layer.expect is not None:
            want = (
                layer.expect[1:] if len(layer.expect) == len(layer.output_shape) else layer.expect
            )
            wanted = f"{dims(layer.output_shape)} want {'×'.join(map(str, want))}"
            output = ((wanted, FAILURE_STYLE),)
        cells.append(
            (
                str(layer.index),
                layer_label(layer.index, layer.name, layer.summary, layer.shown_sources),
                output,
                human_bytes(output_bytes),
                f"{layer.params:,}",
                human(layer.macs),
                rf_text(layer.rf),
            )
        )
    columns = (
        GridColumn("#", right=True),
        GridColumn("layer", footer="total"),
        GridColumn("output", footer=dims(result.output_shape)),
        GridColumn(
            "bytes", footer=human_bytes(memory.total_activation_bytes), right=True, wraps=True
        ),
        GridColumn("params", footer=f"{result.total_params:,}", right=True),
        GridColumn("MACs", footer=human(result.total_macs), right=True),
        GridColumn("RF", wraps=True),
    )
    size = memory.dtype.size
    memory_table = MemoryTable(
        f"memory, {memory.dtype.value} ({size} byte{'s' if size > 1 else ''} per element)",
        tuple(
            (what, f"{count:,} B", human_bytes(count), rule)
            for what, count, rule in memory_rows(report)
        ),
    )
    return NetworkTable(
        title,
        columns,
        tuple(cells),
        ((LEGEND, "dim"), *((line, None) for line in count_lines(report))),
        memory_table,
        tuple("expect failed: " + display(mismatch_text(layer)) for layer in result.mismatches),
    )


def open_table(report: OpenResult) -> NetworkTable:
    """A file whose input size is open, without --in: each layer's output with ? where it
    follows the input, its parameters, the totals, and what --in adds."""
    from convcalc.serialize import OPEN_NOTE, non_trainable_line

    dims = table_dims
    title = (
        f"{display(report.source) or 'network'}: batch {report.input_shape[0]}, "
        f"{dims(report.input_shape)} -> {dims(report.output_shape)} (input size open)"
    )
    cells = tuple(
        (
            str(layer.index),
            layer_label(layer.index, layer.name, layer.summary, layer.shown_sources),
            dims(layer.output_shape),
            f"{layer.params:,}",
        )
        for layer in report.layers
    )
    columns = (
        GridColumn("#", right=True),
        GridColumn("layer", footer="total"),
        GridColumn("output", footer=dims(report.output_shape)),
        GridColumn("params", footer=f"{report.total_params:,}", right=True),
    )
    lines: list[Line] = []
    if report.total_non_trainable_params:
        lines.append((non_trainable_line(report.total_non_trainable_params), None))
    lines.append((OPEN_NOTE, "dim"))
    return NetworkTable(title, columns, cells, tuple(lines))


def network_text(table: NetworkTable, console_width: int) -> str | None:
    """The table as rich draws it for a pipe (no styles, no trailing spaces), or None where
    a text is not narrow or the console is too narrow for the grid: rich draws it then."""
    columns = table.sized_columns(console_width, len)
    grid = plain_grid(console_width, columns, table.rows)
    if grid is None:
        return None
    lines = [table.title, *grid]
    for text, _ in table.lines:
        wrapped = _paragraph(text, console_width)
        if wrapped is None:
            return None
        lines += wrapped
    if table.memory is not None:
        rows = table.memory.rows
        memory = plain_columns(console_width, table.memory.title, rows, (False, True, True, False))
        if memory is None:
            return None
        lines += memory
    for text in table.failures:
        wrapped = _paragraph(text, console_width)
        if wrapped is None:
            return None
        lines += wrapped
    return "".join(line.rstrip() + "\n" for line in lines)


def _paragraph(text: str, console_width: int) -> Sequence[str] | None:
    """``console.print(text)``: wrapped at the console's width at spaces, long words folded."""
    return wrap(text, console_width, False) if narrow(text) else None
