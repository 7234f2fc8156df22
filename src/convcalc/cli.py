"""The convcalc command line: the only module that imports typer. Parse, call the core, render.

Exit status: 0 success; 1 an invalid configuration (a layer PyTorch would reject) or a failed
``--check``; 2 malformed usage. With ``--json`` errors are JSON objects on stdout too.
"""

from __future__ import annotations

import enum
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Optional, assert_never

import typer

from convcalc import __version__
from convcalc.errors import ConvcalcError, MalformedInputError, OutputError
from convcalc.serialize import dumps, error_dict

app = typer.Typer(
    name="convcalc",
    help="Shapes and arithmetic of convolution, transposed-convolution and pooling layers, "
    "exactly as PyTorch computes them, with the working shown.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    epilog="Exit status: 0 ok, 1 an invalid layer (one PyTorch or the chosen framework rejects) "
    "or a failed --check, 2 malformed arguments. Start with: convcalc shape conv2d --in 5 --k 3 "
    "--s 2",
)


class Format(enum.StrEnum):
    """Output formats shared by every command (not every command offers all)."""

    TABLE = "table"
    JSON = "json"
    PLAIN = "plain"
    MARKDOWN = "markdown"
    CSV = "csv"


def _format_option(*offered: str) -> Any:
    return typer.Option(
        "--format",
        metavar="|".join(offered),
        help=f"Output format: {', '.join(offered)} (default: table).",
        show_default=False,
    )


