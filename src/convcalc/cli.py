"""The convcalc command line: the only module that imports typer. Parse, call the core, render.

Exit status: 0 success; 1 an invalid configuration (a layer PyTorch would reject) or a failed
``--check``; 2 malformed usage. With ``--json`` errors are JSON objects on stdout too.
"""

from __future__ import annotations

import gc
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeAlias, assert_never

import typer

from convcalc import __version__, commands, options
from convcalc.commands import layer_options
from convcalc.errors import ConvcalcError, MalformedInputError, OutputError
from convcalc.options import Format, Kind, Opt
from convcalc.output import (
    emit,
    report_error,
    resolve_format,
    wants_json,
    write,
)
from convcalc.serialize import dumps, error_dict

# -h as well as --help, on every command
CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="convcalc",
    help="Shapes and arithmetic of convolution, transposed-convolution and pooling layers, "
    "exactly as PyTorch computes them, with the working shown.",
    no_args_is_help=True,
    add_completion=True,
    context_settings=CONTEXT,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    epilog="Exit status: 0 ok, 1 an invalid layer (one PyTorch or the chosen framework rejects) "
    "or a failed --check, 2 malformed arguments. Start with: convcalc shape conv2d --in 5 --k 3 "
    "--s 2",
)


def annotated(opt: Opt) -> Any:
    """The typer annotation of an option of the table in options.py."""
    match opt.kind:
        case Kind.ARGUMENT:
            return Annotated[str, typer.Argument(show_default=False, help=opt.help)]
        case Kind.TEXT:
            info = typer.Option(*opt.flags, metavar=opt.metavar, help=opt.help)
            return Annotated[str if opt.default is not None else Optional[str], info]
        case Kind.INT:
            info = typer.Option(
                *opt.flags, metavar=opt.metavar, help=opt.help, parser=strict_int(opt.minimum)
            )
            return Annotated[int if opt.default is not None else Optional[int], info]
        case Kind.FLAG:
            return Annotated[bool, typer.Option(*opt.flags, help=opt.help)]
        case Kind.FORMAT:
            info = typer.Option(*opt.flags, metavar=opt.metavar, help=opt.help, show_default=False)
            return Annotated[Optional[Format], info]
        case Kind.CHOICE:
            assert opt.choices is not None
            return Annotated[opt.choices, typer.Option(*opt.flags, help=opt.help)]
        case Kind.TRISTATE:
            return Annotated[Optional[bool], typer.Option("/".join(opt.flags), help=opt.help)]
        case _:
            assert_never(opt.kind)


