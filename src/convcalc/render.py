"""Rich rendering of convcalc's results: with grid.py, the only modules that import rich (a
piped network table is drawn without it: netview.py).

Every function takes the Console to print on, so tests can render into a StringIO at a fixed width.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, assert_never

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from convcalc.boundary import display, display_block, display_terminal
from convcalc.grid import draw_grid
from convcalc.gridlayout import Cell, GridColumn
from convcalc.netview import FAILURE_STYLE, NetworkTable, network_table, open_table
from convcalc.serialize import preimage_text, size_text
from convcalc.shapes import AdaptiveShape, FoldShape, LayerShape
from convcalc.specs import LayerSpec, OpKind

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Group

    from convcalc.backward import Backward
    from convcalc.conventions import Comparison, Resolved
    from convcalc.diff import NetworkDiff
    from convcalc.memory import NetworkReport
    from convcalc.modulereport import ModuleReport
    from convcalc.netopen import OpenResult
    from convcalc.netsizes import SizeSweep
    from convcalc.solve import Inversion, Solution, SweepRow, SweepRun
    from convcalc.steps import Step, Trace
    from convcalc.trace import ConvView, Im2colView, MatrixView, ScatterView, View

# a cell of a drawn grid: (row, column) -> whether it is padding, an inserted zero, marked...
CellTest = Callable[[int, int], bool]


def make_console(
    file: IO[str], width: int, terminal: bool, color_system: str | None, no_color: bool = False
) -> Console:
    """The console every printer draws on: text is only text (no markup, no emoji codes, no
    highlighting: a layer named ``[/]`` or ``:smile:`` prints as itself)."""
    return Console(
        file=file,
        width=width,
        force_terminal=terminal,
        color_system=color_system,  # type: ignore[arg-type]
        no_color=no_color,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=False,
    )


def render_text(printer: Callable[..., None], *args: Any) -> str:
    """Run a printer on a console that renders into a string with stdout's settings (its width,
    COLUMNS, NO_COLOR, colour only on a terminal). Piped output has no trailing spaces. The
    caller writes the string, so a full disk or a closed pipe is handled in one place."""
    import io

    probe = Console(highlight=False, soft_wrap=False)
    buffer = io.StringIO()
    console = make_console(
        buffer, probe.width, probe.is_terminal, probe.color_system, no_color=probe.no_color
    )
    printer(console, *args)
    text = buffer.getvalue()
    if not probe.is_terminal:
        return display_block("\n".join(line.rstrip() for line in text.split("\n")))
    return display_terminal(text)  # names from input never reach the terminal as escapes


def headline(console: Console, text: str, style: str = "bold") -> None:
    """A title line that is never wrapped or cut (``| head -1`` gets the whole answer)."""
    console.print(Text(text, style=style), soft_wrap=True)


def shape_table(result: LayerShape) -> tuple[str, Table, str]:
    """The headline, one row per spatial dimension with every parameter and the output, and
    the legend. Column names are the formula's symbols so the table and the working read
    together.
    """
    spec = result.spec
    title = f"{spec.name}: input {size_text(result.input)} -> output {size_text(result.output)}"
    from convcalc.ops import Param

    takes = spec.kind.family.takes_param
    padded, dilated = takes(Param.PADDING), takes(Param.DILATION)
    legend = "in input, k kernel_size, s stride" + (", p padding" if padded else "")
    legend += ", d dilation" if dilated else ""
    columns = ["dim", "in", "k", "s"] + (["p"] if padded else []) + (["d"] if dilated else [])
    if spec.kind is OpKind.CONVTRANSPOSE:
        columns += ["op", "eff. p"]
        legend += ", op output_padding, eff. p = d*(k-1) - p (before:after)"
    if spec.kind.is_pool:
        columns += ["ceil"]
    columns += ["out"]
    table = Table()
    for name in columns:
        table.add_column(
            name,
            overflow="fold",
            justify="left" if name in ("dim", "ceil") else "right",
            style="bold green" if name == "out" else None,
        )
    for dim in result.dims:
        pad = str(dim.pad_before) if dim.symmetric else f"{dim.pad_before}:{dim.pad_after}"
        row = [dim.label or "L", str(dim.input), str(dim.kernel), str(dim.stride)]
        row += ([pad] if padded else []) + ([str(dim.dilation)] if dilated else [])
        if spec.kind is OpKind.CONVTRANSPOSE:
            before, after = dim.effective_padding
            row += [
                str(dim.output_padding),
                f"{before}:{after}" if before != after else str(before),
            ]
        if spec.kind.is_pool:
            row += ["yes" if dim.ceil_mode else "no"]
        row += [str(dim.output)]
        table.add_row(*row)
    return title, table, legend


def working_grid(rows: list[tuple[str, str]]) -> Table:
    """Label / text pairs; long text wraps under itself, not under the label."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="cyan", overflow="fold")
    grid.add_column(overflow="fold")
    for label, text in rows:
        grid.add_row(label, text)
    return grid


