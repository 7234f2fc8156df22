"""Rich rendering of convcalc's results: the only module that imports rich.

Every function takes the Console to print on, so tests can render into a StringIO at a fixed width.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from convcalc.serialize import size_text
from convcalc.shapes import LayerShape
from convcalc.specs import OpKind


def make_console(stderr: bool = False) -> Console:
    """A console that honours NO_COLOR, COLUMNS and a non-terminal stdout (no forced colour)."""
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def print_error(console: Console, message: str) -> None:
    """``Error: ...`` in one line (soft-wrapped, so a pipe gets it unbroken)."""
    console.print(Text.assemble(("Error: ", "bold red"), message), soft_wrap=True)


def shape_table(result: LayerShape) -> tuple[Table, str]:
    """One row per spatial dimension with every parameter and the output, and the legend.

    Column names are the formula's symbols so the table and the working read together.
    """
    spec = result.spec
    title = f"{spec.name}: input {size_text(result.input)} -> output {size_text(result.output)}"
    legend = "in input, k kernel_size, s stride, p padding, d dilation"
    columns = ["dim", "in", "k", "s", "p", "d"]
    if spec.kind is OpKind.CONVTRANSPOSE:
        columns += ["op", "eff. p"]
        legend += ", op output_padding, eff. p = d*(k-1) - p (before:after)"
    if spec.kind.is_pool:
        columns += ["ceil"]
    columns += ["out"]
    table = Table(title=title, title_justify="left", title_style="bold")
    for name in columns:
        justify = "left" if name in ("dim", "ceil") else "right"
        table.add_column(name, justify=justify, style="bold green" if name == "out" else None)
    for dim in result.dims:
        pad = str(dim.pad_before) if dim.symmetric else f"{dim.pad_before}:{dim.pad_after}"
        row = [dim.label or "L", str(dim.input), str(dim.kernel), str(dim.stride), pad,
               str(dim.dilation)]
        if spec.kind is OpKind.CONVTRANSPOSE:
            before, after = dim.effective_padding
            row += [str(dim.output_padding), f"{before}:{after}" if before != after else str(before)]
        if spec.kind.is_pool:
            row += ["yes" if dim.ceil_mode else "no"]
        row += [str(dim.output)]
        table.add_row(*row)
    return table, legend


def working_grid(rows: list[tuple[str, str]]) -> Table:
    """Label / text pairs; long text wraps under itself, not under the label."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="cyan", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, text in rows:
        grid.add_row(label, text)
    return grid


def print_shape(console: Console, result: LayerShape) -> None:
    """The table, then the working: the rule once in symbols and per dimension with numbers."""
    table, legend = shape_table(result)
    console.print(table)
    console.print(legend, style="dim")
    dims = result.dims
    rows = [("out =", dims[0].formula)]
    if result.spec.kind is OpKind.CONVTRANSPOSE:
        rows.append(("", "i.e. a stride-1 conv over the input with s-1 zeros inserted between "
                     "elements, padded d*(k-1) - p on each side plus output_padding at the end"))
    if result.spec.padding_mode is not None:
        sides = "; ".join(
            f"{d.label or 'L'} {d.pad_before} before, {d.pad_after} after" for d in dims
        )
        rows.append(("padding:", f"'{result.spec.padding_mode.value}' resolves to {sides}"))
    shown: dict[tuple[str, ...], list[str]] = {}
    for dim in dims:
        shown.setdefault(dim.working + dim.notes, []).append(dim.label or "L")
    for lines, labels in shown.items():
        for number, line in enumerate(lines):
            rows.append((", ".join(labels) + ":" if number == 0 else "", line))
    before, after = result.tensor_shape("input"), result.tensor_shape("output")
    if before and after:
        rows.append(("tensor:", f"{tuple(before)} -> {tuple(after)}"))
    console.print(working_grid(rows))