def signature(*table: Opt) -> inspect.Signature:
    """A command's signature built from the option table (typer reads it like a written one)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("ctx", keyword, annotation=typer.Context)]
    for opt in table:
        default = inspect.Parameter.empty if opt.required else opt.default
        params.append(
            inspect.Parameter(opt.param, keyword, default=default, annotation=annotated(opt))
        )
    return inspect.Signature(params)


@contextmanager
def reporting(ctx: typer.Context, as_json: bool) -> Iterator[None]:
    """Turn ConvcalcError into its exit status and a one-line message (JSON with --json)."""
    try:
        yield
    except ConvcalcError as error:
        _report(str(error), error.exit_code, as_json, ctx, isinstance(error, OutputError))
        raise typer.Exit(error.exit_code) from None


def run_reported(ctx: typer.Context, command: Callable[..., None], **values: Any) -> None:
    """Run a command body from commands.py under ``reporting``."""
    as_json = values.get("as_json") or values.get("fmt") == Format.JSON
    with reporting(ctx, bool(as_json)):
        command(**values)


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
    usage = ""
    if code == 2 and ctx is not None:
        usage = f"{ctx.get_usage()}\nTry '{ctx.command_path} --help' for help.\n\n"
    report_error(message, code, as_json, usage, to_stderr)


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

# The shared options, from the table in options.py (one declaration each). mypy sees the value
# types; typer reads the annotations built from the table.
if TYPE_CHECKING:
    InOpt: TypeAlias = str
    KOpt: TypeAlias = Optional[str]
    SOpt: TypeAlias = Optional[str]
    OpOpt: TypeAlias = Optional[str]
    OutputShapeOpt: TypeAlias = Optional[str]
    POpt: TypeAlias = str
    DOpt: TypeAlias = str
    ConventionOpt: TypeAlias = str
    CeilOpt: TypeAlias = bool
    JsonOpt: TypeAlias = bool
    PlainOpt: TypeAlias = bool
    GroupsOpt: TypeAlias = int
    BatchOpt: TypeAlias = Optional[int]
    FormatOpt: TypeAlias = Optional[Format]
    NetFormatOpt: TypeAlias = Optional[Format]
else:
    InOpt = annotated(options.IN)
    KOpt = annotated(options.KERNEL)
    SOpt = annotated(options.STRIDE)
    POpt = annotated(options.PADDING)
    DOpt = annotated(options.DILATION)
    OpOpt = annotated(options.OUTPUT_PADDING)
    CeilOpt = annotated(options.CEIL)
    GroupsOpt = annotated(options.GROUPS)
    BatchOpt = annotated(options.BATCH)
    ConventionOpt = annotated(options.CONVENTION)
    OutputShapeOpt = annotated(options.OUTPUT_SHAPE)
    JsonOpt = annotated(options.JSON)
    PlainOpt = annotated(options.PLAIN)
    FormatOpt = annotated(options.format_opt(Format.TABLE, Format.JSON, Format.PLAIN))
    NetFormatOpt = annotated(
        options.format_opt(Format.TABLE, Format.JSON, Format.PLAIN, Format.MARKDOWN, Format.CSV)
    )


def shape(ctx: typer.Context, **values: Any) -> None:
    """Output size of one layer, with the formula and the numbers put in; --in a..b sweeps a
    range of sizes (a summary table; --plain or --json list every size).

    Example: convcalc shape conv2d --in 5 --k 3 --s 2
    """
    run_reported(ctx, commands.shape, **values)


shape.__signature__ = signature(*options.SHAPE)  # type: ignore[attr-defined]
app.command(short_help="Output size of one layer, with its working.")(shape)


def trace(ctx: typer.Context, **values: Any) -> None:
    """Evaluate a layer on small data and show every multiply-accumulate.

    Example: convcalc trace convtranspose2d --x "1,2;3,4" --w "1,0;0,1" --s 2
    """
    with paused_gc():
        run_reported(ctx, commands.trace, **values)


trace.__signature__ = signature(*options.TRACE)  # type: ignore[attr-defined]
app.command(short_help="Every multiply-accumulate of a layer on small data.")(trace)


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
        # (integer options are read by strict_int: positive where they must be)
        from convcalc.specs import check_applicable

        check_applicable(name.kind, (dilation or 1,), (output_padding or 0,), ceil, 1)
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

    def solutions_json(found: list[Any]) -> Any:
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
        json=solutions_json,
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
        from convcalc.conventions import resolve_args
        from convcalc.solve import invert as invert_layer
        from convcalc.specs import parse_size_list

        sizes = parse_size_list(input_size, "input size (--in)", minimum=1)
        args = layer_options(kernel, stride, padding, dilation, output_padding, ceil)
        resolved = resolve_args("torch", op, sizes, args)
        inversion = invert_layer(resolved.spec, resolved.input_size)
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
            name,
            sizes,
            layer_options(kernel, stride, padding, dilation, output_padding, ceil, output_shape),
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
        context_settings=CONTEXT,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    single.registered_commands = chosen
    single.registered_callback = app.registered_callback
    return single


def main() -> None:
    """The typer app run on sys.argv (entry.py calls it for everything but the fast path):
    usage errors as plain text (or JSON with --json), never a traceback."""
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
        if wants_json(argv):
            write(dumps(error_dict(message, usage.exit_code)))
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
        _report(str(error), error.exit_code, wants_json(argv), None, isinstance(error, OutputError))
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