def print_adaptive_shape(console: Console, result: AdaptiveShape) -> None:
    """An adaptive pool: per dimension in, out and the windows, then the rule and the working
    (which windows overlap, which repeat input)."""
    spec = result.spec
    headline(
        console,
        f"{spec.name}: input {size_text(result.input)} -> output {size_text(result.output)}",
    )
    table = Table()
    for name in ("dim", "in", "out", "windows [start, end)"):
        table.add_column(
            name, overflow="fold", justify="right" if name in ("in", "out") else "left"
        )
    for dim in result.dims:
        shown = [dim.window(i) for i in range(min(dim.output, 6))]
        spans = " ".join(f"[{a},{z})" for a, z in shown)
        if dim.output > len(shown):
            spans += f" ... ({dim.output - len(shown)} more)"
        table.add_row(dim.label or "L", str(dim.input), Text(str(dim.output), "bold green"), spans)
    console.print(table)
    rows = [("window i =", "[floor(i*in/out), ceil((i+1)*in/out))  (PyTorch's AdaptivePooling)")]
    rows += _dim_working([(dim.label or "L", dim.working) for dim in result.dims], result)
    console.print(working_grid(rows))


def print_fold_shape(console: Console, result: FoldShape) -> None:
    """Fold answers backwards: for the output size, the sliding blocks per dimension (the
    unfold of that output), hence the L and the rows its input must have."""
    spec = result.spec
    k = "x".join(map(str, spec.kernel_size))
    rows = spec.in_channels
    shape_in = f"({rows if rows is not None else f'C·{k}'}, {result.required})"
    headline(console, f"fold: input {shape_in} -> output {size_text(result.output)}")
    _, table, legend = shape_table(result.blocks)
    console.print(Text("the output's sliding blocks (in: output size, out: blocks):", "bold"))
    console.print(table)
    console.print(legend, style="dim")
    counts = " * ".join(map(str, result.blocks.output))
    lines = [
        ("L =", f"blocks per dimension multiplied: {counts} = {result.required}"),
        (
            "rows =",
            f"C·prod(kernel_size) = C·{result.kernel_elements}: each column holds one block of "
            "every channel",
        ),
        ("", "overlapping blocks are added where they meet (trace fold counts them per pixel)"),
    ]
    before, after = result.tensor_shape("input"), result.tensor_shape("output")
    if before and after:
        lines.append(("tensor:", f"{tuple(before)} -> {tuple(after)}"))
    console.print(working_grid(lines))


def print_shape(console: Console, result: LayerShape, resolved: Resolved | None = None) -> None:
    """The table, then the working: the rule once in symbols and per dimension with numbers;
    under a framework convention also how its padding was resolved and the framework call."""
    title, table, legend = shape_table(result)
    headline(console, title)
    console.print(table)
    console.print(legend, style="dim")
    dims = result.dims
    rows = [("out =", dims[0].formula)]
    if result.spec.kind is OpKind.CONVTRANSPOSE:
        rows.append(
            (
                "",
                "i.e. a stride-1 conv over the input with s-1 zeros inserted between "
                "elements, padded d*(k-1) - p on each side plus output_padding at the end",
            )
        )
    if resolved is not None and resolved.convention.value != "torch":
        rows.append((f"{resolved.convention.value}:", resolved.call))
    for note in resolved.notes if resolved is not None else ():
        rows.append(("", note))
    if result.spec.padding_mode is not None:
        sides = "; ".join(
            f"{d.label or 'L'} {d.pad_before} before, {d.pad_after} after" for d in dims
        )
        rows.append(("padding:", f"'{result.spec.padding_mode.value}' resolves to {sides}"))
    rows += _dim_working([(dim.label or "L", dim.working + dim.notes) for dim in dims], result)
    console.print(working_grid(rows))


def _dim_working(
    per_dim: list[tuple[str, tuple[str, ...]]], result: LayerShape | AdaptiveShape
) -> list[tuple[str, str]]:
    """The working lines of each dimension, dimensions with the same lines merged ("H, W:"),
    then the tensor shapes when the channels are known."""
    shown: dict[tuple[str, ...], list[str]] = {}
    for label, lines in per_dim:
        shown.setdefault(lines, []).append(label)
    rows = []
    for lines, labels in shown.items():
        for number, line in enumerate(lines):
            rows.append((", ".join(labels) + ":" if number == 0 else "", line))
    before, after = result.tensor_shape("input"), result.tensor_shape("output")
    if before and after:
        rows.append(("tensor:", f"{tuple(before)} -> {tuple(after)}"))
    return rows


# --- trace ------------------------------------------------------------------------------------


def _num(value: object) -> str:
    from convcalc.tensors import number_text

    text = number_text(value)
    return f"({text})" if text.startswith("-") and text != "-inf" else text


def _idx(index: tuple[int, ...], plain: bool) -> str:
    return ",".join(str(i) for i in (index[1:] if plain else index))


def _approx(value: object) -> str:
    from fractions import Fraction

    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator} ≈ {float(value):.4g}"
    return _num(value)


def grid(
    array: np.ndarray, title: str, dim: CellTest | None = None, mark: CellTest | None = None
) -> Group:
    """A 1-d or 2-d array as a small table with row/column indices.

    ``dim(i, j)`` says a cell is padding or an inserted zero (shown dim); ``mark(i, j)`` bolds it.
    """
    import numpy as np

    cells = np.asarray(array, dtype=object)
    if cells.ndim == 1:
        cells = cells.reshape(1, -1)
    table = Table(show_header=True, box=None, padding=(0, 1), header_style="dim")
    table.add_column("", style="dim", justify="right", overflow="fold")
    for j in range(cells.shape[1]):
        table.add_column(str(j), justify="right", overflow="fold")
    for i in range(cells.shape[0]):
        row = []
        for j in range(cells.shape[1]):
            style = "bold" if mark and mark(i, j) else ("dim" if dim and dim(i, j) else "")
            row.append(Text(_num(cells[i, j]), style=style))
        table.add_row(str(i) if array.ndim > 1 else "", *row)
    from rich.console import Group

    return Group(Text(title, style="bold"), table)