# One Format enum for every command; each command's help names the formats it offers.
FormatOpt = Annotated[Optional[Format], _format_option("table", "json")]
ShapeFormatOpt = Annotated[Optional[Format], _format_option("table", "json", "plain")]
TraceFormatOpt = ShapeFormatOpt
NetFormatOpt = Annotated[Optional[Format], _format_option("table", "json", "markdown", "csv")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Shortcut for --format json.")]
PlainOpt = Annotated[bool, typer.Option("--plain", help="Shortcut for --format plain.")]


def resolve_format(
    fmt: Format | None, as_json: bool, plain: bool, allowed: tuple[Format, ...]
) -> Format:
    """One format from --format/--json/--plain; a conflict or an unoffered one is a usage error."""
    chosen = {f for f, on in ((Format.JSON, as_json), (Format.PLAIN, plain)) if on}
    if fmt is not None:
        chosen.add(fmt)
    if len(chosen) > 1:
        names = ", ".join(sorted(f.value for f in chosen))
        raise MalformedInputError(f"choose one output format, got {names}")
    result = chosen.pop() if chosen else Format.TABLE
    if result not in allowed:
        options = ", ".join(f.value for f in allowed)
        raise MalformedInputError(f"--format {result.value} is not offered here; use {options}")
    return result


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv or any(
        a == "--format=json" or (a == "--format" and b == "json")
        for a, b in zip(argv, argv[1:] + [""])
    )


@contextmanager
def reporting(ctx: typer.Context, as_json: bool) -> Iterator[None]:
    """Turn ConvcalcError into its exit status and a one-line message (JSON with --json)."""
    try:
        yield
    except ConvcalcError as error:
        _report(str(error), error.exit_code, as_json, ctx, isinstance(error, OutputError))
        raise typer.Exit(error.exit_code) from None


@contextmanager
def paused_gc() -> Iterator[None]:
    """A large trace builds millions of small objects and no cycles; the cyclic collector would
    rescan them over and over (a third of the run time for a 32x32x16 trace)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _report(
    message: str, code: int, as_json: bool, ctx: Any = None, to_stderr: bool = False
) -> None:
    if as_json and not to_stderr:
        write(dumps(error_dict(message, code)))
        return
    if code == 2 and ctx is not None and not to_stderr:
        typer.echo(ctx.get_usage(), err=True)
        typer.echo(f"Try '{ctx.command_path} --help' for help.\n", err=True)
    typer.echo(typer.style("Error: ", fg="red", bold=True) + message, err=True)


# --- writing -----------------------------------------------------------------------------------


def _silence_stdout() -> None:
    """The reader closed the pipe (``| head -1``): it has what it wanted. Send the rest of the
    output to /dev/null so that neither this write nor the flush at exit fails; the exit status
    stays the command's own."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def write(text: str, newline: bool = True) -> None:
    """Everything convcalc prints on stdout goes through here: a closed pipe ends the output
    quietly, a failing device (``> /dev/full``) is a one-line error with exit status 2."""
    try:
        sys.stdout.write(text + ("\n" if newline else ""))
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except OSError as error:
        _silence_stdout()
        raise OutputError(f"cannot write the output: {error.strerror or error}") from None


def write_rich(printer: Any, *args: Any) -> None:
    """Render with a rich printer, then write: piped output has no trailing spaces."""
    from convcalc.render import render_text

    write(render_text(printer, *args), newline=False)


def emit(
    chosen: Format,
    result: Any,
    *,
    json: Any,
    plain: Any,
    table: Any,
    markdown: Any = None,
    csv: Any = None,
) -> None:
    """The one place a result meets its format: each argument turns the result into one
    (``json`` returns data for ``dumps``, or JSON text it wrote itself)."""
    match chosen:
        case Format.JSON:
            data = json(result)
            write(data if isinstance(data, str) else dumps(data))
        case Format.PLAIN:
            write(plain(result))
        case Format.MARKDOWN:
            write(markdown(result))
        case Format.CSV:
            write(csv(result), newline=False)
        case Format.TABLE:
            write_rich(table, result)
        case _:
            assert_never(chosen)


def _version(value: bool) -> None:
    if value:
        write(f"convcalc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Shapes and arithmetic of convolution layers, exactly as PyTorch computes them.

    Every answer shows its working. Exit status: 0 ok, 1 invalid layer or failed --check,
    2 malformed arguments.
    """


def strict_int(minimum: int) -> Any:
    """A parser for integer options: exactly the documented form (``3``, not ``3x``, ``1e3`` or
    ``2.5``) and at least ``minimum`` (zero or negative sizes are malformed, exit 2)."""

    def parse(text: str | int) -> int:
        from convcalc.specs import parse_int

        if isinstance(text, int):  # click passes the defaults through the parser too
            return text
        try:
            return parse_int(text, "value", minimum=minimum)
        except MalformedInputError as error:
            raise typer.BadParameter(str(error).removeprefix("value: ")) from None

    return parse


def int_option(*names: str, minimum: int = 1, **kwargs: Any) -> Any:
    """A typer option read by strict_int."""
    kwargs.setdefault("metavar", "N")
    return typer.Option(*names, parser=strict_int(minimum), **kwargs)


# --- shared layer options -------------------------------------------------------------------

InOpt = Annotated[
    str,
    typer.Option(
        "--in",
        "--input-size",
        metavar="SIZE",
        help="Spatial input size: one integer for every dimension, or one per dimension "
        "as 5x7 or 5,7. For `conv`, `maxpool`... without 1d/2d/3d the count sets the dimensions.",
    ),
]
KOpt = Annotated[
    Optional[str],
    typer.Option("--k", "--kernel-size", metavar="K", help="Kernel size (e.g. 3 or 3x5)."),
]
SOpt = Annotated[
    Optional[str],
    typer.Option(
        "--s", "--stride", metavar="S", help="Stride. Default 1 for convs, the kernel for pools."
    ),
]
POpt = Annotated[
    str,
    typer.Option(
        "--p",
        "--padding",
        metavar="P",
        help="Padding per side: an integer, one per dimension, or 'same'/'valid' (convs).",
    ),
]
DOpt = Annotated[str, typer.Option("--d", "--dilation", metavar="D", help="Dilation.")]
OpOpt = Annotated[
    Optional[str],
    typer.Option(
        "--op",
        "--output-padding",
        metavar="OP",
        help="Transposed convs: extra size on the far side; must be < max(stride, dilation).",
    ),
]
CeilOpt = Annotated[
    bool, typer.Option("--ceil", "--ceil-mode", help="Pools: round the output size up.")
]
GroupsOpt = Annotated[int, int_option("--groups", help="Convs: channel groups.")]
BatchOpt = Annotated[Optional[int], int_option("--batch", help="Batch size N for tensor shapes.")]
CinOpt = Annotated[Optional[int], int_option("--cin", "--in-channels", help="Input channels C_in.")]
ConventionOpt = Annotated[
    str,
    typer.Option(
        "--convention",
        metavar="NAME",
        help="Whose rules: torch (default), tf, keras or onnx. tf/keras take --p "
        "same/valid; onnx takes same_upper/same_lower/valid or before:after pads.",
    ),
]
OutputShapeOpt = Annotated[
    Optional[str],
    typer.Option(
        "--output-shape",
        "--output-size",
        metavar="SIZE",
        help="Transposed convs: the output size asked for (torch forward(output_size=),"
        " ONNX/TF output_shape); output_padding and cropping follow from it.",
    ),
]
CoutOpt = Annotated[
    Optional[int], int_option("--cout", "--out-channels", help="Output channels C_out.")
]


def torch_spec(op: str, ndim: int | None, options: dict[str, Any], **extra: Any) -> Any:
    """A PyTorch LayerSpec from parsed layer options, for the commands that take no convention
    (sweeps, invert); build_spec does every check."""
    from convcalc.specs import build_spec

    if options.get("output_shape") is not None:
        raise MalformedInputError("--output-shape needs one input size, not a sweep")
    rest = {k: v for k, v in options.items() if k != "output_shape"}
    rest["output_padding"] = rest["output_padding"] or (0,)
    return build_spec(op, ndim=ndim, **rest, **extra)


@app.command(short_help="Output size of one layer, with its working.")
def shape(
    ctx: typer.Context,
    op: Annotated[
        str,
        typer.Argument(
            show_default=False,
            help="conv1d/2d/3d, convtranspose1d/2d/3d, maxpool1d/2d/3d, avgpool1d/2d/3d, or "
            "conv, convtranspose, maxpool, avgpool (dimensions from --in). Aliases such as "
            "conv_transpose2d, deconv2d, max_pool2d, Conv2d are accepted.",
        ),
    ],
    input_size: InOpt,
    kernel: KOpt = None,
    stride: SOpt = None,
    padding: POpt = "0",
    dilation: DOpt = "1",
    output_padding: OpOpt = None,
    ceil: CeilOpt = False,
    groups: GroupsOpt = 1,
    batch: BatchOpt = None,
    cin: CinOpt = None,
    cout: CoutOpt = None,
    convention: ConventionOpt = "torch",
    output_shape: OutputShapeOpt = None,
    fmt: ShapeFormatOpt = None,
    as_json: JsonOpt = False,
    plain: PlainOpt = False,
) -> None:
    """Output size of one layer, with the formula and the numbers put in.

    Example: convcalc shape conv2d --in 5 --k 3 --s 2
    """
    with reporting(ctx, as_json or fmt == Format.JSON):
        chosen = resolve_format(fmt, as_json, plain, (Format.TABLE, Format.JSON, Format.PLAIN))
        from convcalc.conventions import shape_query
        from convcalc.solve import parse_range
        from convcalc.specs import parse_op, parse_size_list

        name = parse_op(op)
        layer = layer_options(kernel, stride, padding, dilation, output_padding, ceil, output_shape)
        layer.update(groups=groups, in_channels=cin, out_channels=cout)
        sweep_range = parse_range(input_size)
        if sweep_range is None:
            sizes = parse_size_list(input_size, "input size (--in)", minimum=1)
            resolved, result = shape_query(convention, op, sizes, batch=batch, **layer)
        else:
            if layer["output_shape"] is not None:
                raise MalformedInputError("--output-shape needs one input size, not a sweep")
            from convcalc.solve import sweep

            def at(size: int) -> Any:
                return shape_query(convention, op, (size,), batch=batch, **layer)[1]

            title = f"{name.kind.value}{name.ndim or 1}d"
            with progress_on_stderr(f"{title} sweep") as progress:
                rows = sweep(at, sweep_range, progress)
    if sweep_range is not None:
        from convcalc import serialize

        emit(
            chosen,
            rows,
            json=lambda r: serialize.sweep_json(title, convention, r),
            plain=serialize.sweep_plain,
            table=lambda console, r: _print_sweep(console, title, convention, r),
        )
        return
    emit_shape(result, chosen, resolved)


def _print_sweep(console: Any, title: str, convention: str, rows: Any) -> None:
    from convcalc.render import print_sweep
    from convcalc.solve import summarise

    print_sweep(console, title, convention, rows, summarise(rows))


@contextmanager
def progress_on_stderr(label: str) -> Iterator[Any]:
    """A one-line progress count on stderr for long work in a terminal (nothing in a pipe)."""
    if not sys.stderr.isatty():
        yield None
        return
    shown = False

    def report(done: int, total: int) -> None:
        nonlocal shown
        shown = True
        sys.stderr.write(f"\r{label}: {done:,}/{total:,}")
        sys.stderr.flush()

    try:
        yield report
    finally:
        if shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def layer_options(
    kernel: str | None,
    stride: str | None,
    padding: str,
    dilation: str,
    output_padding: str | None,
    ceil: bool,
    output_shape: str | None = None,
) -> dict[str, Any]:
    """The shared layer options parsed into the keyword arguments of the core's resolvers."""
    from convcalc.specs import parse_padding, parse_size_list

    return {
        "kernel_size": parse_size_list(kernel, "kernel_size (--k)") if kernel is not None else None,
        "stride": parse_size_list(stride, "stride (--s)") if stride is not None else None,
        "padding": parse_padding(padding, "padding (--p)"),
        "dilation": parse_size_list(dilation, "dilation (--d)"),
        "output_padding": parse_size_list(output_padding, "output_padding (--op)")
        if output_padding is not None
        else None,
        "ceil_mode": ceil,
        "output_shape": parse_size_list(output_shape, "--output-shape", minimum=1)
        if output_shape
        else None,
    }


def emit_shape(result: Any, chosen: Format, resolved: Any) -> None:
    """Render a LayerShape in the chosen format."""
    from convcalc.serialize import layer_shape_dict, size_text

    def as_json(shape: Any) -> Any:
        data = layer_shape_dict(shape)
        data["convention"] = resolved.convention.value
        data["framework_call"] = resolved.call
        data["resolution"] = list(resolved.notes)
        return data

    def table(console: Any, shape: Any) -> None:
        from convcalc.render import print_shape

        print_shape(console, shape, resolved)

    emit(chosen, result, json=as_json, plain=lambda r: size_text(r.output), table=table)


# Above this many steps trace --json is written on one line (the C encoder; see dumps).
COMPACT_JSON_STEPS = 200


class View(enum.StrEnum):
    """How a transposed convolution is shown."""

    AUTO = "auto"
    SCATTER = "scatter"
    CONV = "conv"
    MATRIX = "matrix"
    STEPS = "steps"


@app.command(short_help="Every multiply-accumulate of a layer on small data.")
def trace(
    ctx: typer.Context,
    op: Annotated[
        str,
        typer.Argument(
            show_default=False,
            help="conv, convtranspose, maxpool, avgpool with 1d/2d/3d or without "
            "(dimensions from the input matrix).",
        ),
    ],
    x: Annotated[
        str,
        typer.Option(
            "--x",
            "--input",
            metavar="DATA",
            help="Input: '1,2;3,4' (rows by ';'), a JSON array, @file (.json .csv .npy), "
            "'-' (JSON on stdin), or arange:5x5 / ones:3x3 / zeros / eye:3 / full:2x2:7. "
            "A plain matrix is one channel; (C_in, *spatial) for more.",
        ),
    ],
    w: Annotated[
        Optional[str],
        typer.Option(
            "--w",
            "--weight",
            metavar="DATA",
            help="Weight, same forms. Conv (C_out, C_in/groups, *k), transposed conv "
            "(C_in, C_out/groups, *k); a plain kernel for one channel per group.",
        ),
    ] = None,
    b: Annotated[
        Optional[str],
        typer.Option("--b", "--bias", metavar="DATA", help="Bias (C_out,), e.g. '1,2'."),
    ] = None,
    kernel: KOpt = None,
    stride: SOpt = None,
    padding: POpt = "0",
    dilation: DOpt = "1",
    output_padding: OpOpt = None,
    ceil: CeilOpt = False,
    groups: GroupsOpt = 1,
    count_include_pad: Annotated[
        Optional[bool],
        typer.Option(
            "--count-include-pad/--no-count-include-pad",
            help="Avg pools: divide by the window including padding (torch's default; "
            "TF/Keras never count it; ONNX's default does not).",
        ),
    ] = None,
    convention: ConventionOpt = "torch",
    output_shape: OutputShapeOpt = None,
    view: Annotated[
        View,
        typer.Option(
            "--view",
            help="Transposed convs: scatter, conv (zero-insertion), matrix "
            "(Cᵀ), or steps; auto picks the one that teaches best.",
        ),
    ] = View.AUTO,
    at: Annotated[
        Optional[str],
        typer.Option(
            "--at",
            metavar="INDEX",
            help="Show one output element: i,j (every output channel) or c,i,j.",
        ),
    ] = None,
    max_steps: Annotated[
        Optional[int],
        int_option(
            "--max-steps",
            minimum=0,
            help="Show at most N steps (table default 64; JSON default all).",
        ),
    ] = None,
    fmt: TraceFormatOpt = None,
    as_json: JsonOpt = False,
    plain: PlainOpt = False,
) -> None:
    """Evaluate a layer on small data and show every multiply-accumulate.

    Example: convcalc trace convtranspose2d --x "1,2;3,4" --w "1,0;0,1" --s 2
    """
    with paused_gc():
        _trace_command(
            ctx,
            op,
            x,
            w,
            b,
            kernel,
            stride,
            padding,
            dilation,
            output_padding,
            ceil,
            groups,
            count_include_pad,
            convention,
            output_shape,
            view,
            at,
            max_steps,
            fmt,
            as_json,
            plain,
        )


def _trace_command(
    ctx: typer.Context,
    op: str,
    x: str,
    w: str | None,
    b: str | None,
    kernel: str | None,
    stride: str | None,
    padding: str,
    dilation: str,
    output_padding: str | None,
    ceil: bool,
    groups: int,
    count_include_pad: bool | None,
    convention: str,
    output_shape: str | None,
    view: View,
    at: str | None,
    max_steps: int | None,
    fmt: Format | None,
    as_json: bool,
    plain: bool,
) -> None:
    """The body of ``trace`` (run with the cyclic garbage collector paused)."""
    with reporting(ctx, as_json or fmt == Format.JSON):
        chosen = resolve_format(fmt, as_json, plain, (Format.TABLE, Format.JSON, Format.PLAIN))
        from convcalc.tensors import load_tensor
        from convcalc.trace import choose_view, trace_layer

        result = trace_layer(
            op,
            load_tensor(x, "input"),
            load_tensor(w, "weight") if w is not None else None,
            load_tensor(b, "bias") if b is not None else None,
            **layer_options(kernel, stride, padding, dilation, output_padding, ceil, output_shape),
            groups=groups,
            count_include_pad=count_include_pad,
            convention=convention,
            for_at=at is not None,
        )
        if chosen is Format.PLAIN:
            if result.output is None:
                raise MalformedInputError(
                    "--plain prints the whole output; with --at use the table or --json"
                )
            from convcalc.serialize import array_plain

            write(array_plain(result.display_output))
            return
        steps, hidden = select_steps(result, at, max_steps, chosen)
        view_name, view_data = choose_view(result, view.value)
        shown = steps
        if view_name == "conv":
            # the conv view shows the same output elements, as steps of its stride-1 conv
            shown = [view_data.trace.step_at(step.index) for step in steps]
        for step in steps:  # what is printed was computed twice, element-wise and vectorised
            if result.output is not None and step.value != result.output[step.index]:
                raise ConvcalcError(f"internal check failed at {list(step.index)}")
    if chosen is Format.JSON:
        from convcalc.serialize import trace_dict, view_dict

        data = trace_dict(result, steps, view_name, view_dict(view_name, view_data))
        write(dumps(data, compact=len(steps) > COMPACT_JSON_STEPS))
        return
    from convcalc.render import print_trace

    write_rich(print_trace, result, shown, view_name, view_data, hidden)


def select_steps(
    result: Any, at: str | None, max_steps: int | None, chosen: Format
) -> tuple[list[Any], int]:
    """The steps to show, built one by one: one element (--at, every channel unless given),
    the first N (--max-steps), or all (JSON, up to its cap) / 64 (table)."""
    import itertools

    from convcalc.specs import parse_size_list
    from convcalc.trace import MAX_JSON_TERMS

    if at is not None:
        index = parse_size_list(at, "--at")
        shape = result.output_shape
        if len(index) == len(shape) - 1:
            return [result.step_at((o, *index)) for o in range(shape[0])], 0
        if len(index) == len(shape):
            return [result.step_at(index)], 0
        raise MalformedInputError(
            f"--at: give {len(shape) - 1} indices (or {len(shape)} with the channel first)"
        )
    if max_steps is not None and max_steps < 0:
        raise MalformedInputError(f"--max-steps must be non-negative, got {max_steps}")
    total = result.step_count
    limit = max_steps if max_steps is not None else (None if chosen is Format.JSON else 64)
    if limit is None:
        terms = total * result.terms_per_step
        if terms > MAX_JSON_TERMS:
            raise MalformedInputError(
                f"--json: this layer has {total:,} steps ({terms:,} multiply-accumulates); "
                f"--json lists at most {MAX_JSON_TERMS:,} of them. Choose with --max-steps N "
                "or --at i,j (the output values are in --plain)"
            )
        limit = total
    steps = list(itertools.islice(result.iter_steps(), limit))
    return steps, total - len(steps)


@app.command(short_help="A whole network: shapes, params, MACs, receptive fields.")
def net(
    ctx: typer.Context,
    spec: Annotated[
        str,
        typer.Argument(
            show_default=False,
            help="A TOML file (input = [C, H, W] and [[layer]] tables with PyTorch's "
            'keyword names) or an inline stack: "conv2d k7 s2 p3 c64; maxpool2d k3 s2 '
            'p1 -> relu".',
        ),
    ],
    input_size: Annotated[
        Optional[str],
        typer.Option(
            "--in",
            "--input",
            metavar="C,H,W",
            help="Input shape without the batch, (C, *spatial); overrides the spec's.",
        ),
    ] = None,
    batch: BatchOpt = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if any layer's `expect` does not hold.")
    ] = False,
    fmt: NetFormatOpt = None,
    as_json: JsonOpt = False,
    plain: PlainOpt = False,
) -> None:
    """Shapes, parameters, MACs and receptive fields of a whole network, layer by layer.

    The inline form is a linear stack; a TOML spec names each layer.

    Example: convcalc net --in 3,224,224 "conv2d k7 s2 p3 c64; maxpool2d k3 s2 p1"
    """
    with reporting(ctx, as_json or fmt == Format.JSON):
        chosen = resolve_format(
            fmt,
            as_json,
            plain,
            (Format.TABLE, Format.JSON, Format.PLAIN, Format.MARKDOWN, Format.CSV),
        )
        from convcalc.network import load_network, run_network
        from convcalc.specs import parse_size_list

        shape = parse_size_list(input_size, "--in", minimum=1) if input_size else None
        if batch is not None and batch < 1:
            raise MalformedInputError(f"batch must be positive, got {batch}")
        result = run_network(load_network(spec), shape, batch)
    from convcalc import serialize

    emit(
        chosen,
        result,
        json=serialize.network_dict,
        plain=lambda r: serialize.size_text(r.output_shape),
        table=_print_network,
        markdown=serialize.network_markdown,
        csv=serialize.network_csv,
    )
    if check and result.mismatches:
        if chosen is not Format.TABLE:
            for layer in result.mismatches:
                typer.echo("expect failed: " + serialize.mismatch_text(layer), err=True)
        raise typer.Exit(1)


def _print_network(console: Any, result: Any) -> None:
    from convcalc.render import print_network

    print_network(console, result)


@app.command(short_help="Parameters that give a wanted output size.")
def solve(
    ctx: typer.Context,
    op: Annotated[
        str,
        typer.Argument(
            show_default=False,
            help="conv, convtranspose, maxpool or avgpool (1d/2d/3d "
            "or not: the sizes say how many dimensions).",
        ),
    ],
    input_size: Annotated[
        str,
        typer.Option(
            "--in", "--input-size", metavar="SIZE", help="Input size, one or one per dimension."
        ),
    ],
    output_size: Annotated[
        str, typer.Option("--out", "--output-size", metavar="SIZE", help="The output size wanted.")
    ],
    kernel: Annotated[
        Optional[int], int_option("--k", "--kernel-size", help="Fix the kernel size.")
    ] = None,
    stride: Annotated[Optional[int], int_option("--s", "--stride", help="Fix the stride.")] = None,
    padding: Annotated[
        Optional[int], int_option("--p", "--padding", minimum=0, help="Fix the padding.")
    ] = None,
    dilation: Annotated[
        Optional[int], int_option("--d", "--dilation", help="Fix the dilation.")
    ] = None,
    output_padding: Annotated[
        Optional[int],
        int_option(
            "--op", "--output-padding", minimum=0, help="Fix output_padding (transposed convs)."
        ),
    ] = None,
    ceil: CeilOpt = False,
    k_max: Annotated[int, int_option("--k-max", help="Largest kernel tried.")] = 11,
    s_max: Annotated[int, int_option("--s-max", help="Largest stride tried.")] = 8,
    d_max: Annotated[int, int_option("--d-max", help="Largest dilation tried.")] = 4,
    p_max: Annotated[
        Optional[int],
        int_option(
            "--p-max",
            minimum=0,
            help="Largest padding tried (default d*(k-1) for convs, k//2 for pools).",
        ),
    ] = None,
    limit: Annotated[int, int_option("--limit", help="Candidates shown per size.")] = 10,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
    plain: PlainOpt = False,
) -> None:
    """Which kernel, stride, padding, dilation give this output size, conventional first.

    Example: convcalc solve conv2d --in 224 --out 112
    """
    with reporting(ctx, as_json or fmt == Format.JSON):
        chosen = resolve_format(fmt, as_json, plain, (Format.TABLE, Format.JSON, Format.PLAIN))
        from convcalc.solve import Bounds
        from convcalc.solve import solve as solve_sizes
        from convcalc.specs import broadcast, dimension_names, parse_op, parse_size_list

        name = parse_op(op)
        sizes = parse_size_list(input_size, "input size (--in)", minimum=1)
        targets = parse_size_list(output_size, "output size (--out)", minimum=1)
        ndim = name.ndim or max(len(sizes), len(targets))
        sizes, targets = broadcast(sizes, ndim, "--in"), broadcast(targets, ndim, "--out")
        for label, value in (
            ("--k-max", k_max),
            ("--s-max", s_max),
            ("--d-max", d_max),
            ("--limit", limit),
        ):
            if value < 1:
                raise MalformedInputError(f"{label} must be positive, got {value}")
        for label, fixed in (("--k", kernel), ("--s", stride), ("--d", dilation)):
            if fixed is not None and fixed < 1:
                raise MalformedInputError(f"{label} must be positive, got {fixed}")
        if output_padding is not None and name.kind.value != "convtranspose":
            raise MalformedInputError("output_padding applies to transposed convolutions only")
        pairs: dict[tuple[int, int], list[str]] = {}
        letters = dimension_names(ndim)
        for axis, pair in enumerate(zip(sizes, targets)):
            pairs.setdefault(pair, []).append(letters[axis])
        bounds = Bounds(k_max, s_max, d_max, p_max)
        solutions = [
            solve_sizes(
                name.kind,
                size,
                target,
                kernel=kernel,
                stride=stride,
                padding=padding,
                dilation=dilation,
                output_padding=output_padding,
                ceil_mode=ceil,
                bounds=bounds,
            )
            for size, target in pairs
        ]
    labels = [", ".join(dims) if len(pairs) > 1 else "" for dims in pairs.values()]
    from convcalc.serialize import solution_dict, solutions_plain

    def as_json(found: list[Any]) -> Any:
        data = [
            dict(solution_dict(sol, limit), dims=dims.split(", ") if dims else list(letters))
            for sol, dims in zip(found, labels)
        ]
        return {"op": str(name), "solutions": data}

    def table(console: Any, found: list[Any]) -> None:
        from convcalc.render import print_solutions

        print_solutions(console, found, labels, limit)

    emit(
        chosen,
        solutions,
        json=as_json,
        plain=lambda found: solutions_plain(found, labels, limit),
        table=table,
    )
    if not any(sol.candidates for sol in solutions):
        raise typer.Exit(1)


@app.command(short_help="The op and output_padding that undo a layer's size.")
def invert(
    ctx: typer.Context,
    op: Annotated[
        str,
        typer.Argument(
            show_default=False,
            help="The layer to undo: conv, maxpool, avgpool or convtranspose, as in `shape`.",
        ),
    ],
    input_size: InOpt,
    kernel: KOpt = None,
    stride: SOpt = None,
    padding: POpt = "0",
    dilation: DOpt = "1",
    output_padding: OpOpt = "0",
    ceil: CeilOpt = False,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
    plain: PlainOpt = False,
) -> None:
    """The transposed conv (same k, s, p, d) and output_padding that map a layer's output back.

    --plain prints the output_padding per dimension (e.g. 1x0; '-' where none reaches).

    Example: convcalc invert conv2d --in 7 --k 3 --s 2 --p 1
    """
    with reporting(ctx, as_json or fmt == Format.JSON):
        chosen = resolve_format(fmt, as_json, plain, (Format.TABLE, Format.JSON, Format.PLAIN))
        from convcalc.solve import invert as invert_layer
        from convcalc.specs import broadcast, parse_op, parse_size_list

        name = parse_op(op)
        sizes = parse_size_list(input_size, "input size (--in)", minimum=1)
        ndim = name.ndim or len(sizes)
        options = layer_options(kernel, stride, padding, dilation, output_padding, ceil)
        spec = torch_spec(op, ndim, options)
        inversion = invert_layer(spec, broadcast(sizes, ndim, "input size"))
    from convcalc import serialize

    emit(
        chosen,
        inversion,
        json=serialize.inversion_dict,
        plain=serialize.inversion_plain,
        table=_print_inversion,
    )


def _print_inversion(console: Any, inversion: Any) -> None:
    from convcalc.render import print_inversion

    print_inversion(console, inversion)


@app.command(short_help="One layer under torch, tf, keras and onnx.")
def compare(
    ctx: typer.Context,
    op: Annotated[
        str,
        typer.Argument(
            show_default=False, help="conv, convtranspose, maxpool, avgpool (1d/2d/3d)."
        ),
    ],
    input_size: InOpt,
    kernel: KOpt = None,
    stride: SOpt = None,
    padding: POpt = "0",
    dilation: DOpt = "1",
    output_padding: OpOpt = None,
    ceil: CeilOpt = False,
    output_shape: OutputShapeOpt = None,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
    plain: PlainOpt = False,
) -> None:
    """The same layer under torch, tf, keras and onnx side by side; differences highlighted.

    --plain prints one line per framework: its name and output size ('-' where it rejects).

    --p same means torch's padding='same', TF/Keras 'same' and ONNX SAME_UPPER; an integer is
    symmetric padding where the framework takes one.

    Example: convcalc compare maxpool2d --in 225 --k 2 --p same
    """
    with reporting(ctx, as_json or fmt == Format.JSON):
        chosen = resolve_format(fmt, as_json, plain, (Format.TABLE, Format.JSON, Format.PLAIN))
        from convcalc.conventions import compare as compare_layers
        from convcalc.specs import parse_op, parse_size_list

        name = parse_op(op)
        sizes = parse_size_list(input_size, "input size (--in)", minimum=1)
        rows = compare_layers(
            op,
            sizes,
            **layer_options(kernel, stride, padding, dilation, output_padding, ceil, output_shape),
        )
    from convcalc.serialize import comparison_dicts, comparison_plain

    def table(console: Any, found: list[Any]) -> None:
        from convcalc.render import print_comparison

        print_comparison(console, str(name), sizes, found)

    emit(
        chosen,
        rows,
        json=lambda found: {
            "op": str(name),
            "input": list(sizes),
            "conventions": comparison_dicts(found),
        },
        plain=comparison_plain,
        table=table,
    )


def _only_command(name: str) -> typer.Typer:
    """The app with just the command being run: typer inspects every command's signature when
    it builds the CLI, which is most of a shell one-liner's start-up. ``convcalc --help`` and
    unknown names get the whole app."""
    chosen = [c for c in app.registered_commands if c.callback and c.callback.__name__ == name]
    if not chosen:
        return app
    single = typer.Typer(
        name="convcalc",
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    single.registered_commands = chosen
    single.registered_callback = app.registered_callback
    return single


def main() -> None:
    """Console-script entry point: usage errors as plain text (or JSON with --json), never a
    traceback."""
    argv = sys.argv[1:]
    command = typer.main.get_command(_only_command(argv[0]) if argv else app)
    # typer >= 0.26 vendors click; find its ClickException without importing a private module
    click_exception: type[Exception] = next(
        c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
    )
    try:
        code = command.main(args=argv, prog_name="convcalc", standalone_mode=False)
    except click_exception as error:  # a click UsageError and friends
        usage: Any = error
        message = usage.format_message()
        if _wants_json(argv):
            typer.echo(dumps(error_dict(message, usage.exit_code)))
        else:
            usage.show()
        code = usage.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("Aborted.", err=True)
        code = 130
    except BrokenPipeError:
        code = 0
        sys.stderr.close()
    except ConvcalcError as error:  # raised outside a command's reporting block
        _report(
            str(error), error.exit_code, _wants_json(argv), None, isinstance(error, OutputError)
        )
        code = error.exit_code
    except Exception as error:  # a bug: one line, not a traceback, unless debugging
        if os.environ.get("CONVCALC_DEBUG"):
            raise
        typer.echo(
            f"Error: internal error ({type(error).__name__}: {error}); please report it "
            "with the command line (set CONVCALC_DEBUG=1 for the traceback)",
            err=True,
        )
        code = 3
    sys.exit(code if isinstance(code, int) else 0)
