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


def shape_table(result: LayerShape) -> Table:
    """One row per spatial dimension with every parameter and the output."""
    spec = result.spec
    title = (
        f"{spec.name}: input {size_text(result.input)} -> output {size_text(result.output)}"
    )
    table = Table(title=title, title_justify="left", title_style="bold")
    columns = ["dim", "input", "kernel", "stride", "padding", "dilation"]
    if spec.kind is OpKind.CONVTRANSPOSE:
        columns += ["out pad", "eff. pad"]
    if spec.kind.is_pool:
        columns += ["ceil"]
    columns += ["output"]
    for name in columns:
        justify = "left" if name in ("dim", "ceil") else "right"
        style = "bold green" if name == "output" else None
        table.add_column(name, justify=justify, style=style)
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
    return table


def print_shape(console: Console, result: LayerShape) -> None:
    """The table, then the working: the rule once in symbols and per dimension with numbers."""
    console.print(shape_table(result))
    dims = result.dims
    console.print(Text.assemble(("out = ", "bold"), dims[0].formula))
    if result.spec.kind is OpKind.CONVTRANSPOSE:
        console.print(
            "  (= a stride-1 conv of the input with s-1 zeros inserted, padded by d*(k-1) - p,"
            " output_padding on the far side)",
            style="dim",
        )
    if result.spec.padding_mode is not None:
        sides = ", ".join(
            f"{d.label or 'L'}: {d.pad_before} before, {d.pad_after} after" for d in dims
        )
        console.print(f"padding='{result.spec.padding_mode.value}' resolves to {sides}")
    shown: dict[tuple[str, ...], list[str]] = {}
    for dim in dims:
        shown.setdefault(dim.working + dim.notes, []).append(dim.label or "L")
    for lines, labels in shown.items():
        prefix = ", ".join(labels) + ": "
        for number, line in enumerate(lines):
            console.print(
                Text.assemble((prefix if number == 0 else " " * len(prefix), "cyan"), line),
                soft_wrap=False,
            )
    before, after = result.tensor_shape("input"), result.tensor_shape("output")
    if before and after:
        console.print(f"tensor: {tuple(before)} -> {tuple(after)}")