MAX_GRID = 16  # widest grid drawn; two-digit values still fit 80 columns


def print_grids(
    console: Console,
    array: np.ndarray,
    name: str,
    plain: bool,
    dim: CellTest | None = None,
    limit: int = 4,
) -> None:
    """One grid per leading index (channel) for (C, *spatial); 3-d spatial data is summarised."""
    spatial = array.ndim - 1
    where = (
        "--plain prints the output values" if name == "output" else "--json has the values"
    ) + ", --at i,j one element"
    if spatial > 2:
        console.print(f"{name}: shape {list(array.shape)} (3-d data; {where})")
        return
    if max(array.shape[1:]) > MAX_GRID:
        console.print(f"{name}: shape {list(array.shape)}, too large to draw ({where})")
        return
    if grid_width(array) > console.width:
        console.print(
            f"{name}: shape {list(array.shape)}, too wide to draw at {console.width} columns "
            f"({where})"
        )
        return
    channels = array.shape[0]
    for c in range(min(channels, limit)):
        title = name if plain and channels == 1 else f"{name}[{c}]"
        console.print(grid(array[c], title, dim))
    if channels > limit:
        console.print(f"... {channels - limit} more channel(s) of {name} (see --json)")


def grid_width(array: np.ndarray) -> int:
    """Columns a grid of (C, *spatial) data needs: no cell is ever folded or cut."""
    rows = int(array.shape[-2]) if array.ndim > 2 else 1
    columns = int(array.shape[-1])
    widest = max((len(_num(v)) for v in array.reshape(-1).tolist()), default=1)
    return (max(widest, len(str(columns - 1))) + 2) * columns + len(str(rows)) + 2


def print_weight(console: Console, w: np.ndarray | None, plain: bool, name: str = "w") -> None:
    if w is None:
        return
    if w.ndim <= 4 and grid_width(w) > console.width:
        console.print(
            f"{name}: shape {list(w.shape)}, too wide to draw at {console.width} columns "
            "(see --json)"
        )
        return
    if w.shape[0] * w.shape[1] == 1 and w.ndim <= 4:
        console.print(grid(w[0, 0], name if plain else f"{name}[0,0]"))
        return
    if w.ndim > 4:
        console.print(f"{name}: shape {list(w.shape)} (3-d kernels: see --json for values)")
        return
    shown = 0
    for a in range(w.shape[0]):
        for c in range(w.shape[1]):
            if shown == 6:
                console.print(f"... more kernels of {name} (shape {list(w.shape)}; see --json)")
                return
            console.print(grid(w[a, c], f"{name}[{a},{c}]"))
            shown += 1


def steps_table(trace: Trace, steps: list[Step], title: str = "steps", source: str = "x") -> Table:
    """One row per output element: its index, the window it reads, the working, the value."""
    import numpy as np

    from convcalc.families import family
    from convcalc.specs import OpKind

    kind, evaluator = trace.spec.kind, family(trace.spec.kind)
    windowed = kind not in (OpKind.CONVTRANSPOSE, OpKind.FOLD)
    table = Table(title=title, title_justify="left", title_style="bold", show_lines=False)
    table.add_column("out", overflow="fold")
    if windowed:
        table.add_column("window", overflow="fold", style="dim")
    table.add_column("working", overflow="fold")
    table.add_column("value", justify="right", style="bold green", overflow="fold")
    blocks = trace.shape.output
    for step in steps:
        label = f"[{_idx(step.index, trace.plain)}]"
        if kind is OpKind.UNFOLD:  # (row, column) of the column matrix
            column = int(np.ravel_multi_index(step.index[1:], blocks))
            label = f"[{step.index[0]},{column}]"
        window = ""
        if step.window:
            spans = ",".join(
                f"{a}:{z}" if trace.spec.dilation == (1,) * len(step.window) else f"{a}:{z}:{d}"
                for (a, z), d in zip(step.window, trace.spec.dilation)
            )
            window = f"{source}[{'' if trace.plain else str(step.index[0]) + ','}{spans}]"
            if kind is OpKind.CONV and not trace.plain:
                window = f"{source}[:,{spans}]"
        work, value = evaluator.step_text(trace, step)
        row = [label] + ([window] if windowed else []) + [work, value]
        table.add_row(*row)
    return table


