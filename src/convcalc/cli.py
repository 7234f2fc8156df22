"""The convcalc command line: the only module that imports typer. Each command's signature is
built from its option table (options.py) and its body is the function of the same name in
commands.py.

Exit status: 0 success; 1 an invalid configuration (a layer PyTorch would reject) or a failed
``--check``; 2 malformed usage, unreadable input, unwritable output; 3 a bug. With ``--json``
errors are JSON objects on stdout too.
"""

from __future__ import annotations

import gc
import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Optional, assert_never

import typer

from convcalc import __version__, commands, options
from convcalc.errors import ConvcalcError, MalformedInputError, OutputError
from convcalc.ops import op_names
from convcalc.options import Format, Kind, Opt
from convcalc.output import (
    report_error,
    wants_json,
    write,
)
from convcalc.requests import Command, build, inputs
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
    "or a failed --check, 2 malformed arguments or unreadable input or unwritable output, 3 an "
    "internal error (a bug: please report it). Start with: convcalc shape conv2d --in 5 --k 3 "
    "--s 2",
)


def annotated(opt: Opt) -> Any:
    """The typer annotation of an option of the table in options.py."""
    match opt.kind:
        case Kind.ARGUMENT:
            complete = _complete(op_names()) if opt.param == "op" else None
            info = typer.Argument(show_default=False, help=opt.help, autocompletion=complete)
            return Annotated[str, info]
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
            info = typer.Option(
                *opt.flags,
                metavar=opt.metavar,
                help=opt.help,
                show_default=False,
                autocompletion=_complete(list(opt.completions)),
            )
            return Annotated[Optional[Format], info]
        case Kind.CHOICE:
            assert opt.choices is not None
            return Annotated[opt.choices, typer.Option(*opt.flags, help=opt.help)]
        case Kind.TRISTATE:
            return Annotated[Optional[bool], typer.Option("/".join(opt.flags), help=opt.help)]
        case Kind.MULTI:
            info = typer.Option(*opt.flags, metavar=opt.metavar, help=opt.help)
            return Annotated[Optional[list[str]], info]
        case _:
            assert_never(opt.kind)


def _complete(words: list[str]) -> Callable[[str], list[str]]:
    """Shell completion from a list: the words that start with what is typed."""

    def complete(incomplete: str) -> list[str]:
        return [word for word in words if word.startswith(incomplete.lower())]

    return complete


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
        usage = ctx if error.usage else None
        _report(str(error), error.exit_code, as_json, usage, isinstance(error, OutputError))
        raise typer.Exit(error.exit_code) from None


def run_reported(ctx: typer.Context, command: Command, values: dict[str, Any]) -> None:
    """Build the command's typed request from what typer read, and run it under ``reporting``;
    it may answer an exit status (1: a failed --check, a difference, nothing solved)."""
    from convcalc.output import to_file

    as_json = values.get("as_json") or values.get("fmt") == Format.JSON
    output_file = values.pop("output_file", None)
    with reporting(ctx, bool(as_json)):
        request = build(command, values)
        with to_file(output_file, inputs(request)):
            status = commands.run(request)
    if status:
        raise typer.Exit(status)


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
    if code == 2 and ctx is not None and not to_stderr:  # an output error is no usage error
        usage = f"{ctx.get_usage()}\nTry '{ctx.command_path} --help' for help.\n\n"
    report_error(message, code, as_json, usage, to_stderr)


def usage_lines(name: str) -> str:
    """The usage lines typer prints before a usage error of command ``name`` (the fast path
    asks for them only when it has such an error to report)."""
    group = typer.main.get_command(_only_command(name))
    parent = typer.Context(group, info_name="convcalc")
    sub = getattr(group, "commands", {}).get(name, group)
    ctx = typer.Context(sub, info_name=name, parent=parent)
    return f"{ctx.get_usage()}\nTry '{ctx.command_path} --help' for help.\n\n"


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
    2 malformed arguments, unreadable input or unwritable output, 3 a bug.
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


# --- shared layer options -------------------------------------------------------------------


def shape(ctx: typer.Context, **values: Any) -> None:
    """Output size of one layer, with the formula and the numbers put in; --in a..b sweeps a
    range of sizes (a summary table; --plain or --json list every size).

    Example: convcalc shape conv2d --in 5 --k 3 --s 2
    """
    run_reported(ctx, Command.SHAPE, values)


shape.__signature__ = signature(*options.SHAPE)  # type: ignore[attr-defined]
app.command(short_help="Output size of one layer, with its working.")(shape)