def print_trace(
    console: Console,
    trace: Trace,
    steps: list[Step],
    view: View | None,
    hidden: int,
) -> None:
    """Input, weight, the steps (or the chosen view of a transposed conv), and the output."""
    from convcalc.serialize import size_text
    from convcalc.specs import OpKind

    spec = trace.spec
    console.print(
        Text(
            f"{spec.name}: input {size_text(trace.shape.input)} -> output "
            f"{size_text(trace.shape.output)}",
            style="bold",
        )
    )
    console.print(_params_line(trace), style="dim")
    pads = spec.padding
    if (
        spec.kind is not OpKind.CONVTRANSPOSE
        and any(p for pair in pads for p in pair)
        and trace.x.ndim - 1 <= 2
        and max(trace.x.shape[1:]) <= MAX_GRID
    ):
        from convcalc.tensors import pad

        padded = pad(trace.x, [(0, 0), *pads])
        limits = [(a, a + n) for (a, _), n in zip(pads, trace.x.shape[1:])]
        console.print(Text("input after padding (padding dim):", style="bold"))
        print_grids(console, padded, "x", trace.plain, dim=_outside(limits))
    else:
        print_grids(console, trace.x, "x", trace.plain)
    print_weight(console, trace.w, trace.plain)
    from convcalc.trace import ConvView, Im2colView, MatrixView, ScatterView

    match view:
        case ScatterView():
            _print_scatter(console, trace, view, steps, hidden)
        case ConvView():
            _print_conv_view(console, trace, view, steps, hidden)
        case MatrixView():
            _print_matrix(console, trace, view, steps, hidden)
        case Im2colView():
            _print_im2col(console, trace, view, steps, hidden)
        case None:
            console.print(steps_table(trace, steps))
            _print_hidden(console, hidden)
        case _:
            assert_never(view)
    if trace.b is not None:
        console.print(f"bias: {', '.join(_num(v) for v in trace.b)}")
    if trace.output is None:
        console.print(
            f"output: shape {list(trace.display_shape)}, not computed (--at on a layer this "
            "large computes only the element asked for)"
        )
    elif spec.kind is OpKind.UNFOLD:
        columns = trace.output.reshape(trace.output.shape[0], -1)
        if max(columns.shape) <= MAX_GRID * 4 and grid_width(columns[None]) <= console.width:
            console.print(
                grid(columns, "output: the column matrix (C·prod(k) x L), one column per block")
            )
        else:
            console.print(f"output: columns {list(columns.shape)} (--plain or --json: values)")
    else:
        print_grids(console, trace.output, "output", trace.plain)


def _print_hidden(console: Console, hidden: int) -> None:
    if hidden:
        console.print(
            f"... {hidden:,} more step(s) not shown: --at i,j shows one output element, "
            "--max-steps N shows more",
            style="yellow",
        )


def _outside(limits: list[tuple[int, int]]) -> CellTest:
    def dim(i: int, j: int) -> bool:
        coords = (j,) if len(limits) == 1 else (i, j)
        return any(not (a <= c < z) for c, (a, z) in zip(coords, limits))

    return dim


def _params_line(trace: Trace) -> str:
    from convcalc.serialize import spec_params

    params = spec_params(trace.spec)
    shown = []
    for key, value in params.items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            value = [a if a == z else f"{a}:{z}" for a, z in value]
        if isinstance(value, list) and len(set(map(str, value))) == 1:
            value = value[0]
        shown.append(f"{key}={value}")
    return ", ".join(shown)


def _print_scatter(
    console: Console, trace: Trace, view: ScatterView, steps: list[Step], hidden: int
) -> None:
    console.print(
        Text(
            "scatter view: each input element times the whole kernel, added into the "
            "output at stride offsets i*s",
            style="bold",
        )
    )
    table = Table(title_justify="left", box=None, padding=(0, 1))
    table.add_column("x", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    table.add_column("adds value·w at", overflow="fold")
    table.add_column("block", overflow="fold")
    for index, value, block, origin in view.contributions:
        rows = [
            "; ".join(",".join(_num(v) for v in row) for row in b_)
            if b_.ndim > 1
            else ",".join(_num(v) for v in b_)
            for b_ in block
        ]
        table.add_row(
            f"[{_idx(index, trace.plain)}]",
            _num(value),
            "[" + ",".join(map(str, origin)) + "]",
            " | ".join(rows),
        )
    console.print(table)
    if view.contribution_count > len(view.contributions):
        console.print(
            f"... {view.contribution_count - len(view.contributions)} more input elements"
        )
    crop = ", ".join(f"{a}:{z}" for a, z in view.crop)
    console.print(Text("sum of the blocks before cropping (the cropped part dim):", style="bold"))
    limits = list(view.crop)
    print_grids(console, view.full, "full", trace.plain, dim=_outside(limits))
    console.print(
        f"crop: keep [{crop}]: padding p removed from the start of each dimension, the "
        "end cut to the output size (output_padding keeps extra positions at the end)"
    )


def _print_conv_view(
    console: Console, trace: Trace, view: ConvView, steps: list[Step], hidden: int
) -> None:
    spec = trace.spec
    console.print(
        Text(
            "conv view: insert s-1 zeros between input elements, pad d*(k-1) - p on "
            "each side (+ output_padding at the end), convolve at stride 1 with the "
            "kernel rotated 180° — the gradient of a conv with respect to its input",
            style="bold",
        )
    )
    pads = ", ".join(f"{a}:{z}" for a, z in view.pads)
    console.print(
        f"zero-inserted {list(view.zero_inserted.shape[1:])}, padding before:after "
        f"[{pads}] (negative crops), padded {list(view.padded.shape[1:])}"
    )
    zero = _inserted_mask(view, spec)
    print_grids(console, view.padded, "z = x zero-inserted and padded", trace.plain, dim=zero)
    print_weight(console, view.kernel, trace.plain, name="w rotated 180°")
    console.print(steps_table(view.trace, steps, title="steps (stride-1 conv over z)", source="z"))
    _print_hidden(console, hidden)


def _inserted_mask(view: ConvView, spec: LayerSpec) -> CellTest:
    """Cells of the padded, zero-inserted input that are padding or inserted zeros."""
    starts = [max(a, 0) - max(-a, 0) for a, _ in view.pads]
    sizes = view.zero_inserted.shape[1:]

    def dim(i: int, j: int) -> bool:
        coords = (j,) if len(sizes) == 1 else (i, j)
        for c, st, n, s in zip(coords, starts, sizes, spec.stride):
            z = c - st
            if not (0 <= z < n) or z % s:
                return True
        return False

    return dim


def _print_matrix(
    console: Console, trace: Trace, view: MatrixView, steps: list[Step], hidden: int
) -> None:
    console.print(
        Text(
            "matrix view: the conv with the same k, s, p, d is y = C·x on flattened "
            "data; the transposed conv is Cᵀ·x (rows of C: conv outputs = our inputs)",
            style="bold",
        )
    )
    console.print(grid(view.matrix, "C"))
    console.print(f"x flattened: [{', '.join(_num(v) for v in view.x_flat)}]")
    console.print(f"Cᵀ·x = [{', '.join(_num(v) for v in view.y_flat)}]")


def _print_im2col(
    console: Console, trace: Trace, view: Im2colView, steps: list[Step], hidden: int
) -> None:
    """The column matrix, the weight matrix and their product, as the im2col article draws
    them (its ``col`` is this column matrix transposed: one row per window)."""
    spec = trace.spec
    console.print(
        Text(
            "im2col view: every window of the padded input becomes a column (rows: channel and "
            "kernel offset), every kernel a row of the weight matrix; the convolution is one "
            "matrix product, reshaped into the output",
            style="bold",
        )
    )
    k = "x".join(map(str, spec.kernel_size))
    console.print(
        f"columns: {view.columns.shape[0]} x {view.columns.shape[1]} = (C_in·{k}) x L, L = "
        f"{' x '.join(map(str, trace.shape.output))} windows; weight matrix: "
        f"{view.weight_matrix.shape[0]} x {view.weight_matrix.shape[1]} = C_out x (C_in·{k})"
        + ("; block diagonal, one block per group" if spec.groups > 1 else "")
    )
    labels = [
        ",".join(map(str, (c, *m))) if c or trace.x.shape[0] > 1 else ",".join(map(str, m))
        for c, m in view.rows
    ]
    shown = min(view.columns.shape[1], 12)
    columns = Table(box=None, padding=(0, 1), header_style="dim")
    columns.add_column("row (c,k)" if trace.x.shape[0] > 1 else "row (k)", style="dim")
    for col in range(shown):
        columns.add_column(str(col), justify="right", overflow="fold")
    for row, label in enumerate(labels[:48]):
        columns.add_row(label, *(Text(_num(v)) for v in view.columns[row, :shown]))
    console.print(Text("columns (unfold): one column per window", style="bold"))
    console.print(columns)
    if len(labels) > 48 or view.columns.shape[1] > shown:
        console.print(
            f"... the whole {view.columns.shape[0]} x {view.columns.shape[1]} matrix is in "
            "--json (columns)",
            style="yellow",
        )
    spans = "; ".join(
        f"{col}: {', '.join(f'{a}:{z}' for a, z in window)}"
        for col, window in enumerate(view.windows[:shown])
    )
    console.print(f"each column's window (start:stop per dimension): {spans}", style="dim")
    if grid_width(view.weight_matrix.reshape(1, *view.weight_matrix.shape)) <= console.width:
        console.print(grid(view.weight_matrix, "weight matrix (one row per output channel)"))
    else:
        console.print(f"weight matrix: shape {list(view.weight_matrix.shape)} (see --json)")
    product = view.product[:, :shown]
    console.print(
        grid(product, "weight matrix · columns" + (" + bias" if trace.b is not None else ""))
    )
    console.print(
        "reshaped: row o of the product is output channel o, its L columns the output "
        f"positions in row-major order ({' x '.join(map(str, trace.shape.output))})"
    )


def print_backward(
    console: Console, trace: Trace, grads: Backward, steps: list[Step], hidden: int
) -> None:
    """The backward pass: dL/dY, then grad_input as the (transposed) convolution it is, with its
    steps; grad_weight as dY against the windows of x (im2col); grad_bias as sums of dY."""
    import numpy as np

    spec = trace.spec
    conv = spec.kind is OpKind.CONV
    console.print(Text("backward pass, given dL/dY:", style="bold"))
    print_grids(console, grads.grad_out, "dY", trace.plain)
    what = (
        "the gradient of a conv with respect to its input is the transposed conv of dY with "
        "the same weight"
        if conv
        else "the gradient of a transposed conv with respect to its input is the conv of dY "
        "with the same weight"
    )
    headline(console, f"grad_input = {grads.grad_input_op}")
    console.print(f"({what}; its multiply-accumulates:)", style="dim")
    console.print(steps_table(grads.input_trace, steps, title="steps of grad_input", source="dY"))
    _print_hidden(console, hidden)
    print_grids(console, grads.grad_input, "grad_input", trace.plain)
    if conv:
        rule = "grad_weight[o, c, m] = sum over output positions j of x[c, j*s + m*d - p]·dY[o, j]"
        how = "dY · im2col(x)ᵀ: each row of dY against each row of the column matrix of x"
    else:
        rule = "grad_weight[c, o, m] = sum over input positions i of x[c, i]·dY[o, i*s + m*d - p]"
        how = "x · im2col(dY)ᵀ: each input channel against each row of the column matrix of dY"
    headline(console, rule)
    console.print(how, style="dim")
    table = Table(box=None, padding=(0, 1))
    table.add_column("w", overflow="fold")
    table.add_column("working", overflow="fold")
    table.add_column("grad", justify="right", style="bold green", overflow="fold")
    shown = 0
    for index in np.ndindex(*grads.grad_weight.shape):
        if shown == 16:
            break
        pairs = grads.weight_terms(index)
        terms = [f"{_num(a)}·{_num(b)}" for a, b in pairs if a != 0 and b != 0]
        text = " + ".join(terms) if terms else "0 (every product has a zero)"
        table.add_row(f"[{','.join(map(str, index))}]", text, _num(grads.grad_weight[index]))
        shown += 1
    console.print(table)
    if grads.grad_weight.size > shown:
        console.print(f"... {grads.grad_weight.size - shown} more (see --json)", style="dim")
    console.print(
        "(products with a zero factor, padding or zeros of dY, are left out of the working)",
        style="dim",
    )
    console.print(
        Text("grad_bias[o] = sum of dY[o]: ", style="bold")
        + Text(", ".join(_num(v) for v in grads.grad_bias))
    )


# --- net --------------------------------------------------------------------------------------


def print_network(console: Console, report: NetworkReport) -> None:
    """The network table (netview.network_table) drawn with rich."""
    print_table(console, network_table(report))


def print_open_result(console: Console, report: OpenResult) -> None:
    """A file whose input size is open, without --in (netview.open_table), drawn with rich."""
    print_table(console, open_table(report))


def print_table(console: Console, table: NetworkTable) -> None:
    """A NetworkTable: its title, the layer grid, the lines under it, the memory figures and
    the failed expectations (netview.network_text draws the same characters for a pipe)."""
    headline(console, table.title)
    columns = table.sized_columns(console.width, cell_len)
    _print_grid(console, columns, [tuple(map(_text, row)) for row in table.rows])
    for text, style in table.lines:
        console.print(text, style=style)
    if table.memory is not None:
        grid = Table(
            title=table.memory.title,
            title_justify="left",
            box=None,
            show_header=False,
            pad_edge=False,
        )
        grid.add_column(overflow="fold")
        grid.add_column(justify="right", overflow="fold")
        grid.add_column(justify="right", overflow="fold")
        grid.add_column(overflow="fold", style="dim")
        for row in table.memory.rows:
            grid.add_row(*row)
        console.print(grid)
    for line in table.failures:
        console.print(Text(line, style=FAILURE_STYLE))


def _text(cell: Cell) -> str | Text:
    """A grid cell as rich's Text (one styled piece: a text of that style)."""
    if isinstance(cell, str):
        return cell
    if len(cell) == 1:
        return Text(cell[0][0], style=cell[0][1] or "")
    return Text.assemble(*((text, style or "") for text, style in cell))


def _print_grid(console: Console, columns: list[GridColumn], cells: list[Any]) -> None:
    """A long table: drawn directly in the common case (rich lays out about 1 ms a row); on a
    console too narrow for a character a column, through rich's Table."""
    drawn = draw_grid(console, columns, cells)
    if drawn is not None:
        console.print(drawn, crop=False)
        return
    table = Table(show_footer=True)
    for column in columns:
        table.add_column(
            column.header,
            footer=column.footer,
            justify="right" if column.right else "left",
            overflow="fold",
            width=column.width,
        )
    for row_cells in cells:
        table.add_row(*row_cells)
    console.print(table)


def print_sizes(console: Console, sweep: SizeSweep) -> None:
    """Which input sizes a network accepts: the summary, then every run of failing sizes with
    the first layer that fails and why."""
    from convcalc.serialize import layer_sizes_text, near_text

    if sweep.records:
        first, last = sweep.records[0].spatial, sweep.records[-1].spatial
        shown = (
            f"{first[0]}..{last[0]}"
            if sweep.square
            else f"{'x'.join(map(str, first))}..{'x'.join(map(str, last))}"
        )
        every = " (every spatial dimension)" if sweep.square and sweep.ndim > 1 else ""
        headline(
            console,
            f"{display(sweep.source) or 'network'}: input {sweep.channels}×size, "
            f"size {shown}{every}: "
            f"{len(sweep.valid_sizes)} of {len(sweep.records)} valid",
        )
        valid = bool(sweep.valid_sizes)
        console.print(Text(sweep.summary(), style="bold green" if valid else "bold red"))
        groups = sweep.failures_by_layer()
        if groups:
            table = Table()
            table.add_column("first failing layer", overflow="fold")
            table.add_column("sizes", overflow="fold")
            table.add_column("why (at the first of them)", overflow="fold")
            for failure, runs in groups:
                table.add_row(
                    failure.layer.where,
                    layer_sizes_text(sweep, failure, runs),
                    failure.message.removeprefix(failure.layer.where + ": "),
                )
            console.print(table)
    if sweep.near is not None:
        console.print(near_text(sweep.near))


# --- solve / invert / sweep -------------------------------------------------------------------


def print_solutions(
    console: Console, solutions: list[Solution], labels: list[str], limit: int
) -> None:
    """Ranked candidates per distinct (input, output) pair, or the nearest sizes."""
    for solution, label in zip(solutions, labels):
        title = (
            f"{solution.kind.value}: {solution.size} -> {solution.target}"
            + (f" ({label})" if label else "")
            + f": {len(solution.candidates)} of {solution.searched} combinations fit"
        )
        if not solution.candidates:
            console.print(Text(title, style="bold red"))
            for name, near in (
                ("nearest below", solution.below),
                ("nearest above", solution.above),
            ):
                if near is not None:
                    console.print(
                        f"  {name}: {near.dim.output} with {near.label}: {near.dim.substituted}"
                    )
                else:
                    console.print(f"  {name}: none within the bounds")
            console.print(
                "  (fix fewer parameters or widen --k-max/--s-max/--d-max/--p-max)", style="dim"
            )
            continue
        headline(console, title)
        table = Table()
        table.add_column("#", justify="right", overflow="fold")
        table.add_column("params", overflow="fold", style="bold green")
        table.add_column("working", overflow="fold")
        for rank, candidate in enumerate(solution.candidates[:limit], start=1):
            notes = "; ".join(candidate.dim.notes)
            table.add_row(
                str(rank),
                candidate.label,
                candidate.dim.substituted + (f"\n{notes}" if notes else ""),
            )
        console.print(table)
        if len(solution.candidates) > limit:
            console.print(f"... {len(solution.candidates) - limit} more (--limit N)", style="dim")


def print_inversion(console: Console, inversion: Inversion) -> None:
    """The inverse op, its output_padding, and the input sizes that collide."""
    from convcalc.serialize import inverse_name

    spec = inversion.spec
    console.print(
        Text(f"{spec.name}: undo with {inverse_name(spec)}, same k, s, p, d", style="bold")
    )
    table = Table(title_justify="left")
    for name in ("dim", "in", "out", "same out for inputs", "inverse gives", "output_padding"):
        table.add_column(
            name,
            justify="left" if name in ("dim", "same out for inputs") else "right",
            overflow="fold",
        )
    for item in inversion.dims:
        table.add_row(
            item.forward.label or "L",
            str(item.forward.input),
            str(item.forward.output),
            preimage_text(item.preimage),
            str(item.inverse_output),
            "-" if item.output_padding is None else str(item.output_padding),
        )
    console.print(table)
    for item in inversion.dims:
        if item.note:
            console.print(f"{item.forward.label or 'L'}: {item.note}", style="yellow")
    sizes = list(inversion.output_size)
    if spec.kind is OpKind.CONVTRANSPOSE:
        console.print(
            f"{inverse_name(spec)} takes no output_padding or output_size: it maps each size "
            "to one output, so the transposed conv's output_padding cannot be recovered."
        )
    elif spec.kind is OpKind.MAXPOOL:
        console.print(
            f"MaxUnpool{spec.ndim}d()(x, indices, output_size={sizes}) or "
            f"ConvTranspose{spec.ndim}d(...)(x, output_size={sizes}) picks it for you."
        )
    else:
        console.print(
            f"{inverse_name(spec)}(...)(x, output_size={sizes}) picks that output_padding for you."
        )
    if any(item.preimage.stop - item.preimage.start > 1 for item in inversion.dims):
        console.print(
            "Several input sizes give the same output, so the inverse alone cannot "
            "know which one to return: output_padding (or output_size) says which.",
            style="dim",
        )


# The most runs of a sweep the table lists; the rest are counted (--plain lists every size).
MAX_SWEEP_RUNS = 24


def print_sweep(
    console: Console, op: str, convention: str, rows: list[SweepRow], runs: list[SweepRun]
) -> None:
    """Runs of input sizes that behave alike, as progressions, with the marks a reviewer looks
    for: a screenful however long the sweep."""
    where = "" if convention == "torch" else f", {convention} rules"
    console.print(
        Text(
            f"{op} over {len(rows):,} input sizes{where} (the same size in every dimension)",
            style="bold",
        ),
        soft_wrap=True,
    )
    table = Table()
    for name in ("in", "out", "sizes", "note"):
        table.add_column(name, justify="right" if name == "sizes" else "left", overflow="fold")
    for run in runs[:MAX_SWEEP_RUNS]:
        row = run.first
        if row.error is not None:
            note = Text(row.error, style="red")
        else:
            notes = []
            if row.unread:
                notes.append(
                    "ignores the last input"
                    if row.unread == 1
                    else f"ignores the last {row.unread} inputs"
                )
            if row.roundtrip is None and op.startswith("adaptive"):
                notes.append("adaptive windows read every input")
            elif row.roundtrip is None:
                notes.append("no conv maps the output back")
            elif row.output and op.startswith("convtranspose"):
                if row.roundtrip != row.input:
                    notes.append(f"conv back gives in{row.roundtrip - row.input:+d}")
                else:
                    notes.append("conv back gives the input size")
            elif row.needs_output_padding:
                notes.append(
                    f"inverse gives in{-row.needs_output_padding:+d}: needs output_padding "
                    f"{row.needs_output_padding}"
                )
            elif not row.unread:
                notes.append("reads every input; the inverse maps back")
            note = Text(
                "; ".join(notes), style="yellow" if row.unread or row.needs_output_padding else ""
            )
        table.add_row(run.inputs, run.outputs, f"{run.count:,}", note)
    console.print(table)
    if len(runs) > MAX_SWEEP_RUNS:
        console.print(
            f"... {len(runs) - MAX_SWEEP_RUNS} more runs of sizes; --plain or --json list every "
            "size",
            style="yellow",
        )


def print_comparison(
    console: Console, op: str, sizes: tuple[int, ...], rows: list[Comparison]
) -> None:
    """One row per convention; outputs and paddings that differ from torch's in yellow."""
    from convcalc.conventions import torch_equivalent

    def pads_text(spec: LayerSpec) -> str:
        return ",".join(f"{b}:{a}" for b, a in spec.padding)

    base = next((r for r in rows if r.convention.value == "torch" and r.resolved), None)
    shown = next((r.resolved.input_size for r in rows if r.resolved is not None), sizes)
    headline(
        console, f"{op}, input {'x'.join(map(str, shown))}: the same arguments under each framework"
    )
    table = Table()
    table.add_column("framework", overflow="fold")
    table.add_column("output", overflow="fold")
    table.add_column("pad b:a", overflow="fold")
    table.add_column("op", overflow="fold")
    table.add_column("call / error", overflow="fold")
    base_pads = base.resolved.spec.padding if base is not None and base.resolved else None
    # in colour a difference is yellow; piped or with NO_COLOR it is marked with a star
    coloured = console.color_system is not None and not console.no_color
    mark = "" if coloured else " *"
    for row in rows:
        if row.resolved is None or row.output is None:
            table.add_row(row.convention.value, "-", "-", "-", Text(row.error or "", style="red"))
            continue
        spec = row.resolved.spec
        out = "x".join(map(str, row.output))
        pads = pads_text(spec)
        differs_out = base is not None and row.output != base.output
        differs_pad = base_pads is not None and spec.padding != base_pads
        table.add_row(
            row.convention.value,
            Text(out + (mark if differs_out else ""), style="bold yellow" if differs_out else ""),
            Text(pads + (mark if differs_pad else ""), style="bold yellow" if differs_pad else ""),
            ",".join(map(str, spec.output_padding)) if spec.kind.value == "convtranspose" else "",
            row.resolved.call,
        )
    console.print(table)
    console.print(
        f"{'yellow' if coloured else '*'}: differs from torch. pad b:a = padding before:after "
        "per dimension "
        "(for a transposed conv: cropped from the full result)",
        style="dim",
    )
    for row in rows:
        if row.resolved is not None and row.convention.value != "torch":
            console.print(f"{row.convention.value} in torch: {torch_equivalent(row.resolved)}")


def print_diff(console: Console, diff: NetworkDiff) -> None:
    """``convcalc diff``: the aligned layers (runs of unchanged layers collapsed) and the totals
    side by side with their deltas."""
    from convcalc.diff import Status
    from convcalc.diffview import (
        MARKS,
        TOTAL_LABELS,
        Skipped,
        change_details,
        collapsed,
        delta_text,
        diff_summary,
        layer_label,
        output_rf,
        sizes_lines,
    )

    a, b = diff.a.result, diff.b.result
    headline(
        console,
        f"A {display(a.source or 'network')} -> B {display(b.source or 'network')}: "
        f"{diff_summary(diff)}",
    )
    styles = {
        Status.SAME: "dim",
        Status.CHANGED: "yellow",
        Status.ADDED: "green",
        Status.REMOVED: "red",
    }
    table = Table()
    table.add_column("", overflow="fold")
    table.add_column("A", overflow="fold")
    table.add_column("B", overflow="fold")
    table.add_column("what changed", overflow="fold")
    for item in collapsed(diff.layers):
        if isinstance(item, Skipped):
            skipped = Text(item.text, style="dim")
            a_cell, b_cell = ("", skipped) if item.status is Status.ADDED else (skipped, "")
            table.add_row(Text(MARKS[item.status], style="dim"), a_cell, b_cell, "")
            continue
        style = styles[item.status]
        table.add_row(
            Text(MARKS[item.status], style=style),
            Text(display(layer_label(item.a)), style=style if item.a else ""),
            Text(display(layer_label(item.b)), style=style if item.b else ""),
            display("; ".join(change_details(item))),
        )
    console.print(table)
    console.print("= same, ~ changed, + added (only in B), - removed (only in A)", style="dim")
    totals = Table(title="totals", title_justify="left")
    totals.add_column("", overflow="fold")
    totals.add_column("A", justify="right", overflow="fold")
    totals.add_column("B", justify="right", overflow="fold")
    totals.add_column("change", justify="right", overflow="fold")
    for metric, delta in diff.shown_totals:
        totals.add_row(TOTAL_LABELS[metric], f"{delta.a:,}", f"{delta.b:,}", delta_text(delta))
    totals.add_row("output", size_text(a.output_shape), size_text(b.output_shape), "")
    totals.add_row("receptive field", output_rf(diff.a) or "-", output_rf(diff.b) or "-", "")
    console.print(totals)
    for line in sizes_lines(diff):
        console.print(display(line))


def print_module_report(console: Console, report: ModuleReport) -> None:
    """A printed model whose shapes cannot be followed: parameters per top-level module."""
    headline(
        console,
        f"{display(report.source or 'model')}: {report.total_params:,} parameters"
        + ("" if report.exact else " (not all: see below)")
        + "; shapes not followed",
    )
    table = Table()
    for name, justify in (("module", "left"), ("type", "left"), ("params", "right")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for group in report.groups:
        table.add_row(display(group.name), display(group.cls), f"{group.params:,}")
    table.add_section()
    table.add_row("total", "", f"{report.total_params:,}", style="bold")
    console.print(table)
    for note in report.notes:
        console.print(display(note), style="dim")