def trace(ctx: typer.Context, **values: Any) -> None:
    """Evaluate a layer on small data and show every multiply-accumulate.

    Example: convcalc trace convtranspose2d --x "1,2;3,4" --w "1,0;0,1" --s 2
    """
    with paused_gc():
        run_reported(ctx, Command.TRACE, values)


trace.__signature__ = signature(*options.TRACE)  # type: ignore[attr-defined]
app.command(short_help="Every multiply-accumulate of a layer on small data.")(trace)


def net(ctx: typer.Context, **values: Any) -> None:
    """Shapes, parameters, MACs, memory and receptive fields of a whole network, layer by layer;
    or, with a range (--in 3,16..512) or --near, which input sizes it accepts.

    A TOML spec is a graph: a layer reads the layer before it, or what `from` names (a name,
    "input", or a list for the merges add, mul and cat). The inline form is a linear stack.
    ONNX, Keras and printed PyTorch models are read too; --format toml and --format torch
    write any of them back out.

    Example: convcalc net --in 3,224,224 "conv2d k7 s2 p3 c64; maxpool2d k3 s2 p1"
    """
    run_reported(ctx, Command.NET, values)


def diff(ctx: typer.Context, **values: Any) -> None:
    """Two networks side by side: layers aligned (same, changed, added, removed), totals with
    their deltas, and with a range --in the input sizes one accepts and the other does not.

    Exit status as diff(1): 0 identical, 1 different, 2 bad input; with --fail-on, 1 only when
    a budget is exceeded (named on stderr).

    Example: convcalc diff resnet18.toml resnet34.toml --format markdown
    """
    run_reported(ctx, Command.DIFF, values)


def solve(ctx: typer.Context, **values: Any) -> None:
    """Which kernel, stride, padding, dilation give this output size, conventional first.

    Example: convcalc solve conv2d --in 224 --out 112
    """
    run_reported(ctx, Command.SOLVE, values)


def invert(ctx: typer.Context, **values: Any) -> None:
    """The transposed conv (same k, s, p, d) and output_padding that map a layer's output back.

    --plain prints the output_padding per dimension (e.g. 1x0; '-' where none reaches).

    Example: convcalc invert conv2d --in 7 --k 3 --s 2 --p 1
    """
    run_reported(ctx, Command.INVERT, values)


def compare(ctx: typer.Context, **values: Any) -> None:
    """The same layer under torch, tf, keras and onnx side by side; differences highlighted.

    --plain prints one line per framework: its name and output size ('-' where it rejects).

    --p same means torch's padding='same', TF/Keras 'same' and ONNX SAME_UPPER; an integer is
    symmetric padding where the framework takes one.

    Example: convcalc compare maxpool2d --in 225 --k 2 --p same
    """
    run_reported(ctx, Command.COMPARE, values)


for _command, _table, _summary in (
    (net, options.NET, "A whole network: shapes, params, MACs, memory, valid input sizes."),
    (diff, options.DIFF, "Two networks side by side, for the review of a change."),
    (solve, options.SOLVE, "Parameters that give a wanted output size."),
    (invert, options.INVERT, "The op and output_padding that undo a layer's size."),
    (compare, options.COMPARE, "One layer under torch, tf, keras and onnx."),
):
    _command.__signature__ = signature(*_table)  # type: ignore[attr-defined]
    app.command(short_help=_summary)(_command)


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


def _show_usage_error(error: Any, message: str) -> None:
    """click's usage error as click shows it, with the user's words made safe to display (an
    unknown option may hold an escape sequence)."""
    head = ""
    ctx = getattr(error, "ctx", None)
    option = getattr(error, "option_name", None)
    if ctx is not None and option and not getattr(error, "possibilities", None):
        # click suggests long options only: `-k 3` is a near miss of `--k`
        flags = {flag for param in ctx.command.params for flag in getattr(param, "opts", ())}
        near = "-" + option if not option.startswith("--") else option.lstrip("-")
        if near in flags:
            message = f"{message} (did you mean {near}?)"
    if ctx is not None:
        hint = ""
        if ctx.command.get_help_option(ctx) is not None:
            hint = f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help.\n"
        head = f"{ctx.get_usage()}\n{hint}\n"
    report_error(message, error.exit_code, False, head)


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
            _show_usage_error(usage, message)
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
        from convcalc.output import report_bug

        code = report_bug(error)
    sys.exit(code if isinstance(code, int) else 0)
